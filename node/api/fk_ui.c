/*  fk_ui - the operators' web pages, served by every node (docs/API.md,
    "Web pages"):

      /configure/<code>   the approval page an app's link opens (v2
                          verification_uri_complete, fakts-next 3.x/4.x)
      /lok/f/configure/?device_code=<code>   the fakts-next 2.x link: a
                          redirect to /configure/<code>
      /device, /configure/   "enter your code" (fakts-next 4.x prints /device)
      /ui/                the dashboard: members, services per node (with what
                          apps report they cannot reach), codes, approved
                          apps, the last entries of the audit log
      /ui/apps/revoke     the dashboard's Revoke form (approve role)
      /ui/login, /ui/logout, /ui/api/dashboard, /ui/static/<file>

    Pages are templates embedded from node/api/ui/ at build time. A
    template's {{name}} takes a string HTML-escaped, {{{name}}} takes markup
    this file rendered from other templates; every string that comes from
    an app's manifest, a service definition or a request goes through
    {{name}}, so nothing an app sends can become markup. The dashboard
    fills itself with textContent from /ui/api/dashboard (dashboard.js).

    Login takes the admin token, an operator token or the operator
    password and opens a session that remembers who logged in and their
    roles: 256 random bits in an HttpOnly, SameSite=Strict cookie, kept in
    a bounded in-memory table for 12 hours; a session of an operator token
    ends as soon as the token is revoked or expires (checked on every
    request). Pages show only what the session's roles may do, and the
    server refuses (403) the rest: the dashboard needs read, deciding a
    code or revoking an app approve; the approval page shows to approve, or to read without
    its buttons. Every state-changing POST
    needs that session, the CSRF token bound to it (a hidden form field)
    and, when the browser sends one, an Origin (else Referer) equal to the
    node's own origin. Every page forbids framing and inline script. */

#include "fk_api_priv.h"

#include "fk_catalog.h"
#include "fk_clock.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*  Login attempts per minute per address. */
#define S_LOGIN_PER_MIN 10
/*  Audit entries the dashboard shows, the newest. */
#define S_DASHBOARD_AUDIT 50
/*  Longest code accepted in a URL; real ones have 8 (v1) or 10 (v2). */
#define S_CODE_MAX 32

/*  No inline script or style, nothing from elsewhere but an app's logo
    (an <img>, never fetched by the node), no framing, forms post here. */
#define S_CSP                                                                                      \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' http: https:; "       \
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

static void
s_add_str(fk_buf_t *buf, const char *text)
{
    fk_buf_add(buf, text, strlen(text));
}

/*  ---------------------------------------------------------------------
    Answers
    --------------------------------------------------------------------- */

static void
s_security_headers(fk_http_req_t *req, bool cacheable)
{
    fk_http_add_header(req, "Content-Security-Policy", S_CSP);
    fk_http_add_header(req, "X-Frame-Options", "DENY");
    fk_http_add_header(req, "X-Content-Type-Options", "nosniff");
    fk_http_add_header(req, "Referrer-Policy", "same-origin");
    /*  Pages carry codes, members and tokens' fates: never cached. The
        static files are revalidated, so a new binary's take effect. */
    fk_http_add_header(req, "Cache-Control", cacheable ? "no-cache" : "no-store");
}

/*  "alice (read, approve)" of a session, into buf. */
static void
s_who(const fk__ui_auth_t *auth, char *buf, size_t size)
{
    char roles[64];
    fk__api_roles_text(auth->caller.roles, roles, sizeof roles);
    snprintf(buf, size, "%s (%s)", auth->caller.name, roles);
}

static bool
s_may(const fk__ui_auth_t *auth, unsigned role)
{
    return auth->valid && fk_optokens_allows(auth->caller.roles, role);
}

/*  The links to the dashboard and to "enter a code" that the session's
    roles may follow (both without a session: they lead to the login),
    separated by sep. Fresh markup. */
static char *
s_links(const fk__ui_auth_t *auth, const char *sep)
{
    bool anyone = !auth || !auth->valid;
    bool dashboard = anyone || s_may(auth, FK_ROLE_READ);
    bool code = anyone || s_may(auth, FK_ROLE_APPROVE);
    return fk_asprintf("%s%s%s", dashboard ? "<a href=\"/ui/\">Dashboard</a>" : "",
                       dashboard && code ? sep : "",
                       code ? "<a href=\"/device\">Enter a code</a>" : "");
}

