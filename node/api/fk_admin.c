/*  fk_admin - the operators' agent API under /v1/ (docs/API.md). */

#include "fk_api_priv.h"

#include "fk_admit.h"
#include "fk_catalog.h"
#include "fk_checker.h"
#include "fk_clock.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_health.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_manifest.h"
#include "fk_mem.h"
#include "fk_service.h"
#include "fk_identity.h"
#include "fk_tokens.h"
#include "fk_yaml.h"

#include <errno.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void
s_error(fk_api_t *self, fk_http_req_t *req, unsigned status, const char *error, const char *message)
{
    fk__api_respond(self, req, status, json_pack("{s:s, s:s}", "error", error, "message", message));
}

static bool
s_is(fk_http_req_t *req, const char *method)
{
    return strcmp(fk_http_method(req), method) == 0;
}

static void
s_info(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        s_error(self, req, 500, "internal", "cannot read the store");
        return;
    }
    char view[65];
    fk_store_view(txn, view);
    json_t *services = fk_catalog_list(self->store, txn, false, false);
    fk_store_txn_end(&txn);
    json_t *pending = fk_grants_pending(self->grants);
    char fingerprint[FK_IDENTITY_FINGERPRINT + 1];
    fk_identity_fingerprint(fk_identity_curve_public(self->identity),
                            fk_identity_sign_public(self->identity), fingerprint);
    json_t *info = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:I, s:I, s:I}",
                             "node",
                             fk_store_node(self->store), "version", "0.1.0", "http",
                             self->http_addr, "gossip", fk_cluster_addr(self->cluster),
                             "gossip_security", self->insecure_gossip ? "insecure" : "curve",
                             "key", fingerprint, "data_dir", self->data_dir, "services_dir",
                             self->services_dir, "view", view, "services",
                             (json_int_t)json_array_size(services), "pending_codes",
                             (json_int_t)json_array_size(pending), "rate_limited_addresses",
                             (json_int_t)fk__api_rate_entries(self));
    json_decref(services);
    json_decref(pending);
    fk__api_respond(self, req, 200, info);
}

/*  ---------------------------------------------------------------------
    Blocking queries (Consul's): GET /v1/services and /v1/agent/members
    take ?hash=H&wait=DUR. The answer's hash (X-Fakts-Index) is the
    SHA-256 of its body in canonical JSON (compact, keys sorted), so it is
    the same on every node that holds the same state, and it changes only
    when the answer does: a record written elsewhere (an audit entry, a
    code) wakes the held request, which finds the same hash and holds
    again. A request whose H differs from the current hash is answered at
    once; one whose H equals it is held (fk_http_hold, no thread) until a
    store change gives a different hash or the wait ends, and then answered
    with the hash as it is (the same on a timeout).
    --------------------------------------------------------------------- */

#define S_WAIT_DEFAULT_MS (5 * 60 * 1000) /* Consul's default wait */
#define S_WAIT_MAX_MS (10 * 60 * 1000)    /* and its cap */

/*  Answer body with its hash, or hold the request while the caller's hash
    still matches. topics: the fk_store_changed_t bits that can change
    body. fields: NULL to hash the whole body, or (for an array of
    objects) the NULL-terminated members of each row that converged nodes
    agree on, so that node-local ones do not split the hash. Steals body. */
static void
s_blocking_respond(fk_api_t *self, fk_http_req_t *req, json_t *body, unsigned topics,
                   const char *const *fields)
{
    json_t *hashed = json_incref(body);
    if (fields) {
        json_decref(hashed);
        hashed = json_array();
        size_t i;
        const json_t *row;
        json_array_foreach(body, i, row)
        {
            json_t *kept = json_object();
            for (const char *const *field = fields; *field; field++) {
                json_t *value = json_object_get(row, *field);
                json_object_set(kept, *field, value ? value : json_null());
            }
            json_array_append_new(hashed, kept);
        }
    }
    char *canonical = json_dumps(hashed, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(hashed);
    char index[FK_SHA256_HEX_LEN + 1];
    fk_sha256_hex(canonical ? canonical : "", canonical ? strlen(canonical) : 0, index);
    free(canonical);
    const char *hash = fk_http_query(req, "hash");
    const char *wait = fk_http_query(req, "wait");
    int64_t until = fk_http_held_until(req);
    if (until == 0 && (hash || wait)) {
        /*  First call: check the parameters once, and fix the deadline
            (the wait plus up to wait/16 of jitter, as Consul adds, so
            watchers started together do not all come back together). */
        bool hex = hash && strlen(hash) == FK_SHA256_HEX_LEN
                   && strspn(hash, "0123456789abcdef") == FK_SHA256_HEX_LEN;
        int64_t wait_ms = S_WAIT_DEFAULT_MS;
        if (hash && !hex) {
            json_decref(body);
            s_error(self, req, 400, "invalid",
                    "hash: must be the 64 lowercase hex characters of an X-Fakts-Index header");
            return;
        }
        if (wait && (fk_health_duration_parse(wait, strlen(wait), &wait_ms) != 0 || wait_ms <= 0
                     || wait_ms > S_WAIT_MAX_MS)) {
            json_decref(body);
            s_error(self, req, 400, "invalid",
                    "wait: must be a duration such as 30s or 5m, at most 10m");
            return;
        }
        unsigned char random[4];
        uint32_t draw = RAND_bytes(random, sizeof random) == 1
                            ? (uint32_t)random[0] << 24 | (uint32_t)random[1] << 16
                                  | (uint32_t)random[2] << 8 | random[3]
                            : 0;
        int64_t jitter = wait_ms / 16 > 0 ? (int64_t)(draw % (uint32_t)(wait_ms / 16)) : 0;
        until = fk_clock_mono_ms() + wait_ms + jitter;
    }
    if (hash && strcmp(hash, index) == 0 && fk_clock_mono_ms() < until) {
        json_decref(body);
        fk_http_hold(req, until, topics);
        return;
    }
    fk_http_add_header(req, "X-Fakts-Index", index);
    fk__api_respond(self, req, 200, body);
}

static void
s_services_list(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        s_error(self, req, 500, "internal", "cannot read the store");
        return;
    }
    json_t *list = fk_catalog_list(self->store, txn, fk_http_query(req, "local") != NULL,
                                   fk_http_query(req, "all") != NULL);
    fk_store_txn_end(&txn);
    /*  Which services answer depends on the records and on the members'
        liveness (a failed node's services leave the list). */
    s_blocking_respond(self, req, fk__api_with_reports(self, list),
                       FK_STORE_CHANGED_RECORDS | FK_STORE_CHANGED_MEMBERS, NULL);
}

