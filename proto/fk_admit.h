/*  fk_admit - the wire formats of admission: how a node becomes a member.

    A node joins a cluster by proving, to a member it reaches (the seed),
    that it holds a secret: a join token's secret (one token, printed by
    `join-token create` on a member) or the cluster secret (a file every
    node of an automated install reads). The secret itself never travels.
    This module holds the four formats involved; it does no I/O and keeps
    no state, and the handshake's logic belongs to the cluster layer. The
    formats and their requirements (R-ADMIT-001 ...) are in
    proto/PROTOCOL.md, section "Admission".

    1. The ADMIT body (fk_admit_t, fk_admit_encode/decode): the body of an
       fk_msg of type FK_MSG_ADMIT, one step of the handshake
           joiner -> seed   HELLO      method, token id, joiner's signing key
           seed -> joiner   CHALLENGE  seed's nonce
           joiner -> seed   PROOF      joiner's nonce, joiner's proof
           seed -> joiner   WELCOME    seed's signing key, seed's proof
           seed -> joiner   REFUSED    a reason, at any point
       over a CURVE connection, so both CURVE public keys are known to
       both sides from the transport.
    2. The proofs (fk_admit_proof): HMAC-SHA256 under the secret over both
       nonces, both CURVE keys, the prover's signing key, name and address,
       and which side proves. A proof is bound to one connection and one
       pair of fresh nonces, so it can be neither replayed nor relayed.
    3. The UDP hello (fk_admit_hello_*): how a node holding the cluster
       secret learns a seed's CURVE public key before it can open a CURVE
       connection to it. Fixed 85-octet datagrams, requests and replies the
       same size, so a reply never amplifies a spoofed request.
    4. Join tokens (fk_admit_token_*): "fkj1." and base64url of the seed's
       CURVE public key, a token id and the token's secret.

    Threads: every function is reentrant and thread-safe. Decoders never
    trust their input and never assert on it; misuse (a NULL pointer where
    the contract forbids one) is asserted. Allocation failure aborts.

    Caveats:
    - A token holds a secret: print it for the operator, never log it.
    - fk_admit_decode checks the shape of a step, not whether it is the
      step the handshake expects next: that is the caller's state machine.
    - Proofs compare with fk_admit_proof_equal (constant time), never
      memcmp. */

#ifndef FK_ADMIT_H_INCLUDED
#define FK_ADMIT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fk_sign.h"

/*  Lengths, in octets (R-ADMIT-002). */
#define FK_ADMIT_TOKEN_ID_LEN 16  /* a join token's id */
#define FK_ADMIT_NONCE_LEN 32     /* a handshake nonce, fresh from a CSPRNG */
#define FK_ADMIT_PROOF_LEN 32     /* an HMAC-SHA256 proof */
#define FK_ADMIT_SECRET_LEN 32    /* a token secret or the cluster secret */
#define FK_ADMIT_MAX_REASON 200   /* a REFUSED step's reason, without NUL */
#define FK_ADMIT_CURVE_KEY_LEN 32 /* a CurveZMQ (Curve25519) public key */

/*  The steps of the handshake, in order; the wire values (R-ADMIT-003). */
typedef enum {
    FK_ADMIT_HELLO = 1,     /* joiner: method, token id, its signing key */
    FK_ADMIT_CHALLENGE = 2, /* seed: its nonce */
    FK_ADMIT_PROOF = 3,     /* joiner: its nonce and proof */
    FK_ADMIT_WELCOME = 4,   /* seed: its signing key and proof */
    FK_ADMIT_REFUSED = 5    /* seed: why not */
} fk_admit_step_t;

/*  What the joiner proves it holds (HELLO only; FK_ADMIT_NONE elsewhere). */
typedef enum {
    FK_ADMIT_NONE = 0,  /* not a HELLO */
    FK_ADMIT_TOKEN = 1, /* a join token's secret; token_id names the token */
    FK_ADMIT_SECRET = 2 /* the cluster secret */
} fk_admit_method_t;

/*  One ADMIT body: a transparent by-value struct that owns nothing. Each
    step uses some fields and leaves every other one empty (has_* false,
    method FK_ADMIT_NONE, reason ""), which both encode and decode enforce
    (R-ADMIT-004 ... R-ADMIT-008):

      step       method          token_id  sign_pub  nonce  proof  reason
      HELLO      TOKEN / SECRET  16 / -    32        -      -      ""
      CHALLENGE  NONE            -         -         32     -      ""
      PROOF      NONE            -         -         32     32     ""
      WELCOME    NONE            -         32        -      32     ""
      REFUSED    NONE            -         -         -      -      1..200

    A field's bytes are meaningful only when its has_* is set; decode
    zeroes the others. */
