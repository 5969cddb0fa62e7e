/*  fk_grants_tokens - issuing and checking tokens: the token response
    (refresh token stored, access token signed, envelope composed), the
    refresh grant with rotation, revocation (RFC 7009), bearer checks and
    the v2 alias report. */

#include "fk_grants_priv.h"

#include "fk_compose.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

char *
fk__grants_sign_access(fk_grants_t *self, const fk__grants_client_t *client, const json_t *aud,
                       const char *scope, int64_t ttl_s, const fk_origin_t *origin)
{
    const json_t *manifest = client->rec.manifest;
    int64_t now_s = fk__grants_now(self) / 1000;
    char *issuer = fk_asprintf("%s/lok", origin->base);
    char *jti = fk_random_urlsafe(16);
    /*  The canonical manifest always has identifier, version (strings)
        and node_id (string or null); aud may be NULL after a failed
        composition, and then names this deployment only. */
    json_t *claims = json_pack(
        "{s:s, s:s, s:o, s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:O, s:s, s:[], s:s}", "iss", issuer,
        "sub", client->client_id, "aud", aud ? json_deep_copy(aud) : json_pack("[s]", "lok"), "iat",
        (json_int_t)now_s, "exp", (json_int_t)(now_s + ttl_s), "jti", jti, "scope", scope,
        "client_id", client->client_id, "client_app", fk_json_str(manifest, "identifier"),
        "client_release", fk_json_str(manifest, "version"), "client_device",
        json_object_get(manifest, "node_id"), "client_role", client->role, "roles", "node",
        fk_store_node(self->store));
    char *access = claims ? fk_jwt_sign(self->signer, claims) : NULL;
    json_decref(claims);
    free(jti);
    free(issuer);
    return access;
}

/*  The token response for client: tokens plus the envelope (§4). The
    caller has already stored the refresh token. */
static json_t *
s_token_response(fk_grants_t *self, const fk__grants_client_t *client, const json_t *composed,
                 const char *refresh_token, const fk_origin_t *origin)
{
    const json_t *scopes = json_object_get(client->rec.manifest, "scopes");
    json_t *scope = fk__grants_scopes_string(scopes);
    char *access = fk__grants_sign_access(self, client, json_object_get(composed, "aud"),
                                          json_string_value(scope), self->access_ttl_s, origin);
    json_t *alias = json_pack("{s:s, s:b, s:s, s:o, s:s, s:s, s:b, s:s}", "id", "self", "ssl",
                              strcmp(origin->scheme, "https") == 0, "host", origin->host, "port",
                              origin->port ? json_integer(origin->port) : json_null(), "path",
                              "lok", "challenge", "ht", "public", 0, "kind", "absolute");
    char *jwks_url = fk_asprintf("%s/lok/o/jwks/", origin->base);
    json_t *self_obj = json_pack("{s:s, s:o, s:s}", "deployment_name", self->deployment_name,
                                 "alias", alias, "jwks_url", jwks_url);
    json_t *instances = json_object_get(composed, "instances");
    json_t *statuses = json_object_get(composed, "statuses");
    json_t *answer = fk_json_must(json_pack(
        "{s:s, s:s, s:s, s:I, s:o, s:s, s:o, s:o, s:o}", "access_token", access ? access : "",
        "refresh_token", refresh_token, "token_type", "Bearer", "expires_in",
        (json_int_t)self->access_ttl_s, "scope", scope, "client_id", client->client_id, "self",
        fk_json_must(self_obj), "instances", instances ? json_incref(instances) : json_object(),
        "statuses", statuses ? json_incref(statuses) : json_object()));
    free(jwks_url);
    free(access);
    return answer;
}

/*  Write the family record of a chain: its live token now new_key
    (expiring at expires_ms), with rotated_key (the token it replaces, or
    NULL for a new chain) added to the superseded ones, keeping the last
    FK__GRANTS_SPENT_KEEP. */
