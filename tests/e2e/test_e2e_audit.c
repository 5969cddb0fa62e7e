/*  e2e: the audit log over the agent API and the CLI (docs/API.md
    "GET /v1/audit", docs/CLI.md "audit"): a registration, an approval and
    a deregistration made through the HTTP API each become an entry with
    the actor, the caller's address and the node; since and limit filter;
    `fakts-node audit --json` prints one entry per line and the table
    names the actions. Address 127.0.0.131. */

#include "fk_e2e.h"

#include "fk_mem.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fk_node_t *s_node;

static void
s_setup(void)
{
    fk_node_opts_t opts = {.addr = "127.0.0.131", .name = "audit-a"};
    s_node = fk_harness_start(&opts);
    cr_assert_not_null(s_node, "the agent did not start");
}

TestSuite(e2e_audit, .init = s_setup, .fini = fk_e2e_teardown, .timeout = 300);

/*  An agent API call with the admin token; asserts the status. */
static void
s_call(const char *method, const char *path, const char *body, long status)
{
    char *url = fk_harness_url(s_node, path);
    char *auth = fk_asprintf("Authorization: Bearer %s", fk_harness_admin_token(s_node));
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    fk_http_resp_t *resp = fk_http_send(method, url, headers, body, body ? strlen(body) : 0);
    cr_assert_eq(resp->status, status, "%s %s answered %ld: %s", method, path, resp->status,
                 resp->body);
    fk_http_resp_destroy(&resp);
    free(auth);
    free(url);
}

/*  GET /v1/audit with query (may be ""); asserts 200 and returns the
    entries (new reference). */
static json_t *
s_audit(const char *query)
{
    char *path = fk_asprintf("/v1/audit%s", query);
    char *url = fk_harness_url(s_node, path);
    fk_http_resp_t *resp = fk_http_get(url, fk_harness_admin_token(s_node));
    cr_assert_eq(resp->status, 200, "GET %s answered %ld: %s", path, resp->status, resp->body);
    json_t *entries = json_incref(json_object_get(resp->json, "entries"));
    cr_assert(json_is_array(entries), "no entries array: %s", resp->body);
    fk_http_resp_destroy(&resp);
    free(url);
    free(path);
    return entries;
}

/*  The entry of action on subject, asserting there is exactly one, with
    the admin token as actor, a loopback caller and this node. */
static const json_t *
s_entry(const json_t *entries, const char *action, const char *subject)
{
    const json_t *found = NULL;
    size_t i;
    const json_t *entry;
    json_array_foreach(entries, i, entry)
    {
        if (strcmp(fk_e2e_str(entry, "action"), action) == 0
            && strcmp(fk_e2e_str(entry, "subject"), subject) == 0) {
            cr_assert_null(found, "two entries of %s %s", action, subject);
            found = entry;
        }
    }
    cr_assert_not_null(found, "no entry of %s %s", action, subject);
    cr_assert_str_eq(fk_e2e_str(found, "actor"), "admin-token");
    cr_assert(strncmp(fk_e2e_str(found, "from"), "127.", 4) == 0, "from: %s",
              fk_e2e_str(found, "from"));
    cr_assert_str_eq(fk_e2e_str(found, "node"), "audit-a");
    cr_assert_gt(json_integer_value(json_object_get(found, "ts_ms")), 0);
    return found;
}

/*  Register, approve, deregister through the agent API. Returns the
    approved user code (fresh). */
static char *
s_three_actions(void)
{
    s_call("PUT", "/v1/services",
           "{\"id\":\"rekuest-9\",\"service\":\"live.arkitekt.rekuest\","
           "\"aliases\":[{\"host\":\"10.0.0.5\",\"port\":8090}]}",
           200);
    json_t *manifest = fk_e2e_manifest("org.example.audited", "1.0.0", NULL);
    fk_http_resp_t *resp = fk_e2e_authorize(s_node, manifest, 300);
    cr_assert_eq(resp->status, 200, "app-authorization answered %ld", resp->status);
    char *user_code = fk_strdup(fk_e2e_str(resp->json, "user_code"));
    fk_http_resp_destroy(&resp);
    json_decref(manifest);
    char *approve = fk_asprintf("/v1/codes/%s/approve", user_code);
    s_call("POST", approve, "{}", 200);
    free(approve);
    s_call("DELETE", "/v1/services/rekuest-9", NULL, 200);
    return user_code;
}

