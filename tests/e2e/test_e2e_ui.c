/*  e2e: the operators' web pages over HTTP (docs/API.md "Web pages"):
    login with the admin token or the operator password, the session
    cookie's flags, the approval form's session, CSRF and origin checks,
    approve and deny through the form followed by the v2 device-code
    exchange (fakts-protocol.md §6.2), escaping of an app's manifest, the
    code pages' statuses and the dashboard's data; a v1 code (8 lower-case
    hex digits, fakts-protocol.md §5.2) is approved through the same page. */

#include "fk_e2e.h"
#include "fk_e2e_v1.h"

#include "fk_mem.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fk_node_t *s_node;

static void
s_setup(void)
{
    s_node = fk_e2e_start_node();
}

TestSuite(e2e_ui, .init = s_setup, .fini = fk_e2e_teardown, .timeout = 300);

/*  rekuest required (registered), kabinet optional (registered). */
static const fk_e2e_req_t s_reqs[] = {
    {"rekuest", "live.arkitekt.rekuest", false},
    {"kabinet", "live.arkitekt.kabinet", true},
    {NULL, NULL, false},
};

/*  A browser's session: the cookie value and the CSRF token of the last
    form seen. */
typedef struct {
    char *cookie; /* "fakts_session=<id>" */
    char *csrf;   /* hidden field value, or NULL */
} s_session_t;

static void
s_session_clear(s_session_t *session)
{
    free(session->cookie);
    free(session->csrf);
    memset(session, 0, sizeof *session);
}

/*  POST a form body with optional cookie and Origin/Referer header line. */
static fk_http_resp_t *
s_post(const char *path, const char *cookie, const char *extra_header, const char *body)
{
    char *url = fk_harness_url(s_node, path);
    char *cookie_line = cookie ? fk_asprintf("Cookie: %s", cookie) : NULL;
    const char *headers[4] = {"Content-Type: application/x-www-form-urlencoded", NULL, NULL, NULL};
    int n = 1;
    if (cookie_line) {
        headers[n++] = cookie_line;
    }
    if (extra_header) {
        headers[n++] = extra_header;
    }
    fk_http_resp_t *resp = fk_http_send("POST", url, headers, body, strlen(body));
    free(url);
    free(cookie_line);
    return resp;
}

static fk_http_resp_t *
s_get(const char *path, const char *cookie)
{
    char *url = fk_harness_url(s_node, path);
    char *cookie_line = cookie ? fk_asprintf("Cookie: %s", cookie) : NULL;
    const char *headers[] = {cookie_line, NULL};
    fk_http_resp_t *resp = fk_http_send("GET", url, cookie_line ? headers : NULL, NULL, 0);
    free(url);
    free(cookie_line);
    return resp;
}

/*  Log in with secret; asserts 303 and returns the session. */
static s_session_t
s_login(const char *secret)
{
    char *body = fk_asprintf("secret=%s&next=%%2Fui%%2F", secret);
    fk_http_resp_t *resp = s_post("/ui/login", NULL, NULL, body);
    free(body);
    cr_assert_eq(resp->status, 303, "login answered %ld: %s", resp->status, resp->body);
    char *set_cookie = fk_http_resp_header(resp, "Set-Cookie");
    cr_assert_not_null(set_cookie, "no Set-Cookie after a login");
    s_session_t session = {0};
    session.cookie = fk_strndup(set_cookie, strcspn(set_cookie, ";"));
    cr_assert(strncmp(session.cookie, "fakts_session=", 14) == 0 && strlen(session.cookie) == 78,
              "unexpected cookie %s", set_cookie);
    free(set_cookie);
    fk_http_resp_destroy(&resp);
    return session;
}

/*  The value of the hidden csrf field in a page (fresh), or NULL. */
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

/*  Start a device flow for manifest; returns the app-authorization answer
    (caller decrefs). */
static json_t *
s_authorize(json_t *manifest)
{
    fk_http_resp_t *resp = fk_e2e_authorize(s_node, manifest, 300);
    cr_assert_eq(resp->status, 200, "app-authorization answered %ld: %s", resp->status, resp->body);
    json_t *answer = json_incref(resp->json);
    fk_http_resp_destroy(&resp);
    return answer;
}