static int
s_put_family(fk_grants_t *self, fk_store_txn_t *txn, const char *family, const char *client_id,
             const char *new_key, int64_t expires_ms, const char *rotated_key)
{
    json_t *spent = fk_json_must(json_array());
    if (rotated_key) {
        fk__grants_family_t held = {0};
        if (fk__grants_family_read(self, txn, family, &held) == 0) {
            size_t count = json_array_size(held.spent);
            size_t skip = count >= FK__GRANTS_SPENT_KEEP ? count - FK__GRANTS_SPENT_KEEP + 1 : 0;
            for (size_t i = skip; i < count; i++) {
                fk_json_append(spent, json_deep_copy(json_array_get(held.spent, i)));
            }
        }
        fk__grants_rec_clear(&held.rec);
        fk_json_append(spent, json_pack("{s:s, s:I}", "key", rotated_key, "ms",
                                        (json_int_t)fk__grants_now(self)));
    }
    char *key = fk_asprintf("refresh-family/%s", family);
    json_t *record = json_pack("{s:s, s:s, s:o, s:I}", "client_id", client_id, "live", new_key,
                               "spent", spent, "expires_ms", (json_int_t)expires_ms);
    int rc = fk__grants_put(txn, key, record);
    json_decref(record);
    free(key);
    return rc;
}

/*  Store a fresh refresh token for client in txn, as the successor of
    rotated (key rotated_key) or, with rotated NULL, as the first of a new
    chain; returns the token "<family>.<secret>" (caller frees) or NULL
    with *rc set. */
static char *
s_new_refresh(fk_grants_t *self, fk_store_txn_t *txn, const char *client_id,
              const fk__grants_refresh_t *rotated, const char *rotated_key, int *rc)
{
    int64_t now = fk__grants_now(self);
    int64_t chain_start_ms = rotated && rotated->chain_start_ms ? rotated->chain_start_ms : now;
    int64_t expires = now + self->refresh_ttl_s * 1000;
    int64_t cap = chain_start_ms + self->refresh_chain_s * 1000;
    expires = expires < cap ? expires : cap;
    /*  A chain from before families gets one at its next rotation. */
    char *family =
        rotated && rotated->family ? fk_strdup(rotated->family) : fk_random_urlsafe(16);
    char *secret = fk_random_urlsafe(48);
    char *token = fk_asprintf("%s.%s", family, secret);
    char *key = fk__grants_hashed_key("refresh", token);
    json_t *record = json_pack("{s:s, s:I, s:I, s:I, s:s}", "client_id", client_id, "issued_ms",
                               (json_int_t)now, "expires_ms", (json_int_t)expires,
                               "chain_start_ms", (json_int_t)chain_start_ms, "family", family);
    *rc = fk__grants_put(txn, key, record);
    if (*rc == 0) {
        *rc = s_put_family(self, txn, family, client_id, key, expires,
                           rotated && rotated->family ? rotated_key : NULL);
    }
    json_decref(record);
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    free(family);
    free(key);
    if (*rc) {
        OPENSSL_cleanse(token, strlen(token));
        free(token);
        return NULL;
    }
    return token;
}

int
fk__grants_issue(fk_grants_t *self, fk_store_txn_t **txn_p, const fk__grants_client_t *client,
                 const fk__grants_refresh_t *rotated, const char *rotated_key,
                 const fk_origin_t *origin, json_t **answer_p, fk_grants_why_t *why)
{
    int rc = 0;
    char *refresh = s_new_refresh(self, *txn_p, client->client_id, rotated, rotated_key, &rc);
    if (refresh && (rc = fk__grants_seen_touch(self, *txn_p, client->client_id)) != 0) {
        OPENSSL_cleanse(refresh, strlen(refresh));
        free(refresh);
        refresh = NULL;
    }
    if (!refresh) {
        fk_store_txn_end(txn_p);
        return fk__grants_store_fail(why, rc);
    }
    json_t *composed = fk__grants_compose(*txn_p, client->rec.manifest, client->declined);
    /*  Commit, then sign: signing needs no lock, so it happens after the
        writer lock is released. */
    if ((rc = fk__grants_commit(txn_p, why)) != 0) {
        json_decref(composed);
        free(refresh);
        return rc;
    }
    if (composed) {
        json_object_set_new(composed, "aud", fk_compose_aud(composed));
    }
    *answer_p = s_token_response(self, client, composed, refresh, origin);
    json_decref(composed);
    free(refresh);
    return 0;
}

