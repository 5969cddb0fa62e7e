/*  Tests for fk_replica: digests and deltas between two stores, through
    the real wire codec. */

#include "fk_err.h"
#include "fk_msg.h"
#include "fk_replica.h"
#include "fk_testdir.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *s_dir_a;
static char *s_dir_b;
static fk_store_t *s_a;
static fk_store_t *s_b;

static void
s_setup(void)
{
    s_dir_a = fk_testdir_make("fk_replica_a");
    s_dir_b = fk_testdir_make("fk_replica_b");
    cr_assert_eq(fk_store_open(&s_a, s_dir_a, "a", 256u << 20, FK_STORE_SYNC_NONE), 0);
    cr_assert_eq(fk_store_open(&s_b, s_dir_b, "b", 256u << 20, FK_STORE_SYNC_NONE), 0);
}

static void
s_teardown(void)
{
    fk_store_destroy(&s_a);
    fk_store_destroy(&s_b);
    fk_testdir_remove(&s_dir_a);
    fk_testdir_remove(&s_dir_b);
}

TestSuite(fk_replica, .init = s_setup, .fini = s_teardown);

static void
s_put(fk_store_t *store, const char *key, const char *value, size_t len)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(store, &txn), 0);
    cr_assert_eq(fk_store_put(txn, key, value, len), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
}

typedef struct {
    fk_store_t *into; /* store applying */
    int messages;     /* messages delivered */
    int applied;      /* records new to the receiver */
    bool drop_first;  /* lose the first message */
    fk_replica_verify_fn verify; /* the receiver's judge of new records, or NULL */
    void *verify_arg;            /* its argument */
} s_wire_t;

/*  The "network": encode, decode, apply, as the cluster actor does. */
static void
s_deliver(void *arg, fk_msg_t **msg_p)
{
    s_wire_t *wire = arg;
    char *buf = NULL;
    size_t len = 0;
    cr_assert_eq(fk_msg_encode(*msg_p, &buf, &len), 0);
    cr_assert_leq(len, FK_MSG_MAX_SIZE);
    fk_msg_destroy(msg_p);
    wire->messages++;
    if (wire->drop_first && wire->messages == 1) {
        free(buf);
        return;
    }
    fk_msg_t *msg = NULL;
    cr_assert_eq(fk_msg_decode(buf, len, &msg), 0);
    int applied = fk_replica_apply(wire->into, msg, wire->verify, wire->verify_arg, NULL, NULL);
    cr_assert_geq(applied, 0);
    wire->applied += applied;
    fk_msg_destroy(&msg);
    free(buf);
}

/*  One anti-entropy exchange: b sends its digest, a answers. */
static s_wire_t
s_sync_a_to_b(bool drop_first)
{
    fk_msg_t *digest = fk_msg_new(FK_MSG_DIGEST, "b", "127.0.0.2:1", 1);
    cr_assert_eq(fk_replica_digest(s_b, digest), 0);
    s_wire_t wire = {.into = s_b, .drop_first = drop_first};
    fk_replica_self_t me = {.name = "a", .addr = "127.0.0.1:1", .incarnation = 1};
    cr_assert_geq(fk_replica_answer(s_a, &me, digest, 0, s_deliver, &wire), 0);
    fk_msg_destroy(&digest);
    return wire;
}

static void
s_views_equal(void)
{
    char va[65];
    char vb[65];
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_a, &txn), 0);
    fk_store_view(txn, va);
    fk_store_txn_end(&txn);
    cr_assert_eq(fk_store_read_begin(s_b, &txn), 0);
    fk_store_view(txn, vb);
    fk_store_txn_end(&txn);
    cr_assert_str_eq(va, vb);
}