/*  Wait until a majority of the live members hold every local write up
    to now: then every consistent read, on any node, sees them. */
static int
s_wait_quorum(fk_api_t *self)
{
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        return FK_ESTORE;
    }
    uint64_t version = fk_store_owner_version(txn, fk_store_node(self->store));
    fk_store_txn_end(&txn);
    return version ? fk_cluster_sync(self->cluster, version, 5000) : 0;
}

static void
s_services_register(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    if (fk_http_body_too_big(req)) {
        s_error(self, req, 413, "too_large", "service definition over the body limit");
        return;
    }
    size_t len = 0;
    const char *text = fk_http_body(req, &len);
    json_t *canonical = NULL;
    char reason[256];
    int rc = fk_service_load(text, len, &canonical, reason, sizeof reason);
    if (rc) {
        s_error(self, req, rc == FK_ETOOBIG ? 413 : 400, "invalid", reason);
        return;
    }
    rc = fk_catalog_register(self->store, canonical, "api");
    if (rc == 0) {
        fk__api_audit(self, req, "service.register", fk_json_str(canonical, "id"),
                      json_pack("{s:s}", "service", fk_json_str(canonical, "service")));
        if (self->checker) {
            fk_checker_kick(self->checker);
        }
    }
    const char *wait = fk_http_query(req, "wait");
    if (rc == -ENOSPC) {
        /*  The one store failure an operator acts on: say what to do. */
        const fk__api_err_t *err = fk__api_err(rc);
        s_error(self, req, err->status, err->admin,
                "the node's store is full: deregister services or raise --map-size");
    } else if (rc) {
        snprintf(reason, sizeof reason, "cannot store the service: %s", fk_strerror(rc));
        s_error(self, req, 500, "internal", reason);
    } else if (wait && strcmp(wait, "quorum") == 0 && s_wait_quorum(self) != 0) {
        s_error(self, req, 503, "no_quorum",
                "registered here, but a majority of the live members did not confirm it in 5 s");
    } else {
        fk__api_respond(self, req, 200, json_incref(canonical));
    }
    json_decref(canonical);
}

static void
s_service_delete(fk_api_t *self, fk_http_req_t *req, const char *id)
{
    char message[300];
    int rc = fk_catalog_deregister(self->store, id);
    if (rc == 0 && self->checker) {
        fk_checker_kick(self->checker);
    }
    if (rc == FK_ENOTFOUND) {
        snprintf(message, sizeof message, "no local service with id '%.200s'", id);
        s_error(self, req, 404, "not_found", message);
    } else if (rc) {
        s_error(self, req, 500, "internal", fk_strerror(rc));
    } else {
        fk__api_audit(self, req, "service.deregister", id, NULL);
        fk__api_respond(self, req, 200, json_pack("{s:s}", "deregistered", id));
    }
}

static void
s_service_get(fk_api_t *self, fk_http_req_t *req, const char *id)
{
    char message[300];
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        s_error(self, req, 500, "internal", "cannot read the store");
        return;
    }
    json_t *service = fk_catalog_get_local(self->store, txn, id);
    fk_store_txn_end(&txn);
    if (!service) {
        snprintf(message, sizeof message, "no local service with id '%.200s'", id);
        s_error(self, req, 404, "not_found", message);
        return;
    }
    fk__api_respond(self, req, 200, service);
}

/*  A grants failure in the agent API's shape, status and name from the
    one table (fk__api_err). */
static void
s_grant_error(fk_api_t *self, fk_http_req_t *req, int rc, const fk_grants_why_t *why)
{
    const fk__api_err_t *err = fk__api_err(rc);
    s_error(self, req, err->status, err->admin, why->text);
}

/*  The request's JSON object body into *body_p (NULL when the body is empty
    and empty_ok). false after answering 400 for a body that is not one
    JSON object (or is empty when it must not be). */
