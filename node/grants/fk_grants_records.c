/*  fk_grants_records - the bottom of the grants plane: errors, record keys,
    transactions, and one decoder per record kind.

    A decoder is the only code that reads a stored payload's fields. It
    checks each field's type once and fills a struct the callers use; a
    record that fails (written by another version of the node, or by a bug,
    and replicated here) reads as absent, so it can cost its app a retry
    but never crash the node that holds it. Stored manifests are parsed
    again (fk_manifest_parse), which makes them canonical manifests, the
    contract fk_compose and the token builders rely on. Nothing here calls
    up into the other files of the plane. */

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

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Malformed records are logged at most this often (a flood of them must
    not flood the log: a replicated bad record is read on every request
    that touches it). */
#define S_MALFORMED_LOG_EVERY_MS 1000

int
fk__grants_fail(fk_grants_why_t *why, int code, const char *fmt, ...)
{
    if (why) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(why->text, sizeof why->text, fmt, args);
        va_end(args);
    }
    return code;
}

int
fk__grants_store_fail(fk_grants_why_t *why, int rc)
{
    if (rc == -ENOSPC) {
        /*  The one store failure a client can do something about: wait. */
        return fk__grants_fail(why, rc,
                               "The node's store is full; reads still work, writes fail until "
                               "an operator frees space (or raises --map-size)");
    }
    return fk__grants_fail(why, rc, "storage failure: %s", fk_strerror(rc));
}

int64_t
fk__grants_now(const fk_grants_t *self)
{
    return self->clock ? self->clock(self->clock_arg) : fk_clock_wall_ms();
}

