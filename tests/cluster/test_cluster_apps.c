/*  Approved apps across two nodes (docs/API.md "Approved apps", docs/CLI.md
    "apps"): an app approved through the v2 device flow is listed on both
    nodes (API and CLI) with who approved it, where and when and its last
    token exchange; an alias report with valid: false shows in the app's
    row and on the instance it names (GET /v1/services and the
    dashboard); the dashboard's Revoke form refuses a POST without the
    session's CSRF token; and a revocation on one node ends the app's
    refresh chain on the other. Addresses 127.0.0.216-217. */

#include "fk_e2e.h"
#include "fk_mem.h"
#include "fk_testcluster.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BASE 216

static fk_testcluster_t s_cluster;

static void
s_teardown(void)
{
    fk_harness_cleanup();
}

TestSuite(cluster_apps, .fini = s_teardown, .timeout = 240);

static const fk_e2e_req_t s_reqs[] = {
    {"rekuest", "live.arkitekt.rekuest", false},
    {NULL, NULL, false},
};

/*  GET path on node with the admin token; asserts 200 and returns the
    body (caller decrefs). */
static json_t *
s_admin_get(const fk_node_t *node, const char *path)
{
    fk_http_resp_t *resp = fk_harness_admin(node, "GET", path, NULL);
    cr_assert_eq(resp->status, 200, "GET %s answered %ld: %s", path, resp->status, resp->body);
    json_t *body = json_incref(resp->json);
    fk_http_resp_destroy(&resp);
    return body;
}

/*  The row of /v1/apps on node for identifier, or NULL (caller decrefs). */
static json_t *
s_app_row(const fk_node_t *node, const char *identifier)
{
    json_t *apps = s_admin_get(node, "/v1/apps");
    json_t *found = NULL;
    size_t i;
    json_t *row;
    json_array_foreach(apps, i, row)
    {
        if (strcmp(fk_e2e_str(row, "identifier"), identifier) == 0) {
            found = json_incref(row);
        }
    }
    json_decref(apps);
    return found;
}

typedef struct {
    const fk_node_t *node; /* asked */
    bool listed;           /* wanted: listed (with a failing alias when failing) or not */
    bool failing;          /* wanted: its last report names a failing alias */
} s_wait_app_t;

static bool
s_app_is(void *arg)
{
    const s_wait_app_t *want = arg;
    json_t *row = s_app_row(want->node, "org.example.apps");
    bool ok = want->listed ? row != NULL : row == NULL;
    if (ok && want->failing) {
        ok = json_array_size(json_object_get(row, "failing")) == 1;
    }
    json_decref(row);
    return ok;
}

/*  The "unreachable" list of instance id in node's GET /v1/services (a new
    reference), or NULL when the instance is not listed. */
static json_t *
s_unreachable(const fk_node_t *node, const char *id)
{
    json_t *services = s_admin_get(node, "/v1/services");
    json_t *found = NULL;
    size_t i;
    json_t *row;
    json_array_foreach(services, i, row)
    {
        if (strcmp(fk_e2e_str(row, "id"), id) == 0) {
            found = json_incref(json_object_get(row, "unreachable"));
        }
    }
    json_decref(services);
    return found;
}

/*  Log in to node's pages with its admin token: the cookie line
    ("Cookie: fakts_session=..."; caller frees). */
static char *
s_login(const fk_node_t *node)
{
    char *url = fk_harness_url(node, "/ui/login");
    char *body = fk_asprintf("secret=%s&next=%%2Fui%%2F", fk_harness_admin_token(node));
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    fk_http_resp_t *resp = fk_http_send("POST", url, headers, body, strlen(body));
    cr_assert_eq(resp->status, 303, "login answered %ld", resp->status);
    char *set_cookie = fk_http_resp_header(resp, "Set-Cookie");
    cr_assert_not_null(set_cookie);
    char *cookie = fk_asprintf("Cookie: %.*s", (int)strcspn(set_cookie, ";"), set_cookie);
    free(set_cookie);
    fk_http_resp_destroy(&resp);
    free(body);
    free(url);
    return cookie;
}

static fk_http_resp_t *
s_page_get(const fk_node_t *node, const char *path, const char *cookie)
{
    char *url = fk_harness_url(node, path);
    const char *headers[] = {cookie, NULL};
    fk_http_resp_t *resp = fk_http_send("GET", url, headers, NULL, 0);
    free(url);
    return resp;
}

static fk_http_resp_t *
s_page_post(const fk_node_t *node, const char *path, const char *cookie, const char *body)
{
    char *url = fk_harness_url(node, path);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", cookie, NULL};
    fk_http_resp_t *resp = fk_http_send("POST", url, headers, body, strlen(body));
    free(url);
    return resp;
}

typedef struct {
    const fk_node_t *node;    /* asked */
    const char *token;        /* refresh token */
    const char *client_id;    /* its client */
} s_refresh_t;