static bool
s_body(fk_api_t *self, fk_http_req_t *req, bool empty_ok, json_t **body_p)
{
    *body_p = NULL;
    size_t len = 0;
    const char *text = fk_http_body(req, &len);
    char reason[256];
    if ((len > 0 || !empty_ok)
        && fk_json_parse_object(text, len, body_p, reason, sizeof reason) != 0) {
        s_error(self, req, 400, "invalid", reason);
        return false;
    }
    return true;
}

/*  PUT /v1/services/{id}/health {"status": "passing"|"warning"|"critical"
    (or pass|warn|fail), "note": "..."}: a ttl report for a local instance;
    arg is "{id}/health". Answers the instance as stored after the report. */
static void
s_service_health(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    char id[200];
    char message[300];
    size_t len = strcspn(arg, "/");
    if (len >= sizeof id) {
        s_error(self, req, 404, "not_found", "no local service with that id");
        return;
    }
    memcpy(id, arg, len);
    id[len] = '\0';
    json_t *body;
    if (!s_body(self, req, false, &body)) {
        return;
    }
    fk_health_status_t status = FK_HEALTH_CRITICAL;
    const json_t *note = json_object_get(body, "note");
    if (fk_health_status_parse(fk_json_str(body, "status"), &status) != 0) {
        s_error(self, req, 400, "invalid",
                "status: must be passing, warning or critical (or pass, warn, fail)");
    } else if (note && !json_is_string(note) && !json_is_null(note)) {
        s_error(self, req, 400, "invalid", "note: must be a string");
    } else if (!self->checker) {
        s_error(self, req, 503, "unavailable", "this node runs no health checks");
    } else {
        int rc = fk_checker_report(self->checker, id, status, json_string_value(note));
        if (rc == FK_ENOTFOUND) {
            snprintf(message, sizeof message, "no local service with id '%.200s'", id);
            s_error(self, req, 404, "not_found", message);
        } else if (rc == FK_EUNSUPPORTED) {
            snprintf(message, sizeof message,
                     "service '%.200s' has no ttl check (only ttl checks take reports)", id);
            s_error(self, req, 409, "no_ttl_check", message);
        } else if (rc) {
            const fk__api_err_t *err = fk__api_err(rc);
            s_error(self, req, err->status, err->admin, "cannot store the report");
        } else {
            fk_store_txn_t *txn;
            json_t *service = NULL;
            if (fk_store_read_begin(self->store, &txn) == 0) {
                service = fk_catalog_get_local(self->store, txn, id);
                fk_store_txn_end(&txn);
            }
            fk__api_respond(self, req, 200,
                            service ? service : json_pack("{s:s}", "id", id));
        }
    }
    json_decref(body);
}

/*  POST /v1/codes/{user_code}/approve|deny; arg is "{user_code}/...". */
static void
s_decide(fk_api_t *self, fk_http_req_t *req, const char *arg, bool approve)
{
    char user_code[64];
    size_t len = strcspn(arg, "/");
    if (len >= sizeof user_code) {
        s_error(self, req, 404, "not_found", "no such path");
        return;
    }
    memcpy(user_code, arg, len);
    user_code[len] = '\0';
    json_t *body;
    if (!s_body(self, req, true, &body)) {
        return;
    }
    json_t *answer = NULL;
    fk_grants_why_t why = {{0}};
    json_t *declined = json_object_get(body, "declined");
    int rc = fk_grants_decide(self->grants, user_code, approve, declined, fk__api_actor(req),
                              &answer, &why);
    if (rc != 0) {
        s_grant_error(self, req, rc, &why);
    } else {
        fk__api_audit(
            self, req, approve ? "code.approve" : "code.deny", fk_json_str(answer, "user_code"),
            approve && json_array_size(declined) > 0 ? json_pack("{s:O}", "declined", declined)
                                                     : NULL);
        fk__api_respond(self, req, 200, answer);
    }
    json_decref(body);
}

static void
s_approve(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    s_decide(self, req, arg, true);
}

static void
s_deny(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    s_decide(self, req, arg, false);
}

static void
s_codes(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    fk__api_respond(self, req, 200, fk_grants_pending(self->grants));
}

/*  GET /v1/apps: the approved apps (fk_grants_approved). */
static void
s_apps_list(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    fk__api_respond(self, req, 200, fk_grants_approved(self->grants));
}

/*  POST /v1/apps/{id}/revoke[?version=V]: id is an identifier or a
    client id; arg is "{id}/revoke". */
static void
s_app_revoke(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    char *id = fk_strndup(arg, strcspn(arg, "/"));
    const char *version = fk_http_query(req, "version");
    json_t *answer = NULL;
    fk_grants_why_t why = {{0}};
    int rc = fk_grants_revoke_app(self->grants, id, version, fk__api_actor(req), &answer, &why);
    if (rc != 0) {
        s_grant_error(self, req, rc, &why);
    } else {
        fk__api_audit(self, req, "app.revoke", id,
                      json_pack("{s:s?, s:O, s:O}", "version", version, "revoked",
                                json_object_get(answer, "revoked"), "refresh_tokens",
                                json_object_get(answer, "refresh_tokens")));
        fk__api_respond(self, req, 200, answer);
    }
    free(id);
}

/*  GET /v1/clients: the public clients of the v1 retrieve/. */
static void
s_clients_list(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    fk__api_respond(self, req, 200, fk_grants_apps(self->grants));
}

