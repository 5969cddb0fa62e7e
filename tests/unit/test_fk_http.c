/*  Tests for the listener's hold path (fk_http_hold, fk_http_wake): a
    held request waits with no thread until its deadline or a wake of one
    of its topics, then its handler runs again and answers; the listener
    stops cleanly with requests held. Real sockets on 127.0.0.106. */

#include "fk_http.h"

#include "fk_clock.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

TestSuite(fk_http);

#define S_HOST "127.0.0.106"

/*  What the test handler saw. */
typedef struct {
    atomic_int calls;   /* handler runs, first calls and reruns */
    atomic_int blocked; /* /block handlers waiting now */
    atomic_bool release; /* /block handlers return */
} s_seen_t;

/*  GET /hold/<ms>/<topics>: on the first call hold for ms on topics; on a
    later one answer "timeout" when the deadline passed, else "woken".
    GET /always/<ms>/<topics>: the same, but hold again on every call
    before the deadline. GET /block: keep the worker (as a handler
    forwarding to a frozen owner does) until the test releases it, at most
    20 s. Anything else answers "plain" at once. */
static void
s_handler(void *arg, fk_http_req_t *req)
{
    s_seen_t *seen = arg;
    atomic_fetch_add(&seen->calls, 1);
    long ms = 0;
    unsigned topics = 0;
    if (strcmp(fk_http_path(req), "/block") == 0) {
        atomic_fetch_add(&seen->blocked, 1);
        int64_t deadline = fk_clock_mono_ms() + 20000;
        while (!atomic_load(&seen->release) && fk_clock_mono_ms() < deadline) {
            usleep(2000);
        }
        atomic_fetch_sub(&seen->blocked, 1);
        fk_http_respond(req, 200, "text/plain", "released", 8);
        return;
    }
    bool always = sscanf(fk_http_path(req), "/always/%ld/%u", &ms, &topics) == 2;
    if (!always && sscanf(fk_http_path(req), "/hold/%ld/%u", &ms, &topics) != 2) {
        fk_http_respond(req, 200, "text/plain", "plain", 5);
        return;
    }
    int64_t until = fk_http_held_until(req);
    if (until != 0 && always && fk_clock_mono_ms() < until) {
        fk_http_hold(req, until, topics);
        return;
    }
    if (until == 0) {
        fk_http_hold(req, fk_clock_mono_ms() + ms, topics);
        return;
    }
    const char *body = fk_clock_mono_ms() >= until ? "timeout" : "woken";
    fk_http_respond(req, 200, "text/plain", body, strlen(body));
}

static fk_http_t *
s_start(s_seen_t *seen, unsigned workers)
{
    fk_http_t *http = NULL;
    cr_assert_eq(fk_http_bind(&http, S_HOST, 0, 1024), 0);
    fk_http_limits_t limits = {.connections = 64, .workers = workers};
    cr_assert_eq(fk_http_serve(http, &limits, s_handler, seen), 0);
    return http;
}

/*  Open a connection and send GET path; returns the socket. */
static int
s_send(const fk_http_t *http, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(fk_http_port(http))};
    inet_pton(AF_INET, S_HOST, &addr.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char request[256];
    int len = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    cr_assert_eq(send(fd, request, (size_t)len, 0), len);
    return fd;
}

/*  Read one whole response (the server closes or the body is complete)
    into out; returns its length (0: nothing within 20 s). */
static size_t
s_read(int fd, char *out, size_t size)
{
    size_t got = 0;
    while (got + 1 < size) {
        ssize_t n = recv(fd, out + got, size - 1 - got, 0);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        out[got] = '\0';
        const char *end = strstr(out, "\r\n\r\n");
        const char *length = strstr(out, "Content-Length: ");
        if (end && length && got >= (size_t)(end + 4 - out) + strtoul(length + 16, NULL, 10)) {
            break;
        }
    }
    out[got] = '\0';
    return got;
}

/*  Poll until the listener holds want requests, for up to 10 s. */
static bool
s_held_becomes(fk_http_t *http, size_t want)
{
    int64_t deadline = fk_clock_mono_ms() + 10000;
    while (fk_clock_mono_ms() < deadline) {
        if (fk_http_held(http) == want) {
            return true;
        }
        usleep(5000);
    }
    return false;
}

Test(fk_http, a_held_request_is_answered_when_its_deadline_passes)
{
    s_seen_t seen = {0};
    fk_http_t *http = s_start(&seen, 2);
    int fd = s_send(http, "/hold/300/1");
    cr_assert(s_held_becomes(http, 1), "the request is held");
    char response[1024];
    cr_assert_gt(s_read(fd, response, sizeof response), 0);
    cr_assert(strstr(response, "200 OK") != NULL, "%s", response);
    cr_assert(strstr(response, "\r\n\r\ntimeout") != NULL, "%s", response);
    cr_assert_eq(fk_http_held(http), 0);
    cr_assert_eq(atomic_load(&seen.calls), 2, "the first call and the rerun at the deadline");
    close(fd);
    fk_http_destroy(&http);
    cr_assert_null(http);
}

