/*  fk_msg - the codec of the cluster plane's messages.

    Nodes talk to each other in single ZeroMQ frames, one message per frame:
    SWIM membership (PING, ACK, PING_REQ, JOIN, LEAVE), Scuttlebutt
    replication (DIGEST, DELTA), request/reply (REQUEST, REPLY) and the
    admission handshake (ADMIT, whose body is proto/fk_admit). Every
    message has the same shape, a MessagePack array of thirteen fields, so
    the decoder has one path; fields a type does not use are empty. The wire
    format and its requirements (R-MSG-001 ...) are in proto/PROTOCOL.md,
    section "Gossip messages".

    A message is built field by field (fk_msg_new, fk_msg_set_*,
    fk_msg_add_*), encoded into a fresh buffer (fk_msg_encode), or decoded
    from untrusted bytes (fk_msg_decode). The codec does no I/O.

    Ownership: a message owns copies of every string and byte range it holds.
    Accessors return borrowed pointers into the message, valid until it is
    destroyed; they are never invalidated by later fk_msg_set_* or
    fk_msg_add_* calls, except that fk_msg_members(), fk_msg_digests() and
    fk_msg_deltas() return arrays that a later add of the same kind may move.

    Threads: the module keeps no global state. Distinct messages may be used
    from different threads at once; one message must not be changed while
    another thread reads it. Decoding never trusts its input: every failure
    returns an FK_E* code, never asserts. Misuse (NULL self, an invalid type
    to fk_msg_new) is asserted. Allocation failure aborts (fk_mem).

    Caveats:
    - Names, addresses and keys are byte strings without NUL. The codec
      checks lengths only; it does not check UTF-8, address syntax or
      duplicate entries, which belong to the layers that interpret them.
    - A delta's record is carried opaque. The receiver decodes it with
      fk_record_decode() before trusting it.
    - A member's claim is carried, never checked: the codec has no keys.
      The cluster layer checks it with fk_msg_claim_verify() against the
      public key admission bound to the member's name before it believes
      the entry.
    - Version 2 changed the member entry; version 1 frames are refused with
      FK_EPROTO_VERSION, so every node of a cluster upgrades together. */

#ifndef FK_MSG_H_INCLUDED
#define FK_MSG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fk_record.h"
#include "fk_sign.h"

/*  The first two fields of every message: a signature that tells a fakts
    cluster frame from anything else, and the protocol version this codec
    speaks (R-MSG-003, R-MSG-004). Version 2 made every member entry six
    elements with an owner-signed claim (R-MSG-009, R-MSG-022) and added
    ADMIT; version 1 frames are refused with FK_EPROTO_VERSION. */
#define FK_MSG_MAGIC 0xFA4Bu
#define FK_MSG_VERSION 2u

/*  Limits (R-MSG-002, R-MSG-006 ... R-MSG-012). Strings are counted in
    bytes, without a terminating NUL. */

/*  The whole encoded message, 4 MiB: larger frames are refused unread. */
#define FK_MSG_MAX_SIZE ((size_t)4 << 20)

/*  The size, 256 KiB, senders fill a DELTA up to (see fk_msg_add_delta). */
#define FK_MSG_CHUNK_TARGET ((size_t)256 << 10)

/*  Entries per list. */
#define FK_MSG_MAX_MEMBERS 1024u
#define FK_MSG_MAX_DIGESTS 4096u
#define FK_MSG_MAX_DELTAS 4096u

/*  A node name (from, target, member, owner), a gossip address
    ("host:port") and a delta's key: the key limit is the store's. */
#define FK_MSG_MAX_NAME 128u
#define FK_MSG_MAX_ADDR 255u
#define FK_MSG_MAX_KEY 480u

/*  A delta's record: an fk_record envelope, whose encoding is at most its
    payload plus 106 bytes (a signed record in the longest form a decoder
    accepts, PROTOCOL.md "Records"); 128 leaves room. */
#define FK_MSG_MAX_RECORD (FK_RECORD_MAX_PAYLOAD + 128)

/*  The body, 256 KiB. */
#define FK_MSG_MAX_BODY ((size_t)256 << 10)

/*  A member's status on the wire (R-MSG-009). The values are those of
    fk_member_status_t in node/membership, which this layer cannot include. */
#define FK_MSG_STATUS_ALIVE 0u   /* answering */
#define FK_MSG_STATUS_SUSPECT 1u /* missed a probe, not yet declared failed */
#define FK_MSG_STATUS_FAILED 2u  /* declared failed */
#define FK_MSG_STATUS_LEFT 3u    /* left gracefully */

/*  The message types: symbol, wire value, meaning. One list yields the
    enum and fk_msg_type_name(), so they cannot disagree. Wire values are
    fixed forever; new types take new values (R-MSG-005). */
