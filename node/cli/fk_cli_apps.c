/*  fk_cli_apps - "apps list|revoke": the apps operators approved, through
    /v1/apps (docs/CLI.md). The public clients of the v1 retrieve/ that
    "apps create|delete" used to manage are "clients create|list|delete"
    now (fk_cli.c); the old spellings of create and delete still work here
    with a note on stderr. */

#include "fk_cli_priv.h"

#include "fk_json.h"
#include "fk_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*  ms since the epoch as UTC ("2024-05-01T12:00:00Z"), or "-" for null.
    Fresh string. */
static char *
s_time(const json_t *value)
{
    if (!json_is_integer(value)) {
        return fk_strdup("-");
    }
    json_int_t ms = json_integer_value(value);
    time_t seconds = (time_t)(ms / 1000);
    struct tm tm;
    char text[32];
    if (ms < 0 || gmtime_r(&seconds, &tm) == NULL
        || strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        return fk_strdup("?");
    }
    return fk_strdup(text);
}

/*  Never a control character on the operator's terminal, whatever an app
    put in its manifest or report: each becomes '?' in text. Returns
    text. */
static char *
s_clean(char *text)
{
    for (char *p = text; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }
    return text;
}

/*  text (taken) as a table cell: clean, "-" when empty. */
static json_t *
s_cell(char *text)
{
    json_t *cell = json_string(*s_clean(text) ? text : "-");
    free(text);
    return cell ? cell : json_string("?"); /* not UTF-8 */
}

static char *
s_str(const json_t *row, const char *key)
{
    const char *value = json_string_value(json_object_get(row, key));
    return fk_strdup(value ? value : "");
}

/*  The aliases an app's last report said it could not reach:
    "alias_id@instance" (or "key" when no alias of the key passed),
    joined by ", ". Fresh string. */
static char *
s_failing(const json_t *failing)
{
    char *out = fk_strdup("");
    size_t i;
    const json_t *one;
    json_array_foreach(failing, i, one)
    {
        const char *alias = json_string_value(json_object_get(one, "alias_id"));
        const char *key = json_string_value(json_object_get(one, "key"));
        const char *instance = json_string_value(json_object_get(one, "instance"));
        char *next = fk_asprintf("%s%s%s%s%s", out, i ? ", " : "", alias ? alias : key ? key : "?",
                                 instance ? "@" : "", instance ? instance : "");
        free(out);
        out = next;
    }
    return out;
}

int
fk_cli_apps_list(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const char *const header[] = {
        "IDENTIFIER",    "VERSION",     "DIALECT", "APPROVED_BY", "APPROVED_ON", "APPROVED (UTC)",
        "LAST_EXCHANGE", "LAST_REPORT", "FAILING", "CLIENT_ID"};
    fk__cli_ctx_t ctx;
    int rc = fk__cli_parse(&ctx, cmd, argc, argv, NULL, NULL, NULL, NULL);
    if (rc != FK__CLI_CONTINUE) {
        return rc;
    }
    fk_client_reply_t reply = {0};
    rc = fk__cli_request(&ctx, "GET", "/v1/apps", NULL, NULL, 0, NULL, &reply);
    if (rc == 0 && ctx.json) {
        rc = fk__cli_print_json(reply.json);
    } else if (rc == 0) {
        json_t *rows = json_array();
        size_t i;
        const json_t *app;
        json_array_foreach(reply.json, i, app)
        {
            json_t *approved_node = json_object_get(app, "approved_node");
            json_t *row = json_pack(
                "[o, o, o, o, o, o, o, o, o, o]", s_cell(s_str(app, "identifier")),
                s_cell(s_str(app, "version")), s_cell(s_str(app, "dialect")),
                s_cell(s_str(app, "approved_by")),
                s_cell(s_str(app, json_is_string(approved_node) ? "approved_node" : "node")),
                s_cell(s_time(json_object_get(app, "approved_ms"))),
                s_cell(s_time(json_object_get(app, "last_exchange_ms"))),
                s_cell(s_time(json_object_get(app, "last_report_ms"))),
                s_cell(s_failing(json_object_get(app, "failing"))),
                s_cell(s_str(app, "client_id")));
            fk_json_append(rows, row);
        }
        fk__cli_table(header, 10, rows);
        json_decref(rows);
    }
    fk_client_reply_clear(&reply);
    fk__cli_ctx_fini(&ctx);
    return rc;
}

int
fk_cli_apps_revoke(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    fk__cli_ctx_t ctx;
    int rc = fk__cli_parse(&ctx, cmd, argc, argv, NULL, "ID [VERSION]", NULL, NULL);
    if (rc != FK__CLI_CONTINUE) {
        return rc;
    }
    const char *version = ctx.noperands > 1 ? ctx.operands[1] : NULL;
    fk_client_reply_t reply = {0};
    rc = fk__cli_connect(&ctx);
    if (rc == 0) {
        char *id = fk_client_escape(ctx.client, ctx.operands[0]);
        char *escaped = version ? fk_client_escape(ctx.client, version) : NULL;
        char *path = fk_asprintf("/v1/apps/%s/revoke%s%s", id, escaped ? "?version=" : "",
                                 escaped ? escaped : "");
        rc = fk__cli_call(&ctx, "POST", path, NULL, NULL, 0, NULL, &reply);
        free(path);
        free(escaped);
        free(id);
    }
    if (rc == 0 && ctx.json) {
        rc = fk__cli_print_json(reply.json);
    } else if (rc == 0) {
        size_t i;
        const json_t *app;
        json_array_foreach(json_object_get(reply.json, "revoked"), i, app)
        {
            char *identifier = s_clean(s_str(app, "identifier"));
            char *app_version = s_clean(s_str(app, "version"));
            char *client_id = s_clean(s_str(app, "client_id"));
            printf("revoked %s %s (client %s)\n", identifier, app_version, client_id);
            free(client_id);
            free(app_version);
            free(identifier);
        }
        printf("%lld refresh token(s) ended; the app needs a new approval on every node\n",
               (long long)json_integer_value(json_object_get(reply.json, "refresh_tokens")));
    }
    fk_client_reply_clear(&reply);
    fk__cli_ctx_fini(&ctx);
    return rc;
}

/*  The old spelling of a public-client command: a note, then the command
    it became, run under the old name (so usage errors name it). */
static int
s_renamed(const fk_cli_cmd_t *cmd, int argc, char **argv, const char *now,
          int (*fn)(const fk_cli_cmd_t *, int, char **))
{
    fprintf(stderr,
            "fakts-node: '%s' is now 'clients %s' ('apps' lists and revokes approved apps); "
            "this spelling will go away\n",
            cmd->name, now);
    return fn(cmd, argc, argv);
}

int
fk_cli_apps_create_renamed(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    return s_renamed(cmd, argc, argv, "create", fk_cli_clients_create);
}

int
fk_cli_apps_delete_renamed(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    return s_renamed(cmd, argc, argv, "delete", fk_cli_clients_delete);
}
