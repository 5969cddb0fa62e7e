/*  Tests for the grants plane through its public header (fk_grants.h):
    the device flow, refresh rotation, redeem, revocation, bearer checks,
    the v1 dialect, forwarding to a record's owner, and records that do
    not decode. Each test runs over temporary stores with fake clocks and
    a fake forwarder (tests/support/fk_testgrants.h). */

#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_grants.h"
#include "fk_json.h"
#include "fk_jwt.h"
#include "fk_log.h"
#include "fk_mem.h"
#include "fk_testgrants.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static fk_testgrants_t *s_set;
static fk_grants_t *s_a; /* node-a's grants: holds the service */
static fk_grants_t *s_b; /* node-b's grants */

static void
s_setup(void)
{
    fk_log_set_level(FK_LOG_OFF);
    s_set = fk_testgrants_new(2, "fk_grants");
    s_a = s_set->nodes[0].grants;
    s_b = s_set->nodes[1].grants;
}

static void
s_teardown(void)
{
    fk_testgrants_destroy(&s_set);
}

TestSuite(fk_grants, .init = s_setup, .fini = s_teardown);

/*  Authorize on grants g: returns the answer (device_code, user_code,
    client_id). */
static json_t *
s_authorize(fk_grants_t *g)
{
    json_t *manifest = fk_testgrants_manifest("org.example.app", "1.0");
    json_t *request = json_object();
    json_t *answer = NULL;
    fk_grants_why_t why;
    int rc = fk_grants_authorize(g, manifest, request, &answer, &why);
    cr_assert_eq(rc, 0, "authorize: %s", why.text);
    json_decref(request);
    json_decref(manifest);
    return answer;
}

static int
s_exchange(fk_grants_t *g, const json_t *auth, const char *client_id, json_t **answer_p,
           fk_grants_why_t *why)
{
    return fk_grants_exchange_device_code(g, fk_json_str(auth, "device_code"), client_id,
                                          &fk_testgrants_origin, answer_p, why);
}

static void
s_approve(fk_grants_t *g, const char *user_code)
{
    json_t *answer = NULL;
    fk_grants_why_t why;
    int rc = fk_grants_decide(g, user_code, true, NULL, "tester", &answer, &why);
    cr_assert_eq(rc, 0, "approve: %s", why.text);
    json_decref(answer);
}

/*  A full device flow on node-a: the token response. */
static json_t *
s_login(void)
{
    json_t *auth = s_authorize(s_a);
    s_approve(s_a, fk_json_str(auth, "user_code"));
    json_t *tokens = NULL;
    fk_grants_why_t why;
    int rc = s_exchange(s_a, auth, fk_json_str(auth, "client_id"), &tokens, &why);
    cr_assert_eq(rc, 0, "exchange: %s", why.text);
    json_decref(auth);
    return tokens;
}

Test(fk_grants, approved_device_code_gives_tokens_once)
{
    json_t *auth = s_authorize(s_a);
    json_t *pending = fk_grants_pending(s_a);
    cr_assert_eq(json_array_size(pending), 1);
    json_decref(pending);
    s_approve(s_a, fk_json_str(auth, "user_code"));
    json_t *tokens = NULL;
    fk_grants_why_t why;
    cr_assert_eq(s_exchange(s_a, auth, fk_json_str(auth, "client_id"), &tokens, &why), 0, "%s",
                 why.text);
    cr_assert_not_null(fk_json_str(tokens, "access_token"));
    cr_assert_not_null(fk_json_str(tokens, "refresh_token"));
    cr_assert_str_eq(fk_json_str(json_object_get(tokens, "statuses"), "rekuest"), "granted");
    json_decref(tokens);
    /*  Single use: the code is burnt. */
    cr_assert_eq(s_exchange(s_a, auth, fk_json_str(auth, "client_id"), &tokens, &why),
                 FK_EINVAL_INPUT);
    cr_assert_null(tokens);
    json_decref(auth);
}

Test(fk_grants, undecided_code_is_pending_then_slow_down)
{
    json_t *auth = s_authorize(s_a);
    json_t *tokens = NULL;
    fk_grants_why_t why;
    cr_assert_eq(s_exchange(s_a, auth, NULL, &tokens, &why), FK_EPENDING);
    /*  Polled again at once, well inside the 5 s interval. */
    cr_assert_eq(s_exchange(s_a, auth, NULL, &tokens, &why), FK_ESLOWDOWN);
    json_decref(auth);
}

Test(fk_grants, denied_and_expired_codes)
{
    json_t *denied = s_authorize(s_a);
    json_t *answer = NULL;
    fk_grants_why_t why;
    cr_assert_eq(
        fk_grants_decide(s_a, fk_json_str(denied, "user_code"), false, NULL, "tester", &answer,
                         &why),
        0);
    json_decref(answer);
    cr_assert_eq(fk_grants_decide(s_a, fk_json_str(denied, "user_code"), true, NULL, "tester",
                                  &answer, &why),
                 FK_EUSED, "a decided code cannot be decided again");
    cr_assert_eq(s_exchange(s_a, denied, NULL, &answer, &why), FK_EDENIED);

    json_t *late = s_authorize(s_a);
    fk_testgrants_advance(s_set, 301 * 1000);
    cr_assert_eq(s_exchange(s_a, late, NULL, &answer, &why), FK_EEXPIRED);
    cr_assert_eq(fk_grants_decide(s_a, fk_json_str(late, "user_code"), true, NULL, "tester",
                                  &answer, &why),
                 FK_ENOTFOUND);
    json_decref(late);
    json_decref(denied);
}

Test(fk_grants, user_codes_are_found_in_any_case_and_with_dashes)
{
    json_t *auth = s_authorize(s_a);
    const char *user_code = fk_json_str(auth, "user_code");
    char typed[32];
    snprintf(typed, sizeof typed, "%.5s-%s", user_code, user_code + 5);
    for (char *p = typed; *p; p++) {
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    }
    json_t *row = fk_grants_code(s_a, typed);
    cr_assert_not_null(row, "%s not found", typed);
    cr_assert_str_eq(fk_json_str(row, "user_code"), user_code);
    json_decref(row);
    json_decref(auth);
}