Test(fk_replica, an_exchange_brings_the_peer_everything_once)
{
    s_put(s_a, "svc/x/1", "one", 3);
    s_put(s_a, "svc/x/2", "two", 3);
    s_wire_t wire = s_sync_a_to_b(false);
    cr_assert_eq(wire.messages, 1);
    cr_assert_eq(wire.applied, 2);
    s_views_equal();
    wire = s_sync_a_to_b(false);
    cr_assert_eq(wire.messages, 0, "an up-to-date peer is sent nothing");
}

Test(fk_replica, large_states_travel_in_bounded_chunks)
{
    char *value = malloc(60000);
    memset(value, 'v', 60000);
    for (int i = 0; i < 40; i++) {
        char key[32];
        snprintf(key, sizeof key, "big/%02d", i);
        s_put(s_a, key, value, 60000);
    }
    free(value);
    s_wire_t wire = s_sync_a_to_b(false);
    cr_assert_geq(wire.messages, 9, "2.4 MB must not travel as one message (%d)", wire.messages);
    cr_assert_eq(wire.applied, 40);
    s_views_equal();
}

Test(fk_replica, a_lost_chunk_is_repaired_by_the_next_exchange_without_a_gap)
{
    char *value = malloc(60000);
    memset(value, 'v', 60000);
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof key, "big/%02d", i);
        s_put(s_a, key, value, 60000);
    }
    free(value);
    s_wire_t wire = s_sync_a_to_b(true);
    cr_assert_gt(wire.messages, 1);
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_b, &txn), 0);
    cr_assert_eq(fk_store_owner_version(txn, "a"), 0,
                 "later chunks applied, but the version must not pass the lost one");
    fk_store_txn_end(&txn);
    s_sync_a_to_b(false);
    s_views_equal();
}

Test(fk_replica, peer_ahead_detects_what_we_lack)
{
    s_put(s_a, "k", "v", 1);
    fk_msg_t *digest = fk_msg_new(FK_MSG_DIGEST, "a", "127.0.0.1:1", 1);
    cr_assert_eq(fk_replica_digest(s_a, digest), 0);
    cr_assert(fk_replica_peer_ahead(s_b, digest));
    fk_msg_destroy(&digest);
    s_sync_a_to_b(false);
    digest = fk_msg_new(FK_MSG_DIGEST, "a", "127.0.0.1:1", 1);
    cr_assert_eq(fk_replica_digest(s_a, digest), 0);
    cr_assert_not(fk_replica_peer_ahead(s_b, digest));
    fk_msg_destroy(&digest);
}

Test(fk_replica, push_sends_only_what_came_after)
{
    s_put(s_a, "k1", "v", 1);
    s_put(s_a, "k2", "v", 1);
    s_wire_t wire = {.into = s_b};
    fk_replica_self_t me = {.name = "a", .addr = "127.0.0.1:1", .incarnation = 1};
    uint64_t upto = 0;
    cr_assert_eq(fk_replica_push(s_a, &me, "a", 1, s_deliver, &wire, &upto), 1);
    cr_assert_eq(upto, 2);
    cr_assert_eq(wire.applied, 1);
    cr_assert_eq(fk_replica_push(s_a, &me, "a", 2, s_deliver, &wire, &upto), 0);
}

Test(fk_replica, a_delta_about_ourselves_or_with_a_bad_record_changes_nothing)
{
    fk_msg_t *msg = fk_msg_new(FK_MSG_DELTA, "x", "127.0.0.9:1", 1);
    cr_assert_eq(fk_msg_add_digest(msg, "b", 0), 0);
    cr_assert_eq(fk_msg_add_delta(msg, "b", "k", "\x94\x01\x00\x00\xc4\x00", 6), 0);
    cr_assert_eq(fk_replica_apply(s_b, msg, NULL, NULL, NULL, NULL), 0, "only b writes b's records");
    fk_msg_destroy(&msg);

    msg = fk_msg_new(FK_MSG_DELTA, "x", "127.0.0.9:1", 1);
    cr_assert_eq(fk_msg_add_digest(msg, "x", 0), 0);
    cr_assert_eq(fk_msg_add_delta(msg, "x", "good", "\x94\x01\x00\x00\xc4\x00", 6), 0);
    cr_assert_eq(fk_msg_add_delta(msg, "x", "bad", "\xdd\xdd\xdd\xdd\xdd", 5), 0);
    cr_assert_lt(fk_replica_apply(s_b, msg, NULL, NULL, NULL, NULL), 0);
    fk_msg_destroy(&msg);
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_b, &txn), 0);
    fk_store_entry_t entry;
    cr_assert_eq(fk_store_get(txn, "good", NULL, &entry), FK_ENOTFOUND,
                 "a batch is applied whole or not at all");
    fk_store_txn_end(&txn);
}

