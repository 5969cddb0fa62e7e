/*  End-to-end tests for the HTTP plane's limits: one client address holds
    at most --http-per-ip connections, so it cannot take every slot of the
    node (issue 9, item 3's HTTP side); and a flood from one address, of
    half-sent requests and of full ones with the largest bodies, leaves
    another address served and the store bounded, with the defaults
    (issue 10, item 3). */

#include "fk_e2e.h"
#include "fk_harness.h"
#include "fk_mem.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
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

/*  A TCP connection to the node from the loopback address src (each
    client of the flood test has its own), or -errno when refused. */
static int
s_connect_from(const fk_node_t *node, const char *src)
{
    const char *addr = fk_harness_http_addr(node);
    const char *colon = strrchr(addr, ':');
    cr_assert_not_null(colon);
    char *host = fk_strndup(addr, (size_t)(colon - addr));
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    struct sockaddr_in from = {.sin_family = AF_INET};
    cr_assert_eq(inet_pton(AF_INET, host, &to.sin_addr), 1);
    cr_assert_eq(inet_pton(AF_INET, src, &from.sin_addr), 1);
    free(host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&from, sizeof from), 0, "bind %s: %s", src,
                 strerror(errno));
    if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

/*  One request from src on a connection of its own (Connection: close);
    the answer's status, or 0 when the node closed the connection without
    one or sent nothing for 10 s. */
static long
s_request_from(const fk_node_t *node, const char *src, const char *method, const char *path,
               const char *body)
{
    int fd = s_connect_from(node, src);
    if (fd < 0) {
        return 0;
    }
    size_t len = body ? strlen(body) : 0;
    char *head = fk_asprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                             method, path, fk_harness_http_addr(node), len);
    bool sent = send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head);
    for (size_t off = 0; sent && off < len;) {
        ssize_t n = send(fd, body + off, len - off, MSG_NOSIGNAL);
        sent = n > 0;
        off += sent ? (size_t)n : 0;
    }
    free(head);
    char status_line[64] = "";
    size_t got = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (sent && got < sizeof status_line - 1 && poll(&pfd, 1, 10000) == 1) {
        ssize_t n = recv(fd, status_line + got, sizeof status_line - 1 - got, 0);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    status_line[got] = '\0';
    close(fd);
    long status = 0;
    return sscanf(status_line, "HTTP/1.%*d %ld", &status) == 1 ? status : 0;
}

/*  The node's pending codes, through the CLI. */
static size_t
s_pending_codes(const fk_node_t *node)
{
    const char *argv[] = {"codes", "--json", NULL};
    int status = -1;
    char *out = NULL;
    cr_assert_eq(fk_harness_cli(node, argv, &status, &out, NULL), 0);
    cr_assert_eq(status, 0, "codes: %s", out);
    json_t *codes = json_loads(out, 0, NULL);
    cr_assert(json_is_array(codes), "%s", out);
    size_t count = json_array_size(codes);
    json_decref(codes);
    free(out);
    return count;
}

/*  An authorization request whose manifest's description fills the body
    to just under the default --max-body (64 KiB). */
static char *
s_fat_authorization(int n)
{
    char *filler = fk_malloc(60 * 1024 + 1);
    memset(filler, 'x', 60 * 1024);
    filler[60 * 1024] = '\0';
    char *body = fk_asprintf(
        "{\"manifest\":{\"identifier\":\"org.example.flood-%d\",\"version\":\"1.0.0\","
        "\"scopes\":[\"openid\"],\"requirements\":[],\"description\":\"%s\"},"
        "\"expiration_time_seconds\":300}",
        n, filler);
    free(filler);
    return body;
}

