/*  fk_peer - a hostile (or merely test) gossip peer, for security tests.

    A peer speaks to fakts-node agents the way anyone on the network can:
    raw ZeroMQ sockets and the project's own codecs (proto/fk_msg,
    fk_record, fk_admit; common/fk_sign), nothing from node/cluster. It
    can be three things, depending on how far the test takes it:

    - a stranger: a DEALER to a node's gossip address with the NULL
      mechanism (plaintext ZMTP) or CurveZMQ with a keypair of its own
      (zmq_curve_keypair), sending arbitrary bytes or built messages;
    - an applicant: it runs the admission handshake (PROTOCOL.md,
      "Admission") with the cluster secret (UDP hello for the seed's key,
      then ADMIT HELLO, CHALLENGE, PROOF, WELCOME) or with a join token,
      step by step if the test wants the bytes (a replay);
    - an admitted but malicious member: after WELCOME it holds an Ed25519
      key the cluster bound to its name, so it can sign records and claims
      and send whatever a member may send. It writes nothing anywhere.

    Every peer binds a ROUTER of its own on "host:0" (a 127.0.0.x the test
    picks; the kernel picks the port): its listener. In CurveZMQ mode it is
    a CURVE server with the peer's keypair, so once the peer is a member,
    the other nodes' DEALERs (pinned to the key its admission bound) reach
    it there, at the address its messages advertise. fk_peer_recv reads
    the listener and every DEALER, so a test sees anything a node sends
    back, over either path. The process holds no ZAP handler of its own,
    so the listener lets every CURVE client in (libzmq's default).

    Keys: fresh by default; opts.key_dir takes a node's node.key instead
    (a stolen key).

    Threads: not thread-safe; one test thread drives a peer. Allocation
    failure aborts. Nothing here uses Criterion: failures are return
    codes, so tests assert. */

#ifndef FK_PEER_H_INCLUDED
#define FK_PEER_H_INCLUDED

#include "fk_admit.h"
#include "fk_msg.h"
#include "fk_sign.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FK_PEER_KEY_LEN 32    /* a Curve25519 public key */
#define FK_PEER_MAX_LINKS 16  /* DEALERs one peer holds at once */
#define FK_PEER_ADMIT_MS 5000 /* how long the handshake waits for each answer */

typedef struct fk_peer fk_peer_t;

typedef struct {
    const char *name;      /* the node name its messages claim ("from"); required */
    const char *host;      /* the 127.0.0.x its listener binds (port 0); required */
    const char *advertise; /* the address its messages state, or NULL: the listener's */
    bool null_mechanism;   /* plaintext ZMTP (NULL mechanism); else CurveZMQ */
    const char *key_dir;   /* a data dir whose node.key it uses, or NULL for fresh keys */
} fk_peer_opts_t;

/*  Make a peer and bind its listener. Returns 0 and *self_p (caller
    destroys), FK_EINVAL_INPUT (a missing name or host), FK_ECONFIG (the
    key file cannot be read) or -errno (the listener cannot bind). */
int fk_peer_new(fk_peer_t **self_p, const fk_peer_opts_t *opts);

/*  Close every socket and wipe the keys; sets *self_p to NULL. Safe on
    NULL. */
void fk_peer_destroy(fk_peer_t **self_p);

/*  Its name, the address its messages state, the listener's own address
    ("host:port"), its public keys (borrowed). */
const char *fk_peer_name(const fk_peer_t *self);
const char *fk_peer_addr(const fk_peer_t *self);
const char *fk_peer_listen_addr(const fk_peer_t *self);
const uint8_t *fk_peer_curve_public(const fk_peer_t *self);
const fk_sign_key_t *fk_peer_signer(const fk_peer_t *self);

/*  The incarnation its messages state (starts at 1). */
uint64_t fk_peer_incarnation(const fk_peer_t *self);
void fk_peer_set_incarnation(fk_peer_t *self, uint64_t incarnation);

/*  The public keys in <data_dir>/node.key of a node (what its admission
    binds; either output may be NULL). Returns 0 or FK_ECONFIG. */
