/*  fk_replica - Scuttlebutt digests and deltas over the store. */

#include "fk_replica.h"

#include "fk_err.h"
#include "fk_log.h"
#include "fk_mem.h"
#include "fk_record.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    fk_msg_t *msg; /* the digest being filled */
    int rc;        /* first error */
} s_digest_t;

static int
s_add_owner(void *arg, const char *owner, uint64_t version)
{
    s_digest_t *digest = arg;
    digest->rc = fk_msg_add_digest(digest->msg, owner, version);
    return digest->rc;
}

int
fk_replica_digest(fk_store_t *store, fk_msg_t *msg)
{
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(store, &txn);
    if (rc) {
        return rc;
    }
    s_digest_t digest = {.msg = msg};
    fk_store_owners(txn, s_add_owner, &digest);
    /*  Our own word on our records, for fk_replica_check_owner. */
    uint64_t sum = fk_store_owner_summary(txn, fk_store_node(store));
    fk_store_txn_end(&txn);
    unsigned char body[8];
    for (int i = 7; i >= 0; i--) {
        body[i] = (unsigned char)(sum & 0xff);
        sum >>= 8;
    }
    return digest.rc ? digest.rc : fk_msg_set_body(msg, body, sizeof body);
}

/*  The version a digest message holds for owner, 0 when absent. */
static uint64_t
s_peer_version(const fk_msg_t *digest, const char *owner)
{
    size_t count = 0;
    const fk_msg_digest_t *entries = fk_msg_digests(digest, &count);
    for (size_t i = 0; i < count; i++) {
        if (strcmp(entries[i].owner, owner) == 0) {
            return entries[i].version;
        }
    }
    return 0;
}

typedef struct {
    const fk_replica_self_t *me; /* identity for new messages */
    fk_replica_send_fn send;     /* where finished messages go */
    void *arg;                   /* its argument */
    fk_msg_t *msg;               /* message being filled, or NULL */
    const char *owner;           /* owner being walked */
    bool owner_in_msg;           /* owner's range already opened in msg */
    uint64_t last;               /* last version of owner added */
    uint64_t held;               /* the owner's version we hold in full: nothing past it goes */
    size_t bytes;                /* record bytes sent so far */
    size_t max_bytes;            /* budget (0: none) */
    int sent;                    /* messages sent */
    bool reset;                  /* the owner's first message tells the peer to drop it first */
    int rc;                      /* first error */
} s_builder_t;

static void
s_flush(s_builder_t *b)
{
    if (b->msg) {
        b->send(b->arg, &b->msg);
        fk_msg_destroy(&b->msg);
        b->sent++;
    }
    b->owner_in_msg = false;
}

/*  s_add_change stops the walk with these. */
#define S_OVER_BUDGET 1 /* the message budget is spent */
#define S_PAST_HELD 2   /* the next record is past what we hold in full */

static int
s_add_change(void *arg, const char *key, uint64_t version, const void *record, size_t len)
{
    s_builder_t *b = arg;
    /*  Records past a gap in what we hold (stored as they came, ahead of
        the versions we lack) stay home: a range that carried them would
        end past the gap, and the peer would advance over versions that
        neither of us has. */
    if (version > b->held) {
        return S_PAST_HELD;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!b->msg) {
            b->msg = fk_msg_new(FK_MSG_DELTA, b->me->name, b->me->addr, b->me->incarnation);
            if (b->reset) {
                fk_msg_set_flags(b->msg, FK_REPLICA_RESET);
                b->reset = false;
            }
        }
        if (!b->owner_in_msg) {
            /*  The range of this owner in this message starts after the
                last version the previous message (or the peer) covered. */
            if ((b->rc = fk_msg_add_digest(b->msg, b->owner, b->last)) != 0) {
                return b->rc;
            }
            b->owner_in_msg = true;
        }
        int rc = fk_msg_add_delta(b->msg, b->owner, key, record, len);
        if (rc == 0) {
            b->last = version;
            b->bytes += len;
            /*  Stop at a record boundary once over budget: the range sent
                so far is complete, the rest waits for the next exchange. */
            return b->max_bytes && b->bytes >= b->max_bytes ? S_OVER_BUDGET : 0;
        }
        if (rc != FK_ETOOBIG || attempt == 1) {
            b->rc = rc;
            return rc;
        }
        s_flush(b);
    }
    return 0;
}

typedef struct {
    char **owners;      /* owner names */
    uint64_t *versions; /* and versions */
    size_t count;       /* entries */
} s_owners_t;