/*  The navigation of a logged-in page: the links the session's roles may
    follow, who is logged in, and the logout form. */
static char *
s_nav(const fk__ui_auth_t *auth)
{
    char who[FK_OPTOKENS_NAME_MAX + 80];
    s_who(auth, who, sizeof who);
    char *links = s_links(auth, "\n    ");
    char *nav = fk__ui_render_new("nav.html", json_pack("{s:s, s:s, s:s}", "csrf", auth->csrf,
                                                        "links", links, "who", who));
    free(links);
    return nav;
}

/*  Answer a page: content (a rendered fragment, taken) inside the layout,
    with the navigation when the operator is logged in. */
static void
s_page(fk_api_t *self, fk_http_req_t *req, unsigned status, const fk__ui_auth_t *auth,
       const char *title, char *content)
{
    char *nav = auth && auth->valid ? s_nav(auth) : fk_strdup("");
    char *html = fk__ui_render_new("layout.html", json_pack("{s:s, s:s, s:s, s:s}", "title", title,
                                                            "node", fk_store_node(self->store),
                                                            "nav", nav, "content", content));
    s_security_headers(req, false);
    fk_http_respond(req, status, "text/html; charset=utf-8", html, strlen(html));
    free(html);
    free(nav);
    free(content);
}

/*  A page with a heading, one message and details (markup this file
    rendered), styled as kind ("ok", "error", "denied"). */
static void
s_message_page(fk_api_t *self, fk_http_req_t *req, unsigned status, const fk__ui_auth_t *auth,
               const char *heading, const char *message, const char *details, const char *kind)
{
    char *links = s_links(auth, " &middot; ");
    s_page(self, req, status, auth, heading,
           fk__ui_render_new("message.html",
                             json_pack("{s:s, s:s, s:s, s:s, s:s}", "heading", heading, "message",
                                       message, "details", details, "kind", kind, "links", links)));
    free(links);
}

/*  A page with a heading and one message (errors, decisions). */
static void
s_message(fk_api_t *self, fk_http_req_t *req, unsigned status, const fk__ui_auth_t *auth,
          const char *heading, const char *message)
{
    s_message_page(self, req, status, auth, heading, message, "", status < 400 ? "ok" : "error");
}

static void
s_redirect(fk_http_req_t *req, const char *location)
{
    s_security_headers(req, false);
    fk_http_add_header(req, "Location", location);
    fk_http_respond(req, 303, "text/plain; charset=utf-8", "See Other\n", 10);
}

static void
s_json(fk_api_t *self, fk_http_req_t *req, unsigned status, json_t *body)
{
    fk_http_add_header(req, "Content-Security-Policy", S_CSP);
    fk_http_add_header(req, "X-Content-Type-Options", "nosniff");
    fk_http_add_header(req, "Referrer-Policy", "same-origin");
    fk__api_respond(self, req, status, body);
}

static bool
s_is(fk_http_req_t *req, const char *method)
{
    return strcmp(fk_http_method(req), method) == 0;
}

static bool
s_get_or_head(fk_http_req_t *req)
{
    return s_is(req, "GET") || s_is(req, "HEAD");
}

static void
s_not_allowed(fk_api_t *self, fk_http_req_t *req, const char *allow)
{
    fk_http_add_header(req, "Allow", allow);
    s_message(self, req, 405, NULL, "Method not allowed", "This page does not take that method.");
}

/*  ---------------------------------------------------------------------
    Request checks
    --------------------------------------------------------------------- */

/*  A code as it may appear in a URL: letters, digits and '-', at most
    S_CODE_MAX long. Anything else cannot be a code, and keeping it out
    keeps Location headers and log lines clean. */
static bool
s_code_ok(const char *code)
{
    size_t len = strlen(code);
    return len > 0 && len <= S_CODE_MAX
           && strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")
                  == len;
}

/*  Where a login may send the browser next: a path on this node, never
    "//host" or "/\host" (both leave it) and nothing a header could split
    on. */
static const char *
s_safe_next(const char *next)
{
    if (!next || next[0] != '/' || next[1] == '/' || next[1] == '\\' || strlen(next) > 200) {
        return "/ui/";
    }
    for (const char *p = next; *p; p++) {
        if ((unsigned char)*p < 0x21 || *p == 0x7f || *p == '\\') {
            return "/ui/";
        }
    }
    return next;
}

