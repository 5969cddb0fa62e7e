/*  fuzz_record - libFuzzer target for the record codec and its pre-scan.

    For every input:
      1. whatever fk_prescan() accepts, msgpack-c must parse completely
         (the pre-scan may be stricter than msgpack-c, never looser, or
         decoders would turn its acceptance into a parse error at best);
      2. fk_record_decode() returns 0, FK_EPROTO_MALFORMED or FK_ETOOBIG,
         and a zeroed record on failure;
      3. on success the payload lies at the end of the input, the record
         re-encodes, the encoding decodes to the same fields, signature
         and payload bytes, is no longer than the input, and encodes again
         to the same bytes (R-RECORD-007); an unsigned record has a zero
         signature.
    Any violation calls abort(). Nothing is leaked on any path that
    returns. */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "fk_err.h"
#include "fk_prescan.h"
#include "fk_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Noreturn void
s_fail(const char *why)
{
    fprintf(stderr, "fuzz_record: %s\n", why);
    abort();
}

static void
s_check_prescan_against_msgpack(const uint8_t *data, size_t size)
{
    /*  Only accepted input reaches msgpack-c: anything else may be the
        allocation bomb this pre-scan exists to stop. */
    if (fk_prescan(data, size, FK_PRESCAN_MAX_DEPTH) != 0) {
        return;
    }
    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t off = 0;
    msgpack_unpack_return ret = msgpack_unpack_next(&unpacked, (const char *)data, size, &off);
    msgpack_unpacked_destroy(&unpacked);
    if (ret != MSGPACK_UNPACK_SUCCESS || off != size) {
        s_fail("fk_prescan accepted input msgpack-c does not parse whole");
    }
}

static int
s_is_zeroed(const fk_record_t *rec)
{
    static const uint8_t zero[FK_SIGN_LEN];
    return rec->version == 0 && rec->flags == 0 && rec->stamp_ms == 0 && rec->payload == NULL
           && rec->payload_len == 0 && !rec->is_signed && memcmp(rec->sig, zero, FK_SIGN_LEN) == 0;
}

static int
s_same_record(const fk_record_t *a, const fk_record_t *b)
{
    if (a->version != b->version || a->flags != b->flags || a->stamp_ms != b->stamp_ms
        || a->payload_len != b->payload_len || a->is_signed != b->is_signed
        || memcmp(a->sig, b->sig, FK_SIGN_LEN) != 0) {
        return 0;
    }
    return a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_check_prescan_against_msgpack(data, size);

    fk_record_t first;
    int rc = fk_record_decode(data, size, &first);
    if (rc != 0) {
        if (rc != FK_EPROTO_MALFORMED && rc != FK_ETOOBIG) {
            s_fail("decode returned an undocumented code");
        }
        if (!s_is_zeroed(&first)) {
            s_fail("failed decode left a partial record");
        }
        return 0;
    }
    if (first.payload_len > size
        || first.payload != (const char *)data + (size - first.payload_len)) {
        s_fail("payload is not a view of the end of the input");
    }
    static const uint8_t no_sig[FK_SIGN_LEN];
    if (!first.is_signed && memcmp(first.sig, no_sig, FK_SIGN_LEN) != 0) {
        s_fail("an unsigned record has signature bytes");
    }

    char *buf;
    size_t len;
    if (fk_record_encode(&first, &buf, &len) != 0) {
        s_fail("a decoded record does not re-encode");
    }
    if (len > size) {
        s_fail("canonical encoding is longer than the decoded input");
    }

    fk_record_t second;
    if (fk_record_decode(buf, len, &second) != 0) {
        s_fail("an encoded record does not decode");
    }
    if (!s_same_record(&first, &second)) {
        s_fail("round trip changed the record");
    }

    char *again;
    size_t again_len;
    if (fk_record_encode(&second, &again, &again_len) != 0) {
        s_fail("a round-tripped record does not re-encode");
    }
    if (again_len != len || memcmp(again, buf, len) != 0) {
        s_fail("encoding is not canonical");
    }

    free(again);
    free(buf);
    return 0;
}
