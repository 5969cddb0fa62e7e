/*  test_fk_record - the record envelope codec, through fk_record.h only.

    Hand-written byte strings stand for what a peer or an old database could
    hold; comments cite PROTOCOL.md, section "Records", as
    EVIDENCE-OF: R-RECORD-nnn. */

#include "fk_record.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "fk_err.h"
#include "fk_sign.h"

TestSuite(fk_record);

/*  Wrap a byte list as (pointer, length) arguments. */
#define S_BYTES(...)                                                                               \
    (const unsigned char[]){__VA_ARGS__}, sizeof((const unsigned char[]){__VA_ARGS__})

static void
s_assert_zeroed(const fk_record_t *rec)
{
    cr_assert_eq(rec->version, 0);
    cr_assert_eq(rec->flags, 0);
    cr_assert_eq(rec->stamp_ms, 0);
    cr_assert_null(rec->payload);
    cr_assert_eq(rec->payload_len, 0);
    cr_assert_not(rec->is_signed);
    static const uint8_t zero[FK_SIGN_LEN];
    cr_assert_eq(memcmp(rec->sig, zero, FK_SIGN_LEN), 0);
}

/*  Decode a copy of the input held in an exact-size allocation (so ASan sees
    any over-read) and expect the given code and a zeroed record. */
static void
s_expect_fail(const void *bytes, size_t len, int code)
{
    unsigned char *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    if (len > 0) {
        memcpy(copy, bytes, len);
    }
    fk_record_t rec;
    memset(&rec, 0xa5, sizeof rec); /* garbage, so that zeroing is observable */
    int rc = fk_record_decode(copy, len, &rec);
    free(copy);
    cr_assert_eq(rc, code, "expected %s, got %s (length %zu)", fk_err_name(code), fk_err_name(rc),
                 len);
    s_assert_zeroed(&rec);
}

/*  Decode bytes that must be a valid record, into *rec. */
static void
s_expect_ok(const void *bytes, size_t len, fk_record_t *rec)
{
    int rc = fk_record_decode(bytes, len, rec);
    cr_assert_eq(rc, 0, "got %s", fk_err_name(rc));
}

/*  Encode, decode, and check every field and payload byte; also check the
    encoding is canonical by encoding the decoded record again. */
static void
s_round_trip(const fk_record_t *in)
{
    char *buf;
    size_t len;
    int rc = fk_record_encode(in, &buf, &len);
    cr_assert_eq(rc, 0, "encode: %s", fk_err_name(rc));
    cr_assert_not_null(buf);

    fk_record_t out;
    s_expect_ok(buf, len, &out);
    cr_assert_eq(out.version, in->version);
    cr_assert_eq(out.flags, in->flags);
    cr_assert_eq(out.stamp_ms, in->stamp_ms);
    cr_assert_eq(out.payload_len, in->payload_len);
    if (in->payload_len > 0) {
        cr_assert_eq(memcmp(out.payload, in->payload, in->payload_len), 0);
    }
    cr_assert_eq(out.is_signed, in->is_signed);
    if (in->is_signed) {
        cr_assert_eq(memcmp(out.sig, in->sig, FK_SIGN_LEN), 0);
    }

    /*  EVIDENCE-OF: R-RECORD-007 */
    char *again;
    size_t again_len;
    cr_assert_eq(fk_record_encode(&out, &again, &again_len), 0);
    cr_assert_eq(again_len, len);
    cr_assert_eq(memcmp(again, buf, len), 0);
    free(again);
    free(buf);
}

/*  A payload of n bytes with a recognisable pattern (caller frees). */
static char *
s_pattern(size_t n)
{
    char *payload = malloc(n ? n : 1);
    cr_assert_not_null(payload);
    for (size_t i = 0; i < n; i++) {
        payload[i] = (char)(i * 31 + 7);
    }
    return payload;
}

/*  The bytes of [1, 0, 0, bin32 of payload_len bytes] (caller frees). */
static unsigned char *
s_bin32_record(size_t payload_len, unsigned flags, size_t *len_p)
{
    size_t len = 9 + payload_len;
    unsigned char *bytes = malloc(len);
    cr_assert_not_null(bytes);
    bytes[0] = 0x94;
    bytes[1] = 0x01;
    bytes[2] = (unsigned char)flags;
    bytes[3] = 0x00;
    bytes[4] = 0xc6;
    bytes[5] = (unsigned char)(payload_len >> 24);
    bytes[6] = (unsigned char)(payload_len >> 16);
    bytes[7] = (unsigned char)(payload_len >> 8);
    bytes[8] = (unsigned char)payload_len;
    memset(bytes + 9, 'p', payload_len);
    *len_p = len;
    return bytes;
}

