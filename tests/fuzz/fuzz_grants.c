/*  fuzz_grants - nothing stored can crash the grants plane. The input is a
    list of records, [kind, flags, length (2 bytes, big-endian), payload],
    each written under one of the record keys the entry points look up
    (a code, its approval and indexes, a client, refresh and redeem
    tokens, a client token's index, a public app, a signing key, revocation
    markers, a report, a v1 code, an app's last exchange, an app's
    revocation) as this node's own record or, with flag
    bit 0, as a record replicated from node-b; the last kind is the body of
    a forwarded request. Then every entry point of fk_grants.h runs against
    those records: whatever the bytes, each answers or refuses, and never
    crashes, aborts or leaks. The store is emptied after each input. */

#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_grants.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"
#include "fk_record.h"
#include "fk_testgrants.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*  The secrets and names the planted records are keyed by. */
#define S_DEVICE "device-code"
#define S_USER "ABCD2EFGHJ"
#define S_CLIENT "client-1"
#define S_FAMILY "fam"
#define S_REFRESH S_FAMILY ".refresh-token" /* family "fam" */
#define S_REDEEM "redeem-token"
#define S_CTOKEN "client-token"
#define S_V1 "0123abcd"

enum { S_KINDS = 20, S_FORWARD = 16 };

static fk_testgrants_t *s_set;
static json_t *s_manifest;
static char *s_keys[S_KINDS];
static uint64_t s_version;

static char *
s_hashed(const char *kind, const char *secret)
{
    char hex[FK_SHA256_HEX_LEN + 1];
    fk_sha256_hex(secret, strlen(secret), hex);
    return fk_asprintf("%s/%s", kind, hex);
}

static void
s_init(void)
{
    fk_log_set_level(FK_LOG_OFF);
    json_set_alloc_funcs(fk_malloc, free);
    s_set = fk_testgrants_new(2, "fuzz_grants");
    s_manifest = fk_testgrants_manifest("org.example", "1.0");
    s_keys[0] = s_hashed("code", S_DEVICE);
    s_keys[1] = s_hashed("approval", S_DEVICE);
    s_keys[2] = fk_strdup("ucode/" S_USER);
    s_keys[3] = fk_strdup("ccode/" S_CLIENT);
    s_keys[4] = fk_strdup("client/" S_CLIENT);
    s_keys[5] = s_hashed("refresh", S_REFRESH);
    s_keys[6] = s_hashed("redeem", S_REDEEM);
    s_keys[7] = s_hashed("ctoken", S_CTOKEN);
    s_keys[8] = fk_strdup("app/org.example/1.0");
    s_keys[9] = fk_strdup("key/planted");
    s_keys[10] = fk_strdup("revoked/jti-1");
    s_keys[11] = s_hashed("refresh-revoked", S_REFRESH);
    s_keys[12] = fk_strdup("report/" S_CLIENT);
    s_keys[13] = s_hashed("code", S_V1);
    s_keys[14] = s_hashed("approval", S_V1);
    s_keys[15] = fk_strdup("ucode/0123ABCD");
    s_keys[16] = NULL; /* the forwarded request's body */
    s_keys[17] = fk_strdup("refresh-family/" S_FAMILY);
    s_keys[18] = fk_strdup("seen/" S_CLIENT);
    s_keys[19] = fk_strdup("client-revoked/" S_CLIENT);
}

/*  Write payload under key: as node-a's own record, or as node-b's. */
static void
s_plant(fk_store_t *store, const char *key, bool remote, const char *payload, size_t len)
{
    fk_store_txn_t *txn;
    if (fk_store_write_begin(store, &txn) != 0) {
        return;
    }
    if (remote) {
        fk_record_t rec = {
            .version = ++s_version, .stamp_ms = 1, .payload = payload, .payload_len = len};
        char *buf = NULL;
        size_t buf_len = 0;
        if (fk_record_encode(&rec, &buf, &buf_len) == 0) {
            fk_store_apply(txn, "node-b", key, buf, buf_len);
        }
        free(buf);
    } else {
        fk_store_put(txn, key, payload, len);
    }
    fk_store_commit(&txn);
}

static int
s_gather(void *arg, const fk_store_entry_t *entry)
{
    if (strcmp(entry->owner, "node-a") == 0) {
        json_array_append_new(arg, json_string(entry->key));
    }
    return 0;
}

/*  Empty node-a's store of everything but its own signing key and the
    catalog, so each input starts from the same state. */