static bool
s_refused(void *arg)
{
    const s_refresh_t *r = arg;
    fk_http_resp_t *resp = fk_e2e_refresh(r->node, r->token, r->client_id);
    bool refused = resp->status == 400;
    fk_http_resp_destroy(&resp);
    return refused;
}

Test(cluster_apps, approve_list_report_revoke_across_two_nodes)
{
    cr_assert(fk_testcluster_start(&s_cluster, 2, S_BASE, NULL), "cluster did not form");
    char *stuck = NULL;
    cr_assert(fk_testcluster_wait_all_alive(&s_cluster, 20000, &stuck), "not all alive (%s)",
              stuck ? stuck : "");
    free(stuck);
    fk_node_t *a = s_cluster.nodes[1]; /* where the operator revokes */
    fk_node_t *b = s_cluster.nodes[0]; /* where the app was approved and refreshes */
    cr_assert_eq(fk_testcluster_register(b, "rekuest-1", "live.arkitekt.rekuest"), 200);
    cr_assert(fk_testcluster_wait_service(&s_cluster, "rekuest-1", true, 5000));

    /*  The v2 device flow on b, approved with the CLI. */
    json_t *manifest = fk_e2e_manifest("org.example.apps", "1.0", s_reqs);
    fk_http_resp_t *resp = fk_e2e_authorize(b, manifest, 300);
    cr_assert_eq(resp->status, 200, "%s", resp->body);
    json_t *auth = json_incref(resp->json);
    fk_http_resp_destroy(&resp);
    const char *approve_argv[] = {"approve", fk_e2e_str(auth, "user_code"), NULL};
    free(fk_e2e_cli_ok(b, approve_argv));
    resp = fk_e2e_poll_once(b, fk_e2e_str(auth, "device_code"), fk_e2e_str(auth, "client_id"));
    cr_assert_eq(resp->status, 200, "the exchange answered %ld: %s", resp->status, resp->body);
    json_t *tokens = json_incref(resp->json);
    fk_http_resp_destroy(&resp);

    /*  Listed on a once replicated: API and CLI. */
    s_wait_app_t listed = {.node = a, .listed = true};
    cr_assert(fk_poll_until(5000, s_app_is, &listed), "the app never reached the other node");
    json_t *row = s_app_row(a, "org.example.apps");
    cr_assert_str_eq(fk_e2e_str(row, "version"), "1.0");
    cr_assert_str_eq(fk_e2e_str(row, "dialect"), "v2");
    cr_assert_str_eq(fk_e2e_str(row, "approved_by"), "admin-token");
    cr_assert_str_eq(fk_e2e_str(row, "approved_node"), "n0");
    cr_assert_str_eq(fk_e2e_str(row, "client_id"), fk_e2e_str(auth, "client_id"));
    cr_assert(json_is_integer(json_object_get(row, "approved_ms")));
    cr_assert(json_is_integer(json_object_get(row, "last_exchange_ms")),
              "no last exchange: %s", json_dumps(row, 0));
    cr_assert(json_is_null(json_object_get(row, "last_report_ms")));
    json_decref(row);
    const char *list_argv[] = {"apps", "list", NULL};
    json_t *listed_cli = fk_e2e_cli_json(a, list_argv);
    cr_assert_eq(json_array_size(listed_cli), 1);
    cr_assert_str_eq(fk_e2e_str(json_array_get(listed_cli, 0), "approved_by"), "admin-token");
    json_decref(listed_cli);

    /*  The app reports on a that it cannot reach its rekuest alias. */
    char *report_url = fk_harness_url(a, "/lok/f/report/");
    resp = fk_http_post_json(report_url, "application/json", fk_e2e_str(tokens, "access_token"),
                             "{\"alias_reports\":{\"rekuest\":{\"alias_id\":\"lan\","
                             "\"valid\":false,\"reason\":\"connection refused\"}},"
                             "\"functional\":false}");
    free(report_url);
    cr_assert_eq(resp->status, 200, "report answered %ld: %s", resp->status, resp->body);
    fk_http_resp_destroy(&resp);
    s_wait_app_t failing = {.node = b, .listed = true, .failing = true};
    cr_assert(fk_poll_until(5000, s_app_is, &failing), "the report never reached the owner");
    row = s_app_row(b, "org.example.apps");
    json_t *entry = json_array_get(json_object_get(row, "failing"), 0);
    cr_assert_str_eq(fk_e2e_str(entry, "alias_id"), "lan");
    cr_assert_str_eq(fk_e2e_str(entry, "instance"), "rekuest-1@n0");
    cr_assert_str_eq(fk_e2e_str(entry, "reason"), "connection refused");
    json_decref(row);
    json_t *unreachable = s_unreachable(b, "rekuest-1");
    cr_assert_eq(json_array_size(unreachable), 1, "services: %s", json_dumps(unreachable, 0));
    cr_assert_str_eq(fk_e2e_str(json_array_get(unreachable, 0), "identifier"), "org.example.apps");
    cr_assert_str_eq(fk_e2e_str(json_array_get(unreachable, 0), "alias_id"), "lan");
    json_decref(unreachable);
    const char *list_text_argv[] = {"apps", "list", NULL};
    char *table = fk_e2e_cli_ok(b, list_text_argv);
    cr_assert(strstr(table, "lan@rekuest-1@n0") != NULL, "apps list: %s", table);
    free(table);

    /*  The dashboard: the page carries the CSRF token for the Revoke
        form, the data the app and the instance's report. */
    char *cookie = s_login(b);
    resp = s_page_get(b, "/ui/", cookie);
    cr_assert_eq(resp->status, 200);
    cr_assert(strstr(resp->body, "id=\"apps\"") != NULL, "no apps table: %s", resp->body);
    cr_assert(strstr(resp->body, "data-csrf=\"") != NULL, "no CSRF token on the page");
    fk_http_resp_destroy(&resp);
    resp = s_page_get(b, "/ui/api/dashboard", cookie);
    cr_assert_eq(resp->status, 200);
    json_t *apps = json_object_get(resp->json, "apps");
    cr_assert_eq(json_array_size(apps), 1, "dashboard apps: %s", resp->body);
    cr_assert_str_eq(fk_e2e_str(json_array_get(apps, 0), "identifier"), "org.example.apps");
    cr_assert(strstr(resp->body, "\"unreachable\":[{") != NULL, "no report on the instance");
    fk_http_resp_destroy(&resp);

    /*  The Revoke form without the session's CSRF token, and with a
        wrong one: refused, and nothing changes. */
    char *no_csrf = fk_asprintf("client_id=%s", fk_e2e_str(auth, "client_id"));
    resp = s_page_post(b, "/ui/apps/revoke", cookie, no_csrf);
    cr_assert_eq(resp->status, 403, "a revoke without CSRF token answered %ld", resp->status);
    fk_http_resp_destroy(&resp);
    char *wrong = fk_asprintf("csrf=%064d&client_id=%s", 0, fk_e2e_str(auth, "client_id"));
    resp = s_page_post(b, "/ui/apps/revoke", cookie, wrong);
    cr_assert_eq(resp->status, 403, "a revoke with a wrong CSRF token answered %ld",
                 resp->status);
    fk_http_resp_destroy(&resp);
    cr_assert(s_app_is(&failing), "a refused revoke changed the app");
    resp = fk_e2e_refresh(b, fk_e2e_str(tokens, "refresh_token"), fk_e2e_str(tokens, "client_id"));
    cr_assert_eq(resp->status, 200, "refresh before the revoke answered %ld: %s", resp->status,
                 resp->body);
    json_decref(tokens);
    tokens = json_incref(resp->json);
    fk_http_resp_destroy(&resp);

    /*  Revoked on a, which neither approved it nor issued its tokens:
        the refresh is refused on b, and both lists drop it. */
    const char *revoke_argv[] = {"apps", "revoke", "org.example.apps", "1.0", NULL};
    char *said = fk_e2e_cli_ok(a, revoke_argv);
    cr_assert(strstr(said, "revoked org.example.apps 1.0") != NULL, "%s", said);
    free(said);
    s_refresh_t refresh = {.node = b,
                           .token = fk_e2e_str(tokens, "refresh_token"),
                           .client_id = fk_e2e_str(tokens, "client_id")};
    cr_assert(fk_poll_until(5000, s_refused, &refresh), "b still refreshes a revoked app");
    resp = fk_e2e_refresh(b, refresh.token, refresh.client_id);
    fk_e2e_assert_oauth_error(resp, 400, "invalid_grant");
    fk_http_resp_destroy(&resp);
    refresh.node = a;
    cr_assert(s_refused(&refresh), "a still refreshes a revoked app");
    s_wait_app_t gone = {.node = b, .listed = false};
    cr_assert(fk_poll_until(5000, s_app_is, &gone), "b still lists the revoked app");
    gone.node = a;
    cr_assert(s_app_is(&gone), "a still lists the revoked app");

    /*  The revocation is in the audit log, by the operator who made it. */
    json_t *audit = s_admin_get(a, "/v1/audit");
    bool audited = false;
    size_t i;
    json_t *one;
    json_array_foreach(json_object_get(audit, "entries"), i, one)
    {
        audited = audited
                  || (strcmp(fk_e2e_str(one, "action"), "app.revoke") == 0
                      && strcmp(fk_e2e_str(one, "actor"), "admin-token") == 0
                      && strcmp(fk_e2e_str(one, "node"), "n1") == 0);
    }
    cr_assert(audited, "no app.revoke entry by admin-token on n1: %s", json_dumps(audit, 0));
    json_decref(audit);
    free(wrong);
    free(no_csrf);
    free(cookie);
    json_decref(tokens);
    json_decref(auth);
    json_decref(manifest);
}