/*  A refresh token revoked on a node that did not issue it: that node
    cannot delete the issuer's record, so it writes this marker, which
    replicates and is checked everywhere. */
static bool
s_refresh_revoked(fk_store_txn_t *txn, const char *refresh_key)
{
    char *marker = fk_asprintf("refresh-revoked/%s", refresh_key + strlen("refresh/"));
    bool revoked = fk__grants_exists(txn, marker);
    free(marker);
    return revoked;
}

int
fk__grants_kill_refresh(fk_store_txn_t *txn, const char *key, const fk__grants_refresh_t *record)
{
    if (record->rec.local) {
        return fk__grants_delete(txn, key);
    }
    char *marker = fk_asprintf("refresh-revoked/%s", key + strlen("refresh/"));
    json_t *mark = json_pack("{s:I}", "expires_ms", (json_int_t)record->expires_ms);
    int rc = fk__grants_put(txn, marker, mark);
    json_decref(mark);
    free(marker);
    return rc;
}

/*  Revoke the chain of family in txn: its live token dies (deleted when
    this node issued it, else marked revoked, as a revocation does), and
    the family record with it when it is ours. */
static int
s_revoke_family(fk_grants_t *self, fk_store_txn_t *txn, const fk__grants_family_t *family,
                const char *family_id)
{
    fk__grants_refresh_t live = {0};
    int rc = 0;
    if (fk__grants_refresh_read(self, txn, family->live, &live) == 0) {
        rc = fk__grants_kill_refresh(txn, family->live, &live);
    }
    fk__grants_rec_clear(&live.rec);
    if (rc == 0 && family->rec.local) {
        char *key = fk_asprintf("refresh-family/%s", family_id);
        rc = fk__grants_delete(txn, key);
        free(key);
    }
    return rc;
}

/*  A refresh token with no live record: was it superseded by a rotation
    of its family (key is its refresh/<hash>)? Used again more than the
    grace after that, the token was copied: whoever holds the chain now
    may be the thief, so the whole family is revoked (RFC 9700 §4.14.2);
    inside the grace, processes sharing one cache may just have raced,
    and the token is only refused. Returns 0 (nothing revoked, or the
    family revoked in txn: the caller commits, then records *detail_p,
    the family and how long after its rotation the token came back) or
    a store error. */
static int
s_reused(fk_grants_t *self, fk_store_txn_t *txn, const char *refresh_token, const char *key,
         const char *client_id, bool *revoked_p, json_t **detail_p)
{
    *revoked_p = false;
    *detail_p = NULL;
    const char *dot = strchr(refresh_token, '.');
    if (!dot || dot == refresh_token || (size_t)(dot - refresh_token) > 64) {
        return 0; /* a token from before families, or not ours */
    }
    char *family_id = fk_strndup(refresh_token, (size_t)(dot - refresh_token));
    fk__grants_family_t family = {0};
    int rc = 0;
    int64_t superseded_ms = -1;
    if (fk__grants_family_read(self, txn, family_id, &family) == 0
        && strcmp(family.client_id, client_id) == 0) {
        size_t i;
        const json_t *spent;
        json_array_foreach(family.spent, i, spent)
        {
            if (strcmp(fk_json_str(spent, "key"), key) == 0) {
                superseded_ms = fk_json_int(spent, "ms", 0);
            }
        }
    }
    int64_t since = fk__grants_now(self) - superseded_ms;
    if (superseded_ms >= 0 && since > self->refresh_grace_ms) {
        rc = s_revoke_family(self, txn, &family, family_id);
        *revoked_p = rc == 0;
        *detail_p = rc == 0 ? json_pack("{s:s, s:I}", "family", family_id, "seconds_since_rotation",
                                        (json_int_t)(since / 1000))
                            : NULL;
        fk_warn("grants: a refresh token of client %.64s was used again %lld s after it was "
                "rotated away; its whole chain is revoked (RFC 9700 4.14.2): the app must be "
                "approved again",
                client_id, (long long)(since / 1000));
    }
    fk__grants_rec_clear(&family.rec);
    free(family_id);
    return rc;
}

/*  Record a chain revoked for reuse in the audit log, for the operator:
    after the revocation committed, in a transaction of its own, so that a
    log that cannot be written (a full store) never keeps a stolen chain
    alive. The actor is whoever presented the token: nobody knows who
    that is but its address. detail is stolen. */
