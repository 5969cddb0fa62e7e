/*  fk_fakts - the Fakts protocol endpoints (v2 dialect, and the routes the
    dialects share: discovery, the token endpoint with the v1
    client_credentials grant, report/), exactly as fakts-protocol.md
    describes what the real clients send and expect. The v1 endpoints are
    in fk_v1.c. */

#include "fk_api_priv.h"

#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_manifest.h"
#include "fk_mem.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_GRANT_DEVICE "urn:ietf:params:oauth:grant-type:device_code"
#define S_GRANT_REDEEM "urn:fakts:grant-type:redeem"
#define S_GRANT_REFRESH "refresh_token"
#define S_GRANT_CLIENT_CREDENTIALS "client_credentials"

static bool
s_method(fk_http_req_t *req, const char *method)
{
    return strcmp(fk_http_method(req), method) == 0;
}

/*  An OAuth error answer: {"error","error_description"}. */
static void
s_oauth_error(fk_api_t *self, fk_http_req_t *req, unsigned status, const char *error,
              const char *description)
{
    json_t *body = json_pack("{s:s}", "error", error);
    if (description && *description) {
        json_object_set_new(body, "error_description", json_string(description));
    }
    fk__api_respond(self, req, status, body);
}

/*  A grants failure as an OAuth error: status and name from the one table
    (fk__api_err), the description from the grants. */
static void
s_grant_error(fk_api_t *self, fk_http_req_t *req, int rc, const fk_grants_why_t *why)
{
    const fk__api_err_t *err = fk__api_err(rc);
    if (err->status == 401) {
        /*  RFC 6749 §5.2: a failed client authentication names the
            scheme the client may use. */
        fk_http_add_header(req, "WWW-Authenticate", "Basic realm=\"lok\"");
    }
    s_oauth_error(self, req, err->status, err->oauth, why->text);
}

static void
s_too_big(fk_api_t *self, fk_http_req_t *req)
{
    char text[96];
    snprintf(text, sizeof text, "Request body exceeds %zu bytes", fk_http_max_body(req));
    s_oauth_error(self, req, 413, "invalid_request", text);
}

static void
s_method_not_allowed(fk_api_t *self, fk_http_req_t *req, const char *allow)
{
    fk_http_add_header(req, "Allow", allow);
    s_oauth_error(self, req, 405, "invalid_request", "Method not allowed");
}

static void
s_discovery(fk_api_t *self, fk_http_req_t *req)
{
    const fk_origin_t *o = fk__api_origin(self, req);
    const char *b = o->base;
    char *name = fk_asprintf("%s", self->deployment_name);
    char *base_url = fk_asprintf("%s/lok/f/", b);
    char *claim = fk_asprintf("%s/lok/f/claim/", b);
    char *configure_url = fk_asprintf("%s/configure/", b);
    char *configure = fk_asprintf("%s/configure/{code}", b);
    char *issuer = fk_asprintf("%s/lok", b);
    char *device = fk_asprintf("%s/lok/o/app-authorization/", b);
    char *token = fk_asprintf("%s/lok/o/token/", b);
    char *revoke = fk_asprintf("%s/lok/o/revoke/", b);
    char *jwks = fk_asprintf("%s/lok/o/jwks/", b);
    /*  One document for both generations (protocol §11.2): "2" as a string
        for fakts 6.x, a v1-usable base_url for fakts-next, only strings
        and string lists, and no retrieve_url (quirk 10). */
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s,s,s,s], "
        "s:[s,s,s]}",
        "name", name, "version", "0.1.0", "protocol_version", "2", "description",
        "fakts-node cluster", "base_url", base_url, "claim", claim, "frontend_url", b,
        "configure_url", configure_url, "configure", configure, "issuer", issuer,
        "device_authorization_endpoint", device, "token_endpoint", token, "revocation_endpoint",
        revoke, "jwks_uri", jwks, "grant_types_supported", S_GRANT_DEVICE, S_GRANT_REDEEM,
        S_GRANT_REFRESH, S_GRANT_CLIENT_CREDENTIALS, "token_endpoint_auth_methods_supported",
        "none", "client_secret_basic", "client_secret_post");
    free(name);
    free(base_url);
    free(claim);
    free(configure_url);
    free(configure);
    free(issuer);
    free(device);
    free(token);
    free(revoke);
    free(jwks);
    fk__api_respond(self, req, 200, doc);
}