/*  Whether a state-changing request comes from this node's own pages: an
    Origin header (else a Referer) must name this node's origin; a request
    with neither passes this check (the CSRF token still applies). */
static bool
s_same_origin(fk_api_t *self, fk_http_req_t *req)
{
    const char *origin = fk_http_header(req, "Origin");
    const char *referer = origin ? NULL : fk_http_header(req, "Referer");
    if (!origin && !referer) {
        return true;
    }
    const fk_origin_t *o = fk__api_origin(self, req);
    /*  The node's origin is its base URL up to the path (--public-url
        may carry one). */
    const char *base = o->base;
    const char *sep = strstr(base, "://");
    size_t n = sep ? (size_t)(sep + 3 - base) + strcspn(sep + 3, "/") : strlen(base);
    bool ok = false;
    if (origin) {
        ok = strlen(origin) == n && strncasecmp(origin, base, n) == 0;
    } else {
        ok = strncasecmp(referer, base, n) == 0 && (referer[n] == '/' || referer[n] == '\0');
    }
    return ok;
}

static bool
s_https(fk_api_t *self, fk_http_req_t *req)
{
    const fk_origin_t *o = fk__api_origin(self, req);
    bool https = strcmp(o->scheme, "https") == 0;
    return https;
}

/*  The session of the request into *auth (auth->valid false when none).
    A session opened with an operator token ends here once the token is
    revoked or expired, on whichever node that happened. */
static void
s_session(fk_api_t *self, fk_http_req_t *req, fk__ui_auth_t *auth)
{
    fk__ui_session_find(self->ui, req, auth);
    if (auth->valid && !fk__api_caller_live(self, &auth->caller)) {
        fk_info("ui: ended the session of %s: its token was revoked or expired",
                auth->caller.name);
        fk__ui_session_close(self->ui, auth);
        auth->valid = false;
    }
}

/*  Answer 403: the session's roles do not include role, needed for what. */
static void
s_forbidden(fk_api_t *self, fk_http_req_t *req, const fk__ui_auth_t *auth, unsigned role,
            const char *what)
{
    char who[FK_OPTOKENS_NAME_MAX + 80];
    s_who(auth, who, sizeof who);
    char *message = fk_asprintf("You are logged in as %s: %s needs the %s role.", who, what,
                                fk_optokens_role_name(role));
    s_message(self, req, 403, auth, "Not allowed", message);
    free(message);
}

/*  The form of a state-changing POST, once the session, its role (0: any
    session; what names the action for the 403), the origin and the CSRF
    token are checked; otherwise answers (401, 403, 413, 400) and returns
    NULL. again is the page to open again after a login. On success the
    session's caller is the request's actor. */
static json_t *
s_checked_form(fk_api_t *self, fk_http_req_t *req, const fk__ui_auth_t *auth, unsigned role,
               const char *what, const char *again)
{
    if (!auth->valid) {
        char *login = fk_asprintf("Your session has ended or you never logged in. Log in at "
                                  "/ui/login, then open %s again.",
                                  again);
        s_message(self, req, 401, NULL, "Log in first", login);
        free(login);
        return NULL;
    }
    if (role && !s_may(auth, role)) {
        s_forbidden(self, req, auth, role, what);
        return NULL;
    }
    if (!s_same_origin(self, req)) {
        fk_warn("ui: refused a cross-site POST to %s from %s", fk_http_path(req),
                fk_http_peer(req));
        s_message(self, req, 403, auth, "Cross-site request refused",
                  "This form was sent from another site. Nothing was changed.");
        return NULL;
    }
    if (fk_http_body_too_big(req)) {
        s_message(self, req, 413, auth, "Request too large", "The form is over the body limit.");
        return NULL;
    }
    size_t len = 0;
    const char *body = fk_http_body(req, &len);
    json_t *form = fk__api_form(body, len);
    if (!form) {
        s_message(self, req, 400, auth, "Malformed form",
                  "The form could not be read (a field is repeated or unnamed).");
        return NULL;
    }
    if (!fk_secret_equal(fk_json_str(form, "csrf"), auth->csrf)) {
        fk_warn("ui: refused a POST to %s with a wrong CSRF token from %s", fk_http_path(req),
                fk_http_peer(req));
        s_message(self, req, 403, auth, "Form expired",
                  "The form's security token does not match your session. Nothing was changed: "
                  "reload the page and try again.");
        json_decref(form);
        return NULL;
    }
    fk__api_set_caller(req, &auth->caller);
    return form;
}