/*  True when the user code is among the pending codes of /v1/codes. */
static bool
s_pending(const char *user_code)
{
    fk_http_resp_t *resp = fk_harness_admin(s_node, "GET", "/v1/codes", NULL);
    cr_assert_eq(resp->status, 200);
    bool found = false;
    size_t i;
    json_t *row;
    json_array_foreach(resp->json, i, row)
    {
        found = found || strcmp(fk_e2e_str(row, "user_code"), user_code) == 0;
    }
    fk_http_resp_destroy(&resp);
    return found;
}

/*  Open the approval page of user_code with a session; asserts 200 and
    stores the form's CSRF token in the session. Returns the page. */
static fk_http_resp_t *
s_open_approval(s_session_t *session, const char *user_code)
{
    char *path = fk_asprintf("/configure/%s", user_code);
    fk_http_resp_t *page = s_get(path, session->cookie);
    free(path);
    cr_assert_eq(page->status, 200, "approval page answered %ld: %s", page->status, page->body);
    free(session->csrf);
    session->csrf = s_csrf_of(page->body);
    cr_assert_not_null(session->csrf, "no csrf field in the approval page");
    return page;
}

static void
s_register_services(void)
{
    fk_e2e_register(s_node, "rekuest-1", "live.arkitekt.rekuest", "10.0.0.5", 8090);
    fk_e2e_register(s_node, "kabinet-1", "live.arkitekt.kabinet", "10.0.0.6", 8091);
}

Test(e2e_ui, login_with_wrong_and_right_admin_token)
{
    fk_http_resp_t *wrong = s_post("/ui/login", NULL, NULL, "secret=not-the-token&next=%2Fui%2F");
    cr_assert_eq(wrong->status, 401, "a wrong secret answered %ld", wrong->status);
    cr_assert(strstr(wrong->body, "Wrong token or password"), "no clear message: %s",
              wrong->body);
    char *no_cookie = fk_http_resp_header(wrong, "Set-Cookie");
    cr_assert_null(no_cookie, "a failed login set a cookie: %s", no_cookie);
    fk_http_resp_destroy(&wrong);

    char *body =
        fk_asprintf("secret=%s&next=%%2Fconfigure%%2FABCDEFGHJK", fk_harness_admin_token(s_node));
    fk_http_resp_t *right = s_post("/ui/login", NULL, NULL, body);
    free(body);
    cr_assert_eq(right->status, 303, "the admin token answered %ld", right->status);
    char *location = fk_http_resp_header(right, "Location");
    cr_assert_str_eq(location, "/configure/ABCDEFGHJK", "login must return to the page asked for");
    char *cookie = fk_http_resp_header(right, "Set-Cookie");
    cr_assert_not_null(cookie);
    cr_assert(strstr(cookie, "; HttpOnly"), "cookie without HttpOnly: %s", cookie);
    cr_assert(strstr(cookie, "; SameSite=Strict"), "cookie without SameSite=Strict: %s", cookie);
    cr_assert(strstr(cookie, "; Path=/"), "cookie without Path=/: %s", cookie);
    cr_assert_null(strstr(cookie, "Secure"), "plain http cannot carry a Secure cookie: %s", cookie);
    free(location);
    free(cookie);
    fk_http_resp_destroy(&right);

    /*  A login may only send the browser back to this node. */
    body = fk_asprintf("secret=%s&next=%%2F%%2Fevil.example%%2F", fk_harness_admin_token(s_node));
    fk_http_resp_t *offsite = s_post("/ui/login", NULL, NULL, body);
    free(body);
    location = fk_http_resp_header(offsite, "Location");
    cr_assert_str_eq(location, "/ui/", "open redirect to %s", location);
    free(location);
    fk_http_resp_destroy(&offsite);
}

