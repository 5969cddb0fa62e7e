/*  fk_v1 - the Fakts v1 dialect's endpoints under {B} = /lok/f/
    (fakts-protocol.md §5) and the credentials of the client_credentials
    grant: JSON bodies whatever the Content-Type, every outcome HTTP 200
    with a "status", the error text under the key the v1 server uses. */

#include "fk_api_priv.h"

#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_manifest.h"
#include "fk_mem.h"

#include <microhttpd.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*  One v1 endpoint: where its malformed-body and domain errors go (§5.1). */
typedef struct {
    const char *name;      /* path under {B}, without slashes */
    const char *malformed; /* key of "Malformed request: ..." */
    const char *domain;    /* key of every other error */
    void (*fn)(fk_api_t *self, fk_http_req_t *req, json_t *body);
} s_endpoint_t;

static void
s_answer_error(fk_api_t *self, fk_http_req_t *req, unsigned status, const char *key,
               const char *message)
{
    fk__api_respond(self, req, status, json_pack("{s:s, s:s}", "status", "error", key, message));
}

/*  {"status":"error", key: "Malformed request: <what><detail>"}. */
static void
s_malformed(fk_api_t *self, fk_http_req_t *req, const char *key, const char *what,
            const char *detail)
{
    char text[320];
    snprintf(text, sizeof text, "Malformed request: %s%s", what, detail);
    s_answer_error(self, req, 200, key, text);
}

/*  The body of a v1 request as an object, or NULL after answering. */
static json_t *
s_body(fk_api_t *self, fk_http_req_t *req, const char *malformed_key)
{
    if (fk_http_body_too_big(req)) {
        char text[96];
        snprintf(text, sizeof text, "Request body exceeds %zu bytes", fk_http_max_body(req));
        s_answer_error(self, req, 413, malformed_key, text);
        return NULL;
    }
    size_t len = 0;
    const char *text = fk_http_body(req, &len);
    json_t *body = NULL;
    char reason[256];
    /*  json.loads(request.body) whatever the Content-Type; the npm client's
        "headers" key inside the body is one more unknown key. */
    if (fk_json_parse_object(text, len, &body, reason, sizeof reason) != 0) {
        s_malformed(self, req, malformed_key, "", reason);
        return NULL;
    }
    return body;
}

/*  The string member key of body, or NULL after answering malformed. */
static const char *
s_required_string(fk_api_t *self, fk_http_req_t *req, const json_t *body, const char *key,
                  const char *malformed_key)
{
    const char *value = fk_json_str(body, key);
    if (!value || !*value) {
        char text[128];
        snprintf(text, sizeof text, "Malformed request: %s: required string", key);
        s_answer_error(self, req, 200, malformed_key, text);
    }
    return value && *value ? value : NULL;
}

/*  The canonical manifest of body, or NULL after answering malformed. */
static json_t *
s_manifest(fk_api_t *self, fk_http_req_t *req, const json_t *body, const char *malformed_key)
{
    json_t *given = json_object_get(body, "manifest");
    if (!given) {
        s_answer_error(self, req, 200, malformed_key, "Malformed request: manifest: required");
        return NULL;
    }
    json_t *manifest = NULL;
    char reason[256];
    if (fk_manifest_parse(given, &manifest, reason, sizeof reason) != 0) {
        s_malformed(self, req, malformed_key, "manifest.", reason);
        return NULL;
    }
    return manifest;
}

/*  Answer a grants outcome: the answer body, or the error under key. */
static void
s_outcome(fk_api_t *self, fk_http_req_t *req, int rc, json_t *answer, const fk_grants_why_t *why,
          const char *key)
{
    if (rc == 0) {
        fk__api_respond(self, req, 200, answer);
    } else {
        s_answer_error(self, req, 200, key, why->text);
    }
}

static void
s_start(fk_api_t *self, fk_http_req_t *req, json_t *body)
{
    json_t *manifest = s_manifest(self, req, body, "error");
    if (!manifest) {
        return;
    }
    json_t *answer = NULL;
    fk_grants_why_t why = {{0}};
    int rc = fk_grants_v1_start(self->grants, manifest, body, &answer, &why);
    s_outcome(self, req, rc, answer, &why, "error");
    json_decref(manifest);
}

static void
s_challenge(fk_api_t *self, fk_http_req_t *req, json_t *body)
{
    const char *code = s_required_string(self, req, body, "code", "error");
    if (!code) {
        return;
    }
    /*  A v1 code is 32 bits and an approved one answers the client
        token, so unknown codes are guesses: an address that made
        code_misses_per_min of them may try no code until the minute ends
        (its own code included; a client that polls its own code never
        misses). */
    const char *peer = fk_http_peer(req);
    if (fk__api_rate_spent(self, "code-miss", peer, self->code_misses_per_min)) {
        fk_http_add_header(req, "Retry-After", "60");
        s_answer_error(self, req, 429, "error",
                       "Too many unknown codes from this address; try again in a minute");
        return;
    }
    const fk_origin_t *o = fk__api_origin(self, req);
    json_t *answer = NULL;
    fk_grants_why_t why = {{0}};
    int rc = fk_grants_v1_challenge(self->grants, code, o, &answer, &why);
    if (rc == FK_EINVAL_INPUT) {
        fk__api_rate_ok(self, "code-miss", peer, self->code_misses_per_min);
    }
    s_outcome(self, req, rc, answer, &why, "error");
}

