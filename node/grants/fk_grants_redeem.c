/*  fk_grants_redeem - redeem tokens: minting them for operators, and the
    redeem grant of both dialects (v2: urn:fakts:grant-type:redeem at the
    token endpoint; v1: {B}redeem/), which both call down into here.

    The first redeem records the manifest on the token and creates the
    client; later ones must present the same manifest. Only the node that
    minted the token writes it, so other nodes forward the request there. */

#include "fk_grants_priv.h"

#include "fk_catalog.h"
#include "fk_compose.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_manifest.h"
#include "fk_mem.h"

#include <stdlib.h>
#include <string.h>

int
fk_grants_mint_redeem(fk_grants_t *self, int64_t expires_in_days, int64_t max_redemptions,
                      json_t **answer_p, fk_grants_why_t *why)
{
    *answer_p = NULL;
    if (expires_in_days < 0 || expires_in_days > 3650 || max_redemptions < 0) {
        return fk__grants_fail(why, FK_EINVAL_INPUT,
                               "expires_in_days must be 0-3650 and max_redemptions at least 0");
    }
    int64_t days = expires_in_days ? expires_in_days : 7;
    int64_t now = fk__grants_now(self);
    int64_t expires = now + days * 86400 * 1000;
    char *token = fk_random_hex(32);
    char *key = fk__grants_hashed_key("redeem", token);
    json_t *record =
        json_pack("{s:I, s:I, s:I, s:I, s:n, s:n}", "created_ms", (json_int_t)now, "expires_ms",
                  (json_int_t)expires, "max_redemptions", (json_int_t)max_redemptions,
                  "redemptions", (json_int_t)0, "manifest_hash", "client_id");
    int rc = fk__grants_put_one(self, key, record, why);
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

/*  The token's state allows one more redeem of the manifest hashed hash
    (else why says which rule it breaks, in the dialect's words). */
static int
s_redeemable(fk_grants_t *self, const fk__grants_redeem_t *redeem, const char *hash, bool v1,
             fk_grants_why_t *why)
{
    if (redeem->max_redemptions && redeem->redemptions >= redeem->max_redemptions) {
        return fk__grants_fail(why, FK_EGRANT, "Redeem token exhausted (%lld redemptions).",
                               (long long)redeem->max_redemptions);
    }
    if (redeem->manifest_hash && strcmp(redeem->manifest_hash, hash) != 0) {
        return fk__grants_fail(
            why, FK_EGRANT, "%s",
            v1 ? "This redeem token was already redeemed with a different manifest. Re-redeeming "
                 "with a changed manifest is not allowed unless allow_reredeem is set."
               : "This redeem token was already redeemed with a different manifest.");
    }
    (void)self;
    return 0;
}

int
fk__grants_redeem(fk_grants_t *self, const char *redeem_token, const json_t *manifest,
                  const fk_origin_t *origin, bool v1, bool may_forward, json_t **answer_p,
                  fk_grants_why_t *why)
{
    *answer_p = NULL;
    char hash[FK_SHA256_HEX_LEN + 1];
    fk_manifest_hash(manifest, hash);
    char *key = fk__grants_hashed_key("redeem", redeem_token);
    fk__grants_redeem_t redeem = {0};
    fk__grants_client_t client = {0};
    json_t *written = NULL; /* the client payload to write, when it changes */
    char *client_token = NULL;
    fk_store_txn_t *txn = NULL;
    int rc = fk__grants_write(self, &txn, why);
    if (rc) {
        goto done;
    }
    rc = fk__grants_redeem_read(self, txn, key, &redeem);
    if (rc) {
        /*  The v1 server's messages have no final period (§5.4). */
        rc = rc == FK_ESTORE
                 ? fk__grants_store_fail(why, rc)
                 : fk__grants_fail(why, FK_EGRANT, "%s",
                                   v1 ? "Invalid redeem token" : "Invalid redeem token.");
        goto done;
    }
    if (!redeem.rec.local) {
        /*  The first redeem records the manifest on the token, which only
            its minting node may write. Ask it. */
        fk_store_txn_end(&txn);
        json_t *request = json_pack("{s:s, s:s, s:O, s:b}", "op", "redeem", "redeem_token",
                                    redeem_token, "manifest", manifest, "v1", v1);
        rc =
            fk__grants_forward(self, redeem.rec.owner, request, origin, may_forward, answer_p, why);
        json_decref(request);
        goto done;
    }
    if (redeem.expires_ms && redeem.expires_ms <= fk__grants_now(self)) {
        if ((rc = fk__grants_delete(txn, key)) == 0 && (rc = fk__grants_commit(&txn, why)) == 0) {
            rc = fk__grants_fail(why, FK_EGRANT, "%s",
                                 v1 ? "Redeem token expired" : "Redeem token expired.");
        }
        goto done;
    }
    if ((rc = s_redeemable(self, &redeem, hash, v1, why)) != 0) {
        goto done;
    }
    if (redeem.client_id && fk__grants_client_revoked(txn, redeem.client_id)) {
        /*  Its app was revoked: a fresh client from the same token would
            undo that, so the token is spent for good. */
        rc = fk__grants_fail(why, FK_EGRANT, "%s",
                             v1 ? "The app of this redeem token was revoked"
                                : "The app of this redeem token was revoked.");
        goto done;
    }
    json_t *updated = json_deep_copy(redeem.rec.doc);
    int crc = redeem.client_id ? fk__grants_client_read(self, txn, redeem.client_id, &client)
                               : FK_ENOTFOUND;
    if (crc == FK_ESTORE) {
        json_decref(updated);
        rc = fk__grants_store_fail(why, crc);
        goto done;
    }
    bool client_changed = crc != 0; /* a new client is written */
    if (crc) {
        /*  First redeem: the manifest must be satisfiable now, exactly as
            an approval must be. */
        json_t *candidates = fk_catalog_candidates(txn, manifest);
        json_t *composed = NULL;
        char reason[256];
        crc = fk_compose(manifest, candidates, NULL, 0, &composed, reason, sizeof reason);
        json_decref(candidates);
        json_decref(composed);
        if (crc) {
            json_decref(updated);
            rc = fk__grants_fail(why, FK_EGRANT, "%s", reason);
            goto done;
        }
        char *fresh_id = fk_random_uuid4();
        written = fk__grants_client_new(fresh_id, manifest, hash, v1, "development", "interface",
                                        NULL, fk__grants_now(self), "redeem");
        /*  The operator approved it in advance, by minting the token. */
        fk__grants_client_approved(written, redeem.rec.owner, "redeem token",
                                   fk__grants_now(self));
        json_object_set_new(updated, "client_id", json_string(fresh_id));
        json_object_set_new(updated, "manifest_hash", json_string(hash));
        free(fresh_id);
    } else {
        written = json_deep_copy(client.rec.doc);
    }
    const char *client_id = fk_json_str(written, "client_id");
    if (v1) {
        /*  The client token is derived from the redeem token, so every
            redeem of the same manifest answers the same token without
            storing it. A client first redeemed through v2 gets its v1
            credentials now (the redeem token's owner wrote it). */
        client_token = fk_grants_v1_redeem_client_token(redeem_token, client_id);
        if (!fk_json_str(written, "secret_sha256")) {
            if ((rc = fk__grants_v1_credentials(txn, written, client_token, why)) != 0) {
                json_decref(updated);
                goto done;
            }
            client_changed = true;
        }
    }
    json_object_set_new(updated, "redemptions", json_integer(redeem.redemptions + 1));
    char *client_key = fk_asprintf("client/%s", client_id);
    if ((client_changed && (rc = fk__grants_put(txn, client_key, written)) != 0)
        || (rc = fk__grants_put(txn, key, updated)) != 0) {
        fk__grants_store_fail(why, rc);
    }
    free(client_key);
    json_decref(updated);
    if (rc) {
        goto done;
    }
    if (!v1) {
        /*  Issue from the client as written, decoded like any stored one. */
        fk__grants_rec_clear(&client.rec);
        if ((rc = fk__grants_client_read(self, txn, client_id, &client)) != 0) {
            rc = fk__grants_store_fail(why, rc == FK_ENOTFOUND ? FK_ESTORE : rc);
            goto done;
        }
        rc = fk__grants_issue(self, &txn, &client, NULL, NULL, origin, answer_p, why);
    } else if ((rc = fk__grants_commit(&txn, why)) == 0) {
        *answer_p = json_pack("{s:s, s:s}", "status", "granted", "token", client_token);
    }
done:
    fk_store_txn_end(&txn);
    fk__grants_rec_clear(&client.rec);
    fk__grants_rec_clear(&redeem.rec);
    json_decref(written);
    free(client_token);
    free(key);
    return rc;
}

int
fk_grants_exchange_redeem(fk_grants_t *self, const char *redeem_token, const json_t *manifest,
                          const fk_origin_t *origin, json_t **answer_p, fk_grants_why_t *why)
{
    return fk__grants_redeem(self, redeem_token, manifest, origin, false, true, answer_p, why);
}
