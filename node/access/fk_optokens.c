/*  fk_optokens - operator tokens as replicated records (fk_optokens.h). */

#include "fk_optokens.h"

#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_mem.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PREFIX "fko_"
#define S_RECORD "optoken/"
#define S_REVOKED "optoken-revoked/"

/*  A revocation marker outlives the record it revokes by this much before
    the sweeper may delete it: the owner's tombstone and the marker's own
    deletion replicate independently, and a node that learnt of the
    marker's deletion first would otherwise take the token back for the
    moment between them. */
#define S_MARKER_GRACE_MS (24LL * 3600 * 1000)

static const struct {
    unsigned bit;
    const char *name;
} s_roles[] = {
    {FK_ROLE_READ, "read"},
    {FK_ROLE_REGISTER, "register"},
    {FK_ROLE_APPROVE, "approve"},
    {FK_ROLE_OPERATOR, "operator"},
};

#define S_NROLES (sizeof s_roles / sizeof s_roles[0])

unsigned
fk_optokens_role(const char *name)
{
    for (size_t i = 0; name && i < S_NROLES; i++) {
        if (strcmp(name, s_roles[i].name) == 0) {
            return s_roles[i].bit;
        }
    }
    return 0;
}

const char *
fk_optokens_role_name(unsigned role)
{
    for (size_t i = 0; i < S_NROLES; i++) {
        if (role == s_roles[i].bit) {
            return s_roles[i].name;
        }
    }
    return NULL;
}

bool
fk_optokens_allows(unsigned roles, unsigned need)
{
    return (roles & FK_ROLE_OPERATOR) || (roles & need) == need;
}

bool
fk_optokens_name_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > FK_OPTOKENS_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

int
fk_optokens_parse(const char *token, char accessor[FK_OPTOKENS_ACCESSOR_LEN + 1],
                  const char **secret_p)
{
    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    /*  strnlen: a long string costs no more than a token's length. */
    if (!token || strnlen(token, FK_OPTOKENS_TOKEN_LEN + 1) != FK_OPTOKENS_TOKEN_LEN
        || strncmp(token, S_PREFIX, 4) != 0) {
        return FK_EINVAL_INPUT;
    }
    const char *acc = token + 4;
    const char *dot = acc + FK_OPTOKENS_ACCESSOR_LEN;
    const char *secret = dot + 1;
    if (strspn(acc, "0123456789abcdef") != FK_OPTOKENS_ACCESSOR_LEN || *dot != '.'
        || strspn(secret, b64url) != FK_OPTOKENS_SECRET_LEN) {
        return FK_EINVAL_INPUT;
    }
    memcpy(accessor, acc, FK_OPTOKENS_ACCESSOR_LEN);
    accessor[FK_OPTOKENS_ACCESSOR_LEN] = '\0';
    *secret_p = secret;
    return 0;
}

/*  ---------------------------------------------------------------------
    The record decoder
    --------------------------------------------------------------------- */

/*  A decoded optoken/ record: the description and its digest. */
typedef struct {
    fk_optoken_t token;                       /* what it says */
    char secret_sha256[FK_SHA256_HEX_LEN + 1]; /* lowercase hex */
} s_record_t;

/*  Copy the string field name of doc into out (size bytes): it must be a
    string without NUL of 1 to size - 1 bytes. */
static bool
s_str(const json_t *doc, const char *name, char *out, size_t size)
{
    const json_t *value = json_object_get(doc, name);
    if (!json_is_string(value)) {
        return false;
    }
    size_t len = json_string_length(value);
    if (len == 0 || len >= size || strlen(json_string_value(value)) != len) {
        return false;
    }
    memcpy(out, json_string_value(value), len + 1);
    return true;
}

/*  The integer field name of doc, >= 0; absent or null gives 0 when
    optional. */
static bool
s_int(const json_t *doc, const char *name, bool optional, int64_t *out)
{
    const json_t *value = json_object_get(doc, name);
    if (optional && (!value || json_is_null(value))) {
        *out = 0;
        return true;
    }
    if (!json_is_integer(value) || json_integer_value(value) < 0) {
        return false;
    }
    *out = (int64_t)json_integer_value(value);
    return true;
}

/*  "roles": a non-empty array of known role names, none twice. */
static bool
s_roles_field(const json_t *doc, unsigned *roles)
{
    const json_t *array = json_object_get(doc, "roles");
    if (!json_is_array(array) || json_array_size(array) == 0) {
        return false;
    }
    *roles = 0;
    size_t i;
    const json_t *item;
    json_array_foreach(array, i, item)
    {
        unsigned bit = fk_optokens_role(json_string_value(item));
        if (bit == 0 || (*roles & bit)) {
            return false;
        }
        *roles |= bit;
    }
    return true;
}

