/*  test_e2e_health - health checks against a real agent (127.0.0.180):
    http checks against a tiny HTTP server inside the test (200, 429, 500,
    no answer), tcp checks against a socket that listens and then closes,
    ttl reports through the CLI and through PUT /v1/services/ID/health, and
    deregistration after deregister_critical_after. Intervals are 200 ms;
    every wait polls with a deadline. */

#include "fk_e2e.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_ADDR "127.0.0.180"
#define S_WAIT_MS 10000

TestSuite(e2e_health, .fini = fk_e2e_teardown);

/*  ---------------------------------------------------------------------
    A tiny HTTP server: answers every request with the status in s_answer
    (0: read the request and never answer).
    --------------------------------------------------------------------- */

static atomic_int s_answer;
static atomic_bool s_stop;

static int
s_listen(int *port_p)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_neq(fd, -1);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    inet_pton(AF_INET, S_ADDR, &addr.sin_addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    cr_assert_eq(listen(fd, 16), 0);
    socklen_t len = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &len);
    *port_p = ntohs(addr.sin_port);
    return fd;
}

static void *
s_serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    while (!atomic_load(&s_stop)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) != 1) {
            continue;
        }
        int conn = accept(fd, NULL, NULL);
        if (conn == -1) {
            continue;
        }
        char buf[2048];
        ssize_t n = recv(conn, buf, sizeof buf, 0);
        (void)n;
        int status = atomic_load(&s_answer);
        if (status == 0) {
            /*  Hold the connection past the check's timeout. */
            struct pollfd wait = {.fd = conn, .events = POLLIN};
            poll(&wait, 1, 1000);
        } else {
            char reply[256];
            int len = snprintf(reply, sizeof reply,
                               "HTTP/1.1 %d X\r\nContent-Length: 6\r\nConnection: close\r\n\r\n"
                               "body %d",
                               status, status / 100);
            ssize_t sent = send(conn, reply, (size_t)len, MSG_NOSIGNAL);
            (void)sent;
        }
        close(conn);
    }
    return NULL;
}

/*  ---------------------------------------------------------------------
    Helpers
    --------------------------------------------------------------------- */

static fk_node_t *
s_node(void)
{
    fk_node_t *node = fk_harness_start(&(fk_node_opts_t){.addr = S_ADDR});
    cr_assert_not_null(node, "the agent did not start");
    return node;
}

static void
s_register(fk_node_t *node, const char *json)
{
    fk_http_resp_t *resp = fk_harness_admin(node, "PUT", "/v1/services", json);
    cr_assert_eq(resp->status, 200, "register: %ld %s", resp->status, resp->body);
    fk_http_resp_destroy(&resp);
}

typedef struct {
    fk_node_t *node;     /* asked */
    const char *id;      /* the local service */
    const char *want;    /* its health status; NULL: gone */
    char last[512];      /* the last answer, for the failure message */
} s_health_t;

static bool
s_has_health(void *arg)
{
    s_health_t *h = arg;
    char path[256];
    snprintf(path, sizeof path, "/v1/services/%s", h->id);
    fk_http_resp_t *resp = fk_harness_admin(h->node, "GET", path, NULL);
    snprintf(h->last, sizeof h->last, "%ld %s", resp->status, resp->body);
    bool ok;
    if (!h->want) {
        ok = resp->status == 404;
    } else {
        const char *status =
            json_string_value(json_object_get(json_object_get(resp->json, "health"), "status"));
        ok = resp->status == 200 && status && strcmp(status, h->want) == 0;
    }
    fk_http_resp_destroy(&resp);
    return ok;
}

static void
s_expect_health(fk_node_t *node, const char *id, const char *want)
{
    s_health_t h = {.node = node, .id = id, .want = want};
    bool ok = fk_poll_until(S_WAIT_MS, s_has_health, &h);
    if (!ok) {
        fk_harness_dump_log(node, 3000);
    }
    cr_assert(ok, "%s did not become %s within %d ms; last: %s", id, want ? want : "gone",
              S_WAIT_MS, h.last);
}

/*  The output of check index of local service id. Caller frees. */
static char *
s_output(fk_node_t *node, const char *id, size_t index)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/services/%s", id);
    fk_http_resp_t *resp = fk_harness_admin(node, "GET", path, NULL);
    const char *output = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(resp->json, "health"), "checks"), index),
        "output"));
    char *copy = strdup(output ? output : "");
    fk_http_resp_destroy(&resp);
    return copy;
}

/*  ---------------------------------------------------------------------
    Tests
    --------------------------------------------------------------------- */

