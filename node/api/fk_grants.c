/*  fk_grants - device codes, approvals, clients and tokens as records. */

#include "fk_grants_priv.h"

#include "fk_catalog.h"
#include "fk_cluster.h"
#include "fk_clock.h"
#include "fk_compose.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_manifest.h"
#include "fk_mem.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*  RFC 8628 §6.1 suggests a reduced alphabet that people cannot misread;
    this is the v2 server's (fakts-protocol.md §7). */
#define S_USER_CODE_ALPHABET "ABCDEFGHJKMNPQRSTWXYZ23456789"
#define S_USER_CODE_LEN 10
#define S_CODE_TTL_DEFAULT 300
#define S_CODE_TTL_MAX 900
/*  Expired codes keep answering expired_token for a while before the
    sweeper deletes them, so a slow poller learns why. */
#define S_EXPIRED_KEEP_MS (10 * 60 * 1000)

int
fk__grants_fail(fk_grant_error_t *err, unsigned status, const char *error, const char *fmt, ...)
{
    err->status = status;
    err->error = error;
    va_list args;
    va_start(args, fmt);
    vsnprintf(err->description, sizeof err->description, fmt, args);
    va_end(args);
    return FK_EINVAL_INPUT;
}

int
fk__grants_store_fail(fk_grant_error_t *err, int rc)
{
    fk__grants_fail(err, 500, "server_error", "storage failure: %s", fk_strerror(rc));
    return rc;
}

char *
fk__grants_hashed_key(const char *kind, const char *secret)
{
    char hex[FK_SHA256_HEX_LEN + 1];
    fk_sha256_hex(secret, strlen(secret), hex);
    return fk_asprintf("%s/%s", kind, hex);
}

/*  Read the JSON payload of the live record under key (any owner). */
json_t *
fk__grants_get(fk_store_txn_t *txn, const char *key)
{
    fk_store_entry_t entry;
    if (fk_store_get(txn, key, NULL, &entry) != 0) {
        return NULL;
    }
    json_t *value = json_loadb(entry.record.payload, entry.record.payload_len, 0, NULL);
    if (!json_is_object(value)) {
        fk_error("grants: unreadable record %s", key);
        json_decref(value);
        return NULL;
    }
    return value;
}

/*  Like fk__grants_get, and tells whether the record is this node's own; when it is
    not and owner_p is not NULL, *owner_p gets the owner's name (fresh). */
json_t *
fk__grants_get_owned(fk_store_txn_t *txn, const char *key, const char *node, bool *local_p,
                     char **owner_p)
{
    fk_store_entry_t entry;
    *local_p = false;
    if (fk_store_get(txn, key, NULL, &entry) != 0) {
        return NULL;
    }
    *local_p = strcmp(entry.owner, node) == 0;
    if (owner_p && !*local_p) {
        *owner_p = fk_strdup(entry.owner);
    }
    json_t *value = json_loadb(entry.record.payload, entry.record.payload_len, 0, NULL);
    if (!json_is_object(value)) {
        json_decref(value);
        return NULL;
    }
    return value;
}

/*  A refresh token revoked on a node that did not issue it: that node
    cannot delete the issuer's record, so it writes this marker, which
    replicates and is checked everywhere. */
static bool
s_refresh_revoked(fk_store_txn_t *txn, const char *refresh_key)
{
    char *marker = fk_asprintf("refresh-revoked/%s", refresh_key + strlen("refresh/"));
    fk_store_entry_t entry;
    bool revoked = fk_store_get(txn, marker, NULL, &entry) == 0;
    free(marker);
    return revoked;
}

int
fk__grants_put(fk_store_txn_t *txn, const char *key, const json_t *value)
{
    char *text = fk_json_dump(value);
    int rc = fk_store_put(txn, key, text, strlen(text));
    free(text);
    return rc;
}

/*  Delete a record whoever wrote it; only the local node's can go, which
    is all a single node has (the cluster plane forwards the rest). */
int
fk__grants_delete(fk_store_txn_t *txn, const char *key)
{
    int rc = fk_store_delete(txn, key);
    return rc == FK_ENOTFOUND ? 0 : rc;
}

fk_store_txn_t *
fk__grants_write(fk_grants_t *self, fk_grant_error_t *err)
{
    fk_store_txn_t *txn = NULL;
    int rc = fk_store_write_begin(self->store, &txn);
    if (rc) {
        fk__grants_store_fail(err, rc);
    }
    return txn;
}

int
fk__grants_commit(fk_store_txn_t **txn_p, fk_grant_error_t *err)
{
    int rc = fk_store_commit(txn_p);
    return rc ? fk__grants_store_fail(err, rc) : 0;
}

static int
s_load_key(void *arg, const fk_store_entry_t *entry)
{
    fk_verifier_t *verifier = arg;
    json_t *jwk = json_loadb(entry->record.payload, entry->record.payload_len, 0, NULL);
    if (!jwk || fk_verifier_add_jwk(verifier, jwk) != 0) {
        fk_warn("grants: ignoring unusable signing key %s from %s", entry->key, entry->owner);
    }
    json_decref(jwk);
    return 0;
}

/*  A verifier holding every key/ record of the store: every node's key
    once replication brought it. */
static int
s_build_verifier(fk_store_t *store, fk_verifier_t **verifier_p)
{
    *verifier_p = fk_verifier_new();
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(store, &txn);
    if (rc == 0) {
        rc = fk_store_scan(txn, "key/", s_load_key, *verifier_p);
        fk_store_txn_end(&txn);
    }
    return rc;
}

/*  Verify a JWT against the known keys. A kid we do not know may belong to
    a node whose key arrived by replication since: rebuild the verifier
    from the store once and try again. */
static int
s_verify(fk_grants_t *self, const char *token, int64_t now_s, json_t **claims_p)
{
    pthread_rwlock_rdlock(&self->keys_lock);
    int rc = fk_jwt_verify(self->verifier, token, strlen(token), now_s, claims_p);
    pthread_rwlock_unlock(&self->keys_lock);
    if (rc != FK_ENOTFOUND) {
        return rc;
    }
    fk_verifier_t *fresh = NULL;
    if (s_build_verifier(self->store, &fresh) != 0) {
        fk_verifier_destroy(&fresh);
        return rc;
    }
    pthread_rwlock_wrlock(&self->keys_lock);
    fk_verifier_t *old = self->verifier;
    self->verifier = fresh;
    rc = fk_jwt_verify(self->verifier, token, strlen(token), now_s, claims_p);
    pthread_rwlock_unlock(&self->keys_lock);
    fk_verifier_destroy(&old);
    return rc;
}

int
fk_grants_new(fk_grants_t **self_p, const fk_grants_opts_t *opts)
{
    fk_grants_t *self = fk_calloc(1, sizeof *self);
    self->store = opts->store;
    self->signer = opts->signer;
    self->deployment_name = fk_strdup(opts->deployment_name ? opts->deployment_name : "fakts-node");
    self->access_ttl_s = opts->access_ttl_s ? opts->access_ttl_s : 3600;
    self->refresh_ttl_s = opts->refresh_ttl_s ? opts->refresh_ttl_s : 30 * 86400;
    self->refresh_chain_s = opts->refresh_chain_s ? opts->refresh_chain_s : 180 * 86400;
    self->interval_s = opts->poll_interval_s ? opts->poll_interval_s : 5;
    self->polls = json_object();
    pthread_mutex_init(&self->lock, NULL);
    pthread_rwlock_init(&self->keys_lock, NULL);
    int rc = s_build_verifier(self->store, &self->verifier);
    if (rc) {
        fk_grants_destroy(&self);
    }
    *self_p = self;
    return rc;
}

