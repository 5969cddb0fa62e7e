/*  fk_http - libmicrohttpd listener with bounded bodies. */

#include "fk_http.h"

#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"

#include "fk_clock.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*  Certificates a chain file may hold: a leaf, intermediates, a root. */
#define S_MAX_CHAIN 8

/*  A certificate chain and its key, as GnuTLS hands them to a handshake.
    Sessions point into it for their whole life, so it is freed only with
    the listener. */
typedef struct s_identity {
    gnutls_pcert_st certs[S_MAX_CHAIN]; /* the chain, leaf first */
    unsigned count;                     /* certificates in it */
    gnutls_privkey_t key;               /* the leaf's private key */
    struct s_identity *older;           /* the identity loaded before this one */
} s_identity_t;

/*  Bits of a wake's topics: one sequence number per bit. */
#define S_TOPICS 32

/*  Handler threads kept when fk_http_limits_t.workers is 0. */
#define S_DEFAULT_WORKERS 16

/*  An extra worker (started when every worker was busy) leaves after
    this long with nothing to run. */
#define S_EXTRA_IDLE_MS 10000

/*  Workers are stuck, not just busy, when the oldest queued request has
    waited this long for one (handlers answer in milliseconds; one that
    forwards to a frozen owner waits up to 3 s): the overseer then starts
    an extra worker. */
#define S_GROW_AFTER_MS 200
#define S_GROW_EVERY_MS 20

/*  One worker thread's place. Slots below the core count run for the
    listener's life; the others are extra workers, started on demand. */
typedef struct {
    fk_http_t *http;  /* the listener */
    unsigned index;   /* this slot's place in workers */
    pthread_t thread; /* valid while started */
    bool started;     /* thread runs or ran, and was not joined yet */
    bool exited;      /* an extra worker left: join it before reuse */
} s_worker_t;

/*  A list of requests (the run queue, the held set), linked through the
    requests themselves. */
typedef struct {
    fk_http_req_t *head; /* first (oldest) */
    fk_http_req_t *tail; /* last */
} s_list_t;

struct fk_http {
    struct MHD_Daemon *daemon; /* libmicrohttpd's listener and its polling thread */
    fk_http_handler_fn fn;     /* the one request handler */
    void *arg;                 /* its argument */
    size_t max_body;           /* body limit in bytes */
    uint16_t port;             /* bound port */
    int fd;                    /* listening socket until libmicrohttpd owns it, else -1 */
    pthread_mutex_t tls_lock;  /* guards identity */
    s_identity_t *identity;    /* what new handshakes get (NULL: plain HTTP) */
    pthread_mutex_t lock;      /* guards everything below */
    pthread_cond_t work;       /* workers wait on it for the queue or a deadline */
    pthread_cond_t drained;    /* fk_http_destroy waits on it for in_flight to reach 0 */
    s_list_t queue;            /* requests waiting for a worker, oldest first */
    s_list_t held;             /* requests parked by fk_http_hold */
    size_t held_count;         /* requests in held */
    int64_t next_due;          /* no held deadline falls before this (0: none held);
                                  may be early after a wake, never late */
    size_t in_flight;          /* requests suspended in libmicrohttpd: queued, running or held
                                  (until their connection is resumed) */
    uint64_t wake_seq;         /* counts fk_http_wake calls */
    uint64_t topic_seq[S_TOPICS]; /* per topic bit, wake_seq of its last wake */
    bool stopping;             /* fk_http_destroy began: hold nothing, dispatch nothing */
    bool quit;                 /* workers leave */
    size_t queued;             /* requests in queue */
    unsigned idle;             /* workers waiting for work */
    unsigned core;             /* workers kept for the listener's life */
    unsigned max_workers;      /* the most at once: one per connection slot */
    s_worker_t *workers;       /* max_workers slots */
    bool grow_failed;          /* the last extra worker could not start (logged once) */
    pthread_cond_t queued_cond; /* the overseer waits on it for a queued request */
    pthread_t overseer;        /* starts extra workers when the queue is stuck */
    bool overseer_started;     /* overseer runs */
};

typedef struct s_header {
    char *name;            /* response header name */
    char *value;           /* and value */
    struct s_header *next; /* next header, in insertion order reversed */
} s_header_t;

/*  Where a request is. The polling thread owns it while READING and
    DONE; a worker while RUNNING; the lists (under the listener's lock)
    while QUEUED or HELD. */