static void
s_audit_reuse(fk_grants_t *self, const char *client_id, const char *peer, json_t *detail)
{
    if (!self->audit) {
        json_decref(detail);
        return;
    }
    int rc = fk_audit_append(self->audit, "token-holder", peer, "refresh.reuse", client_id, detail);
    if (rc) {
        fk_error("grants: cannot record the revoked chain of client %.64s in the audit log: %s",
                 client_id, fk_strerror(rc));
    }
}

int
fk__grants_refresh(fk_grants_t *self, const char *refresh_token, const char *client_id,
                   const fk_origin_t *origin, bool may_forward, json_t **answer_p,
                   fk_grants_why_t *why)
{
    *answer_p = NULL;
    if (!refresh_token || !*refresh_token || !client_id || !*client_id) {
        return fk__grants_fail(why, FK_EINVAL_INPUT, "refresh_token and client_id are required");
    }
    char *key = fk__grants_hashed_key("refresh", refresh_token);
    fk__grants_refresh_t record = {0};
    fk__grants_client_t client = {0};
    fk_store_txn_t *txn = NULL;
    int rc = fk__grants_write(self, &txn, why);
    if (rc) {
        goto done;
    }
    rc = fk__grants_refresh_read(self, txn, key, &record);
    if (rc == FK_ESTORE) {
        fk__grants_store_fail(why, rc);
        goto done;
    }
    bool revoked = false;
    json_t *detail = NULL;
    if (rc == FK_ENOTFOUND
        && s_reused(self, txn, refresh_token, key, client_id, &revoked, &detail) == 0 && revoked) {
        rc = fk__grants_commit(&txn, why);
        if (rc == 0) {
            s_audit_reuse(self, client_id, origin->peer, detail);
        } else {
            json_decref(detail);
        }
        rc = rc ? rc : fk__grants_fail(why, FK_EGRANT, "Invalid, expired or revoked refresh token");
        goto done;
    }
    if (rc || strcmp(record.client_id, client_id) != 0 || s_refresh_revoked(txn, key)) {
        rc = fk__grants_fail(why, FK_EGRANT, "Invalid, expired or revoked refresh token");
        goto done;
    }
    if (!record.rec.local) {
        /*  Rotation must happen once cluster-wide, and only the issuing
            node's write lock guarantees that. Ask it. */
        fk_store_txn_end(&txn);
        json_t *request = json_pack("{s:s, s:s, s:s}", "op", "refresh", "refresh_token",
                                    refresh_token, "client_id", client_id);
        rc =
            fk__grants_forward(self, record.rec.owner, request, origin, may_forward, answer_p, why);
        json_decref(request);
        goto done;
    }
    if (record.expires_ms <= fk__grants_now(self)) {
        rc = fk__grants_fail(why, FK_EGRANT, "Invalid, expired or revoked refresh token");
        goto done;
    }
    rc = fk__grants_client_read(self, txn, client_id, &client);
    if (rc) {
        rc = rc == FK_ESTORE
                 ? fk__grants_store_fail(why, rc)
                 : fk__grants_fail(why, FK_EGRANT, "The client of this refresh token is gone");
        goto done;
    }
    /*  Rotation: the old token dies in the same transaction that creates
        its successor, so exactly one of two racing uses wins. */
    if ((rc = fk__grants_delete(txn, key)) != 0) {
        fk__grants_store_fail(why, rc);
        goto done;
    }
    rc = fk__grants_issue(self, &txn, &client, &record, key, origin, answer_p, why);
done:
    fk_store_txn_end(&txn);
    fk__grants_rec_clear(&client.rec);
    fk__grants_rec_clear(&record.rec);
    free(key);
    return rc;
}

int
fk_grants_exchange_refresh(fk_grants_t *self, const char *refresh_token, const char *client_id,
                           const fk_origin_t *origin, json_t **answer_p, fk_grants_why_t *why)
{
    return fk__grants_refresh(self, refresh_token, client_id, origin, true, answer_p, why);
}

/*  Revoke the refresh token of key in txn: delete it when this node
    issued it, else mark it revoked for everyone. */
