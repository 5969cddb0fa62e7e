/*  fk_trust - membership by admission records; see fk_trust.h. */

#include "fk_trust.h"

#include "fk_clock.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_ADMIT "admit/"
#define S_BAN "ban/"

/*  One admission or ban as its record states it. */
typedef struct {
    char *name;                       /* the node it is about */
    char *addr;                       /* its gossip address (admissions only; "" for bans) */
    uint8_t curve[FK_CURVE_KEY_LEN];  /* its CurveZMQ public key */
    uint8_t sign[FK_SIGN_PUBLIC_LEN]; /* its Ed25519 public key */
    char *by;                         /* the member that made the admission or ban */
    int64_t ms;                       /* when, by that member's clock */
} s_fact_t;

struct fk_trust {
    char *self_name;        /* this node's name */
    const fk_identity_t *me; /* this node's keys (borrowed) */
    s_fact_t *members;      /* bindings, sorted by name, this node included */
    size_t count;           /* entries in members */
    s_fact_t *bans;         /* every distinct banned key pair */
    size_t ban_count;       /* entries in bans */
};

static void
s_fact_free(s_fact_t *fact)
{
    free(fact->name);
    free(fact->addr);
    free(fact->by);
    memset(fact, 0, sizeof *fact);
}

static void
s_facts_free(s_fact_t *facts, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        s_fact_free(&facts[i]);
    }
    free(facts);
}

static bool
s_same_keys(const s_fact_t *a, const s_fact_t *b)
{
    return memcmp(a->curve, b->curve, FK_CURVE_KEY_LEN) == 0
           && memcmp(a->sign, b->sign, FK_SIGN_PUBLIC_LEN) == 0;
}

/*  The canonical payload of a fact: fixed key order, compact, so every
    member's copy of one admission is byte-identical (fk_trust_is_news and
    s_put_once compare them as bytes). Bans carry no address. Caller frees. */
static char *
s_payload(const s_fact_t *fact, bool ban)
{
    char curve[41];
    fk_curve_to_z85(fact->curve, curve);
    char *sign = fk_b64url_encode(fact->sign, FK_SIGN_PUBLIC_LEN);
    json_t *doc = ban ? json_pack("{s:s, s:s, s:s, s:s, s:I}", "name", fact->name, "curve", curve,
                                  "sign", sign, "by", fact->by, "ms", (json_int_t)fact->ms)
                      : json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "name", fact->name, "addr",
                                  fact->addr, "curve", curve, "sign", sign, "by", fact->by, "ms",
                                  (json_int_t)fact->ms);
    free(sign);
    char *text = fk_json_dump(fk_json_must(doc));
    json_decref(doc);
    return text;
}

/*  Parse a stored admission or ban. Stored does not mean well-formed: a
    member running another version, or a bug, may have written anything,
    so every field is checked and a bad record is treated as absent.
    Returns 0 or FK_EPROTO_MALFORMED. */
static int
s_parse(const fk_store_entry_t *entry, bool ban, s_fact_t *out)
{
    memset(out, 0, sizeof *out);
    json_t *doc = NULL;
    char err[80];
    if (fk_json_parse_object(entry->record.payload, entry->record.payload_len, &doc, err,
                             sizeof err)
        != 0) {
        return FK_EPROTO_MALFORMED;
    }
    const char *name = fk_json_str(doc, "name");
    const char *addr = ban ? "" : fk_json_str(doc, "addr");
    const char *by = fk_json_str(doc, "by");
    const char *sign = fk_json_str(doc, "sign");
    json_t *ms = json_object_get(doc, "ms");
    uint8_t *sign_bytes = NULL;
    size_t sign_len = 0;
    int rc = FK_EPROTO_MALFORMED;
    if (name && *name && addr && by && sign && json_is_integer(ms)
        && fk_curve_from_z85(fk_json_str(doc, "curve"), out->curve) == 0
        && fk_b64url_decode(sign, strlen(sign), &sign_bytes, &sign_len) == 0
        && sign_len == FK_SIGN_PUBLIC_LEN) {
        memcpy(out->sign, sign_bytes, FK_SIGN_PUBLIC_LEN);
        out->name = fk_strdup(name);
        out->addr = fk_strdup(addr);
        out->by = fk_strdup(by);
        out->ms = (int64_t)json_integer_value(ms);
        rc = 0;
    }
    free(sign_bytes);
    json_decref(doc);
    return rc;
}