static int
s_collect_owner(void *arg, const char *owner, uint64_t version)
{
    s_owners_t *list = arg;
    list->owners = fk_realloc(list->owners, (list->count + 1) * sizeof *list->owners);
    list->versions = fk_realloc(list->versions, (list->count + 1) * sizeof *list->versions);
    list->owners[list->count] = fk_strdup(owner);
    list->versions[list->count] = version;
    list->count++;
    return 0;
}

static void
s_owners_free(s_owners_t *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->owners[i]);
    }
    free(list->owners);
    free(list->versions);
}

static int
s_walk(fk_store_txn_t *txn, s_builder_t *b, const char *owner, uint64_t after, bool reset)
{
    if (reset) {
        /*  The reset travels in a message of its own, ahead of the
            owner's records, so the peer drops the owner exactly once. */
        s_flush(b);
        b->reset = true;
    }
    uint64_t version = fk_store_owner_version(txn, owner);
    b->owner = owner;
    b->last = after;
    b->held = version;
    b->owner_in_msg = false;
    int rc = fk_store_changes(txn, owner, after, s_add_change, b);
    if (rc < 0 || b->rc) {
        return rc < 0 ? rc : b->rc;
    }
    bool complete = rc == 0 || rc == S_PAST_HELD;
    if (complete && (version > b->last || b->reset)) {
        /*  The walk reached the owner's newest change, yet the owner's
            version is higher (its newest writes were tombstones since
            collected), or a reset found nothing to send: say where the
            range ends explicitly, as a second digest entry. */
        if (!b->msg) {
            b->msg = fk_msg_new(FK_MSG_DELTA, b->me->name, b->me->addr, b->me->incarnation);
            if (b->reset) {
                fk_msg_set_flags(b->msg, FK_REPLICA_RESET);
                b->reset = false;
            }
        }
        if (!b->owner_in_msg && (b->rc = fk_msg_add_digest(b->msg, owner, b->last)) != 0) {
            return b->rc;
        }
        b->owner_in_msg = true;
        if ((b->rc = fk_msg_add_digest(b->msg, owner, version)) != 0) {
            return b->rc;
        }
        b->last = version;
    }
    if (reset) {
        s_flush(b);
    }
    return 0;
}

int
fk_replica_answer(fk_store_t *store, const fk_replica_self_t *me, const fk_msg_t *digest,
                  size_t max_bytes, fk_replica_send_fn send, void *arg)
{
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(store, &txn);
    if (rc) {
        return rc;
    }
    s_owners_t ours = {0};
    fk_store_owners(txn, s_collect_owner, &ours);
    s_builder_t b = {.me = me, .send = send, .arg = arg, .max_bytes = max_bytes};
    for (size_t i = 0; i < ours.count && rc == 0; i++) {
        uint64_t theirs = s_peer_version(digest, ours.owners[i]);
        /*  The reset rule: a peer below our GC floor may still hold
            records whose tombstones we forgot; deltas cannot delete them,
            so it drops the owner and takes everything from version 0. */
        bool reset = theirs > 0 && theirs < fk_store_gc_floor(txn, ours.owners[i])
                     && strcmp(ours.owners[i], digest ? fk_msg_from(digest) : "") != 0;
        if (ours.versions[i] > theirs || reset) {
            rc = s_walk(txn, &b, ours.owners[i], reset ? 0 : theirs, reset);
        }
        if (max_bytes && b.bytes >= max_bytes) {
            break;
        }
    }
    s_flush(&b);
    fk_store_txn_end(&txn);
    s_owners_free(&ours);
    return rc < 0 ? rc : b.sent;
}

int
fk_replica_push(fk_store_t *store, const fk_replica_self_t *me, const char *owner, uint64_t after,
                fk_replica_send_fn send, void *arg, uint64_t *upto_p)
{
    fk_store_txn_t *txn;
    int rc = fk_store_read_begin(store, &txn);
    *upto_p = after;
    if (rc) {
        return rc;
    }
    s_builder_t b = {.me = me, .send = send, .arg = arg};
    rc = s_walk(txn, &b, owner, after, false);
    *upto_p = b.last;
    s_flush(&b);
    fk_store_txn_end(&txn);
    return rc < 0 ? rc : b.sent;
}