static void
s_redeem_create(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    json_t *body;
    if (!s_body(self, req, true, &body)) {
        return;
    }
    json_t *answer = NULL;
    fk_grants_why_t why = {{0}};
    int rc = fk_grants_mint_redeem(self->grants, fk_json_int(body, "expires_in_days", 0),
                                   fk_json_int(body, "max_redemptions", 0), &answer, &why);
    if (rc != 0) {
        s_grant_error(self, req, rc, &why);
    } else {
        /*  The token is a credential: the entry says only its limits. */
        fk__api_audit(self, req, "redeem_token.create", "",
                      json_pack("{s:O?, s:O?}", "expires_at", json_object_get(answer, "expires_at"),
                                "max_redemptions", json_object_get(answer, "max_redemptions")));
        fk__api_respond(self, req, 200, answer);
    }
    json_decref(body);
}

/*  POST /v1/clients: a v1 or v2 manifest, YAML or JSON (JSON is YAML). */
static void
s_client_create(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    size_t len = 0;
    const char *text = fk_http_body(req, &len);
    json_t *doc = NULL;
    json_t *manifest = NULL;
    char reason[256];
    char message[300];
    if (fk_yaml_parse(text, len, &doc, reason, sizeof reason) != 0) {
        snprintf(message, sizeof message, "manifest: %s", reason);
        s_error(self, req, 400, "invalid", message);
    } else if (fk_manifest_parse(doc, &manifest, reason, sizeof reason) != 0) {
        snprintf(message, sizeof message, "manifest.%s", reason);
        s_error(self, req, 400, "invalid", message);
    } else {
        json_t *answer = NULL;
        fk_grants_why_t why = {{0}};
        int rc = fk_grants_app_create(self->grants, manifest, &answer, &why);
        if (rc != 0) {
            s_grant_error(self, req, rc, &why);
        } else {
            char *subject = fk_asprintf("%s/%s", fk_json_str(answer, "identifier"),
                                        fk_json_str(answer, "version"));
            fk__api_audit(self, req, "app.create", subject,
                          json_pack("{s:O?}", "client_id", json_object_get(answer, "client_id")));
            free(subject);
            fk__api_respond(self, req, 200, answer);
        }
    }
    json_decref(manifest);
    json_decref(doc);
}

/*  DELETE /v1/clients/{identifier}/{version}: identifiers have no '/',
    so the first slash ends the identifier. */
static void
s_client_delete(fk_api_t *self, fk_http_req_t *req, const char *rest)
{
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest || !slash[1]) {
        s_error(self, req, 404, "not_found",
                "no such path (DELETE /v1/clients/IDENTIFIER/VERSION)");
        return;
    }
    char *identifier = fk_strndup(rest, (size_t)(slash - rest));
    json_t *answer = NULL;
    fk_grants_why_t why = {{0}};
    int rc = fk_grants_app_delete(self->grants, identifier, slash + 1, &answer, &why);
    if (rc != 0) {
        s_grant_error(self, req, rc, &why);
    } else {
        fk__api_audit(self, req, "app.delete", rest, NULL);
        fk__api_respond(self, req, 200, answer);
    }
    free(identifier);
}

static void
s_members(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    json_t *rows = fk__api_members(self);
    if (!rows) {
        s_error(self, req, 500, "internal", "cannot read the store");
        return;
    }
    /*  What every node agrees on about a member: its name, address, state
        and incarnation (gossiped) and its key (from its admission record).
        Who admitted it differs between converged nodes (each keeps its own
        copy of the admission records), so it is left out of the hash. */
    static const char *const agreed[] = {"name", "addr", "status", "incarnation", "key", NULL};
    s_blocking_respond(self, req, rows, FK_STORE_CHANGED_MEMBERS, agreed);
}

/*  POST /v1/agent/join {"addrs":["host:port",...], "token": "fkj1..."}:
    join through each (with the join token, when given); succeeds when at
    least one answered (as serf join does). */
static void
s_join(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    json_t *body;
    if (!s_body(self, req, false, &body)) {
        return;
    }
    json_t *addrs = json_object_get(body, "addrs");
    if (!json_is_array(addrs) || json_array_size(addrs) == 0) {
        s_error(self, req, 400, "invalid", "addrs: must be a non-empty list of HOST:PORT");
        json_decref(body);
        return;
    }
    json_t *token = json_object_get(body, "token");
    if (token && !json_is_string(token) && !json_is_null(token)) {
        s_error(self, req, 400, "invalid", "token: must be a join token string");
        json_decref(body);
        return;
    }
    json_t *joined = json_array();
    json_t *failed = json_object();
    size_t i;
    json_t *addr;
    json_array_foreach(addrs, i, addr)
    {
        const char *a = json_string_value(addr);
        char why[200] = "";
        int rc = a ? fk_cluster_join(self->cluster, a, json_string_value(token), why, sizeof why)
                   : FK_EINVAL_INPUT;
        if (rc == 0) {
            json_array_append(joined, addr);
        } else {
            json_object_set_new(failed, a ? a : "?",
                                json_string(rc == -ETIMEDOUT  ? "no answer within 5 s"
                                            : rc == FK_EDENIED ? why
                                                               : "not a HOST:PORT address"));
        }
    }
    if (json_array_size(joined) == 0) {
        char message[300];
        const char *first_addr = NULL;
        json_t *first_reason = NULL;
        json_object_foreach(failed, first_addr, first_reason)
        {
            break;
        }
        snprintf(message, sizeof message, "could not join %s: %s", first_addr ? first_addr : "?",
                 json_string_value(first_reason));
        s_error(self, req, 502, "unreachable", message);
        json_decref(joined);
        json_decref(failed);
    } else {
        fk__api_audit(self, req, "member.join", fk_store_node(self->store),
                      json_pack("{s:O}", "joined", joined));
        fk__api_respond(self, req, 200,
                        json_pack("{s:o, s:o}", "joined", joined, "failed", failed));
    }
    json_decref(body);
}

