/*  End-to-end tests for the HTTP plane's limits: one client address holds
    at most --http-per-ip connections, so it cannot take every slot of the
    node (issue 9, item 3's HTTP side). */

#include "fk_e2e.h"
#include "fk_harness.h"
#include "fk_mem.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
s_teardown(void)
{
    fk_harness_cleanup();
}

TestSuite(e2e_http, .fini = s_teardown, .timeout = 120);

/*  An idle TCP connection to the node, as a slow client holds one. */
static int
s_connect(const fk_node_t *node)
{
    const char *addr = fk_harness_http_addr(node);
    const char *colon = strrchr(addr, ':');
    cr_assert_not_null(colon);
    char *host = fk_strndup(addr, (size_t)(colon - addr));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    cr_assert_eq(inet_pton(AF_INET, host, &sa.sin_addr), 1);
    free(host);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

typedef struct {
    const fk_node_t *node; /* asked */
    long want;             /* the status polled for (0: refused) */
} s_ask_t;

static bool
s_health_is(void *arg)
{
    s_ask_t *ask = arg;
    char *url = fk_harness_url(ask->node, "/ht");
    fk_http_resp_t *resp = fk_http_get(url, NULL);
    bool match = resp->status == ask->want;
    fk_http_resp_destroy(&resp);
    free(url);
    return match;
}

Test(e2e_http, one_address_holds_at_most_http_per_ip_connections)
{
    const char *args[] = {"--http-per-ip", "2", "--http-connections", "3", NULL};
    fk_node_opts_t opts = {.args = args};
    fk_node_t *node = fk_harness_start(&opts);
    cr_assert_not_null(node);
    int a = s_connect(node);
    int b = s_connect(node);
    /*  Both slots of 127.0.0.1 are taken: a third connection is closed
        at accept, so the request gets no answer. */
    s_ask_t refused = {.node = node, .want = 0};
    cr_assert(fk_poll_until(5000, s_health_is, &refused), "a third connection was served");
    close(a);
    s_ask_t served = {.node = node, .want = 200};
    cr_assert(fk_poll_until(5000, s_health_is, &served), "a freed slot was not given back");
    close(b);
}
