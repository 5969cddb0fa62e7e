/*  Tests for fk_audit: entries append, list in time order across nodes,
    filter by time, survive hostile records from peers, and leave by
    retention only. Two stores stand for two nodes; records move between
    them as replication moves them (fk_store_changes -> fk_store_apply). */

#include "fk_audit.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_testdir.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *s_dir_a;
static char *s_dir_b;
static fk_store_t *s_store_a;
static fk_store_t *s_store_b;
static int64_t s_now_a;
static int64_t s_now_b;
static fk_audit_t *s_a;
static fk_audit_t *s_b;

static int64_t
s_clock(void *arg)
{
    return *(int64_t *)arg;
}

static void
s_setup(void)
{
    fk_log_set_level(FK_LOG_OFF);
    s_dir_a = fk_testdir_make("fk_audit_a");
    s_dir_b = fk_testdir_make("fk_audit_b");
    cr_assert_eq(fk_store_open(&s_store_a, s_dir_a, "node-a", 64u << 20, FK_STORE_SYNC_NONE), 0);
    cr_assert_eq(fk_store_open(&s_store_b, s_dir_b, "node-b", 64u << 20, FK_STORE_SYNC_NONE), 0);
    s_now_a = 1700000000000;
    s_now_b = 1700000000000;
    s_a = fk_audit_new(&(fk_audit_opts_t){.store = s_store_a,
                                          .retention_s = 3600,
                                          .max_entries = 5,
                                          .clock = s_clock,
                                          .clock_arg = &s_now_a});
    s_b = fk_audit_new(
        &(fk_audit_opts_t){.store = s_store_b, .clock = s_clock, .clock_arg = &s_now_b});
}

static void
s_teardown(void)
{
    fk_audit_destroy(&s_a);
    fk_audit_destroy(&s_b);
    fk_store_destroy(&s_store_a);
    fk_store_destroy(&s_store_b);
    fk_testdir_remove(&s_dir_a);
    fk_testdir_remove(&s_dir_b);
}

TestSuite(fk_audit, .init = s_setup, .fini = s_teardown);

static int
s_apply_one(void *arg, const char *key, uint64_t version, const void *record, size_t len)
{
    (void)version;
    cr_assert_geq(fk_store_apply(arg, "node-b", key, record, len), 0);
    return 0;
}

/*  Replicate every record of node-b into node-a's store. */
static void
s_replicate_b_to_a(void)
{
    fk_store_txn_t *from;
    fk_store_txn_t *into;
    cr_assert_eq(fk_store_read_begin(s_store_b, &from), 0);
    cr_assert_eq(fk_store_write_begin(s_store_a, &into), 0);
    cr_assert_eq(fk_store_changes(from, "node-b", 0, s_apply_one, into), 0);
    cr_assert_eq(fk_store_commit(&into), 0);
    fk_store_txn_end(&from);
}

static json_t *
s_list(fk_audit_t *audit, int64_t since, size_t limit)
{
    json_t *entries = NULL;
    cr_assert_eq(fk_audit_list(audit, since, limit, &entries), 0);
    cr_assert(json_is_array(entries));
    return entries;
}

static const char *
s_field(const json_t *entries, size_t i, const char *name)
{
    return fk_json_str(json_array_get(entries, i), name);
}

Test(fk_audit, an_appended_entry_lists_with_who_what_when_where_and_which_node)
{
    cr_assert_eq(fk_audit_append(s_a, "alice", "127.0.0.1", "code.approve", "ABCD-1234",
                                 json_pack("{s:s}", "dialect", "v2")),
                 0);
    json_t *entries = s_list(s_a, 0, 0);
    cr_assert_eq(json_array_size(entries), 1);
    json_t *entry = json_array_get(entries, 0);
    cr_assert_eq(fk_json_int(entry, "ts_ms", 0), s_now_a);
    cr_assert_str_eq(fk_json_str(entry, "node"), "node-a");
    cr_assert_str_eq(fk_json_str(entry, "actor"), "alice");
    cr_assert_str_eq(fk_json_str(entry, "from"), "127.0.0.1");
    cr_assert_str_eq(fk_json_str(entry, "action"), "code.approve");
    cr_assert_str_eq(fk_json_str(entry, "subject"), "ABCD-1234");
    cr_assert_str_eq(fk_json_str(json_object_get(entry, "detail"), "dialect"), "v2");
    cr_assert(strstr(fk_json_str(entry, "id"), "-node-a-") != NULL);
    json_decref(entries);
}

Test(fk_audit, two_entries_in_the_same_millisecond_both_stay)
{
    cr_assert_eq(fk_audit_append(s_a, "x", "", "service.register", "one", NULL), 0);
    cr_assert_eq(fk_audit_append(s_a, "x", "", "service.register", "two", NULL), 0);
    json_t *entries = s_list(s_a, 0, 0);
    cr_assert_eq(json_array_size(entries), 2);
    cr_assert_str_eq(s_field(entries, 0, "subject"), "one");
    cr_assert_str_eq(s_field(entries, 1, "subject"), "two");
    json_decref(entries);
}

