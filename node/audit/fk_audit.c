/*  fk_audit - the audit log as node-owned, append-only records. */

#include "fk_audit.h"

#include "fk_clock.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_PREFIX "audit/"
#define S_PREFIX_LEN (sizeof S_PREFIX - 1)
#define S_HEX 16                       /* hex digits of the time and the sequence in a key */
#define S_DELETES_PER_TXN 1000         /* a sweep holds the writer lock for this many at most */
#define S_MALFORMED_LOG_EVERY_MS 60000 /* a malformed entry is logged at most this often */

struct fk_audit {
    fk_store_t *store;              /* borrowed */
    int64_t retention_ms;           /* own entries older than this are swept */
    int64_t max_entries;            /* own entries kept at most */
    fk_audit_clock_fn clock;        /* wall clock, or NULL */
    void *clock_arg;                /* clock's argument */
    atomic_uint_fast64_t malformed; /* entries that failed to decode, in all */
    fk_log_limit_t malformed_log;   /* malformed entries are logged once a minute at most */
};

fk_audit_t *
fk_audit_new(const fk_audit_opts_t *opts)
{
    assert(opts && opts->store);
    fk_audit_t *self = fk_calloc(1, sizeof *self);
    self->store = opts->store;
    self->retention_ms = (opts->retention_s > 0 ? opts->retention_s : FK_AUDIT_RETENTION_S) * 1000;
    self->max_entries = opts->max_entries > 0 ? opts->max_entries : FK_AUDIT_MAX_ENTRIES;
    self->clock = opts->clock;
    self->clock_arg = opts->clock_arg;
    atomic_init(&self->malformed, 0);
    fk_log_limit_init(&self->malformed_log);
    return self;
}

void
fk_audit_destroy(fk_audit_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_log_limit_fini(&(*self_p)->malformed_log);
    free(*self_p);
    *self_p = NULL;
}

static int64_t
s_now(const fk_audit_t *self)
{
    return self->clock ? self->clock(self->clock_arg) : fk_clock_wall_ms();
}

/*  ---------------------------------------------------------------------
    Writing
    --------------------------------------------------------------------- */

/*  text as a JSON string safe to store and to print: at most
    FK_AUDIT_MAX_FIELD bytes (cut before a continuation byte, so a
    character is never split), control characters as '?', and, when what
    is left is not UTF-8, every non-ASCII byte as '?'. */
static json_t *
s_clean(const char *text)
{
    size_t len = text ? strlen(text) : 0;
    if (len > FK_AUDIT_MAX_FIELD) {
        len = FK_AUDIT_MAX_FIELD;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) {
            len--;
        }
    }
    char *copy = fk_strndup(text ? text : "", len);
    for (char *p = copy; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }
    json_t *value = json_stringn(copy, len);
    if (!value) {
        for (char *p = copy; *p; p++) {
            if ((unsigned char)*p >= 0x80) {
                *p = '?';
            }
        }
        value = fk_json_must(json_stringn(copy, len));
    }
    free(copy);
    return value;
}

int
fk_audit_write(fk_audit_t *self, fk_store_txn_t *txn, const char *actor, const char *from,
               const char *action, const char *subject, json_t *detail)
{
    assert(self && txn);
    const char *node = fk_store_node(self->store);
    int64_t now = s_now(self);
    if (now < 0) {
        now = 0;
    }
    /*  The sequence is the version this very put gets from the owner's
        counter (fk_store_put takes the next one), so it never repeats,
        across restarts too, whatever the clock does. */
    uint64_t seq = fk_store_owner_version(txn, node) + 1;
    char *key = fk_asprintf(S_PREFIX "%016llx-%s-%016llx", (unsigned long long)now, node,
                            (unsigned long long)seq);
    json_t *entry = json_object();
    fk_json_set(entry, "ts_ms", json_integer(now));
    fk_json_set(entry, "node", s_clean(node));
    fk_json_set(entry, "actor", s_clean(actor));
    fk_json_set(entry, "from", s_clean(from));
    fk_json_set(entry, "action", s_clean(action));
    fk_json_set(entry, "subject", s_clean(subject));
    if (json_is_object(detail)) {
        fk_json_set(entry, "detail", json_incref(detail));
    }
    json_decref(detail);
    char *payload = fk_json_dump(entry);
    json_decref(entry);
    int rc = fk_store_put(txn, key, payload, strlen(payload));
    free(payload);
    free(key);
    return rc;
}

