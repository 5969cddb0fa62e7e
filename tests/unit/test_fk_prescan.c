/*  test_fk_prescan - the non-allocating MessagePack validator.

    Uses fk_prescan.h only, with msgpack-c as an oracle where it is safe to
    call (input the pre-scan accepted, or input too short to hold a bomb).
    Comments cite PROTOCOL.md as EVIDENCE-OF: R-RECORD-nnn. Every input is
    copied into an allocation of exactly its length, so AddressSanitizer
    reports any read past the end. */

#include "fk_prescan.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <msgpack.h>

#include "fk_err.h"

TestSuite(fk_prescan);

typedef struct {
    const char *name;           /* what the encoding is, for failure messages */
    const unsigned char *bytes; /* one complete MessagePack object */
    size_t len;                 /* bytes in it */
} s_case_t;

#define S_CASE(name, ...)                                                                          \
    {                                                                                              \
        name, (const unsigned char[]){__VA_ARGS__}, sizeof((const unsigned char[]){__VA_ARGS__})   \
    }

/*  One valid object per MessagePack format, plus containers of them. */
static const s_case_t s_valid[] = {
    S_CASE("positive fixint", 0x00),
    S_CASE("positive fixint max", 0x7f),
    S_CASE("negative fixint", 0xe0),
    S_CASE("negative fixint -1", 0xff),
    S_CASE("nil", 0xc0),
    S_CASE("false", 0xc2),
    S_CASE("true", 0xc3),
    S_CASE("uint8", 0xcc, 0xff),
    S_CASE("uint16", 0xcd, 0x01, 0x00),
    S_CASE("uint32", 0xce, 0x00, 0x01, 0x00, 0x00),
    S_CASE("uint64", 0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00),
    S_CASE("int8", 0xd0, 0x80),
    S_CASE("int16", 0xd1, 0x80, 0x00),
    S_CASE("int32", 0xd2, 0x80, 0x00, 0x00, 0x00),
    S_CASE("int64", 0xd3, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00),
    S_CASE("float32", 0xca, 0x3f, 0x80, 0x00, 0x00),
    S_CASE("float64", 0xcb, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00),
    S_CASE("fixstr empty", 0xa0),
    S_CASE("fixstr", 0xa3, 'a', 'b', 'c'),
    S_CASE("str8", 0xd9, 0x02, 'h', 'i'),
    S_CASE("str16", 0xda, 0x00, 0x02, 'h', 'i'),
    S_CASE("str32", 0xdb, 0x00, 0x00, 0x00, 0x02, 'h', 'i'),
    S_CASE("bin8 empty", 0xc4, 0x00),
    S_CASE("bin8", 0xc4, 0x01, 0x00),
    S_CASE("bin16", 0xc5, 0x00, 0x01, 0xc1),
    S_CASE("bin32", 0xc6, 0x00, 0x00, 0x00, 0x01, 0xc1),
    S_CASE("fixext1", 0xd4, 0x01, 0xaa),
    S_CASE("fixext2", 0xd5, 0x01, 0xaa, 0xbb),
    S_CASE("fixext4", 0xd6, 0xff, 1, 2, 3, 4),
    S_CASE("fixext8", 0xd7, 0x02, 1, 2, 3, 4, 5, 6, 7, 8),
    S_CASE("fixext16", 0xd8, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16),
    S_CASE("ext8 empty", 0xc7, 0x00, 0x05),
    S_CASE("ext8", 0xc7, 0x02, 0x05, 0xc1, 0xc1),
    S_CASE("ext16", 0xc8, 0x00, 0x01, 0x05, 0xdd),
    S_CASE("ext32", 0xc9, 0x00, 0x00, 0x00, 0x01, 0x05, 0xdd),
    S_CASE("fixarray empty", 0x90),
    S_CASE("fixarray", 0x92, 0x01, 0xc0),
    S_CASE("array16", 0xdc, 0x00, 0x02, 0x01, 0x02),
    S_CASE("array32", 0xdd, 0x00, 0x00, 0x00, 0x01, 0xc3),
    S_CASE("fixmap empty", 0x80),
    S_CASE("fixmap", 0x81, 0xa1, 'k', 0x01),
    S_CASE("map16", 0xde, 0x00, 0x01, 0x01, 0x02),
    S_CASE("map32", 0xdf, 0x00, 0x00, 0x00, 0x01, 0xc0, 0xc0),
    S_CASE("nested", 0x93, 0x91, 0x81, 0xc0, 0x90, 0xc4, 0x01, 0x00, 0x80),
    S_CASE("record", 0x94, 0x01, 0x00, 0x00, 0xc4, 0x02, 'h', 'i'),
};

