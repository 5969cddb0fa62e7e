/*  fk_grants_keys - the signing keys as the grants plane sees them: this
    node's key published as key/<kid>, the verifier over every node's
    published key, and the JWKS document.

    One signing key per node and the key/<kid> record stay as they were;
    what changes here is cost: a bearer with a kid nobody published used to
    rebuild the verifier (a store scan and an RSA import per key) on every
    request, so a client replaying a forged token could keep a node busy.
    Now an unknown kid rebuilds at most once a second. */

#include "fk_grants_priv.h"

#include "fk_clock.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <stdlib.h>
#include <string.h>

/*  An unknown kid rebuilds the verifier no more often than this: a key
    that arrived by replication is usable within a second, and a flood of
    forged kids costs one scan a second. */
#define S_REBUILD_EVERY_MS 1000

/*  A published key is used only when its kid is its own RFC 7638
    thumbprint and the record's key names that kid: a member cannot
    publish a key under a kid that another node's tokens carry (records
    come only from admitted owners, with their signature: node/trust). */
static bool
s_kid_is_thumbprint(const fk_store_entry_t *entry, const json_t *jwk)
{
    const char *kid = fk_json_str(jwk, "kid");
    char *thumbprint = NULL;
    bool ok = kid && strcmp(entry->key + strlen("key/"), kid) == 0
              && fk_jwk_thumbprint(jwk, &thumbprint) == 0 && strcmp(thumbprint, kid) == 0;
    free(thumbprint);
    return ok;
}

/*  What a rebuild makes: the verifier and the issuers beside it. */
typedef struct {
    fk_verifier_t *verifier;
    json_t *issuers;
} s_keys_t;

/*  The issuers a key/ record lists ("iss": [...]), into the set issuers. */
static void
s_add_issuers(json_t *issuers, const json_t *jwk)
{
    size_t i;
    const json_t *iss;
    json_array_foreach(json_object_get(jwk, "iss"), i, iss)
    {
        if (json_is_string(iss)) {
            json_object_set_new(issuers, json_string_value(iss), json_true());
        }
    }
}

static int
s_load_key(void *arg, const fk_store_entry_t *entry)
{
    s_keys_t *keys = arg;
    json_t *jwk = json_loadb(entry->record.payload, entry->record.payload_len, 0, NULL);
    if (!jwk || !s_kid_is_thumbprint(entry, jwk) || fk_verifier_add_jwk(keys->verifier, jwk) != 0) {
        fk_warn("grants: ignoring unusable signing key %.200s from %.64s", entry->key,
                entry->owner);
    } else {
        s_add_issuers(keys->issuers, jwk);
    }
    json_decref(jwk);
    return 0;
}

/*  A verifier holding every key/ record of the store (every node's key
    once replication brought it), and the issuers those records list. */
static int
s_build(fk_store_t *store, s_keys_t *keys)
{
    keys->verifier = fk_verifier_new();
    keys->issuers = fk_json_must(json_object());
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(store, &txn);
    if (rc == 0) {
        rc = fk_store_scan(txn, "key/", s_load_key, keys);
        fk_store_txn_end(&txn);
    }
    return rc;
}

int
fk_grants_reload_keys(fk_grants_t *self)
{
    return fk__grants_keys_load(self);
}

int
fk__grants_keys_load(fk_grants_t *self)
{
    s_keys_t fresh = {0};
    int rc = s_build(self->store, &fresh);
    if (rc) {
        fk_verifier_destroy(&fresh.verifier);
        json_decref(fresh.issuers);
        return rc;
    }
    pthread_rwlock_wrlock(&self->keys_lock);
    fk_verifier_t *old = self->verifier;
    json_t *old_issuers = self->issuers;
    self->verifier = fresh.verifier;
    self->issuers = fresh.issuers;
    pthread_rwlock_unlock(&self->keys_lock);
    fk_verifier_destroy(&old);
    json_decref(old_issuers);
    return 0;
}

/*  Is "lok" (this plane) among the token's audiences? */
static bool
s_for_us(const json_t *claims)
{
    const json_t *aud = json_object_get(claims, "aud");
    if (json_is_string(aud)) {
        return strcmp(json_string_value(aud), "lok") == 0;
    }
    size_t i;
    const json_t *one;
    json_array_foreach(aud, i, one)
    {
        if (json_is_string(one) && strcmp(json_string_value(one), "lok") == 0) {
            return true;
        }
    }
    return false;
}