#define FK_MSG_TYPE_MAP(XX)                                                                        \
    XX(PING, 1, "SWIM probe: are you alive?")                                                      \
    XX(ACK, 2, "answer to a PING, direct or forwarded; same seq")                                  \
    XX(PING_REQ, 3, "ask the receiver to probe target for the sender")                             \
    XX(DIGEST, 4, "Scuttlebutt: highest version held per owner")                                   \
    XX(DELTA, 5, "Scuttlebutt: records newer than the peer's digest")                              \
    XX(JOIN, 6, "a node announces itself and asks for the member list")                            \
    XX(LEAVE, 7, "a node leaves the cluster gracefully")                                           \
    XX(REQUEST, 8, "a request carried in body")                                                    \
    XX(REPLY, 9, "the reply to a REQUEST, matched by seq")                                         \
    XX(ADMIT, 10, "admission handshake step, carried in body (fk_admit)")

typedef enum {
#define FK_MSG_TYPE_ENUM(name, value, what) FK_MSG_##name = (value),
    FK_MSG_TYPE_MAP(FK_MSG_TYPE_ENUM)
#undef FK_MSG_TYPE_ENUM
} fk_msg_type_t;

/*  One member as gossiped (SWIM): a by-value view. In a message's own
    arrays the strings belong to the message. On the wire every entry has
    all six fields (R-MSG-009).

    accuser is optional: the node that first suspected the member, so
    receivers count Lifeguard confirmations per accuser rather than per
    relaying node. It is meaningful only with status FK_MSG_STATUS_SUSPECT;
    the codec carries it with any status and leaves ignoring it to the
    cluster layer. NULL means none and travels as an empty str, which
    decodes to NULL again.

    claim is optional: the member's own Ed25519 signature, made with
    fk_msg_claim_sign() by the member itself, over its name, address and
    incarnation, and whether it is leaving (R-MSG-022). Any node can relay
    it, nobody else can make it: for status FK_MSG_STATUS_LEFT the claim is
    the member's "I am leaving at this incarnation", for every other status
    its "I am alive at this incarnation at this address". has_claim false
    travels as an empty bin; claim[] is then ignored by the builder and
    zero in decoded messages. */
typedef struct {
    const char *name;           /* node name, 1 .. FK_MSG_MAX_NAME bytes */
    const char *addr;           /* its gossip address, 1 .. FK_MSG_MAX_ADDR bytes */
    uint8_t status;             /* FK_MSG_STATUS_ALIVE .. FK_MSG_STATUS_LEFT */
    uint64_t incarnation;       /* the member's incarnation the status is about */
    const char *accuser;        /* NULL, or the accuser's node name, 1 .. FK_MSG_MAX_NAME bytes */
    bool has_claim;             /* claim holds the member's signature */
    uint8_t claim[FK_SIGN_LEN]; /* the member's claim (fk_msg_claim_sign), when has_claim */
} fk_msg_member_t;

/*  One digest entry (Scuttlebutt): "I hold owner's records up to version". */
typedef struct {
    const char *owner; /* owner node name, 1 .. FK_MSG_MAX_NAME bytes */
    uint64_t version;  /* highest version held; 0 means none */
} fk_msg_digest_t;

/*  One delta entry: a record of owner's under key, carried opaque. */
typedef struct {
    const char *owner;  /* owner node name, 1 .. FK_MSG_MAX_NAME bytes */
    const char *key;    /* record key, 1 .. FK_MSG_MAX_KEY bytes */
    const void *record; /* fk_record envelope bytes, not decoded by this codec */
    size_t record_len;  /* 1 .. FK_MSG_MAX_RECORD */
} fk_msg_delta_t;

/*  A message: opaque. */
typedef struct fk_msg fk_msg_t;

/*  Create a message of the given type from the sender from (its node name,
    1 .. FK_MSG_MAX_NAME bytes), reachable at from_addr (1 .. FK_MSG_MAX_ADDR
    bytes), at the sender's incarnation. Both strings are copied. seq and
    flags start at 0; there is no target, no entry and an empty body.

    A type outside FK_MSG_TYPE_MAP, a NULL or empty string, or one over its
    limit is a programming error and is asserted: callers pass their own
    configuration here, never wire input. Never returns NULL (aborts on
    OOM). The caller destroys the message. */
fk_msg_t *fk_msg_new(fk_msg_type_t type, const char *from, const char *from_addr,
                     uint64_t incarnation);

/*  Destroy a message and everything it owns, and set *self_p to NULL.
    Safe on NULL and on a pointer to NULL. */
void fk_msg_destroy(fk_msg_t **self_p);

