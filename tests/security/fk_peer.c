/*  fk_peer - a hostile or test gossip peer. See fk_peer.h. */

#include "fk_peer.h"

#include "fk_clock.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_mem.h"
#include "fk_record.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_ZMTP_GREETING 64                   /* octets of a ZMTP 3 greeting, each way */
#define S_CHUNK (64u << 10)                  /* octets written at once by fk_peer_oversize */
#define S_PROGRESS_EVERY ((uint64_t)4 << 20) /* progress callback period, in octets */

/*  One DEALER to a node, and the admission this peer runs over it. */
typedef struct {
    char *addr;                             /* the node's gossip address */
    zsock_t *dealer;                        /* the connection */
    zsock_t *monitor;                       /* its handshake events (PAIR) */
    fk_peer_link_t state;                   /* what the events said so far */
    uint8_t server_key[FK_PEER_KEY_LEN];    /* the node's key it is pinned to (CurveZMQ) */
    bool challenged;                        /* a CHALLENGE came */
    fk_admit_method_t method;               /* how we are admitted */
    uint8_t secret[FK_ADMIT_SECRET_LEN];    /* the secret our proofs use */
    uint8_t nonce[FK_ADMIT_NONCE_LEN];      /* our nonce */
    uint8_t seed_nonce[FK_ADMIT_NONCE_LEN]; /* the seed's challenge */
} s_link_t;

struct fk_peer {
    char *name;                            /* the name it claims */
    char *advertise;                       /* the address it states */
    char *listen_addr;                     /* the listener's "host:port" */
    char *host;                            /* the listener's host */
    bool curve;                            /* CurveZMQ (else NULL mechanism) */
    uint8_t curve_public[FK_PEER_KEY_LEN]; /* its CurveZMQ keys */
    uint8_t curve_secret[FK_PEER_KEY_LEN];
    fk_sign_key_t *signer;             /* its Ed25519 key */
    zsock_t *listener;                 /* its ROUTER */
    s_link_t links[FK_PEER_MAX_LINKS]; /* its DEALERs */
    uint64_t incarnation;              /* stated in its messages */
    uint64_t seq;                      /* last sequence number used */
};

static void
s_random(void *buf, size_t len)
{
    if (RAND_bytes(buf, (int)len) != 1) {
        abort();
    }
}

/*  Read <dir>/node.key: the CurveZMQ keypair and the Ed25519 secret. */
static int
s_read_key_file(const char *dir, uint8_t curve_public[FK_PEER_KEY_LEN],
                uint8_t curve_secret[FK_PEER_KEY_LEN], uint8_t sign_secret[FK_SIGN_SECRET_LEN])
{
    char *path = fk_asprintf("%s/node.key", dir);
    json_t *doc = json_load_file(path, 0, NULL);
    free(path);
    const char *pub = json_string_value(json_object_get(doc, "curve_public"));
    const char *sec = json_string_value(json_object_get(doc, "curve_secret"));
    const char *sign = json_string_value(json_object_get(doc, "sign_secret"));
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    int rc = pub && sec && sign && strlen(pub) == 40 && strlen(sec) == 40
                     && zmq_z85_decode(curve_public, pub) && zmq_z85_decode(curve_secret, sec)
                     && fk_b64url_decode(sign, strlen(sign), &raw, &raw_len) == 0
                     && raw_len == FK_SIGN_SECRET_LEN
                 ? 0
                 : FK_ECONFIG;
    if (rc == 0) {
        memcpy(sign_secret, raw, FK_SIGN_SECRET_LEN);
    }
    if (raw) {
        OPENSSL_cleanse(raw, raw_len);
    }
    free(raw);
    json_decref(doc);
    return rc;
}

int
fk_peer_node_keys(const char *data_dir, uint8_t curve_public[FK_PEER_KEY_LEN],
                  uint8_t sign_public[FK_SIGN_PUBLIC_LEN])
{
    uint8_t pub[FK_PEER_KEY_LEN];
    uint8_t sec[FK_PEER_KEY_LEN];
    uint8_t sign[FK_SIGN_SECRET_LEN];
    int rc = s_read_key_file(data_dir, pub, sec, sign);
    fk_sign_key_t *key = NULL;
    if (rc == 0 && sign_public && fk_sign_key_new(&key, sign) != 0) {
        rc = FK_ECONFIG;
    }
    if (rc == 0 && curve_public) {
        memcpy(curve_public, pub, FK_PEER_KEY_LEN);
    }
    if (rc == 0 && sign_public) {
        memcpy(sign_public, fk_sign_key_public(key), FK_SIGN_PUBLIC_LEN);
    }
    fk_sign_key_destroy(&key);
    OPENSSL_cleanse(sec, sizeof sec);
    OPENSSL_cleanse(sign, sizeof sign);
    return rc;
}

