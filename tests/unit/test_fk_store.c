/*  Tests for fk_store: records, versions, tombstones, snapshots, restarts. */

#include "fk_err.h"
#include "fk_store.h"
#include "fk_testdir.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *s_dir;
static fk_store_t *s_store;

static void
s_setup(void)
{
    s_dir = fk_testdir_make("fk_store");
    cr_assert_eq(fk_store_open(&s_store, s_dir, "node-a", 64u << 20, FK_STORE_SYNC_DATA), 0);
}

static void
s_teardown(void)
{
    fk_store_destroy(&s_store);
    fk_testdir_remove(&s_dir);
}

TestSuite(fk_store, .init = s_setup, .fini = s_teardown);

static void
s_put(const char *key, const char *value)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_put(txn, key, value, strlen(value)), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
    cr_assert_null(txn);
}

Test(fk_store, put_then_get_returns_payload_owner_and_version)
{
    s_put("svc/a", "hello");
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    fk_store_entry_t entry;
    cr_assert_eq(fk_store_get(txn, "svc/a", NULL, &entry), 0);
    cr_assert_str_eq(entry.key, "svc/a");
    cr_assert_str_eq(entry.owner, "node-a");
    cr_assert_eq(entry.record.version, 1);
    cr_assert_eq(entry.record.payload_len, 5);
    cr_assert_eq(memcmp(entry.record.payload, "hello", 5), 0);
    cr_assert_eq(fk_store_owner_version(txn, "node-a"), 1);
    fk_store_txn_end(&txn);
}

Test(fk_store, every_write_takes_the_next_local_version)
{
    s_put("a", "1");
    s_put("b", "2");
    s_put("a", "3");
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    fk_store_entry_t entry;
    cr_assert_eq(fk_store_get(txn, "a", "node-a", &entry), 0);
    cr_assert_eq(entry.record.version, 3);
    cr_assert_eq(fk_store_owner_version(txn, "node-a"), 3);
    fk_store_txn_end(&txn);
}

Test(fk_store, delete_leaves_a_tombstone_that_reads_as_absent)
{
    s_put("code/x", "v");
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_delete(txn, "code/x"), 0);
    cr_assert_eq(fk_store_delete(txn, "code/x"), FK_ENOTFOUND);
    cr_assert_eq(fk_store_commit(&txn), 0);

    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    fk_store_entry_t entry;
    cr_assert_eq(fk_store_get(txn, "code/x", NULL, &entry), FK_ENOTFOUND);
    /*  The tombstone consumed a version: replicas learn of the delete. */
    cr_assert_eq(fk_store_owner_version(txn, "node-a"), 2);
    fk_store_txn_end(&txn);
}

static int
s_collect(void *arg, const fk_store_entry_t *entry)
{
    char *out = arg;
    strcat(out, entry->key);
    strcat(out, ";");
    return 0;
}

Test(fk_store, scan_visits_live_records_of_a_prefix_in_key_order)
{
    s_put("svc/b", "1");
    s_put("svc/a", "1");
    s_put("svcx", "1");
    s_put("code/z", "1");
    s_put("svc/c", "1");
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_delete(txn, "svc/c"), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);

    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    char seen[256] = "";
    cr_assert_eq(fk_store_scan(txn, "svc/", s_collect, seen), 0);
    cr_assert_str_eq(seen, "svc/a;svc/b;");
    fk_store_txn_end(&txn);
}

static int
s_stop_at_first(void *arg, const fk_store_entry_t *entry)
{
    (void)entry;
    (*(int *)arg)++;
    return 7;
}

Test(fk_store, scan_stops_with_the_callbacks_value)
{
    s_put("k/1", "1");
    s_put("k/2", "1");
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    int calls = 0;
    cr_assert_eq(fk_store_scan(txn, "k/", s_stop_at_first, &calls), 7);
    cr_assert_eq(calls, 1);
    fk_store_txn_end(&txn);
}

Test(fk_store, aborted_write_keeps_nothing)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_put(txn, "lost", "x", 1), 0);
    fk_store_txn_end(&txn);
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    fk_store_entry_t entry;
    cr_assert_eq(fk_store_get(txn, "lost", NULL, &entry), FK_ENOTFOUND);
    cr_assert_eq(fk_store_owner_version(txn, "node-a"), 0);
    fk_store_txn_end(&txn);
}