static void
s_redeem(fk_api_t *self, fk_http_req_t *req, json_t *body)
{
    const char *token = s_required_string(self, req, body, "token", "error");
    json_t *manifest = token ? s_manifest(self, req, body, "error") : NULL;
    if (!manifest) {
        return;
    }
    const fk_origin_t *o = fk__api_origin(self, req);
    json_t *answer = NULL;
    fk_grants_why_t why = {{0}};
    int rc = fk_grants_v1_redeem(self->grants, token, manifest, o, &answer, &why);
    s_outcome(self, req, rc, answer, &why, "message");
    json_decref(manifest);
}

static void
s_retrieve(fk_api_t *self, fk_http_req_t *req, json_t *body)
{
    json_t *manifest = s_manifest(self, req, body, "error");
    if (!manifest) {
        return;
    }
    json_t *answer = NULL;
    fk_grants_why_t why = {{0}};
    int rc = fk_grants_v1_retrieve(self->grants, manifest, &answer, &why);
    s_outcome(self, req, rc, answer, &why, "message");
    json_decref(manifest);
}

static void
s_claim(fk_api_t *self, fk_http_req_t *req, json_t *body)
{
    const char *token = s_required_string(self, req, body, "token", "message");
    if (!token) {
        return;
    }
    json_t *secure = json_object_get(body, "secure");
    if (secure && !json_is_boolean(secure) && !json_is_null(secure)) {
        s_answer_error(self, req, 200, "message", "Malformed request: secure: must be a boolean");
        return;
    }
    const fk_origin_t *o = fk__api_origin(self, req);
    json_t *answer = NULL;
    fk_grants_why_t why = {{0}};
    int rc = fk_grants_v1_claim(self->grants, token, o, &answer, &why);
    s_outcome(self, req, rc, answer, &why, "message");
}

static void
s_report(fk_api_t *self, fk_http_req_t *req, json_t *body)
{
    const char *token = s_required_string(self, req, body, "token", "message");
    if (!token) {
        return;
    }
    json_t *answer = NULL;
    fk_grants_why_t why = {{0}};
    int rc = fk_grants_v1_report(self->grants, token, body, &answer, &why);
    s_outcome(self, req, rc, answer, &why, "message");
}

static void
s_serve(fk_api_t *self, fk_http_req_t *req, const s_endpoint_t *endpoint)
{
    if (strcmp(fk_http_method(req), "POST") != 0) {
        fk_http_add_header(req, "Allow", "POST");
        s_answer_error(self, req, 405, endpoint->domain, "Method not allowed");
        return;
    }
    if (!fk__api_rate_ok(self, "v1", fk_http_peer(req), self->v1_per_min)) {
        fk_http_add_header(req, "Retry-After", "60");
        s_answer_error(self, req, 429, endpoint->domain,
                       "Too many requests from this address; try again in a minute");
        return;
    }
    json_t *body = s_body(self, req, endpoint->malformed);
    if (body) {
        endpoint->fn(self, req, body);
        json_decref(body);
    }
}

static const s_endpoint_t s_endpoints[] = {
    {"start", "error", "error", s_start},     {"challenge", "error", "error", s_challenge},
    {"redeem", "error", "message", s_redeem}, {"retrieve", "error", "message", s_retrieve},
    {"claim", "message", "message", s_claim}, {"report", "message", "message", s_report},
};

bool
fk__v1_route(fk_api_t *self, fk_http_req_t *req)
{
    const char *path = fk_http_path(req);
    static const char prefix[] = "/lok/f/";
    if (strncmp(path, prefix, sizeof prefix - 1) != 0) {
        return false;
    }
    const char *name = path + sizeof prefix - 1;
    size_t len = strcspn(name, "/");
    /*  "name" or "name/", as the other routes accept both. */
    if (name[len] != '\0' && strcmp(name + len, "/") != 0) {
        return false;
    }
    for (size_t i = 0; i < sizeof s_endpoints / sizeof s_endpoints[0]; i++) {
        if (strlen(s_endpoints[i].name) == len && strncmp(s_endpoints[i].name, name, len) == 0) {
            s_serve(self, req, &s_endpoints[i]);
            return true;
        }
    }
    return false;
}

void
fk__v1_report(fk_api_t *self, fk_http_req_t *req)
{
    s_serve(self, req, &s_endpoints[5]);
}