Test(e2e_ui, login_from_another_site_is_refused)
{
    char *body = fk_asprintf("secret=%s", fk_harness_admin_token(s_node));
    fk_http_resp_t *resp = s_post("/ui/login", NULL, "Origin: http://evil.example", body);
    free(body);
    cr_assert_eq(resp->status, 403, "a cross-site login answered %ld", resp->status);
    char *cookie = fk_http_resp_header(resp, "Set-Cookie");
    cr_assert_null(cookie, "a cross-site login set a cookie");
    fk_http_resp_destroy(&resp);
}

Test(e2e_ui, login_attempts_are_rate_limited)
{
    for (int i = 0; i < 10; i++) {
        fk_http_resp_t *resp = s_post("/ui/login", NULL, NULL, "secret=guess");
        cr_assert_eq(resp->status, 401, "attempt %d answered %ld", i + 1, resp->status);
        fk_http_resp_destroy(&resp);
    }
    char *body = fk_asprintf("secret=%s", fk_harness_admin_token(s_node));
    fk_http_resp_t *resp = s_post("/ui/login", NULL, NULL, body);
    free(body);
    cr_assert_eq(resp->status, 429, "the 11th attempt in a minute answered %ld", resp->status);
    cr_assert(strstr(resp->body, "Too many login attempts"), "no clear message: %s", resp->body);
    fk_http_resp_destroy(&resp);
}

Test(e2e_ui, pages_without_a_session_go_to_the_login)
{
    fk_http_resp_t *resp = s_get("/ui/", NULL);
    cr_assert_eq(resp->status, 303);
    char *location = fk_http_resp_header(resp, "Location");
    cr_assert_str_eq(location, "/ui/login?next=/ui/");
    free(location);
    fk_http_resp_destroy(&resp);

    resp = s_get("/ui/api/dashboard", "fakts_session=0000000000000000000000000000000000000000000"
                                      "000000000000000000000");
    cr_assert_eq(resp->status, 401, "a made-up session read the dashboard: %ld", resp->status);
    fk_http_resp_destroy(&resp);

    resp = s_get("/configure/ABCDEFGHJK", NULL);
    cr_assert_eq(resp->status, 303);
    location = fk_http_resp_header(resp, "Location");
    cr_assert_str_eq(location, "/ui/login?next=/configure/ABCDEFGHJK");
    free(location);
    fk_http_resp_destroy(&resp);
}

Test(e2e_ui, approval_post_needs_session_csrf_and_same_origin)
{
    s_register_services();
    json_t *manifest = fk_e2e_manifest("org.example.ui-app", "1.0.0", s_reqs);
    json_t *answer = s_authorize(manifest);
    const char *user_code = fk_e2e_str(answer, "user_code");
    char *path = fk_asprintf("/configure/%s", user_code);
    s_session_t session = s_login(fk_harness_admin_token(s_node));
    fk_http_resp_t *page = s_open_approval(&session, user_code);
    fk_http_resp_destroy(&page);

    /*  No session at all. */
    char *body = fk_asprintf("csrf=%s&decision=approve", session.csrf);
    fk_http_resp_t *resp = s_post(path, NULL, NULL, body);
    cr_assert_eq(resp->status, 401, "no session answered %ld", resp->status);
    fk_http_resp_destroy(&resp);
    cr_assert(s_pending(user_code), "the code was decided without a session");

    /*  A session but a wrong CSRF token, or none. */
    resp = s_post(path, session.cookie, NULL, "csrf=0123&decision=approve");
    cr_assert_eq(resp->status, 403, "a wrong csrf token answered %ld", resp->status);
    fk_http_resp_destroy(&resp);
    resp = s_post(path, session.cookie, NULL, "decision=approve");
    cr_assert_eq(resp->status, 403, "a missing csrf token answered %ld", resp->status);
    fk_http_resp_destroy(&resp);
    cr_assert(s_pending(user_code), "the code was decided without the csrf token");

    /*  The right token, posted from another site. */
    resp = s_post(path, session.cookie, "Origin: http://evil.example", body);
    cr_assert_eq(resp->status, 403, "a foreign Origin answered %ld", resp->status);
    cr_assert(strstr(resp->body, "Cross-site request refused"), "no clear message: %s", resp->body);
    fk_http_resp_destroy(&resp);
    resp = s_post(path, session.cookie, "Referer: http://evil.example/page", body);
    cr_assert_eq(resp->status, 403, "a foreign Referer answered %ld", resp->status);
    fk_http_resp_destroy(&resp);
    cr_assert(s_pending(user_code), "a cross-site post decided the code");

    /*  A session that logged out is gone. */
    s_session_t other = s_login(fk_harness_admin_token(s_node));
    fk_http_resp_t *dash = s_get("/ui/", other.cookie);
    cr_assert_eq(dash->status, 200);
    other.csrf = s_csrf_of(dash->body);
    cr_assert_not_null(other.csrf, "no logout form on the dashboard");
    fk_http_resp_destroy(&dash);
    char *logout = fk_asprintf("csrf=%s", other.csrf);
    resp = s_post("/ui/logout", other.cookie, NULL, logout);
    cr_assert_eq(resp->status, 303, "logout answered %ld", resp->status);
    fk_http_resp_destroy(&resp);
    free(logout);
    resp = s_get("/ui/api/dashboard", other.cookie);
    cr_assert_eq(resp->status, 401, "a logged-out session still reads the dashboard");
    fk_http_resp_destroy(&resp);
    s_session_clear(&other);

    free(body);
    free(path);
    s_session_clear(&session);
    json_decref(answer);
    json_decref(manifest);
}