static void
s_leave(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    /*  Recorded first, so that its push leaves with the node's last
        messages. */
    fk__api_audit(self, req, "member.leave", fk_store_node(self->store), NULL);
    fk_cluster_leave(self->cluster);
    fk__api_respond(self, req, 200, json_pack("{s:s}", "left", fk_store_node(self->store)));
    /*  A node that left stops, as a Consul or Serf agent does; the main
        thread takes this signal like any other SIGTERM. */
    kill(getpid(), SIGTERM);
}

/*  POST /v1/agent/force-leave/NAME: a failed member is marked left;
    with ?ban its keys are banned on every node, whatever its state. */
static void
s_force_leave(fk_api_t *self, fk_http_req_t *req, const char *name)
{
    char message[300];
    if (fk_http_query(req, "ban")) {
        int rc = self->insecure_gossip ? FK_EINVAL_INPUT : fk_cluster_ban(self->cluster, name);
        if (rc == FK_ENOTFOUND) {
            snprintf(message, sizeof message, "no member named '%.200s'", name);
            s_error(self, req, 404, "not_found", message);
        } else if (rc == FK_EINVAL_INPUT) {
            s_error(self, req, 400, "invalid",
                    self->insecure_gossip ? "bans need the secure gossip (no --insecure-gossip)"
                                          : "a node cannot ban itself");
        } else if (rc) {
            snprintf(message, sizeof message, "cannot store the ban: %s", fk_strerror(rc));
            s_error(self, req, 500, "internal", message);
        } else {
            fk__api_audit(self, req, "member.ban", name, NULL);
            fk__api_respond(self, req, 200, json_pack("{s:s}", "banned", name));
        }
        return;
    }
    int rc = fk_cluster_force_leave(self->cluster, name);
    if (rc) {
        snprintf(message, sizeof message, "no failed member named '%.200s'", name);
        s_error(self, req, 404, "not_found", message);
        return;
    }
    fk__api_audit(self, req, "member.force_leave", name, NULL);
    fk__api_respond(self, req, 200, json_pack("{s:s}", "left", name));
}

static int
s_token_row(void *arg, const fk_token_info_t *token)
{
    json_array_append_new(arg, json_pack("{s:s, s:I, s:I, s:I}", "id", token->id, "created_ms",
                                         (json_int_t)token->created_ms, "expires_ms",
                                         (json_int_t)token->expires_ms, "uses",
                                         (json_int_t)token->uses));
    return 0;
}

/*  /v1/join-tokens: POST {"ttl_s": N, "uses": N} makes one (answered once,
    never stored in clear), GET lists them (never their secrets). */
static void
s_join_tokens(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    if (self->insecure_gossip) {
        s_error(self, req, 400, "invalid",
                "join tokens need the secure gossip (this node runs --insecure-gossip)");
        return;
    }
    fk_store_txn_t *txn;
    if (s_is(req, "GET")) {
        if (fk_store_read_begin(self->store, &txn) != 0) {
            s_error(self, req, 500, "internal", "cannot read the store");
            return;
        }
        json_t *rows = json_array();
        fk_tokens_list(txn, s_token_row, rows);
        fk_store_txn_end(&txn);
        fk__api_respond(self, req, 200, rows);
        return;
    }
    json_t *body;
    if (!s_body(self, req, true, &body)) {
        return;
    }
    json_t *ttl = json_object_get(body, "ttl_s");
    json_t *uses = json_object_get(body, "uses");
    json_int_t ttl_s = ttl ? (json_is_integer(ttl) ? json_integer_value(ttl) : -1) : 86400;
    json_int_t use_count = uses ? (json_is_integer(uses) ? json_integer_value(uses) : -1) : 1;
    json_decref(body);
    if (ttl_s <= 0 || ttl_s > 365ll * 86400 || use_count <= 0 || use_count > 10000) {
        s_error(self, req, 400, "invalid",
                "ttl_s: seconds from 1 to one year; uses: a count from 1 to 10000");
        return;
    }
    char *token = NULL;
    int rc = fk_store_write_begin(self->store, &txn);
    if (rc == 0) {
        rc = fk_tokens_create(txn, fk_identity_curve_public(self->identity), ttl_s * 1000,
                              (unsigned)use_count, &token);
        if (rc == 0) {
            rc = fk_store_commit(&txn);
        }
        fk_store_txn_end(&txn);
    }
    if (rc) {
        free(token);
        s_error(self, req, rc == FK_ETOOBIG ? 409 : 500, rc == FK_ETOOBIG ? "conflict" : "internal",
                rc == FK_ETOOBIG ? "too many live join tokens; revoke some"
                                 : "cannot store the join token");
        return;
    }
    /*  The entry names the token by its id (as join-token list does),
        never by its text, which holds the secret. */
    fk_admit_token_t decoded;
    char id[2 * FK_ADMIT_TOKEN_ID_LEN + 1] = "";
    if (fk_admit_token_decode(token, &decoded) == 0) {
        fk_hex_encode(decoded.id, sizeof decoded.id, id);
    }
    OPENSSL_cleanse(&decoded, sizeof decoded);
    fk__api_audit(self, req, "join_token.create", id,
                  json_pack("{s:I, s:I}", "ttl_s", ttl_s, "uses", use_count));
    fk__api_respond(self, req, 201,
                    json_pack("{s:s, s:I, s:I}", "token", token, "ttl_s", ttl_s, "uses",
                              use_count));
    OPENSSL_cleanse(token, strlen(token));
    free(token);
}