static void
s_delete(fk_store_t *store, const char *key)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(store, &txn), 0);
    cr_assert_eq(fk_store_delete(txn, key), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
}

static int
s_gc(fk_store_t *store, const char *owner)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(store, &txn), 0);
    int n = fk_store_gc_tombstones(txn, owner, INT64_MAX);
    cr_assert_geq(n, 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
    return n;
}

static bool
s_has(fk_store_t *store, const char *key)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(store, &txn), 0);
    fk_store_entry_t entry;
    bool found = fk_store_get(txn, key, NULL, &entry) == 0;
    fk_store_txn_end(&txn);
    return found;
}

Test(fk_replica, collected_tombstones_still_reach_a_new_peer_as_the_right_version)
{
    s_put(s_a, "keep", "v", 1);
    s_put(s_a, "gone", "v", 1);
    s_delete(s_a, "gone");
    cr_assert_eq(s_gc(s_a, "a"), 0, "a's newest change (the tombstone, 3) was collected");
    s_put(s_a, "later", "v", 1);
    cr_assert_eq(s_gc(s_a, "a"), 1);
    s_sync_a_to_b(false);
    cr_assert(s_has(s_b, "keep"));
    cr_assert(s_has(s_b, "later"));
    cr_assert_not(s_has(s_b, "gone"));
    /*  b never saw version 3, yet reaches a's version 4, or the two views
        would never agree. */
    s_views_equal();
}

Test(fk_replica, a_peer_below_the_gc_floor_is_reset_so_deletes_stay_deleted)
{
    s_put(s_a, "stale", "v", 1);
    s_put(s_a, "other", "v", 1);
    s_sync_a_to_b(false);
    cr_assert(s_has(s_b, "stale"));
    /*  b goes away; meanwhile a deletes "stale" and, once a newer change
        follows, forgets the tombstone. */
    s_put(s_a, "filler", "v", 1);
    s_delete(s_a, "stale");
    s_put(s_a, "newer", "v", 1);
    cr_assert_eq(s_gc(s_a, "a"), 1);
    /*  A plain delta could not delete what b holds: the reset must. */
    s_wire_t wire = s_sync_a_to_b(false);
    cr_assert_geq(wire.messages, 1);
    cr_assert_not(s_has(s_b, "stale"), "a forgotten delete came back to life");
    cr_assert(s_has(s_b, "other"));
    cr_assert(s_has(s_b, "filler"));
    s_views_equal();
}

Test(fk_replica, a_reset_of_an_owner_with_nothing_left_still_settles_the_version)
{
    s_put(s_a, "only", "v", 1);
    s_sync_a_to_b(false);
    s_put(s_a, "x", "v", 1);
    s_delete(s_a, "only");
    s_delete(s_a, "x");
    cr_assert_eq(s_gc(s_a, "a"), 1, "only the tombstone of 'only': x's is a's newest change");
    s_sync_a_to_b(false);
    cr_assert_not(s_has(s_b, "only"));
    s_views_equal();
}

/*  A copy of every message a sends in one exchange, for replaying. */
typedef struct {
    char *bufs[8]; /* encoded messages */
    size_t lens[8];
    size_t count;
} s_capture_t;