#define S_NVALID (sizeof s_valid / sizeof s_valid[0])

/*  Pre-scan a copy of [bytes, bytes + len) held in an exact-size allocation. */
static int
s_scan(const void *bytes, size_t len, unsigned max_depth)
{
    unsigned char *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    if (len > 0) {
        memcpy(copy, bytes, len);
    }
    int rc = fk_prescan(copy, len, max_depth);
    free(copy);
    return rc;
}

/*  Does msgpack-c parse [bytes, bytes + len) as one complete object? */
static int
s_msgpack_accepts(const void *bytes, size_t len)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t off = 0;
    msgpack_unpack_return ret = msgpack_unpack_next(&unpacked, bytes, len, &off);
    msgpack_unpacked_destroy(&unpacked);
    return ret == MSGPACK_UNPACK_SUCCESS && off == len;
}

/*  n nested one-element arrays around a nil: depth n. Caller frees. */
static unsigned char *
s_nested(size_t n, size_t *len_p)
{
    unsigned char *bytes = malloc(n + 1);
    cr_assert_not_null(bytes);
    memset(bytes, 0x91, n);
    bytes[n] = 0xc0;
    *len_p = n + 1;
    return bytes;
}

Test(fk_prescan, accepts_one_object_of_every_format)
{
    for (size_t i = 0; i < S_NVALID; i++) {
        int rc = s_scan(s_valid[i].bytes, s_valid[i].len, FK_PRESCAN_MAX_DEPTH);
        cr_assert_eq(rc, 0, "%s: got %s", s_valid[i].name, fk_err_name(rc));
    }
}

Test(fk_prescan, accepted_objects_are_parsed_whole_by_msgpack_c)
{
    /*  The table is also checked against msgpack-c itself, so the pre-scan
        cannot drift from the parser it protects. */
    for (size_t i = 0; i < S_NVALID; i++) {
        cr_assert(s_msgpack_accepts(s_valid[i].bytes, s_valid[i].len), "%s", s_valid[i].name);
    }
}

Test(fk_prescan, rejects_every_strict_prefix)
{
    /*  EVIDENCE-OF: R-RECORD-010 */
    for (size_t i = 0; i < S_NVALID; i++) {
        for (size_t n = 0; n < s_valid[i].len; n++) {
            int rc = s_scan(s_valid[i].bytes, n, FK_PRESCAN_MAX_DEPTH);
            cr_assert_eq(rc, FK_EPROTO_MALFORMED, "%s: prefix %zu of %zu accepted", s_valid[i].name,
                         n, s_valid[i].len);
        }
    }
}

Test(fk_prescan, rejects_trailing_bytes)
{
    /*  EVIDENCE-OF: R-RECORD-010 */
    for (size_t i = 0; i < S_NVALID; i++) {
        unsigned char buf[64];
        cr_assert_lt(s_valid[i].len, sizeof buf);
        memcpy(buf, s_valid[i].bytes, s_valid[i].len);
        buf[s_valid[i].len] = 0xc0;
        int rc = s_scan(buf, s_valid[i].len + 1, FK_PRESCAN_MAX_DEPTH);
        cr_assert_eq(rc, FK_EPROTO_MALFORMED, "%s followed by nil accepted", s_valid[i].name);
    }
}

Test(fk_prescan, rejects_empty_and_null_input)
{
    cr_assert_eq(fk_prescan(NULL, 0, FK_PRESCAN_MAX_DEPTH), FK_EPROTO_MALFORMED);
    cr_assert_eq(fk_prescan(NULL, 5, FK_PRESCAN_MAX_DEPTH), FK_EPROTO_MALFORMED);
    cr_assert_eq(fk_prescan("", 0, FK_PRESCAN_MAX_DEPTH), FK_EPROTO_MALFORMED);
}