Test(e2e_ui, approve_through_the_form_then_the_device_code_exchange_succeeds)
{
    s_register_services();
    json_t *manifest = fk_e2e_manifest("org.example.ui-app", "1.0.0", s_reqs);
    json_t *answer = s_authorize(manifest);
    const char *user_code = fk_e2e_str(answer, "user_code");
    const char *complete = fk_e2e_str(answer, "verification_uri_complete");
    char *expected = fk_asprintf("%s/configure/%s", fk_harness_base_url(s_node), user_code);
    cr_assert_str_eq(complete, expected, "verification_uri_complete is not the approval page");
    free(expected);

    s_session_t session = s_login(fk_harness_admin_token(s_node));
    fk_http_resp_t *page = s_open_approval(&session, user_code);
    cr_assert(strstr(page->body, "org.example.ui-app"), "the page lacks the identifier");
    cr_assert(strstr(page->body, "rekuest-1@"), "the page lacks the instance rekuest gets");
    cr_assert(strstr(page->body, "name=\"decline:kabinet\""), "no decline box for kabinet");
    cr_assert_null(strstr(page->body, "name=\"decline:rekuest\""),
                   "a required requirement offers a decline box");
    char *csp = fk_http_resp_header(page, "Content-Security-Policy");
    cr_assert(csp && strstr(csp, "frame-ancestors 'none'") && strstr(csp, "script-src 'self'"),
              "weak Content-Security-Policy: %s", csp ? csp : "(none)");
    char *frame = fk_http_resp_header(page, "X-Frame-Options");
    char *cache = fk_http_resp_header(page, "Cache-Control");
    char *referrer = fk_http_resp_header(page, "Referrer-Policy");
    cr_assert_str_eq(frame, "DENY");
    cr_assert_str_eq(cache, "no-store");
    cr_assert_str_eq(referrer, "same-origin");
    free(csp);
    free(frame);
    free(cache);
    free(referrer);
    fk_http_resp_destroy(&page);

    char *path = fk_asprintf("/configure/%s", user_code);
    char *origin = fk_asprintf("Origin: %s", fk_harness_base_url(s_node));
    char *body = fk_asprintf("csrf=%s&decline%%3Akabinet=on&decision=approve", session.csrf);
    fk_http_resp_t *resp = s_post(path, session.cookie, origin, body);
    cr_assert_eq(resp->status, 200, "approve answered %ld: %s", resp->status, resp->body);
    cr_assert(strstr(resp->body, "<h1>Approved</h1>"), "no result page: %s", resp->body);
    fk_http_resp_destroy(&resp);

    /*  The page now says the code is decided; a second post is refused. */
    page = s_get(path, session.cookie);
    cr_assert(strstr(page->body, "already approved"), "no 'already approved': %s", page->body);
    fk_http_resp_destroy(&page);
    resp = s_post(path, session.cookie, origin, body);
    cr_assert_eq(resp->status, 409, "a second decision answered %ld", resp->status);
    fk_http_resp_destroy(&resp);

    fk_http_resp_t *poll = fk_e2e_poll_once(s_node, fk_e2e_str(answer, "device_code"),
                                            fk_e2e_str(answer, "client_id"));
    json_t *envelope = fk_e2e_assert_envelope(s_node, poll);
    json_t *instances = json_object_get(envelope, "instances");
    cr_assert_not_null(json_object_get(instances, "rekuest"), "rekuest not granted: %s",
                       poll->body);
    cr_assert_null(json_object_get(instances, "kabinet"), "declined kabinet was granted");
    cr_assert_str_eq(fk_e2e_str(json_object_get(envelope, "statuses"), "kabinet"), "denied");
    fk_http_resp_destroy(&poll);

    free(origin);
    free(body);
    free(path);
    s_session_clear(&session);
    json_decref(answer);
    json_decref(manifest);
}