/*  This node as a member: its own keys, admitted by nobody in particular. */
static void
s_self_fact(const fk_trust_t *self, s_fact_t *out)
{
    memset(out, 0, sizeof *out);
    out->name = fk_strdup(self->self_name);
    out->addr = fk_strdup("");
    out->by = fk_strdup("");
    memcpy(out->curve, fk_identity_curve_public(self->me), FK_CURVE_KEY_LEN);
    memcpy(out->sign, fk_identity_sign_public(self->me), FK_SIGN_PUBLIC_LEN);
}

fk_trust_t *
fk_trust_new(const char *self_name, const fk_identity_t *me)
{
    fk_trust_t *self = fk_calloc(1, sizeof *self);
    self->self_name = fk_strdup(self_name);
    self->me = me;
    self->members = fk_calloc(1, sizeof *self->members);
    s_self_fact(self, &self->members[0]);
    self->count = 1;
    return self;
}

void
fk_trust_destroy(fk_trust_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_trust_t *self = *self_p;
    s_facts_free(self->members, self->count);
    s_facts_free(self->bans, self->ban_count);
    free(self->self_name);
    free(self);
    *self_p = NULL;
}

static bool
s_is_banned(const s_fact_t *bans, size_t count, const uint8_t curve[FK_CURVE_KEY_LEN],
            const uint8_t sign[FK_SIGN_PUBLIC_LEN])
{
    /*  Either half names the node: a ban of a pair also bans any pair
        reusing one of its keys. */
    for (size_t i = 0; i < count; i++) {
        if (memcmp(bans[i].curve, curve, FK_CURVE_KEY_LEN) == 0
            || (sign && memcmp(bans[i].sign, sign, FK_SIGN_PUBLIC_LEN) == 0)) {
            return true;
        }
    }
    return false;
}

/*  Does admission a come before b? The earliest admission wins a race for
    a name, on every node alike. */
static bool
s_earlier(const s_fact_t *a, const s_fact_t *b)
{
    if (a->ms != b->ms) {
        return a->ms < b->ms;
    }
    int by = strcmp(a->by, b->by);
    if (by != 0) {
        return by < 0;
    }
    return memcmp(a->curve, b->curve, FK_CURVE_KEY_LEN) < 0;
}

typedef struct {
    fk_trust_t *self; /* for the ban list and our own keys */
    bool ban;         /* scanning ban/ (else admit/) */
    s_fact_t *facts;  /* bindings (admit/) or bans (ban/) collected */
    size_t count;     /* entries */
    size_t skipped;   /* malformed records */
} s_scan_t;

static int
s_collect(void *arg, const fk_store_entry_t *entry)
{
    s_scan_t *scan = arg;
    s_fact_t fact;
    const char *prefix = scan->ban ? S_BAN : S_ADMIT;
    if (s_parse(entry, scan->ban, &fact) != 0
        || (!scan->ban && strcmp(entry->key + strlen(prefix), fact.name) != 0)) {
        /*  A record whose key and payload disagree is as bad as garbage:
            admit/b must not bind the name a. */
        scan->skipped++;
        return 0;
    }
    if (scan->ban) {
        if (!s_is_banned(scan->facts, scan->count, fact.curve, fact.sign)) {
            scan->facts = fk_realloc(scan->facts, (scan->count + 1) * sizeof *scan->facts);
            scan->facts[scan->count++] = fact;
        } else {
            s_fact_free(&fact);
        }
        return 0;
    }
    /*  Our own name stays bound to our own keys, whatever others wrote. */
    if (strcmp(fact.name, scan->self->self_name) == 0
        || s_is_banned(scan->self->bans, scan->self->ban_count, fact.curve, fact.sign)) {
        s_fact_free(&fact);
        return 0;
    }
    /*  Entries arrive in key order, so one name's admissions are adjacent. */
    s_fact_t *last = scan->count ? &scan->facts[scan->count - 1] : NULL;
    if (last && strcmp(last->name, fact.name) == 0) {
        if (s_earlier(&fact, last)) {
            s_fact_free(last);
            *last = fact;
        } else {
            s_fact_free(&fact);
        }
        return 0;
    }
    scan->facts = fk_realloc(scan->facts, (scan->count + 1) * sizeof *scan->facts);
    scan->facts[scan->count++] = fact;
    return 0;
}