typedef enum {
    S_READING = 0, /* headers and body arriving */
    S_QUEUED,      /* connection suspended, waiting for a worker */
    S_RUNNING,     /* a worker runs the handler */
    S_HELD,        /* parked by fk_http_hold, no thread */
    S_DONE         /* answered: the polling thread queues the response */
} s_state_t;

struct fk_http_req {
    fk_http_t *http;             /* the listener */
    struct MHD_Connection *conn; /* libmicrohttpd's connection */
    const char *method;          /* borrowed from libmicrohttpd */
    const char *path;            /* borrowed from libmicrohttpd */
    fk_buf_t body;               /* collected body */
    bool too_big;                /* the body went over the limit */
    bool answered;               /* fk_http_respond was called */
    unsigned status;             /* the status answered (0 until then) */
    struct MHD_Response *response; /* the answer, until the polling thread queues it */
    s_header_t *headers;         /* response headers to add */
    char peer[INET6_ADDRSTRLEN]; /* peer address text */
    const void *user;            /* the handler's per-request pointer (fk_http_set_user) */
    s_state_t state;             /* see s_state_t */
    bool hold;                   /* the handler asked to hold it (fk_http_hold) */
    int64_t held_until;          /* deadline of the last hold, monotonic ms (0: never held) */
    unsigned topics;             /* wakes that end the hold */
    uint64_t run_seq;            /* wake_seq when the handler's run began */
    int64_t queued_ms;           /* when it last entered the run queue (monotonic ms) */
    fk_http_req_t *prev;         /* neighbours in the queue or the held list */
    fk_http_req_t *next;
};

const char *
fk_http_method(const fk_http_req_t *req)
{
    return req->method;
}

const char *
fk_http_path(const fk_http_req_t *req)
{
    return req->path;
}

const char *
fk_http_header(const fk_http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
fk_http_cookie(const fk_http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

const char *
fk_http_query(const fk_http_req_t *req, const char *name)
{
    const char *value = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
    if (value) {
        return value;
    }
    /*  "?consistent" with no '=' is present but has a NULL value; tell it
        apart from an absent argument. */
    return MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), NULL,
                                         NULL)
                   == MHD_YES
               ? ""
               : NULL;
}

const char *
fk_http_body(const fk_http_req_t *req, size_t *len_p)
{
    *len_p = req->body.len;
    return req->body.data ? req->body.data : "";
}

bool
fk_http_body_too_big(const fk_http_req_t *req)
{
    return req->too_big;
}

size_t
fk_http_max_body(const fk_http_req_t *req)
{
    return req->http->max_body;
}

const char *
fk_http_peer(const fk_http_req_t *req)
{
    return req->peer;
}

void
fk_http_set_user(fk_http_req_t *req, const void *user)
{
    req->user = user;
}

const void *
fk_http_user(const fk_http_req_t *req)
{
    return req->user;
}

void
fk_http_add_header(fk_http_req_t *req, const char *name, const char *value)
{
    s_header_t *header = fk_malloc(sizeof *header);
    header->name = fk_strdup(name);
    header->value = fk_strdup(value);
    header->next = req->headers;
    req->headers = header;
}

void
fk_http_respond(fk_http_req_t *req, unsigned status, const char *content_type, const char *body,
                size_t len)
{
    if (req->answered) {
        fk_error("http: second response to %s %s ignored", req->method, req->path);
        return;
    }
    struct MHD_Response *response =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (!response) {
        fk_error("http: cannot create a response");
        return;
    }
    if (content_type) {
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    }
    for (s_header_t *header = req->headers; header; header = header->next) {
        MHD_add_response_header(response, header->name, header->value);
    }
    /*  Built here, on the handler's thread; queued by the polling thread
        once the connection is resumed (s_access), since libmicrohttpd
        wants responses queued from its own thread. */
    req->response = response;
    req->answered = true;
    req->status = status;
}

unsigned
fk_http_status(const fk_http_req_t *req)
{
    return req->status;
}

void
fk_http_respond_json(fk_http_req_t *req, unsigned status, json_t *body)
{
    char *text = fk_json_dump(body);
    json_decref(body);
    fk_http_respond(req, status, "application/json", text, strlen(text));
    free(text);
}

