/*  fk_transport - the cluster plane's sockets: who may connect, what a
    frame may weigh, and where a message to a member goes.

    One ROUTER bound on the gossip address receives every message from
    every peer; one DEALER per peer sends. In the secure mode (the
    default):
    - every socket speaks CurveZMQ (RFC 26): the ROUTER as server with this
      node's key, each DEALER as client with this node's key, pinned to the
      server key of the member it talks to, so a message to a member can
      only be read by the holder of that member's secret key;
    - the ROUTER asks a ZAP handler (RFC 27) about every connecting key,
      and this module is that handler: fk_transport_zap_answer puts each
      key to the caller's decision (an admitted member, or an applicant
      while admissions are open). The handler's reply names the key as the
      connection's User-Id, which libzmq attaches to every frame; each
      received frame is attributed to that key (fk_transport_recv), never
      to a name it claims. Should the handler be missing or dead, libzmq
      would let CURVE clients in unauthenticated: ZMQ_ZAP_ENFORCE_DOMAIN
      makes it refuse them instead, and a frame without a User-Id is
      attributed to nobody, so the cluster drops it either way;
    - DEALERs exist only for members (keyed by name): nothing a message
      says makes this node open a connection to an address of its choice.
    Open mode (--insecure-gossip) is ZeroMQ's NULL mechanism with DEALERs
    keyed by address, as fakts-node had on trusted networks.

    Bounds, both modes: ZMQ_MAXMSGSIZE on every socket, so libzmq drops a
    connection that announces a frame over FK_MSG_MAX_SIZE (plus
    CurveZMQ's 33 octets of framing, in the secure mode) before it
    buffers it; at most FK_TRANSPORT_MAX_PEERS DEALERs, the least recently
    used closed first; small send queues that drop instead of blocking.

    A UDP socket on the same host and port answers the hello of nodes that
    hold the cluster secret (proto/fk_admit), when one is configured.

    Threads: created by fk_cluster_start, then owned by the cluster actor. */

#ifndef FK_TRANSPORT_H_INCLUDED
#define FK_TRANSPORT_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FK_TRANSPORT_MAX_PEERS 512 /* DEALERs open at once */
#define FK_TRANSPORT_KEY_LEN 32    /* a Curve25519 public key */

typedef struct fk_transport fk_transport_t;

typedef struct {
    const char *bind;            /* "host:port" (port 0: the kernel picks) */
    bool secure;                 /* CurveZMQ and ZAP (else the NULL mechanism) */
    const uint8_t *curve_public; /* our CurveZMQ keys (secure mode), 32 bytes each */
    const uint8_t *curve_secret;
    bool hello;                  /* bind the UDP hello socket too */
} fk_transport_opts_t;

/*  Bind the sockets. Returns 0 and the bound port in *port_p, or
    FK_ECONFIG (a bad address, or another ZAP handler in this process), or
    -errno (the address is in use). */
int fk_transport_new(fk_transport_t **self_p, const fk_transport_opts_t *opts, int *port_p);

/*  Close every socket; sets *self_p to NULL. Safe on NULL. */
void fk_transport_destroy(fk_transport_t **self_p);

/*  The sockets the actor polls: the ROUTER, the ZAP handler (NULL in open
    mode) and the UDP hello descriptor (-1 without one). */
zsock_t *fk_transport_router(fk_transport_t *self);
zsock_t *fk_transport_zap(fk_transport_t *self);
int fk_transport_hello_fd(fk_transport_t *self);

/*  The ZAP decision for a CURVE client key from address (the peer's IP):
    true lets the connection in. */
typedef bool (*fk_transport_allow_fn)(void *arg, const uint8_t key[FK_TRANSPORT_KEY_LEN],
                                      const char *address);

/*  Answer every waiting ZAP request (call when the ZAP socket, or its
    ZMQ_FD, is readable; returns at once when none waits): anything but a
    well-formed CURVE request, and any key allow refuses, gets 400. */
void fk_transport_zap_answer(fk_transport_t *self, fk_transport_allow_fn allow, void *arg);

/*  One message off the ROUTER. On 0: *identity_p is the connection's
    routing id (for fk_transport_reply; caller destroys), *payload_p the
    message frame (caller destroys), and in secure mode *keyed_p says
    whether the frame carries the User-Id our ZAP handler gave its
    connection, then key holds that client key. Returns -1 when there was
    nothing well-formed (a message of other than two frames is dropped). */
int fk_transport_recv(fk_transport_t *self, zframe_t **identity_p, zframe_t **payload_p,
                      uint8_t key[FK_TRANSPORT_KEY_LEN], bool *keyed_p);

/*  Send len bytes to member name at addr, whose CurveZMQ server key is
    server_key (secure mode; NULL in open mode, where the peer is keyed by
    addr and name is ignored). A peer whose address or key changed gets a
    fresh connection. Never blocks: a full queue drops the message. */
void fk_transport_send(fk_transport_t *self, const char *name, const char *addr,
                       const uint8_t *server_key, const void *buf, size_t len);

/*  Answer over the connection a message came in on (the admission
    handshake, before the peer is a member we may connect to). */
void fk_transport_reply(fk_transport_t *self, const zframe_t *identity, const void *buf,
                        size_t len);

/*  Close the connection to a peer (by name, or by address in open mode),
    e.g. a banned member's, or one stuck in reconnect backoff. */
void fk_transport_forget(fk_transport_t *self, const char *peer);

/*  DEALERs open now. */
size_t fk_transport_peers(const fk_transport_t *self);

/*  A fresh DEALER to addr for an admission handshake, as a CURVE client
    pinned to server_key: the caller polls it for the seed's answers and
    destroys it. NULL when it cannot connect (a malformed address). */
zsock_t *fk_transport_applicant(fk_transport_t *self, const char *addr,
                                const uint8_t server_key[FK_TRANSPORT_KEY_LEN]);

/*  Send len bytes as one UDP datagram to addr ("host:port"). Returns 0 or
    -1. */
int fk_transport_hello_send(fk_transport_t *self, const char *addr, const void *buf, size_t len);

/*  Read one waiting UDP datagram into buf (at most size bytes; longer ones
    are truncated and then refused by their decoder), with its sender's
    "host:port" in from (64 bytes). Returns its length, or -1. */
long fk_transport_hello_recv(fk_transport_t *self, void *buf, size_t size, char from[64]);

#endif