int fk_peer_node_keys(const char *data_dir, uint8_t curve_public[FK_PEER_KEY_LEN],
                      uint8_t sign_public[FK_SIGN_PUBLIC_LEN]);

/*  ---- sending -------------------------------------------------------- */

/*  Open (or keep) a DEALER to the gossip address addr. In CurveZMQ mode
    server_key pins the node's key (required); in NULL mode it is
    ignored. Connecting is asynchronous, as in ZeroMQ: the first frames
    queue until the connection is up. Returns 0, FK_ETOOBIG (too many
    links) or FK_EINVAL_INPUT. */
int fk_peer_connect(fk_peer_t *self, const char *addr, const uint8_t *server_key);

/*  What became of the connection to addr (libzmq's socket monitor). */
typedef enum {
    FK_PEER_LINK_PENDING = 0, /* no handshake finished yet, or no such link */
    FK_PEER_LINK_UP = 1,      /* a ZMTP handshake succeeded (the node let us in) */
    FK_PEER_LINK_REFUSED = 2  /* every handshake so far failed or was cut */
} fk_peer_link_t;

/*  Wait up to timeout_ms for the connection to addr to come up or be
    refused, and say which. Once up, it stays FK_PEER_LINK_UP. */
fk_peer_link_t fk_peer_link_state(fk_peer_t *self, const char *addr, int timeout_ms);

/*  Send len bytes as one frame over the DEALER to addr (connected
    before). Returns 0, FK_ENOTFOUND (no such link) or -EAGAIN (the queue
    is full). */
int fk_peer_send_raw(fk_peer_t *self, const char *addr, const void *buf, size_t len);

/*  A fresh message of type from this peer: its name, advertised address
    and incarnation, and the next sequence number. Caller sends or
    destroys it. */
fk_msg_t *fk_peer_msg(fk_peer_t *self, fk_msg_type_t type);

/*  Encode *msg_p, send it to addr and destroy it (always). Returns as
    fk_peer_send_raw, or the encoder's error. */
int fk_peer_send(fk_peer_t *self, const char *addr, fk_msg_t **msg_p);

/*  A record envelope (proto/fk_record): version, flags, the current wall
    clock, payload (NUL-terminated; NULL for a tombstone), signed as
    owner's record under key with signer, or unsigned when signer is NULL.
    Returns a fresh buffer (caller frees) of *len_p bytes. */
char *fk_peer_record(const fk_sign_key_t *signer, const char *owner, const char *key,
                     uint64_t version, uint32_t flags, const char *payload, size_t *len_p);

/*  A DELTA from this peer carrying one record of owner under key, in a
    range that starts after version from (the digest entry (owner, from)
    every DELTA names its ranges with). Caller sends or destroys it. */
fk_msg_t *fk_peer_delta(fk_peer_t *self, const char *owner, uint64_t from, const char *key,
                        const void *record, size_t len);

/*  ---- receiving ------------------------------------------------------ */

/*  Wait up to timeout_ms for one frame from any node, on the listener or
    over any DEALER. Returns 1 when one arrived (then *msg_p is the decoded
    message, caller destroys, or NULL when it did not decode; msg_p may be
    NULL to discard), 0 when none did. */
int fk_peer_recv(fk_peer_t *self, int timeout_ms, fk_msg_t **msg_p);

/*  Wait up to timeout_ms for a message of type (and sequence seq, unless
    seq is 0; and sender from, unless from is NULL), dropping every other
    frame. Returns it (caller destroys) or NULL at the deadline. */
fk_msg_t *fk_peer_await(fk_peer_t *self, fk_msg_type_t type, uint64_t seq, const char *from,
                        int timeout_ms);

/*  Count the frames that arrive within ms, dropping them: 0 is silence. */
size_t fk_peer_count_frames(fk_peer_t *self, int ms);

/*  Send a PING to addr and wait up to timeout_ms for its ACK. Since a
    node handles one connection's frames in order, the ACK also says that
    everything sent before it over this link was handled: a barrier.
    Returns true when the ACK came. */