/*  The app-authorization error shape of the newest v2 server: HTTP 400
    with status, error, error_description and details. */
static void
s_authorize_error(fk_api_t *self, fk_http_req_t *req, unsigned status, const char *description)
{
    json_t *body = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "status", "error", "error",
                             "invalid_request", "error_description", description, "details", "type",
                             "value_error", "msg", description);
    fk__api_respond(self, req, status, body);
}

static void
s_app_authorization(fk_api_t *self, fk_http_req_t *req)
{
    if (!fk__api_rate_ok(self, "authorize", fk_http_peer(req), self->authorize_per_min)) {
        /*  The v2 server's throttle answer: a bare slow_down. */
        fk__api_respond(self, req, 429, json_pack("{s:s}", "error", "slow_down"));
        return;
    }
    if (fk_http_body_too_big(req)) {
        char text[96];
        snprintf(text, sizeof text, "Request body exceeds %zu bytes", fk_http_max_body(req));
        s_authorize_error(self, req, 413, text);
        return;
    }
    size_t len = 0;
    const char *text = fk_http_body(req, &len);
    json_t *body = NULL;
    char err[256];
    char description[320];
    /*  Parsed whatever the Content-Type: real clients send JSON as
        text/plain or with no Content-Type at all. */
    if (fk_json_parse_object(text, len, &body, err, sizeof err) != 0) {
        snprintf(description, sizeof description, "Malformed request: %s", err);
        s_authorize_error(self, req, 400, description);
        return;
    }
    json_t *manifest_in = json_object_get(body, "manifest");
    json_t *manifest = NULL;
    if (!manifest_in) {
        s_authorize_error(self, req, 400, "Malformed request: manifest: required");
    } else if (fk_manifest_parse(manifest_in, &manifest, err, sizeof err) != 0) {
        snprintf(description, sizeof description, "Malformed request: manifest.%.200s", err);
        s_authorize_error(self, req, 400, description);
    } else {
        json_t *answer = NULL;
        fk_grants_why_t why = {{0}};
        int rc = fk_grants_authorize(self->grants, manifest, body, &answer, &why);
        if (rc != 0) {
            s_authorize_error(self, req, fk__api_err(rc)->status, why.text);
        } else {
            const fk_origin_t *o = fk__api_origin(self, req);
            char *token = fk_asprintf("%s/lok/o/token/", o->base);
            char *uri = fk_asprintf("%s/configure/{code}", o->base);
            char *complete =
                fk_asprintf("%s/configure/%s", o->base, fk_json_str(answer, "user_code"));
            json_t *out =
                json_pack("{s:s, s:O, s:O, s:O, s:s, s:s, s:s, s:O, s:O}", "status", "granted",
                          "device_code", json_object_get(answer, "device_code"), "user_code",
                          json_object_get(answer, "user_code"), "client_id",
                          json_object_get(answer, "client_id"), "token_endpoint", token,
                          "verification_uri", uri, "verification_uri_complete", complete,
                          "expires_in", json_object_get(answer, "expires_in"), "interval",
                          json_object_get(answer, "interval"));
            free(token);
            free(uri);
            free(complete);
            json_decref(answer);
            fk__api_respond(self, req, 200, out);
        }
    }
    json_decref(manifest);
    json_decref(body);
}

/*  One grant of the token endpoint: it reads the form and the request,
    and returns 0 with *answer_p or an FK_E* code with why. */
typedef int s_grant_fn(fk_api_t *self, fk_http_req_t *req, const json_t *form,
                       const fk_origin_t *origin, json_t **answer_p, fk_grants_why_t *why);

static int
s_grant_device(fk_api_t *self, fk_http_req_t *req, const json_t *form, const fk_origin_t *origin,
               json_t **answer_p, fk_grants_why_t *why)
{
    (void)req;
    return fk_grants_exchange_device_code(self->grants, fk_json_str(form, "device_code"),
                                          fk_json_str(form, "client_id"), origin, answer_p, why);
}