Test(fk_store, read_snapshot_does_not_see_later_commits)
{
    s_put("a", "old");
    fk_store_txn_t *reader;
    cr_assert_eq(fk_store_read_begin(s_store, &reader), 0);
    s_put("a", "new");
    fk_store_entry_t entry;
    cr_assert_eq(fk_store_get(reader, "a", NULL, &entry), 0);
    cr_assert_eq(memcmp(entry.record.payload, "old", 3), 0);
    fk_store_txn_end(&reader);
}

Test(fk_store, reopen_keeps_records_and_counter)
{
    s_put("a", "1");
    s_put("b", "2");
    fk_store_destroy(&s_store);
    cr_assert_eq(fk_store_open(&s_store, s_dir, "node-a", 64u << 20, FK_STORE_SYNC_DATA), 0);
    s_put("c", "3");
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    fk_store_entry_t entry;
    cr_assert_eq(fk_store_get(txn, "b", NULL, &entry), 0);
    cr_assert_eq(fk_store_get(txn, "c", NULL, &entry), 0);
    cr_assert_eq(entry.record.version, 3, "the counter must not restart after a reopen");
    fk_store_txn_end(&txn);
}

Test(fk_store, data_dir_refuses_another_node_name)
{
    fk_store_destroy(&s_store);
    fk_store_t *other = NULL;
    cr_assert_eq(fk_store_open(&other, s_dir, "node-b", 64u << 20, FK_STORE_SYNC_DATA), FK_ECONFIG);
    cr_assert_null(other);
    cr_assert_eq(fk_store_open(&s_store, s_dir, "node-a", 64u << 20, FK_STORE_SYNC_DATA), 0);
}

Test(fk_store, bad_keys_and_oversize_payloads_are_refused)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_put(txn, "", "x", 1), FK_EINVAL_INPUT);
    char long_key[FK_STORE_MAX_KEY + 1];
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    cr_assert_eq(fk_store_put(txn, long_key, "x", 1), FK_EINVAL_INPUT);
    cr_assert_eq(fk_store_put(txn, "big", "x", FK_RECORD_MAX_PAYLOAD + 1), FK_ETOOBIG);
    fk_store_txn_end(&txn);
}

Test(fk_store, writes_need_a_write_transaction)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_put(txn, "a", "x", 1), FK_EINVAL_INPUT);
    cr_assert_eq(fk_store_local_set(txn, "a", "x", 1), FK_EINVAL_INPUT);
    fk_store_txn_end(&txn);
}

Test(fk_store, view_digest_changes_with_every_write_and_only_then)
{
    fk_store_txn_t *txn;
    char before[65];
    char same[65];
    char after[65];
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    fk_store_view(txn, before);
    fk_store_view(txn, same);
    fk_store_txn_end(&txn);
    cr_assert_str_eq(before, same);
    s_put("a", "1");
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    fk_store_view(txn, after);
    fk_store_txn_end(&txn);
    cr_assert_str_neq(before, after);
    cr_assert_eq(strlen(after), 64);
}

Test(fk_store, local_values_round_trip_binary_bytes)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_local_set(txn, "key", "a\0b", 3), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    char *value = NULL;
    size_t len = 0;
    cr_assert_eq(fk_store_local_get(txn, "key", &value, &len), 0);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(value, "a\0b", 3), 0);
    free(value);
    cr_assert_eq(fk_store_local_get(txn, "missing", &value, &len), FK_ENOTFOUND);
    cr_assert_null(value);
    fk_store_txn_end(&txn);
}

/*  Replication: records travel as encoded envelopes between stores. */

typedef struct {
    fk_store_t *into;    /* store applying the changes */
    fk_store_txn_t *txn; /* its write transaction */
    const char *owner;   /* whose changes */
    uint64_t last;       /* last version visited */
    int applied;         /* how many were new */
} s_copy_t;