typedef struct {
    fk_admit_step_t step;                    /* which step this is */
    fk_admit_method_t method;                /* HELLO: TOKEN or SECRET; else NONE */
    bool has_token_id;                       /* HELLO with TOKEN */
    uint8_t token_id[FK_ADMIT_TOKEN_ID_LEN]; /* the token's id, not its secret */
    bool has_sign_pub;                       /* HELLO (joiner's) and WELCOME (seed's) */
    uint8_t sign_pub[FK_SIGN_PUBLIC_LEN];    /* the sender's Ed25519 public key */
    bool has_nonce;                          /* CHALLENGE (seed's) and PROOF (joiner's) */
    uint8_t nonce[FK_ADMIT_NONCE_LEN];       /* the sender's fresh nonce */
    bool has_proof;                          /* PROOF and WELCOME */
    uint8_t proof[FK_ADMIT_PROOF_LEN];       /* fk_admit_proof() of the sender */
    char reason[FK_ADMIT_MAX_REASON + 1];    /* REFUSED: 1..200 octets, NUL-terminated; else "" */
} fk_admit_t;

/*  Encode *in into a fresh buffer: the canonical MessagePack array of seven
    (R-ADMIT-001). On success *buf_p owns the encoding (the caller releases
    it with free()) and *len_p is its length.

    Returns 0, or FK_EINVAL_INPUT when *in is a shape its step forbids: an
    unknown step or method, a field the step needs missing or one it does
    not use present, a reason that is not NUL-terminated within
    FK_ADMIT_MAX_REASON + 1 bytes, or an empty reason on REFUSED. On
    failure *buf_p is NULL and *len_p is 0. in, buf_p and len_p must not be
    NULL (asserted). Aborts on OOM. */
int fk_admit_encode(const fk_admit_t *in, char **buf_p, size_t *len_p);

/*  Decode one ADMIT body from untrusted bytes [data, data + len), such as
    an FK_MSG_ADMIT message's body. The bytes are pre-scanned (fk_prescan)
    and the outer array's count checked before msgpack-c sees them, so no
    input makes the decoder allocate more than a small constant. Integers
    are accepted in every MessagePack width, and bin and str in every form
    (R-ADMIT-009), so decode(encode(a)) == a but encode(decode(b)) need not
    equal b.

    Returns 0, or FK_EPROTO_MALFORMED for anything that is not exactly one
    array of seven fields of the right types whose shape its step allows
    (R-ADMIT-001 ... R-ADMIT-010), truncated input and trailing bytes
    included. On failure *out is zeroed. data may be NULL when len is 0
    (malformed). out must not be NULL (asserted). */
int fk_admit_decode(const void *data, size_t len, fk_admit_t *out);

/*  Compute a handshake proof into out (R-ADMIT-011): HMAC-SHA256 (RFC 2104)
    keyed with secret over
        "fakts-node admit v1 seed" NUL      (seed true)
     or "fakts-node admit v1 joiner" NUL    (seed false),
        seed_nonce, joiner_nonce, curve_self, sign_self, curve_peer,
        name_self NUL, addr_self NUL
    where "self" is the prover and "peer" the side that checks: the joiner
    proves with seed false, the seed with seed true, and each checks the
    other's proof by computing it with the other's values. secret is the
    token's secret (method TOKEN) or the cluster secret (method SECRET).
    name_self and addr_self are NUL-terminated (the prover's node name and
    gossip address); no pointer may be NULL (asserted). Aborts only if
    OpenSSL fails. */
void fk_admit_proof(const uint8_t secret[FK_ADMIT_SECRET_LEN], bool seed,
                    const uint8_t seed_nonce[FK_ADMIT_NONCE_LEN],
                    const uint8_t joiner_nonce[FK_ADMIT_NONCE_LEN],
                    const uint8_t curve_self[FK_ADMIT_CURVE_KEY_LEN],
                    const uint8_t sign_self[FK_SIGN_PUBLIC_LEN],
                    const uint8_t curve_peer[FK_ADMIT_CURVE_KEY_LEN], const char *name_self,
                    const char *addr_self, uint8_t out[FK_ADMIT_PROOF_LEN]);

/*  True when the two proofs are equal, compared in time independent of
    where they differ (CRYPTO_memcmp), so a forger learns nothing from
    timing. */
bool fk_admit_proof_equal(const uint8_t a[FK_ADMIT_PROOF_LEN], const uint8_t b[FK_ADMIT_PROOF_LEN]);

