/*  Tests for node/trust: the node key file, membership by admission and
    ban records (with inheritance and the earliest-admission rule), record
    checks, and join tokens. Two stores stand for two nodes. */

#include "fk_clock.h"
#include "fk_err.h"
#include "fk_identity.h"
#include "fk_testdir.h"
#include "fk_tokens.h"
#include "fk_trust.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *s_dir_a;
static char *s_dir_b;
static fk_identity_t *s_id_a;
static fk_identity_t *s_id_b;
static fk_store_t *s_a;
static fk_store_t *s_b;

static void
s_setup(void)
{
    s_dir_a = fk_testdir_make("fk_trust_a");
    s_dir_b = fk_testdir_make("fk_trust_b");
    cr_assert_eq(fk_identity_load(&s_id_a, s_dir_a), 0);
    cr_assert_eq(fk_identity_load(&s_id_b, s_dir_b), 0);
    cr_assert_eq(fk_store_open(&s_a, s_dir_a, "a", 64u << 20, FK_STORE_SYNC_NONE), 0);
    cr_assert_eq(fk_store_open(&s_b, s_dir_b, "b", 64u << 20, FK_STORE_SYNC_NONE), 0);
    fk_store_set_signer(s_a, fk_identity_sign_key(s_id_a));
    fk_store_set_signer(s_b, fk_identity_sign_key(s_id_b));
}

static void
s_teardown(void)
{
    fk_store_destroy(&s_a);
    fk_store_destroy(&s_b);
    fk_identity_destroy(&s_id_a);
    fk_identity_destroy(&s_id_b);
    fk_testdir_remove(&s_dir_a);
    fk_testdir_remove(&s_dir_b);
}

TestSuite(fk_trust, .init = s_setup, .fini = s_teardown);

/*  ---- the key file --------------------------------------------------- */

Test(fk_trust, the_node_key_is_made_once_private_and_kept)
{
    char *path = NULL;
    cr_assert_gt(asprintf(&path, "%s/node.key", s_dir_a), 0);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "node.key is not 0600");
    fk_identity_t *again = NULL;
    cr_assert_eq(fk_identity_load(&again, s_dir_a), 0);
    cr_assert_eq(memcmp(fk_identity_curve_public(again), fk_identity_curve_public(s_id_a), 32), 0);
    cr_assert_eq(memcmp(fk_identity_sign_public(again), fk_identity_sign_public(s_id_a), 32), 0,
                 "a second load made another key");
    fk_identity_destroy(&again);
    cr_assert_neq(memcmp(fk_identity_curve_public(s_id_a), fk_identity_curve_public(s_id_b), 32), 0);

    cr_assert_eq(chmod(path, 0644), 0);
    cr_assert_eq(fk_identity_load(&again, s_dir_a), FK_ECONFIG, "a readable key file was used");
    cr_assert_null(again);
    cr_assert_eq(chmod(path, 0600), 0);
    FILE *file = fopen(path, "w");
    cr_assert_not_null(file);
    fputs("{\"curve_public\": \"short\"}", file);
    fclose(file);
    cr_assert_eq(fk_identity_load(&again, s_dir_a), FK_ECONFIG, "a broken key file was used");
    free(path);
}

Test(fk_trust, a_cluster_secret_file_reads_back_and_must_be_private)
{
    char *path = NULL;
    cr_assert_gt(asprintf(&path, "%s/cluster.secret", s_dir_a), 0);
    char *text = fk_cluster_secret_new();
    cr_assert_eq(strncmp(text, FK_CLUSTER_SECRET_PREFIX, strlen(FK_CLUSTER_SECRET_PREFIX)), 0);
    FILE *file = fopen(path, "w");
    cr_assert_not_null(file);
    fputs(text, file);
    fclose(file);
    cr_assert_eq(chmod(path, 0600), 0);
    uint8_t secret[FK_CLUSTER_SECRET_LEN];
    cr_assert_eq(fk_cluster_secret_read(path, secret), 0);
    cr_assert_eq(chmod(path, 0640), 0);
    cr_assert_eq(fk_cluster_secret_read(path, secret), FK_ECONFIG);
    cr_assert_eq(chmod(path, 0600), 0);
    file = fopen(path, "w");
    fputs("fks1.tooshort\n", file);
    fclose(file);
    cr_assert_eq(fk_cluster_secret_read(path, secret), FK_ECONFIG);
    free(text);
    free(path);
}