/*  Bind a socket on "host:0" (the kernel's free port, not CZMQ's scan)
    and return the bound "host:port", or NULL. */
static char *
s_bind(zsock_t *sock, const char *host)
{
    char *endpoint = fk_asprintf("tcp://%s:0", host);
    int rc = zmq_bind(zsock_resolve(sock), endpoint);
    free(endpoint);
    if (rc != 0) {
        return NULL;
    }
    char *last = zsock_last_endpoint(sock);
    const char *colon = last ? strrchr(last, ':') : NULL;
    char *addr = colon ? fk_asprintf("%s:%s", host, colon + 1) : NULL;
    free(last);
    return addr;
}

int
fk_peer_new(fk_peer_t **self_p, const fk_peer_opts_t *opts)
{
    *self_p = NULL;
    if (!opts || !opts->name || !*opts->name || !opts->host || !*opts->host) {
        return FK_EINVAL_INPUT;
    }
    fk_peer_t *self = fk_calloc(1, sizeof *self);
    self->name = fk_strdup(opts->name);
    self->host = fk_strdup(opts->host);
    self->curve = !opts->null_mechanism;
    self->incarnation = 1;
    uint8_t sign_secret[FK_SIGN_SECRET_LEN];
    int rc = 0;
    if (opts->key_dir) {
        rc = s_read_key_file(opts->key_dir, self->curve_public, self->curve_secret, sign_secret);
    } else {
        char pub[41];
        char sec[41];
        rc = zmq_curve_keypair(pub, sec) == 0 && zmq_z85_decode(self->curve_public, pub)
                     && zmq_z85_decode(self->curve_secret, sec)
                 ? 0
                 : FK_ECONFIG;
        OPENSSL_cleanse(sec, sizeof sec);
        fk_sign_key_generate(sign_secret);
    }
    if (rc == 0 && fk_sign_key_new(&self->signer, sign_secret) != 0) {
        rc = FK_ECONFIG;
    }
    OPENSSL_cleanse(sign_secret, sizeof sign_secret);
    if (rc == 0) {
        self->listener = zsock_new(ZMQ_ROUTER);
        zsock_set_linger(self->listener, 0);
        if (self->curve) {
            zsock_set_curve_server(self->listener, 1);
            zsock_set_curve_secretkey_bin(self->listener, self->curve_secret);
        }
        self->listen_addr = s_bind(self->listener, opts->host);
        if (!self->listen_addr) {
            rc = errno ? -errno : -EADDRNOTAVAIL;
        }
    }
    if (rc != 0) {
        fk_peer_destroy(&self);
        return rc;
    }
    self->advertise = fk_strdup(opts->advertise ? opts->advertise : self->listen_addr);
    *self_p = self;
    return 0;
}

static void
s_link_clear(s_link_t *link)
{
    zsock_destroy(&link->dealer);
    zsock_destroy(&link->monitor);
    free(link->addr);
    OPENSSL_cleanse(link, sizeof *link);
}

void
fk_peer_destroy(fk_peer_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_peer_t *self = *self_p;
    for (size_t i = 0; i < FK_PEER_MAX_LINKS; i++) {
        s_link_clear(&self->links[i]);
    }
    zsock_destroy(&self->listener);
    fk_sign_key_destroy(&self->signer);
    OPENSSL_cleanse(self->curve_secret, sizeof self->curve_secret);
    free(self->name);
    free(self->host);
    free(self->advertise);
    free(self->listen_addr);
    free(self);
    *self_p = NULL;
}

const char *
fk_peer_name(const fk_peer_t *self)
{
    return self->name;
}

const char *
fk_peer_addr(const fk_peer_t *self)
{
    return self->advertise;
}

const char *
fk_peer_listen_addr(const fk_peer_t *self)
{
    return self->listen_addr;
}

const uint8_t *
fk_peer_curve_public(const fk_peer_t *self)
{
    return self->curve_public;
}

const fk_sign_key_t *
fk_peer_signer(const fk_peer_t *self)
{
    return self->signer;
}

uint64_t
fk_peer_incarnation(const fk_peer_t *self)
{
    return self->incarnation;
}

void
fk_peer_set_incarnation(fk_peer_t *self, uint64_t incarnation)
{
    self->incarnation = incarnation;
}

/*  ---- sending ------------------------------------------------------- */

static s_link_t *
s_link(fk_peer_t *self, const char *addr)
{
    for (size_t i = 0; i < FK_PEER_MAX_LINKS; i++) {
        if (self->links[i].addr && strcmp(self->links[i].addr, addr) == 0) {
            return &self->links[i];
        }
    }
    return NULL;
}

/*  A DEALER speaking this peer's mechanism, connected to addr; with
    monitor_p, a PAIR that receives its handshake events. */
