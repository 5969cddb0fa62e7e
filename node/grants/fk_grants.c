/*  fk_grants - the grants object (its options and lifetime), the sweeper,
    and the owner's side of forwarding, which dispatches a peer's request
    to the file that does the step. This is the top of the plane: it may
    call every other file, and none of them calls it. */

#include "fk_grants_priv.h"

#include "fk_clock.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <stdlib.h>
#include <string.h>

/*  Expired codes (and their index records) keep answering expired_token
    for a while before the sweeper deletes them, so a slow poller learns
    why. */
#define S_EXPIRED_KEEP_MS (10 * 60 * 1000)

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
    self->refresh_grace_ms = opts->refresh_grace_s * 1000;
    self->max_pending_codes = opts->max_pending_codes ? opts->max_pending_codes : 10000;
    self->max_pending_bytes = opts->max_pending_bytes ? opts->max_pending_bytes : 64ll << 20;
    self->interval_s = opts->poll_interval_s ? opts->poll_interval_s : 5;
    self->forward = opts->forward;
    self->forward_arg = opts->forward_arg;
    self->clock = opts->clock;
    self->clock_arg = opts->clock_arg;
    self->audit = opts->audit;
    self->polls = json_object();
    atomic_init(&self->malformed, 0);
    pthread_mutex_init(&self->lock, NULL);
    fk_log_limit_init(&self->malformed_log);
    pthread_rwlock_init(&self->keys_lock, NULL);
    pthread_mutex_init(&self->rebuild_lock, NULL);
    int rc = fk__grants_keys_load(self);
    if (rc == 0) {
        rc = fk__grants_code_recount(self);
    }
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
    json_decref(self->issuers);
    pthread_rwlock_destroy(&self->keys_lock);
    pthread_mutex_destroy(&self->rebuild_lock);
    json_decref(self->polls);
    pthread_mutex_destroy(&self->lock);
    fk_log_limit_fini(&self->malformed_log);
    free(self->deployment_name);
    free(self);
    *self_p = NULL;
}

int
fk_grants_on_forwarded(void *arg, const char *body, size_t len, char **reply_p, size_t *reply_len_p)
{
    fk_grants_t *self = arg;
    fk__grants_fwd_t fwd;
    fk_grants_why_t why = {{0}};
    json_t *answer = NULL;
    int rc = fk__grants_fwd_decode(body, len, &fwd);
    if (rc) {
        rc = fk__grants_fail(&why, FK_EINVAL_INPUT, "Malformed forwarded request");
    } else if (fk__grants_now(self) > fwd.deadline_ms) {
        rc = fk__grants_fail(&why, FK_ETRYAGAIN,
                             "The request reached node %.64s after its requester gave up; try "
                             "again",
                             fk_store_node(self->store));
    } else {
        /*  may_forward false: the owner never forwards again, so a record
            whose owner disagrees cannot bounce between nodes. */
        switch (fwd.op) {
        case FK__GRANTS_OP_DEVICE_CODE:
            rc = fk__grants_device_exchange(self, fwd.token, fwd.client_id, &fwd.origin, false,
                                            &answer, &why);
            break;
        case FK__GRANTS_OP_REFRESH:
            rc = fk__grants_refresh(self, fwd.token, fwd.client_id, &fwd.origin, false, &answer,
                                    &why);
            break;
        case FK__GRANTS_OP_REDEEM:
            rc = fk__grants_redeem(self, fwd.token, fwd.manifest, &fwd.origin, fwd.v1, false,
                                   &answer, &why);
            break;
        case FK__GRANTS_OP_V1_CHALLENGE:
            rc = fk__grants_v1_challenge(self, fwd.token, &fwd.origin, false, &answer, &why);
            break;
        }
    }
    *reply_p = fk__grants_fwd_reply(rc, answer, &why, reply_len_p);
    fk__grants_fwd_clear(&fwd);
    return 0;
}

typedef struct {
    const char *node; /* only this node's records can be deleted here */
    int64_t now;      /* wall ms */
    json_t *expired;  /* keys to delete */
    int64_t codes;    /* this node's code/ records that stay */
    int64_t bytes;    /* and their bytes */
} s_sweep_t;

static int
s_find_expired(void *arg, const fk_store_entry_t *entry)
{
    s_sweep_t *sweep = arg;
    if (strcmp(entry->owner, sweep->node) != 0) {
        return 0;
    }
    int64_t expires = fk__grants_expiry(entry);
    /*  Codes and their indexes linger past expiry so pollers still hear
        expired_token. */
    bool code = strncmp(entry->key, "code/", 5) == 0 || strncmp(entry->key, "ucode/", 6) == 0
                || strncmp(entry->key, "ccode/", 6) == 0;
    int64_t keep = code ? S_EXPIRED_KEEP_MS : 0;
    if (expires && expires + keep <= sweep->now) {
        json_array_append_new(sweep->expired, json_string(entry->key));
    } else if (strncmp(entry->key, "code/", 5) == 0) {
        sweep->codes++;
        sweep->bytes += (int64_t)entry->record.payload_len;
    }
    return 0;
}

int
fk__grants_code_recount(fk_grants_t *self)
{
    s_sweep_t count = {.node = fk_store_node(self->store), .now = INT64_MIN};
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(self->store, &txn);
    if (rc == 0) {
        rc = fk_store_scan(txn, "code/", s_find_expired, &count);
        fk_store_txn_end(&txn);
    }
    if (rc == 0) {
        atomic_store(&self->pending_codes, count.codes);
        atomic_store(&self->pending_bytes, count.bytes);
    }
    return rc;
}

int
fk__grants_code_room(fk_grants_t *self, size_t len, fk_grants_why_t *why)
{
    if (atomic_load(&self->pending_codes) >= self->max_pending_codes
        || atomic_load(&self->pending_bytes) + (int64_t)len > self->max_pending_bytes) {
        return fk__grants_fail(why, FK_ETRYAGAIN,
                               "Too many pending authorizations on this node; try again later");
    }
    atomic_fetch_add(&self->pending_codes, 1);
    atomic_fetch_add(&self->pending_bytes, (int64_t)len);
    return 0;
}

int
fk_grants_sweep(fk_grants_t *self)
{
    static const char *const kinds[] = {"code/",    "ucode/",           "ccode/",
                                        "approval/", "refresh/",        "refresh-family/",
                                        "revoked/",  "refresh-revoked/", "redeem/"};
    s_sweep_t sweep = {
        .node = fk_store_node(self->store), .now = fk__grants_now(self), .expired = json_array()};
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
    /*  The count starts afresh from what stays: codes consumed since the
        last sweep stop counting now (one made while the scan ran may be
        missed until the next: the cap is a bound on a flood, not a
        ledger). */
    atomic_store(&self->pending_codes, sweep.codes);
    atomic_store(&self->pending_bytes, sweep.bytes);
    int deleted = 0;
    if (json_array_size(sweep.expired) > 0 && (rc = fk_store_write_begin(self->store, &txn)) == 0) {
        size_t i;
        json_t *key;
        json_array_foreach(sweep.expired, i, key)
        {
            if (fk_store_delete(txn, json_string_value(key)) == 0) {
                deleted++;
            }
            fk__grants_poll_forget(self, json_string_value(key));
        }
        rc = fk_store_commit(&txn);
    }
    json_decref(sweep.expired);
    return rc ? rc : deleted;
}