/*  ---- membership by records ------------------------------------------ */

/*  Copy every record of owner from one store to the other, verified as
    replication does. Returns how many were refused. */
typedef struct {
    fk_store_txn_t *into; /* write transaction of the receiver */
    const char *owner;    /* whose records */
    fk_trust_t *judge;    /* the receiver's trust */
    int refused;          /* records the judge refused */
} s_copy_t;

static int
s_copy_one(void *arg, const char *key, uint64_t version, const void *record, size_t len)
{
    (void)version;
    s_copy_t *copy = arg;
    fk_record_t rec;
    cr_assert_eq(fk_record_decode(record, len, &rec), 0);
    if (fk_trust_check_record(copy->judge, copy->owner, key, &rec) != 0) {
        copy->refused++;
        return 0;
    }
    cr_assert_geq(fk_store_apply(copy->into, copy->owner, key, record, len), 0);
    return 0;
}

static int
s_copy(fk_store_t *from, fk_store_t *to, const char *owner, fk_trust_t *judge)
{
    fk_store_txn_t *src;
    fk_store_txn_t *dst;
    cr_assert_eq(fk_store_read_begin(from, &src), 0);
    cr_assert_eq(fk_store_write_begin(to, &dst), 0);
    s_copy_t copy = {.into = dst, .owner = owner, .judge = judge};
    cr_assert_eq(fk_store_changes(src, owner, 0, s_copy_one, &copy), 0);
    cr_assert_eq(fk_store_commit(&dst), 0);
    fk_store_txn_end(&src);
    return copy.refused;
}

static int
s_load(fk_trust_t *trust, fk_store_t *store)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(store, &txn), 0);
    int rc = fk_trust_load(trust, txn, NULL, NULL);
    fk_store_txn_end(&txn);
    return rc;
}

static void
s_admit(fk_trust_t *trust, fk_store_t *store, const char *name, const fk_identity_t *id, int want)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(store, &txn), 0);
    cr_assert_eq(fk_trust_admit(trust, txn, name, "127.0.0.9:1", fk_identity_curve_public(id),
                                fk_identity_sign_public(id)),
                 want);
    cr_assert_eq(fk_store_commit(&txn), 0);
}

Test(fk_trust, an_admission_binds_a_name_to_its_keys_and_others_records_need_it)
{
    fk_trust_t *trust_a = fk_trust_new("a", s_id_a);
    fk_trust_t *trust_b = fk_trust_new("b", s_id_b);
    cr_assert_eq(fk_trust_count(trust_a), 1, "a table knows only its own node at first");
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_b, &txn), 0);
    cr_assert_eq(fk_store_put(txn, "svc/x/1", "{}", 2), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
    cr_assert_eq(s_copy(s_b, s_a, "b", trust_a), 1, "a stored a record of a non-member");

    s_admit(trust_a, s_a, "b", s_id_b, 0);
    cr_assert_eq(s_load(trust_a, s_a), 1);
    fk_trust_member_t member;
    cr_assert(fk_trust_find(trust_a, "b", &member));
    cr_assert_str_eq(member.by, "a");
    cr_assert_eq(memcmp(member.sign, fk_identity_sign_public(s_id_b), 32), 0);
    cr_assert_str_eq(fk_trust_name_of(trust_a, fk_identity_curve_public(s_id_b)), "b");
    cr_assert_eq(s_copy(s_b, s_a, "b", trust_a), 0, "b's own signed record was refused");

    /*  A record b's key did not sign is refused, whoever relays it. */
    cr_assert_eq(fk_store_write_begin(s_a, &txn), 0);
    cr_assert_eq(fk_store_put(txn, "svc/y/1", "{}", 2), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
    fk_store_txn_t *read;
    cr_assert_eq(fk_store_read_begin(s_a, &read), 0);
    fk_store_entry_t entry;
    cr_assert_eq(fk_store_get(read, "svc/y/1", "a", &entry), 0);
    cr_assert_eq(fk_trust_check_record(trust_a, "b", "svc/y/1", &entry.record), FK_EDENIED,
                 "a's signature passed as b's");
    fk_store_txn_end(&read);
    fk_trust_destroy(&trust_a);
    fk_trust_destroy(&trust_b);
}

typedef struct {
    const char *owner; /* whose records to count */
    int count;         /* counted */
} s_count_t;

static int
s_count_owned(void *arg, const fk_store_entry_t *entry)
{
    s_count_t *count = arg;
    count->count += strcmp(entry->owner, count->owner) == 0;
    return 0;
}

/*  The number of admit/ and ban/ records owner holds in store. */
static int
s_owned(fk_store_t *store, const char *owner)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(store, &txn), 0);
    s_count_t count = {.owner = owner};
    cr_assert_eq(fk_store_scan(txn, "admit/", s_count_owned, &count), 0);
    cr_assert_eq(fk_store_scan(txn, "ban/", s_count_owned, &count), 0);
    fk_store_txn_end(&txn);
    return count.count;
}

