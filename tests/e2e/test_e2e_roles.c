/*  e2e: operator tokens and roles over the real HTTP API and pages
    (docs/API.md "Roles"): `tokens create|list|revoke`, 401 without a
    valid token and 403 naming the role with the wrong one for a
    representative route of each role, and the web login with a role
    token: the pages show and allow only what the role may, and a revoked
    token's session ends. Address 127.0.0.60. */

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
    fk_node_opts_t opts = {.addr = "127.0.0.60"};
    s_node = fk_harness_start(&opts);
    cr_assert_not_null(s_node, "the node did not start");
}

TestSuite(e2e_roles, .init = s_setup, .fini = fk_e2e_teardown, .timeout = 300);

/*  A new token for name with roles ("read,approve") made through the API
    with the admin token; returns the answer (caller decrefs). */
static json_t *
s_make(const char *name, const char *roles)
{
    char *body = fk_asprintf("{\"name\":\"%s\",\"roles\":\"%s\"}", name, roles);
    fk_http_resp_t *resp = fk_harness_admin(s_node, "POST", "/v1/tokens", body);
    free(body);
    cr_assert_eq(resp->status, 201, "POST /v1/tokens answered %ld: %s", resp->status, resp->body);
    json_t *answer = json_incref(resp->json);
    fk_http_resp_destroy(&resp);
    return answer;
}

/*  method path with body (may be NULL) and, when token is not NULL,
    "Authorization: Bearer <token>". */
static fk_http_resp_t *
s_call(const char *method, const char *path, const char *token, const char *body)
{
    char *url = fk_harness_url(s_node, path);
    char *auth = token ? fk_asprintf("Authorization: Bearer %s", token) : NULL;
    const char *headers[] = {"Content-Type: application/json", auth, NULL};
    fk_http_resp_t *resp = fk_http_send(method, url, headers, body, body ? strlen(body) : 0);
    free(auth);
    free(url);
    return resp;
}

Test(e2e_roles, cli_creates_lists_and_revokes_a_token)
{
    const char *create[] = {"tokens", "create", "--name", "alice", "--role", "read",
                            "--role", "approve", "--ttl", "1h", NULL};
    json_t *made = fk_e2e_cli_json(s_node, create);
    const char *token = fk_e2e_str(made, "token");
    const char *accessor = fk_e2e_str(made, "accessor");
    cr_assert(token && strncmp(token, "fko_", 4) == 0, "no token in %s", json_dumps(made, 0));
    cr_assert(accessor && strlen(accessor) == 16);
    cr_assert_str_eq(fk_e2e_str(made, "created_by"), "admin-token");
    cr_assert(json_integer_value(json_object_get(made, "expires_ms"))
                  > json_integer_value(json_object_get(made, "created_ms")) + 3500 * 1000,
              "--ttl 1h did not set the expiry");

    /*  The token works at once, for what its roles allow. */
    fk_http_resp_t *resp = s_call("GET", "/v1/codes", token, NULL);
    cr_assert_eq(resp->status, 200, "a read token answered %ld: %s", resp->status, resp->body);
    fk_http_resp_destroy(&resp);

    const char *list[] = {"tokens", "list", NULL};
    json_t *rows = fk_e2e_cli_json(s_node, list);
    bool listed = false;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (strcmp(fk_e2e_str(row, "accessor"), accessor) == 0) {
            listed = true;
            cr_assert_str_eq(fk_e2e_str(row, "name"), "alice");
            cr_assert_eq(json_array_size(json_object_get(row, "roles")), 2);
        }
        cr_assert_null(json_object_get(row, "token"), "the list shows a token");
        cr_assert_null(json_object_get(row, "secret_sha256"), "the list shows a hash");
    }
    cr_assert(listed, "tokens list does not show %s", accessor);
    char *text = json_dumps(rows, 0);
    cr_assert_null(strstr(text, strchr(token, '.') + 1), "the list holds the secret");
    free(text);
    json_decref(rows);

    const char *revoke[] = {"tokens", "revoke", accessor, NULL};
    char *out = fk_e2e_cli_ok(s_node, revoke);
    cr_assert(strstr(out, accessor), "revoke said: %s", out);
    free(out);
    resp = s_call("GET", "/v1/codes", token, NULL);
    cr_assert_eq(resp->status, 401, "a revoked token answered %ld", resp->status);
    fk_http_resp_destroy(&resp);
    json_decref(made);
}

/*  A representative route of each role, with a body each role's token
    may send, and what a caller allowed gets. */
