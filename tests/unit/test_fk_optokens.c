/*  Tests for fk_optokens: operator tokens as replicated records. Two
    stores stand for two nodes; records go from one to the other the way
    replication carries them (fk_store_changes, then fk_store_apply). */

#include "fk_err.h"
#include "fk_mem.h"
#include "fk_optokens.h"
#include "fk_store.h"
#include "fk_testdir.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  A fixed "now": tokens are judged at times the tests choose. */
#define S_NOW 1700000000000LL

static char *s_dir_a;
static char *s_dir_b;
static fk_store_t *s_a; /* node-a */
static fk_store_t *s_b; /* node-b */

static void
s_setup(void)
{
    s_dir_a = fk_testdir_make("fk_optokens_a");
    s_dir_b = fk_testdir_make("fk_optokens_b");
    cr_assert_eq(fk_store_open(&s_a, s_dir_a, "node-a", 64u << 20, FK_STORE_SYNC_NONE), 0);
    cr_assert_eq(fk_store_open(&s_b, s_dir_b, "node-b", 64u << 20, FK_STORE_SYNC_NONE), 0);
}

static void
s_teardown(void)
{
    fk_store_destroy(&s_a);
    fk_store_destroy(&s_b);
    fk_testdir_remove(&s_dir_a);
    fk_testdir_remove(&s_dir_b);
}

TestSuite(fk_optokens, .init = s_setup, .fini = s_teardown);

/*  Create a token on store; returns the token string (caller frees). */
static char *
s_create(fk_store_t *store, const char *name, unsigned roles, int64_t ttl_ms, fk_optoken_t *out)
{
    fk_store_txn_t *txn;
    char *token = NULL;
    cr_assert_eq(fk_store_write_begin(store, &txn), 0);
    cr_assert_eq(fk_optokens_create(txn, name, roles, "admin-token", S_NOW, ttl_ms, out, &token),
                 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
    cr_assert_not_null(token);
    return token;
}

static int
s_verify(fk_store_t *store, const char *token, int64_t now, fk_optoken_t *out)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(store, &txn), 0);
    int rc = fk_optokens_verify(txn, token, now, out);
    fk_store_txn_end(&txn);
    return rc;
}

static int
s_revoke(fk_store_t *store, const char *accessor)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(store, &txn), 0);
    int rc = fk_optokens_revoke(txn, accessor, S_NOW + 1000);
    if (rc == 0) {
        cr_assert_eq(fk_store_commit(&txn), 0);
    }
    fk_store_txn_end(&txn);
    return rc;
}

static int
s_sweep(fk_store_t *store, int64_t now)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(store, &txn), 0);
    int n = fk_optokens_sweep(txn, now);
    cr_assert_geq(n, 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
    return n;
}

typedef struct {
    fk_store_txn_t *to;
    const char *owner;
} s_copy_t;

static int
s_copy_one(void *arg, const char *key, uint64_t version, const void *record, size_t len)
{
    (void)version;
    s_copy_t *copy = arg;
    cr_assert_geq(fk_store_apply(copy->to, copy->owner, key, record, len), 0);
    return 0;
}

/*  Replicate every record from's node wrote (tombstones too) into to. */
static void
s_replicate(fk_store_t *from, fk_store_t *to)
{
    fk_store_txn_t *src;
    fk_store_txn_t *dst;
    cr_assert_eq(fk_store_read_begin(from, &src), 0);
    cr_assert_eq(fk_store_write_begin(to, &dst), 0);
    s_copy_t copy = {.to = dst, .owner = fk_store_node(from)};
    cr_assert_eq(fk_store_changes(src, copy.owner, 0, s_copy_one, &copy), 0);
    cr_assert_eq(fk_store_commit(&dst), 0);
    fk_store_txn_end(&src);
}

static void
s_put_raw(fk_store_t *store, const char *key, const char *payload)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(store, &txn), 0);
    cr_assert_eq(fk_store_put(txn, key, payload, strlen(payload)), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
}

static int
s_count(void *arg, const fk_optoken_t *token)
{
    (void)token;
    (*(int *)arg)++;
    return 0;
}

static int
s_list_count(fk_store_t *store, int64_t now)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(store, &txn), 0);
    int n = 0;
    cr_assert_eq(fk_optokens_list(txn, now, s_count, &n), 0);
    fk_store_txn_end(&txn);
    return n;
}