void
fk_grants_destroy(fk_grants_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_grants_t *self = *self_p;
    fk_verifier_destroy(&self->verifier);
    pthread_rwlock_destroy(&self->keys_lock);
    json_decref(self->polls);
    pthread_mutex_destroy(&self->lock);
    free(self->deployment_name);
    free(self);
    *self_p = NULL;
}

int
fk_grants_publish_key(fk_grants_t *self)
{
    json_t *jwk = fk_signer_jwk(self->signer);
    char *key = fk_asprintf("key/%s", fk_signer_kid(self->signer));
    fk_store_txn_t *txn;
    int rc = fk_store_write_begin(self->store, &txn);
    if (rc == 0) {
        fk_store_entry_t entry;
        if (fk_store_get(txn, key, fk_store_node(self->store), &entry) == 0) {
            fk_store_txn_end(&txn); /* already published: write nothing */
        } else if ((rc = fk__grants_put(txn, key, jwk)) == 0) {
            rc = fk_store_commit(&txn);
        } else {
            fk_store_txn_end(&txn);
        }
    }
    /*  The verifier is built before threads start; adding our own key here
        is still single-threaded (the agent publishes before serving). */
    if (rc == 0) {
        pthread_rwlock_wrlock(&self->keys_lock);
        fk_verifier_add_jwk(self->verifier, jwk);
        pthread_rwlock_unlock(&self->keys_lock);
    }
    free(key);
    json_decref(jwk);
    return rc;
}

typedef struct {
    json_t *rows;    /* the array filled */
    bool with_owner; /* add each record's owner as "node" */
} s_collect_t;

static int
s_collect(void *arg, const fk_store_entry_t *entry)
{
    s_collect_t *collect = arg;
    json_t *row = json_loadb(entry->record.payload, entry->record.payload_len, 0, NULL);
    if (json_is_object(row)) {
        if (collect->with_owner) {
            json_object_set_new(row, "node", json_string(entry->owner));
        }
        json_array_append(collect->rows, row);
    }
    json_decref(row);
    return 0;
}

json_t *
fk__grants_collect(fk_grants_t *self, const char *prefix, bool with_owner)
{
    s_collect_t collect = {.rows = json_array(), .with_owner = with_owner};
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) == 0) {
        fk_store_scan(txn, prefix, s_collect, &collect);
        fk_store_txn_end(&txn);
    }
    return collect.rows;
}

json_t *
fk_grants_jwks(fk_grants_t *self)
{
    return json_pack("{s:o}", "keys", fk__grants_collect(self, "key/", false));
}

/*  Compose a manifest against the catalog in txn; never fails (preview):
    an approved app whose service vanished sees it "unavailable". */
json_t *
fk__grants_compose(fk_store_txn_t *txn, const json_t *manifest, const json_t *declined)
{
    json_t *candidates = fk_catalog_candidates(txn, manifest);
    json_t *result = NULL;
    char reason[256];
    if (fk_compose(manifest, candidates, declined, FK_COMPOSE_PREVIEW, &result, reason,
                   sizeof reason)
        != 0) {
        /*  Only a stored decline that no longer fits the manifest gets
            here; render without declines rather than fail the app. */
        fk_compose(manifest, candidates, NULL, FK_COMPOSE_PREVIEW, &result, reason, sizeof reason);
    }
    json_decref(candidates);
    return result;
}

json_t *
fk__grants_scopes_string(const json_t *scopes)
{
    size_t i;
    json_t *scope;
    size_t len = 0;
    json_array_foreach(scopes, i, scope)
    {
        len += strlen(json_string_value(scope)) + 1;
    }
    char *text = fk_calloc(1, len + 1);
    json_array_foreach(scopes, i, scope)
    {
        if (i > 0) {
            strcat(text, " ");
        }
        strcat(text, json_string_value(scope));
    }
    json_t *out = json_string(text);
    free(text);
    return out;
}

char *
fk__grants_sign_access(fk_grants_t *self, const json_t *client, const json_t *aud,
                       const char *scope, int64_t ttl_s, const fk_origin_t *origin)
{
    const json_t *manifest = json_object_get(client, "manifest");
    int64_t now_s = fk_clock_wall_ms() / 1000;
    char *issuer = fk_asprintf("%s/lok", origin->base);
    char *jti = fk_random_urlsafe(16);
    json_t *claims = json_pack(
        "{s:s, s:s, s:O, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:[], s:s}", "iss", issuer,
        "sub", fk_json_str(client, "client_id"), "aud", aud, "iat", (json_int_t)now_s, "exp",
        (json_int_t)(now_s + ttl_s), "jti", jti, "scope", scope, "client_id",
        fk_json_str(client, "client_id"), "client_app", fk_json_str(manifest, "identifier"),
        "client_release", fk_json_str(manifest, "version"), "client_device",
        json_object_get(manifest, "node_id"), "client_role",
        fk_json_str(client, "role") ? fk_json_str(client, "role") : "interface", "roles", "node",
        fk_store_node(self->store));
    char *access = fk_jwt_sign(self->signer, claims);
    json_decref(claims);
    free(jti);
    free(issuer);
    return access;
}

/*  The token response for client: tokens plus the envelope (§4). The
    caller has already stored the refresh token. */
static json_t *
s_token_response(fk_grants_t *self, const json_t *client, json_t *composed,
                 const char *refresh_token, const fk_origin_t *origin)
{
    const json_t *manifest = json_object_get(client, "manifest");
    const json_t *scopes = json_object_get(manifest, "scopes");
    json_t *scope = fk__grants_scopes_string(scopes);
    char *access = fk__grants_sign_access(self, client, json_object_get(composed, "aud"),
                                          json_string_value(scope), self->access_ttl_s, origin);
    json_decref(scope);

    json_t *alias = json_pack("{s:s, s:b, s:s, s:o, s:s, s:s, s:b, s:s}", "id", "self", "ssl",
                              strcmp(origin->scheme, "https") == 0, "host", origin->host, "port",
                              origin->port ? json_integer(origin->port) : json_null(), "path",
                              "lok", "challenge", "ht", "public", 0, "kind", "absolute");
    char *jwks_url = fk_asprintf("%s/lok/o/jwks/", origin->base);
    json_t *self_obj = json_pack("{s:s, s:o, s:s}", "deployment_name", self->deployment_name,
                                 "alias", alias, "jwks_url", jwks_url);
    json_t *answer = json_pack(
        "{s:s, s:s, s:s, s:I, s:o, s:s, s:o, s:O, s:O}", "access_token", access ? access : "",
        "refresh_token", refresh_token, "token_type", "Bearer", "expires_in",
        (json_int_t)self->access_ttl_s, "scope", fk__grants_scopes_string(scopes), "client_id",
        fk_json_str(client, "client_id"), "self", self_obj, "instances",
        json_object_get(composed, "instances"), "statuses", json_object_get(composed, "statuses"));
    free(jwks_url);
    free(access);
    return answer;
}

/*  Store a fresh refresh token for client in txn; returns the token (caller
    frees) or NULL with *rc set. chain_start_ms 0 starts a new chain. */
static char *
s_new_refresh(fk_grants_t *self, fk_store_txn_t *txn, const char *client_id, int64_t chain_start_ms,
              int *rc)
{
    int64_t now = fk_clock_wall_ms();
    if (!chain_start_ms) {
        chain_start_ms = now;
    }
    int64_t expires = now + self->refresh_ttl_s * 1000;
    int64_t cap = chain_start_ms + self->refresh_chain_s * 1000;
    char *token = fk_random_urlsafe(48);
    char *key = fk__grants_hashed_key("refresh", token);
    json_t *record = json_pack(
        "{s:s, s:I, s:I, s:I}", "client_id", client_id, "issued_ms", (json_int_t)now, "expires_ms",
        (json_int_t)(expires < cap ? expires : cap), "chain_start_ms", (json_int_t)chain_start_ms);
    *rc = fk__grants_put(txn, key, record);
    json_decref(record);
    free(key);
    if (*rc) {
        free(token);
        return NULL;
    }
    return token;
}