static const struct {
    const char *method;
    const char *path;
    const char *body;
    const char *role; /* the role it needs */
    long ok;          /* the status a caller with the role gets */
} s_routes[] = {
    {"GET", "/v1/services", NULL, "read", 200},
    {"PUT", "/v1/services",
     "{\"id\":\"roles-1\",\"service\":\"live.arkitekt.roles\","
     "\"aliases\":[{\"host\":\"10.0.0.9\",\"port\":80}]}",
     "register", 200},
    {"POST", "/v1/codes/NOSUCHCODE/approve", "{}", "approve", 404},
    {"GET", "/v1/tokens", NULL, "operator", 200},
};

Test(e2e_roles, each_route_answers_401_without_a_token_and_403_with_the_wrong_role)
{
    const char *roles[] = {"read", "register", "approve", "operator"};
    json_t *tokens[4];
    for (size_t r = 0; r < 4; r++) {
        tokens[r] = s_make(roles[r], roles[r]);
    }
    for (size_t i = 0; i < sizeof s_routes / sizeof s_routes[0]; i++) {
        fk_http_resp_t *resp = s_call(s_routes[i].method, s_routes[i].path, NULL, NULL);
        cr_assert_eq(resp->status, 401, "%s %s without a token answered %ld", s_routes[i].method,
                     s_routes[i].path, resp->status);
        cr_assert_str_eq(fk_e2e_str(resp->json, "error"), "unauthorized");
        fk_http_resp_destroy(&resp);
        resp = s_call(s_routes[i].method, s_routes[i].path,
                      "fko_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL);
        cr_assert_eq(resp->status, 401, "a made-up token answered %ld", resp->status);
        fk_http_resp_destroy(&resp);
        for (size_t r = 0; r < 4; r++) {
            bool allowed =
                strcmp(roles[r], s_routes[i].role) == 0 || strcmp(roles[r], "operator") == 0;
            resp = s_call(s_routes[i].method, s_routes[i].path, fk_e2e_str(tokens[r], "token"),
                          s_routes[i].body);
            long want = allowed ? s_routes[i].ok : 403;
            cr_assert_eq(resp->status, want, "%s %s with a %s token answered %ld (not %ld): %s",
                         s_routes[i].method, s_routes[i].path, roles[r], resp->status, want,
                         resp->body);
            if (!allowed) {
                cr_assert_str_eq(fk_e2e_str(resp->json, "error"), "forbidden");
                char *needs = fk_asprintf("needs the %s role", s_routes[i].role);
                cr_assert(strstr(fk_e2e_str(resp->json, "message"), needs), "message: %s",
                          resp->body);
                free(needs);
            }
            fk_http_resp_destroy(&resp);
        }
    }
    for (size_t r = 0; r < 4; r++) {
        json_decref(tokens[r]);
    }
}

/*  ---------------------------------------------------------------------
    The pages
    --------------------------------------------------------------------- */

/*  Log in with secret; asserts 303 and returns "fakts_session=..." (fresh). */
static char *
s_login(const char *secret)
{
    char *url = fk_harness_url(s_node, "/ui/login");
    char *body = fk_asprintf("secret=%s&next=%%2Fui%%2F", secret);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    fk_http_resp_t *resp = fk_http_send("POST", url, headers, body, strlen(body));
    cr_assert_eq(resp->status, 303, "login answered %ld: %s", resp->status, resp->body);
    char *set_cookie = fk_http_resp_header(resp, "Set-Cookie");
    cr_assert_not_null(set_cookie);
    char *cookie = fk_strndup(set_cookie, strcspn(set_cookie, ";"));
    free(set_cookie);
    fk_http_resp_destroy(&resp);
    free(body);
    free(url);
    return cookie;
}

static fk_http_resp_t *
s_page(const char *method, const char *path, const char *cookie, const char *form)
{
    char *url = fk_harness_url(s_node, path);
    char *cookie_line = fk_asprintf("Cookie: %s", cookie);
    const char *headers[] = {cookie_line, "Content-Type: application/x-www-form-urlencoded", NULL};
    fk_http_resp_t *resp = fk_http_send(method, url, headers, form, form ? strlen(form) : 0);
    free(cookie_line);
    free(url);
    return resp;
}

/*  The hidden csrf field of a page (fresh), or NULL. */
static char *
s_csrf_of(const char *html)
{
    const char *field = strstr(html, "name=\"csrf\" value=\"");
    if (!field) {
        return NULL;
    }
    field += strlen("name=\"csrf\" value=\"");
    return fk_strndup(field, strcspn(field, "\""));
}

/*  A pending code of an app without requirements (fresh user code). */
static char *
s_pending_code(const char *identifier)
{
    json_t *manifest = fk_e2e_manifest(identifier, "1.0.0", NULL);
    fk_http_resp_t *resp = fk_e2e_authorize(s_node, manifest, 300);
    cr_assert_eq(resp->status, 200, "app-authorization answered %ld: %s", resp->status, resp->body);
    char *code = fk_strdup(fk_e2e_str(resp->json, "user_code"));
    fk_http_resp_destroy(&resp);
    json_decref(manifest);
    return code;
}

/*  POST the approve decision for code with the session; returns the
    answer's status. */
static long
s_decide(const char *cookie, const char *code, const char *csrf)
{
    char *path = fk_asprintf("/configure/%s", code);
    char *form = fk_asprintf("csrf=%s&decision=approve", csrf);
    fk_http_resp_t *resp = s_page("POST", path, cookie, form);
    long status = resp->status;
    fk_http_resp_destroy(&resp);
    free(form);
    free(path);
    return status;
}

Test(e2e_roles, the_pages_show_and_allow_only_what_the_role_may)
{
    json_t *approver = s_make("ann", "approve");
    json_t *reader = s_make("rea", "read");
    char *code = s_pending_code("live.roles.pages");
    char *path = fk_asprintf("/configure/%s", code);

    /*  approve alone: the approval page with its buttons, no dashboard. */
    char *ann = s_login(fk_e2e_str(approver, "token"));
    fk_http_resp_t *page = s_page("GET", path, ann, NULL);
    cr_assert_eq(page->status, 200, "approval page for approve: %ld %s", page->status, page->body);
    cr_assert(strstr(page->body, "id=\"approve\""), "no approve button for the approve role");
    cr_assert(strstr(page->body, "ann (approve)"), "the page does not say who is logged in");
    cr_assert_null(strstr(page->body, ">Dashboard</a>"), "a dashboard link without read");
    char *ann_csrf = s_csrf_of(page->body);
    fk_http_resp_destroy(&page);
    page = s_page("GET", "/ui/", ann, NULL);
    cr_assert_eq(page->status, 403, "the dashboard for approve alone answered %ld", page->status);
    cr_assert(strstr(page->body, "needs the read role"), "403 page: %s", page->body);
    fk_http_resp_destroy(&page);
    page = s_page("GET", "/ui/api/dashboard", ann, NULL);
    cr_assert_eq(page->status, 403);
    fk_http_resp_destroy(&page);

    /*  read alone: the dashboard and the code without buttons; deciding
        is refused by the server, not only hidden. */
    char *rea = s_login(fk_e2e_str(reader, "token"));
    page = s_page("GET", "/ui/api/dashboard", rea, NULL);
    cr_assert_eq(page->status, 200);
    cr_assert(json_is_false(json_object_get(page->json, "may_approve")));
    fk_http_resp_destroy(&page);
    page = s_page("GET", path, rea, NULL);
    cr_assert_eq(page->status, 200, "approval page for read: %ld", page->status);
    cr_assert_null(strstr(page->body, "id=\"approve\""), "an approve button for read alone");
    cr_assert(strstr(page->body, "needs the approve role"), "no word on why: %s", page->body);
    char *rea_csrf = s_csrf_of(page->body);
    cr_assert_not_null(rea_csrf);
    fk_http_resp_destroy(&page);
    cr_assert_eq(s_decide(rea, code, rea_csrf), 403, "read decided a code");

    cr_assert_eq(s_decide(ann, code, ann_csrf), 200, "approve could not decide");

    /*  Revoked: the session ends on its next request. */
    char *revoke = fk_asprintf("/v1/tokens/%s", fk_e2e_str(approver, "accessor"));
    fk_http_resp_t *resp = fk_harness_admin(s_node, "DELETE", revoke, NULL);
    cr_assert_eq(resp->status, 200, "revoke answered %ld: %s", resp->status, resp->body);
    fk_http_resp_destroy(&resp);
    char *code2 = s_pending_code("live.roles.pages2");
    char *path2 = fk_asprintf("/configure/%s", code2);
    page = s_page("GET", path2, ann, NULL);
    cr_assert_eq(page->status, 303, "a revoked token's session still opens pages (%ld)",
                 page->status);
    fk_http_resp_destroy(&page);
    cr_assert_eq(s_decide(ann, code2, ann_csrf), 401, "a revoked token's session decided");

    free(revoke);
    free(path2);
    free(code2);
    free(rea_csrf);
    free(ann_csrf);
    free(rea);
    free(ann);
    free(path);
    free(code);
    json_decref(reader);
    json_decref(approver);
}