Test(fk_optokens, a_created_token_verifies_with_its_name_and_roles)
{
    fk_optoken_t made;
    char *token = s_create(s_a, "alice", FK_ROLE_READ | FK_ROLE_APPROVE, 0, &made);
    cr_assert_eq(strlen(token), FK_OPTOKENS_TOKEN_LEN);
    cr_assert(strncmp(token, "fko_", 4) == 0);
    cr_assert(strncmp(token + 4, made.accessor, FK_OPTOKENS_ACCESSOR_LEN) == 0);
    fk_optoken_t seen;
    cr_assert_eq(s_verify(s_a, token, S_NOW + 1, &seen), 0);
    cr_assert_str_eq(seen.name, "alice");
    cr_assert_str_eq(seen.created_by, "admin-token");
    cr_assert_str_eq(seen.owner, "node-a");
    cr_assert_eq(seen.roles, FK_ROLE_READ | FK_ROLE_APPROVE);
    cr_assert_eq(seen.expires_ms, 0);
    free(token);
}

Test(fk_optokens, the_record_holds_the_hash_never_the_secret)
{
    fk_optoken_t made;
    char *token = s_create(s_a, "alice", FK_ROLE_READ, 0, &made);
    char key[64];
    snprintf(key, sizeof key, "optoken/%s", made.accessor);
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_a, &txn), 0);
    fk_store_entry_t entry;
    cr_assert_eq(fk_store_get(txn, key, NULL, &entry), 0);
    char *payload = fk_strndup(entry.record.payload, entry.record.payload_len);
    fk_store_txn_end(&txn);
    const char *secret = strchr(token, '.') + 1;
    cr_assert_null(strstr(payload, secret), "the secret is stored in clear: %s", payload);
    cr_assert_not_null(strstr(payload, "\"secret_sha256\""));
    free(payload);
    free(token);
}

Test(fk_optokens, a_wrong_secret_is_denied)
{
    fk_optoken_t made;
    char *token = s_create(s_a, "alice", FK_ROLE_OPERATOR, 0, &made);
    char *last = token + strlen(token) - 1;
    *last = *last == 'A' ? 'B' : 'A';
    fk_optoken_t seen;
    cr_assert_eq(s_verify(s_a, token, S_NOW, &seen), FK_EDENIED);
    cr_assert_eq(seen.roles, 0, "a denied token must not fill in roles");
    free(token);
}

Test(fk_optokens, strings_that_are_not_tokens_are_denied)
{
    fk_optoken_t made;
    char *token = s_create(s_a, "alice", FK_ROLE_READ, 0, &made);
    char upper[FK_OPTOKENS_TOKEN_LEN + 1];
    memcpy(upper, token, sizeof upper);
    upper[4] = 'A'; /* accessors are lowercase hex */
    char *longer = fk_asprintf("%sx", token);
    char *shorter = fk_strndup(token, strlen(token) - 1);
    char *no_dot = fk_strdup(token);
    no_dot[4 + FK_OPTOKENS_ACCESSOR_LEN] = '_';
    const char *bad[] = {"", "fko_", "Bearer x", upper, longer, shorter, no_dot, token + 1};
    fk_optoken_t seen;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(s_verify(s_a, bad[i], S_NOW, &seen), FK_EDENIED, "'%s' verified", bad[i]);
    }
    cr_assert_eq(s_verify(s_a, NULL, S_NOW, &seen), FK_EDENIED);
    char accessor[FK_OPTOKENS_ACCESSOR_LEN + 1];
    const char *secret = NULL;
    cr_assert_eq(fk_optokens_parse(token, accessor, &secret), 0);
    cr_assert_str_eq(accessor, made.accessor);
    cr_assert_eq(strlen(secret), FK_OPTOKENS_SECRET_LEN);
    free(longer);
    free(shorter);
    free(no_dot);
    free(token);
}

/*  template with its '@' (at most one) replaced by digest; fresh. */
static char *
s_with_digest(const char *template, const char *digest)
{
    const char *at = strchr(template, '@');
    if (!at) {
        return fk_strdup(template);
    }
    return fk_asprintf("%.*s%s%s", (int)(at - template), template, digest, at + 1);
}