static int
s_copy_change(void *arg, const char *key, uint64_t version, const void *record, size_t len)
{
    s_copy_t *copy = arg;
    cr_assert_gt(version, copy->last, "changes come in version order");
    copy->last = version;
    int rc = fk_store_apply(copy->txn, copy->owner, key, record, len);
    cr_assert_geq(rc, 0);
    copy->applied += rc;
    return 0;
}

/*  Copy node-a's changes after "after" into other, as a delta would. */
static int
s_replicate(fk_store_t *other, uint64_t after)
{
    fk_store_txn_t *src;
    cr_assert_eq(fk_store_read_begin(s_store, &src), 0);
    s_copy_t copy = {.into = other, .owner = "node-a", .last = after};
    cr_assert_eq(fk_store_write_begin(other, &copy.txn), 0);
    cr_assert_eq(fk_store_changes(src, "node-a", after, s_copy_change, &copy), 0);
    fk_store_owner_advance(copy.txn, "node-a", after, copy.last);
    cr_assert_eq(fk_store_commit(&copy.txn), 0);
    fk_store_txn_end(&src);
    return copy.applied;
}

Test(fk_store, deltas_bring_a_replica_to_the_same_view)
{
    char *dir = fk_testdir_make("fk_store_b");
    fk_store_t *other;
    cr_assert_eq(fk_store_open(&other, dir, "node-b", 64u << 20, FK_STORE_SYNC_NONE), 0);
    s_put("svc/x/1", "one");
    s_put("svc/x/2", "two");
    s_put("svc/x/1", "uno");
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_delete(txn, "svc/x/2"), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);

    cr_assert_eq(s_replicate(other, 0), 2, "one record and one tombstone");
    cr_assert_eq(s_replicate(other, 0), 0, "applying twice changes nothing");

    fk_store_entry_t entry;
    cr_assert_eq(fk_store_read_begin(other, &txn), 0);
    cr_assert_eq(fk_store_get(txn, "svc/x/1", "node-a", &entry), 0);
    cr_assert_eq(memcmp(entry.record.payload, "uno", 3), 0);
    cr_assert_eq(fk_store_get(txn, "svc/x/2", NULL, &entry), FK_ENOTFOUND);
    cr_assert_eq(fk_store_owner_version(txn, "node-a"), 4);
    char view_b[65];
    fk_store_view(txn, view_b);
    fk_store_txn_end(&txn);

    /*  node-b's own view also counts its (empty) counter: compare the
        owner entries through a fresh store holding only node-a's data. */
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    char view_a[65];
    fk_store_view(txn, view_a);
    fk_store_txn_end(&txn);
    cr_assert_str_eq(view_a, view_b);
    fk_store_destroy(&other);
    fk_testdir_remove(&dir);
}

Test(fk_store, owner_version_never_skips_a_gap)
{
    char *dir = fk_testdir_make("fk_store_b");
    fk_store_t *other;
    cr_assert_eq(fk_store_open(&other, dir, "node-b", 64u << 20, FK_STORE_SYNC_NONE), 0);
    s_put("a", "1");
    s_put("b", "2");
    s_put("c", "3");
    /*  Deliver only what came after version 2, as a late eager push. */
    cr_assert_eq(s_replicate(other, 2), 1);
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(other, &txn), 0);
    cr_assert_eq(fk_store_owner_version(txn, "node-a"), 0, "versions 1-2 are still missing");
    fk_store_txn_end(&txn);
    cr_assert_eq(s_replicate(other, 0), 2);
    cr_assert_eq(fk_store_read_begin(other, &txn), 0);
    cr_assert_eq(fk_store_owner_version(txn, "node-a"), 3);
    fk_store_txn_end(&txn);
    fk_store_destroy(&other);
    fk_testdir_remove(&dir);
}

Test(fk_store, apply_refuses_records_of_the_local_node_and_garbage)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_apply(txn, "node-a", "k", "\x94\x01\x00\x00\xc4\x00", 6),
                 FK_EINVAL_INPUT);
    cr_assert_lt(fk_store_apply(txn, "node-x", "k", "\xdd\xdd\xdd\xdd\xdd", 5), 0);
    cr_assert_eq(fk_store_apply(txn, "node-x", "k", "\x94\x01\x00\x00\xc4\x00", 6), 1);
    cr_assert_eq(fk_store_commit(&txn), 0);
}

