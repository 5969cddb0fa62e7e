/*  fk_record - the record envelope codec; the contract is in fk_record.h
    and the wire format in PROTOCOL.md, section "Records". */

#include "fk_record.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "fk_err.h"
#include "fk_mem.h"
#include "fk_prescan.h"

/*  The envelope holds only scalars, so one level of nesting is all a record
    may use (R-RECORD-009). Asking the pre-scan for exactly that also means
    msgpack-c never builds a nested object tree from our input. */
#define S_RECORD_DEPTH 1u

/*  The largest header the encoder can write around a payload: array
    header (1) + uint64 (9) + uint32 (5) + int64 (9) + a signature (2 + 64)
    + bin32 header (5). */
#define S_MAX_OVERHEAD 95u

/*  Prefix of the bytes a record signature covers (R-RECORD-013): it keeps
    a record signature from ever verifying as any other signed thing. */
static const char s_sign_context[] = "fakts-node record v1";

/*  The checks shared by encode and decode, except the payload limit, which
    each side reports separately. Returns 0 or FK_EINVAL_INPUT. */
static int
s_check_fields(uint64_t version, uint64_t flags, int64_t stamp_ms, size_t payload_len)
{
    if (version == 0) {
        return FK_EINVAL_INPUT; /* R-RECORD-002: counters start at 1 */
    }
    if ((flags & ~(uint64_t)FK_RECORD_TOMBSTONE) != 0) {
        /*  Reserved bits are refused, not ignored: a peer that set one
            meant something we cannot honour, and silently dropping it
            would make replicas disagree (R-RECORD-003). */
        return FK_EINVAL_INPUT;
    }
    if (stamp_ms < 0) {
        return FK_EINVAL_INPUT; /* R-RECORD-004 */
    }
    if ((flags & FK_RECORD_TOMBSTONE) != 0 && payload_len != 0) {
        return FK_EINVAL_INPUT; /* R-RECORD-006 */
    }
    return 0;
}

int
fk_record_encode(const fk_record_t *rec, char **buf_p, size_t *len_p)
{
    assert(rec != NULL);
    assert(buf_p != NULL);
    assert(len_p != NULL);
    *buf_p = NULL;
    *len_p = 0;

    if (rec->payload == NULL && rec->payload_len > 0) {
        return FK_EINVAL_INPUT;
    }
    int rc = s_check_fields(rec->version, rec->flags, rec->stamp_ms, rec->payload_len);
    if (rc != 0) {
        return rc;
    }
    /*  Only after the field checks, so FK_ETOOBIG always means "valid but
        too large", as it does for decode. */
    if (rec->payload_len > FK_RECORD_MAX_PAYLOAD) {
        return FK_ETOOBIG; /* R-RECORD-005 */
    }

    /*  Size the buffer up front instead of letting msgpack_sbuffer_write()
        grow it: one allocation, made by fk_malloc (which aborts on OOM),
        no doubling slack on a 1 MiB payload, and no realloc for msgpack-c
        to fail. The struct is documented as plain data, so presetting
        data and alloc is how its owner is meant to use it. */
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    sbuf.alloc = S_MAX_OVERHEAD + rec->payload_len;
    sbuf.data = fk_malloc(sbuf.alloc);

    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    /*  msgpack-c picks the shortest form for every integer and bin length,
        which is what makes the encoding canonical (R-RECORD-007). A
        non-negative stamp_ms goes out as an unsigned format. */
    int failed = msgpack_pack_array(&pk, rec->is_signed ? 5 : 4);
    failed |= msgpack_pack_uint64(&pk, rec->version);
    failed |= msgpack_pack_uint32(&pk, rec->flags);
    failed |= msgpack_pack_int64(&pk, rec->stamp_ms);
    if (rec->is_signed) {
        /*  Before the payload, so the payload stays the last bytes of the
            encoding (the zero-copy decode below relies on that). */
        failed |= msgpack_pack_bin_with_body(&pk, rec->sig, FK_SIGN_LEN);
    }
    failed |= msgpack_pack_bin_with_body(&pk, rec->payload, rec->payload_len);
    if (failed != 0) {
        /*  The only way msgpack_sbuffer_write() fails is a failed realloc. */
        msgpack_sbuffer_destroy(&sbuf);
        fk_oom("fk_record_encode");
    }

    *len_p = sbuf.size;
    *buf_p = msgpack_sbuffer_release(&sbuf);
    return 0;
}