static void
s_capture(void *arg, fk_msg_t **msg_p)
{
    s_capture_t *capture = arg;
    cr_assert_lt(capture->count, 8);
    cr_assert_eq(fk_msg_encode(*msg_p, &capture->bufs[capture->count],
                               &capture->lens[capture->count]),
                 0);
    capture->count++;
    fk_msg_destroy(msg_p);
}

static int
s_apply_bytes(fk_store_t *store, const char *buf, size_t len)
{
    fk_msg_t *msg = NULL;
    cr_assert_eq(fk_msg_decode(buf, len, &msg), 0);
    int rc = fk_replica_apply(store, msg, NULL, NULL, NULL, NULL);
    fk_msg_destroy(&msg);
    return rc;
}

Test(fk_replica, a_replayed_old_record_does_not_resurrect_a_collected_delete)
{
    /*  A member that kept an old copy of a's record sends it again after
        a deleted it and everyone forgot the tombstone. */
    s_put(s_a, "token", "v", 1);
    fk_msg_t *digest = fk_msg_new(FK_MSG_DIGEST, "b", "127.0.0.2:1", 1);
    cr_assert_eq(fk_replica_digest(s_b, digest), 0);
    s_capture_t old = {0};
    fk_replica_self_t me = {.name = "a", .addr = "127.0.0.1:1", .incarnation = 1};
    cr_assert_eq(fk_replica_answer(s_a, &me, digest, 0, s_capture, &old), 1);
    fk_msg_destroy(&digest);
    cr_assert_eq(s_apply_bytes(s_b, old.bufs[0], old.lens[0]), 1);
    s_delete(s_a, "token");
    s_put(s_a, "later", "v", 1);
    s_sync_a_to_b(false);
    cr_assert_not(s_has(s_b, "token"));
    cr_assert_eq(s_gc(s_b, "a"), 1);
    cr_assert_eq(s_apply_bytes(s_b, old.bufs[0], old.lens[0]), 0,
                 "a record below what b holds of a came back");
    cr_assert_not(s_has(s_b, "token"), "a collected delete was undone by a replay");
    free(old.bufs[0]);
}

Test(fk_replica, only_the_owner_may_reset_its_records)
{
    s_put(s_a, "keep", "v", 1);
    s_sync_a_to_b(false);
    fk_msg_t *msg = fk_msg_new(FK_MSG_DELTA, "x", "127.0.0.9:1", 1);
    fk_msg_set_flags(msg, FK_REPLICA_RESET);
    cr_assert_eq(fk_msg_add_digest(msg, "a", 0), 0);
    cr_assert_eq(fk_replica_apply(s_b, msg, NULL, NULL, NULL, NULL), 0);
    fk_msg_destroy(&msg);
    cr_assert(s_has(s_b, "keep"), "x erased a's records with a reset flag");
}

static int
s_refuse_owner_a(void *arg, const char *owner, const char *key, const fk_record_t *rec)
{
    (void)arg;
    (void)key;
    (void)rec;
    return strcmp(owner, "a") == 0 ? FK_EDENIED : 0;
}

static void
s_count_news(void *arg, const char *owner, uint64_t from)
{
    (void)from;
    cr_assert_str_eq(owner, "x");
    (*(int *)arg)++;
}

Test(fk_replica, a_refused_owner_is_skipped_and_the_others_are_applied)
{
    /*  One message with records of two owners: verify refuses a's. */
    char *rec = NULL;
    size_t rec_len = 0;
    fk_record_t record = {.version = 1, .payload = "v", .payload_len = 1};
    cr_assert_eq(fk_record_encode(&record, &rec, &rec_len), 0);
    fk_msg_t *msg = fk_msg_new(FK_MSG_DELTA, "x", "127.0.0.9:1", 1);
    cr_assert_eq(fk_msg_add_digest(msg, "a", 0), 0);
    cr_assert_eq(fk_msg_add_delta(msg, "a", "ka", rec, rec_len), 0);
    cr_assert_eq(fk_msg_add_digest(msg, "x", 0), 0);
    cr_assert_eq(fk_msg_add_delta(msg, "x", "kx", rec, rec_len), 0);
    int news = 0;
    cr_assert_eq(fk_replica_apply(s_b, msg, s_refuse_owner_a, NULL, s_count_news, &news), 1);
    cr_assert_eq(news, 1, "news of x was not told once");
    fk_msg_destroy(&msg);
    free(rec);
    cr_assert_not(s_has(s_b, "ka"));
    cr_assert(s_has(s_b, "kx"));
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_b, &txn), 0);
    cr_assert_eq(fk_store_owner_version(txn, "a"), 0, "a's range advanced over a refused record");
    cr_assert_eq(fk_store_owner_version(txn, "x"), 1);
    fk_store_txn_end(&txn);
}