/*  Set the sequence number: the sender's counter, echoed by ACK and REPLY
    so the sender can match answers to questions. */
void fk_msg_set_seq(fk_msg_t *self, uint64_t seq);

/*  Set the flags. The codec carries them unchanged; their meaning belongs
    to the cluster layer (version 2 defines none). */
void fk_msg_set_flags(fk_msg_t *self, uint32_t flags);

/*  Set the target (the member a PING_REQ asks to have probed, or that a
    forwarded ACK speaks for), copying both strings; or clear it when both
    are NULL. Otherwise both must be valid (1 .. FK_MSG_MAX_NAME and
    1 .. FK_MSG_MAX_ADDR bytes), which is asserted. Earlier copies are
    released with the message, not before. */
void fk_msg_set_target(fk_msg_t *self, const char *name, const char *addr);

/*  Append a copy of *member to the members list, its claim included when
    has_claim is set. The claim is not checked here (the codec has no
    keys).

    Returns 0, or
      FK_EINVAL_INPUT  name or addr is NULL, empty or over its limit,
                       accuser is not NULL but empty or over
                       FK_MSG_MAX_NAME, or status is above
                       FK_MSG_STATUS_LEFT;
      FK_ETOOBIG       valid, but the list already holds FK_MSG_MAX_MEMBERS
                       entries or the encoding would pass FK_MSG_MAX_SIZE.
    On failure the message is unchanged. member must not be NULL
    (asserted). */
int fk_msg_add_member(fk_msg_t *self, const fk_msg_member_t *member);

/*  Append the digest entry (owner, version), copying owner.

    Returns 0, or
      FK_EINVAL_INPUT  owner is NULL, empty or over FK_MSG_MAX_NAME;
      FK_ETOOBIG       valid, but the list already holds FK_MSG_MAX_DIGESTS
                       entries or the encoding would pass FK_MSG_MAX_SIZE.
    On failure the message is unchanged. */
int fk_msg_add_digest(fk_msg_t *self, const char *owner, uint64_t version);

/*  Append the delta entry (owner, key, record), copying all three. record
    is an fk_record envelope of len bytes; it is not decoded here.

    Senders fill a DELTA up to FK_MSG_CHUNK_TARGET: once the message holds
    a delta, an add that would make fk_msg_encoded_size() exceed
    FK_MSG_CHUNK_TARGET is refused, and the caller sends what it has and
    starts the next message. The first delta is always accepted when it
    fits FK_MSG_MAX_SIZE, so a single record larger than the target still
    travels, alone (R-MSG-021).

    Returns 0, or
      FK_EINVAL_INPUT  owner or key is NULL, empty or over its limit, or
                       record is NULL or len is 0;
      FK_ETOOBIG       valid, but len exceeds FK_MSG_MAX_RECORD, the list
                       already holds FK_MSG_MAX_DELTAS entries, or the
                       encoding would pass the chunk target (see above) or
                       FK_MSG_MAX_SIZE.
    On failure the message is unchanged. */
int fk_msg_add_delta(fk_msg_t *self, const char *owner, const char *key, const void *record,
                     size_t len);

/*  Replace the body with a copy of len bytes at body; len 0 empties it
    (body may then be NULL). Earlier copies are released with the message.

    Returns 0, or
      FK_EINVAL_INPUT  body is NULL and len is not 0;
      FK_ETOOBIG       len exceeds FK_MSG_MAX_BODY, or the encoding would
                       pass FK_MSG_MAX_SIZE.
    On failure the message is unchanged. */
int fk_msg_set_body(fk_msg_t *self, const void *body, size_t len);

/*  The exact number of bytes fk_msg_encode() would produce now: not an
    upper bound. Constant time. */
size_t fk_msg_encoded_size(const fk_msg_t *self);

/*  Encode the message into a fresh buffer. On success *buf_p owns the
    encoding (the caller releases it with free()) and *len_p is its length,
    equal to fk_msg_encoded_size(). The encoding is canonical (R-MSG-015):
    equal messages encode to equal bytes.

    Returns 0, or FK_ETOOBIG when the encoding would pass FK_MSG_MAX_SIZE.
    A message built with this API from fk_msg_new() cannot get there (the
    adders refuse first); one that was decoded near the limit can, when
    fk_msg_set_seq(), fk_msg_set_flags() or fk_msg_set_target() lengthen
    it. On failure *buf_p is NULL and *len_p is 0. Aborts on OOM. buf_p and
    len_p must not be NULL (asserted). */
int fk_msg_encode(const fk_msg_t *self, char **buf_p, size_t *len_p);

