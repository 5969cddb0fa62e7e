/*  Cluster tests: real agents on 127.0.0.x joined by gossip. Every wait
    polls with a deadline; every node is removed at teardown. */

#include "fk_e2e.h"
#include "fk_testcluster.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fk_testcluster_t s_cluster;

static void
s_teardown(void)
{
    fk_harness_cleanup();
}

TestSuite(cluster, .fini = s_teardown, .timeout = 240);

static void
s_start(size_t count, unsigned base)
{
    cr_assert(fk_testcluster_start(&s_cluster, count, base, NULL), "cluster did not form");
    for (size_t i = 0; i < count; i++) {
        cr_assert(fk_testcluster_wait_status(&s_cluster, fk_harness_name(s_cluster.nodes[i]),
                                             "alive", 15000),
                  "n%zu is not alive everywhere", i);
    }
}

Test(cluster, a_registration_reaches_every_node_and_views_converge)
{
    s_start(3, 11);
    cr_assert_eq(fk_testcluster_register(s_cluster.nodes[1], "rekuest-1", "live.arkitekt.rekuest"),
                 200);
    cr_assert(fk_testcluster_wait_service(&s_cluster, "rekuest-1", true, 10000));
    cr_assert(fk_testcluster_wait_same_view(&s_cluster, 10000), "views differ after convergence");

    /*  A deregistration travels as a tombstone. */
    fk_http_resp_t *resp =
        fk_harness_admin(s_cluster.nodes[1], "DELETE", "/v1/services/rekuest-1", NULL);
    cr_assert_eq(resp->status, 200);
    fk_http_resp_destroy(&resp);
    cr_assert(fk_testcluster_wait_service(&s_cluster, "rekuest-1", false, 10000));
    cr_assert(fk_testcluster_wait_same_view(&s_cluster, 10000));
}

Test(cluster, kill9_drops_a_nodes_services_and_a_restart_brings_them_back)
{
    s_start(3, 21);
    fk_node_t *victim = s_cluster.nodes[2];
    cr_assert_eq(fk_testcluster_register(victim, "mikro-1", "live.arkitekt.mikro"), 200);
    cr_assert(fk_testcluster_wait_service(&s_cluster, "mikro-1", true, 10000));

    cr_assert_eq(fk_harness_kill9(victim), 0);
    cr_assert(fk_testcluster_wait_status(&s_cluster, "n2", "failed", 15000),
              "the killed node was not declared failed");
    cr_assert(fk_testcluster_wait_service(&s_cluster, "mikro-1", false, 5000),
              "a failed node's service is still listed");

    cr_assert_eq(fk_harness_restart(victim), 0);
    cr_assert(fk_testcluster_wait_status(&s_cluster, "n2", "alive", 20000),
              "the restarted node did not come back");
    cr_assert(fk_testcluster_wait_service(&s_cluster, "mikro-1", true, 10000));
}

static bool
s_stopped(void *arg)
{
    return !fk_harness_running(arg);
}

Test(cluster, leave_is_seen_as_left_not_failed)
{
    s_start(3, 31);
    const char *argv[] = {"leave", NULL};
    int status = -1;
    fk_harness_cli(s_cluster.nodes[2], argv, &status, NULL, NULL);
    cr_assert_eq(status, 0);
    cr_assert(fk_testcluster_wait_status(&s_cluster, "n2", "left", 3000),
              "a graceful leave must be known at once");
    cr_assert(fk_poll_until(10000, s_stopped, s_cluster.nodes[2]), "the agent stops after leaving");
}