Test(fk_prescan, rejects_the_never_used_byte_c1)
{
    /*  EVIDENCE-OF: R-RECORD-011 */
    static const unsigned char alone[] = {0xc1};
    static const unsigned char in_array[] = {0x92, 0x01, 0xc1};
    static const unsigned char as_map_key[] = {0x81, 0xc1, 0x01};
    cr_assert_eq(s_scan(alone, sizeof alone, 1), FK_EPROTO_MALFORMED);
    cr_assert_eq(s_scan(in_array, sizeof in_array, 1), FK_EPROTO_MALFORMED);
    cr_assert_eq(s_scan(as_map_key, sizeof as_map_key, 1), FK_EPROTO_MALFORMED);
}

Test(fk_prescan, rejects_the_array32_allocation_bomb, .timeout = 10)
{
    /*  EVIDENCE-OF: R-RECORD-011 msgpack/msgpack-c#1013: 0xdddddddd
        elements declared in five bytes, then with 1 MiB of padding that is
        still far too short. Both must be refused at the header. */
    static const unsigned char bomb[] = {0xdd, 0xdd, 0xdd, 0xdd, 0xdd};
    cr_assert_eq(s_scan(bomb, sizeof bomb, FK_PRESCAN_MAX_DEPTH), FK_EPROTO_MALFORMED);

    size_t len = ((size_t)1 << 20) + sizeof bomb;
    unsigned char *padded = malloc(len);
    cr_assert_not_null(padded);
    memset(padded, 0xc0, len);
    memcpy(padded, bomb, sizeof bomb);
    cr_assert_eq(fk_prescan(padded, len, FK_PRESCAN_MAX_DEPTH), FK_EPROTO_MALFORMED);
    free(padded);
}

Test(fk_prescan, rejects_map_and_length_bombs)
{
    /*  EVIDENCE-OF: R-RECORD-011 */
    static const unsigned char map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0};
    static const unsigned char str32[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'x'};
    static const unsigned char bin32[] = {0xc6, 0xff, 0xff, 0xff, 0xff, 'x'};
    static const unsigned char ext32[] = {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 'x'};
    cr_assert_eq(s_scan(map32, sizeof map32, 1), FK_EPROTO_MALFORMED);
    cr_assert_eq(s_scan(str32, sizeof str32, 0), FK_EPROTO_MALFORMED);
    cr_assert_eq(s_scan(bin32, sizeof bin32, 0), FK_EPROTO_MALFORMED);
    cr_assert_eq(s_scan(ext32, sizeof ext32, 0), FK_EPROTO_MALFORMED);
}

Test(fk_prescan, checks_every_length_against_the_bytes_left)
{
    /*  EVIDENCE-OF: R-RECORD-011 For each length-prefixed format: a length
        one more than the bytes present fails; exactly the bytes present
        passes. ext lengths exclude the type byte. */
    static const struct {
        unsigned char lead;  /* format byte */
        unsigned width;      /* bytes of the length field */
        unsigned type_bytes; /* 1 for ext: the type byte after the length */
    } formats[] = {
        {0xc4, 1, 0}, {0xc5, 2, 0}, {0xc6, 4, 0}, {0xd9, 1, 0}, {0xda, 2, 0},
        {0xdb, 4, 0}, {0xc7, 1, 1}, {0xc8, 2, 1}, {0xc9, 4, 1},
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        unsigned char buf[16] = {0};
        size_t data_len = 3;
        buf[0] = formats[i].lead;
        buf[formats[i].width] = (unsigned char)data_len; /* big-endian, low byte last */
        size_t len = 1 + formats[i].width + formats[i].type_bytes + data_len;
        cr_assert_eq(s_scan(buf, len, 0), 0, "lead %#x exact length", formats[i].lead);
        buf[formats[i].width] = (unsigned char)(data_len + 1);
        cr_assert_eq(s_scan(buf, len, 0), FK_EPROTO_MALFORMED, "lead %#x one short",
                     formats[i].lead);
    }
}

Test(fk_prescan, counts_two_elements_per_map_entry)
{
    static const unsigned char key_only[] = {0x81, 0xc0};
    static const unsigned char pair[] = {0x81, 0xc0, 0xc0};
    /*  map16 of 3 entries (6 elements) over 4, then 6, remaining bytes:
        the entry count alone would fit in 4 bytes. */
    static const unsigned char short_map[] = {0xde, 0x00, 0x03, 0xc0, 0xc0, 0xc0, 0xc0};
    static const unsigned char full_map[] = {0xde, 0x00, 0x03, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0};
    cr_assert_eq(s_scan(key_only, sizeof key_only, 1), FK_EPROTO_MALFORMED);
    cr_assert_eq(s_scan(pair, sizeof pair, 1), 0);
    cr_assert_eq(s_scan(short_map, sizeof short_map, 1), FK_EPROTO_MALFORMED);
    cr_assert_eq(s_scan(full_map, sizeof full_map, 1), 0);
}

