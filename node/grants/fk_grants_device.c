/*  fk_grants_device - the device flow (RFC 8628, fakts-protocol.md §6):
    app-authorization stores a code, operators list and decide codes, and
    the device_code grant burns a decided code on its owner.

    A code is found by its user code through the ucode/ index and a
    pending client id through the ccode/ index, written with the code and
    deleted with it, so nothing here scans the code/ records inside a
    write transaction (a token request with a foreign client_id used to
    scan every pending code while holding the writer lock). Only the
    operators' listing scans, in a read transaction. */

#include "fk_grants_priv.h"

#include "fk_catalog.h"
#include "fk_clock.h"
#include "fk_compose.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_manifest.h"
#include "fk_mem.h"

#include <stdlib.h>
#include <string.h>

/*  RFC 8628 §6.1 suggests a reduced alphabet that people cannot misread;
    this is the v2 server's (fakts-protocol.md §7). */
#define S_USER_CODE_ALPHABET "ABCDEFGHJKMNPQRSTWXYZ23456789"
#define S_USER_CODE_LEN 10
#define S_CODE_TTL_DEFAULT 300
#define S_CODE_TTL_MAX 900

int
fk_grants_authorize(fk_grants_t *self, const json_t *manifest, const json_t *request,
                    json_t **answer_p, fk_grants_why_t *why)
{
    *answer_p = NULL;
    json_t *ttl_value = json_object_get(request, "expiration_time_seconds");
    json_int_t ttl = S_CODE_TTL_DEFAULT;
    if (ttl_value && !json_is_null(ttl_value)) {
        if (!json_is_integer(ttl_value)) {
            return fk__grants_fail(
                why, FK_EINVAL_INPUT,
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
            why, FK_EINVAL_INPUT,
            "Malformed request: requested_client_role: must be interface or agent");
    }
    char hash[FK_SHA256_HEX_LEN + 1];
    fk_manifest_hash(manifest, hash);
    char *device_code = fk_random_urlsafe(32);
    char *user_code = fk_random_from_alphabet(S_USER_CODE_LEN, S_USER_CODE_ALPHABET);
    char *client_id = fk_random_uuid4();
    int64_t now = fk__grants_now(self);
    int64_t expires = now + ttl * 1000;
    json_t *record =
        json_pack("{s:s, s:s, s:O, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "user_code", user_code,
                  "client_id", client_id, "manifest", manifest, "manifest_hash", hash, "dialect",
                  "v2", "kind", kind ? kind : "development", "role", role ? role : "interface",
                  "created_ms", (json_int_t)now, "expires_ms", (json_int_t)expires, "interval",
                  (json_int_t)self->interval_s);
    if (!record) {
        /*  kind is the client's string: jansson refuses what is not
            UTF-8 (it came from a JSON body, so only an embedded NUL). */
        free(device_code);
        free(user_code);
        free(client_id);
        return fk__grants_fail(why, FK_EINVAL_INPUT,
                               "Malformed request: requested_client_kind: must be a string");
    }
    char *key = fk__grants_hashed_key("code", device_code);
    char *text = fk_json_dump(record); /* once: its size is what the cap counts */
    int rc = fk__grants_code_room(self, strlen(text), why);
    fk_store_txn_t *txn;
    if (rc == 0 && (rc = fk__grants_write(self, &txn, why)) == 0) {
        if ((rc = fk_store_put(txn, key, text, strlen(text))) != 0
            || (rc = fk__grants_index_put(txn, key, user_code, client_id, expires)) != 0) {
            fk_store_txn_end(&txn);
            fk__grants_store_fail(why, rc);
        } else {
            rc = fk__grants_commit(&txn, why);
        }
    }
    if (rc == 0) {
        *answer_p = json_pack("{s:s, s:s, s:s, s:I, s:I}", "device_code", device_code, "user_code",
                              user_code, "client_id", client_id, "expires_in", (json_int_t)ttl,
                              "interval", (json_int_t)self->interval_s);
    }
    json_decref(record);
    free(text);
    free(key);
    free(device_code);
    free(user_code);
    free(client_id);
    return rc;
}

/*  The operators' view of a code (its store key is key): what the app
    asks for and what approving it now would give. Adds "decision"
    ("approved", "denied" or null while pending) and "created_ms". */
static json_t *
s_code_row(fk_grants_t *self, fk_store_txn_t *txn, const fk__grants_code_t *code, const char *key,
           int64_t now)
{
    char *approval_key = fk_asprintf("approval/%s", key + strlen("code/"));
    fk__grants_approval_t approval = {0};
    bool decided = fk__grants_approval_read(self, txn, approval_key, &approval) == 0;
    free(approval_key);
    const json_t *manifest = code->rec.manifest;
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
    json_t *statuses = json_object_get(composed, "statuses");
    json_t *row = fk_json_must(json_pack(
        "{s:s, s:s, s:O, s:O, s:O, s:O, s:O, s:O, s:o, s:o, s:o, s:I, s:o, s:I}", "user_code",
        code->user_code, "dialect", code->v1 ? "v1" : "v2", "identifier",
        json_object_get(manifest, "identifier"), "version", json_object_get(manifest, "version"),
        "title", json_object_get(manifest, "title"), "description",
        json_object_get(manifest, "description"), "logo", json_object_get(manifest, "logo"),
        "scopes", json_object_get(manifest, "scopes"), "requirements", requirements, "statuses",
        statuses ? json_incref(statuses) : json_object(), "instances", instances, "expires_in",
        (json_int_t)((code->expires_ms - now) / 1000), "decision",
        decided ? json_string(approval.approved ? "approved" : "denied") : json_null(),
        "created_ms", (json_int_t)code->created_ms));
    json_decref(composed);
    fk__grants_rec_clear(&approval.rec);
    return row;
}

/*  The scan only gathers keys: reading other records through the
    transaction while its scan is under way would move the scan's
    borrowed key and owner (fk_store.h). */
static int
s_code_key(void *arg, const fk_store_entry_t *entry)
{
    json_array_append_new(arg, json_string(entry->key));
    return 0;
}

static int
s_by_created(const void *a, const void *b)
{
    long long ta = fk_json_int(*(json_t *const *)a, "created_ms", 0);
    long long tb = fk_json_int(*(json_t *const *)b, "created_ms", 0);
    return (ta > tb) - (ta < tb);
}

json_t *
fk_grants_pending(fk_grants_t *self)
{
    json_t *out = json_array();
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        return out;
    }
    int64_t now = fk__grants_now(self);
    json_t *keys = json_array();
    json_t *rows = json_array();
    fk_store_scan(txn, "code/", s_code_key, keys);
    size_t i;
    json_t *key;
    json_array_foreach(keys, i, key)
    {
        fk__grants_code_t code;
        if (fk__grants_code_read(self, txn, json_string_value(key), &code) != 0) {
            continue;
        }
        if (code.expires_ms > now) {
            json_t *row = s_code_row(self, txn, &code, json_string_value(key), now);
            if (json_is_null(json_object_get(row, "decision"))) {
                json_array_append(rows, row);
            }
            json_decref(row);
        }
        fk__grants_rec_clear(&code.rec);
    }
    json_decref(keys);
    fk_store_txn_end(&txn);
    /*  Oldest first: the store orders codes by hash, not by age. */
    size_t n = json_array_size(rows);
    json_t **sorted = fk_calloc(n, sizeof *sorted);
    for (size_t j = 0; j < n; j++) {
        sorted[j] = json_array_get(rows, j);
    }
    qsort(sorted, n, sizeof *sorted, s_by_created);
    for (size_t j = 0; j < n; j++) {
        json_t *row = json_deep_copy(sorted[j]);
        json_object_del(row, "created_ms");
        json_object_del(row, "decision");
        json_array_append_new(out, row);
    }
    free(sorted);
    json_decref(rows);
    return out;
}