/*  The UDP hello (R-ADMIT-012 ... R-ADMIT-015). Both datagrams are exactly
    FK_ADMIT_HELLO_LEN octets:
        request  "FKH1" %x01 nonce(16) zero(32)      mac(32)
        reply    "FKH1" %x02 nonce(16) curve_pub(32) mac(32)
    with mac = HMAC-SHA256(secret, "fakts-node hello request" NUL || nonce)
    for a request and HMAC-SHA256(secret, "fakts-node hello reply" NUL ||
    nonce || curve_pub) for a reply; secret is the cluster secret. Only a
    holder of the secret can ask (a seed answers nobody else) or answer (a
    joiner believes nobody else), and the nonce ties a reply to its
    request. */
#define FK_ADMIT_HELLO_LEN 85
#define FK_ADMIT_HELLO_NONCE_LEN 16

/*  Write a request for nonce (fresh from a CSPRNG, kept to read the reply)
    into out. No pointer may be NULL (asserted). */
void fk_admit_hello_request(const uint8_t secret[FK_ADMIT_SECRET_LEN],
                            const uint8_t nonce[FK_ADMIT_HELLO_NONCE_LEN],
                            uint8_t out[FK_ADMIT_HELLO_LEN]);

/*  Write the reply to the request that carried nonce, telling curve_pub,
    into out. No pointer may be NULL (asserted). */
void fk_admit_hello_reply(const uint8_t secret[FK_ADMIT_SECRET_LEN],
                          const uint8_t nonce[FK_ADMIT_HELLO_NONCE_LEN],
                          const uint8_t curve_pub[FK_ADMIT_CURVE_KEY_LEN],
                          uint8_t out[FK_ADMIT_HELLO_LEN]);

/*  Read an untrusted datagram as a request. Returns 0 and copies its nonce
    into nonce when data is a request whose mac verifies under secret; or
      FK_EPROTO_MALFORMED  len is not FK_ADMIT_HELLO_LEN, the magic is not
                           "FKH1", the kind is not %x01, or the 32 octets
                           after the nonce are not all zero;
      FK_EDENIED           the mac does not verify (another secret, or
                           tampered).
    nonce is written only on success. data may be NULL when len is 0. */
int fk_admit_hello_read_request(const uint8_t secret[FK_ADMIT_SECRET_LEN], const void *data,
                                size_t len, uint8_t nonce[FK_ADMIT_HELLO_NONCE_LEN]);

/*  Read an untrusted datagram as the reply to the request that carried
    nonce. Returns 0 and copies the seed's CURVE key into curve_pub when
    data is a reply to nonce whose mac verifies under secret; or
      FK_EPROTO_MALFORMED  len is not FK_ADMIT_HELLO_LEN, the magic is not
                           "FKH1" or the kind is not %x02;
      FK_EDENIED           the reply answers another nonce, or its mac
                           does not verify.
    curve_pub is written only on success. data may be NULL when len is 0. */
int fk_admit_hello_read_reply(const uint8_t secret[FK_ADMIT_SECRET_LEN],
                              const uint8_t nonce[FK_ADMIT_HELLO_NONCE_LEN], const void *data,
                              size_t len, uint8_t curve_pub[FK_ADMIT_CURVE_KEY_LEN]);

/*  Join tokens (R-ADMIT-016 ... R-ADMIT-018): FK_ADMIT_TOKEN_PREFIX and
    base64url without padding (RFC 4648, section 5) of the 80 octets
    seed_curve || id || secret; FK_ADMIT_TOKEN_TEXT_LEN characters in all. */
#define FK_ADMIT_TOKEN_PREFIX "fkj1."
#define FK_ADMIT_TOKEN_TEXT_LEN 112 /* 5 + 107, without NUL */

/*  A decoded join token: a transparent by-value struct. secret is a
    secret: wipe it (OPENSSL_cleanse) when done. */
typedef struct {
    uint8_t seed_curve[FK_ADMIT_CURVE_KEY_LEN]; /* the issuing seed's CURVE public key (pinned) */
    uint8_t id[FK_ADMIT_TOKEN_ID_LEN];          /* names the token in HELLO; not secret */
    uint8_t secret[FK_ADMIT_SECRET_LEN];        /* keys the proofs; never sent */
} fk_admit_token_t;

/*  The text of *token, a fresh NUL-terminated string (caller frees; it
    holds the secret, so wipe it first). token must not be NULL (asserted).
    Never returns NULL (aborts on OOM). */
char *fk_admit_token_encode(const fk_admit_token_t *token);

/*  Decode a token from text an operator pasted (an argument, an
    environment variable, a config value). Leading and trailing
    whitespace (space, tab, CR, LF, VT, FF) is ignored; everything else
    must be exactly FK_ADMIT_TOKEN_PREFIX and 107 base64url characters
    that encode 80 octets canonically (R-ADMIT-017).

    Returns 0, or FK_EINVAL_INPUT ("not a join token") for anything else,
    NULL text included. On failure *out is zeroed. out must not be NULL
    (asserted). */
int fk_admit_token_decode(const char *text, fk_admit_token_t *out);

#endif