/*  ---------------------------------------------------------------------
    Login
    --------------------------------------------------------------------- */

static void
s_login_page(fk_api_t *self, fk_http_req_t *req, unsigned status, const char *next,
             const char *error)
{
    s_page(
        self, req, status, NULL, "Log in",
        fk__ui_render_new("login.html",
                          json_pack("{s:s, s:s, s:s}", "next", s_safe_next(next), "error", error,
                                    "password_hint",
                                    fk__ui_password(self->ui) ? " or the operator password" : "")));
}

static void
s_login(fk_api_t *self, fk_http_req_t *req)
{
    if (s_get_or_head(req)) {
        fk__ui_auth_t auth;
        s_session(self, req, &auth);
        const char *next = fk_http_query(req, "next");
        if (auth.valid) {
            s_redirect(req, s_safe_next(next));
        } else {
            s_login_page(self, req, 200, next, "");
        }
        return;
    }
    if (!s_is(req, "POST")) {
        s_not_allowed(self, req, "GET, POST");
        return;
    }
    if (!fk__api_rate_ok(self, "ui-login", fk_http_peer(req), S_LOGIN_PER_MIN)) {
        s_login_page(self, req, 429, NULL,
                     "Too many login attempts from your address. Wait a minute and try again.");
        return;
    }
    /*  A login form posted from another site would log the browser in to
        the attacker's choice of session (login CSRF). */
    if (!s_same_origin(self, req)) {
        s_message(self, req, 403, NULL, "Cross-site request refused",
                  "This login was sent from another site.");
        return;
    }
    size_t len = 0;
    const char *body = fk_http_body(req, &len);
    json_t *form = fk_http_body_too_big(req) ? NULL : fk__api_form(body, len);
    if (!form) {
        s_login_page(self, req, 400, NULL, "The login form could not be read.");
        return;
    }
    const char *secret = fk_json_str(form, "secret");
    const char *next = fk_json_str(form, "next");
    /*  Both checks always run: which secret matched must not show in the
        timing either. */
    fk__api_caller_t caller;
    int rc = fk__api_authenticate(self, secret, &caller);
    bool password_ok = fk_secret_equal(secret, fk__ui_password(self->ui));
    if (password_ok) {
        memset(&caller, 0, sizeof caller);
        caller.roles = FK_ROLE_READ | FK_ROLE_APPROVE;
        snprintf(caller.name, sizeof caller.name, "ui-password");
    } else if (rc != 0 && rc != FK_EDENIED) {
        s_login_page(self, req, 500, next, "The node cannot read its store; try again.");
        json_decref(form);
        return;
    }
    if (rc != 0 && !password_ok) {
        fk_warn("ui: failed login from %s", fk_http_peer(req));
        s_login_page(self, req, 401, next,
                     "Wrong token or password. The admin token is the file admin-token "
                     "in the node's data directory; operator tokens start with fko_.");
        json_decref(form);
        return;
    }
    fk__ui_auth_t auth;
    fk__ui_session_open(self->ui, &caller, &auth);
    fk_info("ui: %s logged in from %s", caller.name, fk_http_peer(req));
    char *cookie =
        fk_asprintf(FK__UI_COOKIE "=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s", auth.id,
                    FK__UI_SESSION_TTL_MS / 1000, s_https(self, req) ? "; Secure" : "");
    fk_http_add_header(req, "Set-Cookie", cookie);
    free(cookie);
    s_redirect(req, s_safe_next(next));
    json_decref(form);
}