Test(cluster, a_code_issued_on_one_node_is_approved_on_another_and_exchanged)
{
    s_start(3, 41);
    cr_assert_eq(fk_testcluster_register(s_cluster.nodes[2], "rekuest-9", "live.arkitekt.rekuest"),
                 200);
    cr_assert(fk_testcluster_wait_service(&s_cluster, "rekuest-9", true, 10000));
    fk_e2e_req_t reqs[] = {{"rekuest", "live.arkitekt.rekuest", false}, {NULL, NULL, false}};
    json_t *manifest = fk_e2e_manifest("cross-node-app", "1.0", reqs);
    fk_http_resp_t *auth = fk_e2e_authorize(s_cluster.nodes[0], manifest, 300);
    cr_assert_eq(auth->status, 200);
    const char *user_code = fk_e2e_str(auth->json, "user_code");
    const char *device_code = fk_e2e_str(auth->json, "device_code");
    const char *client_id = fk_e2e_str(auth->json, "client_id");

    /*  The code reaches n1 by replication; n1's operator approves it. */
    int64_t deadline = fk_harness_now_ms() + 10000;
    int status = -1;
    while (fk_harness_now_ms() < deadline) {
        const char *argv[] = {"approve", user_code, NULL};
        fk_harness_cli(s_cluster.nodes[1], argv, &status, NULL, NULL);
        if (status == 0) {
            break;
        }
        fk_harness_wait_until(fk_harness_now_ms() + 100);
    }
    cr_assert_eq(status, 0, "n1 never approved the code issued by n0");

    /*  The approval reaches n0, which alone may burn its code. */
    fk_http_resp_t *token = NULL;
    deadline = fk_harness_now_ms() + 10000;
    while (fk_harness_now_ms() < deadline) {
        fk_http_resp_destroy(&token);
        token = fk_e2e_poll_once(s_cluster.nodes[0], device_code, client_id);
        if (token->status == 200) {
            break;
        }
        /*  The interval is 5 s; polling faster earns slow_down, which is
            fine here: we only wait for the approval to arrive. */
        fk_harness_wait_until(fk_harness_now_ms() + 200);
    }
    cr_assert_eq(token->status, 200, "n0 never saw the approval made on n1");
    json_t *instances = json_object_get(token->json, "instances");
    cr_assert_str_eq(fk_e2e_str(json_object_get(instances, "rekuest"), "identifier"),
                     "rekuest-9@n2");
    fk_http_resp_destroy(&token);
    fk_http_resp_destroy(&auth);
    json_decref(manifest);
}

typedef struct {
    const fk_node_t *node; /* node asked */
    const char *bearer;    /* access token */
    long want;             /* status waited for */
} s_report_t;

static bool
s_report_status(void *arg)
{
    s_report_t *report = arg;
    char *url = fk_harness_url(report->node, "/lok/f/report/");
    fk_http_resp_t *resp = fk_http_post_json(url, "application/json", report->bearer,
                                             "{\"alias_reports\":{},\"functional\":true}");
    bool ok = resp->status == report->want;
    fk_http_resp_destroy(&resp);
    free(url);
    return ok;
}

Test(cluster, a_token_from_one_node_verifies_everywhere_until_revoked)
{
    s_start(3, 51);
    json_t *manifest = fk_e2e_manifest("token-app", "1.0", NULL);
    fk_http_resp_t *login = fk_e2e_login_redeem(s_cluster.nodes[0], manifest);
    const char *access = fk_e2e_str(login->json, "access_token");
    for (size_t i = 1; i < 3; i++) {
        s_report_t report = {.node = s_cluster.nodes[i], .bearer = access, .want = 200};
        cr_assert(fk_poll_until(10000, s_report_status, &report), "n%zu does not accept n0's token",
                  i);
    }
    fk_http_resp_t *revoked = fk_e2e_revoke(s_cluster.nodes[0], access, "access_token", NULL);
    cr_assert_eq(revoked->status, 200);
    for (size_t i = 1; i < 3; i++) {
        s_report_t report = {.node = s_cluster.nodes[i], .bearer = access, .want = 401};
        cr_assert(fk_poll_until(10000, s_report_status, &report),
                  "n%zu still accepts a revoked token", i);
    }
    fk_http_resp_destroy(&revoked);
    fk_http_resp_destroy(&login);
    json_decref(manifest);
}

Test(cluster, a_whole_cluster_restart_reforms_from_lmdb)
{
    s_start(3, 61);
    cr_assert_eq(fk_testcluster_register(s_cluster.nodes[0], "kabinet-1", "live.arkitekt.kabinet"),
                 200);
    cr_assert(fk_testcluster_wait_service(&s_cluster, "kabinet-1", true, 10000));
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(fk_harness_stop(s_cluster.nodes[i], 10000), 0);
    }
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(fk_harness_restart(s_cluster.nodes[i]), 0);
    }
    for (size_t i = 0; i < 3; i++) {
        cr_assert(fk_testcluster_wait_status(&s_cluster, fk_harness_name(s_cluster.nodes[i]),
                                             "alive", 20000),
                  "n%zu did not rejoin after a full restart", i);
    }
    cr_assert(fk_testcluster_wait_service(&s_cluster, "kabinet-1", true, 10000));
    cr_assert(fk_testcluster_wait_same_view(&s_cluster, 10000));
}