static zsock_t *
s_dealer(const fk_peer_t *self, const char *addr, const uint8_t *server_key, zsock_t **monitor_p)
{
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    zsock_set_linger(dealer, 0);
    zsock_set_sndhwm(dealer, 10000);
    zsock_set_rcvhwm(dealer, 10000);
    zsock_set_reconnect_ivl(dealer, 100);
    if (self->curve) {
        zsock_set_curve_serverkey_bin(dealer, server_key);
        zsock_set_curve_publickey_bin(dealer, self->curve_public);
        zsock_set_curve_secretkey_bin(dealer, self->curve_secret);
    }
    if (monitor_p) {
        /*  Watched before it connects, so no event is missed. */
        static unsigned counter;
        char *endpoint = fk_asprintf("inproc://fk-peer-monitor-%p-%u", (void *)dealer, ++counter);
        int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                     | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                     | ZMQ_EVENT_DISCONNECTED;
        *monitor_p = zmq_socket_monitor(zsock_resolve(dealer), endpoint, events) == 0
                         ? zsock_new_pair(endpoint)
                         : NULL;
        free(endpoint);
    }
    /*  From our own host, as a node connects from its gossip host. */
    if (zsock_connect(dealer, "tcp://%s:0;%s", self->host, addr) != 0) {
        zsock_destroy(&dealer);
        if (monitor_p) {
            zsock_destroy(monitor_p);
        }
    }
    return dealer;
}

int
fk_peer_connect(fk_peer_t *self, const char *addr, const uint8_t *server_key)
{
    if (!addr || !*addr || (self->curve && !server_key)) {
        return FK_EINVAL_INPUT;
    }
    s_link_t *link = s_link(self, addr);
    if (link && (!self->curve || memcmp(link->server_key, server_key, FK_PEER_KEY_LEN) == 0)) {
        return 0;
    }
    if (link) {
        s_link_clear(link); /* another key at that address: start afresh */
    }
    for (size_t i = 0; i < FK_PEER_MAX_LINKS && !link; i++) {
        if (!self->links[i].addr) {
            link = &self->links[i];
        }
    }
    if (!link) {
        return FK_ETOOBIG;
    }
    link->dealer = s_dealer(self, addr, server_key, &link->monitor);
    if (!link->dealer) {
        return FK_EINVAL_INPUT;
    }
    link->addr = fk_strdup(addr);
    if (self->curve) {
        memcpy(link->server_key, server_key, FK_PEER_KEY_LEN);
    }
    return 0;
}

fk_peer_link_t
fk_peer_link_state(fk_peer_t *self, const char *addr, int timeout_ms)
{
    s_link_t *link = s_link(self, addr);
    if (!link || !link->monitor) {
        return FK_PEER_LINK_PENDING;
    }
    int64_t deadline = fk_clock_mono_ms() + timeout_ms;
    while (link->state != FK_PEER_LINK_UP) {
        zmq_pollitem_t item = {.socket = zsock_resolve(link->monitor), .events = ZMQ_POLLIN};
        int64_t left = deadline - fk_clock_mono_ms();
        bool waiting = link->state == FK_PEER_LINK_PENDING && left > 0;
        if (zmq_poll(&item, 1, waiting ? (long)left : 0) <= 0) {
            break;
        }
        /*  libzmq's event: 2 octets of event, 4 of value, then the
            endpoint in a second frame. */
        zmsg_t *event = zmsg_recv(link->monitor);
        zframe_t *head = event ? zmsg_first(event) : NULL;
        if (head && zframe_size(head) >= 2) {
            uint16_t id;
            memcpy(&id, zframe_data(head), sizeof id);
            link->state =
                id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ? FK_PEER_LINK_UP : FK_PEER_LINK_REFUSED;
        }
        zmsg_destroy(&event);
    }
    return link->state;
}

int
fk_peer_send_raw(fk_peer_t *self, const char *addr, const void *buf, size_t len)
{
    s_link_t *link = s_link(self, addr);
    if (!link) {
        return FK_ENOTFOUND;
    }
    return zmq_send(zsock_resolve(link->dealer), buf, len, ZMQ_DONTWAIT) == (int)len ? 0 : -EAGAIN;
}

fk_msg_t *
fk_peer_msg(fk_peer_t *self, fk_msg_type_t type)
{
    fk_msg_t *msg = fk_msg_new(type, self->name, self->advertise, self->incarnation);
    fk_msg_set_seq(msg, ++self->seq);
    return msg;
}

int
fk_peer_send(fk_peer_t *self, const char *addr, fk_msg_t **msg_p)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = fk_msg_encode(*msg_p, &buf, &len);
    if (rc == 0) {
        rc = fk_peer_send_raw(self, addr, buf, len);
    }
    free(buf);
    fk_msg_destroy(msg_p);
    return rc;
}