Test(fk_trust, a_forgotten_admitter_leaves_what_it_admitted_and_banned_standing)
{
    fk_trust_t *trust_a = fk_trust_new("a", s_id_a);
    fk_trust_t *trust_b = fk_trust_new("b", s_id_b);
    /*  a admits b, c and d, then bans d; b admits a (the mutual edge of a
        join). */
    fk_identity_t *id_c = NULL;
    fk_identity_t *id_d = NULL;
    char *dir_c = fk_testdir_make("fk_trust_c");
    char *dir_d = fk_testdir_make("fk_trust_d");
    cr_assert_eq(fk_identity_load(&id_c, dir_c), 0);
    cr_assert_eq(fk_identity_load(&id_d, dir_d), 0);
    s_admit(trust_a, s_a, "b", s_id_b, 0);
    s_admit(trust_a, s_a, "c", id_c, 0);
    s_admit(trust_a, s_a, "d", id_d, 0);
    s_load(trust_a, s_a);
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_a, &txn), 0);
    cr_assert_eq(fk_trust_ban(trust_a, txn, "d"), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
    s_admit(trust_b, s_b, "a", s_id_a, 0);
    s_load(trust_b, s_b);
    cr_assert_eq(s_copy(s_a, s_b, "a", trust_b), 0);
    s_load(trust_b, s_b);
    cr_assert(fk_trust_find(trust_b, "c", NULL), "b did not learn c from a's records");
    cr_assert(fk_trust_banned(trust_b, fk_identity_curve_public(id_d)));
    cr_assert_eq(s_owned(s_b, "b"), 1, "b copied admissions nobody forgot");

    /*  b bans a, as force-leave --ban does: the table learns the ban, b
        copies what a admitted and banned, then forgets a's records. */
    cr_assert_eq(fk_store_write_begin(s_b, &txn), 0);
    cr_assert_eq(fk_trust_ban(trust_b, txn, "a"), 0);
    cr_assert_geq(fk_trust_load(trust_b, txn, NULL, NULL), 1);
    cr_assert_eq(fk_trust_inherit(trust_b, txn, "a"), 2, "b copied other than c's admission "
                                                          "and d's ban");
    cr_assert_eq(fk_trust_inherit(trust_b, txn, "a"), 0, "inheriting twice wrote again");
    cr_assert_eq(fk_store_forget_owner(txn, "a"), 0);
    cr_assert_eq(fk_trust_tidy(trust_b, txn), 1, "b kept its admission of the banned a");
    cr_assert_eq(fk_store_commit(&txn), 0);
    s_load(trust_b, s_b);
    cr_assert_not(fk_trust_find(trust_b, "a", NULL), "a banned key is still a member");
    cr_assert_null(fk_trust_name_of(trust_b, fk_identity_curve_public(s_id_a)));
    cr_assert(fk_trust_banned(trust_b, fk_identity_curve_public(s_id_a)));
    cr_assert(fk_trust_find(trust_b, "c", NULL), "the ban of a took c with it");
    cr_assert(fk_trust_banned(trust_b, fk_identity_curve_public(id_d)),
              "the ban of a lifted a's ban of d");
    /*  A banned key is never admitted again, under any name. */
    s_admit(trust_b, s_b, "a2", s_id_a, FK_EDENIED);
    fk_identity_destroy(&id_c);
    fk_identity_destroy(&id_d);
    fk_testdir_remove(&dir_c);
    fk_testdir_remove(&dir_d);
    fk_trust_destroy(&trust_a);
    fk_trust_destroy(&trust_b);
}

