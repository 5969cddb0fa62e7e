/*  stress_http - many clients against one listener (fk_http), for
    ThreadSanitizer (`make tsan`) and as a short smoke run in `make test`.

    A plain main(), not Criterion: Criterion cannot run under TSan
    (style.md §2.4). The listener runs two workers, so its overseer has to
    start extra ones. Client threads send, each on its own connection,
    plain requests, requests their handler holds (woken by a thread that
    calls fk_http_wake in a loop, or ended by their deadline) and requests
    whose handler blocks for 250 ms, while the main thread reads
    fk_http_held; then the listener is destroyed. Every request must be
    answered 200 with the body its handler chose. Loopback 127.0.0.107.

    usage: stress_http [ROUNDS]   (default 20 requests per client thread) */

#include "fk_clock.h"
#include "fk_http.h"
#include "fk_log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define S_HOST "127.0.0.107"
#define S_CLIENTS 6

static fk_http_t *s_http;
static atomic_bool s_clients_done;
static atomic_int s_answered;

static void
s_fail(const char *what, const char *detail)
{
    fprintf(stderr, "stress_http: %s: %s\n", what, detail);
    abort();
}

/*  /plain answers at once; /hold holds for 100 ms on topic 1 and answers
    "held" on its rerun; /slow keeps its worker 250 ms. */
static void
s_handler(void *arg, fk_http_req_t *req)
{
    (void)arg;
    const char *path = fk_http_path(req);
    if (strcmp(path, "/hold") == 0) {
        if (fk_http_held_until(req) == 0) {
            fk_http_hold(req, fk_clock_mono_ms() + 100, 1);
            return;
        }
        fk_http_respond(req, 200, "text/plain", "held", 4);
        return;
    }
    if (strcmp(path, "/slow") == 0) {
        usleep(250 * 1000);
        fk_http_respond(req, 200, "text/plain", "slow", 4);
        return;
    }
    fk_http_respond(req, 200, "text/plain", "plain", 5);
}

/*  One request on a fresh connection; the whole answer in out. */
static void
s_exchange(const char *path, char *out, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(fk_http_port(s_http))};
    inet_pton(AF_INET, S_HOST, &addr.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        s_fail("connect", path);
    }
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char request[128];
    int len = snprintf(request, sizeof request,
                       "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    if (send(fd, request, (size_t)len, 0) != len) {
        s_fail("send", path);
    }
    size_t got = 0;
    ssize_t n;
    while (got + 1 < size && (n = recv(fd, out + got, size - 1 - got, 0)) > 0) {
        got += (size_t)n;
    }
    out[got] = '\0';
    close(fd);
}

/*  One client thread's share. */
typedef struct {
    int index;  /* which thread: where in the mix of paths it starts */
    int rounds; /* requests it sends */
} s_client_t;

static void *
s_client(void *arg)
{
    const s_client_t *client = arg;
    int index = client->index;
    int rounds = client->rounds;
    static const char *const paths[] = {"/plain", "/hold", "/slow"};
    static const char *const bodies[] = {"\r\n\r\nplain", "\r\n\r\nheld", "\r\n\r\nslow"};
    char response[2048];
    for (int r = 0; r < rounds; r++) {
        int kind = (index + r) % 3;
        s_exchange(paths[kind], response, sizeof response);
        if (strncmp(response, "HTTP/1.1 200", 12) != 0 || !strstr(response, bodies[kind])) {
            s_fail(paths[kind], response);
        }
        atomic_fetch_add(&s_answered, 1);
    }
    return NULL;
}

static void *
s_waker(void *arg)
{
    (void)arg;
    while (!atomic_load(&s_clients_done)) {
        fk_http_wake(s_http, 1);
        usleep(1000);
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    if (rounds < 1) {
        fprintf(stderr, "usage: stress_http [ROUNDS]\n");
        return 64;
    }
    fk_log_set_level(FK_LOG_ERROR);
    if (fk_http_bind(&s_http, S_HOST, 0, 1024) != 0) {
        s_fail("bind", S_HOST);
    }
    fk_http_limits_t limits = {.connections = 64, .workers = 2};
    if (fk_http_serve(s_http, &limits, s_handler, NULL) != 0) {
        s_fail("serve", S_HOST);
    }
    pthread_t waker;
    pthread_create(&waker, NULL, s_waker, NULL);
    pthread_t clients[S_CLIENTS];
    s_client_t args[S_CLIENTS];
    for (int i = 0; i < S_CLIENTS; i++) {
        args[i] = (s_client_t){.index = i, .rounds = rounds};
        pthread_create(&clients[i], NULL, s_client, &args[i]);
    }
    size_t most_held = 0;
    int64_t deadline = fk_clock_mono_ms() + 300000;
    while (atomic_load(&s_answered) < S_CLIENTS * rounds && fk_clock_mono_ms() < deadline) {
        size_t held = fk_http_held(s_http);
        most_held = held > most_held ? held : most_held;
        usleep(1000);
    }
    for (int i = 0; i < S_CLIENTS; i++) {
        pthread_join(clients[i], NULL);
    }
    atomic_store(&s_clients_done, true);
    pthread_join(waker, NULL);
    fk_http_destroy(&s_http);
    printf("stress_http: %d requests answered by %d threads (at most %zu held at once)\n",
           atomic_load(&s_answered), S_CLIENTS, most_held);
    return atomic_load(&s_answered) == S_CLIENTS * rounds ? 0 : 1;
}