/*  Issue tokens for client inside txn, commit, then sign (signing needs no
    lock, so it happens after the writer lock is released). */
static int
s_issue_and_commit(fk_grants_t *self, fk_store_txn_t **txn_p, const json_t *client,
                   int64_t chain_start_ms, const fk_origin_t *origin, json_t **answer_p,
                   fk_grant_error_t *err)
{
    int rc = 0;
    char *refresh =
        s_new_refresh(self, *txn_p, fk_json_str(client, "client_id"), chain_start_ms, &rc);
    if (!refresh) {
        fk_store_txn_end(txn_p);
        return fk__grants_store_fail(err, rc);
    }
    json_t *composed = fk__grants_compose(*txn_p, json_object_get(client, "manifest"),
                                          json_object_get(client, "declined"));
    if ((rc = fk__grants_commit(txn_p, err)) != 0) {
        json_decref(composed);
        free(refresh);
        return rc;
    }
    json_object_set_new(composed, "aud", fk_compose_aud(composed));
    *answer_p = s_token_response(self, client, composed, refresh, origin);
    json_decref(composed);
    free(refresh);
    return 0;
}

static void
s_normalise_user_code(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (; *in && n + 1 < size; in++) {
        if (*in == '-' || *in == ' ') {
            continue;
        }
        out[n++] = (char)toupper((unsigned char)*in);
    }
    out[n] = '\0';
}

int
fk_grants_authorize(fk_grants_t *self, const json_t *manifest, const json_t *request,
                    json_t **answer_p, fk_grant_error_t *err)
{
    *answer_p = NULL;
    json_t *ttl_value = json_object_get(request, "expiration_time_seconds");
    json_int_t ttl = S_CODE_TTL_DEFAULT;
    if (ttl_value && !json_is_null(ttl_value)) {
        if (!json_is_integer(ttl_value)) {
            return fk__grants_fail(
                err, 400, "invalid_request",
                "Malformed request: expiration_time_seconds: must be an integer");
        }
        ttl = json_integer_value(ttl_value);
    }
    /*  The v2 server clamps the lifetime to [1, 900] seconds. */
    ttl = ttl < 1 ? 1 : ttl > S_CODE_TTL_MAX ? S_CODE_TTL_MAX : ttl;
    const char *kind = fk_json_str(request, "requested_client_kind");
    const char *role = fk_json_str(request, "requested_client_role");
    if (role && strcmp(role, "interface") != 0 && strcmp(role, "agent") != 0) {
        return fk__grants_fail(
            err, 400, "invalid_request",
            "Malformed request: requested_client_role: must be interface or agent");
    }
    char hash[FK_SHA256_HEX_LEN + 1];
    fk_manifest_hash(manifest, hash);
    char *device_code = fk_random_urlsafe(32);
    char *user_code = fk_random_from_alphabet(S_USER_CODE_LEN, S_USER_CODE_ALPHABET);
    char *client_id = fk_random_uuid4();
    int64_t now = fk_clock_wall_ms();
    json_t *record =
        json_pack("{s:s, s:s, s:O, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "user_code", user_code,
                  "client_id", client_id, "manifest", manifest, "manifest_hash", hash, "dialect",
                  "v2", "kind", kind ? kind : "development", "role", role ? role : "interface",
                  "created_ms", (json_int_t)now, "expires_ms", (json_int_t)(now + ttl * 1000),
                  "interval", (json_int_t)self->interval_s);
    char *key = fk__grants_hashed_key("code", device_code);
    int rc = 0;
    fk_store_txn_t *txn = fk__grants_write(self, err);
    if (!txn) {
        rc = FK_ESTORE;
    } else if ((rc = fk__grants_put(txn, key, record)) != 0) {
        fk_store_txn_end(&txn);
        fk__grants_store_fail(err, rc);
    } else {
        rc = fk__grants_commit(&txn, err);
    }
    if (rc == 0) {
        *answer_p = json_pack("{s:s, s:s, s:s, s:I, s:I}", "device_code", device_code, "user_code",
                              user_code, "client_id", client_id, "expires_in", (json_int_t)ttl,
                              "interval", (json_int_t)self->interval_s);
    }
    json_decref(record);
    free(key);
    free(device_code);
    free(user_code);
    free(client_id);
    return rc;
}

typedef struct {
    const char *user_code; /* looking for this user code, or NULL for all */
    int64_t now;           /* wall ms */
    fk_store_txn_t *txn;   /* the transaction being scanned */
    json_t *found;         /* the code record found (with "_key") */
    json_t *list;          /* pending listing being built */
} s_code_scan_t;

static int
s_scan_codes(void *arg, const fk_store_entry_t *entry)
{
    s_code_scan_t *scan = arg;
    json_t *code = json_loadb(entry->record.payload, entry->record.payload_len, 0, NULL);
    if (!json_is_object(code)) {
        json_decref(code);
        return 0;
    }
    if (scan->user_code) {
        const char *uc = fk_json_str(code, "user_code");
        /*  v1 codes are lowercase hex, v2 codes uppercase: people may
            type either in either case. */
        if (uc && strcasecmp(uc, scan->user_code) == 0) {
            json_object_set_new(code, "_key", json_string(entry->key));
            scan->found = code;
            return 1;
        }
        json_decref(code);
        return 0;
    }
    json_array_append_new(scan->list, code);
    json_array_append_new(scan->list, json_string(entry->key));
    return 0;
}

static int
s_by_created(const void *a, const void *b)
{
    long long ta = fk_json_int(*(json_t *const *)a, "created_ms", 0);
    long long tb = fk_json_int(*(json_t *const *)b, "created_ms", 0);
    return (ta > tb) - (ta < tb);
}

/*  The operators' view of one code record (key is its store key): what
    the app asks for and what approving it now would give. Adds "decision"
    ("approved", "denied" or null while pending) and "created_ms". */
static json_t *
s_code_row(fk_store_txn_t *txn, const json_t *code, const char *key, int64_t now)
{
    char *approval_key = fk_asprintf("approval/%s", key + strlen("code/"));
    json_t *approval = fk__grants_get(txn, approval_key);
    free(approval_key);
    const json_t *manifest = json_object_get(code, "manifest");
    json_t *composed = fk__grants_compose(txn, manifest, NULL);
    json_t *instances = json_object();
    const char *req_key;
    json_t *instance;
    json_object_foreach(json_object_get(composed, "instances"), req_key, instance)
    {
        json_object_set(instances, req_key, json_object_get(instance, "identifier"));
    }
    json_t *requirements = json_array();
    size_t j;
    json_t *req;
    json_array_foreach(json_object_get(manifest, "requirements"), j, req)
    {
        json_array_append_new(requirements,
                              json_pack("{s:O, s:O, s:O, s:O}", "key", json_object_get(req, "key"),
                                        "service", json_object_get(req, "service"), "optional",
                                        json_object_get(req, "optional"), "description",
                                        json_object_get(req, "description")));
    }
    const char *dialect = fk_json_str(code, "dialect");
    int64_t expires = fk_json_int(code, "expires_ms", 0);
    json_t *row = json_pack(
        "{s:O, s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:o, s:O, s:o, s:I, s:o, s:I}", "user_code",
        json_object_get(code, "user_code"), "dialect", dialect ? dialect : "v2", "identifier",
        json_object_get(manifest, "identifier"), "version", json_object_get(manifest, "version"),
        "title", json_object_get(manifest, "title"), "description",
        json_object_get(manifest, "description"), "logo", json_object_get(manifest, "logo"),
        "scopes", json_object_get(manifest, "scopes"), "requirements", requirements, "statuses",
        json_object_get(composed, "statuses"), "instances", instances, "expires_in",
        (json_int_t)((expires - now) / 1000), "decision",
        approval ? json_incref(json_object_get(approval, "decision")) : json_null(), "created_ms",
        (json_int_t)fk_json_int(code, "created_ms", 0));
    json_decref(composed);
    json_decref(approval);
    return row;
}