Test(fk_record, round_trip_preserves_every_field)
{
    static const uint64_t versions[] = {
        1, 127, 128, 255, 256, 65535, 65536, UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX};
    static const int64_t stamps[] = {0, 1, 127, 128, 65536, 1700000000000, INT64_MAX};
    for (size_t v = 0; v < sizeof versions / sizeof versions[0]; v++) {
        for (size_t s = 0; s < sizeof stamps / sizeof stamps[0]; s++) {
            fk_record_t rec = {.version = versions[v],
                               .flags = 0,
                               .stamp_ms = stamps[s],
                               .payload = "value",
                               .payload_len = 5};
            s_round_trip(&rec);
        }
    }
}

Test(fk_record, round_trip_keeps_payload_sizes_at_every_bin_boundary)
{
    static const size_t sizes[] = {0, 1, 255, 256, 65535, 65536, FK_RECORD_MAX_PAYLOAD};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *payload = s_pattern(sizes[i]);
        fk_record_t rec = {
            .version = 7, .flags = 0, .stamp_ms = 42, .payload = payload, .payload_len = sizes[i]};
        s_round_trip(&rec);
        free(payload);
    }
}

Test(fk_record, round_trip_tombstone)
{
    /*  EVIDENCE-OF: R-RECORD-006 */
    fk_record_t rec = {.version = 9,
                       .flags = FK_RECORD_TOMBSTONE,
                       .stamp_ms = 1700000000000,
                       .payload = NULL,
                       .payload_len = 0};
    s_round_trip(&rec);
}

Test(fk_record, round_trip_max_payload)
{
    /*  EVIDENCE-OF: R-RECORD-005 exactly the limit is allowed. */
    char *payload = s_pattern(FK_RECORD_MAX_PAYLOAD);
    fk_record_t rec = {.version = UINT64_MAX,
                       .flags = 0,
                       .stamp_ms = INT64_MAX,
                       .payload = payload,
                       .payload_len = FK_RECORD_MAX_PAYLOAD};
    s_round_trip(&rec);
    free(payload);
}

Test(fk_record, encodes_canonical_bytes)
{
    /*  EVIDENCE-OF: R-RECORD-007 the examples in PROTOCOL.md. */
    static const unsigned char small[] = {0x94, 0x01, 0x00, 0x00, 0xc4, 0x02, 'h', 'i'};
    static const unsigned char tomb[] = {0x94, 0x02, 0x01, 0xcf, 0x00, 0x00, 0x01,
                                         0x8b, 0xcf, 0xe5, 0x68, 0x00, 0xc4, 0x00};
    char *buf;
    size_t len;

    fk_record_t rec = {.version = 1, .flags = 0, .stamp_ms = 0, .payload = "hi", .payload_len = 2};
    cr_assert_eq(fk_record_encode(&rec, &buf, &len), 0);
    cr_assert_eq(len, sizeof small);
    cr_assert_eq(memcmp(buf, small, len), 0);
    free(buf);

    rec = (fk_record_t){.version = 2, .flags = FK_RECORD_TOMBSTONE, .stamp_ms = 1700000000000};
    cr_assert_eq(fk_record_encode(&rec, &buf, &len), 0);
    cr_assert_eq(len, sizeof tomb);
    cr_assert_eq(memcmp(buf, tomb, len), 0);
    free(buf);
}

Test(fk_record, decodes_known_bytes)
{
    /*  EVIDENCE-OF: R-RECORD-001 */
    static const unsigned char small[] = {0x94, 0x01, 0x00, 0x00, 0xc4, 0x02, 'h', 'i'};
    fk_record_t rec;
    s_expect_ok(small, sizeof small, &rec);
    cr_assert_eq(rec.version, 1);
    cr_assert_eq(rec.flags, 0);
    cr_assert_eq(rec.stamp_ms, 0);
    cr_assert_eq(rec.payload_len, 2);
    cr_assert_eq(memcmp(rec.payload, "hi", 2), 0);
}

Test(fk_record, decoded_payload_points_into_the_input)
{
    unsigned char bytes[] = {0x94, 0x01, 0x00, 0x00, 0xc4, 0x03, 'a', 'b', 'c'};
    fk_record_t rec;
    s_expect_ok(bytes, sizeof bytes, &rec);
    cr_assert_eq(rec.payload, (const char *)bytes + 6);
    /*  A view, not a copy: a change to the input shows through. */
    bytes[7] = 'X';
    cr_assert_eq(rec.payload[1], 'X');
}