/*  The code a user code names, through the index: 0 with *code and *key_p
    (fresh), or FK_ENOTFOUND / FK_ESTORE. */
static int
s_find_user_code(fk_grants_t *self, fk_store_txn_t *txn, const char *user_code,
                 fk__grants_code_t *code, char **key_p)
{
    *key_p = fk__grants_user_code_key(self, txn, user_code);
    int rc = *key_p ? fk__grants_code_read(self, txn, *key_p, code) : FK_ENOTFOUND;
    if (rc) {
        free(*key_p);
        *key_p = NULL;
    }
    return rc;
}

json_t *
fk_grants_code(fk_grants_t *self, const char *user_code)
{
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) != 0) {
        return NULL;
    }
    int64_t now = fk__grants_now(self);
    json_t *row = NULL;
    fk__grants_code_t code = {0};
    char *key = NULL;
    if (s_find_user_code(self, txn, user_code, &code, &key) == 0 && code.expires_ms > now) {
        row = s_code_row(self, txn, &code, key, now);
        json_object_del(row, "created_ms");
    }
    fk__grants_rec_clear(&code.rec);
    free(key);
    fk_store_txn_end(&txn);
    return row;
}

/*  Whether declined is a list of strings (the requirement keys). */
static bool
s_declined_ok(const json_t *declined)
{
    if (!declined) {
        return true;
    }
    if (!json_is_array(declined)) {
        return false;
    }
    size_t i;
    json_t *item;
    json_array_foreach(declined, i, item)
    {
        if (!json_is_string(item)) {
            return false;
        }
    }
    return true;
}