/*  Decode entry (an optoken/ record) into out. Anything that is not
    exactly the documented shape is malformed: false. */
static bool
s_decode(const fk_store_entry_t *entry, s_record_t *out)
{
    memset(out, 0, sizeof *out);
    const char *accessor = entry->key + strlen(S_RECORD);
    if (strlen(accessor) != FK_OPTOKENS_ACCESSOR_LEN
        || strspn(accessor, "0123456789abcdef") != FK_OPTOKENS_ACCESSOR_LEN) {
        return false;
    }
    json_t *doc =
        json_loadb(entry->record.payload, entry->record.payload_len, JSON_REJECT_DUPLICATES, NULL);
    bool ok = json_is_object(doc) && s_str(doc, "name", out->token.name, sizeof out->token.name)
              && fk_optokens_name_ok(out->token.name)
              && s_str(doc, "created_by", out->token.created_by, sizeof out->token.created_by)
              && s_str(doc, "secret_sha256", out->secret_sha256, sizeof out->secret_sha256)
              && strlen(out->secret_sha256) == FK_SHA256_HEX_LEN
              && strspn(out->secret_sha256, "0123456789abcdef") == FK_SHA256_HEX_LEN
              && s_roles_field(doc, &out->token.roles)
              && s_int(doc, "created_ms", false, &out->token.created_ms)
              && s_int(doc, "expires_ms", true, &out->token.expires_ms);
    json_decref(doc);
    if (!ok) {
        memset(out, 0, sizeof *out);
        return false;
    }
    memcpy(out->token.accessor, accessor, FK_OPTOKENS_ACCESSOR_LEN + 1);
    snprintf(out->token.owner, sizeof out->token.owner, "%s", entry->owner);
    return true;
}

/*  Read and decode the record of accessor. Returns 0, FK_ENOTFOUND
    (absent, or malformed: the same to every caller) or a store error. */
static int
s_read(fk_store_txn_t *txn, const char *accessor, s_record_t *out)
{
    char key[sizeof S_RECORD + FK_OPTOKENS_ACCESSOR_LEN];
    snprintf(key, sizeof key, S_RECORD "%s", accessor);
    fk_store_entry_t entry;
    int rc = fk_store_get(txn, key, NULL, &entry);
    if (rc != 0) {
        return rc;
    }
    return s_decode(&entry, out) ? 0 : FK_ENOTFOUND;
}

/*  Whether any node holds a revocation marker of accessor. Every owner's
    marker counts, so read by key alone (fk_store_get with no owner finds
    any live one). */
static int
s_revoked(fk_store_txn_t *txn, const char *accessor, bool *revoked)
{
    char key[sizeof S_REVOKED + FK_OPTOKENS_ACCESSOR_LEN];
    snprintf(key, sizeof key, S_REVOKED "%s", accessor);
    fk_store_entry_t entry;
    int rc = fk_store_get(txn, key, NULL, &entry);
    *revoked = rc == 0;
    return rc == FK_ENOTFOUND ? 0 : rc;
}

static bool
s_expired(const fk_optoken_t *token, int64_t now_ms)
{
    return token->expires_ms != 0 && token->expires_ms <= now_ms;
}

/*  The record of accessor if it authenticates at now_ms. Returns 0,
    FK_EDENIED or a store error. */
static int
s_usable(fk_store_txn_t *txn, const char *accessor, int64_t now_ms, s_record_t *out)
{
    int rc = s_read(txn, accessor, out);
    bool revoked = false;
    if (rc == 0) {
        rc = s_revoked(txn, accessor, &revoked);
    }
    if (rc == FK_ENOTFOUND || (rc == 0 && (revoked || s_expired(&out->token, now_ms)))) {
        rc = FK_EDENIED;
    }
    return rc;
}

/*  ---------------------------------------------------------------------
    Operations
    --------------------------------------------------------------------- */