Test(fk_record, accepts_every_integer_width_and_array_header)
{
    /*  EVIDENCE-OF: R-RECORD-008 */
    fk_record_t rec;

    /*  uint64 version, uint32 flags, uint16 stamp, bin16 payload. */
    s_expect_ok(S_BYTES(0x94, 0xcf, 0, 0, 0, 0, 0, 0, 0, 1, 0xce, 0, 0, 0, 0, 0xcd, 0, 7, 0xc5, 0,
                        2, 'h', 'i'),
                &rec);
    cr_assert_eq(rec.version, 1);
    cr_assert_eq(rec.stamp_ms, 7);
    cr_assert_eq(rec.payload_len, 2);

    /*  Signed formats with non-negative values, a tombstone. */
    s_expect_ok(S_BYTES(0x94, 0xd0, 5, 0xd1, 0, 1, 0xd3, 0, 0, 0, 0, 0, 0, 0, 9, 0xc4, 0), &rec);
    cr_assert_eq(rec.version, 5);
    cr_assert_eq(rec.flags, FK_RECORD_TOMBSTONE);
    cr_assert_eq(rec.stamp_ms, 9);

    /*  array16 and array32 headers for the count 4. */
    s_expect_ok(S_BYTES(0xdc, 0, 4, 3, 0, 0, 0xc4, 0), &rec);
    cr_assert_eq(rec.version, 3);
    s_expect_ok(S_BYTES(0xdd, 0, 0, 0, 4, 4, 0, 0, 0xc6, 0, 0, 0, 1, 'z'), &rec);
    cr_assert_eq(rec.version, 4);
    cr_assert_eq(rec.payload[0], 'z');

    /*  The extremes of each range. */
    s_expect_ok(S_BYTES(0x94, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0xcf,
                        0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc4, 0x00),
                &rec);
    cr_assert_eq(rec.version, UINT64_MAX);
    cr_assert_eq(rec.stamp_ms, INT64_MAX);
}

Test(fk_record, rejects_every_strict_prefix)
{
    /*  EVIDENCE-OF: R-RECORD-010 for canonical records with a bin8 and a
        bin16 payload, each prefix in an exact-size allocation (bin32 is
        covered by the max-payload test below). */
    static const size_t sizes[] = {0, 2, 300};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *payload = s_pattern(sizes[i]);
        fk_record_t rec = {.version = 1u << 20,
                           .flags = 0,
                           .stamp_ms = 1700000000000,
                           .payload = payload,
                           .payload_len = sizes[i]};
        char *buf;
        size_t len;
        cr_assert_eq(fk_record_encode(&rec, &buf, &len), 0);
        for (size_t n = 0; n < len; n++) {
            s_expect_fail(buf, n, FK_EPROTO_MALFORMED);
        }
        free(buf);
        free(payload);
    }
    s_expect_fail(S_BYTES(0x94, 0x01, 0x01, 0x00, 0xc4), FK_EPROTO_MALFORMED);
}

Test(fk_record, rejects_every_strict_prefix_of_a_max_payload_record)
{
    /*  EVIDENCE-OF: R-RECORD-010 one shared buffer, shorter lengths. */
    size_t len;
    unsigned char *bytes = s_bin32_record(FK_RECORD_MAX_PAYLOAD, 0, &len);
    fk_record_t rec;
    for (size_t n = 0; n < len; n++) {
        cr_assert_eq(fk_record_decode(bytes, n, &rec), FK_EPROTO_MALFORMED, "prefix %zu", n);
    }
    cr_assert_eq(fk_record_decode(bytes, len, &rec), 0);
    free(bytes);
}

Test(fk_record, rejects_empty_input)
{
    /*  EVIDENCE-OF: R-RECORD-010 */
    fk_record_t rec;
    cr_assert_eq(fk_record_decode(NULL, 0, &rec), FK_EPROTO_MALFORMED);
    s_assert_zeroed(&rec);
    s_expect_fail("", 0, FK_EPROTO_MALFORMED);
}

Test(fk_record, rejects_trailing_bytes)
{
    /*  EVIDENCE-OF: R-RECORD-010 */
    s_expect_fail(S_BYTES(0x94, 0x01, 0x00, 0x00, 0xc4, 0x00, 0xc0), FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x94, 0x01, 0x00, 0x00, 0xc4, 0x00, 0x94, 0x01, 0x00, 0x00, 0xc4, 0x00),
                  FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x94, 0x01, 0x00, 0x00, 0xc4, 0x00, 0x00), FK_EPROTO_MALFORMED);
}

Test(fk_record, rejects_allocation_bombs_fast, .timeout = 10)
{
    /*  EVIDENCE-OF: R-RECORD-011 msgpack/msgpack-c#1013. If any of these
        reached msgpack-c it would ask for gigabytes, which ASan reports. */
    s_expect_fail(S_BYTES(0xdd, 0xdd, 0xdd, 0xdd, 0xdd), FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x94, 0xdd, 0xdd, 0xdd, 0xdd, 0xdd, 0x00, 0x00, 0xc4, 0x00),
                  FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0xc4, 0x00),
                  FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x94, 0x01, 0x00, 0x00, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00),
                  FK_EPROTO_MALFORMED);

    /*  The bomb header followed by 1 MiB of nils, and 64 KiB of nested
        array16 headers that each claim 0xffff elements. */
    size_t len = ((size_t)1 << 20) + 5;
    unsigned char *bytes = malloc(len);
    cr_assert_not_null(bytes);
    memset(bytes, 0xc0, len);
    memset(bytes, 0xdd, 5);
    s_expect_fail(bytes, len, FK_EPROTO_MALFORMED);
    for (size_t i = 0; i + 3 <= len; i += 3) {
        bytes[i] = 0xdc;
        bytes[i + 1] = 0xff;
        bytes[i + 2] = 0xff;
    }
    s_expect_fail(bytes, 3 * 21845, FK_EPROTO_MALFORMED);
    free(bytes);
}