char *
fk_peer_record(const fk_sign_key_t *signer, const char *owner, const char *key, uint64_t version,
               uint32_t flags, const char *payload, size_t *len_p)
{
    fk_record_t rec = {.version = version,
                       .flags = flags,
                       .stamp_ms = fk_clock_wall_ms(),
                       .payload = payload,
                       .payload_len = payload ? strlen(payload) : 0};
    char *buf = NULL;
    *len_p = 0;
    if ((signer && fk_record_sign(&rec, owner, key, signer) != 0)
        || fk_record_encode(&rec, &buf, len_p) != 0) {
        return NULL;
    }
    return buf;
}

fk_msg_t *
fk_peer_delta(fk_peer_t *self, const char *owner, uint64_t from, const char *key,
              const void *record, size_t len)
{
    fk_msg_t *msg = fk_peer_msg(self, FK_MSG_DELTA);
    if (fk_msg_add_digest(msg, owner, from) != 0
        || (record && fk_msg_add_delta(msg, owner, key, record, len) != 0)) {
        fk_msg_destroy(&msg);
    }
    return msg;
}

/*  ---- receiving ------------------------------------------------------ */

int
fk_peer_recv(fk_peer_t *self, int timeout_ms, fk_msg_t **msg_p)
{
    if (msg_p) {
        *msg_p = NULL;
    }
    zmq_pollitem_t items[FK_PEER_MAX_LINKS + 1];
    s_link_t *owners[FK_PEER_MAX_LINKS + 1];
    size_t n = 0;
    items[n] = (zmq_pollitem_t){.socket = zsock_resolve(self->listener), .events = ZMQ_POLLIN};
    owners[n++] = NULL;
    for (size_t i = 0; i < FK_PEER_MAX_LINKS; i++) {
        if (self->links[i].dealer) {
            items[n] = (zmq_pollitem_t){.socket = zsock_resolve(self->links[i].dealer),
                                        .events = ZMQ_POLLIN};
            owners[n++] = &self->links[i];
        }
    }
    int64_t deadline = fk_clock_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - fk_clock_mono_ms();
        int rc = zmq_poll(items, (int)n, left > 0 ? (long)left : 0);
        if (rc < 0 && errno == EINTR && left > 0) {
            continue;
        }
        if (rc <= 0) {
            return 0;
        }
        for (size_t i = 0; i < n; i++) {
            if (!(items[i].revents & ZMQ_POLLIN)) {
                continue;
            }
            zmsg_t *frames = zmsg_recv(owners[i] ? owners[i]->dealer : self->listener);
            if (!frames) {
                continue;
            }
            if (!owners[i]) {
                zframe_t *identity = zmsg_pop(frames); /* the ROUTER's routing id */
                zframe_destroy(&identity);
            }
            zframe_t *payload = zmsg_pop(frames);
            if (msg_p && payload
                && fk_msg_decode(zframe_data(payload), zframe_size(payload), msg_p) != 0) {
                *msg_p = NULL;
            }
            zframe_destroy(&payload);
            zmsg_destroy(&frames);
            return 1;
        }
    }
}

fk_msg_t *
fk_peer_await(fk_peer_t *self, fk_msg_type_t type, uint64_t seq, const char *from, int timeout_ms)
{
    int64_t deadline = fk_clock_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - fk_clock_mono_ms();
        fk_msg_t *msg = NULL;
        if (left <= 0 || fk_peer_recv(self, (int)left, &msg) == 0) {
            return NULL;
        }
        if (msg && fk_msg_type(msg) == type && (seq == 0 || fk_msg_seq(msg) == seq)
            && (!from || strcmp(fk_msg_from(msg), from) == 0)) {
            return msg;
        }
        fk_msg_destroy(&msg);
    }
}

size_t
fk_peer_count_frames(fk_peer_t *self, int ms)
{
    int64_t deadline = fk_clock_mono_ms() + ms;
    size_t count = 0;
    for (;;) {
        int64_t left = deadline - fk_clock_mono_ms();
        if (left <= 0 || fk_peer_recv(self, (int)left, NULL) == 0) {
            return count;
        }
        count++;
    }
}

bool
fk_peer_ping(fk_peer_t *self, const char *addr, int timeout_ms)
{
    fk_msg_t *ping = fk_peer_msg(self, FK_MSG_PING);
    uint64_t seq = fk_msg_seq(ping);
    if (fk_peer_send(self, addr, &ping) != 0) {
        return false;
    }
    fk_msg_t *ack = fk_peer_await(self, FK_MSG_ACK, seq, NULL, timeout_ms);
    bool ok = ack != NULL;
    fk_msg_destroy(&ack);
    return ok;
}

/*  ---- admission ------------------------------------------------------ */