static int
s_member_line(void *arg, const char *name, fk_store_member_status_t status, const char *json)
{
    char *out = arg;
    char line[128];
    snprintf(line, sizeof line, "%s=%d:%s;", name, (int)status, json);
    strcat(out, line);
    return 0;
}

Test(fk_store, members_round_trip_and_count_in_the_view)
{
    char before[65];
    char after[65];
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    fk_store_view(txn, before);
    fk_store_txn_end(&txn);
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_member_put(txn, "node-b", FK_STORE_MEMBER_ALIVE, "{}"), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    fk_store_view(txn, after);
    fk_store_member_status_t status;
    cr_assert_eq(fk_store_member_get(txn, "node-b", &status), 0);
    cr_assert_eq(status, FK_STORE_MEMBER_ALIVE);
    cr_assert_eq(fk_store_member_get(txn, "node-z", &status), FK_ENOTFOUND);
    char lines[256] = "";
    cr_assert_eq(fk_store_members(txn, s_member_line, lines), 0);
    cr_assert_str_eq(lines, "node-b=0:{};");
    fk_store_txn_end(&txn);
    cr_assert_str_neq(before, after);

    /*  Suspect still counts as live: the view does not change. */
    char suspect[65];
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_member_put(txn, "node-b", FK_STORE_MEMBER_SUSPECT, "{\"x\":1}"), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    fk_store_view(txn, suspect);
    fk_store_txn_end(&txn);
    cr_assert_str_eq(suspect, after);
}

Test(fk_store, local_writes_are_flagged_for_the_cluster_plane)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_not(fk_store_txn_wrote_local(txn));
    cr_assert_eq(fk_store_put(txn, "k", "v", 1), 0);
    cr_assert(fk_store_txn_wrote_local(txn));
    fk_store_txn_end(&txn);
}

/*  ---- signatures and summaries ---------------------------------------- */

static fk_sign_key_t *
s_key(uint8_t seed)
{
    uint8_t secret[FK_SIGN_SECRET_LEN];
    memset(secret, seed, sizeof secret);
    fk_sign_key_t *key = NULL;
    cr_assert_eq(fk_sign_key_new(&key, secret), 0);
    return key;
}

static fk_record_t
s_record(const char *key)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    fk_store_entry_t entry;
    cr_assert_eq(fk_store_get(txn, key, "node-a", &entry), 0);
    fk_record_t rec = entry.record;
    /*  The payload must outlive the transaction for the caller's checks. */
    rec.payload = rec.payload_len ? strndup(rec.payload, rec.payload_len) : NULL;
    fk_store_txn_end(&txn);
    return rec;
}

Test(fk_store, local_writes_are_signed_by_the_signer_and_re_signed_when_it_changes)
{
    s_put("before", "unsigned");
    fk_record_t rec = s_record("before");
    cr_assert_not(rec.is_signed, "a record was signed without a signer");
    free((void *)(uintptr_t)rec.payload);

    fk_sign_key_t *first = s_key(1);
    fk_store_set_signer(s_store, first);
    cr_assert_eq(fk_store_adopt_signer(s_store), 1, "the earlier record was not re-signed");
    cr_assert_eq(fk_store_adopt_signer(s_store), 0, "the same key re-signed again");
    rec = s_record("before");
    cr_assert(fk_record_verify(&rec, "node-a", "before", fk_sign_key_public(first)));
    cr_assert_eq(rec.version, 1, "re-signing changed the version");
    free((void *)(uintptr_t)rec.payload);
    s_put("after", "signed");
    rec = s_record("after");
    cr_assert(fk_record_verify(&rec, "node-a", "after", fk_sign_key_public(first)));
    cr_assert_not(fk_record_verify(&rec, "node-a", "before", fk_sign_key_public(first)),
                  "a signature verified under another key name");
    free((void *)(uintptr_t)rec.payload);

    /*  A rotated key: every local record is signed again by the new one. */
    fk_sign_key_t *second = s_key(2);
    fk_store_set_signer(s_store, second);
    cr_assert_eq(fk_store_adopt_signer(s_store), 2);
    rec = s_record("after");
    cr_assert(fk_record_verify(&rec, "node-a", "after", fk_sign_key_public(second)));
    cr_assert_not(fk_record_verify(&rec, "node-a", "after", fk_sign_key_public(first)));
    free((void *)(uintptr_t)rec.payload);
    fk_store_set_signer(s_store, NULL);
    fk_sign_key_destroy(&first);
    fk_sign_key_destroy(&second);
}

