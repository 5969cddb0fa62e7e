/*  The audit log across nodes (ARCHITECTURE.md, "The audit log"): an entry
    written on one node is an ordinary record owned by it, so replication
    brings it to every other node, which lists it unchanged: the writer's
    name, the actor and the caller's address; and a node's join reaches
    its seed the same way. Addresses 127.0.0.133-135. */

#include "fk_e2e.h"
#include "fk_mem.h"
#include "fk_testcluster.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define S_DEADLINE_MS 10000

static fk_testcluster_t s_cluster;

static void
s_teardown(void)
{
    fk_harness_cleanup();
}

TestSuite(cluster_audit, .fini = s_teardown, .timeout = 240);

typedef struct {
    fk_node_t *node;     /* the node asked */
    const char *action;  /* the action looked for */
    const char *subject; /* and its subject */
    json_t *entry;       /* the entry found (new reference), or NULL */
} s_lookup_t;

/*  Whether the node lists an entry of the action on the subject. */
static bool
s_listed(void *arg)
{
    s_lookup_t *lookup = arg;
    char *url = fk_harness_url(lookup->node, "/v1/audit?since=10m");
    fk_http_resp_t *resp = fk_http_get(url, fk_harness_admin_token(lookup->node));
    free(url);
    size_t i;
    json_t *entry;
    json_array_foreach(json_object_get(resp->json, "entries"), i, entry)
    {
        if (strcmp(fk_e2e_str(entry, "action"), lookup->action) == 0
            && strcmp(fk_e2e_str(entry, "subject"), lookup->subject) == 0) {
            json_decref(lookup->entry);
            lookup->entry = json_incref(entry);
        }
    }
    fk_http_resp_destroy(&resp);
    return lookup->entry != NULL;
}

Test(cluster_audit, an_entry_written_on_one_node_is_listed_on_every_other)
{
    cr_assert(fk_testcluster_start(&s_cluster, 3, 133, NULL), "cluster did not form");
    cr_assert_eq(fk_testcluster_register(s_cluster.nodes[0], "audited-1", "live.arkitekt.mikro"),
                 200);
    for (size_t i = 1; i < s_cluster.count; i++) {
        s_lookup_t lookup = {
            .node = s_cluster.nodes[i], .action = "service.register", .subject = "audited-1"};
        if (!fk_poll_until(S_DEADLINE_MS, s_listed, &lookup)) {
            fk_testcluster_dump_logs(&s_cluster, 4000);
        }
        cr_assert_not_null(lookup.entry, "node %s never listed the entry written on %s",
                           fk_harness_name(s_cluster.nodes[i]),
                           fk_harness_name(s_cluster.nodes[0]));
        cr_assert_str_eq(fk_e2e_str(lookup.entry, "node"), fk_harness_name(s_cluster.nodes[0]));
        cr_assert_str_eq(fk_e2e_str(lookup.entry, "actor"), "admin-token");
        cr_assert(strncmp(fk_e2e_str(lookup.entry, "from"), "127.", 4) == 0);
        json_decref(lookup.entry);
    }
    /*  And the other way: the join each node made (`fakts-node join`)
        reaches the seed. */
    s_lookup_t joined = {.node = s_cluster.nodes[0], .action = "member.join", .subject = "n2"};
    cr_assert(fk_poll_until(S_DEADLINE_MS, s_listed, &joined), "n0 never listed n2's join");
    cr_assert_str_eq(fk_e2e_str(joined.entry, "node"), "n2");
    json_decref(joined.entry);
}