static void
s_peer_text(fk_http_req_t *req)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(req->peer, sizeof req->peer, "unknown");
    if (!info || !info->client_addr) {
        return;
    }
    const struct sockaddr *addr = info->client_addr;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)addr;
        inet_ntop(AF_INET, &in->sin_addr, req->peer, sizeof req->peer);
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, req->peer, sizeof req->peer);
    }
}

/*  Append upload data, or count it once over the limit: a body that is too
    big is never held in memory, whatever the client claims. */
static void
s_collect(fk_http_req_t *req, const char *data, size_t size)
{
    if (req->too_big) {
        return;
    }
    if (size > req->http->max_body - req->body.len) {
        req->too_big = true;
        free(req->body.data);
        req->body = (fk_buf_t){0};
        return;
    }
    fk_buf_add(&req->body, data, size);
}

/*  ---------------------------------------------------------------------
    Requests between the polling thread and the workers.

    libmicrohttpd's one polling thread (epoll) reads every connection.
    When a request's body is complete it suspends the connection and
    queues the request; a worker runs the handler and resumes the
    connection; the polling thread, called again for the request, queues
    the response the handler built. A request the handler holds sits in
    the held list with no thread until fk_http_wake or its deadline moves
    it back to the queue. A suspended connection is not polled and not
    timed out by libmicrohttpd, and it still counts against the connection
    limits: a held request costs a connection slot and its memory, no
    thread.
    --------------------------------------------------------------------- */

static void
s_list_push(s_list_t *list, fk_http_req_t *req)
{
    req->next = NULL;
    req->prev = list->tail;
    if (list->tail) {
        list->tail->next = req;
    } else {
        list->head = req;
    }
    list->tail = req;
}

static void
s_list_remove(s_list_t *list, fk_http_req_t *req)
{
    if (req->prev) {
        req->prev->next = req->next;
    } else {
        list->head = req->next;
    }
    if (req->next) {
        req->next->prev = req->prev;
    } else {
        list->tail = req->prev;
    }
    req->prev = req->next = NULL;
}

/*  Move a held request to the run queue. Under the lock. */
static void
s_unhold(fk_http_t *self, fk_http_req_t *req)
{
    s_list_remove(&self->held, req);
    self->held_count--;
    req->state = S_QUEUED;
    s_list_push(&self->queue, req);
    self->queued++;
    req->queued_ms = fk_clock_mono_ms();
    pthread_cond_signal(&self->queued_cond);
}

/*  Whether a wake of one of req's topics came after its run began: then
    what the handler read may be older than the change, and holding it
    would sleep through that change. Under the lock. */
static bool
s_woken_since(const fk_http_t *self, const fk_http_req_t *req)
{
    for (unsigned bit = 0; bit < S_TOPICS; bit++) {
        if ((req->topics & (1u << bit)) && self->topic_seq[bit] > req->run_seq) {
            return true;
        }
    }
    return false;
}

/*  Hand a suspended connection back to the polling thread. The request
    may be freed as soon as libmicrohttpd resumes it, so it is not touched
    after; in_flight drops only then, so fk_http_destroy never stops the
    daemon while a connection is still suspended. */
static void
s_resume(fk_http_t *self, fk_http_req_t *req)
{
    struct MHD_Connection *conn = req->conn;
    pthread_mutex_lock(&self->lock);
    req->state = S_DONE;
    pthread_mutex_unlock(&self->lock);
    MHD_resume_connection(conn);
    pthread_mutex_lock(&self->lock);
    self->in_flight--;
    if (self->in_flight == 0) {
        pthread_cond_broadcast(&self->drained);
    }
    pthread_mutex_unlock(&self->lock);
}

/*  Run the handler for one request on a worker and settle the outcome:
    an answer, or a hold. */