static uint64_t
s_summary(const char *owner)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_store, &txn), 0);
    uint64_t sum = fk_store_owner_summary(txn, owner);
    fk_store_txn_end(&txn);
    return sum;
}

Test(fk_store, the_owner_summary_follows_the_live_records_only)
{
    cr_assert_eq(s_summary("node-a"), 0);
    s_put("a", "1");
    uint64_t one = s_summary("node-a");
    cr_assert_neq(one, 0);
    s_put("b", "2");
    uint64_t two = s_summary("node-a");
    cr_assert_neq(two, one);
    s_put("b", "3");
    cr_assert_neq(s_summary("node-a"), two, "a new version of b left the summary as it was");
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_delete(txn, "b"), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
    cr_assert_eq(s_summary("node-a"), one, "a tombstone counts in the summary");
    s_put("c", "4");
    uint64_t before = s_summary("node-a");
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_gc_tombstones(txn, "node-a", INT64_MAX), 1);
    cr_assert_eq(fk_store_commit(&txn), 0);
    cr_assert_eq(s_summary("node-a"), before, "collecting a tombstone changed the summary");
}

Test(fk_store, the_owners_newest_change_is_never_collected)
{
    s_put("a", "1");
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_delete(txn, "a"), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_gc_tombstones(txn, "node-a", INT64_MAX), 0,
                 "the newest change, a tombstone, was collected");
    cr_assert_eq(fk_store_gc_floor(txn, "node-a"), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
}

Test(fk_store, a_full_store_refuses_new_records_but_still_deletes)
{
    /*  A 1 MiB store: full once its data comes within 256 KiB of the map. */
    fk_store_destroy(&s_store);
    char *dir = fk_testdir_make("fk_store_full");
    cr_assert_eq(fk_store_open(&s_store, dir, "node-a", 1u << 20, FK_STORE_SYNC_NONE), 0);
    static char payload[8000];
    memset(payload, 'x', sizeof payload);
    int stored = 0;
    int rc = 0;
    while (rc == 0 && stored < 1000) {
        fk_store_txn_t *txn;
        cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
        char key[32];
        snprintf(key, sizeof key, "big/%d", stored);
        rc = fk_store_put(txn, key, payload, sizeof payload);
        if (rc == 0) {
            rc = fk_store_commit(&txn);
            stored += rc == 0;
        } else {
            fk_store_txn_end(&txn);
        }
        fk_store_space(s_store, NULL);
    }
    cr_assert_eq(rc, -ENOSPC, "a 1 MiB store took %d records of 8 KB: %d", stored, rc);
    fk_store_space_t space;
    cr_assert_eq(fk_store_space(s_store, &space), 0);
    cr_assert(space.full);
    cr_assert(space.used + space.reserve >= space.map_size, "used %zu", space.used);
    /*  Reads go on, and every delete fits in the reserve. */
    for (int i = 0; i < stored; i++) {
        fk_store_txn_t *txn;
        char key[32];
        snprintf(key, sizeof key, "big/%d", i);
        cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
        fk_store_entry_t entry;
        cr_assert_eq(fk_store_get(txn, key, NULL, &entry), 0);
        cr_assert_eq(fk_store_delete(txn, key), 0, "delete %d", i);
        cr_assert_eq(fk_store_commit(&txn), 0, "commit delete %d of %d", i, stored);
    }
    /*  Tombstones are small; once counted, the store takes records again. */
    cr_assert_eq(fk_store_space(s_store, &space), 0);
    cr_assert(!space.full, "still full after deleting everything: used %zu", space.used);
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_store, &txn), 0);
    cr_assert_eq(fk_store_put(txn, "after", "x", 1), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
    fk_store_destroy(&s_store);
    fk_testdir_remove(&dir);
}