static void
s_wipe(fk_testnode_t *node)
{
    static const char *const prefixes[] = {
        "code/",   "approval/", "ucode/",   "ccode/",           "client/", "refresh/",   "redeem/",
        "ctoken/", "app/",      "revoked/", "refresh-revoked/", "report/", "key/planted"};
    json_t *keys = json_array();
    fk_store_txn_t *txn;
    if (fk_store_read_begin(node->store, &txn) == 0) {
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
            fk_store_scan(txn, prefixes[i], s_gather, keys);
        }
        fk_store_txn_end(&txn);
    }
    if (fk_store_write_begin(node->store, &txn) == 0) {
        size_t i;
        json_t *key;
        json_array_foreach(keys, i, key)
        {
            fk_store_delete(txn, json_string_value(key));
        }
        fk_store_drop_owner(txn, "node-b");
        fk_store_gc_tombstones(txn, node->name, INT64_MAX);
        fk_store_commit(&txn);
    }
    json_decref(keys);
}

/*  Run every entry point once against the planted records. */
static void
s_drive(fk_grants_t *g, const char *forward_body, size_t forward_len, bool approve)
{
    const fk_origin_t *origin = &fk_testgrants_origin;
    fk_grants_why_t why;
    json_t *answer = NULL;
#define S_CALL(expr)                                                                               \
    do {                                                                                           \
        answer = NULL;                                                                             \
        (void)(expr);                                                                              \
        json_decref(answer);                                                                       \
    } while (0)
    json_decref(fk_grants_pending(g));
    json_decref(fk_grants_code(g, S_USER));
    json_decref(fk_grants_jwks(g));
    json_decref(fk_grants_apps(g));
    json_decref(fk_grants_approved(g));
    json_decref(fk_grants_unreachable(g));
    S_CALL(fk_grants_decide(g, S_USER, approve, NULL, "tester", &answer, &why));
    S_CALL(fk_grants_decide(g, S_V1, approve, NULL, "tester", &answer, &why));
    S_CALL(fk_grants_exchange_device_code(g, S_DEVICE, NULL, origin, &answer, &why));
    S_CALL(fk_grants_exchange_device_code(g, S_DEVICE, "someone-else", origin, &answer, &why));
    S_CALL(fk_grants_exchange_device_code(g, S_DEVICE, S_CLIENT, origin, &answer, &why));
    S_CALL(fk_grants_exchange_refresh(g, S_REFRESH, S_CLIENT, origin, &answer, &why));
    S_CALL(fk_grants_exchange_redeem(g, S_REDEEM, s_manifest, origin, &answer, &why));
    S_CALL(fk_grants_v1_redeem(g, S_REDEEM, s_manifest, origin, &answer, &why));
    S_CALL(fk_grants_v1_challenge(g, S_V1, origin, &answer, &why));
    S_CALL(fk_grants_v1_claim(g, S_CTOKEN, origin, &answer, &why));
    S_CALL(fk_grants_v1_retrieve(g, s_manifest, &answer, &why));
    json_t *body = json_pack("{s:{s:{s:s}}}", "alias_reports", "rekuest", "alias_id", "12");
    S_CALL(fk_grants_v1_report(g, S_CTOKEN, body, &answer, &why));
    json_t *claims = json_pack("{s:s}", "client_id", S_CLIENT);
    S_CALL(fk_grants_report(g, claims, body, &why));
    json_decref(claims);
    json_decref(body);
    S_CALL(fk_grants_client_credentials(g, S_CLIENT, "secret", "openid", origin, &answer, &why));
    S_CALL(fk_grants_check_bearer(g, "eyJhbGciOiJSUzI1NiIsImtpZCI6InBsYW50ZWQifQ.e30.c2ln", &answer,
                                  &why));
    S_CALL(fk_grants_revoke(g, S_REFRESH, NULL, S_CLIENT, &why));
    S_CALL(fk_grants_app_delete(g, "org.example", "1.0", &answer, &why));
    S_CALL(fk_grants_revoke_app(g, "org.example", NULL, "tester", &answer, &why));
    json_decref(fk_grants_approved(g));
    S_CALL(fk_grants_sweep(g));
    if (forward_body) {
        char *reply = NULL;
        size_t reply_len = 0;
        fk_grants_on_forwarded(g, forward_body, forward_len, &reply, &reply_len);
        free(reply);
    }
#undef S_CALL
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_set) {
        s_init();
    }
    if (size > 65536) {
        return 0;
    }
    fk_testnode_t *node = &s_set->nodes[0];
    const char *forward_body = NULL;
    size_t forward_len = 0;
    bool approve = size > 0 && (data[0] & 0x80);
    size_t at = 0;
    while (size - at >= 4) {
        unsigned kind = data[at] % S_KINDS;
        bool remote = data[at + 1] & 1;
        size_t len = (size_t)data[at + 2] << 8 | data[at + 3];
        at += 4;
        len = len < size - at ? len : size - at;
        const char *payload = (const char *)data + at;
        at += len;
        if (kind == S_FORWARD) {
            forward_body = payload;
            forward_len = len;
        } else {
            s_plant(node->store, s_keys[kind], remote, payload, len);
        }
    }
    s_drive(node->grants, forward_body, forward_len, approve);
    s_wipe(node);
    return 0;
}