static void
s_join_token_revoke(fk_api_t *self, fk_http_req_t *req, const char *id)
{
    fk_store_txn_t *txn;
    int rc = fk_store_write_begin(self->store, &txn);
    if (rc == 0) {
        rc = fk_tokens_revoke(txn, id);
        if (rc == 0) {
            rc = fk_store_commit(&txn);
        }
        fk_store_txn_end(&txn);
    }
    if (rc == FK_ENOTFOUND) {
        s_error(self, req, 404, "not_found", "no join token with that id on this node");
    } else if (rc) {
        s_error(self, req, 500, "internal", "cannot revoke the join token");
    } else {
        fk__api_audit(self, req, "join_token.revoke", id, NULL);
        fk__api_respond(self, req, 200, json_pack("{s:s}", "revoked", id));
    }
}

/*  GET /v1/audit?since=T&limit=N: the audit log of every node, oldest
    first, at most limit (default 100, up to 10,000) entries: the newest
    ones since T (fk_audit_parse_since; default: all). */
static void
s_audit(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    const char *since_text = fk_http_query(req, "since");
    const char *limit_text = fk_http_query(req, "limit");
    int64_t since = 0;
    if (since_text && fk_audit_parse_since(since_text, fk_clock_wall_ms(), &since) != 0) {
        s_error(self, req, 400, "invalid",
                "since: an RFC 3339 time (2024-05-01T12:00:00Z), Unix milliseconds, or a "
                "duration back from now (90s, 30m, 12h, 7d)");
        return;
    }
    long long limit = 100;
    if (limit_text) {
        char *end = NULL;
        limit = strtoll(limit_text, &end, 10);
        if (!*limit_text || *end || limit < 1 || limit > 10000) {
            s_error(self, req, 400, "invalid", "limit: a count from 1 to 10000");
            return;
        }
    }
    json_t *entries = NULL;
    if (!self->audit || fk_audit_list(self->audit, since, (size_t)limit, &entries) != 0) {
        s_error(self, req, 500, "internal", "cannot read the audit log");
        return;
    }
    fk__api_respond(self, req, 200, json_pack("{s:o}", "entries", entries));
}

static void
s_not_allowed(fk_api_t *self, fk_http_req_t *req)
{
    s_error(self, req, 405, "method_not_allowed", "method not allowed on this path");
}

/*  "?consistent": reconcile with a majority of live members before
    reading (Consul's ?consistent, without a leader). Answers 503 and
    returns false when no majority answered in time. */
static bool
s_consistent(fk_api_t *self, fk_http_req_t *req)
{
    if (!fk_http_query(req, "consistent") || !s_is(req, "GET")) {
        return true;
    }
    if (fk_cluster_sync(self->cluster, 0, 5000) != 0) {
        s_error(self, req, 503, "no_quorum",
                "a consistent read needs a majority of the live members; none answered in 5 s");
        return false;
    }
    /*  A held request runs again after each wake; its headers stay. */
    if (fk_http_held_until(req) == 0) {
        fk_http_add_header(req, "X-Fakts-Consistency", "consistent");
    }
    return true;
}

/*  ---------------------------------------------------------------------
    Operator tokens: /v1/tokens
    --------------------------------------------------------------------- */

/*  A token as the API shows it: never its secret nor its digest. */
static json_t *
s_optoken_json(const fk_optoken_t *token)
{
    json_t *roles = json_array();
    for (unsigned bit = 1; bit <= FK_ROLE_OPERATOR; bit <<= 1) {
        if (token->roles & bit) {
            json_array_append_new(roles, json_string(fk_optokens_role_name(bit)));
        }
    }
    json_t *row = fk_json_must(json_pack(
        "{s:s, s:s, s:o, s:I, s:s, s:s}", "accessor", token->accessor, "name", token->name,
        "roles", roles, "created_ms", (json_int_t)token->created_ms, "created_by",
        token->created_by, "node", token->owner));
    json_object_set_new(row, "expires_ms",
                        token->expires_ms ? json_integer(token->expires_ms) : json_null());
    return row;
}

static int
s_optoken_row(void *arg, const fk_optoken_t *token)
{
    json_array_append_new(arg, s_optoken_json(token));
    return 0;
}