static void
s_logout(fk_api_t *self, fk_http_req_t *req, const fk__ui_auth_t *auth)
{
    if (!s_is(req, "POST")) {
        s_not_allowed(self, req, "POST");
        return;
    }
    json_t *form = s_checked_form(self, req, auth, 0, "logging out", "the dashboard");
    if (!form) {
        return;
    }
    fk__ui_session_close(self->ui, auth);
    fk_http_add_header(req, "Set-Cookie",
                       FK__UI_COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    s_redirect(req, "/ui/login");
    json_decref(form);
}

/*  Send a browser without a session to the login, coming back to path. */
static void
s_to_login(fk_http_req_t *req, const char *path)
{
    char *location = fk_asprintf("/ui/login?next=%s", path);
    s_redirect(req, location);
    free(location);
}

/*  ---------------------------------------------------------------------
    Approval
    --------------------------------------------------------------------- */

/*  The requirement rows; decline boxes only when may_decide. */
static char *
s_requirements_html(const json_t *row, bool may_decide)
{
    fk_buf_t rows = {0};
    const json_t *instances = json_object_get(row, "instances");
    const json_t *statuses = json_object_get(row, "statuses");
    size_t i;
    json_t *req;
    json_array_foreach(json_object_get(row, "requirements"), i, req)
    {
        const char *key = fk_json_str(req, "key");
        bool optional = json_is_true(json_object_get(req, "optional"));
        const char *instance = fk_json_str(instances, key);
        const char *status = fk_json_str(statuses, key);
        char *decline = optional && may_decide
                            ? fk__ui_render_new("decline.html", json_pack("{s:s}", "key", key))
                            : fk_strdup("");
        char *one = fk__ui_render_new(
            "requirement.html",
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "key", key, "service",
                      fk_json_str(req, "service"), "description",
                      fk_json_str(req, "description") ? fk_json_str(req, "description") : "",
                      "need", optional ? "optional" : "required", "instance",
                      instance ? instance : "none", "status", status ? status : "unknown",
                      "decline", decline));
        s_add_str(&rows, one);
        free(one);
        free(decline);
    }
    return rows.len ? fk_buf_take(&rows) : fk__ui_render("requirement-none.html", NULL);
}

static char *
s_scopes_html(const json_t *row)
{
    fk_buf_t chips = {0};
    size_t i;
    json_t *scope;
    json_array_foreach(json_object_get(row, "scopes"), i, scope)
    {
        char *one =
            fk__ui_render_new("scope.html", json_pack("{s:s}", "scope", json_string_value(scope)));
        s_add_str(&chips, one);
        free(one);
    }
    return fk_buf_take(&chips);
}

/*  The app's logo as an <img> only for an http(s) URL: anything else
    (javascript:, data:) is not shown at all. The node never fetches it. */
static char *
s_logo_html(const json_t *row)
{
    const char *logo = fk_json_str(row, "logo");
    if (!logo || (strncasecmp(logo, "https://", 8) != 0 && strncasecmp(logo, "http://", 7) != 0)) {
        return fk_strdup("");
    }
    return fk__ui_render_new("logo.html", json_pack("{s:s}", "logo", logo));
}

/*  The approval page of code: with its buttons for the approve role,
    without them for read (which sees codes anyway), refused otherwise. */
static void
s_approval_page(fk_api_t *self, fk_http_req_t *req, const fk__ui_auth_t *auth, const char *code)
{
    bool may_decide = s_may(auth, FK_ROLE_APPROVE);
    if (!may_decide && !s_may(auth, FK_ROLE_READ)) {
        s_forbidden(self, req, auth, FK_ROLE_APPROVE, "this page");
        return;
    }
    json_t *row = fk_grants_code(self->grants, code);
    if (!row) {
        char *message = fk_asprintf("There is no pending code %s: it is unknown, it expired, or "
                                    "the app already received its configuration.",
                                    code);
        s_message(self, req, 404, auth, "Unknown code", message);
        free(message);
        return;
    }
    const char *decision = fk_json_str(row, "decision");
    if (decision) {
        char *message = fk_asprintf("Code %s was already %s. The app learns it at its next poll.",
                                    fk_json_str(row, "user_code"), decision);
        s_message(self, req, 200, auth, "Already decided", message);
        free(message);
        json_decref(row);
        return;
    }
    const char *identifier = fk_json_str(row, "identifier");
    const char *title = fk_json_str(row, "title");
    char *requirements = s_requirements_html(row, may_decide);
    char who[FK_OPTOKENS_NAME_MAX + 80];
    s_who(auth, who, sizeof who);
    char *actions =
        may_decide ? fk__ui_render("actions.html", NULL)
                   : fk__ui_render_new("no-actions.html", json_pack("{s:s}", "who", who));
    char *scopes = s_scopes_html(row);
    char *logo = s_logo_html(row);
    char *expires = fk_asprintf("%lld", fk_json_int(row, "expires_in", 0));
    json_t *vars = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "code",
        fk_json_str(row, "user_code"), "identifier", identifier, "title",
        title ? title : identifier, "version", fk_json_str(row, "version"), "description",
        fk_json_str(row, "description") ? fk_json_str(row, "description") : "", "logo", logo,
        "scopes", scopes, "requirements", requirements, "expires_in", expires, "dialect",
        fk_json_str(row, "dialect"), "csrf", auth->csrf, "action", fk_http_path(req),
        "actions", actions);
    char *title_text = fk_asprintf("Approve %s", identifier);
    s_page(self, req, 200, auth, title_text, fk__ui_render_new("approve.html", vars));
    free(title_text);
    free(requirements);
    free(actions);
    free(scopes);
    free(logo);
    free(expires);
    json_decref(row);
}