Test(fk_optokens, a_malformed_record_reads_as_absent)
{
    /*  Each is what another version of the node, or a bug, could have
        written and replicated: none may authenticate, list or revoke. */
    const char *bad[] = {
        "not json",
        "[]",
        "{\"name\":\"x\",\"roles\":[\"read\"],\"created_ms\":1,\"created_by\":\"a\"}",
        "{\"name\":\"x\",\"roles\":[\"root\"],\"secret_sha256\":\"@\",\"created_ms\":1,"
        "\"created_by\":\"a\"}",
        "{\"name\":\"x\",\"roles\":[],\"secret_sha256\":\"@\",\"created_ms\":1,"
        "\"created_by\":\"a\"}",
        "{\"name\":\"x\",\"roles\":\"read\",\"secret_sha256\":\"@\",\"created_ms\":1,"
        "\"created_by\":\"a\"}",
        "{\"name\":\"\",\"roles\":[\"read\"],\"secret_sha256\":\"@\",\"created_ms\":1,"
        "\"created_by\":\"a\"}",
        "{\"name\":\"x\",\"roles\":[\"read\"],\"secret_sha256\":\"@\",\"created_ms\":\"1\","
        "\"created_by\":\"a\"}",
        "{\"name\":\"x\",\"roles\":[\"read\",\"read\"],\"secret_sha256\":\"@\",\"created_ms\":1,"
        "\"created_by\":\"a\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fk_optoken_t made;
        char *token = s_create(s_b, "victim", FK_ROLE_READ, 0, &made);
        char key[64];
        snprintf(key, sizeof key, "optoken/%s", made.accessor);
        /*  The right digest, so only the shape is wrong. */
        fk_store_txn_t *txn;
        cr_assert_eq(fk_store_read_begin(s_b, &txn), 0);
        fk_store_entry_t entry;
        cr_assert_eq(fk_store_get(txn, key, NULL, &entry), 0);
        char *payload = fk_strndup(entry.record.payload, entry.record.payload_len);
        fk_store_txn_end(&txn);
        char *digest = strstr(payload, "\"secret_sha256\":\"") + 17;
        digest[64] = '\0';
        char *doc = s_with_digest(bad[i], digest);
        s_put_raw(s_b, key, doc);
        fk_optoken_t seen;
        cr_assert_eq(s_verify(s_b, token, S_NOW, &seen), FK_EDENIED, "accepted %s", doc);
        cr_assert_eq(s_revoke(s_b, made.accessor), FK_ENOTFOUND);
        free(doc);
        free(payload);
        free(token);
    }
    cr_assert_eq(s_list_count(s_b, S_NOW), 0);
    /*  Its owner sweeps them away: they can never authenticate. */
    cr_assert_eq(s_sweep(s_b, S_NOW), (int)(sizeof bad / sizeof bad[0]));
}

Test(fk_optokens, an_expired_token_is_denied_unlisted_and_swept)
{
    fk_optoken_t made;
    char *token = s_create(s_a, "temp", FK_ROLE_READ, 60000, &made);
    cr_assert_eq(made.expires_ms, S_NOW + 60000);
    fk_optoken_t seen;
    cr_assert_eq(s_verify(s_a, token, S_NOW + 59999, &seen), 0);
    cr_assert_eq(s_list_count(s_a, S_NOW + 59999), 1);
    cr_assert_eq(s_sweep(s_a, S_NOW + 59999), 0);
    cr_assert_eq(s_verify(s_a, token, S_NOW + 60000, &seen), FK_EDENIED);
    cr_assert_eq(s_list_count(s_a, S_NOW + 60000), 0);
    cr_assert_eq(s_sweep(s_a, S_NOW + 60000), 1);
    cr_assert_eq(s_verify(s_a, token, S_NOW, &seen), FK_EDENIED, "the record outlived the sweep");
    free(token);
}

Test(fk_optokens, revoking_on_the_owner_deletes_the_record_everywhere)
{
    fk_optoken_t made;
    char *token = s_create(s_a, "alice", FK_ROLE_APPROVE, 0, &made);
    s_replicate(s_a, s_b);
    fk_optoken_t seen;
    cr_assert_eq(s_verify(s_b, token, S_NOW, &seen), 0, "the token did not replicate");
    cr_assert_eq(s_revoke(s_a, made.accessor), 0);
    cr_assert_eq(s_verify(s_a, token, S_NOW, &seen), FK_EDENIED);
    s_replicate(s_a, s_b);
    cr_assert_eq(s_verify(s_b, token, S_NOW, &seen), FK_EDENIED);
    cr_assert_eq(s_revoke(s_a, made.accessor), FK_ENOTFOUND);
    free(token);
}