Test(cluster, operations_on_another_nodes_tokens_are_forwarded_to_it)
{
    s_start(3, 71);
    /*  A redeem token minted on n0, redeemed through n1. */
    char *token = fk_e2e_redeem_token(s_cluster.nodes[0]);
    json_t *manifest = fk_e2e_manifest("forwarded-app", "1.0", NULL);
    char *text = fk_e2e_manifest_text(manifest);
    fk_http_resp_t *redeemed = NULL;
    int64_t deadline = fk_harness_now_ms() + 10000;
    while (fk_harness_now_ms() < deadline) {
        fk_http_resp_destroy(&redeemed);
        redeemed = fk_e2e_redeem(s_cluster.nodes[1], token, text);
        if (redeemed->status == 200) {
            break;
        }
        fk_harness_wait_until(fk_harness_now_ms() + 50);
    }
    cr_assert_eq(redeemed->status, 200, "n1 did not redeem n0's token: %s", redeemed->body);
    const char *client_id = fk_e2e_str(redeemed->json, "client_id");
    const char *refresh = fk_e2e_str(redeemed->json, "refresh_token");
    cr_assert(strstr(fk_e2e_str(json_object_get(redeemed->json, "self"), "jwks_url"),
                     fk_harness_http_addr(s_cluster.nodes[1]))
                  != NULL,
              "the answer must name the node the client talks to");

    /*  The refresh token was issued by n0 (the owner); rotate it through n2. */
    fk_http_resp_t *rotated = NULL;
    deadline = fk_harness_now_ms() + 10000;
    while (fk_harness_now_ms() < deadline) {
        fk_http_resp_destroy(&rotated);
        rotated = fk_e2e_refresh(s_cluster.nodes[2], refresh, client_id);
        if (rotated->status == 200) {
            break;
        }
        fk_harness_wait_until(fk_harness_now_ms() + 50);
    }
    cr_assert_eq(rotated->status, 200, "n2 did not rotate n0's token: %s", rotated->body);
    /*  The old token is dead on every node, at once: the owner rotated it. */
    for (size_t i = 0; i < 3; i++) {
        fk_http_resp_t *again = fk_e2e_refresh(s_cluster.nodes[i], refresh, client_id);
        fk_e2e_assert_oauth_error(again, 400, "invalid_grant");
        fk_http_resp_destroy(&again);
    }
    fk_http_resp_destroy(&rotated);
    fk_http_resp_destroy(&redeemed);
    free(text);
    free(token);
    json_decref(manifest);
}

Test(cluster, a_quorum_write_is_seen_by_every_consistent_read_at_once)
{
    s_start(5, 81);
    for (int round = 0; round < 5; round++) {
        char id[32];
        snprintf(id, sizeof id, "quorum-%d", round);
        char *file_text = NULL;
        cr_assert(asprintf(&file_text,
                           "id: %s\nservice: live.arkitekt.fluss\naliases:\n  - host: 10.0.0.7\n",
                           id)
                  > 0);
        fk_node_t *writer = s_cluster.nodes[(size_t)round % 5];
        char *path = fk_harness_write_file(writer, "quorum.yaml", file_text);
        free(file_text);
        const char *reg[] = {"services", "register", "--wait", "quorum", path, NULL};
        int status = -1;
        char *err = NULL;
        fk_harness_cli(writer, reg, &status, NULL, &err);
        free(path);
        cr_assert_eq(status, 0, "round %d: %s", round, err ? err : "");
        free(err);
        /*  No polling: the first consistent read on every node has it. */
        for (size_t i = 0; i < 5; i++) {
            fk_http_resp_t *resp =
                fk_harness_admin(s_cluster.nodes[i], "GET", "/v1/services?consistent", NULL);
            cr_assert_eq(resp->status, 200);
            cr_assert(strstr(resp->body, id) != NULL, "n%zu's consistent read misses %s", i, id);
            fk_http_resp_destroy(&resp);
        }
    }
}

Test(cluster, consistent_answers_need_a_majority)
{
    const char *args[] = {"--consistent-answers", "true", NULL};
    cr_assert(fk_testcluster_start(&s_cluster, 3, 91, args));
    for (size_t i = 0; i < 3; i++) {
        cr_assert(fk_testcluster_wait_status(&s_cluster, fk_harness_name(s_cluster.nodes[i]),
                                             "alive", 15000));
    }
    json_t *manifest = fk_e2e_manifest("consistent-app", "1.0", NULL);
    fk_http_resp_t *login = fk_e2e_login_redeem(s_cluster.nodes[0], manifest);
    const char *refresh = fk_e2e_str(login->json, "refresh_token");
    const char *client_id = fk_e2e_str(login->json, "client_id");

    /*  With both peers gone (still counted live until declared failed),
        no majority answers: the node says so instead of answering. */
    cr_assert_eq(fk_harness_kill9(s_cluster.nodes[1]), 0);
    cr_assert_eq(fk_harness_kill9(s_cluster.nodes[2]), 0);
    fk_http_resp_t *refused = fk_e2e_refresh(s_cluster.nodes[0], refresh, client_id);
    fk_e2e_assert_oauth_error(refused, 503, "temporarily_unavailable");
    fk_http_resp_destroy(&refused);
    fk_http_resp_destroy(&login);
    json_decref(manifest);
}