static int
s_revoke_refresh(fk_grants_t *self, fk_store_txn_t *txn, const char *key, const char *client_id,
                 fk_grants_why_t *why)
{
    fk__grants_refresh_t record = {0};
    int rc = fk__grants_refresh_read(self, txn, key, &record);
    if (rc == FK_ENOTFOUND) {
        return 0; /* unknown tokens succeed (RFC 7009 §2.2) */
    }
    if (rc) {
        return fk__grants_store_fail(why, rc);
    }
    if (client_id && *client_id && strcmp(record.client_id, client_id) != 0) {
        rc = fk__grants_fail(why, FK_EGRANT, "The token belongs to another client");
    } else if ((rc = fk__grants_kill_refresh(txn, key, &record)) != 0) {
        fk__grants_store_fail(why, rc);
    }
    fk__grants_rec_clear(&record.rec);
    return rc;
}

/*  Revoke an access token in txn: revoked/<jti> until it expires. */
static int
s_revoke_access(fk_grants_t *self, fk_store_txn_t *txn, const char *token, const char *client_id,
                fk_grants_why_t *why)
{
    json_t *claims = NULL;
    int rc = 0;
    /*  Revoking a token that already expired is a no-op (RFC 7009 §2.2
        success); verify as of "now" and ignore failures. */
    if (fk__grants_verify(self, token, fk__grants_now(self) / 1000, &claims) != 0) {
        return 0;
    }
    const char *owner = fk_json_str(claims, "client_id");
    const char *jti = fk_json_str(claims, "jti");
    if (client_id && *client_id && owner && strcmp(owner, client_id) != 0) {
        rc = fk__grants_fail(why, FK_EGRANT, "The token belongs to another client");
    } else if (jti && *jti) {
        char *key = fk_asprintf("revoked/%s", jti);
        json_t *record =
            json_pack("{s:I}", "expires_ms", (json_int_t)fk_json_int(claims, "exp", 0) * 1000);
        if ((rc = fk__grants_put(txn, key, record)) != 0) {
            fk__grants_store_fail(why, rc);
        }
        json_decref(record);
        free(key);
    }
    json_decref(claims);
    return rc;
}

int
fk_grants_revoke(fk_grants_t *self, const char *token, const char *hint, const char *client_id,
                 fk_grants_why_t *why)
{
    if (!token || !*token) {
        return fk__grants_fail(why, FK_EINVAL_INPUT, "Missing 'token' in payload");
    }
    bool try_refresh = !hint || strcmp(hint, "access_token") != 0;
    bool try_access = !hint || strcmp(hint, "refresh_token") != 0;
    fk_store_txn_t *txn;
    int rc = fk__grants_write(self, &txn, why);
    if (rc) {
        return rc;
    }
    if (try_refresh) {
        char *key = fk__grants_hashed_key("refresh", token);
        rc = s_revoke_refresh(self, txn, key, client_id, why);
        free(key);
    }
    if (rc == 0 && try_access) {
        rc = s_revoke_access(self, txn, token, client_id, why);
    }
    if (rc == 0) {
        rc = fk__grants_commit(&txn, why);
    }
    fk_store_txn_end(&txn);
    return rc;
}