Test(fk_grants, foreign_client_ids_are_told_apart_without_a_scan)
{
    json_t *mine = s_authorize(s_a);
    json_t *other = s_authorize(s_a);
    json_t *answer = NULL;
    fk_grants_why_t why;
    /*  A client id nobody issued: invalid_client. */
    cr_assert_eq(s_exchange(s_a, mine, "00000000-0000-4000-8000-000000000000", &answer, &why),
                 FK_ECLIENT);
    /*  The client id of another pending code: unauthorized_client. */
    cr_assert_eq(s_exchange(s_a, mine, fk_json_str(other, "client_id"), &answer, &why),
                 FK_EWRONG_CLIENT);
    json_decref(other);
    json_decref(mine);
}

Test(fk_grants, refresh_rotates_and_the_old_token_dies)
{
    json_t *tokens = s_login();
    const char *client_id = fk_json_str(tokens, "client_id");
    json_t *fresh = NULL;
    fk_grants_why_t why;
    cr_assert_eq(fk_grants_exchange_refresh(s_a, fk_json_str(tokens, "refresh_token"), client_id,
                                            &fk_testgrants_origin, &fresh, &why),
                 0, "%s", why.text);
    json_t *again = NULL;
    cr_assert_eq(fk_grants_exchange_refresh(s_a, fk_json_str(tokens, "refresh_token"), client_id,
                                            &fk_testgrants_origin, &again, &why),
                 FK_EGRANT);
    cr_assert_eq(fk_grants_exchange_refresh(s_a, fk_json_str(fresh, "refresh_token"), "someone",
                                            &fk_testgrants_origin, &again, &why),
                 FK_EGRANT, "another client's refresh token");
    json_decref(fresh);
    json_decref(tokens);
}

Test(fk_grants, revoked_tokens_stop_working)
{
    json_t *tokens = s_login();
    json_t *claims = NULL;
    fk_grants_why_t why;
    const char *access = fk_json_str(tokens, "access_token");
    cr_assert_eq(fk_grants_check_bearer(s_a, access, &claims, &why), 0, "%s", why.text);
    json_decref(claims);
    cr_assert_eq(fk_grants_revoke(s_a, access, NULL, NULL, &why), 0, "%s", why.text);
    cr_assert_eq(fk_grants_check_bearer(s_a, access, &claims, &why), FK_ETOKEN);
    cr_assert_eq(
        fk_grants_revoke(s_a, fk_json_str(tokens, "refresh_token"), "refresh_token", NULL, &why),
        0);
    json_t *fresh = NULL;
    cr_assert_eq(fk_grants_exchange_refresh(s_a, fk_json_str(tokens, "refresh_token"),
                                            fk_json_str(tokens, "client_id"), &fk_testgrants_origin,
                                            &fresh, &why),
                 FK_EGRANT);
    cr_assert_eq(fk_grants_revoke(s_a, "never-issued", NULL, NULL, &why), 0,
                 "unknown tokens revoke fine (RFC 7009)");
    cr_assert_eq(fk_grants_revoke(s_a, "", NULL, NULL, &why), FK_EINVAL_INPUT);
    json_decref(tokens);
}

Test(fk_grants, redeem_gives_one_client_per_manifest)
{
    json_t *minted = NULL;
    fk_grants_why_t why;
    cr_assert_eq(fk_grants_mint_redeem(s_a, 1, 0, &minted, &why), 0);
    const char *token = fk_json_str(minted, "token");
    json_t *manifest = fk_testgrants_manifest("org.example.headless", "2.0");
    json_t *first = NULL;
    json_t *second = NULL;
    cr_assert_eq(
        fk_grants_exchange_redeem(s_a, token, manifest, &fk_testgrants_origin, &first, &why), 0,
        "%s", why.text);
    cr_assert_eq(
        fk_grants_exchange_redeem(s_a, token, manifest, &fk_testgrants_origin, &second, &why), 0,
        "%s", why.text);
    cr_assert_str_eq(fk_json_str(first, "client_id"), fk_json_str(second, "client_id"));
    json_t *changed = fk_testgrants_manifest("org.example.headless", "2.1");
    json_t *refused = NULL;
    cr_assert_eq(
        fk_grants_exchange_redeem(s_a, token, changed, &fk_testgrants_origin, &refused, &why),
        FK_EGRANT);
    /*  A week later the token has expired (1 day). */
    fk_testgrants_advance(s_set, 2LL * 86400 * 1000);
    cr_assert_eq(
        fk_grants_exchange_redeem(s_a, token, manifest, &fk_testgrants_origin, &refused, &why),
        FK_EGRANT);
    json_decref(changed);
    json_decref(second);
    json_decref(first);
    json_decref(manifest);
    json_decref(minted);
}