static void
s_optokens_list(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        s_error(self, req, 500, "internal", "cannot read the store");
        return;
    }
    json_t *rows = json_array();
    int rc = fk_optokens_list(txn, fk_clock_wall_ms(), s_optoken_row, rows);
    fk_store_txn_end(&txn);
    if (rc != 0) {
        json_decref(rows);
        s_error(self, req, 500, "internal", "cannot read the store");
        return;
    }
    fk__api_respond(self, req, 200, rows);
}

/*  "roles": an array of role names, or one string "read,approve". */
static unsigned
s_roles_of(const json_t *value)
{
    unsigned roles = 0;
    if (json_is_string(value)) {
        char *list = fk_strdup(json_string_value(value));
        char *save = NULL;
        for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
            unsigned bit = fk_optokens_role(name);
            roles = bit ? roles | bit : ~0u;
        }
        free(list);
    } else if (json_is_array(value)) {
        size_t i;
        const json_t *item;
        json_array_foreach(value, i, item)
        {
            unsigned bit = fk_optokens_role(json_string_value(item));
            roles = bit ? roles | bit : ~0u;
        }
    }
    return roles == ~0u ? 0 : roles;
}

/*  POST /v1/tokens {"name", "roles", "ttl_s"}: the token is in this
    answer and nowhere else. */
static void
s_optokens_create(fk_api_t *self, fk_http_req_t *req, const char *arg)
{
    (void)arg;
    json_t *body;
    if (!s_body(self, req, false, &body)) {
        return;
    }
    const char *name = json_string_value(json_object_get(body, "name"));
    unsigned roles = s_roles_of(json_object_get(body, "roles"));
    json_t *ttl = json_object_get(body, "ttl_s");
    json_int_t ttl_s = -1;
    if (!ttl || json_is_null(ttl)) {
        ttl_s = 0;
    } else if (json_is_integer(ttl)) {
        ttl_s = json_integer_value(ttl);
    }
    if (!fk_optokens_name_ok(name)) {
        s_error(self, req, 400, "invalid", "name: 1 to 64 printable ASCII characters");
    } else if (roles == 0) {
        s_error(self, req, 400, "invalid",
                "roles: one or more of read, register, approve, operator");
    } else if (ttl_s < 0 || ttl_s > 10ll * 365 * 86400) {
        s_error(self, req, 400, "invalid", "ttl_s: seconds from 1 to ten years, or 0 for never");
    } else {
        fk_store_txn_t *txn;
        fk_optoken_t token;
        char *text = NULL;
        int rc = fk_store_write_begin(self->store, &txn);
        if (rc == 0) {
            rc = fk_optokens_create(txn, name, roles, fk__api_actor(req), fk_clock_wall_ms(),
                                    ttl_s * 1000, &token, &text);
            rc = rc ? rc : fk_store_commit(&txn);
            fk_store_txn_end(&txn);
        }
        if (rc != 0) {
            const fk__api_err_t *err = fk__api_err(rc);
            s_error(self, req, err->status, err->admin, "cannot store the token");
        } else {
            json_t *answer = s_optoken_json(&token);
            json_object_set_new(answer, "token", json_string(text));
            fk_info("api: %s created operator token %s (%s) from %s", fk__api_actor(req),
                    token.accessor, token.name, fk_http_peer(req));
            fk__api_audit(self, req, "optoken.create", token.accessor,
                          json_pack("{s:s, s:O}", "name", token.name, "roles",
                                    json_object_get(answer, "roles")));
            fk__api_respond(self, req, 201, answer);
        }
        if (text) {
            OPENSSL_cleanse(text, strlen(text));
        }
        free(text);
    }
    json_decref(body);
}

/*  DELETE /v1/tokens/{accessor}: on any node (fk_optokens_revoke). */
static void
s_optokens_revoke(fk_api_t *self, fk_http_req_t *req, const char *accessor)
{
    fk_store_txn_t *txn;
    int rc = fk_store_write_begin(self->store, &txn);
    if (rc == 0) {
        rc = fk_optokens_revoke(txn, accessor, fk_clock_wall_ms());
        rc = rc ? rc : fk_store_commit(&txn);
        fk_store_txn_end(&txn);
    }
    if (rc == FK_ENOTFOUND) {
        s_error(self, req, 404, "not_found", "no operator token with that accessor");
    } else if (rc) {
        const fk__api_err_t *err = fk__api_err(rc);
        s_error(self, req, err->status, err->admin, "cannot revoke the token");
    } else {
        fk_info("api: %s revoked operator token %s from %s", fk__api_actor(req), accessor,
                fk_http_peer(req));
        fk__api_audit(self, req, "optoken.revoke", accessor, NULL);
        fk__api_respond(self, req, 200, json_pack("{s:s}", "revoked", accessor));
    }
}

/*  ---------------------------------------------------------------------
    The route table
    --------------------------------------------------------------------- */

/*  A route's handler; arg is the path from its first '*' on (NULL for a
    route without one). */
typedef void s_handler_fn(fk_api_t *self, fk_http_req_t *req, const char *arg);

/*  Every route of the agent API and the role it needs: the one place that
    says who may do what (docs/API.md). A pattern is matched against the
    path after "/v1/": '*' takes one non-empty segment (no '/'), a final
    "**" everything left (not empty). GET routes need read, but the
    credential ones (join and operator tokens) need operator. */