int
fk_audit_append(fk_audit_t *self, const char *actor, const char *from, const char *action,
                const char *subject, json_t *detail)
{
    assert(self);
    fk_store_txn_t *txn;
    int rc = fk_store_write_begin(self->store, &txn);
    if (rc) {
        json_decref(detail);
        return rc;
    }
    rc = fk_audit_write(self, txn, actor, from, action, subject, detail);
    if (rc) {
        fk_store_txn_end(&txn);
        return rc;
    }
    return fk_store_commit(&txn);
}

/*  ---------------------------------------------------------------------
    Reading: one decoder for what other nodes wrote
    --------------------------------------------------------------------- */

/*  The value of S_HEX lowercase hex digits at text, or -1. */
static int64_t
s_hex(const char *text)
{
    uint64_t value = 0;
    for (int i = 0; i < S_HEX; i++) {
        char c = text[i];
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (digit < 0) {
            return -1;
        }
        value = value << 4 | (uint64_t)digit;
    }
    return value > (uint64_t)INT64_MAX ? -1 : (int64_t)value;
}

/*  The time in an entry's key when the key is well formed for owner
    ("audit/<16 hex>-<owner>-<16 hex>"), else -1. */
static int64_t
s_key_time(const char *key, const char *owner)
{
    size_t len = strlen(key);
    size_t owner_len = strlen(owner);
    if (len != S_PREFIX_LEN + S_HEX + 1 + owner_len + 1 + S_HEX
        || strncmp(key, S_PREFIX, S_PREFIX_LEN) != 0) {
        return -1;
    }
    const char *p = key + S_PREFIX_LEN;
    if (p[S_HEX] != '-' || memcmp(p + S_HEX + 1, owner, owner_len) != 0
        || p[S_HEX + 1 + owner_len] != '-' || s_hex(p + S_HEX + 1 + owner_len + 1) < 0) {
        return -1;
    }
    return s_hex(p);
}

/*  A stored text field: a string of at most FK_AUDIT_MAX_FIELD bytes
    without control characters (the writer's s_clean guarantees it). */
static bool
s_field_ok(const json_t *value)
{
    if (!json_is_string(value) || json_string_length(value) > FK_AUDIT_MAX_FIELD) {
        return false;
    }
    const char *text = json_string_value(value);
    size_t len = json_string_length(value);
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) {
            return false; /* a NUL inside included: the C string would lie */
        }
    }
    return true;
}

int
fk_audit_decode(const char *key, const char *owner, const void *payload, size_t len,
                json_t **entry_p)
{
    *entry_p = NULL;
    int64_t key_ms = key && owner ? s_key_time(key, owner) : -1;
    if (key_ms < 0 || !payload) {
        return FK_EPROTO_MALFORMED;
    }
    json_t *doc = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
    static const char *const fields[] = {"actor", "from", "action", "subject"};
    bool ok = json_is_object(doc) && json_is_integer(json_object_get(doc, "ts_ms"))
              && json_integer_value(json_object_get(doc, "ts_ms")) == key_ms
              && json_is_string(json_object_get(doc, "node"))
              && strcmp(json_string_value(json_object_get(doc, "node")), owner) == 0;
    for (size_t i = 0; ok && i < sizeof fields / sizeof fields[0]; i++) {
        ok = s_field_ok(json_object_get(doc, fields[i]));
    }
    json_t *detail = ok ? json_object_get(doc, "detail") : NULL;
    ok = ok && json_string_length(json_object_get(doc, "action")) > 0
         && (!detail || json_is_object(detail));
    if (!ok) {
        json_decref(doc);
        return FK_EPROTO_MALFORMED;
    }
    /*  A fresh object in one order, with only the known fields: what a
        newer node may add is not passed on unchecked. */
    json_t *entry = json_object();
    fk_json_set(entry, "id", fk_json_must(json_string(key + S_PREFIX_LEN)));
    fk_json_set(entry, "ts_ms", json_integer(key_ms));
    fk_json_set(entry, "node", json_incref(json_object_get(doc, "node")));
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        fk_json_set(entry, fields[i], json_incref(json_object_get(doc, fields[i])));
    }
    if (detail) {
        fk_json_set(entry, "detail", json_incref(detail));
    }
    json_decref(doc);
    *entry_p = entry;
    return 0;
}

uint64_t
fk_audit_malformed(fk_audit_t *self)
{
    return atomic_load(&self->malformed);
}

/*  Count a malformed entry; log it at most once a minute, with how many
    went unlogged, so a peer sending garbage cannot flood the log. */