Test(e2e_audit, registration_approval_and_deregistration_are_recorded_in_order)
{
    char *user_code = s_three_actions();
    json_t *entries = s_audit("");
    cr_assert_eq(json_array_size(entries), 3, "entries: %s", json_dumps(entries, 0));
    const json_t *reg = s_entry(entries, "service.register", "rekuest-9");
    cr_assert_str_eq(fk_e2e_str(json_object_get(reg, "detail"), "service"),
                     "live.arkitekt.rekuest");
    s_entry(entries, "code.approve", user_code);
    s_entry(entries, "service.deregister", "rekuest-9");
    /*  Oldest first. */
    cr_assert_str_eq(fk_e2e_str(json_array_get(entries, 0), "action"), "service.register");
    cr_assert_str_eq(fk_e2e_str(json_array_get(entries, 2), "action"), "service.deregister");
    json_decref(entries);

    /*  limit keeps the newest; a since in the future leaves nothing. */
    entries = s_audit("?limit=1");
    cr_assert_eq(json_array_size(entries), 1);
    cr_assert_str_eq(fk_e2e_str(json_array_get(entries, 0), "action"), "service.deregister");
    json_decref(entries);
    entries = s_audit("?since=2999-01-01T00:00:00Z");
    cr_assert_eq(json_array_size(entries), 0);
    json_decref(entries);
    entries = s_audit("?since=1h");
    cr_assert_eq(json_array_size(entries), 3);
    json_decref(entries);
    s_call("GET", "/v1/audit?since=yesterday", NULL, 400);
    s_call("GET", "/v1/audit?limit=0", NULL, 400);
    free(user_code);
}

Test(e2e_audit, the_audit_log_needs_the_admin_token)
{
    char *url = fk_harness_url(s_node, "/v1/audit");
    fk_http_resp_t *resp = fk_http_get(url, NULL);
    cr_assert_eq(resp->status, 401);
    fk_http_resp_destroy(&resp);
    free(url);
}

Test(e2e_audit, the_cli_prints_json_lines_and_a_table)
{
    char *user_code = s_three_actions();
    const char *json_argv[] = {"audit", "--json", NULL};
    char *out = fk_e2e_cli_ok(s_node, json_argv);
    json_t *entries = json_array();
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t error;
        json_t *entry = json_loads(line, 0, &error);
        cr_assert(json_is_object(entry), "not one JSON object per line: %s", line);
        json_array_append_new(entries, entry);
    }
    cr_assert_eq(json_array_size(entries), 3);
    s_entry(entries, "code.approve", user_code);
    json_decref(entries);
    free(out);

    const char *table_argv[] = {"audit", "--since", "10m", "--limit", "2", NULL};
    out = fk_e2e_cli_ok(s_node, table_argv);
    cr_assert(strstr(out, "TIME (UTC)") && strstr(out, "ACTION"), "no header: %s", out);
    cr_assert(strstr(out, "code.approve") && strstr(out, "service.deregister"), "rows: %s", out);
    cr_assert_null(strstr(out, "service.register"), "--limit 2 printed 3 rows: %s", out);
    cr_assert(strstr(out, "Z  audit-a  admin-token  127."), "row shape: %s", out);
    free(out);

    const char *bad_argv[] = {"audit", "--since", "soon", NULL};
    int status = 0;
    char *err = NULL;
    cr_assert_eq(fk_harness_cli(s_node, bad_argv, &status, NULL, &err), 0);
    cr_assert_eq(status, 1, "a since the agent refuses exits 1");
    cr_assert(strstr(err, "since"), "stderr: %s", err);
    free(err);
    free(user_code);
}