static void
s_run(fk_http_t *self, fk_http_req_t *req)
{
    req->hold = false;
    self->fn(self->arg, req);
    if (req->hold && !req->answered) {
        pthread_mutex_lock(&self->lock);
        if (!self->stopping) {
            if (s_woken_since(self, req) || req->held_until <= fk_clock_mono_ms()) {
                req->state = S_QUEUED;
                s_list_push(&self->queue, req);
                self->queued++;
                req->queued_ms = fk_clock_mono_ms();
                pthread_cond_signal(&self->work);
                pthread_cond_signal(&self->queued_cond);
            } else {
                req->state = S_HELD;
                s_list_push(&self->held, req);
                self->held_count++;
                if (self->next_due == 0 || req->held_until < self->next_due) {
                    self->next_due = req->held_until;
                }
                /*  A worker waiting for an earlier deadline keeps it; one
                    waiting for none must learn of this one. */
                pthread_cond_signal(&self->work);
            }
            pthread_mutex_unlock(&self->lock);
            return;
        }
        pthread_mutex_unlock(&self->lock);
        fk_http_respond(req, 503, "application/json",
                        "{\"error\":\"unavailable\",\"message\":\"the node is stopping\"}", 55);
    }
    if (!req->answered) {
        fk_error("http: handler gave no answer to %s %s", req->method, req->path);
        fk_http_respond(req, 500, "application/json", "{\"error\":\"internal\"}", 20);
    }
    s_resume(self, req);
}

/*  Move every held request whose deadline passed to the queue, and
    recompute next_due. Under the lock. The held list is scanned whole: a
    scan costs microseconds per thousand held, and happens when a deadline
    falls due (next_due), not per request served. */
static void
s_expire(fk_http_t *self, int64_t now)
{
    int64_t next = 0;
    fk_http_req_t *req = self->held.head;
    while (req) {
        fk_http_req_t *after = req->next;
        if (req->held_until <= now || self->stopping) {
            s_unhold(self, req);
        } else if (next == 0 || req->held_until < next) {
            next = req->held_until;
        }
        req = after;
    }
    self->next_due = next;
}

