/*  fk_transport - CurveZMQ sockets, the ZAP handler and the UDP hello
    socket of the cluster plane. See fk_transport.h. */

#include "fk_transport.h"

#include "fk_clock.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_log.h"
#include "fk_mem.h"
#include "fk_msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*  libzmq 4.3 implements this option but declares it only in its DRAFT
    API, which Debian's headers leave out; the library accepts it. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01" /* RFC 27's fixed address */
#define S_ZAP_DOMAIN "fakts"
/*  What CurveZMQ adds to a frame on the wire (libzmq's MESSAGE command:
    its name and nonce, 8 octets each, a flags octet and a 16-octet MAC).
    libzmq checks ZMQ_MAXMSGSIZE against that wire frame, so the limit
    is the largest message plus this. */
#define S_CURVE_OVERHEAD 33
#define S_PEER_HWM 64     /* messages queued per peer before dropping */
#define S_ROUTER_HWM 1000 /* messages queued per inbound connection */

typedef struct {
    zsock_t *dealer;                   /* the connection */
    char *addr;                        /* where it goes */
    uint8_t key[FK_TRANSPORT_KEY_LEN]; /* the server key it is pinned to (secure) */
    int64_t used;                      /* last send, for least-recently-used eviction */
} s_peer_t;

struct fk_transport {
    bool secure;                                /* CurveZMQ and ZAP */
    uint8_t curve_public[FK_TRANSPORT_KEY_LEN]; /* our keys */
    uint8_t curve_secret[FK_TRANSPORT_KEY_LEN];
    zsock_t *router;   /* every inbound message */
    zsock_t *zap;      /* the ZAP handler's REP socket, or NULL */
    int hello_fd;      /* UDP hello socket, or -1 */
    char *source_host; /* connect from this host (our bind host), or NULL for any */
    zhashx_t *peers;   /* name (secure) or address (open) -> s_peer_t * */
};

/*  ZMQ_MAXMSGSIZE for our sockets: one message of FK_MSG_MAX_SIZE
    (R-MSG-002) as it travels, and not one octet more. */
static int
s_max_frame(const fk_transport_t *self)
{
    return (int)(FK_MSG_MAX_SIZE + (self->secure ? S_CURVE_OVERHEAD : 0));
}

static void
s_peer_destroy(s_peer_t **peer_p)
{
    if (*peer_p) {
        zsock_destroy(&(*peer_p)->dealer);
        free((*peer_p)->addr);
        free(*peer_p);
        *peer_p = NULL;
    }
}

/*  Split "host:port" (the last colon) into a fresh host and the port. */
static int
s_split(const char *addr, char **host_p, int *port_p)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    if (!colon || colon == addr || !colon[1]) {
        return FK_ECONFIG;
    }
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        return FK_ECONFIG;
    }
    *host_p = fk_strndup(addr, (size_t)(colon - addr));
    *port_p = (int)port;
    return 0;
}