char *
fk__grants_hashed_key(const char *kind, const char *secret)
{
    char hex[FK_SHA256_HEX_LEN + 1];
    fk_sha256_hex(secret, strlen(secret), hex);
    return fk_asprintf("%s/%s", kind, hex);
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

int
fk__grants_write(fk_grants_t *self, fk_store_txn_t **txn_p, fk_grants_why_t *why)
{
    *txn_p = NULL;
    int rc = fk_store_write_begin(self->store, txn_p);
    return rc ? fk__grants_store_fail(why, rc) : 0;
}

int
fk__grants_commit(fk_store_txn_t **txn_p, fk_grants_why_t *why)
{
    int rc = fk_store_commit(txn_p);
    return rc ? fk__grants_store_fail(why, rc) : 0;
}

int
fk__grants_put_one(fk_grants_t *self, const char *key, const json_t *value, fk_grants_why_t *why)
{
    fk_store_txn_t *txn;
    int rc = fk__grants_write(self, &txn, why);
    if (rc != 0) {
        return rc;
    }
    if ((rc = fk__grants_put(txn, key, value)) != 0) {
        fk_store_txn_end(&txn);
        return fk__grants_store_fail(why, rc);
    }
    return fk__grants_commit(&txn, why);
}

bool
fk__grants_exists(fk_store_txn_t *txn, const char *key)
{
    fk_store_entry_t entry;
    return fk_store_get(txn, key, NULL, &entry) == 0;
}

void
fk__grants_malformed(fk_grants_t *self, const char *key, const char *owner, const char *what)
{
    atomic_fetch_add(&self->malformed, 1);
    uint64_t skipped = 0;
    bool log = fk_log_limit_pass(&self->malformed_log, fk_clock_mono_ms(),
                                 S_MALFORMED_LOG_EVERY_MS, &skipped);
    if (log) {
        fk_warn("grants: ignoring malformed record %.200s of %.64s (%s)%s", key, owner, what,
                skipped ? "; more were ignored since the last such message" : "");
    }
}

void
fk__grants_rec_clear(fk__grants_rec_t *rec)
{
    json_decref(rec->doc);
    json_decref(rec->manifest);
    memset(rec, 0, sizeof *rec);
}

/*  Field readers: each says whether the field has the right type; an
    absent or null optional field leaves the default. */
static bool
s_str(const json_t *doc, const char *name, bool required, const char **out)
{
    const json_t *value = json_object_get(doc, name);
    if (!value || json_is_null(value)) {
        return !required;
    }
    if (!json_is_string(value) || strlen(json_string_value(value)) != json_string_length(value)) {
        return false; /* an embedded NUL would make the C string lie */
    }
    *out = json_string_value(value);
    return !required || **out != '\0';
}

static bool
s_int(const json_t *doc, const char *name, bool required, int64_t *out)
{
    const json_t *value = json_object_get(doc, name);
    if (!value || json_is_null(value)) {
        return !required;
    }
    if (!json_is_integer(value)) {
        return false;
    }
    *out = (int64_t)json_integer_value(value);
    return true;
}

static bool
s_strings(const json_t *doc, const char *name, const json_t **out)
{
    const json_t *value = json_object_get(doc, name);
    if (!value || json_is_null(value)) {
        return true;
    }
    if (!json_is_array(value)) {
        return false;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(value, i, item)
    {
        if (!json_is_string(item)) {
            return false;
        }
    }
    *out = value;
    return true;
}

/*  "dialect": absent or "v2" (every record before v1 support), or "v1". */
static bool
s_dialect(const json_t *doc, bool *v1)
{
    const char *dialect = NULL;
    if (!s_str(doc, "dialect", false, &dialect)) {
        return false;
    }
    *v1 = dialect && strcmp(dialect, "v1") == 0;
    return !dialect || *v1 || strcmp(dialect, "v2") == 0;
}

static bool
s_manifest(fk__grants_rec_t *rec)
{
    return fk_manifest_parse(json_object_get(rec->doc, "manifest"), &rec->manifest, NULL, 0) == 0;
}

/*  Start decoding entry: its payload must be a JSON object. */
static bool
s_begin(const fk_store_entry_t *entry, const char *node, fk__grants_rec_t *rec)
{
    memset(rec, 0, sizeof *rec);
    snprintf(rec->owner, sizeof rec->owner, "%s", entry->owner);
    rec->local = strcmp(entry->owner, node) == 0;
    rec->doc =
        json_loadb(entry->record.payload, entry->record.payload_len, JSON_REJECT_DUPLICATES, NULL);
    return json_is_object(rec->doc);
}

/*  Finish decoding: on failure note the record and leave rec empty. */
static int
s_end(fk_grants_t *self, const fk_store_entry_t *entry, fk__grants_rec_t *rec, bool ok,
      const char *kind)
{
    if (ok) {
        return 0;
    }
    fk__grants_malformed(self, entry->key, entry->owner, kind);
    fk__grants_rec_clear(rec);
    return FK_EPROTO_MALFORMED;
}

/*  Get key's live record and run decode on it; malformed reads as
    absent. */
static int
s_read(fk_grants_t *self, fk_store_txn_t *txn, const char *key,
       int (*decode)(fk_grants_t *, const fk_store_entry_t *, void *), void *out)
{
    fk_store_entry_t entry;
    int rc = fk_store_get(txn, key, NULL, &entry);
    if (rc) {
        return rc;
    }
    rc = decode(self, &entry, out);
    return rc == FK_EPROTO_MALFORMED ? FK_ENOTFOUND : rc;
}

/*  s_read of the record <prefix><name>. */
static int
s_read_under(fk_grants_t *self, fk_store_txn_t *txn, const char *prefix, const char *name,
             int (*decode)(fk_grants_t *, const fk_store_entry_t *, void *), void *out)
{
    char *key = fk_asprintf("%s%s", prefix, name);
    int rc = s_read(self, txn, key, decode, out);
    free(key);
    return rc;
}

static int
s_code_decode(fk_grants_t *self, const fk_store_entry_t *entry, void *arg)
{
    fk__grants_code_t *out = arg;
    memset(out, 0, sizeof *out);
    bool ok = s_begin(entry, fk_store_node(self->store), &out->rec);
    const json_t *doc = out->rec.doc;
    out->kind = "development";
    out->role = "interface";
    out->interval_s = self->interval_s;
    ok = ok && s_str(doc, "user_code", true, &out->user_code) && s_dialect(doc, &out->v1)
         && s_str(doc, "client_id", !out->v1, &out->client_id)
         && s_str(doc, "manifest_hash", true, &out->manifest_hash)
         && s_str(doc, "kind", false, &out->kind) && s_str(doc, "role", false, &out->role)
         && s_int(doc, "created_ms", false, &out->created_ms)
         && s_int(doc, "expires_ms", true, &out->expires_ms)
         && s_int(doc, "interval", false, &out->interval_s) && out->interval_s > 0
         && out->interval_s <= 3600 && s_manifest(&out->rec);
    return s_end(self, entry, &out->rec, ok, "code");
}

int
fk__grants_code_read(fk_grants_t *self, fk_store_txn_t *txn, const char *key,
                     fk__grants_code_t *out)
{
    memset(out, 0, sizeof *out);
    return s_read(self, txn, key, s_code_decode, out);
}

static int
s_approval_decode(fk_grants_t *self, const fk_store_entry_t *entry, void *arg)
{
    fk__grants_approval_t *out = arg;
    bool ok = s_begin(entry, fk_store_node(self->store), &out->rec);
    const json_t *doc = out->rec.doc;
    const char *decision = NULL;
    ok = ok && s_str(doc, "decision", true, &decision)
         && (strcmp(decision, "approved") == 0 || strcmp(decision, "denied") == 0)
         && s_strings(doc, "declined", &out->declined)
         && s_str(doc, "client_id", false, &out->client_id)
         && s_str(doc, "client_token", false, &out->client_token)
         && s_int(doc, "expires_ms", false, &out->expires_ms)
         && s_str(doc, "node", false, &out->node) && s_str(doc, "by", false, &out->by)
         && s_int(doc, "at_ms", false, &out->at_ms);
    out->approved = ok && strcmp(decision, "approved") == 0;
    return s_end(self, entry, &out->rec, ok, "approval");
}

int
fk__grants_approval_read(fk_grants_t *self, fk_store_txn_t *txn, const char *key,
                         fk__grants_approval_t *out)
{
    memset(out, 0, sizeof *out);
    return s_read(self, txn, key, s_approval_decode, out);
}

static int
s_client_decode(fk_grants_t *self, const fk_store_entry_t *entry, void *arg)
{
    fk__grants_client_t *out = arg;
    bool ok = s_begin(entry, fk_store_node(self->store), &out->rec);
    const json_t *doc = out->rec.doc;
    out->kind = "development";
    out->role = "interface";
    ok = ok && s_str(doc, "client_id", true, &out->client_id) && s_dialect(doc, &out->v1)
         && s_str(doc, "manifest_hash", false, &out->manifest_hash)
         && s_str(doc, "kind", false, &out->kind) && s_str(doc, "role", false, &out->role)
         && s_strings(doc, "declined", &out->declined)
         && s_str(doc, "secret_sha256", false, &out->secret_sha256)
         && s_str(doc, "grant", false, &out->grant)
         && s_str(doc, "approved_node", false, &out->approved_node)
         && s_str(doc, "approved_by", false, &out->approved_by)
         && s_int(doc, "created_ms", false, &out->approved_ms)
         && s_int(doc, "approved_ms", false, &out->approved_ms) && s_manifest(&out->rec);
    return s_end(self, entry, &out->rec, ok, "client");
}

int
fk__grants_client_decode(fk_grants_t *self, const fk_store_entry_t *entry,
                         fk__grants_client_t *out)
{
    memset(out, 0, sizeof *out);
    return s_client_decode(self, entry, out);
}

bool
fk__grants_client_revoked(fk_store_txn_t *txn, const char *client_id)
{
    char *key = fk_asprintf("client-revoked/%s", client_id);
    bool revoked = fk__grants_exists(txn, key);
    free(key);
    return revoked;
}

int
fk__grants_client_read(fk_grants_t *self, fk_store_txn_t *txn, const char *client_id,
                       fk__grants_client_t *out)
{
    memset(out, 0, sizeof *out);
    int rc = s_read_under(self, txn, "client/", client_id, s_client_decode, out);
    if (rc == 0 && fk__grants_client_revoked(txn, client_id)) {
        /*  Revoked by an operator on some node: its record stays with its
            owner, but it is gone for every purpose (tokens, claims,
            redeems, bearer checks). */
        fk__grants_rec_clear(&out->rec);
        rc = FK_ENOTFOUND;
    }
    return rc;
}

void
fk__grants_client_approved(json_t *client, const char *node, const char *by, int64_t at_ms)
{
    if (node) {
        json_object_set_new(client, "approved_node", json_string(node));
    }
    if (by) {
        json_object_set_new(client, "approved_by", json_string(by));
    }
    if (at_ms > 0) {
        json_object_set_new(client, "approved_ms", json_integer(at_ms));
    }
}

static int
s_redeem_decode(fk_grants_t *self, const fk_store_entry_t *entry, void *arg)
{
    fk__grants_redeem_t *out = arg;
    bool ok = s_begin(entry, fk_store_node(self->store), &out->rec);
    const json_t *doc = out->rec.doc;
    ok = ok && s_int(doc, "created_ms", false, &out->created_ms)
         && s_int(doc, "expires_ms", false, &out->expires_ms)
         && s_int(doc, "max_redemptions", false, &out->max_redemptions) && out->max_redemptions >= 0
         && s_int(doc, "redemptions", false, &out->redemptions) && out->redemptions >= 0
         && s_str(doc, "manifest_hash", false, &out->manifest_hash)
         && s_str(doc, "client_id", false, &out->client_id);
    return s_end(self, entry, &out->rec, ok, "redeem");
}

int
fk__grants_redeem_read(fk_grants_t *self, fk_store_txn_t *txn, const char *key,
                       fk__grants_redeem_t *out)
{
    memset(out, 0, sizeof *out);
    return s_read(self, txn, key, s_redeem_decode, out);
}

static int
s_refresh_decode(fk_grants_t *self, const fk_store_entry_t *entry, void *arg)
{
    fk__grants_refresh_t *out = arg;
    bool ok = s_begin(entry, fk_store_node(self->store), &out->rec);
    const json_t *doc = out->rec.doc;
    ok = ok && s_str(doc, "client_id", true, &out->client_id)
         && s_int(doc, "expires_ms", true, &out->expires_ms)
         && s_int(doc, "chain_start_ms", false, &out->chain_start_ms)
         && s_str(doc, "family", false, &out->family);
    return s_end(self, entry, &out->rec, ok, "refresh");
}

int
fk__grants_refresh_read(fk_grants_t *self, fk_store_txn_t *txn, const char *key,
                        fk__grants_refresh_t *out)
{
    memset(out, 0, sizeof *out);
    return s_read(self, txn, key, s_refresh_decode, out);
}

/*  "spent": a list of {"key": string, "ms": integer}. */
static bool
s_spent(const json_t *doc, const json_t **out)
{
    const json_t *value = json_object_get(doc, "spent");
    if (!json_is_array(value)) {
        return false;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(value, i, item)
    {
        const char *key = NULL;
        int64_t ms = 0;
        if (!json_is_object(item) || !s_str(item, "key", true, &key) || !s_int(item, "ms", true, &ms)) {
            return false;
        }
    }
    *out = value;
    return true;
}

static int
s_family_decode(fk_grants_t *self, const fk_store_entry_t *entry, void *arg)
{
    fk__grants_family_t *out = arg;
    bool ok = s_begin(entry, fk_store_node(self->store), &out->rec);
    const json_t *doc = out->rec.doc;
    ok = ok && s_str(doc, "client_id", true, &out->client_id) && s_str(doc, "live", true, &out->live)
         && s_spent(doc, &out->spent) && s_int(doc, "expires_ms", true, &out->expires_ms);
    return s_end(self, entry, &out->rec, ok, "refresh-family");
}

int
fk__grants_family_read(fk_grants_t *self, fk_store_txn_t *txn, const char *family,
                       fk__grants_family_t *out)
{
    memset(out, 0, sizeof *out);
    return s_read_under(self, txn, "refresh-family/", family, s_family_decode, out);
}

static int
s_app_decode(fk_grants_t *self, const fk_store_entry_t *entry, void *arg)
{
    fk__grants_app_t *out = arg;
    bool ok = s_begin(entry, fk_store_node(self->store), &out->rec);
    const json_t *doc = out->rec.doc;
    ok = ok && s_str(doc, "identifier", true, &out->identifier)
         && s_str(doc, "version", true, &out->version)
         && s_str(doc, "client_id", true, &out->client_id)
         && s_str(doc, "client_token", true, &out->client_token);
    return s_end(self, entry, &out->rec, ok, "app");
}

int
fk__grants_app_read(fk_grants_t *self, fk_store_txn_t *txn, const char *key, fk__grants_app_t *out)
{
    memset(out, 0, sizeof *out);
    return s_read(self, txn, key, s_app_decode, out);
}

/*  One entry of alias_reports: an object whose alias_id, reason, service
    and instance are strings or null and whose valid is a boolean, each
    field optional (fakts-next sends alias_id null for a key none of whose
    aliases passed). */
static bool
s_alias_report(const json_t *report)
{
    static const char *const strings[] = {"alias_id", "reason", "service", "instance"};
    if (!json_is_object(report)) {
        return false;
    }
    const json_t *valid = json_object_get(report, "valid");
    bool ok = !valid || json_is_boolean(valid) || json_is_null(valid);
    for (size_t i = 0; ok && i < sizeof strings / sizeof strings[0]; i++) {
        const char *text = NULL;
        ok = s_str(report, strings[i], false, &text);
    }
    return ok;
}

static int
s_report_decode(fk_grants_t *self, const fk_store_entry_t *entry, void *arg)
{
    fk__grants_report_t *out = arg;
    memset(out, 0, sizeof *out);
    bool ok = s_begin(entry, fk_store_node(self->store), &out->rec);
    const json_t *doc = out->rec.doc;
    json_t *reports = json_object_get(doc, "alias_reports");
    const json_t *functional = json_object_get(doc, "functional");
    ok = ok && json_is_object(reports) && (!functional || json_is_boolean(functional))
         && s_int(doc, "at_ms", true, &out->at_ms);
    const char *key;
    json_t *report;
    json_object_foreach(reports, key, report)
    {
        ok = ok && s_alias_report(report);
    }
    out->alias_reports = ok ? reports : NULL;
    out->functional = !functional || json_is_true(functional);
    return s_end(self, entry, &out->rec, ok, "report");
}

int
fk__grants_report_decode(fk_grants_t *self, const fk_store_entry_t *entry,
                         fk__grants_report_t *out)
{
    return s_report_decode(self, entry, out);
}

/*  The scan behind the *_latest readers: every owner's record under
    exactly key (a prefix scan also visits longer keys). */
typedef struct {
    fk_grants_t *self;        /* whose decoders */
    const char *key;          /* the exact key */
    fk__grants_report_t *out; /* report: the newest so far, or NULL */
    int64_t newest_ms;        /* the newest time seen */
} s_latest_t;

static int
s_latest_report(void *arg, const fk_store_entry_t *entry)
{
    s_latest_t *latest = arg;
    fk__grants_report_t one;
    if (strcmp(entry->key, latest->key) != 0
        || s_report_decode(latest->self, entry, &one) != 0) {
        return 0;
    }
    if (one.at_ms > latest->newest_ms || !latest->out->rec.doc) {
        fk__grants_rec_clear(&latest->out->rec);
        *latest->out = one;
        latest->newest_ms = one.at_ms;
    } else {
        fk__grants_rec_clear(&one.rec);
    }
    return 0;
}

int
fk__grants_report_latest(fk_grants_t *self, fk_store_txn_t *txn, const char *client_id,
                         fk__grants_report_t *out)
{
    memset(out, 0, sizeof *out);
    char *key = fk_asprintf("report/%s", client_id);
    s_latest_t latest = {.self = self, .key = key, .out = out};
    int rc = fk_store_scan(txn, key, s_latest_report, &latest);
    free(key);
    if (rc) {
        fk__grants_rec_clear(&out->rec);
        return FK_ESTORE;
    }
    return out->rec.doc ? 0 : FK_ENOTFOUND;
}

/*  seen/<client_id>: {"exchange_ms"}; the time, or -1 when malformed. */
static int64_t
s_seen_decode(fk_grants_t *self, const fk_store_entry_t *entry)
{
    fk__grants_rec_t rec;
    int64_t at = 0;
    bool ok = s_begin(entry, fk_store_node(self->store), &rec);
    ok = ok && s_int(rec.doc, "exchange_ms", true, &at) && at > 0;
    s_end(self, entry, &rec, ok, "seen");
    fk__grants_rec_clear(&rec);
    return ok ? at : -1;
}

static int
s_latest_seen(void *arg, const fk_store_entry_t *entry)
{
    s_latest_t *latest = arg;
    if (strcmp(entry->key, latest->key) == 0) {
        int64_t at = s_seen_decode(latest->self, entry);
        latest->newest_ms = at > latest->newest_ms ? at : latest->newest_ms;
    }
    return 0;
}

int64_t
fk__grants_seen_latest(fk_grants_t *self, fk_store_txn_t *txn, const char *client_id)
{
    char *key = fk_asprintf("seen/%s", client_id);
    s_latest_t latest = {.self = self, .key = key};
    fk_store_scan(txn, key, s_latest_seen, &latest);
    free(key);
    return latest.newest_ms;
}

/*  Whether this node's seen/ record under key is younger than
    FK__GRANTS_SEEN_EVERY_MS as of now. */
static bool
s_seen_fresh(fk_grants_t *self, fk_store_txn_t *txn, const char *key, int64_t now)
{
    fk_store_entry_t entry;
    return fk_store_get(txn, key, fk_store_node(self->store), &entry) == 0
           && s_seen_decode(self, &entry) > now - FK__GRANTS_SEEN_EVERY_MS;
}

int
fk__grants_seen_touch(fk_grants_t *self, fk_store_txn_t *txn, const char *client_id)
{
    char *key = fk_asprintf("seen/%s", client_id);
    int64_t now = fk__grants_now(self);
    int rc = 0;
    if (!s_seen_fresh(self, txn, key, now)) {
        json_t *record = json_pack("{s:s, s:I}", "client_id", client_id, "exchange_ms",
                                   (json_int_t)now);
        rc = fk__grants_put(txn, key, record);
        json_decref(record);
    }
    free(key);
    return rc;
}

void
fk__grants_seen_note(fk_grants_t *self, const char *client_id)
{
    char *key = fk_asprintf("seen/%s", client_id);
    fk_store_txn_t *txn;
    bool fresh = true;
    /*  A read first: inside the minute (nearly always, for a busy app)
        this costs no writer lock at all. */
    if (fk_store_read_begin(self->store, &txn) == 0) {
        fresh = s_seen_fresh(self, txn, key, fk__grants_now(self));
        fk_store_txn_end(&txn);
    }
    free(key);
    /*  The time is a hint for operators: a store that cannot take it
        fails nothing the app asked for. */
    if (!fresh && fk_store_write_begin(self->store, &txn) == 0) {
        if (fk__grants_seen_touch(self, txn, client_id) == 0) {
            (void)fk_store_commit(&txn);
        }
        fk_store_txn_end(&txn);
    }
}

/*  An index record ({"code"} or {"client_id"}): the one string field. */
typedef struct {
    fk__grants_rec_t rec; /* doc, owner */
    const char *field;    /* the field to read */
    const char *value;    /* its value */
} s_index_t;

static int
s_index_decode(fk_grants_t *self, const fk_store_entry_t *entry, void *arg)
{
    s_index_t *out = arg;
    const char *field = out->field;
    bool ok = s_begin(entry, fk_store_node(self->store), &out->rec);
    ok = ok && s_str(out->rec.doc, field, true, &out->value);
    return s_end(self, entry, &out->rec, ok, "index");
}

/*  The string field of the index record under key (fresh), or NULL. */
static char *
s_index_get(fk_grants_t *self, fk_store_txn_t *txn, const char *key, const char *field)
{
    s_index_t index = {.field = field};
    char *value = NULL;
    if (s_read(self, txn, key, s_index_decode, &index) == 0) {
        value = fk_strdup(index.value);
    }
    fk__grants_rec_clear(&index.rec);
    return value;
}

char *
fk__grants_ctoken_client(fk_grants_t *self, fk_store_txn_t *txn, const char *client_token)
{
    char *key = fk__grants_hashed_key("ctoken", client_token);
    char *client_id = s_index_get(self, txn, key, "client_id");
    free(key);
    return client_id;
}

int64_t
fk__grants_expiry(const fk_store_entry_t *entry)
{
    json_t *doc = json_loadb(entry->record.payload, entry->record.payload_len, 0, NULL);
    int64_t expires = 0;
    if (!json_is_object(doc) || !s_int(doc, "expires_ms", false, &expires)) {
        expires = 0;
    }
    json_decref(doc);
    return expires;
}

/*  User codes are typed by people: v1 codes are lower-case hex, v2 codes
    upper-case, either may come with dashes or spaces. The index key uses
    the upper-case form without them. */
static char *
s_user_code_index(const char *user_code)
{
    char normal[64];
    size_t n = 0;
    for (const char *p = user_code; *p && n + 1 < sizeof normal; p++) {
        if (*p == '-' || *p == ' ') {
            continue;
        }
        normal[n++] = (char)toupper((unsigned char)*p);
    }
    normal[n] = '\0';
    return fk_asprintf("ucode/%s", normal);
}

int
fk__grants_index_put(fk_store_txn_t *txn, const char *code_key, const char *user_code,
                     const char *client_id, int64_t expires_ms)
{
    const char *hash = code_key + strlen("code/");
    char *key = s_user_code_index(user_code);
    json_t *doc = json_pack("{s:s, s:I}", "code", hash, "expires_ms", (json_int_t)expires_ms);
    int rc = fk__grants_put(txn, key, doc);
    json_decref(doc);
    free(key);
    if (rc == 0 && client_id) {
        key = fk_asprintf("ccode/%s", client_id);
        doc = json_pack("{s:s, s:I}", "code", hash, "expires_ms", (json_int_t)expires_ms);
        rc = fk__grants_put(txn, key, doc);
        json_decref(doc);
        free(key);
    }
    return rc;
}

int
fk__grants_index_delete(fk_store_txn_t *txn, const char *user_code, const char *client_id)
{
    char *key = s_user_code_index(user_code);
    int rc = fk__grants_delete(txn, key);
    free(key);
    if (rc == 0 && client_id) {
        key = fk_asprintf("ccode/%s", client_id);
        rc = fk__grants_delete(txn, key);
        free(key);
    }
    return rc;
}

char *
fk__grants_user_code_key(fk_grants_t *self, fk_store_txn_t *txn, const char *user_code)
{
    char *key = s_user_code_index(user_code);
    char *hash = s_index_get(self, txn, key, "code");
    free(key);
    if (!hash) {
        return NULL;
    }
    /*  A hash is 64 hex digits; anything else cannot name a code. */
    bool ok = strlen(hash) == FK_SHA256_HEX_LEN && strspn(hash, "0123456789abcdef") == strlen(hash);
    char *code_key = ok ? fk_asprintf("code/%s", hash) : NULL;
    free(hash);
    return code_key;
}

bool
fk__grants_client_known(fk_store_txn_t *txn, const char *client_id)
{
    char *key = fk_asprintf("client/%s", client_id);
    bool known = fk__grants_exists(txn, key);
    free(key);
    if (!known) {
        key = fk_asprintf("ccode/%s", client_id);
        known = fk__grants_exists(txn, key);
        free(key);
    }
    return known;
}

json_t *
fk__grants_client_new(const char *client_id, const json_t *manifest, const char *manifest_hash,
                      bool v1, const char *kind, const char *role, const json_t *declined,
                      int64_t created_ms, const char *grant)
{
    return fk_json_must(json_pack("{s:s, s:O, s:s, s:s, s:s, s:s, s:o, s:I, s:s}", "client_id",
                                  client_id, "manifest", manifest, "manifest_hash", manifest_hash,
                                  "dialect", v1 ? "v1" : "v2", "kind", kind, "role", role,
                                  "declined", declined ? json_deep_copy(declined) : json_array(),
                                  "created_ms", (json_int_t)created_ms, "grant", grant));
}

int
fk__grants_v1_credentials(fk_store_txn_t *txn, json_t *client, const char *client_token,
                          fk_grants_why_t *why)
{
    char *secret = fk_grants_v1_client_secret(client_token);
    char hash[FK_SHA256_HEX_LEN + 1];
    fk_sha256_hex(secret, strlen(secret), hash);
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    json_object_set_new(client, "secret_sha256", json_string(hash));
    char *key = fk__grants_hashed_key("ctoken", client_token);
    json_t *index = json_pack("{s:O}", "client_id", json_object_get(client, "client_id"));
    int rc = fk__grants_put(txn, key, index);
    json_decref(index);
    free(key);
    return rc ? fk__grants_store_fail(why, rc) : 0;
}

#define S_SECRET_LABEL "fakts-node v1 client secret"
#define S_TOKEN_LABEL "fakts-node v1 client token:"

char *
fk_grants_v1_client_secret(const char *client_token)
{
    unsigned char mac[32];
    fk_hmac_sha256(client_token, strlen(client_token), S_SECRET_LABEL, strlen(S_SECRET_LABEL), mac);
    char *secret = fk_b64url_encode(mac, sizeof mac);
    OPENSSL_cleanse(mac, sizeof mac);
    return secret;
}

char *
fk_grants_v1_redeem_client_token(const char *redeem_token, const char *client_id)
{
    char *label = fk_asprintf(S_TOKEN_LABEL "%s", client_id);
    unsigned char mac[32];
    fk_hmac_sha256(redeem_token, strlen(redeem_token), label, strlen(label), mac);
    free(label);
    char *token = fk_uuid4_from_bytes(mac);
    OPENSSL_cleanse(mac, sizeof mac);
    return token;
}

typedef struct {
    json_t *rows;                      /* the array filled */
    bool with_owner;                   /* add each record's owner as "node" */
    bool (*accept)(const json_t *row); /* or NULL */
} s_collect_t;

static int
s_collect(void *arg, const fk_store_entry_t *entry)
{
    s_collect_t *collect = arg;
    json_t *row = json_loadb(entry->record.payload, entry->record.payload_len, 0, NULL);
    if (json_is_object(row) && (!collect->accept || collect->accept(row))) {
        if (collect->with_owner) {
            json_object_set_new(row, "node", json_string(entry->owner));
        }
        json_array_append(collect->rows, row);
    }
    json_decref(row);
    return 0;
}

json_t *
fk__grants_collect(fk_grants_t *self, const char *prefix, bool with_owner,
                   bool (*accept)(const json_t *row))
{
    s_collect_t collect = {.rows = json_array(), .with_owner = with_owner, .accept = accept};
    fk_store_txn_t *txn;
    if (fk_store_read_begin(self->store, &txn) == 0) {
        fk_store_scan(txn, prefix, s_collect, &collect);
        fk_store_txn_end(&txn);
    }
    return collect.rows;
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
        len += json_string_length(scope) + 1;
    }
    char *text = fk_calloc(1, len + 1);
    json_array_foreach(scopes, i, scope)
    {
        if (i > 0) {
            strcat(text, " ");
        }
        strcat(text, json_string_value(scope) ? json_string_value(scope) : "");
    }
    json_t *out = json_string(text);
    free(text);
    return out;
}
