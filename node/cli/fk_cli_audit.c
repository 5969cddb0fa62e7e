/*  fk_cli_audit - "audit [--since T] [--limit N]": the audit log of every
    node (GET /v1/audit), oldest first, as a table for a person or, with
    --json, one JSON object per line (JSON lines, for jq and log
    shippers). */

#include "fk_cli_priv.h"

#include "fk_json.h"
#include "fk_mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

/*  ms since the epoch as UTC ISO 8601 with milliseconds
    ("2024-05-01T12:00:00.123Z"). Fresh string. */
static char *
s_iso_time(json_int_t ms)
{
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;
    char text[32];
    if (ms < 0 || gmtime_r(&seconds, &tm) == NULL
        || strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        return fk_strdup("?");
    }
    return fk_asprintf("%s.%03dZ", text, (int)(ms % 1000));
}

/*  A field for the table: "-" when empty, and never a control character
    on the operator's terminal, whatever the agent sent. */
static json_t *
s_cell(const json_t *entry, const char *name)
{
    const char *text = fk_json_str(entry, name);
    char *copy = fk_strdup(text != NULL && text[0] != '\0' ? text : "-");
    for (char *p = copy; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }
    json_t *cell = fk_json_must(json_string(copy));
    free(copy);
    return cell;
}

enum { S_OPT_SINCE = FK__CLI_OPT_FIRST, S_OPT_LIMIT };

/*  The options of "audit". */
typedef struct {
    const char *since; /* --since, or NULL */
    const char *limit; /* --limit, or NULL */
} s_audit_opts_t;

static int
s_audit_option(fk__cli_ctx_t *ctx, int opt, const char *arg, void *data)
{
    s_audit_opts_t *opts = data;
    if (opt == S_OPT_SINCE) {
        opts->since = arg;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long n = strtoll(arg, &end, 10);
    if (arg[0] == '\0' || *end != '\0' || errno != 0 || n < 1 || n > 10000) {
        return fk__cli_usage_error(ctx, "--limit: '%s' is not a count from 1 to 10000", arg);
    }
    opts->limit = arg;
    return 0;
}

/*  "/v1/audit" with the options given as its query (fresh string). */
static char *
s_audit_path(fk__cli_ctx_t *ctx, const s_audit_opts_t *opts)
{
    char *path = fk_strdup("/v1/audit");
    const char *const query[] = {"since", opts->since, "limit", opts->limit};
    char sep = '?';
    for (size_t i = 0; i < sizeof query / sizeof query[0]; i += 2) {
        if (query[i + 1] != NULL) {
            char *value = fk_client_escape(ctx->client, query[i + 1]);
            char *longer = fk_asprintf("%s%c%s=%s", path, sep, query[i], value);
            free(value);
            free(path);
            path = longer;
            sep = '&';
        }
    }
    return path;
}

int
fk_cli_audit(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const struct option options[] = {
        {"since", required_argument, NULL, S_OPT_SINCE},
        {"limit", required_argument, NULL, S_OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    fk__cli_ctx_t ctx;
    s_audit_opts_t opts = {0};
    int rc = fk__cli_parse(&ctx, cmd, argc, argv, options, NULL, s_audit_option, &opts);
    if (rc != FK__CLI_CONTINUE) {
        return rc;
    }
    fk_client_reply_t reply = {0};
    /*  The agent reads --since (an RFC 3339 time, Unix ms or a duration)
        and says what is wrong with it. */
    rc = fk__cli_connect(&ctx);
    if (rc == 0) {
        char *path = s_audit_path(&ctx, &opts);
        rc = fk__cli_call(&ctx, "GET", path, NULL, NULL, 0, NULL, &reply);
        free(path);
    }
    const json_t *entries = json_object_get(reply.json, "entries");
    if (rc == 0 && !json_is_array(entries)) {
        fk__cli_fail("the agent at %s answered without entries", ctx.addr);
        rc = EX_UNAVAILABLE;
    }
    size_t i;
    const json_t *entry;
    if (rc == 0 && ctx.json) {
        json_array_foreach(entries, i, entry)
        {
            if (json_dumpf(entry, stdout, JSON_COMPACT) != 0) {
                rc = EX_IOERR;
                break;
            }
            fputc('\n', stdout);
        }
    } else if (rc == 0) {
        static const char *const header[] = {"TIME (UTC)", "NODE",   "ACTOR",
                                             "FROM",       "ACTION", "SUBJECT"};
        json_t *rows = json_array();
        json_array_foreach(entries, i, entry)
        {
            char *when = s_iso_time(fk_json_int(entry, "ts_ms", -1));
            fk_json_append(rows, json_pack("[s, o, o, o, o, o]", when, s_cell(entry, "node"),
                                           s_cell(entry, "actor"), s_cell(entry, "from"),
                                           s_cell(entry, "action"), s_cell(entry, "subject")));
            free(when);
        }
        fk__cli_table(header, sizeof header / sizeof header[0], rows);
        json_decref(rows);
    }
    fk_client_reply_clear(&reply);
    fk__cli_ctx_fini(&ctx);
    return rc;
}