static int
s_grant_refresh(fk_api_t *self, fk_http_req_t *req, const json_t *form, const fk_origin_t *origin,
                json_t **answer_p, fk_grants_why_t *why)
{
    /*  A chain revoked for reuse is recorded with the address that
        presented the token. */
    fk_origin_t at = *origin;
    at.peer = fk_http_peer(req);
    return fk_grants_exchange_refresh(self->grants, fk_json_str(form, "refresh_token"),
                                      fk_json_str(form, "client_id"), &at, answer_p, why);
}

static int
s_grant_redeem(fk_api_t *self, fk_http_req_t *req, const json_t *form, const fk_origin_t *origin,
               json_t **answer_p, fk_grants_why_t *why)
{
    (void)req;
    const char *token = fk_json_str(form, "redeem_token");
    const char *manifest_text = fk_json_str(form, "manifest");
    const char *role = fk_json_str(form, "requested_client_role");
    json_t *parsed = NULL;
    json_t *manifest = NULL;
    char reason[256];
    int rc = FK_EINVAL_INPUT;
    if (!token || !*token || !manifest_text) {
        snprintf(why->text, sizeof why->text,
                 "Malformed request: redeem_token and manifest are required");
    } else if (role && strcmp(role, "interface") != 0 && strcmp(role, "agent") != 0) {
        snprintf(why->text, sizeof why->text,
                 "Malformed request: requested_client_role must be interface or agent");
    } else if (fk_json_parse_object(manifest_text, strlen(manifest_text), &parsed, reason,
                                    sizeof reason)
               != 0) {
        snprintf(why->text, sizeof why->text, "Malformed request: manifest: %.200s", reason);
    } else if (fk_manifest_parse(parsed, &manifest, reason, sizeof reason) != 0) {
        snprintf(why->text, sizeof why->text, "Malformed request: manifest.%.200s", reason);
    } else {
        rc = fk_grants_exchange_redeem(self->grants, token, manifest, origin, answer_p, why);
    }
    json_decref(parsed);
    json_decref(manifest);
    return rc;
}

/*  The v1 client_credentials grant (§5.9): credentials from HTTP Basic
    and/or the form, which must agree when both are given. */
static int
s_grant_client_credentials(fk_api_t *self, fk_http_req_t *req, const json_t *form,
                           const fk_origin_t *origin, json_t **answer_p, fk_grants_why_t *why)
{
    const char *auth = fk_http_header(req, "Authorization");
    const char *form_id = fk_json_str(form, "client_id");
    const char *form_secret = fk_json_str(form, "client_secret");
    char *basic_id = NULL;
    char *basic_secret = NULL;
    if (auth && strncasecmp(auth, "Basic ", 6) == 0
        && !fk__api_basic(auth, &basic_id, &basic_secret)) {
        snprintf(why->text, sizeof why->text, "Malformed Basic credentials");
        return FK_EAUTH;
    }
    int rc;
    /*  fakts-next sends Basic and the form fields together (§5.9): both
        are accepted, and when both are there they must name the same
        client with the same secret. */
    if (basic_id
        && ((form_id && strcmp(form_id, basic_id) != 0)
            || (form_secret && !fk_secret_equal(form_secret, basic_secret)))) {
        snprintf(why->text, sizeof why->text, "HTTP Basic and form credentials disagree");
        rc = FK_EINVAL_INPUT;
    } else {
        rc = fk_grants_client_credentials(self->grants, basic_id ? basic_id : form_id,
                                          basic_secret ? basic_secret : form_secret,
                                          fk_json_str(form, "scope"), origin, answer_p, why);
    }
    free(basic_id);
    if (basic_secret) {
        OPENSSL_cleanse(basic_secret, strlen(basic_secret));
    }
    free(basic_secret);
    return rc;
}