static void *
s_worker(void *arg)
{
    s_worker_t *slot = arg;
    fk_http_t *self = slot->http;
    bool extra = slot->index >= self->core;
    int64_t idle_since = fk_clock_mono_ms();
    pthread_mutex_lock(&self->lock);
    while (!self->quit) {
        int64_t now = fk_clock_mono_ms();
        if (self->next_due != 0 && now >= self->next_due) {
            s_expire(self, now);
        }
        fk_http_req_t *req = self->queue.head;
        if (req) {
            s_list_remove(&self->queue, req);
            self->queued--;
            req->state = S_RUNNING;
            req->run_seq = self->wake_seq;
            pthread_mutex_unlock(&self->lock);
            s_run(self, req);
            pthread_mutex_lock(&self->lock);
            idle_since = fk_clock_mono_ms();
            continue;
        }
        if (extra && now - idle_since >= S_EXTRA_IDLE_MS) {
            break;
        }
        int64_t next = self->next_due;
        if (extra && (next == 0 || next > idle_since + S_EXTRA_IDLE_MS)) {
            next = idle_since + S_EXTRA_IDLE_MS;
        }
        self->idle++;
        if (next == 0) {
            pthread_cond_wait(&self->work, &self->lock);
        } else {
            struct timespec until = {.tv_sec = (time_t)(next / 1000),
                                     .tv_nsec = (long)(next % 1000) * 1000000L};
            pthread_cond_timedwait(&self->work, &self->lock, &until);
        }
        self->idle--;
    }
    slot->exited = true;
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

/*  Start the worker of slot index. Under the lock (or before serving).
    Returns 0 or the pthread_create error. */
static int
s_start_worker(fk_http_t *self, unsigned index)
{
    s_worker_t *slot = &self->workers[index];
    if (slot->started) {
        pthread_join(slot->thread, NULL); /* an extra worker that left */
        slot->started = false;
    }
    slot->http = self;
    slot->index = index;
    slot->exited = false;
    int rc = pthread_create(&slot->thread, NULL, s_worker, slot);
    slot->started = rc == 0;
    return rc;
}

/*  Start an extra worker in a free slot, if any. Under the lock. */
static void
s_add_worker(fk_http_t *self)
{
    for (unsigned i = self->core; i < self->max_workers; i++) {
        s_worker_t *slot = &self->workers[i];
        if (!slot->started || slot->exited) {
            int rc = s_start_worker(self, i);
            if (rc != 0 && !self->grow_failed) {
                fk_warn("http: cannot start another worker thread (%s): requests wait for a "
                        "busy one",
                        strerror(rc));
            }
            self->grow_failed = rc != 0;
            return;
        }
    }
}

/*  The overseer: when the oldest queued request has waited
    S_GROW_AFTER_MS for a worker, every worker is stuck in a handler that
    blocks (a forwarded request waits up to 3 s for a record's owner), so
    it starts an extra worker, and another every S_GROW_EVERY_MS while the
    head of the queue has waited that long: no request waits long behind blocked ones,
    as none did with a thread per connection. A burst of quick requests
    drains sooner and starts none. Extra workers leave after
    S_EXTRA_IDLE_MS idle; held requests are not queued, so they still
    cost no thread. */
static void *
s_overseer(void *arg)
{
    fk_http_t *self = arg;
    pthread_mutex_lock(&self->lock);
    while (!self->quit) {
        fk_http_req_t *head = self->queue.head;
        if (!head || self->stopping) {
            pthread_cond_wait(&self->queued_cond, &self->lock);
            continue;
        }
        int64_t now = fk_clock_mono_ms();
        int64_t due = head->queued_ms + S_GROW_AFTER_MS;
        if (now >= due) {
            s_add_worker(self);
            /*  The new worker takes the head; look again shortly, in
                case the requests behind it waited as long. */
            due = now + S_GROW_EVERY_MS;
        }
        struct timespec until = {.tv_sec = (time_t)(due / 1000),
                                 .tv_nsec = (long)(due % 1000) * 1000000L};
        pthread_cond_timedwait(&self->queued_cond, &self->lock, &until);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

void
fk_http_hold(fk_http_req_t *req, int64_t deadline_ms, unsigned topics)
{
    assert(!req->answered);
    req->hold = true;
    req->held_until = deadline_ms;
    req->topics = topics;
}

int64_t
fk_http_held_until(const fk_http_req_t *req)
{
    return req->held_until;
}

size_t
fk_http_wake(fk_http_t *self, unsigned topics)
{
    size_t woken = 0;
    pthread_mutex_lock(&self->lock);
    self->wake_seq++;
    for (unsigned bit = 0; bit < S_TOPICS; bit++) {
        if (topics & (1u << bit)) {
            self->topic_seq[bit] = self->wake_seq;
        }
    }
    fk_http_req_t *req = self->held.head;
    while (req) {
        fk_http_req_t *after = req->next;
        if (req->topics & topics) {
            s_unhold(self, req);
            woken++;
        }
        req = after;
    }
    if (woken) {
        pthread_cond_broadcast(&self->work);
    }
    pthread_mutex_unlock(&self->lock);
    return woken;
}

size_t
fk_http_held(fk_http_t *self)
{
    pthread_mutex_lock(&self->lock);
    size_t count = self->held_count;
    pthread_mutex_unlock(&self->lock);
    return count;
}

/*  The request is complete (or refused by its declared length): suspend
    its connection and queue it for a worker. Once fk_http_destroy began,
    the polling thread answers 503 itself, so no connection is suspended
    after the last in-flight one was resumed. */
static enum MHD_Result
s_dispatch(fk_http_t *self, fk_http_req_t *req)
{
    pthread_mutex_lock(&self->lock);
    bool stopping = self->stopping;
    if (!stopping) {
        self->in_flight++;
    }
    pthread_mutex_unlock(&self->lock);
    if (stopping) {
        fk_http_respond(req, 503, "application/json",
                        "{\"error\":\"unavailable\",\"message\":\"the node is stopping\"}", 55);
        req->state = S_DONE;
        enum MHD_Result rc = MHD_queue_response(req->conn, req->status, req->response);
        MHD_destroy_response(req->response);
        req->response = NULL;
        return rc;
    }
    MHD_suspend_connection(req->conn);
    pthread_mutex_lock(&self->lock);
    req->state = S_QUEUED;
    s_list_push(&self->queue, req);
    self->queued++;
    req->queued_ms = fk_clock_mono_ms();
    pthread_cond_signal(&self->work);
    pthread_cond_signal(&self->queued_cond);
    pthread_mutex_unlock(&self->lock);
    return MHD_YES;
}

/*  libmicrohttpd calls this on the polling thread: with the headers,
    with each piece of the body, once the body is complete, and again
    after each resume. */
static enum MHD_Result
s_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void)version;
    fk_http_t *self = cls;
    fk_http_req_t *req = *con_cls;
    if (!req) {
        req = fk_calloc(1, sizeof *req);
        req->http = self;
        req->conn = conn;
        req->method = method;
        req->path = url;
        s_peer_text(req);
        *con_cls = req;
        /*  A declared length over the limit is refused before any of the
            body is read (and before "100 Continue" is sent). */
        const char *length =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > self->max_body) {
            req->too_big = true;
            return s_dispatch(self, req);
        }
        return MHD_YES;
    }
    if (req->state == S_DONE) {
        /*  Resumed with the handler's answer. A body still arriving after
            an early answer (413 on the declared length) is dropped. */
        if (*upload_data_size > 0) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        if (!req->response) {
            return MHD_NO;
        }
        enum MHD_Result rc = MHD_queue_response(conn, req->status, req->response);
        MHD_destroy_response(req->response);
        req->response = NULL;
        if (rc != MHD_YES) {
            fk_error("http: cannot queue a response to %s %s", req->method, req->path);
        }
        return rc;
    }
    if (*upload_data_size > 0) {
        s_collect(req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return s_dispatch(self, req);
}

static void
s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    fk_http_req_t *req = *con_cls;
    if (!req) {
        return;
    }
    while (req->headers) {
        s_header_t *next = req->headers->next;
        free(req->headers->name);
        free(req->headers->value);
        free(req->headers);
        req->headers = next;
    }
    if (req->response) {
        MHD_destroy_response(req->response);
    }
    free(req->body.data);
    free(req);
    *con_cls = NULL;
}

static void s_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t len = strlen(line);
    while (len > 0 && line[len - 1] == '\n') {
        line[--len] = '\0';
    }
    fk_debug("http: %s", line);
}