static const struct {
    const char *method;  /* exact HTTP method */
    const char *pattern; /* the path after /v1/ */
    unsigned role;       /* fk_role_t the caller needs */
    s_handler_fn *fn;    /* answers it */
} s_routes[] = {
    {"GET", "agent/info", FK_ROLE_READ, s_info},
    {"GET", "agent/members", FK_ROLE_READ, s_members},
    {"POST", "agent/join", FK_ROLE_OPERATOR, s_join},
    {"POST", "agent/leave", FK_ROLE_OPERATOR, s_leave},
    {"POST", "agent/force-leave/*", FK_ROLE_OPERATOR, s_force_leave},
    {"GET", "services", FK_ROLE_READ, s_services_list},
    {"PUT", "services", FK_ROLE_REGISTER, s_services_register},
    {"POST", "services", FK_ROLE_REGISTER, s_services_register},
    {"GET", "services/*", FK_ROLE_READ, s_service_get},
    {"PUT", "services/*/health", FK_ROLE_REGISTER, s_service_health},
    {"DELETE", "services/*", FK_ROLE_REGISTER, s_service_delete},
    {"GET", "codes", FK_ROLE_READ, s_codes},
    {"POST", "codes/*/approve", FK_ROLE_APPROVE, s_approve},
    {"POST", "codes/*/deny", FK_ROLE_APPROVE, s_deny},
    {"GET", "apps", FK_ROLE_READ, s_apps_list},
    {"POST", "apps/*/revoke", FK_ROLE_APPROVE, s_app_revoke},
    {"GET", "clients", FK_ROLE_READ, s_clients_list},
    {"POST", "clients", FK_ROLE_OPERATOR, s_client_create},
    {"DELETE", "clients/*/**", FK_ROLE_OPERATOR, s_client_delete},
    /*  The public clients' routes before they moved to clients/ (kept so
        scripts keep working; docs/API.md marks them deprecated). */
    {"POST", "apps", FK_ROLE_OPERATOR, s_client_create},
    {"DELETE", "apps/*/**", FK_ROLE_OPERATOR, s_client_delete},
    {"GET", "join-tokens", FK_ROLE_OPERATOR, s_join_tokens},
    {"POST", "join-tokens", FK_ROLE_OPERATOR, s_join_tokens},
    {"DELETE", "join-tokens/*", FK_ROLE_OPERATOR, s_join_token_revoke},
    {"POST", "redeem-tokens", FK_ROLE_OPERATOR, s_redeem_create},
    {"GET", "audit", FK_ROLE_READ, s_audit},
    {"GET", "tokens", FK_ROLE_OPERATOR, s_optokens_list},
    {"POST", "tokens", FK_ROLE_OPERATOR, s_optokens_create},
    {"DELETE", "tokens/*", FK_ROLE_OPERATOR, s_optokens_revoke},
};

#define S_NROUTES (sizeof s_routes / sizeof s_routes[0])

/*  Whether path matches pattern; *arg_p is where the first '*' matched
    (NULL when the pattern has none). */
static bool
s_match(const char *pattern, const char *path, const char **arg_p)
{
    *arg_p = NULL;
    while (*pattern) {
        if (strcmp(pattern, "**") == 0) {
            *arg_p = *arg_p ? *arg_p : path;
            return *path != '\0';
        }
        if (*pattern == '*') {
            size_t len = strcspn(path, "/");
            if (len == 0) {
                return false;
            }
            *arg_p = *arg_p ? *arg_p : path;
            path += len;
            pattern++;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return *path == '\0';
}

bool
fk__admin_route(fk_api_t *self, fk_http_req_t *req)
{
    const char *path = fk_http_path(req);
    if (strncmp(path, "/v1/", 4) != 0) {
        return false;
    }
    fk__api_caller_t caller;
    int rc = fk__api_authenticate(self, fk__api_credential(req), &caller);
    if (rc == FK_EDENIED) {
        s_error(self, req, 401, "unauthorized",
                "missing or wrong token (Authorization: Bearer <an operator token, or "
                "<data-dir>/admin-token>)");
        return true;
    }
    if (rc != 0) {
        s_error(self, req, 500, "internal", "cannot read the store");
        return true;
    }
    size_t route = S_NROUTES;
    bool path_known = false;
    const char *arg = NULL;
    for (size_t i = 0; i < S_NROUTES && route == S_NROUTES; i++) {
        if (s_match(s_routes[i].pattern, path + 4, &arg)) {
            path_known = true;
            route = s_is(req, s_routes[i].method) ? i : S_NROUTES;
        }
    }
    if (route == S_NROUTES) {
        if (path_known) {
            s_not_allowed(self, req);
        } else {
            s_error(self, req, 404, "not_found", "no such path");
        }
        return true;
    }
    if (!fk_optokens_allows(caller.roles, s_routes[route].role)) {
        char message[200];
        snprintf(message, sizeof message, "%s /v1/%s needs the %s role", s_routes[route].method,
                 s_routes[route].pattern, fk_optokens_role_name(s_routes[route].role));
        s_error(self, req, 403, "forbidden", message);
        return true;
    }
    fk__api_set_caller(req, &caller);
    if (fk_http_body_too_big(req)) {
        s_error(self, req, 413, "too_large", "request body over the limit");
    } else if (s_consistent(self, req)) {
        s_routes[route].fn(self, req, arg);
    }
    return true;
}