int
fk_optokens_create(fk_store_txn_t *txn, const char *name, unsigned roles,
                   const char *created_by, int64_t now_ms, int64_t ttl_ms, fk_optoken_t *out,
                   char **token_p)
{
    *token_p = NULL;
    if (!fk_optokens_name_ok(name) || !fk_optokens_name_ok(created_by) || roles == 0
        || (roles & ~(unsigned)FK_ROLES_ALL) || ttl_ms < 0) {
        return FK_EINVAL_INPUT;
    }
    char *accessor = fk_random_hex(FK_OPTOKENS_ACCESSOR_LEN);
    char *secret = fk_random_urlsafe(32);
    char digest[FK_SHA256_HEX_LEN + 1];
    fk_sha256_hex(secret, strlen(secret), digest);
    json_t *names = json_array();
    for (size_t i = 0; i < S_NROLES; i++) {
        if (roles & s_roles[i].bit) {
            json_array_append_new(names, json_string(s_roles[i].name));
        }
    }
    json_t *doc = fk_json_must(json_pack("{s:s, s:o, s:s, s:I, s:s}", "name", name, "roles", names,
                                         "secret_sha256", digest, "created_ms",
                                         (json_int_t)now_ms, "created_by", created_by));
    if (ttl_ms > 0) {
        json_object_set_new(doc, "expires_ms", json_integer(now_ms + ttl_ms));
    }
    char *text = fk_json_dump(doc);
    char *key = fk_asprintf(S_RECORD "%s", accessor);
    int rc = fk_store_put(txn, key, text, strlen(text));
    if (rc == 0) {
        memset(out, 0, sizeof *out);
        memcpy(out->accessor, accessor, FK_OPTOKENS_ACCESSOR_LEN + 1);
        snprintf(out->name, sizeof out->name, "%s", name);
        snprintf(out->created_by, sizeof out->created_by, "%s", created_by);
        snprintf(out->owner, sizeof out->owner, "%s", fk_store_txn_node(txn));
        out->roles = roles;
        out->created_ms = now_ms;
        out->expires_ms = ttl_ms > 0 ? now_ms + ttl_ms : 0;
        *token_p = fk_asprintf(S_PREFIX "%s.%s", accessor, secret);
    }
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    free(key);
    free(text);
    json_decref(doc);
    free(accessor);
    return rc;
}

int
fk_optokens_verify(fk_store_txn_t *txn, const char *token, int64_t now_ms, fk_optoken_t *out)
{
    memset(out, 0, sizeof *out);
    char accessor[FK_OPTOKENS_ACCESSOR_LEN + 1];
    const char *secret = NULL;
    if (fk_optokens_parse(token, accessor, &secret) != 0) {
        return FK_EDENIED;
    }
    s_record_t record;
    int rc = s_usable(txn, accessor, now_ms, &record);
    if (rc != 0) {
        return rc;
    }
    char digest[FK_SHA256_HEX_LEN + 1];
    fk_sha256_hex(secret, FK_OPTOKENS_SECRET_LEN, digest);
    if (!fk_secret_equal(digest, record.secret_sha256)) {
        return FK_EDENIED;
    }
    *out = record.token;
    return 0;
}

int
fk_optokens_live(fk_store_txn_t *txn, const char *accessor, int64_t now_ms)
{
    if (!accessor || strlen(accessor) != FK_OPTOKENS_ACCESSOR_LEN) {
        return FK_EDENIED;
    }
    s_record_t record;
    return s_usable(txn, accessor, now_ms, &record);
}

int
fk_optokens_revoke(fk_store_txn_t *txn, const char *accessor, int64_t now_ms)
{
    if (!accessor || strlen(accessor) != FK_OPTOKENS_ACCESSOR_LEN
        || strspn(accessor, "0123456789abcdef") != FK_OPTOKENS_ACCESSOR_LEN) {
        return FK_ENOTFOUND;
    }
    s_record_t record;
    int rc = s_read(txn, accessor, &record);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(record.token.owner, fk_store_txn_node(txn)) == 0) {
        char *key = fk_asprintf(S_RECORD "%s", accessor);
        rc = fk_store_delete(txn, key);
        free(key);
        return rc;
    }
    bool revoked = false;
    if ((rc = s_revoked(txn, accessor, &revoked)) != 0 || revoked) {
        return rc;
    }
    json_t *mark = fk_json_must(json_pack("{s:I}", "revoked_ms", (json_int_t)now_ms));
    if (record.token.expires_ms) {
        json_object_set_new(mark, "expires_ms", json_integer(record.token.expires_ms));
    }
    char *text = fk_json_dump(mark);
    char *key = fk_asprintf(S_REVOKED "%s", accessor);
    rc = fk_store_put(txn, key, text, strlen(text));
    free(key);
    free(text);
    json_decref(mark);
    return rc;
}