Test(fk_record, rejects_a_large_honest_array, .timeout = 10)
{
    /*  EVIDENCE-OF: R-RECORD-001 an array32 of 4 Mi nils passes the
        pre-scan (each nil is one byte) but is not a record. The decoder
        refuses it by its header, before msgpack-c would build 4 Mi objects;
        only the result, not the allocation, is observable here. */
    size_t count = (size_t)4 << 20;
    size_t len = 5 + count;
    unsigned char *bytes = malloc(len);
    cr_assert_not_null(bytes);
    bytes[0] = 0xdd;
    bytes[1] = (unsigned char)(count >> 24);
    bytes[2] = (unsigned char)(count >> 16);
    bytes[3] = (unsigned char)(count >> 8);
    bytes[4] = (unsigned char)count;
    memset(bytes + 5, 0xc0, count);
    fk_record_t rec;
    cr_assert_eq(fk_record_decode(bytes, len, &rec), FK_EPROTO_MALFORMED);
    free(bytes);
}

Test(fk_record, rejects_wrong_outer_shape)
{
    /*  EVIDENCE-OF: R-RECORD-001 */
    s_expect_fail(S_BYTES(0x01), FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x90), FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x93, 0x01, 0x00, 0x00), FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x95, 0x01, 0x00, 0x00, 0xc4, 0x00, 0xc0), FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0xdc, 0x00, 0x03, 0x01, 0x00, 0x00), FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0xdd, 0x00, 0x00, 0x00, 0x05, 0x01, 0x00, 0x00, 0xc4, 0x00, 0xc0),
                  FK_EPROTO_MALFORMED);
    /*  A map of two entries flattens to the same four elements. */
    s_expect_fail(S_BYTES(0x82, 0x01, 0x00, 0x00, 0xc4, 0x00), FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0xc4, 0x04, 0x01, 0x00, 0x00, 0x00), FK_EPROTO_MALFORMED);
}

Test(fk_record, rejects_wrong_element_types)
{
    /*  EVIDENCE-OF: R-RECORD-009 Each field in turn replaced by nil, a bool,
        a float, a str, an ext, an array and a map. */
    static const unsigned char good[] = {0x01, 0x00, 0x00, 0xc4, 0x00};
    static const struct {
        unsigned char bytes[9]; /* the replacement element */
        size_t len;
    } wrong[] = {
        {{0xc0}, 1},
        {{0xc3}, 1},
        {{0xca, 0x3f, 0x80, 0x00, 0x00}, 5},
        {{0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}, 9},
        {{0xa1, '1'}, 2},
        {{0xd4, 0x01, 0x01}, 3},
        {{0x91, 0x01}, 2},
        {{0x80}, 1},
    };
    /*  Where each field starts in good[], and its length. */
    static const size_t field_at[] = {0, 1, 2, 3};
    static const size_t field_len[] = {1, 1, 1, 2};

    for (size_t f = 0; f < 4; f++) {
        for (size_t w = 0; w < sizeof wrong / sizeof wrong[0]; w++) {
            unsigned char bytes[32];
            size_t len = 0;
            bytes[len++] = 0x94;
            memcpy(bytes + len, good, field_at[f]);
            len += field_at[f];
            memcpy(bytes + len, wrong[w].bytes, wrong[w].len);
            len += wrong[w].len;
            size_t rest = field_at[f] + field_len[f];
            memcpy(bytes + len, good + rest, sizeof good - rest);
            len += sizeof good - rest;
            s_expect_fail(bytes, len, FK_EPROTO_MALFORMED);
        }
    }
    /*  R-RECORD-005: a payload must be bin, not str. */
    s_expect_fail(S_BYTES(0x94, 0x01, 0x00, 0x00, 0xa2, 'h', 'i'), FK_EPROTO_MALFORMED);
}

Test(fk_record, rejects_version_zero)
{
    /*  EVIDENCE-OF: R-RECORD-002 in every width. */
    s_expect_fail(S_BYTES(0x94, 0x00, 0x00, 0x00, 0xc4, 0x00), FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x94, 0xcf, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0xc4, 0x00),
                  FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x94, 0xff, 0x00, 0x00, 0xc4, 0x00), FK_EPROTO_MALFORMED);
}