Test(fk_http, a_wake_of_its_topic_ends_a_hold_and_no_other)
{
    s_seen_t seen = {0};
    fk_http_t *http = s_start(&seen, 2);
    int fd = s_send(http, "/hold/60000/1");
    cr_assert(s_held_becomes(http, 1));
    cr_assert_eq(fk_http_wake(http, 2), 0, "topic 2 holds nothing");
    cr_assert_eq(fk_http_held(http), 1, "still held");
    cr_assert_eq(fk_http_wake(http, 1 | 2), 1, "topic 1 wakes it");
    char response[1024];
    cr_assert_gt(s_read(fd, response, sizeof response), 0);
    cr_assert(strstr(response, "\r\n\r\nwoken") != NULL, "%s", response);
    close(fd);
    fk_http_destroy(&http);
}

Test(fk_http, held_requests_take_no_worker)
{
    /*  One worker: if a held request kept it, the plain request behind
        the held ones would never be answered. */
    s_seen_t seen = {0};
    fk_http_t *http = s_start(&seen, 1);
    int held[8];
    for (size_t i = 0; i < 8; i++) {
        held[i] = s_send(http, "/hold/60000/1");
    }
    cr_assert(s_held_becomes(http, 8));
    int fd = s_send(http, "/plain");
    char response[1024];
    cr_assert_gt(s_read(fd, response, sizeof response), 0);
    cr_assert(strstr(response, "\r\n\r\nplain") != NULL, "%s", response);
    close(fd);
    cr_assert_eq(fk_http_wake(http, 1), 8, "one wake reaches every held request");
    for (size_t i = 0; i < 8; i++) {
        cr_assert_gt(s_read(held[i], response, sizeof response), 0);
        cr_assert(strstr(response, "\r\n\r\nwoken") != NULL, "request %zu: %s", i, response);
        close(held[i]);
    }
    fk_http_destroy(&http);
}

Test(fk_http, destroy_runs_held_requests_once_more_and_frees_them)
{
    s_seen_t seen = {0};
    fk_http_t *http = s_start(&seen, 2);
    int fds[4];
    for (size_t i = 0; i < 4; i++) {
        fds[i] = s_send(http, i % 2 ? "/always/60000/1" : "/hold/60000/1");
    }
    cr_assert(s_held_becomes(http, 4));
    /*  At the stop each handler runs once more: /hold answers, /always
        holds again and gets the listener's 503. The answers are queued
        before the daemon stops, but it may close a connection before its
        answer is written, so a closed connection is accepted too. ASan
        checks that no request is leaked. */
    fk_http_destroy(&http);
    cr_assert_null(http);
    for (size_t i = 0; i < 4; i++) {
        char response[1024];
        s_read(fds[i], response, sizeof response);
        const char *want = i % 2 ? "503" : "woken";
        cr_assert(strstr(response, want) != NULL || response[0] == '\0',
                  "request %zu answered %s or closed: %s", i, want, response);
        close(fds[i]);
    }
    cr_assert_eq(atomic_load(&seen.calls), 8, "each ran once, and once more at the stop");
}

Test(fk_http, a_hold_whose_deadline_already_passed_runs_again_at_once)
{
    s_seen_t seen = {0};
    fk_http_t *http = s_start(&seen, 1);
    int fd = s_send(http, "/hold/0/1");
    char response[1024];
    cr_assert_gt(s_read(fd, response, sizeof response), 0);
    cr_assert(strstr(response, "\r\n\r\ntimeout") != NULL, "%s", response);
    close(fd);
    fk_http_destroy(&http);
}

Test(fk_http, requests_stuck_behind_blocked_workers_get_an_extra_one)
{
    /*  Two workers, both kept by handlers that block: a request behind
        them is answered anyway, by an extra worker the listener starts,
        while the blocked ones still wait. */
    s_seen_t seen = {0};
    fk_http_t *http = s_start(&seen, 2);
    int blocked[2] = {s_send(http, "/block"), s_send(http, "/block")};
    int64_t deadline = fk_clock_mono_ms() + 10000;
    while (atomic_load(&seen.blocked) < 2 && fk_clock_mono_ms() < deadline) {
        usleep(2000);
    }
    cr_assert_eq(atomic_load(&seen.blocked), 2, "both workers are blocked");
    int fd = s_send(http, "/plain");
    char response[1024];
    cr_assert_gt(s_read(fd, response, sizeof response), 0);
    cr_assert(strstr(response, "\r\n\r\nplain") != NULL, "%s", response);
    cr_assert_eq(atomic_load(&seen.blocked), 2, "answered while both still blocked");
    close(fd);
    atomic_store(&seen.release, true);
    for (size_t i = 0; i < 2; i++) {
        cr_assert_gt(s_read(blocked[i], response, sizeof response), 0);
        cr_assert(strstr(response, "\r\n\r\nreleased") != NULL, "%s", response);
        close(blocked[i]);
    }
    fk_http_destroy(&http);
    cr_assert_null(http);
}