Test(fk_prescan, nested_headers_cannot_multiply, .timeout = 10)
{
    /*  EVIDENCE-OF: R-RECORD-011 100000 array16 headers of 0xffff elements
        each, 300000 bytes in all: every header alone fits in the bytes
        after it, but their sum does not, and msgpack-c would allocate
        0xffff objects per level. The running count refuses the fifth
        header; a per-header check would walk on until the input ran out.
        Both answers are FK_EPROTO_MALFORMED, so this pins the result and
        the time limit, not where the scan stopped. */
    size_t reps = 100000;
    size_t len = reps * 3;
    unsigned char *bytes = malloc(len);
    cr_assert_not_null(bytes);
    for (size_t i = 0; i < reps; i++) {
        bytes[3 * i] = 0xdc;
        bytes[3 * i + 1] = 0xff;
        bytes[3 * i + 2] = 0xff;
    }
    cr_assert_eq(fk_prescan(bytes, len, FK_PRESCAN_MAX_DEPTH), FK_EPROTO_MALFORMED);
    free(bytes);

    /*  The same shape with honest counts passes: [[nil, nil], nil]. */
    static const unsigned char honest[] = {0x92, 0x92, 0xc0, 0xc0, 0xc0};
    cr_assert_eq(s_scan(honest, sizeof honest, 2), 0);
}

Test(fk_prescan, accepts_large_honest_containers)
{
    /*  A map16 of 1000 fixint pairs and a str32 of 70000 bytes: the limits
        reject only what cannot fit, never what merely is big. */
    size_t len = 3 + 2000;
    unsigned char *map = malloc(len);
    cr_assert_not_null(map);
    map[0] = 0xde;
    map[1] = 0x03;
    map[2] = 0xe8;
    memset(map + 3, 0x01, 2000);
    cr_assert_eq(fk_prescan(map, len, 1), 0);
    cr_assert_eq(fk_prescan(map, len - 1, 1), FK_EPROTO_MALFORMED);
    free(map);

    size_t str_len = 70000;
    unsigned char *str = malloc(5 + str_len);
    cr_assert_not_null(str);
    str[0] = 0xdb;
    str[1] = 0x00;
    str[2] = 0x01;
    str[3] = 0x11;
    str[4] = 0x70;
    memset(str + 5, 'x', str_len);
    cr_assert_eq(fk_prescan(str, 5 + str_len, 0), 0);
    free(str);
}

Test(fk_prescan, bounds_nesting_depth)
{
    /*  Depth n (n nested arrays) passes with max_depth n and fails with
        n - 1, for every depth msgpack-c supports. */
    for (size_t n = 0; n <= FK_PRESCAN_MAX_DEPTH; n++) {
        size_t len;
        unsigned char *bytes = s_nested(n, &len);
        cr_assert_eq(s_scan(bytes, len, (unsigned)n), 0, "depth %zu", n);
        if (n > 0) {
            cr_assert_eq(s_scan(bytes, len, (unsigned)n - 1), FK_EPROTO_MALFORMED, "depth %zu", n);
        }
        free(bytes);
    }
}

Test(fk_prescan, empty_containers_count_toward_depth)
{
    static const unsigned char empty_array[] = {0x90};
    static const unsigned char empty_map[] = {0x80};
    static const unsigned char array_of_empty[] = {0x91, 0x90};
    cr_assert_eq(s_scan(empty_array, 1, 0), FK_EPROTO_MALFORMED);
    cr_assert_eq(s_scan(empty_map, 1, 0), FK_EPROTO_MALFORMED);
    cr_assert_eq(s_scan(empty_array, 1, 1), 0);
    cr_assert_eq(s_scan(array_of_empty, sizeof array_of_empty, 1), FK_EPROTO_MALFORMED);
    cr_assert_eq(s_scan(array_of_empty, sizeof array_of_empty, 2), 0);
}

