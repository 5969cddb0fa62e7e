/*  fk_cli_health - "services pass|warn|fail ID [--note TEXT]": a ttl
    check's report (docs/CLI.md), through PUT /v1/services/ID/health. A
    batch job script calls it every so often; silence for the check's ttl
    makes the instance critical. */

#include "fk_cli_priv.h"

#include "fk_json.h"
#include "fk_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { S_OPT_NOTE = FK__CLI_OPT_FIRST };

static int
s_note_option(fk__cli_ctx_t *ctx, int opt, const char *arg, void *data)
{
    (void)ctx;
    if (opt == S_OPT_NOTE) {
        *(const char **)data = arg;
    }
    return 0;
}

/*  The three commands differ only in the status they send. */
static int
s_report(const fk_cli_cmd_t *cmd, int argc, char **argv, const char *status)
{
    static const struct option options[] = {
        {"note", required_argument, NULL, S_OPT_NOTE},
        {NULL, 0, NULL, 0},
    };
    fk__cli_ctx_t ctx;
    const char *note = NULL;
    int rc = fk__cli_parse(&ctx, cmd, argc, argv, options, "ID", s_note_option, &note);
    if (rc != FK__CLI_CONTINUE) {
        return rc;
    }
    const char *id = ctx.operands[0];
    json_t *request = fk_json_must(json_pack("{s:s, s:s?}", "status", status, "note", note));
    char *body = fk_json_dump(request);
    json_decref(request);
    fk_client_reply_t reply = {0};
    rc = fk__cli_connect(&ctx);
    if (rc == 0) {
        char *escaped = fk_client_escape(ctx.client, id);
        char *path = fk_asprintf("/v1/services/%s/health", escaped);
        rc = fk__cli_call(&ctx, "PUT", path, "application/json", body, strlen(body), NULL, &reply);
        free(path);
        free(escaped);
    }
    free(body);
    if (rc == 0 && ctx.json) {
        rc = fk__cli_print_json(reply.json);
    } else if (rc == 0) {
        const char *now = json_string_value(json_object_get(json_object_get(reply.json, "health"),
                                                            "status"));
        printf("%s: reported %s; instance %s\n", id, status, now ? now : "unknown");
    }
    fk_client_reply_clear(&reply);
    fk__cli_ctx_fini(&ctx);
    return rc;
}

int
fk_cli_services_pass(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    return s_report(cmd, argc, argv, "passing");
}

int
fk_cli_services_warn(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    return s_report(cmd, argc, argv, "warning");
}

int
fk_cli_services_fail(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    return s_report(cmd, argc, argv, "critical");
}