/*  Is the pre-scanned input's outer object an array of four or five? Any
    of the three array header forms is legal MessagePack (R-RECORD-008).
    The pre-scan has proved the header bytes are present. */
static int
s_is_array_of_four_or_five(const unsigned char *p)
{
    if (p[0] == 0x94 || p[0] == 0x95) {
        return 1;
    }
    if (p[0] == 0xdc) {
        return p[1] == 0x00 && (p[2] == 0x04 || p[2] == 0x05);
    }
    if (p[0] == 0xdd) {
        return p[1] == 0x00 && p[2] == 0x00 && p[3] == 0x00 && (p[4] == 0x04 || p[4] == 0x05);
    }
    return 0;
}

/*  Check the unpacked object and copy its scalars into *out (payload_len
    included, payload left for the caller). Returns 0, FK_EPROTO_MALFORMED
    or FK_ETOOBIG. */
static int
s_from_object(const msgpack_object *obj, fk_record_t *out)
{
    if (obj->type != MSGPACK_OBJECT_ARRAY
        || (obj->via.array.size != 4 && obj->via.array.size != 5)) {
        return FK_EPROTO_MALFORMED; /* R-RECORD-001 */
    }
    const msgpack_object *field = obj->via.array.ptr;
    const msgpack_object *sig = NULL;
    const msgpack_object *payload = &field[3];
    if (obj->via.array.size == 5) {
        sig = &field[3];
        payload = &field[4];
        if (sig->type != MSGPACK_OBJECT_BIN || sig->via.bin.size != FK_SIGN_LEN) {
            return FK_EPROTO_MALFORMED; /* R-RECORD-013 */
        }
    }

    /*  msgpack-c reports every non-negative integer as POSITIVE_INTEGER,
        whichever width and signedness the encoder chose, and every
        negative one as NEGATIVE_INTEGER. So this one type test accepts all
        widths (R-RECORD-008) and rejects negative numbers, floats, bools
        and strings alike. */
    for (int i = 0; i < 3; i++) {
        if (field[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            return FK_EPROTO_MALFORMED;
        }
    }
    if (payload->type != MSGPACK_OBJECT_BIN) {
        return FK_EPROTO_MALFORMED; /* R-RECORD-005: bin, not str */
    }
    uint64_t version = field[0].via.u64;
    uint64_t flags = field[1].via.u64;
    uint64_t stamp = field[2].via.u64;
    size_t payload_len = payload->via.bin.size;

    if (stamp > INT64_MAX) {
        return FK_EPROTO_MALFORMED; /* R-RECORD-004 */
    }
    /*  Unlike encode, a range error here is malformed input, not the
        caller's mistake. flags above UINT32_MAX have reserved bits set, so
        the shared check also rejects them before the narrowing below. */
    if (s_check_fields(version, flags, (int64_t)stamp, payload_len) != 0) {
        return FK_EPROTO_MALFORMED;
    }
    if (payload_len > FK_RECORD_MAX_PAYLOAD) {
        return FK_ETOOBIG; /* R-RECORD-005 */
    }

    out->version = version;
    out->flags = (uint32_t)flags;
    out->stamp_ms = (int64_t)stamp;
    out->payload_len = payload_len;
    out->is_signed = sig != NULL;
    if (sig) {
        memcpy(out->sig, sig->via.bin.ptr, FK_SIGN_LEN);
    }
    return 0;
}

int
fk_record_decode(const void *data, size_t len, fk_record_t *rec)
{
    assert(rec != NULL);
    memset(rec, 0, sizeof *rec);

    /*  msgpack-c must never see bytes the pre-scan has not accepted: it
        would trust a header such as dd dd dd dd dd and try to allocate
        ~137 GB (msgpack/msgpack-c#1013). */
    int rc = fk_prescan(data, len, S_RECORD_DEPTH);
    if (rc != 0) {
        return rc;
    }
    /*  The pre-scan bounds the element count by the input length, which is
        linear but not small: a 100 MB array of nils would still cost
        msgpack-c 24 bytes per element. A record is always four or five
        elements, so check that first and msgpack-c allocates a constant. */
    if (!s_is_array_of_four_or_five(data)) {
        return FK_EPROTO_MALFORMED; /* R-RECORD-001 */
    }

    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t off = 0;
    msgpack_unpack_return ret = msgpack_unpack_next(&unpacked, data, len, &off);
    if (ret == MSGPACK_UNPACK_NOMEM_ERROR) {
        /*  After the checks above this can only be a failed malloc: the
            depth that would overflow msgpack-c's stack is already refused. */
        msgpack_unpacked_destroy(&unpacked);
        fk_oom("fk_record_decode");
    }
    /*  msgpack-c 4.0.0 returns an enum, not a bool (CONTINUE, 0, means
        truncated), and returns SUCCESS even when bytes follow the object,
        so both the code and the offset are checked. */
    if (ret != MSGPACK_UNPACK_SUCCESS || off != len) {
        rc = FK_EPROTO_MALFORMED;
        goto done;
    }

    fk_record_t out = {0};
    rc = s_from_object(&unpacked.data, &out);
    if (rc != 0) {
        goto done;
    }
    /*  msgpack-c does reference bin bytes inside the input rather than
        copying them into its zone, but the payload's address does not
        depend on that: the bin body is the last thing in the encoding and
        the object ends exactly at len, so the payload is the final
        payload_len bytes. The pointer therefore stays valid after the
        zone is destroyed below, for as long as data is. */
    out.payload = (const char *)data + (len - out.payload_len);
    *rec = out;

done:
    msgpack_unpacked_destroy(&unpacked);
    return rc;
}

/*  The bytes a record signature covers (R-RECORD-013), in a fresh buffer:
    the context string and its NUL, owner and NUL, key and NUL, then
    version (8 octets), flags (4) and stamp (8), big-endian, then the
    payload. Owner and key are in it because the envelope does not carry
    them: without them a signed record could be replayed under another key
    or another owner's name. */
static unsigned char *
s_signed_bytes(const fk_record_t *rec, const char *owner, const char *key, size_t *len_p)
{
    size_t owner_len = strlen(owner) + 1;
    size_t key_len = strlen(key) + 1;
    size_t len = sizeof s_sign_context + owner_len + key_len + 20 + rec->payload_len;
    unsigned char *buf = fk_malloc(len);
    unsigned char *p = buf;
    memcpy(p, s_sign_context, sizeof s_sign_context);
    p += sizeof s_sign_context;
    memcpy(p, owner, owner_len);
    p += owner_len;
    memcpy(p, key, key_len);
    p += key_len;
    for (int shift = 56; shift >= 0; shift -= 8) {
        *p++ = (unsigned char)(rec->version >> shift);
    }
    for (int shift = 24; shift >= 0; shift -= 8) {
        *p++ = (unsigned char)(rec->flags >> shift);
    }
    for (int shift = 56; shift >= 0; shift -= 8) {
        *p++ = (unsigned char)((uint64_t)rec->stamp_ms >> shift);
    }
    if (rec->payload_len) {
        memcpy(p, rec->payload, rec->payload_len);
    }
    *len_p = len;
    return buf;
}

int
fk_record_sign(fk_record_t *rec, const char *owner, const char *key, const fk_sign_key_t *signer)
{
    size_t len = 0;
    unsigned char *bytes = s_signed_bytes(rec, owner, key, &len);
    int rc = fk_sign(signer, bytes, len, rec->sig);
    free(bytes);
    rec->is_signed = rc == 0;
    return rc;
}

bool
fk_record_verify(const fk_record_t *rec, const char *owner, const char *key,
                 const uint8_t pub[FK_SIGN_PUBLIC_LEN])
{
    if (!rec->is_signed) {
        return false;
    }
    size_t len = 0;
    unsigned char *bytes = s_signed_bytes(rec, owner, key, &len);
    bool ok = fk_sign_verify(pub, bytes, len, rec->sig);
    free(bytes);
    return ok;
}