Test(e2e_http, a_flood_from_one_address_leaves_others_served_and_the_store_bounded,
     .timeout = 300)
{
    /*  The defaults: 64 connections per address, 30 authorizations and
        120 v1 requests a minute per address. */
    fk_node_opts_t opts = {.addr = "127.0.0.80"};
    fk_node_t *node = fk_harness_start(&opts);
    cr_assert_not_null(node);
    const char *flooder = "127.0.0.81", *other = "127.0.0.82";

    /*  1,000 half-sent requests from one address: beyond 64 they are
        closed at accept, and another address is still served. */
    enum { S_HALF_SENT = 1000 };
    int *held = fk_calloc(S_HALF_SENT, sizeof *held);
    const char half[] = "POST /lok/o/app-authorization/ HTTP/1.1\r\nHost: x\r\nContent-Le";
    for (int i = 0; i < S_HALF_SENT; i++) {
        held[i] = s_connect_from(node, flooder);
        if (held[i] >= 0) {
            send(held[i], half, sizeof half - 1, MSG_NOSIGNAL);
        }
    }
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(s_request_from(node, other, "GET", "/.well-known/fakts", NULL), 200,
                     "discovery from another address while 1,000 requests hang (%d)", i);
    }
    for (int i = 0; i < S_HALF_SENT; i++) {
        if (held[i] >= 0) {
            close(held[i]);
        }
    }
    free(held);

    /*  Full requests with the largest bodies, v2 and v1, 300 each: most
        are refused (429), and what is stored stays within the limits. */
    size_t before = s_pending_codes(node);
    int accepted = 0, refused = 0;
    for (int i = 0; i < 300; i++) {
        char *body = s_fat_authorization(i);
        long v2 = s_request_from(node, flooder, "POST", "/lok/o/app-authorization/", body);
        long v1 = s_request_from(node, flooder, "POST", "/lok/f/start/", body);
        free(body);
        accepted += (v2 == 200) + (v1 == 200);
        refused += (v2 == 429) + (v1 == 429);
        if (i % 50 == 0) {
            cr_assert_eq(s_request_from(node, other, "GET", "/.well-known/fakts", NULL), 200,
                         "discovery from another address during the flood (%d)", i);
        }
    }
    cr_assert_leq(accepted, 30 + 120, "accepted %d in under a minute", accepted);
    cr_assert_eq(accepted + refused, 600, "every request answered 200 or 429");
    size_t after = s_pending_codes(node);
    cr_assert_leq(after - before, 30 + 120, "the flood stored %zu codes", after - before);
    /*  The other address authorizes as if nothing happened. */
    char *body = s_fat_authorization(-1);
    cr_assert_eq(s_request_from(node, other, "POST", "/lok/o/app-authorization/", body), 200);
    free(body);
}

Test(e2e_http, revocations_and_bearer_reports_count_against_the_token_limit)
{
    const char *args[] = {"--rate-token", "3", NULL};
    fk_node_opts_t opts = {.addr = "127.0.0.83", .args = args};
    fk_node_t *node = fk_harness_start(&opts);
    cr_assert_not_null(node);
    char *revoke = fk_harness_url(node, "/lok/o/revoke/");
    char *report = fk_harness_url(node, "/lok/f/report/");
    const char *pairs[] = {"token", "not-a-token", "client_id", "nobody", NULL};
    /*  Two revocations and a bearer report: the three the minute allows. */
    for (int i = 0; i < 2; i++) {
        fk_http_resp_t *resp = fk_http_post_form(revoke, NULL, pairs);
        cr_assert_eq(resp->status, 200, "revoke %d: %ld %s", i, resp->status, resp->body);
        fk_http_resp_destroy(&resp);
    }
    fk_http_resp_t *resp = fk_http_post_json(report, "application/json", "not.a.jwt", "{}");
    cr_assert_neq(resp->status, 429, "%s", resp->body);
    fk_http_resp_destroy(&resp);
    /*  The fourth, to either door, is slow_down in that door's shape. */
    resp = fk_http_post_form(revoke, NULL, pairs);
    cr_assert_eq(resp->status, 429, "%ld %s", resp->status, resp->body);
    cr_assert_str_eq(json_string_value(json_object_get(resp->json, "error")), "slow_down");
    fk_http_resp_destroy(&resp);
    resp = fk_http_post_json(report, "application/json", "not.a.jwt", "{}");
    cr_assert_eq(resp->status, 429, "%ld %s", resp->status, resp->body);
    cr_assert_str_eq(json_string_value(json_object_get(resp->json, "status")), "error");
    cr_assert_str_eq(json_string_value(json_object_get(resp->json, "error")), "slow_down");
    fk_http_resp_destroy(&resp);
    free(revoke);
    free(report);
    fk_harness_remove(&node);
}