bool
fk_replica_peer_ahead(fk_store_t *store, const fk_msg_t *digest)
{
    fk_store_txn_t *txn;
    if (fk_store_read_begin(store, &txn) != 0) {
        return false;
    }
    size_t count = 0;
    const fk_msg_digest_t *entries = fk_msg_digests(digest, &count);
    bool ahead = false;
    for (size_t i = 0; i < count && !ahead; i++) {
        ahead = strcmp(entries[i].owner, fk_store_node(store)) != 0
                && entries[i].version > fk_store_owner_version(txn, entries[i].owner);
    }
    fk_store_txn_end(&txn);
    return ahead;
}

/*  May the records of owner in delta be stored? Every record above the
    version up to which we hold all of owner's changes must decode and
    pass verify;
    one that does not spoils the owner's whole range in this message, so
    no range advances over a record we refused. */
static int
s_range_ok(const fk_msg_t *delta, const char *owner, uint64_t held, fk_replica_verify_fn verify,
           void *arg)
{
    size_t ndeltas = 0;
    const fk_msg_delta_t *deltas = fk_msg_deltas(delta, &ndeltas);
    for (size_t i = 0; i < ndeltas; i++) {
        if (strcmp(deltas[i].owner, owner) != 0) {
            continue;
        }
        fk_record_t rec;
        int rc = fk_record_decode(deltas[i].record, deltas[i].record_len, &rec);
        if (rc != 0) {
            return FK_EPROTO_MALFORMED;
        }
        /*  Every record above what we hold in full is checked, even one
            older than the copy we keep under its key: its version moves
            the owner's range, so an unsigned one could skip versions we
            lack. */
        if (verify && rec.version > held && (rc = verify(arg, owner, deltas[i].key, &rec)) != 0) {
            return rc;
        }
    }
    return 0;
}

/*  Apply owner's records from delta. A record at or below held (the
    version up to which we hold every change of owner) is stale even when
    we do not hold its key: we saw that key's later change or delete, and
    storing it again would resurrect a record whose tombstone is gone.
    Returns the number of records stored, or an error. */
static int
s_apply_range(fk_store_txn_t *txn, const fk_msg_t *delta, const char *owner, uint64_t held,
              uint64_t *last_p)
{
    size_t ndeltas = 0;
    const fk_msg_delta_t *deltas = fk_msg_deltas(delta, &ndeltas);
    int applied = 0;
    for (size_t i = 0; i < ndeltas; i++) {
        if (strcmp(deltas[i].owner, owner) != 0) {
            continue;
        }
        fk_record_t rec;
        if (fk_record_decode(deltas[i].record, deltas[i].record_len, &rec) != 0) {
            return FK_EPROTO_MALFORMED;
        }
        if (rec.version > *last_p) {
            *last_p = rec.version;
        }
        if (rec.version <= held) {
            continue;
        }
        int rc = fk_store_apply(txn, owner, deltas[i].key, deltas[i].record, deltas[i].record_len);
        if (rc < 0) {
            return rc;
        }
        applied += rc;
    }
    return applied;
}

typedef struct {
    char *owner;   /* an owner with new records in this message */
    uint64_t from; /* its range in the message started after this version */
} s_news_t;