Test(fk_grants, steps_on_another_nodes_records_are_forwarded_to_it)
{
    /*  The code is node-b's; node-a sees it by replication and its
        operator approves it there; the app polls node-a. */
    json_t *auth = s_authorize(s_b);
    fk_testgrants_replicate(s_set, 1, 0);
    s_approve(s_a, fk_json_str(auth, "user_code"));
    fk_testgrants_replicate(s_set, 0, 1);
    json_t *tokens = NULL;
    fk_grants_why_t why;
    cr_assert_eq(s_exchange(s_a, auth, fk_json_str(auth, "client_id"), &tokens, &why), 0, "%s",
                 why.text);
    cr_assert_eq(atomic_load(&s_set->nodes[1].forwarded), 1);
    cr_assert_not_null(fk_json_str(tokens, "access_token"));
    /*  The refresh token is node-b's too: with node-b down, node-a says
        so (503) rather than rotate it itself. */
    fk_testgrants_replicate(s_set, 1, 0);
    atomic_store(&s_set->nodes[1].down, true);
    json_t *fresh = NULL;
    cr_assert_eq(fk_grants_exchange_refresh(s_a, fk_json_str(tokens, "refresh_token"),
                                            fk_json_str(tokens, "client_id"), &fk_testgrants_origin,
                                            &fresh, &why),
                 FK_ETRYAGAIN);
    atomic_store(&s_set->nodes[1].down, false);
    cr_assert_eq(fk_grants_exchange_refresh(s_a, fk_json_str(tokens, "refresh_token"),
                                            fk_json_str(tokens, "client_id"), &fk_testgrants_origin,
                                            &fresh, &why),
                 0, "%s", why.text);
    json_decref(fresh);
    json_decref(tokens);
    json_decref(auth);
}

Test(fk_grants, a_forwarded_request_past_its_deadline_is_refused)
{
    json_t *auth = s_authorize(s_b);
    fk_testgrants_replicate(s_set, 1, 0);
    s_approve(s_a, fk_json_str(auth, "user_code"));
    fk_testgrants_replicate(s_set, 0, 1);
    /*  node-b's clock runs 3 s ahead: the request arrives after the 2 s
        its requester allowed for doing it. */
    atomic_fetch_add(&s_set->nodes[1].now_ms, 3000);
    json_t *tokens = NULL;
    fk_grants_why_t why;
    cr_assert_eq(s_exchange(s_a, auth, NULL, &tokens, &why), FK_ETRYAGAIN);
    json_decref(auth);
}

Test(fk_grants, forwarded_requests_that_do_not_decode_are_refused)
{
    static const char *const bodies[] = {
        "", "[]", "{\"op\":\"refresh\"}",
        "{\"op\":\"redeem\",\"redeem_token\":\"x\",\"manifest\":7,\"deadline_ms\":1,"
        "\"origin\":{\"scheme\":\"http\",\"host\":\"h\",\"port\":0,\"base\":\"http://h\"}}",
        "{\"op\":\"nope\",\"code\":\"x\",\"deadline_ms\":1,"
        "\"origin\":{\"scheme\":\"http\",\"host\":\"h\",\"port\":0,\"base\":\"http://h\"}}"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char *reply = NULL;
        size_t len = 0;
        cr_assert_eq(fk_grants_on_forwarded(s_a, bodies[i], strlen(bodies[i]), &reply, &len), 0);
        json_t *doc = json_loadb(reply, len, 0, NULL);
        cr_assert(json_is_false(json_object_get(doc, "ok")), "%s -> %s", bodies[i], reply);
        cr_assert_eq(json_integer_value(json_object_get(doc, "code")), FK_EINVAL_INPUT);
        json_decref(doc);
        free(reply);
    }
}

/*  "<kind>/<sha256 hex of secret>", the store key of a secret's record
    (fk_grants.h). */
static char *
s_hashed_key(const char *kind, const char *secret)
{
    char hex[FK_SHA256_HEX_LEN + 1];
    fk_sha256_hex(secret, strlen(secret), hex);
    return fk_asprintf("%s/%s", kind, hex);
}

/*  Write payload under key as node-a's own record, bypassing the plane. */
static void
s_plant(const char *key, const char *payload)
{
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_write_begin(s_set->nodes[0].store, &txn), 0);
    cr_assert_eq(fk_store_put(txn, key, payload, strlen(payload)), 0);
    cr_assert_eq(fk_store_commit(&txn), 0);
}

Test(fk_grants, malformed_records_read_as_absent)
{
    /*  A code whose fields have the wrong types, an approval with an
        unknown decision, a client without a manifest: each as another
        version of the node, or a bug, might have written them. */
    json_t *auth = s_authorize(s_a);
    char *hash_key = NULL;
    {
        json_t *row = fk_grants_code(s_a, fk_json_str(auth, "user_code"));
        cr_assert_not_null(row);
        json_decref(row);
    }
    /*  Overwrite the approval slot of the code with garbage. */
    hash_key = s_hashed_key("approval", fk_json_str(auth, "device_code"));
    s_plant(hash_key, "{\"decision\":42}");
    json_t *tokens = NULL;
    fk_grants_why_t why;
    cr_assert_eq(s_exchange(s_a, auth, NULL, &tokens, &why), FK_EPENDING,
                 "a malformed approval is no approval");
    free(hash_key);
    hash_key = s_hashed_key("code", fk_json_str(auth, "device_code"));
    s_plant(hash_key, "{\"user_code\":null,\"expires_ms\":\"soon\"}");
    cr_assert_eq(s_exchange(s_a, auth, NULL, &tokens, &why), FK_EINVAL_INPUT,
                 "a malformed code is no code");
    free(hash_key);
    s_plant("client/broken", "{\"client_id\":\"broken\"}");
    cr_assert_eq(fk_grants_client_credentials(s_a, "broken", "secret", NULL, &fk_testgrants_origin,
                                              &tokens, &why),
                 FK_EAUTH);
    s_plant("key/bad", "{\"kty\":\"RSA\",\"kid\":\"bad\"}");
    json_t *jwks = fk_grants_jwks(s_a);
    size_t i;
    json_t *key;
    json_array_foreach(json_object_get(jwks, "keys"), i, key)
    {
        cr_assert_str_neq(fk_json_str(key, "kid"), "bad", "an unusable key is not served");
    }
    json_decref(jwks);
    json_t *pending = fk_grants_pending(s_a);
    cr_assert_eq(json_array_size(pending), 0);
    json_decref(pending);
    json_decref(auth);
}