static int
s_bind_hello(fk_transport_t *self, const char *host, int port)
{
    struct addrinfo hints = {.ai_family = AF_INET,
                             .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *found = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    bool any = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "*") == 0;
    if (getaddrinfo(any ? NULL : host, service, &hints, &found) != 0 || !found) {
        return FK_ECONFIG;
    }
    int fd = socket(found->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = fd == -1 || bind(fd, found->ai_addr, found->ai_addrlen) == -1 ? -errno : 0;
    freeaddrinfo(found);
    if (rc) {
        if (fd != -1) {
            close(fd);
        }
        return rc;
    }
    self->hello_fd = fd;
    return 0;
}

/*  The ZAP handler must be in place before the ROUTER binds, so no
    connection is ever made without it. Only one may exist per process (the
    endpoint is fixed), hence FK_ECONFIG when another holds it. */
static int
s_bind_zap(fk_transport_t *self)
{
    self->zap = zsock_new(ZMQ_REP);
    if (!self->zap) {
        return -ENOMEM;
    }
    zsock_set_linger(self->zap, 0);
    if (zsock_bind(self->zap, S_ZAP_ENDPOINT) != 0) {
        fk_error("cluster: cannot install the ZAP handler (%s): another one runs in this process",
                 zmq_strerror(errno));
        return FK_ECONFIG;
    }
    return 0;
}

int
fk_transport_new(fk_transport_t **self_p, const fk_transport_opts_t *opts, int *port_p)
{
    *self_p = NULL;
    char *host = NULL;
    int port = 0;
    if (s_split(opts->bind, &host, &port) != 0) {
        return FK_ECONFIG;
    }
    fk_transport_t *self = fk_calloc(1, sizeof *self);
    self->secure = opts->secure;
    self->hello_fd = -1;
    self->peers = zhashx_new();
    zhashx_set_destructor(self->peers, (zhashx_destructor_fn *)s_peer_destroy);
    if (self->secure) {
        memcpy(self->curve_public, opts->curve_public, FK_TRANSPORT_KEY_LEN);
        memcpy(self->curve_secret, opts->curve_secret, FK_TRANSPORT_KEY_LEN);
    }
    /*  CZMQ must not install signal handlers: the agent's main thread
        takes every signal with sigtimedwait. */
    zsys_handler_set(NULL);
    int rc = self->secure ? s_bind_zap(self) : 0;
    self->router = rc == 0 ? zsock_new(ZMQ_ROUTER) : NULL;
    if (rc == 0 && !self->router) {
        rc = -ENOMEM;
    }
    if (rc == 0) {
        zsock_set_rcvhwm(self->router, S_ROUTER_HWM);
        zsock_set_linger(self->router, 0);
        /*  libzmq drops a connection that announces a larger frame before
            buffering any of it (R-MSG-002 holds at the socket; over
            CurveZMQ the wire frame is the message plus S_CURVE_OVERHEAD). */
        zsock_set_maxmsgsize(self->router, s_max_frame(self));
        if (self->secure) {
            zsock_set_curve_server(self->router, 1);
            zsock_set_curve_secretkey_bin(self->router, self->curve_secret);
            zsock_set_zap_domain(self->router, S_ZAP_DOMAIN);
            int enforce = 1;
            if (zmq_setsockopt(zsock_resolve(self->router), ZMQ_ZAP_ENFORCE_DOMAIN, &enforce,
                               sizeof enforce)
                != 0) {
                /*  A libzmq without it still fails closed one level up: a
                    frame without our handler's User-Id is nobody's. */
                fk_warn("cluster: libzmq lacks ZMQ_ZAP_ENFORCE_DOMAIN; unauthenticated frames "
                        "are dropped by the cluster instead");
            }
        }
        /*  Port 0 goes to the kernel, which picks a random free port.
            (CZMQ's own "*" scans upward from 49152, so every node of a
            machine would get the same few ports, and a restarted node would
            find its old port taken by a neighbour.) */
        char *endpoint = fk_asprintf("tcp://%s", opts->bind);
        int bound = -1;
        if (zmq_bind(zsock_resolve(self->router), endpoint) == 0) {
            char *last = zsock_last_endpoint(self->router);
            const char *last_colon = last ? strrchr(last, ':') : NULL;
            bound = last_colon ? atoi(last_colon + 1) : -1;
            free(last);
        }
        free(endpoint);
        if (bound <= 0) {
            rc = errno ? -errno : -EADDRINUSE;
            fk_error("cluster: cannot bind %s: %s", opts->bind, zmq_strerror(errno));
        }
        port = bound;
    }
    if (rc == 0 && opts->hello && (rc = s_bind_hello(self, host, port)) != 0) {
        fk_error("cluster: cannot bind the UDP hello socket on %s:%d: %s", host, port,
                 fk_strerror(rc));
    }
    if (rc == 0 && strcmp(host, "0.0.0.0") != 0 && strcmp(host, "*") != 0) {
        self->source_host = fk_strdup(host);
    }
    free(host);
    if (rc) {
        fk_transport_destroy(&self);
        return rc;
    }
    *port_p = port;
    *self_p = self;
    return 0;
}

void
fk_transport_destroy(fk_transport_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_transport_t *self = *self_p;
    zhashx_destroy(&self->peers);
    zsock_destroy(&self->router);
    zsock_destroy(&self->zap);
    if (self->hello_fd != -1) {
        close(self->hello_fd);
    }
    memset(self->curve_secret, 0, sizeof self->curve_secret);
    free(self->source_host);
    free(self);
    *self_p = NULL;
}

zsock_t *
fk_transport_router(fk_transport_t *self)
{
    return self->router;
}

zsock_t *
fk_transport_zap(fk_transport_t *self)
{
    return self->zap;
}

int
fk_transport_hello_fd(fk_transport_t *self)
{
    return self->hello_fd;
}

static bool
s_unhex(const char *text, uint8_t *out, size_t len)
{
    if (!text || strlen(text) != 2 * len) {
        return false;
    }
    for (size_t i = 0; i < 2 * len; i++) {
        char c = text[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0) {
            return false;
        }
        out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] | v) : v << 4);
    }
    return true;
}