json_t *
fk_grants_pending(fk_grants_t *self)
{
    json_t *out = json_array();
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        return out;
    }
    int64_t now = fk_clock_wall_ms();
    s_code_scan_t scan = {.now = now, .txn = txn, .list = json_array()};
    fk_store_scan(txn, "code/", s_scan_codes, &scan);
    /*  scan.list alternates code record, key. */
    json_t *rows = json_array();
    for (size_t i = 0; i + 1 < json_array_size(scan.list); i += 2) {
        json_t *code = json_array_get(scan.list, i);
        const char *key = json_string_value(json_array_get(scan.list, i + 1));
        if (fk_json_int(code, "expires_ms", 0) <= now) {
            continue;
        }
        json_t *row = s_code_row(txn, code, key, now);
        if (json_is_null(json_object_get(row, "decision"))) {
            json_array_append(rows, row);
        }
        json_decref(row);
    }
    fk_store_txn_end(&txn);
    json_decref(scan.list);
    /*  Oldest first: the store orders codes by hash, not by age. */
    size_t n = json_array_size(rows);
    json_t **sorted = fk_calloc(n, sizeof *sorted);
    for (size_t i = 0; i < n; i++) {
        sorted[i] = json_array_get(rows, i);
    }
    qsort(sorted, n, sizeof *sorted, s_by_created);
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_deep_copy(sorted[i]);
        json_object_del(row, "created_ms");
        json_object_del(row, "decision");
        json_array_append_new(out, row);
    }
    free(sorted);
    json_decref(rows);
    return out;
}

/*  Find a code record by user code inside txn; NULL when absent. The
    record gets "_key" (its store key). */
static json_t *
s_find_user_code(fk_store_txn_t *txn, const char *user_code)
{
    char normal[64];
    s_normalise_user_code(user_code, normal, sizeof normal);
    s_code_scan_t scan = {.user_code = normal, .txn = txn};
    fk_store_scan(txn, "code/", s_scan_codes, &scan);
    return scan.found;
}

json_t *
fk_grants_code(fk_grants_t *self, const char *user_code)
{
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        return NULL;
    }
    int64_t now = fk_clock_wall_ms();
    json_t *row = NULL;
    json_t *code = s_find_user_code(txn, user_code);
    if (code && fk_json_int(code, "expires_ms", 0) > now) {
        row = s_code_row(txn, code, fk_json_str(code, "_key"), now);
        json_object_del(row, "created_ms");
    }
    json_decref(code);
    fk_store_txn_end(&txn);
    return row;
}

int
fk_grants_decide(fk_grants_t *self, const char *user_code, bool approve, const json_t *declined,
                 json_t **answer_p, fk_grant_error_t *err)
{
    *answer_p = NULL;
    if (declined && !json_is_array(declined)) {
        return fk__grants_fail(err, 400, "invalid", "declined: must be a list of requirement keys");
    }
    fk_store_txn_t *txn = fk__grants_write(self, err);
    if (!txn) {
        return FK_ESTORE;
    }
    int rc = 0;
    json_t *composed = NULL;
    json_t *code = s_find_user_code(txn, user_code);
    char *approval_key = NULL;
    if (!code || fk_json_int(code, "expires_ms", 0) <= fk_clock_wall_ms()) {
        rc = fk__grants_fail(err, 404, "not_found", "no pending code %s (unknown or expired)",
                             user_code);
        goto done;
    }
    approval_key = fk_asprintf("approval/%s", fk_json_str(code, "_key") + strlen("code/"));
    json_t *earlier = fk__grants_get(txn, approval_key);
    if (earlier) {
        rc = fk__grants_fail(err, 409, "conflict", "code %s was already %s", user_code,
                             fk_json_str(earlier, "decision"));
        json_decref(earlier);
        goto done;
    }
    const char *decision = approve ? "approved" : "denied";
    bool v1 = fk_json_str(code, "dialect") && strcmp(fk_json_str(code, "dialect"), "v1") == 0;
    if (approve && v1 && strcmp(fk_json_str(code, "kind"), "development") != 0) {
        /*  The v1 server approves development clients only (§5.2). */
        rc = fk__grants_fail(err, 422, "unavailable", "Unknown client kind or no longer supported");
        goto done;
    }
    if (approve) {
        /*  Compose for real (not a preview): approving an app whose
            required service has no instance must fail, naming it. */
        json_t *candidates = fk_catalog_candidates(txn, json_object_get(code, "manifest"));
        char reason[256];
        int crc = fk_compose(json_object_get(code, "manifest"), candidates, declined, 0, &composed,
                             reason, sizeof reason);
        json_decref(candidates);
        if (crc == FK_EUNAVAILABLE) {
            rc = fk__grants_fail(err, 422, "unavailable", "%s", reason);
            goto done;
        }
        if (crc) {
            rc = fk__grants_fail(err, 400, "invalid", "%s", reason);
            goto done;
        }
    }
    json_t *approval =
        json_pack("{s:s, s:o, s:s, s:I, s:I}", "decision", decision, "declined",
                  declined ? json_deep_copy(declined) : json_array(), "node",
                  fk_store_node(self->store), "at_ms", (json_int_t)fk_clock_wall_ms(), "expires_ms",
                  (json_int_t)fk_json_int(code, "expires_ms", 0));
    if (approve && v1
        && (rc = fk__grants_v1_approve(self, txn, code, declined, approval, err)) != 0) {
        json_decref(approval);
        goto done;
    }
    rc = fk__grants_put(txn, approval_key, approval);
    json_decref(approval);
    if (rc) {
        fk__grants_store_fail(err, rc);
        goto done;
    }
    if ((rc = fk__grants_commit(&txn, err)) == 0) {
        *answer_p = json_pack("{s:O, s:s, s:O}", "user_code", json_object_get(code, "user_code"),
                              "status", decision, "statuses",
                              composed ? json_object_get(composed, "statuses") : json_null());
        fk_info("grants: %s %s (%s %s)", decision, fk_json_str(code, "user_code"),
                fk_json_str(json_object_get(code, "manifest"), "identifier"),
                fk_json_str(json_object_get(code, "manifest"), "version"));
    }
done:
    fk_store_txn_end(&txn);
    free(approval_key);
    json_decref(composed);
    json_decref(code);
    return rc;
}

/*  Remember a pending poll and tell whether it came too soon (slow_down).
    Polling state is per node and not worth a disk write per poll. */
static bool
s_poll_too_soon(fk_grants_t *self, const char *code_key, int64_t interval_s)
{
    int64_t now = fk_clock_mono_ms();
    pthread_mutex_lock(&self->lock);
    json_t *last = json_object_get(self->polls, code_key);
    bool too_soon = last && now - json_integer_value(last) < interval_s * 1000;
    /*  RFC 8628 §3.5: the last poll time moves on every pending poll, so
        a client that keeps hammering keeps getting slow_down. */
    json_object_set_new(self->polls, code_key, json_integer(now));
    pthread_mutex_unlock(&self->lock);
    return too_soon;
}

static void
s_poll_forget(fk_grants_t *self, const char *code_key)
{
    pthread_mutex_lock(&self->lock);
    json_object_del(self->polls, code_key);
    pthread_mutex_unlock(&self->lock);
}