/*  GnuTLS asks which certificate to present, once per handshake. The
    session's pointer is its libmicrohttpd connection, whose socket context
    is the listener (s_connection_started), so each listener hands out its
    own identity. Returning an error fails the handshake. */
static int
s_pick_identity(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                gnutls_pcert_st **certs_p, unsigned int *count_p, gnutls_privkey_t *key_p)
{
    (void)req_ca_dn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    struct MHD_Connection *conn = gnutls_session_get_ptr(session);
    const union MHD_ConnectionInfo *info =
        conn ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
    fk_http_t *self = info ? info->socket_context : NULL;
    if (!self) {
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    pthread_mutex_lock(&self->tls_lock);
    s_identity_t *identity = self->identity;
    pthread_mutex_unlock(&self->tls_lock);
    if (!identity) {
        return GNUTLS_E_CERTIFICATE_ERROR;
    }
    *certs_p = identity->certs;
    *count_p = identity->count;
    *key_p = identity->key;
    return 0;
}

static void
s_connection_started(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    (void)conn;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = cls;
    }
}

static void
s_identity_free(s_identity_t *identity)
{
    for (unsigned i = 0; i < identity->count; i++) {
        gnutls_pcert_deinit(&identity->certs[i]);
    }
    if (identity->key) {
        gnutls_privkey_deinit(identity->key);
    }
    free(identity);
}

/*  Does the private key belong to the chain's leaf? Compares the key ids
    (hashes of the public key) of both. */
static bool
s_key_matches(gnutls_privkey_t key, gnutls_pubkey_t leaf)
{
    gnutls_pubkey_t pub = NULL;
    unsigned char ours[64], theirs[64];
    size_t ours_len = sizeof ours, theirs_len = sizeof theirs;
    bool match = gnutls_pubkey_init(&pub) == 0 && gnutls_pubkey_import_privkey(pub, key, 0, 0) == 0
                 && gnutls_pubkey_get_key_id(pub, 0, ours, &ours_len) == 0
                 && gnutls_pubkey_get_key_id(leaf, 0, theirs, &theirs_len) == 0
                 && ours_len == theirs_len && memcmp(ours, theirs, ours_len) == 0;
    if (pub) {
        gnutls_pubkey_deinit(pub);
    }
    return match;
}

/*  What an operator wants to know of a loaded chain: the leaf's subject
    and expiry, and whether the chain ends in a self-signed CA. */
