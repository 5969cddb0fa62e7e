/*  fk_testcluster - loopback clusters of real agents. */

#include "fk_testcluster.h"

#include "fk_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
fk_testcluster_gossip(const fk_node_t *node)
{
    return json_string_value(json_object_get(fk_harness_agent_json(node), "gossip"));
}

bool
fk_testcluster_start(fk_testcluster_t *cluster, size_t count, unsigned base,
                     const char *const *extra_args)
{
    memset(cluster, 0, sizeof *cluster);
    if (count > FK_TESTCLUSTER_MAX) {
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        char addr[32];
        char name[16];
        snprintf(addr, sizeof addr, "127.0.0.%u", base + (unsigned)i);
        snprintf(name, sizeof name, "n%zu", i);
        fk_node_opts_t opts = {.addr = addr, .name = name, .args = extra_args};
        cluster->nodes[i] = fk_harness_start(&opts);
        if (!cluster->nodes[i]) {
            return false;
        }
        cluster->count = i + 1;
    }
    for (size_t i = 1; i < count; i++) {
        const char *argv[] = {"join", fk_testcluster_gossip(cluster->nodes[0]), NULL};
        int status = -1;
        char *out = NULL;
        char *err = NULL;
        fk_harness_cli(cluster->nodes[i], argv, &status, &out, &err);
        if (status != 0) {
            fprintf(stderr, "fk_testcluster: n%zu could not join: %s\n", i, err ? err : "");
        }
        free(out);
        free(err);
        if (status != 0) {
            return false;
        }
    }
    return true;
}

char *
fk_testcluster_member_status(const fk_node_t *node, const char *name)
{
    fk_http_resp_t *resp = fk_harness_admin(node, "GET", "/v1/agent/members", NULL);
    char *status = NULL;
    size_t i;
    json_t *member;
    json_array_foreach(resp->json, i, member)
    {
        const char *n = json_string_value(json_object_get(member, "name"));
        if (n && strcmp(n, name) == 0) {
            status = fk_strdup(json_string_value(json_object_get(member, "status")));
        }
    }
    fk_http_resp_destroy(&resp);
    return status;
}

typedef struct {
    fk_testcluster_t *cluster; /* cluster polled */
    const char *name;          /* member or service id */
    const char *status;        /* wanted member status */
    bool present;              /* service wanted present */
} s_wait_t;

static bool
s_all_see_status(void *arg)
{
    s_wait_t *wait = arg;
    for (size_t i = 0; i < wait->cluster->count; i++) {
        fk_node_t *node = wait->cluster->nodes[i];
        if (!fk_harness_running(node) || strcmp(fk_harness_name(node), wait->name) == 0) {
            continue;
        }
        char *status = fk_testcluster_member_status(node, wait->name);
        bool ok = status && strcmp(status, wait->status) == 0;
        free(status);
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool
fk_testcluster_wait_status(fk_testcluster_t *cluster, const char *name, const char *status,
                           int64_t timeout_ms)
{
    s_wait_t wait = {.cluster = cluster, .name = name, .status = status};
    return fk_poll_until(timeout_ms, s_all_see_status, &wait);
}

static bool
s_lists(const fk_node_t *node, const char *id)
{
    fk_http_resp_t *resp = fk_harness_admin(node, "GET", "/v1/services", NULL);
    bool found = false;
    size_t i;
    json_t *svc;
    json_array_foreach(resp->json, i, svc)
    {
        const char *sid = json_string_value(json_object_get(svc, "id"));
        found = found || (sid && strcmp(sid, id) == 0);
    }
    fk_http_resp_destroy(&resp);
    return found;
}

static bool
s_all_list(void *arg)
{
    s_wait_t *wait = arg;
    for (size_t i = 0; i < wait->cluster->count; i++) {
        fk_node_t *node = wait->cluster->nodes[i];
        if (fk_harness_running(node) && s_lists(node, wait->name) != wait->present) {
            return false;
        }
    }
    return true;
}

bool
fk_testcluster_wait_service(fk_testcluster_t *cluster, const char *id, bool present,
                            int64_t timeout_ms)
{
    s_wait_t wait = {.cluster = cluster, .name = id, .present = present};
    return fk_poll_until(timeout_ms, s_all_list, &wait);
}

char *
fk_testcluster_view(const fk_node_t *node)
{
    fk_http_resp_t *resp = fk_harness_admin(node, "GET", "/v1/agent/info", NULL);
    char *view = resp->status == 200 ? fk_http_resp_header(resp, "X-Fakts-View") : NULL;
    fk_http_resp_destroy(&resp);
    return view;
}

static bool
s_same_view(void *arg)
{
    fk_testcluster_t *cluster = arg;
    char *first = NULL;
    bool same = true;
    for (size_t i = 0; i < cluster->count && same; i++) {
        if (!fk_harness_running(cluster->nodes[i])) {
            continue;
        }
        char *view = fk_testcluster_view(cluster->nodes[i]);
        if (!view) {
            same = false;
        } else if (!first) {
            first = view;
            continue;
        } else {
            same = strcmp(first, view) == 0;
        }
        free(view);
    }
    free(first);
    return same;
}

bool
fk_testcluster_wait_same_view(fk_testcluster_t *cluster, int64_t timeout_ms)
{
    return fk_poll_until(timeout_ms, s_same_view, cluster);
}

long
fk_testcluster_register(const fk_node_t *node, const char *id, const char *service)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"service\":\"%s\",\"aliases\":[{\"host\":\"10.0.0.5\","
             "\"port\":8090,\"path\":\"svc\"}]}",
             id, service);
    fk_http_resp_t *resp = fk_harness_admin(node, "PUT", "/v1/services", body);
    long status = resp->status;
    fk_http_resp_destroy(&resp);
    return status;
}
