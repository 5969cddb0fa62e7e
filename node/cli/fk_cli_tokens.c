/*  fk_cli_tokens - "tokens create|list|revoke": operator tokens with roles
    (docs/CLI.md), through /v1/tokens. */

#include "fk_cli_priv.h"

#include "fk_json.h"
#include "fk_mem.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

enum { S_OPT_NAME = FK__CLI_OPT_FIRST, S_OPT_ROLE, S_OPT_TTL };

/*  The options of "tokens create". */
typedef struct {
    const char *name; /* --name */
    json_t *roles;    /* every --role, split at ','; owned */
    long long ttl_s;  /* --ttl; 0: never expires */
} s_create_opts_t;

static int
s_create_option(fk__cli_ctx_t *ctx, int opt, const char *arg, void *data)
{
    s_create_opts_t *opts = data;
    if (opt == S_OPT_NAME) {
        opts->name = arg;
    } else if (opt == S_OPT_ROLE) {
        /*  The agent judges the names: one list of roles it knows. */
        char *list = fk_strdup(arg);
        char *save = NULL;
        for (char *role = strtok_r(list, ",", &save); role; role = strtok_r(NULL, ",", &save)) {
            json_array_append_new(opts->roles, json_string(role));
        }
        free(list);
    } else if (opt == S_OPT_TTL && (opts->ttl_s = fk__cli_duration(arg)) < 0) {
        return fk__cli_usage_error(ctx, "--ttl: '%s' is not a duration like 30m, 24h or 90d", arg);
    }
    return 0;
}

int
fk_cli_tokens_create(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const struct option options[] = {
        {"name", required_argument, NULL, S_OPT_NAME},
        {"role", required_argument, NULL, S_OPT_ROLE},
        {"ttl", required_argument, NULL, S_OPT_TTL},
        {NULL, 0, NULL, 0},
    };
    fk__cli_ctx_t ctx;
    s_create_opts_t opts = {.roles = json_array()};
    int rc = fk__cli_parse(&ctx, cmd, argc, argv, options, NULL, s_create_option, &opts);
    if (rc == FK__CLI_CONTINUE && opts.name == NULL) {
        rc = fk__cli_usage_error(&ctx, "say who holds the token: --name NAME");
    } else if (rc == FK__CLI_CONTINUE && json_array_size(opts.roles) == 0) {
        rc = fk__cli_usage_error(&ctx, "give it a role: --role read|register|approve|operator");
    }
    if (rc != FK__CLI_CONTINUE) {
        json_decref(opts.roles);
        return rc;
    }
    json_t *request = fk_json_must(json_pack("{s:s, s:o, s:I}", "name", opts.name, "roles",
                                             opts.roles, "ttl_s", (json_int_t)opts.ttl_s));
    char *body = fk_json_dump(request);
    json_decref(request);
    fk_client_reply_t reply = {0};
    rc = fk__cli_request(&ctx, "POST", "/v1/tokens", "application/json", body, strlen(body), NULL,
                         &reply);
    free(body);
    if (rc == 0 && ctx.json) {
        rc = fk__cli_print_json(reply.json);
    } else if (rc == 0) {
        const char *token = json_string_value(json_object_get(reply.json, "token"));
        const char *accessor = json_string_value(json_object_get(reply.json, "accessor"));
        if (token == NULL || accessor == NULL) {
            fk__cli_fail("the agent at %s answered without a token", ctx.addr);
            rc = EX_UNAVAILABLE;
        } else {
            /*  The token alone on the first line, so that
                $(fakts-node tokens create ... | head -1) is the token. */
            printf("%s\naccessor: %s (shown once: the node keeps only its hash)\n", token,
                   accessor);
        }
    }
    fk_client_reply_clear(&reply);
    fk__cli_ctx_fini(&ctx);
    return rc;
}

int
fk_cli_tokens_list(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    static const char *const header[] = {"ACCESSOR",   "NAME",       "ROLES", "CREATED_MS",
                                         "CREATED_BY", "EXPIRES_MS", "NODE"};
    static const char *const keys[] = {"accessor",   "name",       "roles", "created_ms",
                                       "created_by", "expires_ms", "node"};
    fk__cli_ctx_t ctx;
    int rc = fk__cli_parse(&ctx, cmd, argc, argv, NULL, NULL, NULL, NULL);
    if (rc != FK__CLI_CONTINUE) {
        return rc;
    }
    rc = fk__cli_list(&ctx, "/v1/tokens", header, keys, 7);
    fk__cli_ctx_fini(&ctx);
    return rc;
}

int
fk_cli_tokens_revoke(const fk_cli_cmd_t *cmd, int argc, char **argv)
{
    fk__cli_ctx_t ctx;
    int rc = fk__cli_parse(&ctx, cmd, argc, argv, NULL, "ACCESSOR", NULL, NULL);
    if (rc != FK__CLI_CONTINUE) {
        return rc;
    }
    fk_client_reply_t reply = {0};
    rc = fk__cli_connect(&ctx);
    if (rc == 0) {
        char *escaped = fk_client_escape(ctx.client, ctx.operands[0]);
        char *path = fk_asprintf("/v1/tokens/%s", escaped);
        rc = fk__cli_call(&ctx, "DELETE", path, NULL, NULL, 0, NULL, &reply);
        free(path);
        free(escaped);
    }
    if (rc == 0 && ctx.json) {
        rc = fk__cli_print_json(reply.json);
    } else if (rc == 0) {
        printf("operator token %s revoked\n", ctx.operands[0]);
    }
    fk_client_reply_clear(&reply);
    fk__cli_ctx_fini(&ctx);
    return rc;
}