Test(e2e_ui, deny_through_the_form_gives_access_denied)
{
    s_register_services();
    json_t *manifest = fk_e2e_manifest("org.example.ui-app", "1.0.0", s_reqs);
    json_t *answer = s_authorize(manifest);
    const char *user_code = fk_e2e_str(answer, "user_code");
    s_session_t session = s_login(fk_harness_admin_token(s_node));
    fk_http_resp_t *page = s_open_approval(&session, user_code);
    fk_http_resp_destroy(&page);
    char *path = fk_asprintf("/configure/%s", user_code);
    char *body = fk_asprintf("csrf=%s&decision=deny", session.csrf);
    fk_http_resp_t *resp = s_post(path, session.cookie, NULL, body);
    cr_assert_eq(resp->status, 200, "deny answered %ld: %s", resp->status, resp->body);
    cr_assert(strstr(resp->body, "<h1>Denied</h1>"), "no result page: %s", resp->body);
    fk_http_resp_destroy(&resp);
    fk_http_resp_t *poll = fk_e2e_poll_once(s_node, fk_e2e_str(answer, "device_code"),
                                            fk_e2e_str(answer, "client_id"));
    fk_e2e_assert_oauth_error(poll, 400, "access_denied");
    fk_http_resp_destroy(&poll);
    free(body);
    free(path);
    s_session_clear(&session);
    json_decref(answer);
    json_decref(manifest);
}

Test(e2e_ui, a_manifest_cannot_inject_markup)
{
    json_t *manifest = fk_e2e_manifest("org.example.xss", "1\"><b>v</b>", NULL);
    json_object_set_new(manifest, "description",
                        json_string("<script>alert('x')</script> & <img src=x onerror=alert(1)>"));
    json_object_set_new(manifest, "logo", json_string("javascript:alert(1)"));
    json_t *answer = s_authorize(manifest);
    s_session_t session = s_login(fk_harness_admin_token(s_node));
    fk_http_resp_t *page = s_open_approval(&session, fk_e2e_str(answer, "user_code"));
    cr_assert_null(strstr(page->body, "<script>alert"), "a description became a script");
    cr_assert_null(strstr(page->body, "<img src=x"), "a description became an image");
    cr_assert_null(strstr(page->body, "<b>v</b>"), "a version became markup");
    cr_assert(strstr(page->body, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; "
                                 "&lt;img src=x onerror=alert(1)&gt;"),
              "the description is not shown as text: %s", page->body);
    cr_assert_null(strstr(page->body, "javascript:"), "a javascript: logo was rendered");
    fk_http_resp_destroy(&page);
    json_decref(answer);
    json_decref(manifest);

    /*  An http(s) logo is shown as an image, and only that. */
    manifest = fk_e2e_manifest("org.example.logo", "1.0", NULL);
    json_object_set_new(manifest, "logo", json_string("https://example.org/logo.png?a=1&b=\"2"));
    answer = s_authorize(manifest);
    page = s_open_approval(&session, fk_e2e_str(answer, "user_code"));
    cr_assert(strstr(page->body, "<img class=\"logo\" src=\"https://example.org/logo.png?a=1&amp;"
                                 "b=&quot;2\""),
              "the logo is not an escaped <img>: %s", page->body);
    fk_http_resp_destroy(&page);
    s_session_clear(&session);
    json_decref(answer);
    json_decref(manifest);
}