int
fk_grants_check_bearer(fk_grants_t *self, const char *token, json_t **claims_p,
                       fk_grants_why_t *why)
{
    *claims_p = NULL;
    json_t *claims = NULL;
    int rc = fk__grants_verify(self, token, fk__grants_now(self) / 1000, &claims);
    if (rc) {
        return fk__grants_fail(why, FK_ETOKEN, "Invalid access token: %s",
                               rc == FK_EEXPIRED ? "expired" : "not a token this cluster signed");
    }
    const char *jti = fk_json_str(claims, "jti");
    const char *client_id = fk_json_str(claims, "client_id");
    if (!jti || !client_id) {
        json_decref(claims);
        return fk__grants_fail(why, FK_ETOKEN, "Invalid access token: no jti or client_id");
    }
    fk_store_txn_t *txn;
    if ((rc = fk_store_read_begin(self->store, &txn)) != 0) {
        json_decref(claims);
        return fk__grants_store_fail(why, rc);
    }
    char *revoked_key = fk_asprintf("revoked/%s", jti);
    char *client_key = fk_asprintf("client/%s", client_id);
    if (fk__grants_exists(txn, revoked_key)) {
        rc = fk__grants_fail(why, FK_ETOKEN, "Invalid access token: revoked");
    } else if (!fk__grants_exists(txn, client_key)) {
        rc = fk__grants_fail(why, FK_ETOKEN, "Invalid access token: unknown client");
    } else if (fk__grants_client_revoked(txn, client_id)) {
        rc = fk__grants_fail(why, FK_ETOKEN, "Invalid access token: the app was revoked");
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

/*  Name, in every entry of reports (a copy being stored) that says
    valid: false, the service and the instance ("<id>@<node>") the app's
    requirement key is bound to now, so the operator sees which instance
    the app could not reach without composing anything at read time. The
    composition is the one the app's configuration came from, unless the
    catalog changed since. */
static void
s_name_instances(fk_grants_t *self, const char *client_id, json_t *reports)
{
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        return;
    }
    fk__grants_client_t client = {0};
    json_t *composed = NULL;
    if (fk__grants_client_read(self, txn, client_id, &client) == 0) {
        composed = fk__grants_compose(txn, client.rec.manifest, client.declined);
    }
    fk_store_txn_end(&txn);
    const char *key;
    json_t *report;
    json_object_foreach(reports, key, report)
    {
        json_t *instance = json_object_get(json_object_get(composed, "instances"), key);
        const char *service = fk_json_str(instance, "service");
        const char *identifier = fk_json_str(instance, "identifier");
        if (json_is_false(json_object_get(report, "valid")) && service && identifier) {
            json_object_set_new(report, "service", json_string(service));
            json_object_set_new(report, "instance", json_string(identifier));
        }
    }
    json_decref(composed);
    fk__grants_rec_clear(&client.rec);
}

int
fk_grants_report(fk_grants_t *self, const json_t *claims, const json_t *body, fk_grants_why_t *why)
{
    json_t *reports = json_object_get(body, "alias_reports");
    json_t *functional = json_object_get(body, "functional");
    const char *client_id = fk_json_str(claims, "client_id");
    if ((reports && !json_is_object(reports)) || (functional && !json_is_boolean(functional))) {
        return fk__grants_fail(
            why, FK_EINVAL_INPUT,
            "Malformed request: alias_reports must be an object, functional a boolean");
    }
    if (!client_id) {
        return fk__grants_fail(why, FK_ETOKEN, "Invalid access token: no client_id");
    }
    const char *report_key;
    json_t *report;
    json_t *stored = json_object();
    json_object_foreach(reports, report_key, report)
    {
        /* The servers' model is AliasReport{alias_id: str | None, valid,
           reason: str | None}: fakts-next reports a key none of whose
           aliases passed its challenge with "alias_id": null and a reason,
           and those are the reports an operator most needs. */
        json_t *alias_id = json_object_get(report, "alias_id");
        json_t *reason = json_object_get(report, "reason");
        json_t *valid = json_object_get(report, "valid");
        if (!json_is_object(report)
            || (alias_id && !json_is_string(alias_id) && !json_is_null(alias_id))
            || (reason && !json_is_string(reason) && !json_is_null(reason))
            || (valid && !json_is_boolean(valid) && !json_is_null(valid))) {
            json_decref(stored);
            return fk__grants_fail(why, FK_EINVAL_INPUT,
                                   "Malformed request: alias_reports.%.100s: alias_id and reason "
                                   "must be strings or null, valid a boolean",
                                   report_key);
        }
        /*  Only the fields of the model are kept: the record replicates,
            and the node names service and instance itself. */
        fk_json_set(stored, report_key,
                    json_pack("{s:O?, s:O?, s:O?}", "alias_id", alias_id, "valid", valid, "reason",
                              reason));
    }
    s_name_instances(self, client_id, stored);
    json_t *record = json_pack("{s:o, s:b, s:I}", "alias_reports", stored, "functional",
                               functional ? json_is_true(functional) : 1, "at_ms",
                               (json_int_t)fk__grants_now(self));
    char *key = fk_asprintf("report/%s", client_id);
    int rc = fk__grants_put_one(self, key, record, why);
    free(key);
    json_decref(record);
    return rc;
}