Test(fk_replica, the_owners_own_digest_catches_a_withheld_record)
{
    s_put(s_a, "one", "v", 1);
    s_put(s_a, "two", "v", 1);
    /*  A lying relay hands b a's range (0, 2] with "two" only. */
    fk_msg_t *lie = fk_msg_new(FK_MSG_DELTA, "x", "127.0.0.9:1", 1);
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_a, &txn), 0);
    fk_store_entry_t entry;
    cr_assert_eq(fk_store_get(txn, "two", "a", &entry), 0);
    char *rec = NULL;
    size_t rec_len = 0;
    cr_assert_eq(fk_record_encode(&entry.record, &rec, &rec_len), 0);
    fk_store_txn_end(&txn);
    cr_assert_eq(fk_msg_add_digest(lie, "a", 0), 0);
    cr_assert_eq(fk_msg_add_delta(lie, "a", "two", rec, rec_len), 0);
    free(rec);
    cr_assert_eq(fk_replica_apply(s_b, lie, NULL, NULL, NULL, NULL), 1);
    fk_msg_destroy(&lie);
    cr_assert_not(s_has(s_b, "one"));

    /*  a's own digest says what it holds: b sees the difference, forgets
        a's records, and the next exchange brings them whole. */
    fk_msg_t *digest = fk_msg_new(FK_MSG_DIGEST, "a", "127.0.0.1:1", 1);
    cr_assert_eq(fk_replica_digest(s_a, digest), 0);
    cr_assert(fk_replica_check_owner(s_b, digest), "the withheld record went unnoticed");
    cr_assert_not(fk_replica_check_owner(s_b, digest), "forgot twice");
    fk_msg_destroy(&digest);
    s_sync_a_to_b(false);
    cr_assert(s_has(s_b, "one"));
    digest = fk_msg_new(FK_MSG_DIGEST, "a", "127.0.0.1:1", 1);
    cr_assert_eq(fk_replica_digest(s_a, digest), 0);
    cr_assert_not(fk_replica_check_owner(s_b, digest), "equal records were forgotten");
    fk_msg_destroy(&digest);
    s_views_equal();
}

static int
s_accept_all(void *arg, const char *owner, const char *key, const fk_record_t *rec)
{
    (void)arg;
    (void)owner;
    (void)key;
    (void)rec;
    return 0;
}

/*  A DELTA from sender with a's range (0, end], no record in it. */
static uint64_t
s_apply_bare_end(const char *sender, uint64_t end, fk_replica_verify_fn verify)
{
    fk_msg_t *msg = fk_msg_new(FK_MSG_DELTA, sender, "127.0.0.9:1", 1);
    cr_assert_eq(fk_msg_add_digest(msg, "a", 0), 0);
    cr_assert_eq(fk_msg_add_digest(msg, "a", end), 0);
    cr_assert_eq(fk_replica_apply(s_b, msg, verify, NULL, NULL, NULL), 0);
    fk_msg_destroy(&msg);
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_b, &txn), 0);
    uint64_t version = fk_store_owner_version(txn, "a");
    fk_store_txn_end(&txn);
    return version;
}