/*  Split "host:port" into a sockaddr. */
static bool
s_sockaddr(const char *addr, struct sockaddr_in *out)
{
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    if (!colon) {
        return false;
    }
    char host[64];
    size_t host_len = (size_t)(colon - addr);
    if (host_len >= sizeof host) {
        return false;
    }
    memcpy(host, addr, host_len);
    host[host_len] = '\0';
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, host, &out->sin_addr) == 1;
}

int
fk_peer_hello(fk_peer_t *self, const char *addr, const uint8_t secret[FK_ADMIT_SECRET_LEN],
              uint8_t server_key[FK_PEER_KEY_LEN], int timeout_ms)
{
    struct sockaddr_in to;
    struct sockaddr_in from;
    if (!s_sockaddr(addr, &to) || !s_sockaddr(self->listen_addr, &from)) {
        return FK_EINVAL_INPUT;
    }
    from.sin_port = 0;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return -errno;
    }
    if (bind(fd, (struct sockaddr *)&from, sizeof from) == -1) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    uint8_t nonce[FK_ADMIT_HELLO_NONCE_LEN];
    s_random(nonce, sizeof nonce);
    uint8_t request[FK_ADMIT_HELLO_LEN];
    fk_admit_hello_request(secret, nonce, request);
    int rc = -ETIMEDOUT;
    int64_t deadline = fk_clock_mono_ms() + timeout_ms;
    int64_t next_send = 0;
    while (rc == -ETIMEDOUT && fk_clock_mono_ms() < deadline) {
        /*  UDP may lose the datagram: ask again every 250 ms. */
        if (fk_clock_mono_ms() >= next_send) {
            sendto(fd, request, sizeof request, 0, (struct sockaddr *)&to, sizeof to);
            next_send = fk_clock_mono_ms() + 250;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) == 1) {
            uint8_t reply[FK_ADMIT_HELLO_LEN + 1];
            ssize_t got = recv(fd, reply, sizeof reply, 0);
            if (got > 0
                && fk_admit_hello_read_reply(secret, nonce, reply, (size_t)got, server_key) == 0) {
                rc = 0;
            }
        }
    }
    close(fd);
    return rc;
}

/*  Send one admission step over the link to addr. */
static int
s_ask(fk_peer_t *self, const char *addr, const fk_admit_t *step)
{
    char *body = NULL;
    size_t body_len = 0;
    int rc = fk_admit_encode(step, &body, &body_len);
    if (rc == 0) {
        fk_msg_t *msg = fk_peer_msg(self, FK_MSG_ADMIT);
        rc = fk_msg_set_body(msg, body, body_len);
        if (rc == 0) {
            rc = fk_peer_send(self, addr, &msg);
        }
        fk_msg_destroy(&msg);
    }
    free(body);
    return rc;
}

/*  Wait for the seed's next ADMIT step over link; its message goes to
 *msg_p (caller destroys). */
static int
s_answer(s_link_t *link, fk_admit_t *step, fk_msg_t **msg_p)
{
    int64_t deadline = fk_clock_mono_ms() + FK_PEER_ADMIT_MS;
    *msg_p = NULL;
    while (fk_clock_mono_ms() < deadline) {
        /*  Only our DEALER carries the seed's answers; a node may meanwhile
            write to our listener (once we are a member), which waits. */
        zmq_pollitem_t item = {.socket = zsock_resolve(link->dealer), .events = ZMQ_POLLIN};
        int64_t left = deadline - fk_clock_mono_ms();
        if (zmq_poll(&item, 1, left > 0 ? (long)left : 0) <= 0) {
            continue;
        }
        zframe_t *frame = zframe_recv(link->dealer);
        fk_msg_t *msg = NULL;
        if (frame && fk_msg_decode(zframe_data(frame), zframe_size(frame), &msg) == 0
            && fk_msg_type(msg) == FK_MSG_ADMIT) {
            size_t len = 0;
            const void *body = fk_msg_body(msg, &len);
            if (fk_admit_decode(body, len, step) == 0) {
                zframe_destroy(&frame);
                *msg_p = msg;
                return 0;
            }
        }
        fk_msg_destroy(&msg);
        zframe_destroy(&frame);
    }
    return -ETIMEDOUT;
}

static int
s_refused(const fk_admit_t *step, char *why, size_t whylen, const char *otherwise)
{
    if (why && whylen) {
        snprintf(why, whylen, "%s", step->step == FK_ADMIT_REFUSED ? step->reason : otherwise);
    }
    return FK_EDENIED;
}