Test(fk_grants, v1_code_challenge_claim_and_client_credentials)
{
    json_t *manifest = fk_testgrants_manifest("org.example.v1", "1.0");
    json_t *request = json_object();
    json_t *started = NULL;
    fk_grants_why_t why;
    cr_assert_eq(fk_grants_v1_start(s_a, manifest, request, &started, &why), 0, "%s", why.text);
    const char *code = fk_json_str(started, "code");
    json_t *answer = NULL;
    cr_assert_eq(fk_grants_v1_challenge(s_a, code, &fk_testgrants_origin, &answer, &why), 0);
    cr_assert_str_eq(fk_json_str(answer, "status"), "pending");
    json_decref(answer);
    s_approve(s_a, code);
    cr_assert_eq(fk_grants_v1_challenge(s_a, code, &fk_testgrants_origin, &answer, &why), 0);
    cr_assert_str_eq(fk_json_str(answer, "status"), "granted");
    char *token = strdup(fk_json_str(answer, "token"));
    json_decref(answer);
    cr_assert_eq(fk_grants_v1_claim(s_a, token, &fk_testgrants_origin, &answer, &why), 0, "%s",
                 why.text);
    json_t *auth = json_object_get(json_object_get(answer, "config"), "auth");
    char *client_id = strdup(fk_json_str(auth, "client_id"));
    char *secret = strdup(fk_json_str(auth, "client_secret"));
    json_decref(answer);
    cr_assert_eq(fk_grants_client_credentials(s_a, client_id, secret, "openid",
                                              &fk_testgrants_origin, &answer, &why),
                 0, "%s", why.text);
    json_decref(answer);
    cr_assert_eq(fk_grants_client_credentials(s_a, client_id, secret, "admin",
                                              &fk_testgrants_origin, &answer, &why),
                 FK_ESCOPE);
    cr_assert_eq(fk_grants_client_credentials(s_a, client_id, "wrong", NULL, &fk_testgrants_origin,
                                              &answer, &why),
                 FK_EAUTH);
    /*  The v1 report: a key none of whose aliases passed. */
    json_t *body = json_pack("{s:{s:{s:n, s:b, s:s}}}", "alias_reports", "rekuest", "alias_id",
                             "valid", 0, "reason", "no alias answered");
    cr_assert_eq(fk_grants_v1_report(s_a, token, body, &answer, &why), 0, "%s", why.text);
    json_decref(answer);
    json_decref(body);
    free(secret);
    free(client_id);
    free(token);
    json_decref(started);
    json_decref(request);
    json_decref(manifest);
}

Test(fk_grants, sweep_deletes_expired_codes_and_their_indexes)
{
    json_t *auth = s_authorize(s_a);
    fk_testgrants_advance(s_set, 300 * 1000 + 10 * 60 * 1000 + 1000);
    int swept = fk_grants_sweep(s_a);
    cr_assert_eq(swept, 3, "code, ucode and ccode records: %d", swept);
    json_t *row = fk_grants_code(s_a, fk_json_str(auth, "user_code"));
    cr_assert_null(row);
    json_decref(auth);
}

/*  A token signed with node-a's own key, from claims with one member
    replaced (NULL: unchanged). */
static char *
s_resign(const json_t *claims, const char *member, json_t *value)
{
    json_t *copy = json_deep_copy(claims);
    if (member) {
        json_object_set_new(copy, member, value);
    }
    char *token = fk_jwt_sign(s_set->nodes[0].signer, copy);
    json_decref(copy);
    cr_assert_not_null(token);
    return token;
}