bool fk_peer_ping(fk_peer_t *self, const char *addr, int timeout_ms);

/*  ---- admission ------------------------------------------------------ */

/*  The UDP hello (R-ADMIT-012): ask the node whose gossip address is addr
    for its CurveZMQ key, proving the cluster secret. Returns 0 with the
    key in server_key, or -ETIMEDOUT without a valid reply. */
int fk_peer_hello(fk_peer_t *self, const char *addr, const uint8_t secret[FK_ADMIT_SECRET_LEN],
                  uint8_t server_key[FK_PEER_KEY_LEN], int timeout_ms);

/*  Start an admission at the seed at addr, whose key is server_key: send
    HELLO (method FK_ADMIT_SECRET, or FK_ADMIT_TOKEN with token_id) and
    wait for CHALLENGE. secret (the cluster's or the token's) is kept for
    the proofs. Returns 0, FK_EDENIED with the seed's reason in why (may
    be NULL), or -ETIMEDOUT. */
int fk_peer_admit_begin(fk_peer_t *self, const char *addr,
                        const uint8_t server_key[FK_PEER_KEY_LEN], fk_admit_method_t method,
                        const uint8_t *token_id, const uint8_t secret[FK_ADMIT_SECRET_LEN],
                        char *why, size_t whylen);

/*  The PROOF message that answers the challenge begun at addr, encoded
    (caller frees *buf_p): the bytes a replay test captures. Returns 0, or
    FK_ENOTFOUND when no challenge came from addr. */
int fk_peer_admit_proof(fk_peer_t *self, const char *addr, char **buf_p, size_t *len_p);

/*  Send proof (any bytes: the peer's own PROOF, or a captured one) to
    addr and wait for the answer. WELCOME counts only with the seed's
    valid proof (R-ADMIT-007) for the handshake begun at addr. Returns 0
    (admitted), FK_EDENIED with the reason in why (REFUSED, or a WELCOME
    whose proof fails), or -ETIMEDOUT. */
int fk_peer_admit_finish(fk_peer_t *self, const char *addr, const void *proof, size_t len,
                         char *why, size_t whylen);

/*  The whole handshake with the cluster secret in secret_file (as
    `fakts-node keygen --cluster-secret` writes it): hello, begin, proof,
    finish. Returns as fk_peer_admit_finish, or FK_ECONFIG for an
    unreadable secret. */
int fk_peer_admit_secret(fk_peer_t *self, const char *addr, const char *secret_file, char *why,
                         size_t whylen);

/*  The whole handshake with a join token (it names the seed's key).
    Returns as fk_peer_admit_finish, or FK_EINVAL_INPUT for a malformed
    token. */
int fk_peer_admit_token(fk_peer_t *self, const char *addr, const char *token, char *why,
                        size_t whylen);

/*  ---- an oversize frame --------------------------------------------- */

/*  What fk_peer_oversize saw. */
typedef struct {
    bool handshake;  /* the ZMTP handshake completed (READY came) */
    uint64_t sent;   /* body octets the node accepted after the header */
    bool dropped;    /* the node closed the connection before all were sent */
    int64_t took_ms; /* from the header to the end */
} fk_peer_oversize_t;

/*  Called every few MiB while the body streams, with the octets sent. */
typedef void (*fk_peer_progress_fn)(void *arg, uint64_t sent);

/*  Open a connection to addr through a relay of the peer's own, let this
    peer's mechanism (CurveZMQ pinned to server_key, or NULL) complete the
    ZMTP handshake through it, then take the connection over and write one
    frame header declaring a body of declared octets, followed by up to
    body octets of it, until the node closes the connection or timeout_ms
    pass. progress (may be NULL) is called as the body streams. Returns 0
    and fills *out, or -ETIMEDOUT when the handshake did not complete
    (out->handshake false), or -errno. */
int fk_peer_oversize(fk_peer_t *self, const char *addr, const uint8_t *server_key,
                     uint64_t declared, uint64_t body, int timeout_ms, fk_peer_progress_fn progress,
                     void *arg, fk_peer_oversize_t *out);

#endif