Test(fk_record, rejects_reserved_flag_bits)
{
    /*  EVIDENCE-OF: R-RECORD-003 bits 1, 31 and 32 (beyond uint32), and a
        negative flags value. */
    s_expect_fail(S_BYTES(0x94, 0x01, 0x02, 0x00, 0xc4, 0x00), FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x94, 0x01, 0x03, 0x00, 0xc4, 0x00), FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x94, 0x01, 0xce, 0x80, 0x00, 0x00, 0x00, 0x00, 0xc4, 0x00),
                  FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x94, 0x01, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0x00, 0xc4, 0x00),
                  FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x94, 0x01, 0xff, 0x00, 0xc4, 0x00), FK_EPROTO_MALFORMED);
}

Test(fk_record, rejects_negative_or_out_of_range_stamps)
{
    /*  EVIDENCE-OF: R-RECORD-004 -1, INT64_MIN, and 2^63 (a uint64 that
        does not fit int64_t). */
    s_expect_fail(S_BYTES(0x94, 0x01, 0x00, 0xff, 0xc4, 0x00), FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x94, 0x01, 0x00, 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xc4, 0x00),
                  FK_EPROTO_MALFORMED);
    s_expect_fail(S_BYTES(0x94, 0x01, 0x00, 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xc4, 0x00),
                  FK_EPROTO_MALFORMED);
}

Test(fk_record, rejects_tombstone_with_payload)
{
    /*  EVIDENCE-OF: R-RECORD-006 */
    s_expect_fail(S_BYTES(0x94, 0x01, 0x01, 0x00, 0xc4, 0x01, 'x'), FK_EPROTO_MALFORMED);
}

Test(fk_record, oversize_payload_is_too_big_on_decode)
{
    /*  EVIDENCE-OF: R-RECORD-005 one byte over the limit is FK_ETOOBIG... */
    size_t len;
    unsigned char *bytes = s_bin32_record(FK_RECORD_MAX_PAYLOAD + 1, 0, &len);
    s_expect_fail(bytes, len, FK_ETOOBIG);
    free(bytes);

    /*  ...but only when everything else is valid (R-RECORD-012): an
        oversize tombstone is malformed. */
    bytes = s_bin32_record(FK_RECORD_MAX_PAYLOAD + 1, FK_RECORD_TOMBSTONE, &len);
    s_expect_fail(bytes, len, FK_EPROTO_MALFORMED);
    free(bytes);
}

Test(fk_record, oversize_payload_is_too_big_on_encode)
{
    /*  EVIDENCE-OF: R-RECORD-005 */
    char *payload = s_pattern(FK_RECORD_MAX_PAYLOAD + 1);
    fk_record_t rec = {.version = 1,
                       .flags = 0,
                       .stamp_ms = 0,
                       .payload = payload,
                       .payload_len = FK_RECORD_MAX_PAYLOAD + 1};
    char sentinel;
    char *buf = &sentinel;
    size_t len = 1;
    cr_assert_eq(fk_record_encode(&rec, &buf, &len), FK_ETOOBIG);
    cr_assert_null(buf);
    cr_assert_eq(len, 0);
    free(payload);
}

Test(fk_record, encode_rejects_invalid_fields)
{
    static const fk_record_t bad[] = {
        {.version = 0, .flags = 0, .stamp_ms = 0},           /* R-RECORD-002 */
        {.version = 1, .flags = 2, .stamp_ms = 0},           /* R-RECORD-003 */
        {.version = 1, .flags = 0x80000000u, .stamp_ms = 0}, /* R-RECORD-003 */
        {.version = 1, .flags = 0, .stamp_ms = -1},          /* R-RECORD-004 */
        {.version = 1, .flags = 0, .stamp_ms = INT64_MIN},   /* R-RECORD-004 */
        {.version = 1, .flags = FK_RECORD_TOMBSTONE, .payload = "x", .payload_len = 1}, /* 006 */
        {.version = 1, .flags = 0, .payload = NULL, .payload_len = 3}, /* no bytes to encode */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char sentinel;
        char *buf = &sentinel;
        size_t len = 1;
        int rc = fk_record_encode(&bad[i], &buf, &len);
        cr_assert_eq(rc, FK_EINVAL_INPUT, "case %zu: %s", i, fk_err_name(rc));
        cr_assert_null(buf);
        cr_assert_eq(len, 0);
    }
}

Test(fk_record, invalid_fields_win_over_size_on_encode)
{
    /*  FK_ETOOBIG means "valid but too large", as it does for decode. */
    char *payload = s_pattern(FK_RECORD_MAX_PAYLOAD + 1);
    fk_record_t rec = {.version = 0,
                       .flags = 0,
                       .stamp_ms = 0,
                       .payload = payload,
                       .payload_len = FK_RECORD_MAX_PAYLOAD + 1};
    char *buf;
    size_t len;
    cr_assert_eq(fk_record_encode(&rec, &buf, &len), FK_EINVAL_INPUT);
    free(payload);
}