static int
s_verify_now(fk_grants_t *self, const char *token, int64_t now_s, json_t **claims_p)
{
    pthread_rwlock_rdlock(&self->keys_lock);
    int rc = fk_jwt_verify(self->verifier, token, strlen(token), now_s, claims_p);
    if (rc == 0) {
        const char *iss = fk_json_str(*claims_p, "iss");
        if (!iss || !json_object_get(self->issuers, iss) || !s_for_us(*claims_p)) {
            json_decref(*claims_p);
            *claims_p = NULL;
            rc = FK_EINVAL_INPUT;
        }
    }
    pthread_rwlock_unlock(&self->keys_lock);
    return rc;
}

int
fk__grants_verify(fk_grants_t *self, const char *token, int64_t now_s, json_t **claims_p)
{
    int rc = s_verify_now(self, token, now_s, claims_p);
    if (rc != FK_ENOTFOUND) {
        return rc;
    }
    /*  A kid we do not know may belong to a node whose key arrived by
        replication since. Unknown kids queue here: the first rebuilds,
        and those behind it try the rebuilt verifier before asking for
        another, which they get only a second after the last. */
    pthread_mutex_lock(&self->rebuild_lock);
    rc = s_verify_now(self, token, now_s, claims_p);
    int64_t now = fk_clock_mono_ms();
    if (rc == FK_ENOTFOUND && now >= self->next_rebuild_ms) {
        self->next_rebuild_ms = now + S_REBUILD_EVERY_MS;
        if (fk__grants_keys_load(self) == 0) {
            rc = s_verify_now(self, token, now_s, claims_p);
        }
    }
    pthread_mutex_unlock(&self->rebuild_lock);
    return rc;
}

int
fk_grants_publish_key(fk_grants_t *self, const char *const *issuers, size_t count)
{
    json_t *jwk = fk_signer_jwk(self->signer);
    json_t *iss = fk_json_must(json_array());
    for (size_t i = 0; i < count; i++) {
        fk_json_append(iss, json_string(issuers[i]));
    }
    json_object_set_new(jwk, "iss", iss);
    char *key = fk_asprintf("key/%s", fk_signer_kid(self->signer));
    fk_store_txn_t *txn;
    int rc = fk_store_write_begin(self->store, &txn);
    if (rc == 0) {
        fk_store_entry_t entry;
        json_t *held = fk_store_get(txn, key, fk_store_node(self->store), &entry) == 0
                           ? json_loadb(entry.record.payload, entry.record.payload_len, 0, NULL)
                           : NULL;
        if (held && json_equal(held, jwk)) {
            fk_store_txn_end(&txn); /* already published as it is: write nothing */
        } else if ((rc = fk__grants_put(txn, key, jwk)) == 0) {
            rc = fk_store_commit(&txn);
        } else {
            fk_store_txn_end(&txn);
        }
        json_decref(held);
    }
    if (rc == 0) {
        pthread_rwlock_wrlock(&self->keys_lock);
        fk_verifier_add_jwk(self->verifier, jwk);
        s_add_issuers(self->issuers, jwk);
        pthread_rwlock_unlock(&self->keys_lock);
    }
    free(key);
    json_decref(jwk);
    return rc;
}

/*  A public RSA JWK as JWKS lists it: the four string members a client
    needs. Anything else a key/ record holds is not served. */
static bool
s_public_jwk(const json_t *jwk)
{
    static const char *const members[] = {"kty", "kid", "n", "e"};
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        if (!fk_json_str(jwk, members[i])) {
            return false;
        }
    }
    return json_object_get(jwk, "d") == NULL; /* never a private key */
}

json_t *
fk_grants_jwks(fk_grants_t *self)
{
    json_t *keys = fk__grants_collect(self, "key/", false, s_public_jwk);
    size_t i;
    json_t *key;
    json_array_foreach(keys, i, key)
    {
        json_object_del(key, "iss"); /* the node's issuers: for verifiers here */
    }
    return json_pack("{s:o}", "keys", keys);
}