static void
s_zap_answer_one(fk_transport_t *self, fk_transport_allow_fn allow, void *arg)
{
    zmsg_t *request = zmsg_recv(self->zap);
    if (!request) {
        return;
    }
    /*  RFC 27: version, request id, domain, address, identity, mechanism,
        credentials. */
    char *version = zmsg_popstr(request);
    zframe_t *request_id = zmsg_pop(request);
    char *domain = zmsg_popstr(request);
    char *address = zmsg_popstr(request);
    zframe_t *identity = zmsg_pop(request);
    char *mechanism = zmsg_popstr(request);
    zframe_t *key = zmsg_pop(request);
    bool ok = version && strcmp(version, "1.0") == 0 && request_id && domain
              && strcmp(domain, S_ZAP_DOMAIN) == 0 && mechanism && strcmp(mechanism, "CURVE") == 0
              && key && zframe_size(key) == FK_TRANSPORT_KEY_LEN && zmsg_size(request) == 0
              && allow(arg, zframe_data(key), address ? address : "");
    char user_id[2 * FK_TRANSPORT_KEY_LEN + 1] = "";
    if (ok) {
        fk_hex_encode(zframe_data(key), FK_TRANSPORT_KEY_LEN, user_id);
    }
    zmsg_t *reply = zmsg_new();
    zmsg_addstr(reply, "1.0");
    if (request_id) {
        zmsg_append(reply, &request_id);
    } else {
        zmsg_addstr(reply, "");
    }
    zmsg_addstr(reply, ok ? "200" : "400");
    zmsg_addstr(reply, ok ? "OK" : "not a member");
    zmsg_addstr(reply, user_id);
    zmsg_addmem(reply, NULL, 0); /* no metadata */
    zmsg_send(&reply, self->zap);
    free(version);
    free(domain);
    free(address);
    free(mechanism);
    zframe_destroy(&request_id);
    zframe_destroy(&identity);
    zframe_destroy(&key);
    zmsg_destroy(&request);
}

void
fk_transport_zap_answer(fk_transport_t *self, fk_transport_allow_fn allow, void *arg)
{
    /*  ZMQ_FD signals edges, not levels: drain every waiting request, or
        one left behind would wait for the next connection's edge. */
    while (zsock_events(self->zap) & ZMQ_POLLIN) {
        s_zap_answer_one(self, allow, arg);
    }
}

int
fk_transport_recv(fk_transport_t *self, zframe_t **identity_p, zframe_t **payload_p,
                  uint8_t key[FK_TRANSPORT_KEY_LEN], bool *keyed_p)
{
    *identity_p = NULL;
    *payload_p = NULL;
    *keyed_p = false;
    zmsg_t *frames = zmsg_recv(self->router);
    if (!frames) {
        return -1;
    }
    if (zmsg_size(frames) != 2) {
        zmsg_destroy(&frames);
        return -1;
    }
    *identity_p = zmsg_pop(frames);
    *payload_p = zmsg_pop(frames);
    zmsg_destroy(&frames);
    if (self->secure) {
        /*  Set by libzmq from our ZAP handler's reply for this connection;
            absent when no handler authenticated it. */
        *keyed_p = s_unhex(zframe_meta(*payload_p, "User-Id"), key, FK_TRANSPORT_KEY_LEN);
    }
    return 0;
}

static zsock_t *
s_dealer(fk_transport_t *self, const char *addr, const uint8_t *server_key)
{
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    if (!dealer) {
        return NULL;
    }
    /*  A small queue, and drop (never block) when it is full: liveness
        comes from acks, not from queues, so a dead peer costs at most
        S_PEER_HWM stale messages. ZMQ_IMMEDIATE is off on purpose: with it,
        the first message to a new peer (a join, a ping) would be dropped
        because the connection is not up yet when it is sent. */
    zsock_set_immediate(dealer, 0);
    zsock_set_sndhwm(dealer, S_PEER_HWM);
    zsock_set_linger(dealer, 0);
    zsock_set_reconnect_ivl(dealer, 100);
    zsock_set_reconnect_ivl_max(dealer, 500);
    zsock_set_maxmsgsize(dealer, s_max_frame(self));
    if (self->secure) {
        zsock_set_curve_serverkey_bin(dealer, server_key);
        zsock_set_curve_publickey_bin(dealer, self->curve_public);
        zsock_set_curve_secretkey_bin(dealer, self->curve_secret);
    }
    /*  Connect from our own gossip host, so a peer (and a firewall) sees
        our traffic come from the address we advertise, not from whatever
        the kernel routes by (on loopback: always 127.0.0.1). */
    int rc = self->source_host ? zsock_connect(dealer, "tcp://%s:0;%s", self->source_host, addr)
                               : zsock_connect(dealer, "tcp://%s", addr);
    if (rc != 0) {
        zsock_destroy(&dealer);
    }
    return dealer;
}