/*  Decode one message from untrusted bytes [data, data + len).

    In order: a frame over FK_MSG_MAX_SIZE is refused unread; the bytes are
    pre-scanned (fk_prescan) and their container elements counted before
    msgpack-c sees them, so no input makes the decoder allocate more than a
    small multiple of the largest valid message; the signature and version
    are checked before the rest of the shape. Every field is then checked:
    string lengths and no NUL, statuses, counts, the exact array shapes,
    and that the message spans the whole input (R-MSG-001 ... R-MSG-019).

    All or nothing: on success *msg_p is a new message (the caller destroys
    it) holding copies of every string, record and the body; it does not
    refer to data, which may be freed at once. Integers are accepted in any
    MessagePack width that holds the value, so decode(encode(m)) == m but
    encode(decode(b)) need not equal b.

    Returns 0, or
      FK_ETOOBIG           len exceeds FK_MSG_MAX_SIZE;
      FK_EPROTO_MAGIC      the input is not an array whose first element is
                           the unsigned integer FK_MSG_MAGIC;
      FK_EPROTO_VERSION    the version is an unsigned integer other than
                           FK_MSG_VERSION;
      FK_EPROTO_MALFORMED  anything else: truncated or empty input,
                           trailing bytes, a field of the wrong type, shape
                           or length, an unknown type, a bad status, or a
                           list over its limit.
    On failure *msg_p is NULL. data may be NULL when len is 0 (malformed).
    msg_p must not be NULL (asserted). */
int fk_msg_decode(const void *data, size_t len, fk_msg_t **msg_p);

/*  Accessors. self must not be NULL (asserted). Strings are borrowed and
    NUL-terminated, valid while the message lives. */
fk_msg_type_t fk_msg_type(const fk_msg_t *self);
const char *fk_msg_from(const fk_msg_t *self);
const char *fk_msg_from_addr(const fk_msg_t *self);
uint64_t fk_msg_incarnation(const fk_msg_t *self);
uint64_t fk_msg_seq(const fk_msg_t *self);
uint32_t fk_msg_flags(const fk_msg_t *self);

/*  The target's name and address, or NULL when the message has none. */
const char *fk_msg_target_name(const fk_msg_t *self);
const char *fk_msg_target_addr(const fk_msg_t *self);

/*  The lists, in the order the entries were added or decoded. Each returns
    the array and sets *count_p to its length; the array is NULL when the
    list is empty. The array and its strings are borrowed: valid while the
    message lives and, for the array itself, until the next add to the same
    list. count_p must not be NULL (asserted). */
const fk_msg_member_t *fk_msg_members(const fk_msg_t *self, size_t *count_p);
const fk_msg_digest_t *fk_msg_digests(const fk_msg_t *self, size_t *count_p);
const fk_msg_delta_t *fk_msg_deltas(const fk_msg_t *self, size_t *count_p);

/*  The body and its length in *len_p; NULL (and 0) when it is empty.
    Borrowed, valid until the message is destroyed. len_p must not be NULL
    (asserted). */
const void *fk_msg_body(const fk_msg_t *self, size_t *len_p);

/*  The symbol of a message type without its prefix ("PING", "PING_REQ"),
    or "UNKNOWN" for a value outside FK_MSG_TYPE_MAP. Static; never NULL. */
const char *fk_msg_type_name(fk_msg_type_t type);

/*  Member claims (R-MSG-022): what a node signs about itself, so that any
    member can relay it but nobody else can forge it. The signed bytes are
        "fakts-node member claim v1" NUL, name NUL, addr NUL,
        incarnation (8 octets, big-endian), leaving (1 octet: 1 or 0)
    where leaving is true for the claim behind status FK_MSG_STATUS_LEFT
    ("I am leaving at this incarnation") and false for the claim behind
    every other status ("I am alive at this incarnation at this address").
    name and addr are NUL-terminated; they are signed as given, whatever
    their length.

    Sign with the member's own key into sig. name, addr, key and sig must
    not be NULL (asserted: a node signs only its own configuration).
    Returns 0, or FK_ECRYPTO when OpenSSL fails to sign. Thread-safe. */
int fk_msg_claim_sign(const char *name, const char *addr, uint64_t incarnation, bool leaving,
                      const fk_sign_key_t *key, uint8_t sig[FK_SIGN_LEN]);

/*  True when sig is the claim (name, addr, incarnation, leaving) signed
    with the secret half of pub. Any failure is false: a NULL argument, a
    malformed key or signature, or a signature over anything else.
    Thread-safe; keeps no state. */
bool fk_msg_claim_verify(const char *name, const char *addr, uint64_t incarnation, bool leaving,
                         const uint8_t pub[FK_SIGN_PUBLIC_LEN], const uint8_t sig[FK_SIGN_LEN]);

#endif