typedef struct {
    fk_store_txn_t *txn;
    int64_t now_ms;
    fk_optokens_fn fn;
    void *arg;
    char last[FK_OPTOKENS_ACCESSOR_LEN + 1]; /* the accessor visited last */
} s_list_t;

static int
s_list_one(void *arg, const fk_store_entry_t *entry)
{
    s_list_t *list = arg;
    s_record_t record;
    if (!s_decode(entry, &record) || s_expired(&record.token, list->now_ms)
        || strcmp(record.token.accessor, list->last) == 0) {
        return 0; /* a second owner's record of one accessor is listed once */
    }
    memcpy(list->last, record.token.accessor, sizeof list->last);
    bool revoked = false;
    int rc = s_revoked(list->txn, record.token.accessor, &revoked);
    if (rc != 0) {
        return rc;
    }
    return revoked ? 0 : list->fn(list->arg, &record.token);
}

int
fk_optokens_list(fk_store_txn_t *txn, int64_t now_ms, fk_optokens_fn fn, void *arg)
{
    s_list_t list = {.txn = txn, .now_ms = now_ms, .fn = fn, .arg = arg};
    return fk_store_scan(txn, S_RECORD, s_list_one, &list);
}

/*  The sweep: find in a scan, delete afterwards (a scan must not write). */
typedef struct {
    fk_store_txn_t *txn;
    const char *node;
    int64_t now_ms;
    json_t *doomed; /* keys to delete */
} s_sweep_t;

static int
s_sweep_token(void *arg, const fk_store_entry_t *entry)
{
    s_sweep_t *sweep = arg;
    if (strcmp(entry->owner, sweep->node) != 0) {
        return 0;
    }
    /*  The next read through the transaction takes entry->key away. */
    json_t *key = json_string(entry->key);
    s_record_t record;
    bool revoked = false;
    bool malformed = !s_decode(entry, &record);
    if (!malformed && s_revoked(sweep->txn, record.token.accessor, &revoked) != 0) {
        json_decref(key);
        return 0;
    }
    /*  Our own malformed record was written by another version of us: it
        can never authenticate, so it goes too. A token revoked elsewhere
        is deleted by us, its owner, so its record stops travelling. */
    if (malformed || revoked || s_expired(&record.token, sweep->now_ms)) {
        json_array_append(sweep->doomed, key);
    }
    json_decref(key);
    return 0;
}

static int
s_sweep_marker(void *arg, const fk_store_entry_t *entry)
{
    s_sweep_t *sweep = arg;
    if (strcmp(entry->owner, sweep->node) != 0) {
        return 0;
    }
    json_t *doc =
        json_loadb(entry->record.payload, entry->record.payload_len, JSON_REJECT_DUPLICATES, NULL);
    int64_t revoked_ms = 0;
    int64_t expires_ms = 0;
    bool ok = json_is_object(doc) && s_int(doc, "revoked_ms", false, &revoked_ms)
              && s_int(doc, "expires_ms", true, &expires_ms);
    json_decref(doc);
    /*  The next read through the transaction takes entry->key away. */
    json_t *key = json_string(entry->key);
    const char *accessor = json_string_value(key) + strlen(S_REVOKED);
    s_record_t record;
    bool gone = strlen(accessor) != FK_OPTOKENS_ACCESSOR_LEN
                || s_read(sweep->txn, accessor, &record) == FK_ENOTFOUND;
    bool expired = ok && expires_ms != 0 && expires_ms <= sweep->now_ms;
    if (expired || (gone && (!ok || revoked_ms + S_MARKER_GRACE_MS <= sweep->now_ms))) {
        json_array_append(sweep->doomed, key);
    }
    json_decref(key);
    return 0;
}

int
fk_optokens_sweep(fk_store_txn_t *txn, int64_t now_ms)
{
    s_sweep_t sweep = {
        .txn = txn, .node = fk_store_txn_node(txn), .now_ms = now_ms, .doomed = json_array()};
    int rc = fk_store_scan(txn, S_RECORD, s_sweep_token, &sweep);
    if (rc == 0) {
        rc = fk_store_scan(txn, S_REVOKED, s_sweep_marker, &sweep);
    }
    int deleted = 0;
    size_t i;
    json_t *key;
    json_array_foreach(sweep.doomed, i, key)
    {
        if (rc != 0) {
            break;
        }
        rc = fk_store_delete(txn, json_string_value(key));
        deleted += rc == 0;
    }
    json_decref(sweep.doomed);
    return rc ? rc : deleted;
}