static int
s_match_client(void *arg, const fk_store_entry_t *entry)
{
    json_t *code = json_loadb(entry->record.payload, entry->record.payload_len, 0, NULL);
    const char *owner = fk_json_str(code, "client_id");
    int found = owner && strcmp(owner, arg) == 0;
    json_decref(code);
    return found;
}

/*  A client is known once approved (client/<id>) or while one of its
    device codes is pending: the v2 server registers the public client at
    authorization time. */
static bool
s_client_known(fk_store_txn_t *txn, const char *client_id)
{
    char *key = fk_asprintf("client/%s", client_id);
    fk_store_entry_t entry;
    bool known = fk_store_get(txn, key, NULL, &entry) == 0;
    free(key);
    return known || fk_store_scan(txn, "code/", s_match_client, (void *)(uintptr_t)client_id) == 1;
}

static int
s_exchange_device_code(fk_grants_t *self, const char *device_code, const char *client_id,
                       const fk_origin_t *origin, bool may_forward, json_t **answer_p,
                       fk_grant_error_t *err)
{
    char *owner = NULL;
    *answer_p = NULL;
    if (!device_code || !*device_code) {
        return fk__grants_fail(err, 400, "invalid_request", "Missing 'device_code' in payload");
    }
    char *key = fk__grants_hashed_key("code", device_code);
    char *approval_key = fk_asprintf("approval/%s", key + strlen("code/"));
    json_t *code = NULL;
    json_t *approval = NULL;
    json_t *client = NULL;
    int rc = 0;
    fk_store_txn_t *txn = fk__grants_write(self, err);
    if (!txn) {
        rc = FK_ESTORE;
        goto done;
    }
    bool local = false;
    code = fk__grants_get_owned(txn, key, fk_store_node(self->store), &local, &owner);
    if (!code
        || (fk_json_str(code, "dialect") && strcmp(fk_json_str(code, "dialect"), "v2") != 0)) {
        /*  A v1 code is polled at {B}challenge/, never here. */
        rc = fk__grants_fail(err, 400, "invalid_request", "Invalid 'device_code' in payload");
        goto done;
    }
    if (!local) {
        /*  Only the issuing node burns its code: that is what makes the
            code single-use without consensus. Ask it. */
        fk_store_txn_end(&txn);
        json_t *request = json_pack("{s:s, s:s, s:s?}", "op", "device_code", "device_code",
                                    device_code, "client_id", client_id);
        rc = fk__grants_forward(self, owner, request, origin, may_forward, answer_p, err);
        json_decref(request);
        goto done;
    }
    if (client_id && *client_id && strcmp(client_id, fk_json_str(code, "client_id")) != 0) {
        /*  RFC 6749 §5.2: a client we never registered is invalid_client;
            a known client holding someone else's code is unauthorized. */
        if (!s_client_known(txn, client_id)) {
            rc = fk__grants_fail(err, 400, "invalid_client", "Unknown client '%.64s'", client_id);
        } else {
            rc = fk__grants_fail(err, 400, "unauthorized_client",
                                 "The device code belongs to another client");
        }
        goto done;
    }
    if (fk_json_int(code, "expires_ms", 0) <= fk_clock_wall_ms()) {
        rc = fk__grants_fail(err, 400, "expired_token", "The device code has expired");
        goto done;
    }
    approval = fk__grants_get(txn, approval_key);
    if (!approval) {
        fk_store_txn_end(&txn);
        if (s_poll_too_soon(self, key, fk_json_int(code, "interval", self->interval_s))) {
            rc = fk__grants_fail(err, 400, "slow_down", "Polling faster than every %lld seconds",
                                 fk_json_int(code, "interval", self->interval_s));
        } else {
            rc =
                fk__grants_fail(err, 400, "authorization_pending", "The user has not answered yet");
        }
        goto done;
    }
    /*  Decided: the code is burnt either way, in this transaction, so a
        second exchange finds nothing (single use). */
    if ((rc = fk__grants_delete(txn, key)) != 0
        || (rc = fk__grants_delete(txn, approval_key)) != 0) {
        fk__grants_store_fail(err, rc);
        goto done;
    }
    s_poll_forget(self, key);
    if (strcmp(fk_json_str(approval, "decision"), "approved") != 0) {
        if ((rc = fk__grants_commit(&txn, err)) == 0) {
            rc = fk__grants_fail(err, 400, "access_denied", "The user has denied the request");
        }
        goto done;
    }
    client =
        json_pack("{s:O, s:O, s:O, s:s, s:O, s:O, s:O, s:I, s:s}", "client_id",
                  json_object_get(code, "client_id"), "manifest", json_object_get(code, "manifest"),
                  "manifest_hash", json_object_get(code, "manifest_hash"), "dialect", "v2", "kind",
                  json_object_get(code, "kind"), "role", json_object_get(code, "role"), "declined",
                  json_object_get(approval, "declined"), "created_ms",
                  (json_int_t)fk_clock_wall_ms(), "grant", "device_code");
    char *client_key = fk_asprintf("client/%s", fk_json_str(client, "client_id"));
    rc = fk__grants_put(txn, client_key, client);
    free(client_key);
    if (rc) {
        fk__grants_store_fail(err, rc);
        goto done;
    }
    rc = s_issue_and_commit(self, &txn, client, 0, origin, answer_p, err);
done:
    free(owner);
    fk_store_txn_end(&txn);
    json_decref(client);
    json_decref(approval);
    json_decref(code);
    free(approval_key);
    free(key);
    return rc;
}