/*  ---------------------------------------------------------------------
    Signed records (R-RECORD-013). */

/*  A signer from a fixed seed (caller destroys). */
static fk_sign_key_t *
s_signer(uint8_t seed_byte)
{
    uint8_t seed[FK_SIGN_SECRET_LEN];
    memset(seed, seed_byte, sizeof seed);
    fk_sign_key_t *key = NULL;
    cr_assert_eq(fk_sign_key_new(&key, seed), 0);
    return key;
}

Test(fk_record, a_signed_record_round_trips_and_verifies)
{
    /*  EVIDENCE-OF: R-RECORD-001 EVIDENCE-OF: R-RECORD-013 a value, a
        tombstone and the largest payload, signed, encoded as arrays of five,
        decoded, and verified under the owner's public key. */
    fk_sign_key_t *key = s_signer(0x11);
    char *big = s_pattern(FK_RECORD_MAX_PAYLOAD);
    fk_record_t recs[] = {
        {.version = 7, .flags = 0, .stamp_ms = 1700000000000, .payload = "v", .payload_len = 1},
        {.version = 8, .flags = FK_RECORD_TOMBSTONE, .stamp_ms = 1700000000001},
        {.version = UINT64_MAX,
         .stamp_ms = INT64_MAX,
         .payload = big,
         .payload_len = FK_RECORD_MAX_PAYLOAD},
    };
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
        cr_assert_eq(fk_record_sign(&recs[i], "node-a", "svc/web", key), 0);
        cr_assert(recs[i].is_signed);
        s_round_trip(&recs[i]);

        char *buf;
        size_t len;
        cr_assert_eq(fk_record_encode(&recs[i], &buf, &len), 0);
        cr_assert_eq((unsigned char)buf[0], 0x95, "a signed record is an array of five");
        fk_record_t out;
        s_expect_ok(buf, len, &out);
        cr_assert(out.is_signed);
        cr_assert(fk_record_verify(&out, "node-a", "svc/web", fk_sign_key_public(key)));
        free(buf);
    }
    free(big);
    fk_sign_key_destroy(&key);
}

Test(fk_record, encodes_a_signed_record_as_protocol_md_shows)
{
    /*  EVIDENCE-OF: R-RECORD-007 95, the fields, c4 40 and the 64
        signature octets, then the payload. */
    fk_record_t rec = {.version = 1, .flags = 0, .stamp_ms = 0, .payload = "hi", .payload_len = 2};
    rec.is_signed = true;
    for (size_t i = 0; i < FK_SIGN_LEN; i++) {
        rec.sig[i] = (uint8_t)(0x80 + i);
    }
    char *buf;
    size_t len;
    cr_assert_eq(fk_record_encode(&rec, &buf, &len), 0);
    unsigned char want[6 + FK_SIGN_LEN + 4] = {0x95, 0x01, 0x00, 0x00, 0xc4, 0x40};
    memcpy(want + 6, rec.sig, FK_SIGN_LEN);
    memcpy(want + 6 + FK_SIGN_LEN, "\xc4\x02hi", 4);
    cr_assert_eq(len, sizeof want);
    cr_assert_eq(memcmp(buf, want, len), 0);
    fk_record_t out;
    s_expect_ok(buf, len, &out);
    cr_assert(out.is_signed);
    cr_assert_eq(memcmp(out.sig, rec.sig, FK_SIGN_LEN), 0);
    cr_assert_eq(out.payload, buf + len - 2, "the payload stays the last octets");
    free(buf);
}