static const s_fact_t *
s_find(const s_fact_t *facts, size_t count, const char *name)
{
    size_t lo = 0;
    size_t hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(facts[mid].name, name);
        if (cmp == 0) {
            return &facts[mid];
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

static void
s_view(const s_fact_t *fact, fk_trust_member_t *out)
{
    out->name = fact->name;
    out->addr = fact->addr;
    memcpy(out->curve, fact->curve, FK_CURVE_KEY_LEN);
    memcpy(out->sign, fact->sign, FK_SIGN_PUBLIC_LEN);
    out->by = fact->by;
    out->ms = fact->ms;
    fk_identity_fingerprint(fact->curve, fact->sign, out->fingerprint);
}

static int
s_by_name(const void *a, const void *b)
{
    return strcmp(((const s_fact_t *)a)->name, ((const s_fact_t *)b)->name);
}

int
fk_trust_load(fk_trust_t *self, fk_store_txn_t *txn, fk_trust_change_fn changed, void *arg)
{
    s_scan_t bans = {.self = self, .ban = true};
    int rc = fk_store_scan(txn, S_BAN, s_collect, &bans);
    if (rc) {
        s_facts_free(bans.facts, bans.count);
        return rc;
    }
    /*  Admissions are judged against the new ban list. */
    s_fact_t *old_bans = self->bans;
    size_t old_ban_count = self->ban_count;
    self->bans = bans.facts;
    self->ban_count = bans.count;
    s_scan_t admits = {.self = self};
    rc = fk_store_scan(txn, S_ADMIT, s_collect, &admits);
    if (rc) {
        self->bans = old_bans;
        self->ban_count = old_ban_count;
        s_facts_free(bans.facts, bans.count);
        s_facts_free(admits.facts, admits.count);
        return rc;
    }
    s_facts_free(old_bans, old_ban_count);
    if (bans.skipped + admits.skipped > 0) {
        fk_warn("trust: %zu malformed admission or ban record(s) ignored",
                bans.skipped + admits.skipped);
    }
    /*  Ourselves, always, with our own keys. */
    admits.facts = fk_realloc(admits.facts, (admits.count + 1) * sizeof *admits.facts);
    s_self_fact(self, &admits.facts[admits.count++]);
    qsort(admits.facts, admits.count, sizeof *admits.facts, s_by_name);

    int changes = 0;
    for (size_t i = 0; i < admits.count; i++) {
        const s_fact_t *before = s_find(self->members, self->count, admits.facts[i].name);
        if (!before || !s_same_keys(before, &admits.facts[i])) {
            changes++;
            if (changed) {
                fk_trust_member_t was;
                fk_trust_member_t view;
                if (before) {
                    s_view(before, &was);
                }
                s_view(&admits.facts[i], &view);
                changed(arg, admits.facts[i].name, before ? &was : NULL, &view);
            }
        }
    }
    for (size_t i = 0; i < self->count; i++) {
        if (!s_find(admits.facts, admits.count, self->members[i].name)) {
            changes++;
            if (changed) {
                fk_trust_member_t was;
                s_view(&self->members[i], &was);
                changed(arg, self->members[i].name, &was, NULL);
            }
        }
    }
    s_facts_free(self->members, self->count);
    self->members = admits.facts;
    self->count = admits.count;
    return changes;
}

bool
fk_trust_is_news(const fk_trust_t *self, const char *key, const fk_record_t *rec)
{
    if (strncmp(key, S_BAN, strlen(S_BAN)) == 0) {
        return true;
    }
    if (strncmp(key, S_ADMIT, strlen(S_ADMIT)) != 0) {
        return false;
    }
    const s_fact_t *bound = s_find(self->members, self->count, key + strlen(S_ADMIT));
    if (!bound || (rec->flags & FK_RECORD_TOMBSTONE)) {
        /*  A new name is news; so is the delete of an admission of a name
            we hold (it may have been the only one). */
        return bound || !(rec->flags & FK_RECORD_TOMBSTONE);
    }
    char *known = s_payload(bound, false);
    bool same = strlen(known) == rec->payload_len
                && memcmp(known, rec->payload, rec->payload_len) == 0;
    free(known);
    return !same;
}

bool
fk_trust_find(const fk_trust_t *self, const char *name, fk_trust_member_t *out)
{
    const s_fact_t *fact = s_find(self->members, self->count, name);
    if (!fact) {
        return false;
    }
    if (out) {
        s_view(fact, out);
    }
    return true;
}

const char *
fk_trust_name_of(const fk_trust_t *self, const uint8_t curve[FK_CURVE_KEY_LEN])
{
    /*  A linear scan: tables hold tens of members, and this runs once per
        connection (ZAP) and per message, against a few cache lines. */
    for (size_t i = 0; i < self->count; i++) {
        if (memcmp(self->members[i].curve, curve, FK_CURVE_KEY_LEN) == 0) {
            return self->members[i].name;
        }
    }
    return NULL;
}

bool
fk_trust_banned(const fk_trust_t *self, const uint8_t curve[FK_CURVE_KEY_LEN])
{
    return s_is_banned(self->bans, self->ban_count, curve, NULL);
}

size_t
fk_trust_count(const fk_trust_t *self)
{
    return self->count;
}

bool
fk_trust_get(const fk_trust_t *self, size_t i, fk_trust_member_t *out)
{
    if (i >= self->count) {
        return false;
    }
    s_view(&self->members[i], out);
    return true;
}

int
fk_trust_check_record(const fk_trust_t *self, const char *owner, const char *key,
                      const fk_record_t *rec)
{
    const s_fact_t *fact = s_find(self->members, self->count, owner);
    if (!fact || strcmp(owner, self->self_name) == 0) {
        return FK_ENOTFOUND;
    }
    return fk_record_verify(rec, owner, key, fact->sign) ? 0 : FK_EDENIED;
}

/*  Put payload under key as this node unless our own record there holds
    exactly it already. Returns 1 written, 0 unchanged, or an error. */
static int
s_put_once(fk_store_txn_t *txn, const char *owner, const char *key, const char *payload)
{
    fk_store_entry_t entry;
    size_t len = strlen(payload);
    if (fk_store_get(txn, key, owner, &entry) == 0 && entry.record.payload_len == len
        && memcmp(entry.record.payload, payload, len) == 0) {
        return 0;
    }
    int rc = fk_store_put(txn, key, payload, len);
    return rc ? rc : 1;
}

int
fk_trust_admit(const fk_trust_t *self, fk_store_txn_t *txn, const char *name, const char *addr,
               const uint8_t curve[FK_CURVE_KEY_LEN], const uint8_t sign[FK_SIGN_PUBLIC_LEN])
{
    if (!name || !*name || strlen(name) > 128 || !addr || !*addr || strlen(addr) > 255) {
        return FK_EINVAL_INPUT;
    }
    if (strcmp(name, self->self_name) == 0) {
        return FK_EEXISTS;
    }
    if (s_is_banned(self->bans, self->ban_count, curve, sign)) {
        return FK_EDENIED;
    }
    s_fact_t fact = {.name = (char *)(uintptr_t)name,
                     .addr = (char *)(uintptr_t)addr,
                     .by = self->self_name,
                     .ms = fk_clock_wall_ms()};
    memcpy(fact.curve, curve, FK_CURVE_KEY_LEN);
    memcpy(fact.sign, sign, FK_SIGN_PUBLIC_LEN);
    const s_fact_t *bound = s_find(self->members, self->count, name);
    if (bound && !s_same_keys(bound, &fact)) {
        return FK_EEXISTS;
    }
    if (bound) {
        /*  Already a member with these keys: copy the admission that
            stands (same bytes as every other copy) instead of a new one. */
        fact = *bound;
    }
    char *key = fk_asprintf(S_ADMIT "%s", name);
    char *payload = s_payload(&fact, false);
    int rc = s_put_once(txn, self->self_name, key, payload);
    free(payload);
    free(key);
    return rc < 0 ? rc : 0;
}

int
fk_trust_ban(const fk_trust_t *self, fk_store_txn_t *txn, const char *name)
{
    if (strcmp(name, self->self_name) == 0) {
        return FK_EINVAL_INPUT;
    }
    const s_fact_t *bound = s_find(self->members, self->count, name);
    if (!bound) {
        return FK_ENOTFOUND;
    }
    s_fact_t ban = *bound;
    ban.by = self->self_name;
    ban.ms = fk_clock_wall_ms();
    char id[FK_IDENTITY_KEY_ID + 1];
    fk_identity_key_id(ban.curve, ban.sign, id);
    char *key = fk_asprintf(S_BAN "%s", id);
    char *payload = s_payload(&ban, true);
    int rc = s_put_once(txn, self->self_name, key, payload);
    free(payload);
    free(key);
    return rc < 0 ? rc : 0;
}

/*  What a scan of admit/ or ban/ records collected for fk_trust_inherit
    and fk_trust_tidy. */
typedef struct {
    const fk_trust_t *self; /* the table */
    const char *owner;      /* whose records to collect */
    bool ban;               /* scanning ban/ (else admit/) */
    char **keys;            /* record keys collected */
    s_fact_t *facts;        /* and the facts they state */
    size_t count;           /* entries */
} s_pick_t;

static void
s_pick_add(s_pick_t *pick, const char *key, s_fact_t *fact)
{
    pick->keys = fk_realloc(pick->keys, (pick->count + 1) * sizeof *pick->keys);
    pick->facts = fk_realloc(pick->facts, (pick->count + 1) * sizeof *pick->facts);
    pick->keys[pick->count] = fk_strdup(key);
    pick->facts[pick->count++] = *fact;
    memset(fact, 0, sizeof *fact);
}

static void
s_pick_free(s_pick_t *pick)
{
    fk_strv_free(pick->keys, pick->count);
    s_facts_free(pick->facts, pick->count);
}

/*  Collect owner's admissions that are the binding the table holds for
    their name, and owner's bans. */
static int
s_pick_owned(void *arg, const fk_store_entry_t *entry)
{
    s_pick_t *pick = arg;
    s_fact_t fact;
    if (strcmp(entry->owner, pick->owner) != 0 || s_parse(entry, pick->ban, &fact) != 0) {
        return 0;
    }
    const s_fact_t *bound = pick->ban ? NULL
                                      : s_find(pick->self->members, pick->self->count, fact.name);
    bool keep = pick->ban
                || (bound && s_same_keys(bound, &fact) && bound->ms == fact.ms
                    && strcmp(bound->by, fact.by) == 0 && strcmp(bound->addr, fact.addr) == 0
                    && strcmp(fact.name, pick->self->self_name) != 0
                    && strcmp(entry->key + strlen(S_ADMIT), fact.name) == 0);
    if (keep) {
        s_pick_add(pick, entry->key, &fact);
    }
    s_fact_free(&fact);
    return 0;
}

/*  Write this node's own copy of every picked record; *done_p counts
    those written. Returns 0 or a store error. */
static int
s_copy_picked(const fk_trust_t *self, fk_store_txn_t *txn, const s_pick_t *pick, int *done_p)
{
    int rc = 0;
    for (size_t i = 0; i < pick->count && rc >= 0; i++) {
        char *payload = s_payload(&pick->facts[i], pick->ban);
        rc = s_put_once(txn, self->self_name, pick->keys[i], payload);
        *done_p += rc > 0;
        free(payload);
    }
    return rc < 0 ? rc : 0;
}

int
fk_trust_inherit(const fk_trust_t *self, fk_store_txn_t *txn, const char *owner)
{
    /*  Collected first: a scan must not see the writes it causes. */
    s_pick_t admits = {.self = self, .owner = owner};
    s_pick_t bans = {.self = self, .owner = owner, .ban = true};
    int rc = fk_store_scan(txn, S_ADMIT, s_pick_owned, &admits);
    if (rc == 0) {
        rc = fk_store_scan(txn, S_BAN, s_pick_owned, &bans);
    }
    /*  The copies are the binding's own bytes, so an admission copied by
        several nodes is one fact, not a race for the name. */
    int done = 0;
    if (rc == 0) {
        rc = s_copy_picked(self, txn, &admits, &done);
    }
    if (rc == 0) {
        rc = s_copy_picked(self, txn, &bans, &done);
    }
    s_pick_free(&admits);
    s_pick_free(&bans);
    return rc < 0 ? rc : done;
}

/*  Collect this node's admissions of banned keys. */
static int
s_pick_stale(void *arg, const fk_store_entry_t *entry)
{
    s_pick_t *pick = arg;
    s_fact_t fact;
    if (strcmp(entry->owner, pick->self->self_name) != 0 || s_parse(entry, false, &fact) != 0) {
        return 0;
    }
    if (s_is_banned(pick->self->bans, pick->self->ban_count, fact.curve, fact.sign)) {
        s_pick_add(pick, entry->key, &fact);
    }
    s_fact_free(&fact);
    return 0;
}

int
fk_trust_tidy(const fk_trust_t *self, fk_store_txn_t *txn)
{
    s_pick_t stale = {.self = self};
    int rc = fk_store_scan(txn, S_ADMIT, s_pick_stale, &stale);
    int done = 0;
    for (size_t i = 0; i < stale.count && rc >= 0; i++) {
        rc = fk_store_delete(txn, stale.keys[i]);
        done += rc == 0;
    }
    s_pick_free(&stale);
    return rc < 0 ? rc : done;
}