Test(fk_replica, with_signed_records_only_the_owner_names_an_explicit_end)
{
    /*  A relay's word that a's range ends at 2^64-1 would make every
        later write of a's look stale: refused where records are verified. */
    cr_assert_eq(s_apply_bare_end("x", UINT64_MAX, s_accept_all), 0,
                 "a relay moved a's version past every record it signed");
    /*  The owner's own end counts (its collected tombstones). */
    cr_assert_eq(s_apply_bare_end("a", 5, s_accept_all), 5);
    /*  Open mode believes every peer, relays included. */
    cr_assert_eq(s_apply_bare_end("x", 9, NULL), 9);
}

static int
s_signed_only(void *arg, const char *owner, const char *key, const fk_record_t *rec)
{
    (void)arg;
    (void)owner;
    (void)key;
    return rec->is_signed ? 0 : FK_EDENIED;
}

/*  The encoded record a holds under key. */
static char *
s_held(const char *key, size_t *len_p)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_a, &txn), 0);
    fk_store_entry_t entry;
    cr_assert_eq(fk_store_get(txn, key, "a", &entry), 0);
    char *buf = NULL;
    cr_assert_eq(fk_record_encode(&entry.record, &buf, len_p), 0);
    fk_store_txn_end(&txn);
    return buf;
}

Test(fk_replica, an_unsigned_record_older_than_a_held_copy_cannot_skip_missing_versions)
{
    uint8_t secret[FK_SIGN_SECRET_LEN];
    memset(secret, 7, sizeof secret);
    fk_sign_key_t *key = NULL;
    cr_assert_eq(fk_sign_key_new(&key, secret), 0);
    fk_store_set_signer(s_a, key);
    s_put(s_a, "x", "v", 1);
    s_put(s_a, "y", "v", 1);
    s_put(s_a, "z", "v", 1);
    /*  b gets z (version 3) alone, by an eager push that overtook x and y:
        it holds z, but a's version stays 0 at b (the gap rule). */
    size_t len = 0;
    char *z = s_held("z", &len);
    fk_msg_t *msg = fk_msg_new(FK_MSG_DELTA, "a", "127.0.0.1:1", 1);
    cr_assert_eq(fk_msg_add_digest(msg, "a", 2), 0);
    cr_assert_eq(fk_msg_add_delta(msg, "a", "z", z, len), 0);
    cr_assert_eq(fk_replica_apply(s_b, msg, s_signed_only, NULL, NULL, NULL), 1);
    fk_msg_destroy(&msg);
    free(z);
    /*  A relay sends a's range (0, 2] with an unsigned "z" at version 2:
        older than the z b holds, but its version would close the gap over
        x and y, which b would then never fetch. */
    char *fake = NULL;
    fk_record_t forged = {.version = 2, .payload = "w", .payload_len = 1};
    cr_assert_eq(fk_record_encode(&forged, &fake, &len), 0);
    msg = fk_msg_new(FK_MSG_DELTA, "x", "127.0.0.9:1", 1);
    cr_assert_eq(fk_msg_add_digest(msg, "a", 0), 0);
    cr_assert_eq(fk_msg_add_delta(msg, "a", "z", fake, len), 0);
    cr_assert_eq(fk_replica_apply(s_b, msg, s_signed_only, NULL, NULL, NULL), 0);
    fk_msg_destroy(&msg);
    free(fake);
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_b, &txn), 0);
    cr_assert_eq(fk_store_owner_version(txn, "a"), 0, "an unsigned record closed b's gap");
    fk_store_txn_end(&txn);
    /*  The next honest exchange brings x and y. */
    s_sync_a_to_b(false);
    cr_assert(s_has(s_b, "x"));
    cr_assert(s_has(s_b, "y"));
    s_views_equal();
    fk_store_set_signer(s_a, NULL);
    fk_sign_key_destroy(&key);
}

/*  Hand b a's record under key as its own DELTA from a, with the range
    starting after version from. */
