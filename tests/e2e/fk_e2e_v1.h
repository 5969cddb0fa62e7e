/*  fk_e2e_v1 - the fakts-next 4.x (protocol v1) client's side of the
    conversation, for end-to-end and cluster tests.

    Requests are shaped as fakts-next 4.x sends them (fakts-protocol.md §5):
    JSON bodies POSTed to {B} = /lok/f/, the manifest as its model_dump()
    with every key, and the client_credentials grant with HTTP Basic and the
    form credentials together (§5.9). Assert helpers use Criterion and abort
    the current test on failure. One thread. */

#ifndef FK_E2E_V1_H_INCLUDED
#define FK_E2E_V1_H_INCLUDED

#include "fk_e2e.h"

/*  The pending-challenge text of the v1 server, misspelling included. */
#define FK_E2E_V1_PENDING "User  has not verfied the challenge"

/*  A v1 manifest as fakts-next 4.x dumps it: identifier, version, scopes
    ["openid","read"], logo null, requirements (reqs, ended by key ==
    NULL; may be NULL), node_id null, public_sources [], description null.
    New reference. */
json_t *fk_e2e_v1_manifest(const char *identifier, const char *version, const fk_e2e_req_t *reqs);

/*  POST body (compact JSON of a JSON value) to /lok/f/<endpoint>/ as
    application/json. */
fk_http_resp_t *fk_e2e_v1_post(const fk_node_t *node, const char *endpoint, const json_t *body);

/*  POST {"manifest",expiration_time_seconds,"redirect_uris":[],
    "requested_client_kind":kind} to start/, assert {"status":"granted"}
    with an 8-hex code and return the code (caller frees). */
char *fk_e2e_v1_start(const fk_node_t *node, const json_t *manifest, int expiration_time_seconds,
                      const char *kind);

/*  POST {"code"} to challenge/. */
fk_http_resp_t *fk_e2e_v1_challenge(const fk_node_t *node, const char *code);

/*  Poll challenge/ once a second, as fakts-next does, until it answers
    anything but pending (or budget_ms passes); return the last answer. */
fk_http_resp_t *fk_e2e_v1_poll(const fk_node_t *node, const char *code, int64_t budget_ms);

/*  POST {"token","secure":false} to claim/, assert {"status":"granted"}
    and the full 4.x ActiveFakts shape (§4) with URLs on node, and return
    the response (caller destroys; config is resp->json's "config"). */
fk_http_resp_t *fk_e2e_v1_claim(const fk_node_t *node, const char *client_token);

/*  The client_credentials grant as fakts-next sends it: Authorization:
    Basic id:secret, and grant_type, scope (may be NULL to leave out),
    client_secret (form_secret, or client_secret when NULL) and client_id
    in the form. */
fk_http_resp_t *fk_e2e_v1_client_credentials(const fk_node_t *node, const char *client_id,
                                             const char *client_secret, const char *form_secret,
                                             const char *scope);

/*  Assert a v1 answer: HTTP 200, "status" equals status, and, when key is
    not NULL, body[key] equals text. */
void fk_e2e_v1_assert(const fk_http_resp_t *resp, const char *status, const char *key,
                      const char *text);

#endif
