/*  The v1 dialect across nodes (ARCHITECTURE.md, "The v1 dialect"): a code
    started on one node is approved on another and claimed on a third; the
    client's credentials and JWT work on every node; a denied code is
    deleted by its owner whichever node the client polls; a redeem token is
    redeemed through a node that did not mint it. Addresses
    127.0.0.240-242. */

#include "fk_e2e_v1.h"
#include "fk_mem.h"
#include "fk_testcluster.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define S_DEADLINE_MS 20000

static fk_testcluster_t s_cluster;

static void
s_teardown(void)
{
    fk_harness_cleanup();
}

TestSuite(cluster_v1, .fini = s_teardown, .timeout = 240);

/*  Run `fakts-node approve|deny code` against node until it succeeds (the
    code has to replicate there first) or the deadline passes. */
static void
s_decide(fk_node_t *node, const char *verb, const char *code)
{
    const char *argv[] = {verb, code, NULL};
    int64_t deadline = fk_harness_now_ms() + S_DEADLINE_MS;
    int status = -1;
    char *err = NULL;
    for (;;) {
        free(err);
        err = NULL;
        cr_assert_eq(fk_harness_cli(node, argv, &status, NULL, &err), 0);
        if (status == 0 || fk_harness_now_ms() >= deadline) {
            break;
        }
        fk_harness_wait_until(fk_harness_now_ms() + 100);
    }
    if (status != 0) {
        fk_testcluster_dump_logs(&s_cluster, 4000);
    }
    cr_assert_eq(status, 0, "`%s %s` on %s never succeeded: %s", verb, code, fk_harness_name(node),
                 err);
    free(err);
}

/*  Poll challenge/ on node until its status is not in the "wait" set
    (pending, or an unknown code that has not replicated yet). */
static fk_http_resp_t *
s_challenge_until(fk_node_t *node, const char *code, const char *want)
{
    int64_t deadline = fk_harness_now_ms() + S_DEADLINE_MS;
    fk_http_resp_t *resp = NULL;
    for (;;) {
        fk_http_resp_destroy(&resp);
        resp = fk_e2e_v1_challenge(node, code);
        const char *status = fk_e2e_str(resp->json, "status");
        if ((status && strcmp(status, want) == 0) || fk_harness_now_ms() >= deadline) {
            return resp;
        }
        fk_harness_wait_until(fk_harness_now_ms() + 100);
    }
}

Test(cluster_v1, start_on_a_approve_on_b_claim_on_c_credentials_on_a)
{
    cr_assert(fk_testcluster_start(&s_cluster, 3, 240, NULL), "cluster did not form");
    fk_node_t *a = s_cluster.nodes[0];
    fk_node_t *b = s_cluster.nodes[1];
    fk_node_t *c = s_cluster.nodes[2];

    json_t *manifest = fk_e2e_v1_manifest("org.example.cluster-v1", "1.0", NULL);
    char *code = fk_e2e_v1_start(a, manifest, 300, "development");
    s_decide(b, "approve", code);

    fk_http_resp_t *granted = s_challenge_until(c, code, "granted");
    fk_e2e_v1_assert(granted, "granted", NULL, NULL);
    char *token = fk_strdup(fk_e2e_str(granted->json, "token"));
    fk_http_resp_destroy(&granted);

    fk_http_resp_t *claim = fk_e2e_v1_claim(c, token);
    json_t *auth = json_object_get(json_object_get(claim->json, "config"), "auth");
    char *client_id = fk_strdup(fk_e2e_str(auth, "client_id"));
    char *secret = fk_strdup(fk_e2e_str(auth, "client_secret"));
    fk_http_resp_destroy(&claim);

    /* The client record reaches A by replication. */
    int64_t deadline = fk_harness_now_ms() + S_DEADLINE_MS;
    fk_http_resp_t *resp = NULL;
    for (;;) {
        fk_http_resp_destroy(&resp);
        resp = fk_e2e_v1_client_credentials(a, client_id, secret, NULL, "openid read");
        if (resp->status == 200 || fk_harness_now_ms() >= deadline) {
            break;
        }
        fk_harness_wait_until(fk_harness_now_ms() + 100);
    }
    cr_assert_eq(resp->status, 200, "client_credentials on A: %ld %s", resp->status, resp->body);
    char *access = fk_strdup(fk_e2e_str(resp->json, "access_token"));
    fk_http_resp_destroy(&resp);

    /* A's JWT verifies on C (keys replicate). */
    char *report_url = fk_harness_url(c, "/lok/f/report/");
    resp = fk_http_post_json(report_url, "application/json", access, "{\"alias_reports\":{}}");
    fk_e2e_v1_assert(resp, "reported", "message", "Report processed successfully");
    fk_http_resp_destroy(&resp);
    free(report_url);

    /* Denied on B, polled on C: the owner A deletes the code. */
    char *denied = fk_e2e_v1_start(a, manifest, 300, "development");
    s_decide(b, "deny", denied);
    resp = s_challenge_until(c, denied, "denied");
    fk_e2e_v1_assert(resp, "denied", "message", "The user has denied the request");
    fk_http_resp_destroy(&resp);
    resp = s_challenge_until(c, denied, "error");
    fk_e2e_v1_assert(resp, "error", "error", "Challenge does not exist");
    fk_http_resp_destroy(&resp);

    /* A redeem token minted on A, redeemed through C (forwarded to A). */
    char *redeem_token = fk_e2e_redeem_token(a);
    json_t *body = json_pack("{s:s, s:O}", "token", redeem_token, "manifest", manifest);
    fk_http_resp_t *first = fk_e2e_v1_post(c, "redeem", body);
    fk_e2e_v1_assert(first, "granted", NULL, NULL);
    fk_http_resp_t *second = fk_e2e_v1_post(b, "redeem", body);
    fk_e2e_v1_assert(second, "granted", "token", fk_e2e_str(first->json, "token"));
    fk_http_resp_destroy(&second);
    fk_http_resp_destroy(&first);
    json_decref(body);

    free(redeem_token);
    free(denied);
    free(access);
    free(secret);
    free(client_id);
    free(token);
    free(code);
    json_decref(manifest);
}