Test(e2e_ui, unknown_and_malformed_codes_are_404)
{
    s_session_t session = s_login(fk_harness_admin_token(s_node));
    fk_http_resp_t *resp = s_get("/configure/ZZZZZZZZZZ", session.cookie);
    cr_assert_eq(resp->status, 404, "an unknown code answered %ld", resp->status);
    cr_assert(strstr(resp->body, "no pending code ZZZZZZZZZZ"), "no clear message: %s", resp->body);
    fk_http_resp_destroy(&resp);
    resp = s_get("/configure/%3Cscript%3E", session.cookie);
    cr_assert_eq(resp->status, 404, "a malformed code answered %ld", resp->status);
    cr_assert_null(strstr(resp->body, "<script>"));
    fk_http_resp_destroy(&resp);
    s_session_clear(&session);
}

Test(e2e_ui, v1_links_and_the_code_entry_lead_to_the_approval_page)
{
    fk_http_resp_t *resp = s_get("/lok/f/configure/?device_code=0a1b2c3d&grant=device_code", NULL);
    cr_assert_eq(resp->status, 303, "the fakts-next 2.x link answered %ld", resp->status);
    char *location = fk_http_resp_header(resp, "Location");
    cr_assert_str_eq(location, "/configure/0a1b2c3d");
    free(location);
    fk_http_resp_destroy(&resp);

    resp = s_get("/device", NULL);
    cr_assert_eq(resp->status, 200, "/device answered %ld", resp->status);
    cr_assert(strstr(resp->body, "Enter your code"), "no code entry: %s", resp->body);
    fk_http_resp_destroy(&resp);

    resp = s_get("/device?code=ABCDEFGHJK", NULL);
    cr_assert_eq(resp->status, 303);
    location = fk_http_resp_header(resp, "Location");
    cr_assert_str_eq(location, "/configure/ABCDEFGHJK");
    free(location);
    fk_http_resp_destroy(&resp);

    /*  A code that is not one never reaches a header. */
    resp = s_get("/device?code=A%0D%0ASet-Cookie:x=1", NULL);
    cr_assert_eq(resp->status, 404, "a header-splitting code answered %ld", resp->status);
    location = fk_http_resp_header(resp, "Location");
    cr_assert_null(location);
    fk_http_resp_destroy(&resp);
}

Test(e2e_ui, dashboard_data_lists_members_services_and_codes)
{
    s_register_services();
    json_t *manifest = fk_e2e_manifest("org.example.ui-app", "1.0.0", s_reqs);
    json_t *answer = s_authorize(manifest);
    s_session_t session = s_login(fk_harness_admin_token(s_node));
    fk_http_resp_t *resp = s_get("/ui/api/dashboard", session.cookie);
    cr_assert_eq(resp->status, 200, "dashboard data answered %ld", resp->status);
    json_t *data = resp->json;
    cr_assert_str_eq(fk_e2e_str(data, "node"), fk_harness_name(s_node));
    json_t *member = json_array_get(json_object_get(data, "members"), 0);
    cr_assert_str_eq(fk_e2e_str(member, "name"), fk_harness_name(s_node));
    cr_assert_str_eq(fk_e2e_str(member, "status"), "alive");
    cr_assert_eq(json_array_size(json_object_get(data, "services")), 2, "services: %s", resp->body);
    json_t *code = json_array_get(json_object_get(data, "codes"), 0);
    cr_assert_str_eq(fk_e2e_str(code, "user_code"), fk_e2e_str(answer, "user_code"));
    cr_assert_str_eq(fk_e2e_str(code, "identifier"), "org.example.ui-app");
    /*  The audit section: the two registrations, newest last. */
    json_t *audit = json_object_get(data, "audit");
    cr_assert_eq(json_array_size(audit), 2, "audit: %s", resp->body);
    cr_assert_str_eq(fk_e2e_str(json_array_get(audit, 1), "action"), "service.register");
    cr_assert_str_eq(fk_e2e_str(json_array_get(audit, 1), "subject"), "kabinet-1");
    fk_http_resp_destroy(&resp);

    resp = s_get("/ui/static/dashboard.js", NULL);
    cr_assert_eq(resp->status, 200);
    char *type = fk_http_resp_header(resp, "Content-Type");
    cr_assert(type && strncmp(type, "text/javascript", 15) == 0, "dashboard.js served as %s",
              type ? type : "(none)");
    free(type);
    fk_http_resp_destroy(&resp);
    resp = s_get("/ui/static/login.html", NULL);
    cr_assert_eq(resp->status, 404, "a template was served as a file");
    fk_http_resp_destroy(&resp);

    s_session_clear(&session);
    json_decref(answer);
    json_decref(manifest);
}