static void
s_decide(fk_api_t *self, fk_http_req_t *req, const fk__ui_auth_t *auth, const char *code)
{
    char *again = fk_asprintf("/configure/%s", code);
    json_t *form = s_checked_form(self, req, auth, FK_ROLE_APPROVE, "deciding a code", again);
    free(again);
    if (!form) {
        return;
    }
    const char *decision = fk_json_str(form, "decision");
    bool approve = decision && strcmp(decision, "approve") == 0;
    if (!approve && !(decision && strcmp(decision, "deny") == 0)) {
        s_message(self, req, 400, auth, "Malformed form", "Choose Approve or Deny.");
        json_decref(form);
        return;
    }
    /*  A checked box "decline:<key>" declines that optional requirement;
        fk_grants_decide refuses a required one. */
    json_t *declined = json_array();
    const char *name;
    json_t *value;
    json_object_foreach(form, name, value)
    {
        if (strncmp(name, "decline:", 8) == 0 && name[8]) {
            json_array_append_new(declined, json_string(name + 8));
        }
    }
    json_t *answer = NULL;
    fk_grants_why_t why = {{0}};
    int rc =
        fk_grants_decide(self->grants, code, approve, approve ? declined : NULL,
                              fk__api_actor(req), &answer, &why);
    if (rc != 0) {
        unsigned status = fk__api_err(rc)->status;
        const char *heading = rc == FK_ENOTFOUND      ? "Unknown code"
                              : rc == FK_EUSED        ? "Already decided"
                              : rc == FK_EUNAVAILABLE ? "A required service is missing"
                                                      : "Not possible";
        s_message(self, req, status, auth, heading, why.text);
    } else {
        fk__api_audit(self, req, approve ? "code.approve" : "code.deny",
                      fk_json_str(answer, "user_code"),
                      approve && json_array_size(declined) > 0
                          ? json_pack("{s:O, s:s}", "declined", declined, "via", "page")
                          : json_pack("{s:s}", "via", "page"));
        fk_buf_t rows = {0};
        const char *key;
        json_t *status;
        json_object_foreach(json_object_get(answer, "statuses"), key, status)
        {
            char *one =
                fk__ui_render_new("status.html", json_pack("{s:s, s:s}", "key", key, "status",
                                                           json_string_value(status)));
            s_add_str(&rows, one);
            free(one);
        }
        char *statuses = fk_buf_take(&rows);
        char *message = fk_asprintf(approve ? "Code %s is approved: the app receives its "
                                              "configuration at its next poll."
                                            : "Code %s is denied: the app is told so at its next "
                                              "poll.",
                                    fk_json_str(answer, "user_code"));
        s_message_page(self, req, 200, auth, approve ? "Approved" : "Denied", message, statuses,
                       approve ? "ok" : "denied");
        free(message);
        free(statuses);
    }
    json_decref(answer);
    json_decref(declined);
    json_decref(form);
}

/*  /configure/<code>[/] */
static void
s_configure(fk_api_t *self, fk_http_req_t *req, const char *rest)
{
    char code[S_CODE_MAX + 2];
    size_t len = strcspn(rest, "/");
    if (len > S_CODE_MAX || (rest[len] && strcmp(rest + len, "/") != 0)) {
        s_message(self, req, 404, NULL, "Unknown code", "That is not a code.");
        return;
    }
    memcpy(code, rest, len);
    code[len] = '\0';
    if (!s_code_ok(code)) {
        s_message(self, req, 404, NULL, "Unknown code", "That is not a code.");
        return;
    }
    fk__ui_auth_t auth;
    s_session(self, req, &auth);
    if (s_get_or_head(req)) {
        if (!auth.valid) {
            char *path = fk_asprintf("/configure/%s", code);
            s_to_login(req, path);
            free(path);
        } else {
            s_approval_page(self, req, &auth, code);
        }
    } else if (s_is(req, "POST")) {
        s_decide(self, req, &auth, code);
    } else {
        s_not_allowed(self, req, "GET, POST");
    }
}