static void
s_describe(const s_identity_t *identity, fk_http_tls_info_t *info)
{
    memset(info, 0, sizeof *info);
    gnutls_x509_crt_t leaf = NULL, last = NULL;
    if (gnutls_x509_crt_init(&leaf) == 0
        && gnutls_x509_crt_import(leaf, &identity->certs[0].cert, GNUTLS_X509_FMT_DER) == 0) {
        size_t size = sizeof info->subject;
        if (gnutls_x509_crt_get_dn(leaf, info->subject, &size) != 0) {
            info->subject[0] = '\0';
        }
        info->not_after = (int64_t)gnutls_x509_crt_get_expiration_time(leaf);
    }
    const gnutls_datum_t *root = &identity->certs[identity->count - 1].cert;
    if (gnutls_x509_crt_init(&last) == 0
        && gnutls_x509_crt_import(last, root, GNUTLS_X509_FMT_DER) == 0) {
        info->self_rooted = gnutls_x509_crt_check_issuer(last, last) == 1
                            && gnutls_x509_crt_get_ca_status(last, NULL) > 0;
    }
    if (leaf) {
        gnutls_x509_crt_deinit(leaf);
    }
    if (last) {
        gnutls_x509_crt_deinit(last);
    }
}

/*  Read a chain and its key into a new identity, or say in err why not. */
static int
s_identity_load(s_identity_t **identity_p, const char *cert_file, const char *key_file, char *err,
                size_t errlen)
{
    *identity_p = NULL;
    s_identity_t *identity = fk_calloc(1, sizeof *identity);
    identity->count = S_MAX_CHAIN;
    int rc = gnutls_pcert_list_import_x509_file(identity->certs, &identity->count, cert_file,
                                                GNUTLS_X509_FMT_PEM, NULL, NULL,
                                                GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
    if (rc < 0 || identity->count == 0) {
        identity->count = rc < 0 ? 0 : identity->count;
        snprintf(err, errlen, "%s: not a PEM certificate chain, leaf first, of at most %d: %s",
                 cert_file, S_MAX_CHAIN, rc < 0 ? gnutls_strerror(rc) : "no certificate");
        s_identity_free(identity);
        return FK_ECONFIG;
    }
    gnutls_datum_t pem = {NULL, 0};
    if ((rc = gnutls_load_file(key_file, &pem)) < 0) {
        snprintf(err, errlen, "%s: cannot read: %s", key_file, gnutls_strerror(rc));
        s_identity_free(identity);
        return FK_ECONFIG;
    }
    rc = gnutls_privkey_init(&identity->key);
    if (rc == 0) {
        rc = gnutls_privkey_import_x509_raw(identity->key, &pem, GNUTLS_X509_FMT_PEM, NULL, 0);
    }
    explicit_bzero(pem.data, pem.size);
    gnutls_free(pem.data);
    if (rc < 0) {
        snprintf(err, errlen, "%s: not an unencrypted PEM private key: %s", key_file,
                 gnutls_strerror(rc));
        s_identity_free(identity);
        return FK_ECONFIG;
    }
    if (!s_key_matches(identity->key, identity->certs[0].pubkey)) {
        snprintf(err, errlen, "%s is not the key of the first certificate in %s", key_file,
                 cert_file);
        s_identity_free(identity);
        return FK_ECONFIG;
    }
    *identity_p = identity;
    return 0;
}

int
fk_http_tls(fk_http_t *self, const char *cert_file, const char *key_file,
            fk_http_tls_info_t *info, char *err, size_t errlen)
{
    pthread_mutex_lock(&self->tls_lock);
    bool plain_and_serving = self->daemon && !self->identity;
    pthread_mutex_unlock(&self->tls_lock);
    if (plain_and_serving) {
        snprintf(err, errlen, "the listener started without TLS; restart it with a certificate");
        return FK_ECONFIG;
    }
    s_identity_t *identity;
    int rc = s_identity_load(&identity, cert_file, key_file, err, errlen);
    if (rc != 0) {
        return rc;
    }
    if (info) {
        s_describe(identity, info);
    }
    pthread_mutex_lock(&self->tls_lock);
    identity->older = self->identity;
    self->identity = identity;
    pthread_mutex_unlock(&self->tls_lock);
    return 0;
}

int
fk_http_bind(fk_http_t **self_p, const char *host, uint16_t port, size_t max_body)
{
    *self_p = NULL;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        return FK_ECONFIG;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    socklen_t len = sizeof addr;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 1024) != 0
        || getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    fk_http_t *self = fk_calloc(1, sizeof *self);
    pthread_mutex_init(&self->tls_lock, NULL);
    pthread_mutex_init(&self->lock, NULL);
    /*  Hold deadlines are monotonic (fk_clock_mono_ms): a wall clock step
        must not end or stretch a wait. */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&self->work, &attr);
    pthread_cond_init(&self->queued_cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&self->drained, NULL);
    self->fd = fd;
    self->max_body = max_body;
    self->port = ntohs(addr.sin_port);
    *self_p = self;
    return 0;
}