Test(fk_audit, entries_of_every_node_list_in_time_order)
{
    cr_assert_eq(fk_audit_append(s_a, "x", "", "a.first", "", NULL), 0);
    s_now_b += 500;
    cr_assert_eq(fk_audit_append(s_b, "y", "", "b.second", "", NULL), 0);
    s_now_a += 1000;
    cr_assert_eq(fk_audit_append(s_a, "x", "", "a.third", "", NULL), 0);
    s_replicate_b_to_a();
    json_t *entries = s_list(s_a, 0, 0);
    cr_assert_eq(json_array_size(entries), 3);
    cr_assert_str_eq(s_field(entries, 0, "action"), "a.first");
    cr_assert_str_eq(s_field(entries, 1, "action"), "b.second");
    cr_assert_str_eq(s_field(entries, 1, "node"), "node-b");
    cr_assert_str_eq(s_field(entries, 2, "action"), "a.third");
    json_decref(entries);
}

Test(fk_audit, since_leaves_out_older_entries_and_limit_keeps_the_newest)
{
    for (int i = 0; i < 4; i++) {
        char subject[8];
        snprintf(subject, sizeof subject, "s%d", i);
        cr_assert_eq(fk_audit_append(s_a, "x", "", "service.register", subject, NULL), 0);
        s_now_a += 1000;
    }
    json_t *entries = s_list(s_a, 1700000001000, 0);
    cr_assert_eq(json_array_size(entries), 3);
    cr_assert_str_eq(s_field(entries, 0, "subject"), "s1");
    json_decref(entries);
    entries = s_list(s_a, 0, 2);
    cr_assert_eq(json_array_size(entries), 2);
    cr_assert_str_eq(s_field(entries, 0, "subject"), "s2");
    cr_assert_str_eq(s_field(entries, 1, "subject"), "s3");
    json_decref(entries);
}

Test(fk_audit, a_write_inside_an_aborted_transaction_leaves_no_entry)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_store_a, &txn), 0);
    cr_assert_eq(fk_audit_write(s_a, txn, "x", "", "refresh.reuse", "c", NULL), 0);
    fk_store_txn_end(&txn);
    json_t *entries = s_list(s_a, 0, 0);
    cr_assert_eq(json_array_size(entries), 0);
    json_decref(entries);
}

Test(fk_audit, control_characters_and_overlong_fields_are_made_safe_on_write)
{
    char longer[FK_AUDIT_MAX_FIELD + 50];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    cr_assert_eq(fk_audit_append(s_a, "evil\x1b[31m", "\xff\xfe", "x.y", longer, NULL), 0);
    json_t *entries = s_list(s_a, 0, 0);
    cr_assert_eq(json_array_size(entries), 1);
    cr_assert_str_eq(s_field(entries, 0, "actor"), "evil?[31m");
    cr_assert_str_eq(s_field(entries, 0, "from"), "??");
    cr_assert_eq(strlen(s_field(entries, 0, "subject")), FK_AUDIT_MAX_FIELD);
    json_decref(entries);
}

/*  Write payload under key as node-b's record, as a peer would send it. */
static void
s_put_b(const char *key, const char *payload)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_store_b, &txn), 0);
    cr_assert_eq(fk_store_put(txn, key, payload, strlen(payload)), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
}

Test(fk_audit, malformed_entries_from_a_peer_are_left_out_and_counted)
{
    const char *good = "{\"ts_ms\":4096,\"node\":\"node-b\",\"actor\":\"y\",\"from\":\"\","
                       "\"action\":\"ok.entry\",\"subject\":\"s\"}";
    s_put_b("audit/0000000000001000-node-b-0000000000000001", good);
    /*  Each of these breaks one rule. */
    s_put_b("audit/0000000000001000-node-b-0000000000000002", "not json");
    s_put_b("audit/0000000000001000-node-b-0000000000000003",
            "{\"ts_ms\":4096,\"node\":\"node-a\",\"actor\":\"y\",\"from\":\"\","
            "\"action\":\"claims.another.node\",\"subject\":\"s\"}");
    s_put_b("audit/0000000000001000-node-b-0000000000000004",
            "{\"ts_ms\":1,\"node\":\"node-b\",\"actor\":\"y\",\"from\":\"\","
            "\"action\":\"time.differs.from.key\",\"subject\":\"s\"}");
    s_put_b("audit/0000000000001000-node-b-0000000000000005",
            "{\"ts_ms\":4096,\"node\":\"node-b\",\"actor\":\"\\u001b[2J\",\"from\":\"\","
            "\"action\":\"control.char\",\"subject\":\"s\"}");
    s_put_b("audit/0000000000001000-node-b-0000000000000006",
            "{\"ts_ms\":4096,\"node\":\"node-b\",\"actor\":\"y\",\"from\":\"\","
            "\"action\":\"detail.not.object\",\"subject\":\"s\",\"detail\":[1]}");
    s_put_b("audit/0000000000001000-node-b-0000000000000007",
            "{\"ts_ms\":4096,\"node\":\"node-b\",\"actor\":7,\"from\":\"\","
            "\"action\":\"actor.not.string\",\"subject\":\"s\"}");
    s_put_b("audit/00000000000010zz-node-b-0000000000000008", good);
    s_put_b("audit/0000000000001000-node-c-0000000000000009", good);
    s_put_b("audit/0000000000001000-node-b-000000000000000a",
            "{\"ts_ms\":4096,\"node\":\"node-b\",\"actor\":\"y\",\"from\":\"\","
            "\"action\":\"\",\"subject\":\"s\"}");
    s_replicate_b_to_a();
    json_t *entries = s_list(s_a, 0, 0);
    cr_assert_eq(json_array_size(entries), 1);
    cr_assert_str_eq(s_field(entries, 0, "action"), "ok.entry");
    cr_assert_eq(fk_audit_malformed(s_a), 9);
    json_decref(entries);
}