Test(fk_prescan, closed_containers_give_their_depth_back)
{
    /*  Fifteen sibling arrays inside one array: depth 2, not 16. */
    unsigned char siblings[16];
    siblings[0] = 0x9f;
    memset(siblings + 1, 0x90, 15);
    cr_assert_eq(s_scan(siblings, sizeof siblings, 2), 0);
    cr_assert_eq(s_scan(siblings, sizeof siblings, 1), FK_EPROTO_MALFORMED);

    /*  [[nil], [[nil]]]: the second child is deeper than the first, so the
        depth must be measured after the first has closed. */
    static const unsigned char uneven[] = {0x92, 0x91, 0xc0, 0x91, 0x91, 0xc0};
    cr_assert_eq(s_scan(uneven, sizeof uneven, 3), 0);
    cr_assert_eq(s_scan(uneven, sizeof uneven, 2), FK_EPROTO_MALFORMED);

    /*  A map value that is a container closes with its map. */
    static const unsigned char map_then_scalar[] = {0x92, 0x81, 0x01, 0x91, 0xc0, 0x02};
    cr_assert_eq(s_scan(map_then_scalar, sizeof map_then_scalar, 3), 0);
    cr_assert_eq(s_scan(map_then_scalar, sizeof map_then_scalar, 2), FK_EPROTO_MALFORMED);
}

Test(fk_prescan, clamps_depth_to_what_msgpack_c_can_parse)
{
    /*  msgpack-c's unpacker stack holds 32 levels: depth 32 parses and
        depth 33 does not, so no max_depth lets the pre-scan pass 33. */
    size_t len;
    unsigned char *at_limit = s_nested(FK_PRESCAN_MAX_DEPTH, &len);
    cr_assert_eq(s_scan(at_limit, len, UINT_MAX), 0);
    cr_assert(s_msgpack_accepts(at_limit, len));
    free(at_limit);

    unsigned char *too_deep = s_nested(FK_PRESCAN_MAX_DEPTH + 1, &len);
    cr_assert_eq(s_scan(too_deep, len, UINT_MAX), FK_EPROTO_MALFORMED);
    cr_assert_not(s_msgpack_accepts(too_deep, len));
    free(too_deep);
}

Test(fk_prescan, agrees_with_msgpack_c_on_every_input_of_two_bytes_or_less)
{
    /*  Inputs this short cannot carry a count above 15, so msgpack-c can
        safely be asked about every one of them, accepted or not. */
    unsigned char buf[2];
    for (unsigned a = 0; a < 256; a++) {
        buf[0] = (unsigned char)a;
        int scanned = s_scan(buf, 1, FK_PRESCAN_MAX_DEPTH) == 0;
        cr_assert_eq(scanned, s_msgpack_accepts(buf, 1), "input %02x", a);
        for (unsigned b = 0; b < 256; b++) {
            buf[1] = (unsigned char)b;
            scanned = fk_prescan(buf, 2, FK_PRESCAN_MAX_DEPTH) == 0;
            cr_assert_eq(scanned, s_msgpack_accepts(buf, 2), "input %02x %02x", a, b);
        }
    }
}

Test(fk_prescan, whatever_it_accepts_msgpack_c_parses_whole)
{
    /*  Random inputs of 3 to 10 bytes drawn from a small alphabet rich in
        headers. Only inputs the pre-scan accepts reach msgpack-c. */
    static const unsigned char alphabet[] = {0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0x82, 0x90,
                                             0x91, 0x92, 0x93, 0xa0, 0xa1, 0xc0, 0xc1, 0xc4,
                                             0xc7, 0xcc, 0xd0, 0xd4, 0xd9, 0xdc, 0xde, 0xff};
    uint32_t seed = 12345;
    unsigned accepted = 0;
    for (int iter = 0; iter < 200000; iter++) {
        unsigned char buf[10];
        seed = seed * 1103515245u + 12345u;
        size_t len = 3 + (seed >> 16) % 8;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = alphabet[(seed >> 16) % sizeof alphabet];
        }
        if (fk_prescan(buf, len, FK_PRESCAN_MAX_DEPTH) == 0) {
            accepted++;
            cr_assert(s_msgpack_accepts(buf, len), "iteration %d", iter);
        }
    }
    /*  Guard against a generator that never produces a valid object. */
    cr_assert_gt(accepted, 100);
}