static void
s_malformed(fk_audit_t *self, const fk_store_entry_t *entry)
{
    atomic_fetch_add(&self->malformed, 1);
    uint64_t skipped = 0;
    bool log = fk_log_limit_pass(&self->malformed_log, fk_clock_mono_ms(),
                                 S_MALFORMED_LOG_EVERY_MS, &skipped);
    if (log) {
        fk_warn("audit: ignoring malformed entry %.200s of %.64s (%llu more since the last "
                "warning)",
                entry->key, entry->owner, (unsigned long long)skipped);
    }
}

typedef struct {
    fk_audit_t *self; /* for the malformed count */
    int64_t since_ms; /* entries before this are skipped */
    size_t skip;      /* entries at or after since_ms to pass over first (the older ones) */
    size_t seen;      /* entries at or after since_ms met so far */
    json_t *out;      /* the entries kept */
} s_list_t;

/*  Whether an entry is at or after since_ms, by the time its key says:
    the key alone decides, so a listing parses no payload it does not
    return. */
static bool
s_in_range(const s_list_t *list, const fk_store_entry_t *entry)
{
    int64_t ms = s_key_time(entry->key, entry->owner);
    return ms < 0 || ms >= list->since_ms; /* a bad key is in range, to be counted malformed */
}

static int
s_count_one(void *arg, const fk_store_entry_t *entry)
{
    s_list_t *list = arg;
    list->seen += s_in_range(list, entry);
    return 0;
}

static int
s_list_one(void *arg, const fk_store_entry_t *entry)
{
    s_list_t *list = arg;
    if (!s_in_range(list, entry) || list->seen++ < list->skip) {
        return 0;
    }
    json_t *decoded = NULL;
    if (fk_audit_decode(entry->key, entry->owner, entry->record.payload, entry->record.payload_len,
                        &decoded)
        != 0) {
        s_malformed(list->self, entry);
        return 0;
    }
    fk_json_append(list->out, decoded);
    return 0;
}

int
fk_audit_list(fk_audit_t *self, int64_t since_ms, size_t limit, json_t **entries_p)
{
    *entries_p = NULL;
    s_list_t list = {.self = self, .since_ms = since_ms, .out = json_array()};
    fk_store_txn_t *txn = NULL;
    int rc = fk_store_read_begin(self->store, &txn);
    /*  Two passes over one snapshot: the first counts the entries in range
        by their keys, so the second decodes only the newest limit of them
        (measured with 20,000 entries: 269 ms for the newest 100 when every
        payload was parsed, 32 ms this way). The scan has no start key,
        so both passes read every entry's key. */
    if (rc == 0 && limit > 0) {
        rc = fk_store_scan(txn, S_PREFIX, s_count_one, &list);
        list.skip = list.seen > limit ? list.seen - limit : 0;
        list.seen = 0;
    }
    if (rc == 0) {
        rc = fk_store_scan(txn, S_PREFIX, s_list_one, &list);
    }
    fk_store_txn_end(&txn);
    if (rc) {
        json_decref(list.out);
        return rc;
    }
    *entries_p = list.out;
    return 0;
}

/*  ---------------------------------------------------------------------
    Retention
    --------------------------------------------------------------------- */

typedef struct {
    const char *node; /* the local node: only its entries are swept */
    json_t *keys;     /* its entries' keys, oldest first */
    json_t *times;    /* and their times */
} s_own_t;

static int
s_own_one(void *arg, const fk_store_entry_t *entry)
{
    s_own_t *own = arg;
    if (strcmp(entry->owner, own->node) != 0) {
        return 0;
    }
    /*  A key of ours that does not parse (a bug, or an older version) is
        swept at once: nothing reads it. */
    int64_t ms = s_key_time(entry->key, entry->owner);
    fk_json_append(own->keys, fk_json_must(json_string(entry->key)));
    fk_json_append(own->times, json_integer(ms));
    return 0;
}