/*  Close the least recently used connection, to stay under the cap. */
static void
s_evict(fk_transport_t *self)
{
    const char *oldest = NULL;
    int64_t oldest_used = INT64_MAX;
    for (s_peer_t *peer = zhashx_first(self->peers); peer; peer = zhashx_next(self->peers)) {
        if (peer->used < oldest_used) {
            oldest_used = peer->used;
            oldest = zhashx_cursor(self->peers);
        }
    }
    if (oldest) {
        char *doomed = fk_strdup(oldest);
        zhashx_delete(self->peers, doomed);
        free(doomed);
    }
}

void
fk_transport_send(fk_transport_t *self, const char *name, const char *addr,
                  const uint8_t *server_key, const void *buf, size_t len)
{
    if (!addr || !*addr || (self->secure && (!name || !server_key))) {
        return;
    }
    const char *id = self->secure ? name : addr;
    s_peer_t *peer = zhashx_lookup(self->peers, id);
    if (peer
        && (strcmp(peer->addr, addr) != 0
            || (self->secure && memcmp(peer->key, server_key, FK_TRANSPORT_KEY_LEN) != 0))) {
        zhashx_delete(self->peers, id);
        peer = NULL;
    }
    if (!peer) {
        if (zhashx_size(self->peers) >= FK_TRANSPORT_MAX_PEERS) {
            s_evict(self);
        }
        zsock_t *dealer = s_dealer(self, addr, server_key);
        if (!dealer) {
            return;
        }
        peer = fk_calloc(1, sizeof *peer);
        peer->dealer = dealer;
        peer->addr = fk_strdup(addr);
        if (self->secure) {
            memcpy(peer->key, server_key, FK_TRANSPORT_KEY_LEN);
        }
        zhashx_insert(self->peers, id, peer);
    }
    peer->used = fk_clock_mono_ms();
    /*  EAGAIN (not connected yet, or the queue is full) drops the message:
        every protocol step here tolerates loss. */
    zmq_send(zsock_resolve(peer->dealer), buf, len, ZMQ_DONTWAIT);
}

void
fk_transport_reply(fk_transport_t *self, const zframe_t *identity, const void *buf, size_t len)
{
    zmsg_t *reply = zmsg_new();
    zmsg_addmem(reply, zframe_data((zframe_t *)(uintptr_t)identity),
                zframe_size((zframe_t *)(uintptr_t)identity));
    zmsg_addmem(reply, buf, len);
    zmsg_send(&reply, self->router);
}

void
fk_transport_forget(fk_transport_t *self, const char *peer)
{
    zhashx_delete(self->peers, peer);
}

size_t
fk_transport_peers(const fk_transport_t *self)
{
    return zhashx_size(self->peers);
}

zsock_t *
fk_transport_applicant(fk_transport_t *self, const char *addr,
                       const uint8_t server_key[FK_TRANSPORT_KEY_LEN])
{
    return s_dealer(self, addr, server_key);
}

int
fk_transport_hello_send(fk_transport_t *self, const char *addr, const void *buf, size_t len)
{
    char *host = NULL;
    int port = 0;
    if (self->hello_fd == -1 || s_split(addr, &host, &port) != 0) {
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *found = NULL;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &found) == 0 && found
                     && sendto(self->hello_fd, buf, len, 0, found->ai_addr, found->ai_addrlen)
                            == (ssize_t)len
                 ? 0
                 : -1;
    if (found) {
        freeaddrinfo(found);
    }
    free(host);
    return rc;
}

long
fk_transport_hello_recv(fk_transport_t *self, void *buf, size_t size, char from[64])
{
    struct sockaddr_in sender;
    socklen_t sender_len = sizeof sender;
    ssize_t got = recvfrom(self->hello_fd, buf, size, MSG_TRUNC, (struct sockaddr *)&sender,
                           &sender_len);
    if (got < 0) {
        return -1;
    }
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &sender.sin_addr, ip, sizeof ip);
    snprintf(from, 64, "%s:%u", ip, (unsigned)ntohs(sender.sin_port));
    return (long)got;
}