int
fk_peer_admit_begin(fk_peer_t *self, const char *addr, const uint8_t server_key[FK_PEER_KEY_LEN],
                    fk_admit_method_t method, const uint8_t *token_id,
                    const uint8_t secret[FK_ADMIT_SECRET_LEN], char *why, size_t whylen)
{
    if (why && whylen) {
        why[0] = '\0';
    }
    int rc = fk_peer_connect(self, addr, server_key);
    s_link_t *link = rc == 0 ? s_link(self, addr) : NULL;
    if (!link) {
        return rc ? rc : FK_ENOTFOUND;
    }
    link->challenged = false;
    link->method = method;
    memcpy(link->secret, secret, FK_ADMIT_SECRET_LEN);
    s_random(link->nonce, sizeof link->nonce);
    fk_admit_t hello = {.step = FK_ADMIT_HELLO, .method = method, .has_sign_pub = true};
    memcpy(hello.sign_pub, fk_sign_key_public(self->signer), FK_SIGN_PUBLIC_LEN);
    if (method == FK_ADMIT_TOKEN) {
        hello.has_token_id = true;
        memcpy(hello.token_id, token_id, FK_ADMIT_TOKEN_ID_LEN);
    }
    if ((rc = s_ask(self, addr, &hello)) != 0) {
        return rc;
    }
    fk_admit_t answer;
    fk_msg_t *msg = NULL;
    if ((rc = s_answer(link, &answer, &msg)) != 0) {
        return rc;
    }
    fk_msg_destroy(&msg);
    if (answer.step != FK_ADMIT_CHALLENGE) {
        return s_refused(&answer, why, whylen, "the seed did not challenge");
    }
    memcpy(link->seed_nonce, answer.nonce, FK_ADMIT_NONCE_LEN);
    link->challenged = true;
    return 0;
}

int
fk_peer_admit_proof(fk_peer_t *self, const char *addr, char **buf_p, size_t *len_p)
{
    *buf_p = NULL;
    *len_p = 0;
    s_link_t *link = s_link(self, addr);
    if (!link || !link->challenged) {
        return FK_ENOTFOUND;
    }
    fk_admit_t proof = {.step = FK_ADMIT_PROOF, .has_nonce = true, .has_proof = true};
    memcpy(proof.nonce, link->nonce, FK_ADMIT_NONCE_LEN);
    fk_admit_proof(link->secret, false, link->seed_nonce, link->nonce, self->curve_public,
                   fk_sign_key_public(self->signer), link->server_key, self->name, self->advertise,
                   proof.proof);
    char *body = NULL;
    size_t body_len = 0;
    int rc = fk_admit_encode(&proof, &body, &body_len);
    if (rc == 0) {
        fk_msg_t *msg = fk_peer_msg(self, FK_MSG_ADMIT);
        rc = fk_msg_set_body(msg, body, body_len);
        if (rc == 0) {
            rc = fk_msg_encode(msg, buf_p, len_p);
        }
        fk_msg_destroy(&msg);
    }
    free(body);
    return rc;
}

int
fk_peer_admit_finish(fk_peer_t *self, const char *addr, const void *proof, size_t len, char *why,
                     size_t whylen)
{
    if (why && whylen) {
        why[0] = '\0';
    }
    s_link_t *link = s_link(self, addr);
    if (!link) {
        return FK_ENOTFOUND;
    }
    int rc = fk_peer_send_raw(self, addr, proof, len);
    fk_admit_t answer;
    fk_msg_t *msg = NULL;
    if (rc == 0) {
        rc = s_answer(link, &answer, &msg);
    }
    if (rc != 0) {
        return rc;
    }
    if (answer.step != FK_ADMIT_WELCOME) {
        fk_msg_destroy(&msg);
        return s_refused(&answer, why, whylen, "the seed answered out of turn");
    }
    /*  The seed proves it holds the secret too (R-ADMIT-007). */
    uint8_t expect[FK_ADMIT_PROOF_LEN];
    fk_admit_proof(link->secret, true, link->seed_nonce, link->nonce, link->server_key,
                   answer.sign_pub, self->curve_public, fk_msg_from(msg), fk_msg_from_addr(msg),
                   expect);
    fk_msg_destroy(&msg);
    link->challenged = false;
    if (!fk_admit_proof_equal(expect, answer.proof)) {
        return s_refused(&answer, why, whylen, "the seed's proof does not verify");
    }
    return 0;
}

/*  begin, proof, finish. */
static int
s_admit(fk_peer_t *self, const char *addr, const uint8_t server_key[FK_PEER_KEY_LEN],
        fk_admit_method_t method, const uint8_t *token_id,
        const uint8_t secret[FK_ADMIT_SECRET_LEN], char *why, size_t whylen)
{
    int rc = fk_peer_admit_begin(self, addr, server_key, method, token_id, secret, why, whylen);
    char *proof = NULL;
    size_t len = 0;
    if (rc == 0) {
        rc = fk_peer_admit_proof(self, addr, &proof, &len);
    }
    if (rc == 0) {
        rc = fk_peer_admit_finish(self, addr, proof, len, why, whylen);
    }
    free(proof);
    return rc;
}

