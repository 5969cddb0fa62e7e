/*  fk_e2e - the fakts 6.x (protocol v2) client's side of the conversation,
    for end-to-end tests.

    Every request here is shaped as jhnnsrs/fakts 6.x sends it (fakts-protocol.md
    §6): JSON with a nested manifest object for app-authorization, form bodies
    (space as '+') for the token endpoint with the manifest as a JSON string
    for redeem, "Accept: application/json" everywhere. The assert helpers use
    Criterion and abort the current test on failure; everything else reports
    through its return value.

    All functions are for one thread; nodes come from fk_harness. */

#ifndef FK_E2E_H_INCLUDED
#define FK_E2E_H_INCLUDED

#include "fk_harness.h"

#include <jansson.h>

#include <stdbool.h>
#include <stdint.h>

/*  The v2 grant types (fakts-protocol.md §6). */
#define FK_E2E_GRANT_DEVICE_CODE "urn:ietf:params:oauth:grant-type:device_code"
#define FK_E2E_GRANT_REDEEM "urn:fakts:grant-type:redeem"
#define FK_E2E_GRANT_REFRESH "refresh_token"

/*  The user-code alphabet (fakts-protocol.md §7). */
#define FK_E2E_USER_CODE_ALPHABET "ABCDEFGHJKMNPQRSTWXYZ23456789"

/*  One manifest requirement. */
typedef struct {
    const char *key;     /* the app's name for it; NULL ends a list */
    const char *service; /* reverse-domain service identifier */
    bool optional;       /* may be declined / missing */
} fk_e2e_req_t;

/*  Start a node with default options (127.0.0.1), asserting that it came up.
    The node is removed by fk_e2e_teardown() (or fk_harness_cleanup()). */
fk_node_t *fk_e2e_start_node(void);

/*  Criterion .fini for e2e suites: fk_harness_cleanup(). */
void fk_e2e_teardown(void);

/*  Write a service definition (YAML, the architecture.md shape: one alias
    host:port, path, ssl false, challenge "ht") to a file next to the data
    dir and register it with `fakts-node services register FILE`; asserts
    exit status 0. */
void fk_e2e_register(const fk_node_t *node, const char *id, const char *service, const char *host,
                     int port);

/*  Run a CLI command and assert exit status 0. Returns its stdout (caller
    frees). */
char *fk_e2e_cli_ok(const fk_node_t *node, const char *const *argv);

/*  Run a CLI command with --json appended, assert exit status 0 and that
    stdout is one JSON document; return it (caller json_decref()s). */
json_t *fk_e2e_cli_json(const fk_node_t *node, const char *const *argv);

/*  A v2 manifest as the fakts 6.x client's model_dump() renders it:
    identifier, version, author, description, logo, scopes ["openid"],
    entrypoint, requirements (from reqs, a list ended by key == NULL; reqs
    may be NULL), device_id, public_sources. New reference. */
json_t *fk_e2e_manifest(const char *identifier, const char *version, const fk_e2e_req_t *reqs);

/*  The manifest as the redeem grant carries it: Python's json.dumps() text
    (", " and ": " separators). Caller frees. */
char *fk_e2e_manifest_text(const json_t *manifest);

/*  GET /.well-known/fakts with the client's headers. */
fk_http_resp_t *fk_e2e_discovery(const fk_node_t *node);

/*  POST /lok/o/app-authorization/ with the 6.x payload: manifest,
    expiration_time_seconds, redirect_uris [], requested_client_kind
    "development", requested_client_role "interface". */
fk_http_resp_t *fk_e2e_authorize(const fk_node_t *node, const json_t *manifest,
                                 int expiration_time_seconds);

/*  POST the form pairs (name, value, ..., NULL) to /lok/o/token/. */
fk_http_resp_t *fk_e2e_token(const fk_node_t *node, const char *const *pairs);

/*  One device-code poll: grant_type, device_code, client_id. */
fk_http_resp_t *fk_e2e_poll_once(const fk_node_t *node, const char *device_code,
                                 const char *client_id);

/*  Poll as fakts 6.x does (§6.2): wait max(1, interval) seconds before every
    poll, add 5 on slow_down, continue on authorization_pending, and return
    the first other answer. Gives up after budget_ms and returns the last
    answer (an authorization_pending or slow_down one). */
fk_http_resp_t *fk_e2e_poll_device(const fk_node_t *node, const char *device_code,
                                   const char *client_id, int interval, int64_t budget_ms);

/*  `fakts-node redeem-token create --json` -> the token (caller frees). */
char *fk_e2e_redeem_token(const fk_node_t *node);

/*  The redeem grant with manifest_text as the manifest form field. */
fk_http_resp_t *fk_e2e_redeem(const fk_node_t *node, const char *redeem_token,
                              const char *manifest_text);

/*  The refresh grant; client_id may be NULL to leave it out. */
fk_http_resp_t *fk_e2e_refresh(const fk_node_t *node, const char *refresh_token,
                               const char *client_id);

/*  POST /lok/o/revoke/ with token, token_type_hint (NULL to leave out) and
    client_id (NULL to leave out). */
fk_http_resp_t *fk_e2e_revoke(const fk_node_t *node, const char *token, const char *hint,
                              const char *client_id);

/*  The string member key of a JSON object, or NULL (borrowed). */
const char *fk_e2e_str(const json_t *object, const char *key);

/*  Assert an OAuth error answer: the given HTTP status, a JSON object body
    whose "error" is error, and a string error_description when present. */
void fk_e2e_assert_oauth_error(const fk_http_resp_t *resp, long status, const char *error);

/*  Assert the X-Fakts-View header is present and 64 lower- or upper-case hex
    digits. */
void fk_e2e_assert_view(const fk_http_resp_t *resp);

/*  Assert a 200 v2 token response envelope (§4): access_token a three-part
    JWT whose header has alg RS256 and a kid published at /lok/o/jwks/,
    refresh_token, token_type "Bearer", expires_in > 0, client_id, self with
    deployment_name and an alias carrying id and kind, instances and
    statuses objects, every instance alias carrying kind. Returns the body
    (borrowed from resp). */
json_t *fk_e2e_assert_envelope(const fk_node_t *node, const fk_http_resp_t *resp);

/*  The kids of GET /lok/o/jwks/, as a new JSON array of strings (asserts
    the JWKS answers 200 with a keys array). */
json_t *fk_e2e_jwks_kids(const fk_node_t *node);

/*  True when the JSON array of strings contains s. */
bool fk_e2e_array_has(const json_t *array, const char *s);

/*  The value of the sample whose "name{labels}" is series in a Prometheus
    text exposition, or -1 when the series is absent. */
double fk_e2e_metric_value(const char *text, const char *series);

/*  Obtain a token envelope through the redeem grant with a fresh redeem
    token; asserts 200. Returns the response (caller destroys). */
fk_http_resp_t *fk_e2e_login_redeem(const fk_node_t *node, const json_t *manifest);

#endif