/*  "Enter your code" (/device, /configure/), and where its form and the
    fakts-next 2.x link ({B}configure/?device_code=) lead: the approval page
    of that code. */
static void
s_enter_code(fk_api_t *self, fk_http_req_t *req, const char *param)
{
    if (!s_get_or_head(req)) {
        s_not_allowed(self, req, "GET");
        return;
    }
    const char *code = fk_http_query(req, param);
    if (code && *code) {
        if (!s_code_ok(code)) {
            s_page(
                self, req, 404, NULL, "Enter your code",
                fk__ui_render_new("device.html", json_pack("{s:s}", "error",
                                                           "That is not a code: codes have letters "
                                                           "and digits only.")));
            return;
        }
        char *location = fk_asprintf("/configure/%s", code);
        s_redirect(req, location);
        free(location);
        return;
    }
    fk__ui_auth_t auth;
    s_session(self, req, &auth);
    s_page(self, req, 200, &auth, "Enter your code",
           fk__ui_render_new("device.html", json_pack("{s:s}", "error", "")));
}

/*  ---------------------------------------------------------------------
    Dashboard
    --------------------------------------------------------------------- */

static void
s_dashboard_data(fk_api_t *self, fk_http_req_t *req, const fk__ui_auth_t *auth)
{
    if (!auth->valid) {
        s_json(self, req, 401,
               json_pack("{s:s, s:s}", "error", "unauthorized", "message",
                         "log in at /ui/login first"));
        return;
    }
    if (!s_may(auth, FK_ROLE_READ)) {
        s_json(self, req, 403,
               json_pack("{s:s, s:s}", "error", "forbidden", "message",
                         "the dashboard needs the read role"));
        return;
    }
    json_t *members = fk__api_members(self);
    fk_store_txn_t *txn;
    if (!members || fk_store_read_begin(self->store, &txn) != 0) {
        json_decref(members);
        s_json(self, req, 500,
               json_pack("{s:s, s:s}", "error", "internal", "message", "cannot read the store"));
        return;
    }
    json_t *services = fk_catalog_list(self->store, txn, false, true);
    fk_store_txn_end(&txn);
    fk__api_with_reports(self, services);
    /*  The last entries of the audit log; an unreadable log leaves the
        section empty rather than the whole dashboard. */
    json_t *audit = NULL;
    if (!self->audit || fk_audit_list(self->audit, 0, S_DASHBOARD_AUDIT, &audit) != 0) {
        audit = json_array();
    }
    s_json(self, req, 200,
           json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:b}", "node", fk_store_node(self->store),
                     "members", members, "services", services, "codes",
                     fk_grants_pending(self->grants), "apps", fk_grants_approved(self->grants),
                     "audit", audit, "may_approve", s_may(auth, FK_ROLE_APPROVE)));
}

/*  POST /ui/apps/revoke (form: csrf, client_id): the dashboard's Revoke
    button, with the checks of every state-changing form; the approve
    role, like deciding a code: whoever may let an app in may take it
    out. */