int
fk_peer_admit_secret(fk_peer_t *self, const char *addr, const char *secret_file, char *why,
                     size_t whylen)
{
    FILE *file = fopen(secret_file, "re");
    char line[128] = "";
    bool read = file && fgets(line, sizeof line, file);
    if (file) {
        fclose(file);
    }
    line[strcspn(line, "\r\n")] = '\0';
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    if (!read || strncmp(line, "fks1.", 5) != 0
        || fk_b64url_decode(line + 5, strlen(line + 5), &raw, &raw_len) != 0
        || raw_len != FK_ADMIT_SECRET_LEN) {
        free(raw);
        OPENSSL_cleanse(line, sizeof line);
        return FK_ECONFIG;
    }
    OPENSSL_cleanse(line, sizeof line);
    uint8_t server_key[FK_PEER_KEY_LEN];
    int rc = fk_peer_hello(self, addr, raw, server_key, FK_PEER_ADMIT_MS);
    if (rc == 0) {
        rc = s_admit(self, addr, server_key, FK_ADMIT_SECRET, NULL, raw, why, whylen);
    }
    OPENSSL_cleanse(raw, raw_len);
    free(raw);
    return rc;
}

int
fk_peer_admit_token(fk_peer_t *self, const char *addr, const char *token, char *why, size_t whylen)
{
    fk_admit_token_t parsed;
    if (fk_admit_token_decode(token, &parsed) != 0) {
        return FK_EINVAL_INPUT;
    }
    int rc = s_admit(self, addr, parsed.seed_curve, FK_ADMIT_TOKEN, parsed.id, parsed.secret, why,
                     whylen);
    OPENSSL_cleanse(&parsed, sizeof parsed);
    return rc;
}

/*  ---- an oversize frame ---------------------------------------------- */

/*  Reads one direction of a ZMTP 3 stream as it is relayed: the greeting,
    then frames (flags: bit 1 long size, bit 2 command), remembering the
    name of each command. */
typedef struct {
    size_t greeting_left; /* greeting octets still to come */
    int state;            /* 0 flags, 1 size, 2 body */
    uint8_t flags;        /* of the frame being read */
    uint8_t size_buf[8];  /* its size field */
    size_t size_need;     /* 1 or 8 */
    size_t size_have;     /* octets of it read */
    uint64_t body_left;   /* body octets still to come */
    char name[16];        /* a command's name, as far as read */
    size_t name_have;     /* octets of the command body read into name */
    char last[16];        /* the last complete command's name */
} s_zmtp_t;

static void
s_zmtp_end_frame(s_zmtp_t *z)
{
    if (z->flags & 0x04) {
        size_t n = z->name_have > 1 ? (size_t)(uint8_t)z->name[0] : 0;
        if (n > z->name_have - 1) {
            n = z->name_have ? z->name_have - 1 : 0;
        }
        memcpy(z->last, z->name + 1, n);
        z->last[n] = '\0';
    }
    z->state = 0;
}

static void
s_zmtp_feed(s_zmtp_t *z, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];
        if (z->greeting_left) {
            z->greeting_left--;
            continue;
        }
        if (z->state == 0) {
            z->flags = c;
            z->size_need = c & 0x02 ? 8 : 1;
            z->size_have = 0;
            z->name_have = 0;
            z->state = 1;
        } else if (z->state == 1) {
            z->size_buf[z->size_have++] = c;
            if (z->size_have == z->size_need) {
                z->body_left = 0;
                for (size_t k = 0; k < z->size_need; k++) {
                    z->body_left = z->body_left << 8 | z->size_buf[k];
                }
                z->state = 2;
                if (z->body_left == 0) {
                    s_zmtp_end_frame(z);
                }
            }
        } else {
            if (z->name_have < sizeof z->name - 1) {
                z->name[z->name_have++] = (char)c;
            }
            if (--z->body_left == 0) {
                s_zmtp_end_frame(z);
            }
        }
    }
}

/*  Write all of len octets to fd (blocking). Returns false on error. */
static bool
s_write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/*  Relay the handshake between the client (our DEALER) and the node until
    the node says READY and the client stream rests between frames. */
static bool
s_relay_handshake(int client, int upstream, int64_t deadline)
{
    s_zmtp_t to_node = {.greeting_left = S_ZMTP_GREETING};
    s_zmtp_t to_client = {.greeting_left = S_ZMTP_GREETING};
    uint8_t buf[4096];
    while (fk_clock_mono_ms() < deadline) {
        if (strcmp(to_client.last, "READY") == 0 && to_node.state == 0
            && to_node.greeting_left == 0) {
            return true;
        }
        if (strcmp(to_client.last, "ERROR") == 0) {
            return false;
        }
        struct pollfd fds[2] = {{.fd = client, .events = POLLIN},
                                {.fd = upstream, .events = POLLIN}};
        if (poll(fds, 2, 50) <= 0) {
            continue;
        }
        for (int i = 0; i < 2; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            ssize_t n = recv(fds[i].fd, buf, sizeof buf, 0);
            if (n <= 0) {
                return false;
            }
            s_zmtp_feed(i == 0 ? &to_node : &to_client, buf, (size_t)n);
            if (!s_write_all(i == 0 ? upstream : client, buf, (size_t)n)) {
                return false;
            }
        }
    }
    return false;
}