Test(fk_record, a_signature_covers_the_bytes_protocol_md_names)
{
    /*  EVIDENCE-OF: R-RECORD-013 "fakts-node record v1" NUL, owner NUL, key
        NUL, version (8 octets), flags (4), stamp (8), big-endian, then the
        payload: written out by hand and checked with fk_sign_verify. */
    fk_sign_key_t *key = s_signer(0x22);
    fk_record_t rec = {.version = 0x0102030405060708ull,
                       .flags = FK_RECORD_TOMBSTONE,
                       .stamp_ms = 0x1112131415161718ll};
    cr_assert_eq(fk_record_sign(&rec, "o", "k/1", key), 0);
    static const char context[] = "fakts-node record v1";
    unsigned char bytes[sizeof context + 2 + 4 + 8 + 4 + 8 + 3];
    size_t n = 0;
    memcpy(bytes, context, sizeof context);
    n += sizeof context;
    memcpy(bytes + n, "o\0k/1\0", 6);
    n += 6;
    static const unsigned char fields[] = {1, 2, 3,    4,    5,    6,    7,    8,    0,    0,
                                           0, 1, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
    memcpy(bytes + n, fields, sizeof fields);
    n += sizeof fields;
    cr_assert(fk_sign_verify(fk_sign_key_public(key), bytes, n, rec.sig));

    /*  With a payload, the payload octets follow. */
    rec.flags = 0;
    rec.payload = "abc";
    rec.payload_len = 3;
    cr_assert_eq(fk_record_sign(&rec, "o", "k/1", key), 0);
    bytes[n - 9] = 0;
    memcpy(bytes + n, "abc", 3);
    cr_assert(fk_sign_verify(fk_sign_key_public(key), bytes, n + 3, rec.sig));
    fk_sign_key_destroy(&key);
}

Test(fk_record, a_signature_fails_for_any_other_record_owner_or_key)
{
    /*  EVIDENCE-OF: R-RECORD-013 each byte of the payload, the version,
        the flags, the stamp, the owner and the key changed in turn. */
    fk_sign_key_t *key = s_signer(0x33);
    fk_sign_key_t *other = s_signer(0x34);
    const uint8_t *pub = fk_sign_key_public(key);
    char payload[] = "{\"port\":8080}";
    fk_record_t rec = {.version = 41,
                       .flags = 0,
                       .stamp_ms = 1700000000000,
                       .payload = payload,
                       .payload_len = sizeof payload - 1};
    cr_assert_eq(fk_record_sign(&rec, "node-a", "svc/web", key), 0);
    cr_assert(fk_record_verify(&rec, "node-a", "svc/web", pub));

    for (size_t i = 0; i < rec.payload_len; i++) {
        payload[i] ^= 0x01;
        cr_assert_not(fk_record_verify(&rec, "node-a", "svc/web", pub), "payload octet %zu", i);
        payload[i] ^= 0x01;
    }
    /*  One octet more or less of payload. */
    rec.payload_len--;
    cr_assert_not(fk_record_verify(&rec, "node-a", "svc/web", pub));
    rec.payload_len++;

    fk_record_t changed = rec;
    changed.version = 42;
    cr_assert_not(fk_record_verify(&changed, "node-a", "svc/web", pub));
    changed = rec;
    changed.version = rec.version | ((uint64_t)1 << 63);
    cr_assert_not(fk_record_verify(&changed, "node-a", "svc/web", pub));
    changed = rec;
    changed.flags = FK_RECORD_TOMBSTONE;
    cr_assert_not(fk_record_verify(&changed, "node-a", "svc/web", pub));
    changed = rec;
    changed.stamp_ms = rec.stamp_ms + 1;
    cr_assert_not(fk_record_verify(&changed, "node-a", "svc/web", pub));
    changed = rec;
    changed.stamp_ms = rec.stamp_ms | ((int64_t)1 << 62);
    cr_assert_not(fk_record_verify(&changed, "node-a", "svc/web", pub));

    static const char *const owners[] = {"node-b", "node-", "node-aa", "Node-a", ""};
    for (size_t i = 0; i < sizeof owners / sizeof owners[0]; i++) {
        cr_assert_not(fk_record_verify(&rec, owners[i], "svc/web", pub), "owner %s", owners[i]);
    }
    static const char *const keys[] = {"svc/wec", "svc/we", "svc/webb", "approval/x", ""};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        cr_assert_not(fk_record_verify(&rec, "node-a", keys[i], pub), "key %s", keys[i]);
    }
    /*  The NULs keep owner and key apart: "node-as" + "vc/web" is another
        record. */
    cr_assert_not(fk_record_verify(&rec, "node-as", "vc/web", pub));
    /*  Another node's key, a flipped signature bit, and no signature. */
    cr_assert_not(fk_record_verify(&rec, "node-a", "svc/web", fk_sign_key_public(other)));
    for (size_t i = 0; i < FK_SIGN_LEN; i++) {
        changed = rec;
        changed.sig[i] ^= 0x20;
        cr_assert_not(fk_record_verify(&changed, "node-a", "svc/web", pub), "sig octet %zu", i);
    }
    changed = rec;
    changed.is_signed = false;
    cr_assert_not(fk_record_verify(&changed, "node-a", "svc/web", pub));
    fk_sign_key_destroy(&other);
    fk_sign_key_destroy(&key);
}

Test(fk_record, any_changed_octet_of_a_signed_encoding_is_refused_or_fails_to_verify)
{
    /*  EVIDENCE-OF: R-RECORD-013 what a relaying node could do to the
        bytes: no flipped bit of the encoding yields a record that both
        decodes and verifies. */
    fk_sign_key_t *key = s_signer(0x44);
    fk_record_t rec = {.version = 300,
                       .flags = 0,
                       .stamp_ms = 1700000000000,
                       .payload = "value",
                       .payload_len = 5};
    cr_assert_eq(fk_record_sign(&rec, "node-a", "cfg/x", key), 0);
    char *buf;
    size_t len;
    cr_assert_eq(fk_record_encode(&rec, &buf, &len), 0);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf[i] = (char)(buf[i] ^ (1 << bit));
            fk_record_t out;
            if (fk_record_decode(buf, len, &out) == 0) {
                cr_assert_not(fk_record_verify(&out, "node-a", "cfg/x", fk_sign_key_public(key)),
                              "octet %zu bit %d", i, bit);
            }
            buf[i] = (char)(buf[i] ^ (1 << bit));
        }
    }
    free(buf);
    fk_sign_key_destroy(&key);
}