Test(fk_grants, a_token_counts_only_with_a_published_issuer_and_lok_in_its_audience)
{
    json_t *tokens = s_login();
    json_t *claims = NULL;
    fk_grants_why_t why;
    cr_assert_eq(fk_grants_check_bearer(s_a, fk_json_str(tokens, "access_token"), &claims, &why),
                 0, "%s", why.text);
    cr_assert_str_eq(fk_json_str(claims, "iss"), fk_testgrants_issuer);
    const struct {
        const char *member;
        json_t *value;
        int rc;
    } cases[] = {
        {NULL, NULL, 0}, /* the control: the same claims, signed again */
        {"iss", json_string("http://evil.example/lok"), FK_ETOKEN},
        {"iss", json_integer(1), FK_ETOKEN},
        {"iss", NULL, FK_ETOKEN},
        {"aud", json_pack("[s]", "rekuest"), FK_ETOKEN},
        {"aud", json_string("lok"), 0},
        {"aud", json_string("lokx"), FK_ETOKEN},
        {"aud", json_null(), FK_ETOKEN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *copy = json_deep_copy(claims);
        if (cases[i].member && !cases[i].value) {
            json_object_del(copy, cases[i].member);
        }
        char *token = s_resign(copy, cases[i].value ? cases[i].member : NULL, cases[i].value);
        json_t *seen = NULL;
        cr_assert_eq(fk_grants_check_bearer(s_a, token, &seen, &why), cases[i].rc,
                     "case %zu (%s): %s", i, cases[i].member ? cases[i].member : "control",
                     why.text);
        json_decref(seen);
        free(token);
        json_decref(copy);
    }
    json_decref(claims);
    json_decref(tokens);
}

/*  Rotate a refresh token on grants g for client_id: the new token
    response. */
static json_t *
s_rotate(fk_grants_t *g, const char *refresh_token, const char *client_id)
{
    json_t *fresh = NULL;
    fk_grants_why_t why;
    cr_assert_eq(fk_grants_exchange_refresh(g, refresh_token, client_id, &fk_testgrants_origin,
                                            &fresh, &why),
                 0, "rotate: %s", why.text);
    return fresh;
}

static int
s_refresh_rc(fk_grants_t *g, const char *refresh_token, const char *client_id)
{
    json_t *fresh = NULL;
    fk_grants_why_t why;
    int rc = fk_grants_exchange_refresh(g, refresh_token, client_id, &fk_testgrants_origin,
                                        &fresh, &why);
    json_decref(fresh);
    return rc;
}

Test(fk_grants, a_rotated_refresh_token_used_again_after_the_grace_revokes_its_chain)
{
    json_t *first = s_login();
    const char *client_id = fk_json_str(first, "client_id");
    json_t *second = s_rotate(s_a, fk_json_str(first, "refresh_token"), client_id);
    json_t *third = s_rotate(s_a, fk_json_str(second, "refresh_token"), client_id);
    fk_testgrants_advance(s_set, (FK_TESTGRANTS_REFRESH_GRACE_S + 1) * 1000);
    /*  The thief (or the app) presents the first token again: refused, and
        the token the chain had reached dies with it. */
    cr_assert_eq(s_refresh_rc(s_a, fk_json_str(first, "refresh_token"), client_id), FK_EGRANT);
    cr_assert_eq(s_refresh_rc(s_a, fk_json_str(third, "refresh_token"), client_id), FK_EGRANT,
                 "the live token of a chain whose old token came back still works");
    /*  Another app's chain is untouched. */
    json_t *other = s_login();
    json_t *other_next =
        s_rotate(s_a, fk_json_str(other, "refresh_token"), fk_json_str(other, "client_id"));
    json_decref(other_next);
    json_decref(other);
    json_decref(third);
    json_decref(second);
    json_decref(first);
}

Test(fk_grants, inside_the_grace_a_rotated_token_is_only_refused)
{
    json_t *first = s_login();
    const char *client_id = fk_json_str(first, "client_id");
    json_t *second = s_rotate(s_a, fk_json_str(first, "refresh_token"), client_id);
    fk_testgrants_advance(s_set, (FK_TESTGRANTS_REFRESH_GRACE_S - 1) * 1000);
    /*  Two processes of one app shared the first token and raced. */
    cr_assert_eq(s_refresh_rc(s_a, fk_json_str(first, "refresh_token"), client_id), FK_EGRANT);
    json_t *third = s_rotate(s_a, fk_json_str(second, "refresh_token"), client_id);
    /*  The wrong client presenting an old token revokes nothing. */
    fk_testgrants_advance(s_set, 60 * 1000);
    cr_assert_eq(s_refresh_rc(s_a, fk_json_str(second, "refresh_token"), "someone"), FK_EGRANT);
    json_t *fourth = s_rotate(s_a, fk_json_str(third, "refresh_token"), client_id);
    json_decref(fourth);
    json_decref(third);
    json_decref(second);
    json_decref(first);
}

Test(fk_grants, reuse_seen_on_another_node_revokes_the_chain_everywhere)
{
    json_t *first = s_login();
    const char *client_id = fk_json_str(first, "client_id");
    json_t *second = s_rotate(s_a, fk_json_str(first, "refresh_token"), client_id);
    fk_testgrants_replicate(s_set, 0, 1);
    fk_testgrants_advance(s_set, (FK_TESTGRANTS_REFRESH_GRACE_S + 1) * 1000);
    cr_assert_eq(s_refresh_rc(s_b, fk_json_str(first, "refresh_token"), client_id), FK_EGRANT);
    /*  node-b cannot delete node-a's record: its revocation marker
        replicates, and node-a then refuses the live token. */
    fk_testgrants_replicate(s_set, 1, 0);
    cr_assert_eq(s_refresh_rc(s_a, fk_json_str(second, "refresh_token"), client_id), FK_EGRANT);
    json_decref(second);
    json_decref(first);
}

static int64_t
s_node_clock(void *arg)
{
    return atomic_load(&((fk_testnode_t *)arg)->now_ms);
}

Test(fk_grants, a_chain_revoked_for_reuse_is_in_the_audit_log_with_the_presenter_address)
{
    fk_testnode_t *node = &s_set->nodes[0];
    fk_audit_t *audit = fk_audit_new(&(fk_audit_opts_t){.store = node->store});
    fk_grants_opts_t opts = {.store = node->store,
                             .signer = node->signer,
                             .refresh_grace_s = FK_TESTGRANTS_REFRESH_GRACE_S,
                             .clock = s_node_clock,
                             .clock_arg = node,
                             .audit = audit};
    fk_grants_t *g = NULL;
    cr_assert_eq(fk_grants_new(&g, &opts), 0);
    json_t *first = s_login();
    const char *client_id = fk_json_str(first, "client_id");
    json_t *second = s_rotate(g, fk_json_str(first, "refresh_token"), client_id);
    /*  Inside the grace nothing is revoked, so nothing is recorded. */
    fk_origin_t from = fk_testgrants_origin;
    from.peer = "192.0.2.7";
    json_t *fresh = NULL;
    fk_grants_why_t why;
    cr_assert_eq(fk_grants_exchange_refresh(g, fk_json_str(first, "refresh_token"), client_id,
                                            &from, &fresh, &why),
                 FK_EGRANT);
    json_t *entries = NULL;
    cr_assert_eq(fk_audit_list(audit, 0, 0, &entries), 0);
    cr_assert_eq(json_array_size(entries), 0);
    json_decref(entries);
    fk_testgrants_advance(s_set, (FK_TESTGRANTS_REFRESH_GRACE_S + 1) * 1000);
    cr_assert_eq(fk_grants_exchange_refresh(g, fk_json_str(first, "refresh_token"), client_id,
                                            &from, &fresh, &why),
                 FK_EGRANT);
    cr_assert_eq(fk_audit_list(audit, 0, 0, &entries), 0);
    cr_assert_eq(json_array_size(entries), 1);
    json_t *entry = json_array_get(entries, 0);
    cr_assert_str_eq(fk_json_str(entry, "action"), "refresh.reuse");
    cr_assert_str_eq(fk_json_str(entry, "actor"), "token-holder");
    cr_assert_str_eq(fk_json_str(entry, "from"), "192.0.2.7");
    cr_assert_str_eq(fk_json_str(entry, "subject"), client_id);
    cr_assert_str_eq(fk_json_str(entry, "node"), "node-a");
    const char *token = fk_json_str(first, "refresh_token");
    const char *family = fk_json_str(json_object_get(entry, "detail"), "family");
    cr_assert_not_null(family);
    cr_assert(strncmp(token, family, strlen(family)) == 0 && token[strlen(family)] == '.',
              "the entry names the token's family");
    cr_assert_geq(fk_json_int(json_object_get(entry, "detail"), "seconds_since_rotation", 0),
                  FK_TESTGRANTS_REFRESH_GRACE_S);
    json_decref(entries);
    json_decref(second);
    json_decref(first);
    fk_grants_destroy(&g);
    fk_audit_destroy(&audit);
}

/*  A second grants plane over node-a's store, with caps on pending codes. */
static fk_grants_t *
s_capped(int64_t codes, int64_t bytes)
{
    fk_grants_opts_t opts = {.store = s_set->nodes[0].store,
                             .signer = s_set->nodes[0].signer,
                             .max_pending_codes = codes,
                             .max_pending_bytes = bytes};
    fk_grants_t *g = NULL;
    cr_assert_eq(fk_grants_new(&g, &opts), 0);
    return g;
}

static int
s_authorize_rc(fk_grants_t *g, json_t **answer_p)
{
    json_t *manifest = fk_testgrants_manifest("org.example.app", "1.0");
    json_t *request = json_object();
    json_t *answer = NULL;
    fk_grants_why_t why;
    int rc = fk_grants_authorize(g, manifest, request, &answer, &why);
    if (answer_p) {
        *answer_p = answer;
    } else {
        json_decref(answer);
    }
    json_decref(request);
    json_decref(manifest);
    return rc;
}

Test(fk_grants, a_node_holds_at_most_its_cap_of_pending_codes)
{
    /*  node-a's fake clock lies in the past of the capped plane's real
        one, so this code counts at start and is expired at the sweep. */
    json_t *first = s_authorize(s_a);
    fk_grants_t *g = s_capped(3, 0);
    json_t *used = NULL;
    cr_assert_eq(s_authorize_rc(g, &used), 0);
    cr_assert_eq(s_authorize_rc(g, NULL), 0);
    cr_assert_eq(s_authorize_rc(g, NULL), FK_ETRYAGAIN, "a fourth pending code");
    /*  The v1 door counts against the same cap. */
    json_t *manifest = fk_testgrants_manifest("org.example.v1", "1.0");
    json_t *request = json_object();
    json_t *answer = NULL;
    fk_grants_why_t why;
    cr_assert_eq(fk_grants_v1_start(g, manifest, request, &answer, &why), FK_ETRYAGAIN);
    /*  A code used up still counts until the next sweep counts afresh. */
    s_approve(g, fk_json_str(used, "user_code"));
    json_t *tokens = NULL;
    cr_assert_eq(s_exchange(g, used, fk_json_str(used, "client_id"), &tokens, &why), 0, "%s",
                 why.text);
    cr_assert_eq(s_authorize_rc(g, NULL), FK_ETRYAGAIN);
    cr_assert_geq(fk_grants_sweep(g), 1, "node-a's expired code");
    /*  One pending code stays (the second): two fit again, not three. */
    cr_assert_eq(s_authorize_rc(g, NULL), 0, "room again after the sweep");
    cr_assert_eq(s_authorize_rc(g, NULL), 0);
    cr_assert_eq(s_authorize_rc(g, NULL), FK_ETRYAGAIN, "and no more than the cap");
    json_decref(tokens);
    json_decref(used);
    json_decref(request);
    json_decref(manifest);
    fk_grants_destroy(&g);
    json_decref(first);
}

Test(fk_grants, a_node_holds_at_most_its_cap_of_pending_code_bytes)
{
    fk_grants_t *g = s_capped(0, 2000);
    cr_assert_eq(s_authorize_rc(g, NULL), 0);
    int rc = 0;
    int made = 1;
    while ((rc = s_authorize_rc(g, NULL)) == 0 && made < 100) {
        made++;
    }
    cr_assert_eq(rc, FK_ETRYAGAIN, "%d codes of about 500 bytes fit in 2000", made);
    cr_assert_lt(made, 5);
    fk_grants_destroy(&g);
}

/*  ---------------------------------------------------------------------
    Approved apps: the list, reports per instance, revocation
    --------------------------------------------------------------------- */

/*  The one row of grants g's approved apps (asserts there is one); caller
    decrefs. */
static json_t *
s_only_app(fk_grants_t *g)
{
    json_t *apps = fk_grants_approved(g);
    cr_assert_eq(json_array_size(apps), 1, "%zu approved apps", json_array_size(apps));
    json_t *row = json_incref(json_array_get(apps, 0));
    json_decref(apps);
    return row;
}

/*  Refresh tokens with grants g: the status code; *tokens_p replaced by the
    new answer on success. */
static int
s_refresh(fk_grants_t *g, json_t **tokens_p)
{
    json_t *fresh = NULL;
    fk_grants_why_t why;
    int rc = fk_grants_exchange_refresh(g, fk_json_str(*tokens_p, "refresh_token"),
                                        fk_json_str(*tokens_p, "client_id"),
                                        &fk_testgrants_origin, &fresh, &why);
    if (rc == 0) {
        json_decref(*tokens_p);
        *tokens_p = fresh;
    }
    return rc;
}

Test(fk_grants, an_approved_app_is_listed_with_who_approved_it_where_and_when)
{
    int64_t approved_at = atomic_load(&s_set->nodes[0].now_ms);
    json_t *tokens = s_login();
    json_t *row = s_only_app(s_a);
    cr_assert_str_eq(fk_json_str(row, "identifier"), "org.example.app");
    cr_assert_str_eq(fk_json_str(row, "version"), "1.0");
    cr_assert_str_eq(fk_json_str(row, "dialect"), "v2");
    cr_assert_str_eq(fk_json_str(row, "grant"), "device_code");
    cr_assert_str_eq(fk_json_str(row, "client_id"), fk_json_str(tokens, "client_id"));
    cr_assert_str_eq(fk_json_str(row, "approved_by"), "tester");
    cr_assert_str_eq(fk_json_str(row, "approved_node"), "node-a");
    cr_assert_str_eq(fk_json_str(row, "node"), "node-a");
    cr_assert_eq(fk_json_int(row, "approved_ms", 0), approved_at);
    cr_assert_eq(fk_json_int(row, "last_exchange_ms", 0), approved_at);
    cr_assert(json_is_null(json_object_get(row, "last_report_ms")));
    cr_assert_eq(json_array_size(json_object_get(row, "failing")), 0);
    json_decref(row);
    /*  Replicated, node-b lists the same app. */
    fk_testgrants_replicate(s_set, 0, 1);
    row = s_only_app(s_b);
    cr_assert_str_eq(fk_json_str(row, "approved_by"), "tester");
    cr_assert_eq(fk_json_int(row, "last_exchange_ms", 0), approved_at);
    json_decref(row);
    json_decref(tokens);
}

Test(fk_grants, the_last_exchange_is_written_at_most_once_a_minute)
{
    int64_t start = atomic_load(&s_set->nodes[0].now_ms);
    json_t *tokens = s_login();
    fk_store_txn_t *txn;
    cr_assert_eq(fk_store_read_begin(s_set->nodes[0].store, &txn), 0);
    uint64_t before = fk_store_owner_version(txn, "node-a");
    fk_store_txn_end(&txn);
    /*  10 s later: a rotation, but the exchange time stays as written. */
    fk_testgrants_advance(s_set, 10000);
    cr_assert_eq(s_refresh(s_a, &tokens), 0);
    json_t *row = s_only_app(s_a);
    cr_assert_eq(fk_json_int(row, "last_exchange_ms", 0), start);
    json_decref(row);
    /*  The rotation wrote its token, family and tombstone: no seen/. */
    cr_assert_eq(fk_store_read_begin(s_set->nodes[0].store, &txn), 0);
    uint64_t after = fk_store_owner_version(txn, "node-a");
    fk_store_txn_end(&txn);
    cr_assert_eq(after - before, 3, "a rotation inside the minute wrote %llu records",
                 (unsigned long long)(after - before));
    /*  A minute after the first: rewritten. */
    fk_testgrants_advance(s_set, 51000);
    cr_assert_eq(s_refresh(s_a, &tokens), 0);
    row = s_only_app(s_a);
    cr_assert_eq(fk_json_int(row, "last_exchange_ms", 0), start + 61000);
    json_decref(row);
    json_decref(tokens);
}

Test(fk_grants, a_report_names_the_instance_an_app_could_not_reach)
{
    json_t *tokens = s_login();
    json_t *claims = NULL;
    fk_grants_why_t why;
    cr_assert_eq(fk_grants_check_bearer(s_a, fk_json_str(tokens, "access_token"), &claims, &why),
                 0, "%s", why.text);
    json_t *bad = json_pack("{s:{s:{s:s}}}", "alias_reports", "rekuest", "valid", "no");
    cr_assert_eq(fk_grants_report(s_a, claims, bad, &why), FK_EINVAL_INPUT,
                 "valid must be a boolean");
    json_t *body = json_pack("{s:{s:{s:s, s:b, s:s}}, s:b}", "alias_reports", "rekuest",
                             "alias_id", "lan", "valid", 0, "reason", "connection refused",
                             "functional", 0);
    cr_assert_eq(fk_grants_report(s_a, claims, body, &why), 0, "%s", why.text);
    fk_testgrants_replicate(s_set, 0, 1);
    json_t *row = s_only_app(s_b);
    cr_assert_eq(fk_json_int(row, "last_report_ms", 0), atomic_load(&s_set->nodes[0].now_ms));
    cr_assert(json_is_false(json_object_get(row, "functional")));
    json_t *failing = json_array_get(json_object_get(row, "failing"), 0);
    cr_assert_not_null(failing);
    cr_assert_str_eq(fk_json_str(failing, "key"), "rekuest");
    cr_assert_str_eq(fk_json_str(failing, "alias_id"), "lan");
    cr_assert_str_eq(fk_json_str(failing, "reason"), "connection refused");
    cr_assert_str_eq(fk_json_str(failing, "service"), "live.arkitekt.rekuest");
    cr_assert_str_eq(fk_json_str(failing, "instance"), "rekuest-1@node-a");
    json_t *unreachable = fk_grants_unreachable(s_b);
    json_t *list = json_object_get(unreachable, "rekuest-1@node-a");
    cr_assert_eq(json_array_size(list), 1, "%s", json_dumps(unreachable, 0));
    cr_assert_str_eq(fk_json_str(json_array_get(list, 0), "identifier"), "org.example.app");
    cr_assert_str_eq(fk_json_str(json_array_get(list, 0), "alias_id"), "lan");
    /*  A newer report that reaches everything clears the instance. */
    json_t *good = json_pack("{s:{s:{s:s, s:b}}}", "alias_reports", "rekuest", "alias_id", "lan",
                             "valid", 1);
    fk_testgrants_advance(s_set, 1000);
    cr_assert_eq(fk_grants_report(s_b, claims, good, &why), 0, "%s", why.text);
    json_t *cleared = fk_grants_unreachable(s_b);
    cr_assert_eq(json_object_size(cleared), 0, "%s", json_dumps(cleared, 0));
    json_decref(cleared);
    json_decref(good);
    json_decref(unreachable);
    json_decref(row);
    json_decref(body);
    json_decref(bad);
    json_decref(claims);
    json_decref(tokens);
}

Test(fk_grants, revoking_an_app_on_another_node_ends_its_chain_there_and_on_its_owner)
{
    json_t *tokens = s_login();
    json_t *claims = NULL;
    fk_grants_why_t why;
    fk_testgrants_replicate(s_set, 0, 1);
    json_t *answer = NULL;
    cr_assert_eq(fk_grants_revoke_app(s_b, "org.example.app", "2.0", "ops", &answer, &why),
                 FK_ENOTFOUND, "no such version");
    cr_assert_eq(fk_grants_revoke_app(s_b, "org.example.app", NULL, "ops", &answer, &why), 0,
                 "%s", why.text);
    cr_assert_eq(json_array_size(json_object_get(answer, "revoked")), 1);
    cr_assert_eq(fk_json_int(answer, "refresh_tokens", 0), 1);
    json_decref(answer);
    /*  node-b did not issue the token: its markers must travel. */
    cr_assert_eq(s_refresh(s_b, &tokens), FK_EGRANT);
    fk_testgrants_replicate(s_set, 1, 0);
    cr_assert_eq(s_refresh(s_a, &tokens), FK_EGRANT);
    cr_assert_eq(fk_grants_check_bearer(s_a, fk_json_str(tokens, "access_token"), &claims, &why),
                 FK_ETOKEN);
    json_t *apps = fk_grants_approved(s_a);
    cr_assert_eq(json_array_size(apps), 0, "a revoked app is not listed");
    json_decref(apps);
    cr_assert_eq(fk_grants_revoke_app(s_a, fk_json_str(tokens, "client_id"), NULL, "ops", &answer,
                                      &why),
                 FK_ENOTFOUND, "revoked already");
    /*  A new approval gives the app tokens again. */
    json_t *again = s_login();
    json_t *row = s_only_app(s_a);
    cr_assert_str_eq(fk_json_str(row, "client_id"), fk_json_str(again, "client_id"));
    json_decref(row);
    json_decref(again);
    json_decref(tokens);
}

Test(fk_grants, a_rotation_racing_a_revocation_does_not_outlive_it)
{
    json_t *tokens = s_login();
    fk_testgrants_replicate(s_set, 0, 1);
    json_t *answer = NULL;
    fk_grants_why_t why;
    cr_assert_eq(fk_grants_revoke_app(s_b, fk_json_str(tokens, "client_id"), NULL, "ops", &answer,
                                      &why),
                 0, "%s", why.text);
    json_decref(answer);
    /*  The owner rotates before the revocation reaches it... */
    cr_assert_eq(s_refresh(s_a, &tokens), 0);
    fk_testgrants_replicate(s_set, 1, 0);
    /*  ...and the new token dies with the app all the same. */
    cr_assert_eq(s_refresh(s_a, &tokens), FK_EGRANT);
    json_decref(tokens);
}

Test(fk_grants, the_redeem_token_of_a_revoked_app_gives_no_new_client)
{
    json_t *minted = NULL;
    fk_grants_why_t why;
    cr_assert_eq(fk_grants_mint_redeem(s_a, 1, 0, &minted, &why), 0);
    json_t *manifest = fk_testgrants_manifest("org.example.headless", "2.0");
    json_t *first = NULL;
    cr_assert_eq(fk_grants_exchange_redeem(s_a, fk_json_str(minted, "token"), manifest,
                                           &fk_testgrants_origin, &first, &why),
                 0, "%s", why.text);
    json_t *row = s_only_app(s_a);
    cr_assert_str_eq(fk_json_str(row, "grant"), "redeem");
    cr_assert_str_eq(fk_json_str(row, "approved_by"), "redeem token");
    json_decref(row);
    json_t *answer = NULL;
    cr_assert_eq(fk_grants_revoke_app(s_a, "org.example.headless", "2.0", "ops", &answer, &why),
                 0, "%s", why.text);
    json_decref(answer);
    json_t *second = NULL;
    cr_assert_eq(fk_grants_exchange_redeem(s_a, fk_json_str(minted, "token"), manifest,
                                           &fk_testgrants_origin, &second, &why),
                 FK_EGRANT);
    cr_assert_null(second);
    json_decref(first);
    json_decref(manifest);
    json_decref(minted);
}

Test(fk_grants, malformed_report_and_exchange_records_read_as_absent)
{
    json_t *tokens = s_login();
    const char *client_id = fk_json_str(tokens, "client_id");
    char *report = fk_asprintf("report/%s", client_id);
    char *seen = fk_asprintf("seen/%s", client_id);
    static const char *const bad_reports[] = {
        "{\"alias_reports\":{\"k\":{\"valid\":\"no\"}},\"at_ms\":1}",
        "{\"alias_reports\":{\"k\":{\"reason\":7}},\"at_ms\":1}",
        "{\"alias_reports\":[],\"at_ms\":1}",
        "{\"alias_reports\":{},\"at_ms\":\"now\"}",
        "{\"alias_reports\":{\"k\":\"down\"},\"at_ms\":1}",
        "[1]",
    };
    for (size_t i = 0; i < sizeof bad_reports / sizeof bad_reports[0]; i++) {
        s_plant(report, bad_reports[i]);
        s_plant(seen, i % 2 ? "{\"exchange_ms\":\"x\"}" : "{\"exchange_ms\":-5}");
        json_t *row = s_only_app(s_a);
        cr_assert(json_is_null(json_object_get(row, "last_report_ms")), "%s", bad_reports[i]);
        cr_assert(json_is_null(json_object_get(row, "last_exchange_ms")), "%s", bad_reports[i]);
        cr_assert_eq(json_array_size(json_object_get(row, "failing")), 0);
        json_decref(row);
    }
    /*  A bad seen/ record is rewritten by the next exchange. */
    cr_assert_eq(s_refresh(s_a, &tokens), 0);
    json_t *row = s_only_app(s_a);
    cr_assert_eq(fk_json_int(row, "last_exchange_ms", 0), atomic_load(&s_set->nodes[0].now_ms));
    json_decref(row);
    free(seen);
    free(report);
    json_decref(tokens);
}