/*  Stream the header and body to the node until it hangs up. */
static void
s_stream(int upstream, uint64_t declared, uint64_t body, int64_t deadline,
         fk_peer_progress_fn progress, void *arg, fk_peer_oversize_t *out)
{
    uint8_t header[9] = {0x02}; /* a long data frame, not a command, no more */
    for (int k = 0; k < 8; k++) {
        header[1 + k] = (uint8_t)(declared >> (56 - 8 * k));
    }
    int64_t start = fk_clock_mono_ms();
    if (!s_write_all(upstream, header, sizeof header)) {
        out->dropped = true;
        out->took_ms = fk_clock_mono_ms() - start;
        return;
    }
    uint8_t *chunk = fk_calloc(1, S_CHUNK);
    uint64_t next_progress = S_PROGRESS_EVERY;
    while (out->sent < body && fk_clock_mono_ms() < deadline) {
        struct pollfd pfd = {.fd = upstream, .events = POLLOUT | POLLIN | POLLRDHUP};
        if (poll(&pfd, 1, 50) <= 0) {
            continue;
        }
        if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) {
            out->dropped = true; /* the node hung up */
            break;
        }
        if (pfd.revents & POLLIN) {
            uint8_t sink[512];
            ssize_t got = recv(upstream, sink, sizeof sink, MSG_DONTWAIT);
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                out->dropped = true;
                break;
            }
            continue; /* anything it says is read and ignored */
        }
        uint64_t left = body - out->sent;
        ssize_t n = send(upstream, chunk, left < S_CHUNK ? (size_t)left : S_CHUNK,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        }
        if (n <= 0) {
            out->dropped = true;
            break;
        }
        out->sent += (uint64_t)n;
        if (progress && out->sent >= next_progress) {
            progress(arg, out->sent);
            next_progress += S_PROGRESS_EVERY;
        }
    }
    if (progress) {
        progress(arg, out->sent);
    }
    free(chunk);
    out->took_ms = fk_clock_mono_ms() - start;
}

int
fk_peer_oversize(fk_peer_t *self, const char *addr, const uint8_t *server_key, uint64_t declared,
                 uint64_t body, int timeout_ms, fk_peer_progress_fn progress, void *arg,
                 fk_peer_oversize_t *out)
{
    memset(out, 0, sizeof *out);
    int64_t deadline = fk_clock_mono_ms() + timeout_ms;
    struct sockaddr_in node;
    struct sockaddr_in relay;
    if (!s_sockaddr(addr, &node) || !s_sockaddr(self->listen_addr, &relay)
        || (self->curve && !server_key)) {
        return FK_EINVAL_INPUT;
    }
    relay.sin_port = 0;
    socklen_t relay_len = sizeof relay;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int client = -1;
    int upstream = -1;
    zsock_t *dealer = NULL;
    int rc = 0;
    if (listener == -1 || bind(listener, (struct sockaddr *)&relay, sizeof relay) == -1
        || listen(listener, 1) == -1
        || getsockname(listener, (struct sockaddr *)&relay, &relay_len) == -1) {
        rc = -errno;
        goto done;
    }
    char relay_addr[64];
    char relay_host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &relay.sin_addr, relay_host, sizeof relay_host);
    snprintf(relay_addr, sizeof relay_addr, "%s:%u", relay_host, (unsigned)ntohs(relay.sin_port));
    dealer = s_dealer(self, relay_addr, server_key, NULL);
    struct pollfd pfd = {.fd = listener, .events = POLLIN};
    int64_t left = deadline - fk_clock_mono_ms();
    if (!dealer || poll(&pfd, 1, left > 0 ? (int)left : 0) != 1) {
        rc = -ETIMEDOUT;
        goto done;
    }
    client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (client == -1 || upstream == -1
        || connect(upstream, (struct sockaddr *)&node, sizeof node) == -1) {
        rc = -errno;
        goto done;
    }
    out->handshake = s_relay_handshake(client, upstream, deadline);
    if (!out->handshake) {
        rc = -ETIMEDOUT;
        goto done;
    }
    /*  The connection is ours now: the DEALER goes, the node keeps its
        side, authenticated as this peer. */
    zsock_destroy(&dealer);
    close(client);
    client = -1;
    s_stream(upstream, declared, body, deadline, progress, arg, out);
done:
    zsock_destroy(&dealer);
    if (client != -1) {
        close(client);
    }
    if (upstream != -1) {
        close(upstream);
    }
    if (listener != -1) {
        close(listener);
    }
    return rc;
}
