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

int
fk_cli_audit(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    fk__cli_flag_t flags[] = {{"since", NULL}, {"limit", NULL}, {NULL, NULL}};
    fk__cli_t *cli = NULL;
    int rc = fk__cli_parse(&cli, cmd, argc, argv, flags);
    if (rc != FK__CLI_CONTINUE) {
        return rc;
    }
    const char *limit = flags[1].value;
    if (limit != NULL) {
        char *end = NULL;
        errno = 0;
        long long n = strtoll(limit, &end, 10);
        if (limit[0] == '\0' || *end != '\0' || errno != 0 || n < 1 || n > 10000) {
            rc = fk__cli_usage_error(cli, "--limit: '%s' is not a count from 1 to 10000", limit);
            fk__cli_destroy(&cli);
            return rc;
        }
    }
    /*  The agent reads --since (an RFC 3339 time, Unix ms or a duration)
        and says what is wrong with it. */
    const char *const query[] = {"since", flags[0].value, "limit", limit, NULL};
    const json_t *answer = NULL;
    rc = fk__cli_get(cli, "/v1/audit", query, &answer);
    const json_t *entries = json_object_get(answer, "entries");
    if (rc == 0 && !json_is_array(entries)) {
        fprintf(stderr, "fakts-node: the agent answered without entries\n");
        rc = EX_UNAVAILABLE;
    }
    size_t i;
    const json_t *entry;
    if (rc == 0 && fk__cli_json(cli)) {
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
    fk__cli_destroy(&cli);
    return rc;
}