Test(e2e_ui, operator_password_from_a_file_logs_in)
{
    char *path = fk_harness_write_file(s_node, "ui-password", "correct horse battery\n");
    const char *args[] = {"--ui-password-file", path, NULL};
    fk_node_opts_t opts = {.addr = "127.0.0.1", .args = args};
    fk_node_t *node = fk_harness_start(&opts);
    cr_assert_not_null(node, "the agent did not start with --ui-password-file");
    fk_node_t *first = s_node;
    s_node = node;
    fk_http_resp_t *wrong = s_post("/ui/login", NULL, NULL, "secret=correct+horse");
    cr_assert_eq(wrong->status, 401);
    fk_http_resp_destroy(&wrong);
    s_session_t session = s_login("correct+horse+battery");
    fk_http_resp_t *dash = s_get("/ui/", session.cookie);
    cr_assert_eq(dash->status, 200, "the password's session answered %ld", dash->status);
    fk_http_resp_destroy(&dash);
    s_session_clear(&session);
    /*  The admin token still works beside the password. */
    session = s_login(fk_harness_admin_token(node));
    s_session_clear(&session);
    s_node = first;
    fk_harness_remove(&node);
    free(path);
}

Test(e2e_ui, a_v1_code_is_approved_through_the_page_and_its_challenge_is_granted)
{
    s_register_services();
    json_t *manifest = fk_e2e_v1_manifest("org.example.v1-ui", "2.0", s_reqs);
    char *code = fk_e2e_v1_start(s_node, manifest, 300, "development");

    s_session_t session = s_login(fk_harness_admin_token(s_node));
    fk_http_resp_t *page = s_open_approval(&session, code);
    cr_assert(strstr(page->body, "org.example.v1-ui"), "the page lacks the identifier");
    fk_http_resp_destroy(&page);

    char *path = fk_asprintf("/configure/%s", code);
    char *origin = fk_asprintf("Origin: %s", fk_harness_base_url(s_node));
    char *body = fk_asprintf("csrf=%s&decision=approve", session.csrf);
    fk_http_resp_t *resp = s_post(path, session.cookie, origin, body);
    cr_assert_eq(resp->status, 200, "approve answered %ld: %s", resp->status, resp->body);
    fk_http_resp_destroy(&resp);

    fk_http_resp_t *challenge = fk_e2e_v1_challenge(s_node, code);
    fk_e2e_v1_assert(challenge, "granted", NULL, NULL);
    const char *token = fk_e2e_str(challenge->json, "token");
    fk_http_resp_t *claim = fk_e2e_v1_claim(s_node, token);
    json_t *instances = json_object_get(json_object_get(claim->json, "config"), "instances");
    cr_assert_not_null(json_object_get(instances, "rekuest"), "rekuest not granted: %s",
                       claim->body);
    fk_http_resp_destroy(&claim);
    fk_http_resp_destroy(&challenge);

    free(body);
    free(origin);
    free(path);
    s_session_clear(&session);
    free(code);
    json_decref(manifest);
}
