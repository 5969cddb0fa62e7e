/*  Health across nodes (docs/ARCHITECTURE.md, "Health checks"): health
    set on the node that owns an instance is part of its replicated record,
    so another node's answers (its service list, the statuses of a pending
    code's requirements) follow it. Addresses 127.0.0.185-186. */

#include "fk_e2e.h"
#include "fk_testcluster.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_WAIT_MS 10000

static fk_testcluster_t s_cluster;

static void
s_teardown(void)
{
    fk_harness_cleanup();
}

TestSuite(cluster_health, .fini = s_teardown, .timeout = 180);

typedef struct {
    const fk_node_t *node; /* asked */
    const char *want;      /* the health n0's "job" must have there */
    char last[256];        /* what it had, for the failure message */
} s_seen_t;

static bool
s_sees(void *arg)
{
    s_seen_t *seen = arg;
    fk_http_resp_t *resp = fk_harness_admin(seen->node, "GET", "/v1/services", NULL);
    bool ok = false;
    snprintf(seen->last, sizeof seen->last, "no instance");
    size_t i;
    json_t *svc;
    json_array_foreach(resp->json, i, svc)
    {
        const char *id = json_string_value(json_object_get(svc, "id"));
        const char *node = json_string_value(json_object_get(svc, "node"));
        const char *health =
            json_string_value(json_object_get(json_object_get(svc, "health"), "status"));
        if (id && node && strcmp(id, "job") == 0 && strcmp(node, "n0") == 0) {
            snprintf(seen->last, sizeof seen->last, "%s", health ? health : "none");
            ok = health && strcmp(health, seen->want) == 0;
        }
    }
    fk_http_resp_destroy(&resp);
    return ok;
}

static void
s_report(const char *status)
{
    char body[64];
    snprintf(body, sizeof body, "{\"status\":\"%s\"}", status);
    fk_http_resp_t *resp =
        fk_harness_admin(s_cluster.nodes[0], "PUT", "/v1/services/job/health", body);
    cr_assert_eq(resp->status, 200, "%s", resp->body);
    fk_http_resp_destroy(&resp);
}

static void
s_expect_seen(const char *want)
{
    s_seen_t seen = {.node = s_cluster.nodes[1], .want = want};
    int64_t start = fk_harness_now_ms();
    bool ok = fk_poll_until(S_WAIT_MS, s_sees, &seen);
    if (!ok) {
        fk_testcluster_dump_logs(&s_cluster, 3000);
    }
    cr_assert(ok, "n1 did not see n0's job as %s within %d ms (it had %s)", want, S_WAIT_MS,
              seen.last);
    fprintf(stderr, "cluster_health: n1 saw %s after %lld ms\n", want,
            (long long)(fk_harness_now_ms() - start));
}

/*  The status of requirement "job" of the one pending code on node. */
static char *
s_code_status(const fk_node_t *node)
{
    fk_http_resp_t *resp = fk_harness_admin(node, "GET", "/v1/codes", NULL);
    const char *status = json_string_value(
        json_object_get(json_object_get(json_array_get(resp->json, 0), "statuses"), "job"));
    char *copy = strdup(status ? status : "none");
    fk_http_resp_destroy(&resp);
    return copy;
}

Test(cluster_health, health_set_on_the_owner_is_seen_in_another_nodes_answers)
{
    cr_assert(fk_testcluster_start(&s_cluster, 2, 185, NULL), "cluster did not form");
    fk_http_resp_t *resp = fk_harness_admin(
        s_cluster.nodes[0], "PUT", "/v1/services",
        "{\"id\":\"job\",\"service\":\"live.test.job\",\"aliases\":[{\"host\":\"h\"}],"
        "\"checks\":[{\"ttl\":\"60s\"}]}");
    cr_assert_eq(resp->status, 200, "%s", resp->body);
    fk_http_resp_destroy(&resp);
    s_expect_seen("critical");

    /*  A code asked on n1 for an app that requires the service. */
    fk_e2e_req_t reqs[] = {{"job", "live.test.job", false}, {NULL, NULL, false}};
    json_t *manifest = fk_e2e_manifest("health-app", "1", reqs);
    resp = fk_e2e_authorize(s_cluster.nodes[1], manifest, 600);
    cr_assert_eq(resp->status, 200, "%s", resp->body);
    fk_http_resp_destroy(&resp);
    json_decref(manifest);
    char *status = s_code_status(s_cluster.nodes[1]);
    cr_expect_str_eq(status, "unavailable", "only a critical instance exists");
    free(status);

    s_report("passing");
    s_expect_seen("passing");
    status = s_code_status(s_cluster.nodes[1]);
    cr_expect_str_eq(status, "granted");
    free(status);

    s_report("warning");
    s_expect_seen("warning");
    status = s_code_status(s_cluster.nodes[1]);
    cr_expect_str_eq(status, "granted", "a warning instance is still offered");
    free(status);

    s_report("critical");
    s_expect_seen("critical");
    status = s_code_status(s_cluster.nodes[1]);
    cr_expect_str_eq(status, "unavailable");
    free(status);
}