/*  The grants the token endpoint takes, by grant_type. */
static const struct {
    const char *type; /* grant_type */
    s_grant_fn *fn;   /* its handler */
} s_grants[] = {
    {S_GRANT_DEVICE, s_grant_device},
    {S_GRANT_REFRESH, s_grant_refresh},
    {S_GRANT_REDEEM, s_grant_redeem},
    {S_GRANT_CLIENT_CREDENTIALS, s_grant_client_credentials},
};

#define S_NGRANTS (sizeof s_grants / sizeof s_grants[0])

static void
s_token(fk_api_t *self, fk_http_req_t *req)
{
    if (!fk__api_rate_ok(self, "token", fk_http_peer(req), self->token_per_min)) {
        s_oauth_error(self, req, 429, "slow_down", "Too many token requests");
        return;
    }
    if (fk_http_body_too_big(req)) {
        s_too_big(self, req);
        return;
    }
    if (self->consistent_answers && fk_cluster_sync(self->cluster, 0, 5000) != 0) {
        /*  The operator asked for answers composed from a state a majority
            agrees on; without one, say so rather than answer stale. */
        s_oauth_error(self, req, 503, "temporarily_unavailable",
                      "No majority of the cluster answered; try again");
        return;
    }
    size_t len = 0;
    const char *text = fk_http_body(req, &len);
    json_t *form = fk__api_form(text, len);
    if (!form) {
        s_oauth_error(self, req, 400, "invalid_request",
                      "Malformed form body (a parameter is empty-named or repeated)");
        return;
    }
    const char *grant = fk_json_str(form, "grant_type");
    const fk_origin_t *o = fk__api_origin(self, req);
    json_t *answer = NULL;
    fk_grants_why_t why = {{0}};
    int rc = FK_EUNSUPPORTED;
    size_t row = S_NGRANTS; /* the metrics' "other" row until a grant matches */
    if (!grant || !*grant) {
        rc = FK_EINVAL_INPUT;
        snprintf(why.text, sizeof why.text, "Missing 'grant_type'");
    } else {
        snprintf(why.text, sizeof why.text, "Unsupported grant type '%.100s'", grant);
        for (size_t i = 0; i < S_NGRANTS; i++) {
            if (strcmp(grant, s_grants[i].type) == 0) {
                why.text[0] = '\0';
                rc = s_grants[i].fn(self, req, form, o, &answer, &why);
                row = i;
                break;
            }
        }
    }
    json_decref(form);
    fk__api_metrics_token(self, row, row < S_NGRANTS ? s_grants[row].type : "other", rc);
    if (rc != 0) {
        s_grant_error(self, req, rc, &why);
        return;
    }
    fk_http_add_header(req, "Pragma", "no-cache");
    fk__api_respond(self, req, 200, answer);
}

static void
s_revoke(fk_api_t *self, fk_http_req_t *req)
{
    /*  Revocation is a token endpoint (RFC 7009): it shares their limit. */
    if (!fk__api_rate_ok(self, "token", fk_http_peer(req), self->token_per_min)) {
        s_oauth_error(self, req, 429, "slow_down", "Too many token requests");
        return;
    }
    if (fk_http_body_too_big(req)) {
        s_too_big(self, req);
        return;
    }
    size_t len = 0;
    const char *text = fk_http_body(req, &len);
    json_t *form = fk__api_form(text, len);
    if (!form) {
        s_oauth_error(self, req, 400, "invalid_request", "Malformed form body");
        return;
    }
    fk_grants_why_t why = {{0}};
    int rc = fk_grants_revoke(self->grants, fk_json_str(form, "token"),
                              fk_json_str(form, "token_type_hint"), fk_json_str(form, "client_id"),
                              &why);
    if (rc != 0) {
        s_grant_error(self, req, rc, &why);
    } else {
        fk__api_respond(self, req, 200, json_object());
    }
    json_decref(form);
}

/*  The v2 report's error shape (§6.6): the OAuth error and a "message". */
static void
s_report_error(fk_api_t *self, fk_http_req_t *req, unsigned status, const char *error,
               const char *description)
{
    fk__api_respond(self, req, status,
                    json_pack("{s:s, s:s, s:s, s:s}", "status", "error", "error", error,
                              "error_description", description, "message", description));
}