Test(fk_audit, decode_refuses_every_prefix_of_a_valid_payload)
{
    const char *key = "audit/0000000000001000-node-b-0000000000000001";
    const char *good = "{\"ts_ms\":4096,\"node\":\"node-b\",\"actor\":\"y\",\"from\":\"\","
                       "\"action\":\"ok.entry\",\"subject\":\"s\"}";
    json_t *entry = NULL;
    cr_assert_eq(fk_audit_decode(key, "node-b", good, strlen(good), &entry), 0);
    json_decref(entry);
    for (size_t len = 0; len < strlen(good); len++) {
        cr_assert_eq(fk_audit_decode(key, "node-b", good, len, &entry), FK_EPROTO_MALFORMED);
        cr_assert_null(entry);
    }
}

Test(fk_audit, the_sweep_deletes_own_entries_past_retention_and_leaves_peers_entries)
{
    cr_assert_eq(fk_audit_append(s_a, "x", "", "old.one", "", NULL), 0);
    cr_assert_eq(fk_audit_append(s_b, "y", "", "peer.old", "", NULL), 0);
    s_replicate_b_to_a();
    s_now_a += 3600 * 1000 + 1;
    cr_assert_eq(fk_audit_append(s_a, "x", "", "new.one", "", NULL), 0);
    cr_assert_eq(fk_audit_sweep(s_a), 1);
    json_t *entries = s_list(s_a, 0, 0);
    cr_assert_eq(json_array_size(entries), 2);
    cr_assert_str_eq(s_field(entries, 0, "action"), "peer.old");
    cr_assert_str_eq(s_field(entries, 1, "action"), "new.one");
    json_decref(entries);
    cr_assert_eq(fk_audit_sweep(s_a), 0, "nothing more to sweep");
}

Test(fk_audit, the_sweep_keeps_the_newest_max_entries_of_its_own)
{
    for (int i = 0; i < 8; i++) {
        char subject[8];
        snprintf(subject, sizeof subject, "s%d", i);
        cr_assert_eq(fk_audit_append(s_a, "x", "", "service.register", subject, NULL), 0);
        s_now_a += 1;
    }
    cr_assert_eq(fk_audit_sweep(s_a), 3);
    json_t *entries = s_list(s_a, 0, 0);
    cr_assert_eq(json_array_size(entries), 5);
    cr_assert_str_eq(s_field(entries, 0, "subject"), "s3");
    json_decref(entries);
}

Test(fk_audit, since_reads_rfc3339_unix_ms_and_durations)
{
    int64_t now = 1700000000000;
    int64_t since = 0;
    cr_assert_eq(fk_audit_parse_since("2023-11-14T22:13:20Z", now, &since), 0);
    cr_assert_eq(since, 1700000000000);
    cr_assert_eq(fk_audit_parse_since("2023-11-14T23:13:20.250+01:00", now, &since), 0);
    cr_assert_eq(since, 1700000000250);
    cr_assert_eq(fk_audit_parse_since("1699999999000", now, &since), 0);
    cr_assert_eq(since, 1699999999000);
    cr_assert_eq(fk_audit_parse_since("1h", now, &since), 0);
    cr_assert_eq(since, now - 3600000);
    cr_assert_eq(fk_audit_parse_since("7d", now, &since), 0);
    cr_assert_eq(since, now - 7 * 86400000LL);
    static const char *const bad[] = {"",
                                      "h",
                                      "1y",
                                      "-5m",
                                      "2023-13-01T00:00:00Z",
                                      "2023-11-14T22:13:20",
                                      "2023-11-14",
                                      "99999999999999999d",
                                      "2023-11-14T22:13:20Zjunk"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(fk_audit_parse_since(bad[i], now, &since), FK_EINVAL_INPUT, "%s", bad[i]);
    }
}