int
fk_audit_sweep(fk_audit_t *self)
{
    s_own_t own = {.node = fk_store_node(self->store), .keys = json_array(), .times = json_array()};
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(self->store, &txn);
    if (rc == 0) {
        rc = fk_store_scan(txn, S_PREFIX, s_own_one, &own);
        fk_store_txn_end(&txn);
    }
    int64_t cutoff = s_now(self) - self->retention_ms;
    size_t total = json_array_size(own.keys);
    size_t over = total > (size_t)self->max_entries ? total - (size_t)self->max_entries : 0;
    json_t *doomed = json_array();
    for (size_t i = 0; rc == 0 && i < total; i++) {
        if (i < over || json_integer_value(json_array_get(own.times, i)) < cutoff) {
            fk_json_append(doomed, json_incref(json_array_get(own.keys, i)));
        }
    }
    /*  Deletes in batches, so a sweep of many entries never holds the
        writer lock long; the scan above ran without it. */
    int deleted = 0;
    size_t count = json_array_size(doomed);
    for (size_t i = 0; rc == 0 && i < count;) {
        if ((rc = fk_store_write_begin(self->store, &txn)) != 0) {
            break;
        }
        int batch = 0;
        for (; rc == 0 && i < count && batch < S_DELETES_PER_TXN; i++) {
            rc = fk_store_delete(txn, json_string_value(json_array_get(doomed, i)));
            if (rc == FK_ENOTFOUND) {
                rc = 0; /* gone meanwhile: a concurrent sweep */
            } else if (rc == 0) {
                batch++;
            }
        }
        if (rc == 0) {
            rc = fk_store_commit(&txn);
            deleted += rc == 0 ? batch : 0;
        } else {
            fk_store_txn_end(&txn);
        }
    }
    json_decref(doomed);
    json_decref(own.keys);
    json_decref(own.times);
    return rc ? rc : deleted;
}

/*  ---------------------------------------------------------------------
    "since"
    --------------------------------------------------------------------- */

/*  Read exactly n decimal digits at *p into *out and advance *p. */
static bool
s_digits(const char **p, int n, int *out)
{
    int value = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') {
            return false;
        }
        value = value * 10 + (c - '0');
    }
    *p += n;
    *out = value;
    return true;
}

/*  RFC 3339 date-time (section 5.6): full-date "T" full-time, with 't' or
    ' ' accepted for "T" (its note), fractions kept to the millisecond,
    and "Z" or a numeric offset. */
static int
s_rfc3339(const char *text, int64_t *ms_p)
{
    const char *p = text;
    int year, month, day, hour, minute, second;
    if (!s_digits(&p, 4, &year) || *p++ != '-' || !s_digits(&p, 2, &month) || *p++ != '-'
        || !s_digits(&p, 2, &day) || (*p != 'T' && *p != 't' && *p != ' ')) {
        return FK_EINVAL_INPUT;
    }
    p++;
    if (!s_digits(&p, 2, &hour) || *p++ != ':' || !s_digits(&p, 2, &minute) || *p++ != ':'
        || !s_digits(&p, 2, &second)) {
        return FK_EINVAL_INPUT;
    }
    int64_t ms = 0;
    if (*p == '.') {
        p++;
        int scale = 100;
        if (*p < '0' || *p > '9') {
            return FK_EINVAL_INPUT;
        }
        for (; *p >= '0' && *p <= '9'; p++) {
            ms += (*p - '0') * scale;
            scale /= 10;
        }
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int oh, om;
        if (!s_digits(&p, 2, &oh) || *p++ != ':' || !s_digits(&p, 2, &om) || oh > 23 || om > 59) {
            return FK_EINVAL_INPUT;
        }
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return FK_EINVAL_INPUT;
    }
    static const int days_in[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (*p || month < 1 || month > 12 || day < 1 || day > days_in[month - 1] || hour > 23
        || minute > 59 || second > 60) {
        return FK_EINVAL_INPUT;
    }
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = month - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = minute,
                    .tm_sec = second};
    time_t seconds = timegm(&tm);
    if (seconds == (time_t)-1 && !(year == 1969 && month == 12 && day == 31)) {
        return FK_EINVAL_INPUT;
    }
    *ms_p = ((int64_t)seconds - offset_s) * 1000 + ms;
    return 0;
}

int
fk_audit_parse_since(const char *text, int64_t now_ms, int64_t *since_ms_p)
{
    if (!text || !*text) {
        return FK_EINVAL_INPUT;
    }
    size_t digits = strspn(text, "0123456789");
    if (digits > 0 && digits <= 15 && (text[digits] == '\0' || text[digits + 1] == '\0')) {
        long long value = strtoll(text, NULL, 10);
        if (text[digits] == '\0') {
            *since_ms_p = value; /* Unix milliseconds */
            return 0;
        }
        static const struct {
            char unit;
            int64_t ms;
        } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}};
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            /*  At most 100 years back: no overflow, whatever the unit. */
            if (text[digits] == units[i].unit && value <= 36500LL * 86400000 / units[i].ms) {
                *since_ms_p = now_ms - value * units[i].ms;
                return 0;
            }
        }
    }
    int64_t ms = 0;
    int rc = s_rfc3339(text, &ms);
    if (rc == 0) {
        *since_ms_p = ms;
    }
    return rc;
}