int
fk__grants_redeem(fk_grants_t *self, const char *redeem_token, const json_t *manifest,
                  const fk_origin_t *origin, bool v1, bool may_forward, json_t **answer_p,
                  fk_grant_error_t *err)
{
    char *owner = NULL;
    *answer_p = NULL;
    char hash[FK_SHA256_HEX_LEN + 1];
    fk_manifest_hash(manifest, hash);
    char *key = fk__grants_hashed_key("redeem", redeem_token);
    json_t *redeem = NULL;
    json_t *client = NULL;
    char *client_key = NULL;
    char *client_token = NULL;
    bool client_changed = false;
    int rc = 0;
    fk_store_txn_t *txn = fk__grants_write(self, err);
    if (!txn) {
        rc = FK_ESTORE;
        goto done;
    }
    bool local = false;
    redeem = fk__grants_get_owned(txn, key, fk_store_node(self->store), &local, &owner);
    if (!redeem) {
        /*  The v1 server's messages have no final period (§5.4). */
        rc = fk__grants_fail(err, 400, "invalid_grant", "%s",
                             v1 ? "Invalid redeem token" : "Invalid redeem token.");
        goto done;
    }
    if (!local) {
        /*  The first redeem records the manifest on the token, which only
            its minting node may write. Ask it. */
        fk_store_txn_end(&txn);
        json_t *request = json_pack("{s:s, s:s, s:O, s:b}", "op", "redeem", "redeem_token",
                                    redeem_token, "manifest", manifest, "v1", v1);
        rc = fk__grants_forward(self, owner, request, origin, may_forward, answer_p, err);
        json_decref(request);
        goto done;
    }
    json_int_t expires = fk_json_int(redeem, "expires_ms", 0);
    if (expires && expires <= fk_clock_wall_ms()) {
        if ((rc = fk__grants_delete(txn, key)) == 0 && (rc = fk__grants_commit(&txn, err)) == 0) {
            rc = fk__grants_fail(err, 400, "invalid_grant", "%s",
                                 v1 ? "Redeem token expired" : "Redeem token expired.");
        }
        goto done;
    }
    json_int_t max = fk_json_int(redeem, "max_redemptions", 0);
    json_int_t used = fk_json_int(redeem, "redemptions", 0);
    if (max && used >= max) {
        rc = fk__grants_fail(err, 400, "invalid_grant",
                             "Redeem token exhausted (%lld redemptions).", (long long)max);
        goto done;
    }
    const char *stored_hash = fk_json_str(redeem, "manifest_hash");
    if (stored_hash && strcmp(stored_hash, hash) != 0) {
        rc = fk__grants_fail(
            err, 400, "invalid_grant", "%s",
            v1 ? "This redeem token was already redeemed with a different manifest. Re-redeeming "
                 "with a changed manifest is not allowed unless allow_reredeem is set."
               : "This redeem token was already redeemed with a different manifest.");
        goto done;
    }
    const char *client_id = fk_json_str(redeem, "client_id");
    client_key = client_id ? fk_asprintf("client/%s", client_id) : NULL;
    client = client_key ? fk__grants_get(txn, client_key) : NULL;
    if (!client) {
        /*  First redeem: the manifest must be satisfiable now, exactly as
            an approval must be. */
        json_t *candidates = fk_catalog_candidates(txn, manifest);
        json_t *composed = NULL;
        char reason[256];
        int crc = fk_compose(manifest, candidates, NULL, 0, &composed, reason, sizeof reason);
        json_decref(candidates);
        json_decref(composed);
        if (crc) {
            rc = fk__grants_fail(err, 400, "invalid_grant", "%s", reason);
            goto done;
        }
        char *fresh_id = fk_random_uuid4();
        client = json_pack("{s:s, s:O, s:s, s:s, s:s, s:s, s:[], s:I, s:s}", "client_id", fresh_id,
                           "manifest", manifest, "manifest_hash", hash, "dialect", v1 ? "v1" : "v2",
                           "kind", "development", "role", "interface", "declined", "created_ms",
                           (json_int_t)fk_clock_wall_ms(), "grant", "redeem");
        free(client_key);
        client_key = fk_asprintf("client/%s", fresh_id);
        json_object_set_new(redeem, "client_id", json_string(fresh_id));
        json_object_set_new(redeem, "manifest_hash", json_string(hash));
        free(fresh_id);
        client_changed = true;
    }
    if (v1) {
        /*  The client token is derived from the redeem token, so every
            redeem of the same manifest answers the same token without
            storing it. A client first redeemed through v2 gets its v1
            credentials now (the redeem token's owner wrote it). */
        client_token =
            fk_grants_v1_redeem_client_token(redeem_token, fk_json_str(client, "client_id"));
        if (!fk_json_str(client, "secret_sha256")) {
            if ((rc = fk__grants_v1_credentials(txn, client, client_token, err)) != 0) {
                goto done;
            }
            client_changed = true;
        }
    }
    json_object_set_new(redeem, "redemptions", json_integer(used + 1));
    if ((client_changed && (rc = fk__grants_put(txn, client_key, client)) != 0)
        || (rc = fk__grants_put(txn, key, redeem)) != 0) {
        fk__grants_store_fail(err, rc);
        goto done;
    }
    if (!v1) {
        rc = s_issue_and_commit(self, &txn, client, 0, origin, answer_p, err);
    } else if ((rc = fk__grants_commit(&txn, err)) == 0) {
        *answer_p = json_pack("{s:s, s:s}", "status", "granted", "token", client_token);
    }
done:
    free(owner);
    fk_store_txn_end(&txn);
    json_decref(client);
    json_decref(redeem);
    free(client_key);
    free(client_token);
    free(key);
    return rc;
}

static int
s_exchange_refresh(fk_grants_t *self, const char *refresh_token, const char *client_id,
                   const fk_origin_t *origin, bool may_forward, json_t **answer_p,
                   fk_grant_error_t *err)
{
    char *owner = NULL;
    *answer_p = NULL;
    if (!refresh_token || !*refresh_token || !client_id || !*client_id) {
        return fk__grants_fail(err, 400, "invalid_request",
                               "refresh_token and client_id are required");
    }
    char *key = fk__grants_hashed_key("refresh", refresh_token);
    json_t *record = NULL;
    json_t *client = NULL;
    int rc = 0;
    fk_store_txn_t *txn = fk__grants_write(self, err);
    if (!txn) {
        rc = FK_ESTORE;
        goto done;
    }
    bool local = false;
    record = fk__grants_get_owned(txn, key, fk_store_node(self->store), &local, &owner);
    if (!record || strcmp(fk_json_str(record, "client_id"), client_id) != 0
        || s_refresh_revoked(txn, key)) {
        rc =
            fk__grants_fail(err, 400, "invalid_grant", "Invalid, expired or revoked refresh token");
        goto done;
    }
    if (!local) {
        /*  Rotation must happen once cluster-wide, and only the issuing
            node's write lock guarantees that. Ask it. */
        fk_store_txn_end(&txn);
        json_t *request = json_pack("{s:s, s:s, s:s}", "op", "refresh", "refresh_token",
                                    refresh_token, "client_id", client_id);
        rc = fk__grants_forward(self, owner, request, origin, may_forward, answer_p, err);
        json_decref(request);
        goto done;
    }
    if (fk_json_int(record, "expires_ms", 0) <= fk_clock_wall_ms()) {
        rc =
            fk__grants_fail(err, 400, "invalid_grant", "Invalid, expired or revoked refresh token");
        goto done;
    }
    char *client_key = fk_asprintf("client/%s", client_id);
    client = fk__grants_get(txn, client_key);
    free(client_key);
    if (!client) {
        rc = fk__grants_fail(err, 400, "invalid_grant", "The client of this refresh token is gone");
        goto done;
    }
    /*  Rotation: the old token dies in the same transaction that creates
        its successor, so exactly one of two racing uses wins. */
    if ((rc = fk__grants_delete(txn, key)) != 0) {
        fk__grants_store_fail(err, rc);
        goto done;
    }
    rc = s_issue_and_commit(self, &txn, client, fk_json_int(record, "chain_start_ms", 0), origin,
                            answer_p, err);
done:
    free(owner);
    fk_store_txn_end(&txn);
    json_decref(client);
    json_decref(record);
    free(key);
    return rc;
}

int
fk_grants_exchange_device_code(fk_grants_t *self, const char *device_code, const char *client_id,
                               const fk_origin_t *origin, json_t **answer_p, fk_grant_error_t *err)
{
    return s_exchange_device_code(self, device_code, client_id, origin, true, answer_p, err);
}

int
fk_grants_exchange_redeem(fk_grants_t *self, const char *redeem_token, const json_t *manifest,
                          const fk_origin_t *origin, json_t **answer_p, fk_grant_error_t *err)
{
    return fk__grants_redeem(self, redeem_token, manifest, origin, false, true, answer_p, err);
}

int
fk_grants_exchange_refresh(fk_grants_t *self, const char *refresh_token, const char *client_id,
                           const fk_origin_t *origin, json_t **answer_p, fk_grant_error_t *err)
{
    return s_exchange_refresh(self, refresh_token, client_id, origin, true, answer_p, err);
}

void
fk_grants_set_cluster(fk_grants_t *self, fk_cluster_t *cluster)
{
    self->cluster = cluster;
}

/*  The OAuth error codes a forwarded reply may carry, as static strings
    (fk_grant_error_t points at static text). */
static const char *
s_static_error(const char *error)
{
    static const char *const known[] = {
        "invalid_request",       "invalid_client", "invalid_grant",          "unauthorized_client",
        "authorization_pending", "slow_down",      "access_denied",          "expired_token",
        "invalid_scope",         "server_error",   "temporarily_unavailable"};
    for (size_t i = 0; error && i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(error, known[i]) == 0) {
            return known[i];
        }
    }
    return "server_error";
}

/*  Forwarded requests wait this long for the owner's answer. */
#define S_FORWARD_TIMEOUT_MS 3000