static void
s_revoke(fk_api_t *self, fk_http_req_t *req, const fk__ui_auth_t *auth)
{
    json_t *form = s_checked_form(self, req, auth, FK_ROLE_APPROVE, "revoking an app", "/ui/");
    if (!form) {
        return;
    }
    const char *client_id = fk_json_str(form, "client_id");
    if (!client_id || !*client_id) {
        s_message(self, req, 400, auth, "Malformed form", "The form names no app.");
        json_decref(form);
        return;
    }
    json_t *answer = NULL;
    fk_grants_why_t why = {{0}};
    int rc =
        fk_grants_revoke_app(self->grants, client_id, NULL, fk__api_actor(req), &answer, &why);
    if (rc != 0) {
        s_message(self, req, fk__api_err(rc)->status, auth,
                  rc == FK_ENOTFOUND ? "Unknown app" : "Not possible", why.text);
    } else {
        const json_t *app = json_array_get(json_object_get(answer, "revoked"), 0);
        fk__api_audit(self, req, "app.revoke", client_id,
                      json_pack("{s:O, s:O, s:s}", "revoked", json_object_get(answer, "revoked"),
                                "refresh_tokens", json_object_get(answer, "refresh_tokens"),
                                "via", "page"));
        char *message = fk_asprintf("%s %s is revoked on every node: its refresh tokens no longer "
                                    "work, and it needs a new approval to get tokens again.",
                                    fk_json_str(app, "identifier"), fk_json_str(app, "version"));
        s_message_page(self, req, 200, auth, "Revoked", message, "", "denied");
        free(message);
    }
    json_decref(answer);
    json_decref(form);
}

static void
s_static(fk_api_t *self, fk_http_req_t *req, const char *name)
{
    const fk__ui_asset_t *asset = fk__ui_asset(name);
    const char *dot = strrchr(name, '.');
    /*  Templates are not files to fetch; only scripts and styles are. */
    const char *type = !dot                       ? NULL
                       : strcmp(dot, ".js") == 0  ? "text/javascript; charset=utf-8"
                       : strcmp(dot, ".css") == 0 ? "text/css; charset=utf-8"
                                                  : NULL;
    if (!asset || !type) {
        s_message(self, req, 404, NULL, "Not found", "No such file.");
        return;
    }
    if (!s_get_or_head(req)) {
        s_not_allowed(self, req, "GET");
        return;
    }
    s_security_headers(req, true);
    fk_http_respond(req, 200, type, (const char *)asset->data, asset->len);
}

bool
fk__ui_route(fk_api_t *self, fk_http_req_t *req)
{
    const char *path = fk_http_path(req);
    if (strcmp(path, "/") == 0 || strcmp(path, "/ui") == 0 || strcmp(path, "/dashboard") == 0
        || strcmp(path, "/dashboard/") == 0) {
        s_redirect(req, "/ui/");
        return true;
    }
    if (strncmp(path, "/ui/static/", 11) == 0) {
        s_static(self, req, path + 11);
        return true;
    }
    if (strcmp(path, "/ui/login") == 0) {
        s_login(self, req);
        return true;
    }
    if (strcmp(path, "/device") == 0 || strcmp(path, "/device/") == 0
        || strcmp(path, "/configure") == 0 || strcmp(path, "/configure/") == 0) {
        s_enter_code(self, req, "code");
        return true;
    }
    if (strcmp(path, "/lok/f/configure") == 0 || strcmp(path, "/lok/f/configure/") == 0) {
        s_enter_code(self, req, "device_code");
        return true;
    }
    if (strncmp(path, "/configure/", 11) == 0) {
        s_configure(self, req, path + 11);
        return true;
    }
    if (strncmp(path, "/ui/", 4) != 0) {
        return false;
    }
    fk__ui_auth_t auth;
    s_session(self, req, &auth);
    if (strcmp(path, "/ui/logout") == 0) {
        s_logout(self, req, &auth);
    } else if (strcmp(path, "/ui/apps/revoke") == 0) {
        s_is(req, "POST") ? s_revoke(self, req, &auth) : s_not_allowed(self, req, "POST");
    } else if (strcmp(path, "/ui/api/dashboard") == 0) {
        s_get_or_head(req) ? s_dashboard_data(self, req, &auth) : s_not_allowed(self, req, "GET");
    } else if (strcmp(path, "/ui/") == 0) {
        if (!s_get_or_head(req)) {
            s_not_allowed(self, req, "GET");
        } else if (!auth.valid) {
            s_to_login(req, "/ui/");
        } else if (!s_may(&auth, FK_ROLE_READ)) {
            s_forbidden(self, req, &auth, FK_ROLE_READ, "the dashboard");
        } else {
            /*  The CSRF token rides on the page for the Revoke buttons
                the script builds (forms posted like the approval
                page's). */
            s_page(self, req, 200, &auth, "Dashboard",
                   fk__ui_render_new("dashboard.html", json_pack("{s:s}", "csrf", auth.csrf)));
        }
    } else {
        s_message(self, req, 404, auth.valid ? &auth : NULL, "Not found", "No such page.");
    }
    return true;
}