int
fk_replica_apply(fk_store_t *store, const fk_msg_t *delta, fk_replica_verify_fn verify,
                 void *verify_arg, fk_replica_news_fn news, void *news_arg)
{
    size_t nranges = 0;
    const fk_msg_digest_t *ranges = fk_msg_digests(delta, &nranges);
    const char *me = fk_store_node(store);
    fk_store_txn_t *txn;
    int rc = fk_store_write_begin(store, &txn);
    if (rc) {
        return rc;
    }
    /*  Only the owner may tell us to drop its records: anyone else could
        send the flag with an empty range and erase what we hold. A peer
        that finds us below its GC floor sends the full copy anyway, and
        the owner's own digest (fk_replica_check_owner) catches what that
        leaves behind. */
    bool reset = (fk_msg_flags(delta) & FK_REPLICA_RESET) && nranges > 0
                 && strcmp(ranges[0].owner, me) != 0
                 && strcmp(ranges[0].owner, fk_msg_from(delta)) == 0;
    int applied = 0;
    s_news_t *fresh = NULL;
    size_t fresh_count = 0;
    for (size_t r = 0; r < nranges && rc >= 0; r++) {
        const char *owner = ranges[r].owner;
        bool first = true;
        for (size_t q = 0; q < r && first; q++) {
            first = strcmp(ranges[q].owner, owner) != 0;
        }
        if (!first || strcmp(owner, me) == 0) {
            continue; /* a second entry is the range's explicit end, read below */
        }
        bool reset_owner = reset && r == 0;
        uint64_t held = reset_owner ? 0 : fk_store_owner_version(txn, owner);
        int ok = s_range_ok(delta, owner, held, verify, verify_arg);
        if (ok == FK_EPROTO_MALFORMED) {
            rc = ok; /* garbage spoils the whole message, as it always did */
            break;
        }
        if (ok != 0) {
            fk_debug("replica: records of %s from %s refused: %s", owner, fk_msg_from(delta),
                     fk_strerror(ok));
            continue;
        }
        if (reset_owner && (rc = fk_store_drop_owner(txn, owner)) != 0) {
            break;
        }
        /*  An explicit end past the last record (collected tombstones)
            is the sender's word on how far the owner got, and no
            signature backs it. Where records must carry their owner's
            signature (verify), only the owner's word counts: a member
            relaying "ends at 2^64-1" would otherwise make every later
            write of the owner look stale on every node, for good. From
            anyone else the range ends at its last record; the owner's
            answer to our digest brings its end. */
        bool end_trusted = !verify || strcmp(owner, fk_msg_from(delta)) == 0;
        uint64_t to = ranges[r].version;
        for (size_t q = r + 1; q < nranges && end_trusted; q++) {
            if (strcmp(ranges[q].owner, owner) == 0 && ranges[q].version > to) {
                to = ranges[q].version;
            }
        }
        int got = s_apply_range(txn, delta, owner, held, &to);
        if (got < 0) {
            rc = got;
            break;
        }
        if (got > 0) {
            fresh = fk_realloc(fresh, (fresh_count + 1) * sizeof *fresh);
            fresh[fresh_count].owner = fk_strdup(owner);
            fresh[fresh_count++].from = ranges[r].version;
        }
        applied += got;
        fk_store_owner_advance(txn, owner, ranges[r].version, to);
    }
    if (rc >= 0) {
        rc = fk_store_commit(&txn);
    }
    fk_store_txn_end(&txn);
    for (size_t i = 0; i < fresh_count; i++) {
        if (rc == 0 && news) {
            news(news_arg, fresh[i].owner, fresh[i].from);
        }
        free(fresh[i].owner);
    }
    free(fresh);
    return rc < 0 ? rc : applied;
}

static int
s_any_change(void *arg, const char *key, uint64_t version, const void *record, size_t len)
{
    (void)arg;
    (void)key;
    (void)version;
    (void)record;
    (void)len;
    return 1;
}

/*  Whether our copy of owner's records is what the owner held at version,
    with summary theirs, and differs from it. We compare only a copy that
    is complete up to version and holds nothing past it: records stored
    ahead of a gap may already replace keys the owner still had then. */
static bool
s_summary_differs(fk_store_txn_t *txn, const char *owner, uint64_t version, uint64_t theirs)
{
    return fk_store_owner_version(txn, owner) == version
           && fk_store_changes(txn, owner, version, s_any_change, NULL) == 0
           && fk_store_owner_summary(txn, owner) != theirs;
}

bool
fk_replica_check_owner(fk_store_t *store, const fk_msg_t *digest)
{
    size_t body_len = 0;
    const unsigned char *body = fk_msg_body(digest, &body_len);
    const char *owner = fk_msg_from(digest);
    if (body_len != 8 || strcmp(owner, fk_store_node(store)) == 0) {
        return false;
    }
    uint64_t theirs = 0;
    for (size_t i = 0; i < 8; i++) {
        theirs = theirs << 8 | body[i];
    }
    uint64_t version = 0;
    size_t count = 0;
    const fk_msg_digest_t *entries = fk_msg_digests(digest, &count);
    for (size_t i = 0; i < count; i++) {
        if (strcmp(entries[i].owner, owner) == 0) {
            version = entries[i].version;
        }
    }
    /*  A read first: this runs for every digest an owner sends, and all
        but a lying relay's victims hold exactly what the owner holds. */
    fk_store_txn_t *txn;
    if (version == 0 || fk_store_read_begin(store, &txn) != 0) {
        return false;
    }
    bool differs = s_summary_differs(txn, owner, version, theirs);
    fk_store_txn_end(&txn);
    if (!differs || fk_store_write_begin(store, &txn) != 0) {
        return false;
    }
    differs = s_summary_differs(txn, owner, version, theirs);
    if (differs && fk_store_drop_owner(txn, owner) == 0 && fk_store_commit(&txn) == 0) {
        fk_warn("replica: the records of %s we held differ from its own; fetching them again",
                owner);
    } else {
        differs = false;
    }
    fk_store_txn_end(&txn);
    return differs;
}