/*  The owner carries out a forwarded request only before this much of the
    requester's timeout has passed (by the wall clock, which the nodes
    already must agree on to within seconds for token expiry): the rest
    is left for doing it and for the reply to travel. A request that
    arrives later is refused, since its requester has answered "503" and
    a single-use step done now would be lost with its unread reply. */
#define S_FORWARD_EXECUTE_MS 2000

/*  Ask the node that owns a record to perform the operation: only it may
    burn its device code, record a redeem token's first manifest or rotate
    its refresh token, which is what makes those single-use cluster-wide
    without consensus. The answer names this node's URLs (origin), since
    the client talks to us. */
int
fk__grants_forward(fk_grants_t *self, const char *owner, json_t *request, const fk_origin_t *origin,
                   bool may_forward, json_t **answer_p, fk_grant_error_t *err)
{
    if (!may_forward || !self->cluster || !owner) {
        return fk__grants_fail(
            err, 400, "invalid_grant",
            "The token or code belongs to node %.64s, which did not take the request",
            owner ? owner : "?");
    }
    json_object_set_new(request, "origin",
                        json_pack("{s:s, s:s, s:i, s:s}", "scheme", origin->scheme, "host",
                                  origin->host, "port", origin->port, "base", origin->base));
    json_object_set_new(request, "deadline_ms",
                        json_integer(fk_clock_wall_ms() + S_FORWARD_EXECUTE_MS));
    char *body = fk_json_dump(request);
    char *reply = NULL;
    size_t reply_len = 0;
    int rc = fk_cluster_request(self->cluster, owner, body, strlen(body), S_FORWARD_TIMEOUT_MS,
                                &reply, &reply_len);
    free(body);
    if (rc) {
        return fk__grants_fail(err, 503, "temporarily_unavailable",
                               "Node %.64s, which issued this token or code, is %s", owner,
                               rc == -ETIMEDOUT ? "not answering" : "not a live member");
    }
    json_t *doc = json_loadb(reply, reply_len, 0, NULL);
    free(reply);
    if (json_is_true(json_object_get(doc, "ok"))
        && json_is_object(json_object_get(doc, "answer"))) {
        *answer_p = json_incref(json_object_get(doc, "answer"));
        rc = 0;
    } else {
        json_int_t status = fk_json_int(doc, "status", 500);
        rc =
            fk__grants_fail(err, (unsigned)(status >= 400 && status < 600 ? status : 500),
                            s_static_error(fk_json_str(doc, "error")), "%s",
                            fk_json_str(doc, "description") ? fk_json_str(doc, "description") : "");
    }
    json_decref(doc);
    return rc;
}

int
fk_grants_on_forwarded(void *arg, const char *body, size_t len, char **reply_p, size_t *reply_len_p)
{
    fk_grants_t *self = arg;
    json_t *request = json_loadb(body, len, 0, NULL);
    json_t *origin_doc = json_object_get(request, "origin");
    const char *op = fk_json_str(request, "op");
    fk_origin_t origin = {.scheme = fk_json_str(origin_doc, "scheme"),
                          .host = fk_json_str(origin_doc, "host"),
                          .port = (int)fk_json_int(origin_doc, "port", 0),
                          .base = fk_json_str(origin_doc, "base")};
    json_t *answer = NULL;
    fk_grant_error_t err = {.status = 400, .error = "invalid_request"};
    int rc = -1;
    snprintf(err.description, sizeof err.description, "Malformed forwarded request");
    json_int_t deadline_ms = fk_json_int(request, "deadline_ms", 0);
    if (!op || !origin.scheme || !origin.host || !origin.base || deadline_ms <= 0) {
        rc = -1;
    } else if (fk_clock_wall_ms() > deadline_ms) {
        rc =
            fk__grants_fail(&err, 503, "temporarily_unavailable",
                            "The request reached node %.64s after its requester gave up; try again",
                            fk_store_node(self->store));
    } else if (strcmp(op, "device_code") == 0) {
        rc = s_exchange_device_code(self, fk_json_str(request, "device_code"),
                                    fk_json_str(request, "client_id"), &origin, false, &answer,
                                    &err);
    } else if (strcmp(op, "refresh") == 0) {
        rc = s_exchange_refresh(self, fk_json_str(request, "refresh_token"),
                                fk_json_str(request, "client_id"), &origin, false, &answer, &err);
    } else if (strcmp(op, "redeem") == 0 && fk_json_str(request, "redeem_token")
               && json_is_object(json_object_get(request, "manifest"))) {
        rc = fk__grants_redeem(self, fk_json_str(request, "redeem_token"),
                               json_object_get(request, "manifest"), &origin,
                               json_is_true(json_object_get(request, "v1")), false, &answer, &err);
    } else if (strcmp(op, "v1_challenge") == 0 && fk_json_str(request, "code")) {
        rc = fk__grants_v1_challenge(self, fk_json_str(request, "code"), &origin, false, &answer,
                                     &err);
    }
    json_t *reply = rc == 0 ? json_pack("{s:b, s:o}", "ok", 1, "answer", answer)
                            : json_pack("{s:b, s:i, s:s, s:s}", "ok", 0, "status", (int)err.status,
                                        "error", err.error, "description", err.description);
    *reply_p = fk_json_dump(reply);
    *reply_len_p = strlen(*reply_p);
    json_decref(reply);
    json_decref(request);
    return 0;
}

int
fk_grants_revoke(fk_grants_t *self, const char *token, const char *hint, const char *client_id,
                 fk_grant_error_t *err)
{
    if (!token || !*token) {
        return fk__grants_fail(err, 400, "invalid_request", "Missing 'token' in payload");
    }
    bool try_refresh = !hint || strcmp(hint, "access_token") != 0;
    bool try_access = !hint || strcmp(hint, "refresh_token") != 0;
    int rc = 0;
    fk_store_txn_t *txn = fk__grants_write(self, err);
    if (!txn) {
        return FK_ESTORE;
    }
    if (try_refresh) {
        char *key = fk__grants_hashed_key("refresh", token);
        bool local = false;
        json_t *record = fk__grants_get_owned(txn, key, fk_store_node(self->store), &local, NULL);
        if (record && client_id && *client_id
            && strcmp(fk_json_str(record, "client_id"), client_id) != 0) {
            rc = fk__grants_fail(err, 400, "invalid_grant", "The token belongs to another client");
        } else if (record && local && (rc = fk__grants_delete(txn, key)) != 0) {
            fk__grants_store_fail(err, rc);
        } else if (record && !local) {
            char *marker = fk_asprintf("refresh-revoked/%s", key + strlen("refresh/"));
            json_t *mark =
                json_pack("{s:I}", "expires_ms", (json_int_t)fk_json_int(record, "expires_ms", 0));
            if ((rc = fk__grants_put(txn, marker, mark)) != 0) {
                fk__grants_store_fail(err, rc);
            }
            json_decref(mark);
            free(marker);
        }
        json_decref(record);
        free(key);
    }
    if (rc == 0 && try_access) {
        json_t *claims = NULL;
        /*  Revoking a token that already expired is a no-op (RFC 7009 §2.2
            success); verify as of "now" and ignore failures. */
        if (s_verify(self, token, fk_clock_wall_ms() / 1000, &claims) == 0) {
            const char *owner = fk_json_str(claims, "client_id");
            if (client_id && *client_id && owner && strcmp(owner, client_id) != 0) {
                rc = fk__grants_fail(err, 400, "invalid_grant",
                                     "The token belongs to another client");
            } else if (fk_json_str(claims, "jti")) {
                char *key = fk_asprintf("revoked/%s", fk_json_str(claims, "jti"));
                json_t *record = json_pack("{s:I}", "expires_ms",
                                           (json_int_t)fk_json_int(claims, "exp", 0) * 1000);
                if ((rc = fk__grants_put(txn, key, record)) != 0) {
                    fk__grants_store_fail(err, rc);
                }
                json_decref(record);
                free(key);
            }
        }
        json_decref(claims);
    }
    if (rc == 0) {
        rc = fk__grants_commit(&txn, err);
    }
    fk_store_txn_end(&txn);
    return rc;
}