static void
s_report_grant_error(fk_api_t *self, fk_http_req_t *req, int rc, const fk_grants_why_t *why)
{
    const fk__api_err_t *err = fk__api_err(rc);
    s_report_error(self, req, err->status, err->oauth, why->text);
}

/*  One URL, two dialects (§6.6, §5.7): a bearer makes it the v2 report,
    its absence the v1 report with the client token in the body. */
static void
s_report(fk_api_t *self, fk_http_req_t *req)
{
    const char *auth = fk_http_header(req, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        fk__v1_report(self, req);
        return;
    }
    /*  A bearer is checked on every report (a signature and a read):
        the token endpoints' limit bounds what one address makes it do. */
    if (!fk__api_rate_ok(self, "token", fk_http_peer(req), self->token_per_min)) {
        fk_http_add_header(req, "Retry-After", "60");
        s_report_error(self, req, 429, "slow_down", "Too many requests from this address");
        return;
    }
    char text[320];
    if (fk_http_body_too_big(req)) {
        snprintf(text, sizeof text, "Request body exceeds %zu bytes", fk_http_max_body(req));
        s_report_error(self, req, 413, "invalid_request", text);
        return;
    }
    json_t *claims = NULL;
    fk_grants_why_t why = {{0}};
    int rc = fk_grants_check_bearer(self->grants, auth + 7, &claims, &why);
    if (rc != 0) {
        s_report_grant_error(self, req, rc, &why);
        return;
    }
    size_t len = 0;
    const char *body_text = fk_http_body(req, &len);
    json_t *body = NULL;
    char reason[256];
    if (fk_json_parse_object(body_text, len, &body, reason, sizeof reason) != 0) {
        snprintf(text, sizeof text, "Malformed request: %.200s", reason);
        s_report_error(self, req, 400, "invalid_request", text);
    } else if ((rc = fk_grants_report(self->grants, claims, body, &why)) != 0) {
        s_report_grant_error(self, req, rc, &why);
    } else {
        fk__api_respond(self, req, 200,
                        json_pack("{s:s, s:s}", "status", "reported", "message",
                                  "Report processed successfully"));
    }
    json_decref(body);
    json_decref(claims);
}

bool
fk__fakts_route(fk_api_t *self, fk_http_req_t *req)
{
    const char *path = fk_http_path(req);
    if (strcmp(path, "/.well-known/fakts") == 0 || strcmp(path, "/.well-known/fakts/") == 0) {
        if (!s_method(req, "GET") && !s_method(req, "HEAD")) {
            s_method_not_allowed(self, req, "GET");
        } else {
            s_discovery(self, req);
        }
        return true;
    }
    if (strcmp(path, "/lok/ht") == 0 || strcmp(path, "/ht") == 0 || strcmp(path, "/lok/ht/") == 0) {
        fk__api_respond(self, req, 200, json_pack("{s:s}", "status", "ok"));
        return true;
    }
    if (strcmp(path, "/lok/o/jwks/") == 0 || strcmp(path, "/lok/o/jwks") == 0) {
        if (!s_method(req, "GET")) {
            s_method_not_allowed(self, req, "GET");
        } else {
            fk__api_respond(self, req, 200, fk_grants_jwks(self->grants));
        }
        return true;
    }
    static const struct {
        const char *path;                        /* route */
        void (*fn)(fk_api_t *, fk_http_req_t *); /* POST handler */
    } posts[] = {
        {"/lok/o/app-authorization/", s_app_authorization},
        {"/lok/o/token/", s_token},
        {"/lok/o/revoke/", s_revoke},
        {"/lok/f/report/", s_report},
    };
    for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++) {
        size_t n = strlen(posts[i].path);
        /*  Accept the path with or without its trailing slash. */
        if (strcmp(path, posts[i].path) == 0
            || (strlen(path) == n - 1 && strncmp(path, posts[i].path, n - 1) == 0)) {
            if (!s_method(req, "POST")) {
                s_method_not_allowed(self, req, "POST");
            } else {
                posts[i].fn(self, req);
            }
            return true;
        }
    }
    return false;
}