int
fk_grants_decide(fk_grants_t *self, const char *user_code, bool approve, const json_t *declined,
                 const char *by, json_t **answer_p, fk_grants_why_t *why)
{
    *answer_p = NULL;
    if (!s_declined_ok(declined)) {
        return fk__grants_fail(why, FK_EINVAL_INPUT,
                               "declined: must be a list of requirement keys");
    }
    fk_store_txn_t *txn;
    int rc = fk__grants_write(self, &txn, why);
    if (rc) {
        return rc;
    }
    json_t *composed = NULL;
    fk__grants_code_t code = {0};
    fk__grants_approval_t earlier = {0};
    char *key = NULL;
    char *approval_key = NULL;
    rc = s_find_user_code(self, txn, user_code, &code, &key);
    if (rc == FK_ESTORE) {
        fk__grants_store_fail(why, rc);
        goto done;
    }
    if (rc || code.expires_ms <= fk__grants_now(self)) {
        rc = fk__grants_fail(why, FK_ENOTFOUND, "no pending code %.64s (unknown or expired)",
                             user_code);
        goto done;
    }
    approval_key = fk_asprintf("approval/%s", key + strlen("code/"));
    if (fk__grants_approval_read(self, txn, approval_key, &earlier) == 0) {
        rc = fk__grants_fail(why, FK_EUSED, "code %.64s was already %s", user_code,
                             earlier.approved ? "approved" : "denied");
        goto done;
    }
    const char *decision = approve ? "approved" : "denied";
    if (approve && code.v1 && strcmp(code.kind, "development") != 0) {
        /*  The v1 server approves development clients only (§5.2). */
        rc = fk__grants_fail(why, FK_EUNAVAILABLE, "Unknown client kind or no longer supported");
        goto done;
    }
    if (approve) {
        /*  Compose for real (not a preview): approving an app whose
            required service has no instance must fail, naming it. */
        json_t *candidates = fk_catalog_candidates(txn, code.rec.manifest);
        char reason[256];
        int crc = fk_compose(code.rec.manifest, candidates, declined, 0, &composed, reason,
                             sizeof reason);
        json_decref(candidates);
        if (crc) {
            rc = fk__grants_fail(why, crc == FK_EUNAVAILABLE ? FK_EUNAVAILABLE : FK_EINVAL_INPUT,
                                 "%s", reason);
            goto done;
        }
    }
    json_t *approval = json_pack(
        "{s:s, s:o, s:s, s:I, s:I}", "decision", decision, "declined",
        declined ? json_deep_copy(declined) : json_array(), "node", fk_store_node(self->store),
        "at_ms", (json_int_t)fk__grants_now(self), "expires_ms", (json_int_t)code.expires_ms);
    if (by) {
        /*  Who decided, for the list of approved apps (the audit log has
            it too, but an app's row must not need a scan of the log). */
        json_object_set_new(approval, "by", json_string(by));
    }
    if (approve && code.v1
        && (rc = fk__grants_v1_approve(self, txn, &code, declined, approval, why)) != 0) {
        json_decref(approval);
        goto done;
    }
    rc = fk__grants_put(txn, approval_key, approval);
    json_decref(approval);
    if (rc) {
        fk__grants_store_fail(why, rc);
        goto done;
    }
    if ((rc = fk__grants_commit(&txn, why)) == 0) {
        json_t *statuses = json_object_get(composed, "statuses");
        *answer_p = json_pack("{s:s, s:s, s:o}", "user_code", code.user_code, "status", decision,
                              "statuses", statuses ? json_incref(statuses) : json_null());
        fk_info("grants: %s %s (%s %s)", decision, code.user_code,
                fk_json_str(code.rec.manifest, "identifier"),
                fk_json_str(code.rec.manifest, "version"));
    }
done:
    fk_store_txn_end(&txn);
    free(approval_key);
    free(key);
    json_decref(composed);
    fk__grants_rec_clear(&earlier.rec);
    fk__grants_rec_clear(&code.rec);
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

void
fk__grants_poll_forget(fk_grants_t *self, const char *code_key)
{
    pthread_mutex_lock(&self->lock);
    json_object_del(self->polls, code_key);
    pthread_mutex_unlock(&self->lock);
}

/*  The client record a burnt, approved code turns into. */
static json_t *
s_client_of_code(fk_grants_t *self, const fk__grants_code_t *code,
                 const fk__grants_approval_t *approval)
{
    json_t *client = fk__grants_client_new(code->client_id, code->rec.manifest,
                                           code->manifest_hash, false, code->kind, code->role,
                                           approval->declined, fk__grants_now(self), "device_code");
    fk__grants_client_approved(client, approval->node ? approval->node : approval->rec.owner,
                               approval->by, approval->at_ms);
    return client;
}

int
fk__grants_device_exchange(fk_grants_t *self, const char *device_code, const char *client_id,
                           const fk_origin_t *origin, bool may_forward, json_t **answer_p,
                           fk_grants_why_t *why)
{
    *answer_p = NULL;
    if (!device_code || !*device_code) {
        return fk__grants_fail(why, FK_EINVAL_INPUT, "Missing 'device_code' in payload");
    }
    char *key = fk__grants_hashed_key("code", device_code);
    char *approval_key = fk_asprintf("approval/%s", key + strlen("code/"));
    fk__grants_code_t code = {0};
    fk__grants_approval_t approval = {0};
    fk__grants_client_t client = {0};
    fk_store_txn_t *txn = NULL;
    int rc = fk__grants_write(self, &txn, why);
    if (rc) {
        goto done;
    }
    rc = fk__grants_code_read(self, txn, key, &code);
    if (rc == FK_ESTORE) {
        fk__grants_store_fail(why, rc);
        goto done;
    }
    if (rc || code.v1) {
        /*  A v1 code is polled at {B}challenge/, never here. */
        rc = fk__grants_fail(why, FK_EINVAL_INPUT, "Invalid 'device_code' in payload");
        goto done;
    }
    if (!code.rec.local) {
        /*  Only the issuing node burns its code: that is what makes the
            code single-use without consensus. Ask it. */
        fk_store_txn_end(&txn);
        json_t *request = json_pack("{s:s, s:s, s:s?}", "op", "device_code", "device_code",
                                    device_code, "client_id", client_id);
        rc = fk__grants_forward(self, code.rec.owner, request, origin, may_forward, answer_p, why);
        json_decref(request);
        goto done;
    }
    if (client_id && *client_id && strcmp(client_id, code.client_id) != 0) {
        /*  RFC 6749 §5.2: a client we never registered is invalid_client;
            a known client holding someone else's code is unauthorized.
            Two index lookups, not a scan of the codes. */
        rc = !fk__grants_client_known(txn, client_id)
                 ? fk__grants_fail(why, FK_ECLIENT, "Unknown client '%.64s'", client_id)
                 : fk__grants_fail(why, FK_EWRONG_CLIENT,
                                   "The device code belongs to another client");
        goto done;
    }
    if (code.expires_ms <= fk__grants_now(self)) {
        rc = fk__grants_fail(why, FK_EEXPIRED, "The device code has expired");
        goto done;
    }
    rc = fk__grants_approval_read(self, txn, approval_key, &approval);
    if (rc == FK_ESTORE) {
        fk__grants_store_fail(why, rc);
        goto done;
    }
    if (rc) {
        fk_store_txn_end(&txn);
        rc = s_poll_too_soon(self, key, code.interval_s)
                 ? fk__grants_fail(why, FK_ESLOWDOWN, "Polling faster than every %lld seconds",
                                   (long long)code.interval_s)
                 : fk__grants_fail(why, FK_EPENDING, "The user has not answered yet");
        goto done;
    }
    /*  Decided: the code is burnt either way, in this transaction, so a
        second exchange finds nothing (single use). */
    if ((rc = fk__grants_delete(txn, key)) != 0 || (rc = fk__grants_delete(txn, approval_key)) != 0
        || (rc = fk__grants_index_delete(txn, code.user_code, code.client_id)) != 0) {
        fk__grants_store_fail(why, rc);
        goto done;
    }
    fk__grants_poll_forget(self, key);
    if (!approval.approved) {
        if ((rc = fk__grants_commit(&txn, why)) == 0) {
            rc = fk__grants_fail(why, FK_EDENIED, "The user has denied the request");
        }
        goto done;
    }
    json_t *record = s_client_of_code(self, &code, &approval);
    char *client_key = fk_asprintf("client/%s", code.client_id);
    rc = fk__grants_put(txn, client_key, record);
    free(client_key);
    json_decref(record);
    if (rc == 0) {
        /*  Issue from the client as stored, decoded like any other. */
        rc = fk__grants_client_read(self, txn, code.client_id, &client);
        rc = rc == FK_ENOTFOUND ? FK_ESTORE : rc;
    }
    if (rc) {
        fk__grants_store_fail(why, rc);
        goto done;
    }
    rc = fk__grants_issue(self, &txn, &client, NULL, NULL, origin, answer_p, why);
done:
    fk_store_txn_end(&txn);
    fk__grants_rec_clear(&client.rec);
    fk__grants_rec_clear(&approval.rec);
    fk__grants_rec_clear(&code.rec);
    free(approval_key);
    free(key);
    return rc;
}

int
fk_grants_exchange_device_code(fk_grants_t *self, const char *device_code, const char *client_id,
                               const fk_origin_t *origin, json_t **answer_p, fk_grants_why_t *why)
{
    return fk__grants_device_exchange(self, device_code, client_id, origin, true, answer_p, why);
}
