/*  fk_http - libmicrohttpd listener with bounded bodies. */

#include "fk_http.h"

#include "fk_err.h"
#include "fk_json.h"
#include "fk_log.h"
#include "fk_mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct fk_http {
    struct MHD_Daemon *daemon; /* libmicrohttpd's listener and threads */
    fk_http_handler_fn fn;     /* the one request handler */
    void *arg;                 /* its argument */
    size_t max_body;           /* body limit in bytes */
    uint16_t port;             /* bound port */
    int fd;                    /* listening socket until libmicrohttpd owns it, else -1 */
};

typedef struct s_header {
    char *name;            /* response header name */
    char *value;           /* and value */
    struct s_header *next; /* next header, in insertion order reversed */
} s_header_t;

struct fk_http_req {
    fk_http_t *http;             /* the listener */
    struct MHD_Connection *conn; /* libmicrohttpd's connection */
    const char *method;          /* borrowed from libmicrohttpd */
    const char *path;            /* borrowed from libmicrohttpd */
    fk_buf_t body;               /* collected body */
    bool too_big;                /* the body went over the limit */
    bool answered;               /* a response was queued */
    s_header_t *headers;         /* response headers to add */
    char peer[INET6_ADDRSTRLEN]; /* peer address text */
    const void *user;            /* the handler's per-request pointer (fk_http_set_user) */
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
    if (MHD_queue_response(req->conn, status, response) != MHD_YES) {
        fk_error("http: cannot queue a response to %s %s", req->method, req->path);
    }
    MHD_destroy_response(response);
    req->answered = true;
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
            self->fn(self->arg, req);
            return req->answered ? MHD_YES : MHD_NO;
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!req->answered) {
            s_collect(req, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->answered) {
        return MHD_YES;
    }
    self->fn(self->arg, req);
    if (!req->answered) {
        fk_error("http: handler gave no answer to %s %s", method, url);
        fk_http_respond(req, 500, "application/json", "{\"error\":\"internal\"}", 20);
    }
    return MHD_YES;
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
    self->fd = fd;
    self->max_body = max_body;
    self->port = ntohs(addr.sin_port);
    *self_p = self;
    return 0;
}

int
fk_http_serve(fk_http_t *self, unsigned connections, unsigned per_ip, fk_http_handler_fn fn,
              void *arg)
{
    self->fn = fn;
    self->arg = arg;
    /*  A thread per connection, not a pool: a pool thread serves many
        connections in turn, so one handler waiting on a slow record owner
        (up to 3 s) would hold up every connection that shares its thread.
        The polling thread only accepts; the connection limit bounds the
        threads. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL
                     | MHD_USE_ERROR_LOG;
    /*  The listening socket is ours (bound in fk_http_bind); libmicrohttpd
        takes it over and closes it when it stops. */
    self->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, s_access, self, MHD_OPTION_LISTEN_SOCKET, self->fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)(connections ? connections : 512),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log,
        NULL, MHD_OPTION_END);
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
    if ((*self_p)->daemon) {
        MHD_stop_daemon((*self_p)->daemon);
    }
    if ((*self_p)->fd >= 0) {
        close((*self_p)->fd);
    }
    free(*self_p);
    *self_p = NULL;
}