int
fk_grants_check_bearer(fk_grants_t *self, const char *token, json_t **claims_p,
                       fk_grant_error_t *err)
{
    *claims_p = NULL;
    json_t *claims = NULL;
    int rc = s_verify(self, token, fk_clock_wall_ms() / 1000, &claims);
    if (rc) {
        return fk__grants_fail(err, 401, "invalid_grant", "Invalid access token: %s",
                               rc == FK_EEXPIRED ? "expired" : "not a token this cluster signed");
    }
    fk_store_txn_t *txn;
    if ((rc = fk_store_read_begin(self->store, &txn)) != 0) {
        json_decref(claims);
        return fk__grants_store_fail(err, rc);
    }
    char *revoked_key =
        fk_asprintf("revoked/%s", fk_json_str(claims, "jti") ? fk_json_str(claims, "jti") : "");
    char *client_key = fk_asprintf(
        "client/%s", fk_json_str(claims, "client_id") ? fk_json_str(claims, "client_id") : "");
    fk_store_entry_t entry;
    if (fk_store_get(txn, revoked_key, NULL, &entry) == 0) {
        rc = fk__grants_fail(err, 401, "invalid_grant", "Invalid access token: revoked");
    } else if (fk_store_get(txn, client_key, NULL, &entry) != 0) {
        rc = fk__grants_fail(err, 401, "invalid_grant", "Invalid access token: unknown client");
    }
    fk_store_txn_end(&txn);
    free(revoked_key);
    free(client_key);
    if (rc) {
        json_decref(claims);
        return rc;
    }
    *claims_p = claims;
    return 0;
}

int
fk_grants_report(fk_grants_t *self, const json_t *claims, const json_t *body, fk_grant_error_t *err)
{
    json_t *reports = json_object_get(body, "alias_reports");
    json_t *functional = json_object_get(body, "functional");
    if ((reports && !json_is_object(reports)) || (functional && !json_is_boolean(functional))) {
        return fk__grants_fail(
            err, 400, "invalid_request",
            "Malformed request: alias_reports must be an object, functional a boolean");
    }
    const char *report_key;
    json_t *report;
    json_object_foreach(reports, report_key, report)
    {
        /* The servers' model is AliasReport{alias_id: str | None, valid,
           reason: str | None}: fakts-next reports a key none of whose
           aliases passed its challenge with "alias_id": null and a reason,
           and those are the reports an operator most needs. */
        json_t *alias_id = json_object_get(report, "alias_id");
        json_t *reason = json_object_get(report, "reason");
        if (!json_is_object(report)
            || (alias_id && !json_is_string(alias_id) && !json_is_null(alias_id))
            || (reason && !json_is_string(reason) && !json_is_null(reason))) {
            return fk__grants_fail(err, 400, "invalid_request",
                                   "Malformed request: alias_reports.%s: alias_id and reason "
                                   "must be strings or null",
                                   report_key);
        }
    }
    json_t *record = json_pack(
        "{s:O, s:O, s:I}", "alias_reports", reports ? reports : json_object(), "functional",
        functional ? functional : json_true(), "at_ms", (json_int_t)fk_clock_wall_ms());
    char *key = fk_asprintf("report/%s", fk_json_str(claims, "client_id"));
    int rc = 0;
    fk_store_txn_t *txn = fk__grants_write(self, err);
    if (!txn) {
        rc = FK_ESTORE;
    } else if ((rc = fk__grants_put(txn, key, record)) != 0) {
        fk__grants_store_fail(err, rc);
        fk_store_txn_end(&txn);
    } else {
        rc = fk__grants_commit(&txn, err);
    }
    free(key);
    json_decref(record);
    return rc;
}

int
fk_grants_mint_redeem(fk_grants_t *self, int64_t expires_in_days, int64_t max_redemptions,
                      json_t **answer_p, fk_grant_error_t *err)
{
    *answer_p = NULL;
    if (expires_in_days < 0 || expires_in_days > 3650 || max_redemptions < 0) {
        return fk__grants_fail(err, 400, "invalid",
                               "expires_in_days must be 0-3650 and max_redemptions at least 0");
    }
    int64_t days = expires_in_days ? expires_in_days : 7;
    int64_t expires = fk_clock_wall_ms() + days * 86400 * 1000;
    char *token = fk_random_hex(32);
    char *key = fk__grants_hashed_key("redeem", token);
    json_t *record =
        json_pack("{s:I, s:I, s:I, s:I, s:n, s:n}", "created_ms", (json_int_t)fk_clock_wall_ms(),
                  "expires_ms", (json_int_t)expires, "max_redemptions", (json_int_t)max_redemptions,
                  "redemptions", (json_int_t)0, "manifest_hash", "client_id");
    int rc = 0;
    fk_store_txn_t *txn = fk__grants_write(self, err);
    if (!txn) {
        rc = FK_ESTORE;
    } else if ((rc = fk__grants_put(txn, key, record)) != 0) {
        fk__grants_store_fail(err, rc);
        fk_store_txn_end(&txn);
    } else {
        rc = fk__grants_commit(&txn, err);
    }
    if (rc == 0) {
        *answer_p = json_pack("{s:s, s:I, s:o}", "token", token, "expires_at",
                              (json_int_t)(expires / 1000), "max_redemptions",
                              max_redemptions ? json_integer(max_redemptions) : json_null());
    }
    json_decref(record);
    free(key);
    free(token);
    return rc;
}

typedef struct {
    const char *node; /* only this node's records can be deleted here */
    int64_t now;      /* wall ms */
    json_t *expired;  /* keys to delete */
} s_sweep_t;

static int
s_find_expired(void *arg, const fk_store_entry_t *entry)
{
    s_sweep_t *sweep = arg;
    if (strcmp(entry->owner, sweep->node) != 0) {
        return 0;
    }
    json_t *value = json_loadb(entry->record.payload, entry->record.payload_len, 0, NULL);
    int64_t expires = fk_json_int(value, "expires_ms", 0);
    /*  Codes linger past expiry so pollers still hear expired_token. */
    int64_t keep = strncmp(entry->key, "code/", 5) == 0 ? S_EXPIRED_KEEP_MS : 0;
    if (expires && expires + keep <= sweep->now) {
        json_array_append_new(sweep->expired, json_string(entry->key));
    }
    json_decref(value);
    return 0;
}

int
fk_grants_sweep(fk_grants_t *self)
{
    static const char *const kinds[] = {"code/",    "approval/", "refresh/",
                                        "revoked/", "redeem/",   "refresh-revoked/"};
    s_sweep_t sweep = {
        .node = fk_store_node(self->store), .now = fk_clock_wall_ms(), .expired = json_array()};
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(self->store, &txn);
    if (rc) {
        json_decref(sweep.expired);
        return rc;
    }
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        fk_store_scan(txn, kinds[i], s_find_expired, &sweep);
    }
    fk_store_txn_end(&txn);
    int deleted = 0;
    if (json_array_size(sweep.expired) > 0 && (rc = fk_store_write_begin(self->store, &txn)) == 0) {
        size_t i;
        json_t *key;
        json_array_foreach(sweep.expired, i, key)
        {
            if (fk_store_delete(txn, json_string_value(key)) == 0) {
                deleted++;
            }
            s_poll_forget(self, json_string_value(key));
        }
        rc = fk_store_commit(&txn);
    }
    json_decref(sweep.expired);
    return rc ? rc : deleted;
}