int
fk_http_serve(fk_http_t *self, const fk_http_limits_t *limits, fk_http_handler_fn fn, void *arg)
{
    self->fn = fn;
    self->arg = arg;
    /*  One polling thread (epoll) reads every connection and a pool of
        workers runs the handlers: an idle keep-alive connection or a
        held request costs no thread, and a handler that waits (a record's
        owner, up to 3 s) holds up one worker, not the reading of other
        connections (and the overseer adds workers when all are stuck). One polling thread rather than libmicrohttpd's pool:
        its pool splits the connection limit evenly between its threads, so
        the limit would no longer be exact. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME
                     | MHD_USE_ERROR_LOG;
    pthread_mutex_lock(&self->tls_lock);
    bool tls = self->identity != NULL;
    pthread_mutex_unlock(&self->tls_lock);
    if (tls) {
        flags |= MHD_USE_TLS;
    }
    unsigned connections = limits->connections ? limits->connections : 512;
    self->core = limits->workers ? limits->workers : S_DEFAULT_WORKERS;
    self->max_workers = connections > self->core ? connections : self->core;
    self->workers = fk_calloc(self->max_workers, sizeof *self->workers);
    for (unsigned i = 0; i < self->core; i++) {
        int rc = s_start_worker(self, i);
        if (rc != 0) {
            return -rc;
        }
    }
    int rc = pthread_create(&self->overseer, NULL, s_overseer, self);
    if (rc != 0) {
        return -rc;
    }
    self->overseer_started = true;
    /*  The listening socket is ours (bound in fk_http_bind); libmicrohttpd
        takes it over and closes it when it stops. The certificate option
        comes last: without TLS its place holds MHD_OPTION_END, and
        libmicrohttpd reads no further. */
    self->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, s_access, self, MHD_OPTION_LISTEN_SOCKET, self->fd,
        MHD_OPTION_CONNECTION_LIMIT, connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, limits->per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)(limits->idle_timeout_s ? limits->idle_timeout_s : 30),
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION,
        s_connection_started, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL,
        tls ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_END, s_pick_identity, MHD_OPTION_END);
    if (!self->daemon) {
        return errno ? -errno : -EINVAL;
    }
    self->fd = -1;
    return 0;
}

uint16_t
fk_http_port(const fk_http_t *self)
{
    return self->port;
}

void
fk_http_destroy(fk_http_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_http_t *self = *self_p;
    if (self->daemon) {
        /*  Stop taking connections, answer the held requests (their
            handlers run once more and find the listener stopping), let
            the workers finish what is in flight, and only then stop the
            daemon: libmicrohttpd refuses to stop with a connection still
            suspended. */
        MHD_socket listen = MHD_quiesce_daemon(self->daemon);
        pthread_mutex_lock(&self->lock);
        self->stopping = true;
        s_expire(self, fk_clock_mono_ms());
        pthread_cond_broadcast(&self->work);
        while (self->in_flight > 0) {
            pthread_cond_wait(&self->drained, &self->lock);
        }
        pthread_mutex_unlock(&self->lock);
        MHD_stop_daemon(self->daemon);
        if (listen != MHD_INVALID_SOCKET) {
            close(listen);
        }
    }
    pthread_mutex_lock(&self->lock);
    self->quit = true;
    pthread_cond_broadcast(&self->work);
    pthread_cond_broadcast(&self->queued_cond);
    pthread_mutex_unlock(&self->lock);
    if (self->overseer_started) {
        pthread_join(self->overseer, NULL);
    }
    for (unsigned i = 0; self->workers && i < self->max_workers; i++) {
        if (self->workers[i].started) {
            pthread_join(self->workers[i].thread, NULL);
        }
    }
    free(self->workers);
    if (self->fd >= 0) {
        close(self->fd);
    }
    while (self->identity) {
        s_identity_t *older = self->identity->older;
        s_identity_free(self->identity);
        self->identity = older;
    }
    pthread_cond_destroy(&self->work);
    pthread_cond_destroy(&self->queued_cond);
    pthread_cond_destroy(&self->drained);
    pthread_mutex_destroy(&self->lock);
    pthread_mutex_destroy(&self->tls_lock);
    free(self);
    *self_p = NULL;
}