Test(fk_trust, a_name_is_never_taken_over_by_another_key)
{
    fk_trust_t *trust_a = fk_trust_new("a", s_id_a);
    s_admit(trust_a, s_a, "b", s_id_b, 0);
    s_load(trust_a, s_a);
    fk_identity_t *id_x = NULL;
    char *dir_x = fk_testdir_make("fk_trust_x");
    cr_assert_eq(fk_identity_load(&id_x, dir_x), 0);
    s_admit(trust_a, s_a, "b", id_x, FK_EEXISTS);
    s_admit(trust_a, s_a, "a", id_x, FK_EEXISTS);
    s_admit(trust_a, s_a, "b", s_id_b, 0);
    fk_identity_destroy(&id_x);
    fk_testdir_remove(&dir_x);
    fk_trust_destroy(&trust_a);
}

/*  ---- join tokens ------------------------------------------------------ */

Test(fk_trust, a_join_token_admits_its_uses_until_it_expires)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_a, &txn), 0);
    char *text = NULL;
    cr_assert_eq(fk_tokens_create(txn, fk_identity_curve_public(s_id_a), 60000, 2, &text), 0);
    cr_assert_eq(fk_tokens_create(txn, fk_identity_curve_public(s_id_a), 0, 1, &(char *){NULL}),
                 FK_EINVAL_INPUT);
    cr_assert_eq(fk_store_commit(&txn), 0);
    fk_admit_token_t token;
    cr_assert_eq(fk_admit_token_decode(text, &token), 0);
    cr_assert_eq(memcmp(token.seed_curve, fk_identity_curve_public(s_id_a), 32), 0,
                 "the token does not pin the node that made it");
    uint8_t secret[FK_ADMIT_SECRET_LEN];
    int64_t now = fk_clock_wall_ms();
    cr_assert_eq(fk_store_write_begin(s_a, &txn), 0);
    cr_assert(fk_tokens_live(txn, now));
    cr_assert_eq(fk_tokens_get(txn, token.id, now, secret), 0);
    cr_assert_eq(memcmp(secret, token.secret, sizeof secret), 0);
    cr_assert_eq(fk_tokens_get(txn, token.id, now + 60001, secret), FK_EEXPIRED);
    cr_assert_eq(fk_tokens_consume(txn, token.id), 0);
    cr_assert_eq(fk_tokens_consume(txn, token.id), 0);
    cr_assert_eq(fk_tokens_get(txn, token.id, now, secret), FK_EUSED);
    cr_assert_eq(fk_tokens_consume(txn, token.id), FK_EUSED);
    cr_assert_not(fk_tokens_live(txn, now));
    uint8_t unknown[FK_ADMIT_TOKEN_ID_LEN] = {0};
    cr_assert_eq(fk_tokens_get(txn, unknown, now, secret), FK_ENOTFOUND);
    cr_assert_eq(fk_store_commit(&txn), 0);
    free(text);
}

static int
s_count_token(void *arg, const fk_token_info_t *token)
{
    cr_assert_eq(strlen(token->id), 32);
    (*(int *)arg)++;
    return 0;
}

Test(fk_trust, a_revoked_join_token_is_gone)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_a, &txn), 0);
    char *text = NULL;
    cr_assert_eq(fk_tokens_create(txn, fk_identity_curve_public(s_id_a), 60000, 1, &text), 0);
    int count = 0;
    cr_assert_eq(fk_tokens_list(txn, s_count_token, &count), 0);
    cr_assert_eq(count, 1);
    fk_admit_token_t token;
    cr_assert_eq(fk_admit_token_decode(text, &token), 0);
    char id[33];
    for (int i = 0; i < 16; i++) {
        snprintf(id + 2 * i, 3, "%02x", token.id[i]);
    }
    cr_assert_eq(fk_tokens_revoke(txn, id), 0);
    cr_assert_eq(fk_tokens_revoke(txn, id), FK_ENOTFOUND);
    uint8_t secret[FK_ADMIT_SECRET_LEN];
    cr_assert_eq(fk_tokens_get(txn, token.id, fk_clock_wall_ms(), secret), FK_ENOTFOUND);
    cr_assert_eq(fk_store_commit(&txn), 0);
    free(text);
}
