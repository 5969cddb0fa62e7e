/*  fk_record - the record envelope: one versioned, timestamped value.

    A record is what the store keeps as an LMDB value and what replication
    deltas carry, so the same bytes travel from disk to the wire unchanged.
    It is a MessagePack array,
        [version, flags, stamp_ms, payload]             (unsigned)
        [version, flags, stamp_ms, signature, payload]  (signed)
    specified in proto/PROTOCOL.md, section "Records" (R-RECORD-001 ...).
    The signature is the owner's Ed25519 signature over the record, its
    owner and its key (fk_record_sign): a record relayed by any number of
    nodes can be checked against its owner's public key, so no node can
    create, change or delete another node's records (R-RECORD-013).

    The codec does no I/O and keeps no state: every function is reentrant
    and thread-safe. Decoding never trusts its input; every failure returns
    an FK_E* code, never asserts. */

#ifndef FK_RECORD_H_INCLUDED
#define FK_RECORD_H_INCLUDED

#include "fk_sign.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  flags bit 0: the record is a tombstone (a delete that must replicate).
    A tombstone has an empty payload. All other flag bits are reserved and
    must be 0; encode and decode both refuse them. */
#define FK_RECORD_TOMBSTONE 0x1u

/*  The largest payload, in bytes, a record may carry (1 MiB). */
#define FK_RECORD_MAX_PAYLOAD ((size_t)1 << 20)

/*  A decoded record, or the input to fk_record_encode(). A small by-value
    view, transparent on purpose: it owns nothing. */
typedef struct {
    uint64_t version;         /* owner's counter value for this write, >= 1 */
    uint32_t flags;           /* FK_RECORD_TOMBSTONE or 0 */
    int64_t stamp_ms;         /* owner's wall clock at write time, ms since the epoch, >= 0 */
    const char *payload;      /* borrowed: the caller's bytes, or a view into decoded input */
    size_t payload_len;       /* bytes at payload; 0 for a tombstone */
    bool is_signed;           /* sig holds the owner's signature */
    uint8_t sig[FK_SIGN_LEN]; /* Ed25519 signature (fk_record_sign); zero when unsigned */
} fk_record_t;

/*  Encode *rec into a fresh buffer. On success *buf_p owns the encoding
    (the caller releases it with free()) and *len_p is its length. The
    encoding is canonical: the shortest MessagePack form of every field, so
    equal records always encode to equal bytes. An unsigned record is an
    array of four, a signed one an array of five (the signature fourth). rec->payload is only read,
    and may be NULL when payload_len is 0. Aborts on OOM.

    Returns 0, or
      FK_EINVAL_INPUT  version is 0, stamp_ms is negative, flags has a bit
                       other than FK_RECORD_TOMBSTONE, a tombstone has a
                       payload, or payload is NULL with payload_len > 0;
      FK_ETOOBIG       otherwise valid, but payload_len exceeds
                       FK_RECORD_MAX_PAYLOAD.
    On failure *buf_p is NULL and *len_p is 0. rec, buf_p and len_p must not
    be NULL (asserted: that is a programming error, not bad input). */
int fk_record_encode(const fk_record_t *rec, char **buf_p, size_t *len_p);

/*  Decode one record from untrusted bytes [data, data + len). The bytes
    are pre-scanned (fk_prescan) before msgpack-c sees them, so no input can
    make the decoder allocate more than a small constant.

    Zero copy: on success rec->payload points INTO data (at the last
    rec->payload_len bytes of it), so the record is valid only while data
    is; copy the payload to keep it longer. With payload_len 0 the pointer
    must not be dereferenced.

    Integers are accepted in any MessagePack integer width whose value is in
    range (R-RECORD-008), so decode(encode(r)) == r but encode(decode(b))
    need not equal b.

    The signature, when present, is copied into rec->sig; it is not
    checked here (fk_record_verify needs the owner's key).

    Returns 0, or
      FK_EPROTO_MALFORMED  the input is not exactly one record: truncated,
                           trailing bytes, not an array of four or five, a
                           signature that is not a bin of 64 bytes, a field of
                           the wrong type or out of range, version 0,
                           reserved flag bits, negative stamp_ms, or a
                           tombstone with a payload;
      FK_ETOOBIG           a record valid in every other respect whose
                           payload exceeds FK_RECORD_MAX_PAYLOAD.
    On failure *rec is zeroed. data may be NULL when len is 0 (malformed).
    rec must not be NULL (asserted). */
int fk_record_decode(const void *data, size_t len, fk_record_t *rec);

/*  Sign *rec as owner's record under key: computes the Ed25519 signature
    over the bytes PROTOCOL.md names (R-RECORD-013: a context string, the
    owner, the key, version, flags, stamp and payload), stores it in
    rec->sig and sets rec->is_signed. Returns 0, or FK_ECRYPTO. owner and
    key are NUL-terminated. */
int fk_record_sign(fk_record_t *rec, const char *owner, const char *key,
                   const fk_sign_key_t *signer);

/*  True when rec is signed and its signature verifies as owner's record
    under key with the public key pub. Thread-safe; keeps no state. */
bool fk_record_verify(const fk_record_t *rec, const char *owner, const char *key,
                      const uint8_t pub[FK_SIGN_PUBLIC_LEN]);

#endif