Test(e2e_health, http_check_follows_200_429_500_and_a_timeout)
{
    fk_node_t *node = s_node();
    int port = 0;
    int fd = s_listen(&port);
    atomic_store(&s_answer, 200);
    atomic_store(&s_stop, false);
    pthread_t server;
    cr_assert_eq(pthread_create(&server, NULL, s_serve, (void *)(intptr_t)fd), 0);

    char def[512];
    snprintf(def, sizeof def,
             "{\"id\":\"web\",\"service\":\"live.test.web\",\"aliases\":[{\"host\":\"h\"}],"
             "\"checks\":[{\"http\":\"http://" S_ADDR ":%d/ht\",\"interval\":\"200ms\","
             "\"timeout\":\"150ms\"}]}",
             port);
    s_register(node, def);
    s_expect_health(node, "web", "passing");
    char *out = s_output(node, "web", 0);
    cr_expect(strstr(out, ": 200: body 2") != NULL, "%s", out);
    free(out);

    atomic_store(&s_answer, 429);
    s_expect_health(node, "web", "warning");
    atomic_store(&s_answer, 500);
    s_expect_health(node, "web", "critical");
    out = s_output(node, "web", 0);
    cr_expect(strstr(out, ": 500") != NULL, "%s", out);
    free(out);
    atomic_store(&s_answer, 200);
    s_expect_health(node, "web", "passing");
    /*  A redirect is never followed: critical. */
    atomic_store(&s_answer, 302);
    s_expect_health(node, "web", "critical");
    out = s_output(node, "web", 0);
    cr_expect(strstr(out, "redirects are not followed") != NULL, "%s", out);
    free(out);
    atomic_store(&s_answer, 200);
    s_expect_health(node, "web", "passing");
    atomic_store(&s_answer, 0);
    s_expect_health(node, "web", "critical");
    out = s_output(node, "web", 0);
    cr_expect(strstr(out, "Timeout") != NULL, "%s", out);
    free(out);

    atomic_store(&s_stop, true);
    pthread_join(server, NULL);
    close(fd);
}

Test(e2e_health, tcp_check_passes_while_listening_and_fails_once_closed)
{
    fk_node_t *node = s_node();
    int port = 0;
    int fd = s_listen(&port);
    char def[512];
    snprintf(def, sizeof def,
             "{\"id\":\"db\",\"service\":\"live.test.db\",\"aliases\":[{\"host\":\"h\"}],"
             "\"checks\":[{\"tcp\":\"" S_ADDR ":%d\",\"interval\":\"200ms\","
             "\"timeout\":\"150ms\"}]}",
             port);
    s_register(node, def);
    s_expect_health(node, "db", "passing");
    close(fd);
    s_expect_health(node, "db", "critical");
    char *out = s_output(node, "db", 0);
    cr_expect(strstr(out, "TCP connect") != NULL, "%s", out);
    free(out);
}

static const char s_ttl_def[] =
    "{\"id\":\"job\",\"service\":\"live.test.job\",\"aliases\":[{\"host\":\"h\"}],"
    "\"checks\":[{\"ttl\":\"1s\"}]}";

Test(e2e_health, ttl_through_the_cli_and_silence_expires_it)
{
    fk_node_t *node = s_node();
    s_register(node, s_ttl_def);
    s_expect_health(node, "job", "critical");
    char *out = s_output(node, "job", 0);
    cr_expect_str_eq(out, "not checked yet");
    free(out);

    char *said = fk_e2e_cli_ok(node, (const char *const[]){"services", "pass", "--note",
                                                           "step 1 of 3", "job", NULL});
    cr_expect(strstr(said, "job: reported passing; instance passing") != NULL, "%s", said);
    free(said);
    out = s_output(node, "job", 0);
    cr_expect_str_eq(out, "step 1 of 3");
    free(out);
    said = fk_e2e_cli_ok(node, (const char *const[]){"services", "warn", "job", NULL});
    cr_expect(strstr(said, "instance warning") != NULL, "%s", said);
    free(said);
    said = fk_e2e_cli_ok(node, (const char *const[]){"services", "fail", "job", NULL});
    cr_expect(strstr(said, "instance critical") != NULL, "%s", said);
    free(said);
    said = fk_e2e_cli_ok(node, (const char *const[]){"services", "pass", "job", NULL});
    free(said);
    /*  Then silence: critical after the 1 s ttl. */
    s_expect_health(node, "job", "critical");
    out = s_output(node, "job", 0);
    cr_expect_str_eq(out, "TTL expired: no report for 1s");
    free(out);

    /*  services list shows the health. */
    said = fk_e2e_cli_ok(node, (const char *const[]){"services", "list", NULL});
    cr_expect(strstr(said, "HEALTH") != NULL && strstr(said, "critical") != NULL, "%s", said);
    free(said);

    /*  An unknown id fails with the agent's reason. */
    int status = 0;
    char *err = NULL;
    cr_assert_eq(fk_harness_cli(node, (const char *const[]){"services", "pass", "nope", NULL},
                                &status, NULL, &err),
                 0);
    cr_expect_neq(status, 0);
    cr_expect(strstr(err, "no local service with id 'nope'") != NULL, "%s", err);
    free(err);
}