Test(fk_record, a_signature_is_a_bin_of_exactly_64_octets)
{
    /*  EVIDENCE-OF: R-RECORD-013 bin 8, 16 or 32 of 64 octets are the
        signature (R-RECORD-008); any other length, a str or any other kind
        in the fourth of five elements is malformed. */
    unsigned char bytes[5 + 5 + FK_SIGN_LEN + 1 + 4];
    static const unsigned char fields[] = {0x95, 0x01, 0x00, 0x00};
    static const struct {
        unsigned char head[5];
        size_t head_len;
        size_t body;
        int ok;
    } sigs[] = {
        {{0xc4, 0x40}, 2, 64, 1},
        {{0xc5, 0x00, 0x40}, 3, 64, 1},
        {{0xc6, 0x00, 0x00, 0x00, 0x40}, 5, 64, 1},
        {{0xc4, 0x00}, 2, 0, 0},
        {{0xc4, 0x01}, 2, 1, 0},
        {{0xc4, 0x3f}, 2, 63, 0},
        {{0xc4, 0x41}, 2, 65, 0},
        {{0xd9, 0x40}, 2, 64, 0},
        {{0xa0}, 1, 0, 0},
        {{0xc0}, 1, 0, 0},
        {{0x01}, 1, 0, 0},
        {{0x90}, 1, 0, 0},
        {{0xd8, 0x01}, 2, 16, 0},
    };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        size_t n = 0;
        memcpy(bytes, fields, sizeof fields);
        n += sizeof fields;
        memcpy(bytes + n, sigs[i].head, sigs[i].head_len);
        n += sigs[i].head_len;
        memset(bytes + n, 0x5a, sigs[i].body);
        n += sigs[i].body;
        memcpy(bytes + n, "\xc4\x02hi", 4);
        n += 4;
        if (sigs[i].ok) {
            fk_record_t rec;
            s_expect_ok(bytes, n, &rec);
            cr_assert(rec.is_signed, "case %zu", i);
            cr_assert_eq(rec.sig[63], 0x5a);
            cr_assert_eq(rec.payload_len, 2);
        } else {
            s_expect_fail(bytes, n, FK_EPROTO_MALFORMED);
        }
    }
    /*  The signature comes before the payload, never after it. */
    unsigned char swapped[4 + 4 + 2 + FK_SIGN_LEN] = {0x95, 0x01, 0x00, 0x00, 0xc4,
                                                      0x02, 'h',  'i',  0xc4, 0x40};
    s_expect_fail(swapped, sizeof swapped, FK_EPROTO_MALFORMED);
}

Test(fk_record, four_element_records_still_decode_as_unsigned)
{
    /*  EVIDENCE-OF: R-RECORD-001 an unsigned record keeps its four
        elements; it decodes with is_signed false and a zero signature, and
        never verifies. */
    static const unsigned char small[] = {0x94, 0x01, 0x00, 0x00, 0xc4, 0x02, 'h', 'i'};
    fk_record_t rec;
    memset(&rec, 0xa5, sizeof rec);
    s_expect_ok(small, sizeof small, &rec);
    cr_assert_not(rec.is_signed);
    static const uint8_t zero[FK_SIGN_LEN];
    cr_assert_eq(memcmp(rec.sig, zero, FK_SIGN_LEN), 0);
    fk_sign_key_t *key = s_signer(0x55);
    cr_assert_not(fk_record_verify(&rec, "o", "k", fk_sign_key_public(key)));
    fk_sign_key_destroy(&key);
    /*  And encodes back to the same four elements. */
    char *buf;
    size_t len;
    cr_assert_eq(fk_record_encode(&rec, &buf, &len), 0);
    cr_assert_eq(len, sizeof small);
    cr_assert_eq(memcmp(buf, small, len), 0);
    free(buf);
}

Test(fk_record, rejects_every_strict_prefix_of_a_signed_record)
{
    /*  EVIDENCE-OF: R-RECORD-010 */
    fk_sign_key_t *key = s_signer(0x66);
    char *payload = s_pattern(300);
    fk_record_t rec = {.version = 9, .stamp_ms = 5, .payload = payload, .payload_len = 300};
    cr_assert_eq(fk_record_sign(&rec, "node-a", "k", key), 0);
    char *buf;
    size_t len;
    cr_assert_eq(fk_record_encode(&rec, &buf, &len), 0);
    for (size_t n = 0; n < len; n++) {
        s_expect_fail(buf, n, FK_EPROTO_MALFORMED);
    }
    free(buf);
    free(payload);
    fk_sign_key_destroy(&key);
}