static void
s_hand_b(const char *key, uint64_t from)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_a, &txn), 0);
    fk_store_entry_t entry;
    cr_assert_eq(fk_store_get(txn, key, "a", &entry), 0);
    char *rec = NULL;
    size_t rec_len = 0;
    cr_assert_eq(fk_record_encode(&entry.record, &rec, &rec_len), 0);
    fk_store_txn_end(&txn);
    fk_msg_t *msg = fk_msg_new(FK_MSG_DELTA, "a", "127.0.0.1:1", 1);
    cr_assert_eq(fk_msg_add_digest(msg, "a", from), 0);
    cr_assert_eq(fk_msg_add_delta(msg, "a", key, rec, rec_len), 0);
    cr_assert_geq(fk_replica_apply(s_b, msg, NULL, NULL, NULL, NULL), 0);
    fk_msg_destroy(&msg);
    free(rec);
}

static uint64_t
s_version_of(fk_store_t *store, const char *owner)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(store, &txn), 0);
    uint64_t version = fk_store_owner_version(txn, owner);
    fk_store_txn_end(&txn);
    return version;
}

Test(fk_replica, records_held_past_a_gap_are_not_relayed_over_it)
{
    s_put(s_a, "one", "v", 1);
    s_put(s_a, "two", "v", 1);
    s_put(s_a, "three", "v", 1);
    /*  b holds a's version 1 in full, and version 3 ahead of the gap. */
    s_hand_b("one", 0);
    s_hand_b("three", 2);
    cr_assert_eq(s_version_of(s_b, "a"), 1);
    cr_assert(s_has(s_b, "three"));

    /*  c asks b: it gets version 1, not a range that ends at 3 and
        leaves it without "two" for good. */
    char *dir_c = fk_testdir_make("fk_replica_c");
    fk_store_t *c = NULL;
    cr_assert_eq(fk_store_open(&c, dir_c, "c", 256u << 20, FK_STORE_SYNC_NONE), 0);
    fk_msg_t *digest = fk_msg_new(FK_MSG_DIGEST, "c", "127.0.0.3:1", 1);
    cr_assert_eq(fk_replica_digest(c, digest), 0);
    s_wire_t wire = {.into = c};
    fk_replica_self_t me = {.name = "b", .addr = "127.0.0.2:1", .incarnation = 1};
    cr_assert_geq(fk_replica_answer(s_b, &me, digest, 0, s_deliver, &wire), 0);
    fk_msg_destroy(&digest);
    cr_assert_eq(s_version_of(c, "a"), 1, "c's version of a passed the gap b has");
    uint64_t upto = 0;
    cr_assert_eq(fk_replica_push(s_b, &me, "a", 0, s_deliver, &wire, &upto), 1);
    cr_assert_eq(upto, 1, "the relay of news passed the gap");
    cr_assert_eq(s_version_of(c, "a"), 1);
    fk_store_destroy(&c);
    fk_testdir_remove(&dir_c);
}

Test(fk_replica, a_late_owner_digest_does_not_refetch_records_ahead_of_it)
{
    s_put(s_a, "k", "v1", 2);
    fk_msg_t *early = fk_msg_new(FK_MSG_DIGEST, "a", "127.0.0.1:1", 1);
    cr_assert_eq(fk_replica_digest(s_a, early), 0);
    s_sync_a_to_b(false);
    /*  a writes on; b gets the new k (version 3) ahead of version 2. */
    s_put(s_a, "other", "v", 1);
    s_put(s_a, "k", "v3", 2);
    s_hand_b("k", 2);
    cr_assert_eq(s_version_of(s_b, "a"), 1);
    /*  a's digest from version 1 arrives now: b's copy is not what a had
        then (k moved on), yet nothing was withheld. */
    cr_assert_not(fk_replica_check_owner(s_b, early), "b forgot a's records for a newer k");
    fk_msg_destroy(&early);
    cr_assert(s_has(s_b, "k"));
    s_sync_a_to_b(false);
    s_views_equal();
}