Test(fk_optokens, revoking_elsewhere_writes_a_marker_every_node_checks)
{
    fk_optoken_t made;
    char *token = s_create(s_a, "alice", FK_ROLE_OPERATOR, 0, &made);
    s_replicate(s_a, s_b);
    /*  node-b cannot delete node-a's record: it marks it revoked. */
    cr_assert_eq(s_revoke(s_b, made.accessor), 0);
    fk_optoken_t seen;
    cr_assert_eq(s_verify(s_b, token, S_NOW, &seen), FK_EDENIED);
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_b, &txn), 0);
    cr_assert_eq(fk_optokens_live(txn, made.accessor, S_NOW), FK_EDENIED);
    fk_store_txn_end(&txn);
    cr_assert_eq(s_list_count(s_b, S_NOW), 0);
    cr_assert_eq(s_revoke(s_b, made.accessor), 0, "a second revocation is not an error");
    /*  The owner honours the marker once it arrives... */
    cr_assert_eq(s_verify(s_a, token, S_NOW, &seen), 0);
    s_replicate(s_b, s_a);
    cr_assert_eq(s_verify(s_a, token, S_NOW, &seen), FK_EDENIED);
    /*  ...and deletes its record; the marker stays for a day after. */
    cr_assert_eq(s_sweep(s_a, S_NOW), 1);
    s_replicate(s_a, s_b);
    cr_assert_eq(s_sweep(s_b, S_NOW + 3600 * 1000), 0);
    cr_assert_eq(s_sweep(s_b, S_NOW + 25LL * 3600 * 1000), 1);
    cr_assert_eq(s_verify(s_b, token, S_NOW, &seen), FK_EDENIED);
    free(token);
}

Test(fk_optokens, operator_implies_every_role_and_no_other_role_implies_one)
{
    cr_assert(fk_optokens_allows(FK_ROLE_OPERATOR, FK_ROLE_READ));
    cr_assert(fk_optokens_allows(FK_ROLE_OPERATOR, FK_ROLE_APPROVE));
    cr_assert(fk_optokens_allows(FK_ROLE_READ | FK_ROLE_APPROVE, FK_ROLE_APPROVE));
    cr_assert_not(fk_optokens_allows(FK_ROLE_APPROVE, FK_ROLE_READ));
    cr_assert_not(fk_optokens_allows(FK_ROLE_REGISTER, FK_ROLE_READ));
    cr_assert_not(fk_optokens_allows(FK_ROLE_READ | FK_ROLE_REGISTER | FK_ROLE_APPROVE,
                                     FK_ROLE_OPERATOR));
    cr_assert_eq(fk_optokens_role("approve"), FK_ROLE_APPROVE);
    cr_assert_eq(fk_optokens_role("Approve"), 0);
    cr_assert_eq(fk_optokens_role(NULL), 0);
    cr_assert_str_eq(fk_optokens_role_name(FK_ROLE_REGISTER), "register");
    cr_assert_null(fk_optokens_role_name(FK_ROLE_READ | FK_ROLE_APPROVE));
}

Test(fk_optokens, create_refuses_bad_names_and_roles)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_a, &txn), 0);
    fk_optoken_t out;
    char *token = NULL;
    char long_name[FK_OPTOKENS_NAME_MAX + 2];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    cr_assert_eq(fk_optokens_create(txn, "", FK_ROLE_READ, "x", S_NOW, 0, &out, &token),
                 FK_EINVAL_INPUT);
    cr_assert_eq(fk_optokens_create(txn, long_name, FK_ROLE_READ, "x", S_NOW, 0, &out, &token),
                 FK_EINVAL_INPUT);
    cr_assert_eq(fk_optokens_create(txn, "a\nb", FK_ROLE_READ, "x", S_NOW, 0, &out, &token),
                 FK_EINVAL_INPUT);
    cr_assert_eq(fk_optokens_create(txn, "a", 0, "x", S_NOW, 0, &out, &token), FK_EINVAL_INPUT);
    cr_assert_eq(fk_optokens_create(txn, "a", 1u << 7, "x", S_NOW, 0, &out, &token),
                 FK_EINVAL_INPUT);
    cr_assert_eq(fk_optokens_create(txn, "a", FK_ROLE_READ, "x", S_NOW, -1, &out, &token),
                 FK_EINVAL_INPUT);
    cr_assert_null(token);
    fk_store_txn_end(&txn);
}
