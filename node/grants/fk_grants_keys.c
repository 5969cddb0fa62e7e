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

static int
s_load_key(void *arg, const fk_store_entry_t *entry)
{
    fk_verifier_t *verifier = arg;
    json_t *jwk = json_loadb(entry->record.payload, entry->record.payload_len, 0, NULL);
    if (!jwk || !s_kid_is_thumbprint(entry, jwk) || fk_verifier_add_jwk(verifier, jwk) != 0) {
        fk_warn("grants: ignoring unusable signing key %.200s from %.64s", entry->key,
                entry->owner);
    }
    json_decref(jwk);
    return 0;
}

/*  A verifier holding every key/ record of the store: every node's key
    once replication brought it. */
static int
s_build(fk_store_t *store, fk_verifier_t **verifier_p)
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

int
fk_grants_reload_keys(fk_grants_t *self)
{
    return fk__grants_keys_load(self);
}

int
fk__grants_keys_load(fk_grants_t *self)
{
    fk_verifier_t *fresh = NULL;
    int rc = s_build(self->store, &fresh);
    if (rc) {
        fk_verifier_destroy(&fresh);
        return rc;
    }
    pthread_rwlock_wrlock(&self->keys_lock);
    fk_verifier_t *old = self->verifier;
    self->verifier = fresh;
    pthread_rwlock_unlock(&self->keys_lock);
    fk_verifier_destroy(&old);
    return 0;
}

static int
s_verify_now(fk_grants_t *self, const char *token, int64_t now_s, json_t **claims_p)
{
    pthread_rwlock_rdlock(&self->keys_lock);
    int rc = fk_jwt_verify(self->verifier, token, strlen(token), now_s, claims_p);
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
    if (rc == 0) {
        pthread_rwlock_wrlock(&self->keys_lock);
        fk_verifier_add_jwk(self->verifier, jwk);
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
    return json_pack("{s:o}", "keys", fk__grants_collect(self, "key/", false, s_public_jwk));
}