Test(e2e_health, ttl_through_put_and_its_errors)
{
    fk_node_t *node = s_node();
    s_register(node, s_ttl_def);
    fk_http_resp_t *resp =
        fk_harness_admin(node, "PUT", "/v1/services/job/health", "{\"status\":\"passing\"}");
    cr_assert_eq(resp->status, 200, "%s", resp->body);
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(resp->json, "health"), "status")),
        "passing");
    fk_http_resp_destroy(&resp);
    resp = fk_harness_admin(node, "PUT", "/v1/services/job/health", "{\"status\":\"warning\"}");
    cr_expect_eq(resp->status, 200);
    fk_http_resp_destroy(&resp);
    s_expect_health(node, "job", "warning");

    resp = fk_harness_admin(node, "PUT", "/v1/services/job/health", "{\"status\":\"fine\"}");
    cr_expect_eq(resp->status, 400, "%s", resp->body);
    fk_http_resp_destroy(&resp);
    resp = fk_harness_admin(node, "PUT", "/v1/services/nope/health", "{\"status\":\"pass\"}");
    cr_expect_eq(resp->status, 404, "%s", resp->body);
    fk_http_resp_destroy(&resp);
    /*  A service without a ttl check takes no reports. */
    s_register(node, "{\"id\":\"plain\",\"service\":\"live.test.plain\","
                     "\"aliases\":[{\"host\":\"h\"}]}");
    resp = fk_harness_admin(node, "PUT", "/v1/services/plain/health", "{\"status\":\"pass\"}");
    cr_expect_eq(resp->status, 409, "%s", resp->body);
    fk_http_resp_destroy(&resp);
    /*  Without a token: 401, like every /v1/ route. */
    char *url = fk_harness_url(node, "/v1/services/job/health");
    resp = fk_http_send("PUT", url, NULL, "{\"status\":\"pass\"}", 17);
    cr_expect_eq(resp->status, 401);
    fk_http_resp_destroy(&resp);
    free(url);
}

Test(e2e_health, critical_past_deregister_critical_after_is_deregistered)
{
    fk_node_t *node = s_node();
    s_register(node, "{\"id\":\"gone\",\"service\":\"live.test.gone\","
                     "\"aliases\":[{\"host\":\"h\"}],\"checks\":[{\"ttl\":\"500ms\"}],"
                     "\"deregister_critical_after\":\"1s\"}");
    fk_http_resp_t *resp =
        fk_harness_admin(node, "PUT", "/v1/services/gone/health", "{\"status\":\"pass\"}");
    cr_assert_eq(resp->status, 200);
    fk_http_resp_destroy(&resp);
    /*  Silence: critical after 500 ms, deregistered 1 s later. */
    s_expect_health(node, "gone", NULL);
    /*  As an operator's deregistration would be, it is in the audit log. */
    resp = fk_harness_admin(node, "GET", "/v1/audit", NULL);
    cr_assert_eq(resp->status, 200, "%s", resp->body);
    bool audited = false;
    size_t i;
    json_t *entry;
    json_array_foreach(json_object_get(resp->json, "entries"), i, entry)
    {
        const char *actor = json_string_value(json_object_get(entry, "actor"));
        const char *action = json_string_value(json_object_get(entry, "action"));
        const char *subject = json_string_value(json_object_get(entry, "subject"));
        audited = audited
                  || (actor && action && subject && strcmp(actor, "health-checker") == 0
                      && strcmp(action, "service.deregister") == 0 && strcmp(subject, "gone") == 0);
    }
    cr_expect(audited, "no service.deregister by health-checker in %s", resp->body);
    fk_http_resp_destroy(&resp);
}

Test(e2e_health, health_survives_a_restart_of_the_owner)
{
    fk_node_t *node = s_node();
    s_register(node, "{\"id\":\"job\",\"service\":\"live.test.job\",\"aliases\":[{\"host\":"
                     "\"h\"}],\"checks\":[{\"ttl\":\"30s\"}]}");
    fk_http_resp_t *resp =
        fk_harness_admin(node, "PUT", "/v1/services/job/health", "{\"status\":\"warn\"}");
    cr_assert_eq(resp->status, 200);
    fk_http_resp_destroy(&resp);
    cr_assert_eq(fk_harness_restart(node), 0);
    /*  The stored status stands, with a fresh ttl from the restart. */
    s_expect_health(node, "job", "warning");
}
