/*  test_fk_admit - the admission wire formats, through fk_admit.h only.

    Bodies are built with the encoder or written with msgpack-c's packer,
    the way a broken or hostile peer could send them; every decoded input
    is copied into an allocation of exactly its length, so AddressSanitizer
    sees any read past the end. Comments cite PROTOCOL.md, section
    "Admission", as EVIDENCE-OF: R-ADMIT-nnn. */

#include "fk_admit.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <msgpack.h>

#include "fk_crypto.h"
#include "fk_err.h"

TestSuite(fk_admit);

/*  Wrap a byte list as (pointer, length) arguments. */
#define S_BYTES(...)                                                                               \
    (const unsigned char[]){__VA_ARGS__}, sizeof((const unsigned char[]){__VA_ARGS__})

/*  n octets of a pattern that starts at first. */
static void
s_fill(uint8_t *bytes, size_t n, uint8_t first)
{
    for (size_t i = 0; i < n; i++) {
        bytes[i] = (uint8_t)(first + i);
    }
}

/*  A valid body of each step. */
static fk_admit_t
s_step(fk_admit_step_t step)
{
    fk_admit_t a;
    memset(&a, 0, sizeof a);
    a.step = step;
    switch (step) {
    case FK_ADMIT_HELLO:
        a.method = FK_ADMIT_TOKEN;
        a.has_token_id = true;
        s_fill(a.token_id, sizeof a.token_id, 0x10);
        a.has_sign_pub = true;
        s_fill(a.sign_pub, sizeof a.sign_pub, 0x20);
        break;
    case FK_ADMIT_CHALLENGE:
        a.has_nonce = true;
        s_fill(a.nonce, sizeof a.nonce, 0x40);
        break;
    case FK_ADMIT_PROOF:
        a.has_nonce = true;
        s_fill(a.nonce, sizeof a.nonce, 0x60);
        a.has_proof = true;
        s_fill(a.proof, sizeof a.proof, 0x80);
        break;
    case FK_ADMIT_WELCOME:
        a.has_sign_pub = true;
        s_fill(a.sign_pub, sizeof a.sign_pub, 0xa0);
        a.has_proof = true;
        s_fill(a.proof, sizeof a.proof, 0xc0);
        break;
    case FK_ADMIT_REFUSED:
        strcpy(a.reason, "token expired");
        break;
    default:
        cr_assert_fail("bad step");
    }
    return a;
}

static const fk_admit_step_t s_steps[] = {FK_ADMIT_HELLO, FK_ADMIT_CHALLENGE, FK_ADMIT_PROOF,
                                          FK_ADMIT_WELCOME, FK_ADMIT_REFUSED};
#define S_STEPS (sizeof s_steps / sizeof s_steps[0])

/*  Decode a private exact-size copy. */
static int
s_decode_copy(const void *bytes, size_t len, fk_admit_t *out)
{
    unsigned char *copy = malloc(len ? len : 1);
    cr_assert_not_null(copy);
    if (len > 0) {
        memcpy(copy, bytes, len);
    }
    int rc = fk_admit_decode(copy, len, out);
    free(copy);
    return rc;
}

static void
s_assert_zeroed(const fk_admit_t *a)
{
    fk_admit_t zero;
    memset(&zero, 0, sizeof zero);
    cr_assert_eq(memcmp(a, &zero, sizeof zero), 0, "a refused body is zeroed");
}

static void
s_expect_malformed(const void *bytes, size_t len)
{
    fk_admit_t out;
    memset(&out, 0xa5, sizeof out);
    int rc = s_decode_copy(bytes, len, &out);
    cr_assert_eq(rc, FK_EPROTO_MALFORMED, "got %s (length %zu)", fk_err_name(rc), len);
    s_assert_zeroed(&out);
}

static void
s_assert_same(const fk_admit_t *a, const fk_admit_t *b)
{
    cr_assert_eq(a->step, b->step);
    cr_assert_eq(a->method, b->method);
    cr_assert_eq(a->has_token_id, b->has_token_id);
    cr_assert_eq(a->has_sign_pub, b->has_sign_pub);
    cr_assert_eq(a->has_nonce, b->has_nonce);
    cr_assert_eq(a->has_proof, b->has_proof);
    if (a->has_token_id) {
        cr_assert_eq(memcmp(a->token_id, b->token_id, sizeof a->token_id), 0);
    }
    if (a->has_sign_pub) {
        cr_assert_eq(memcmp(a->sign_pub, b->sign_pub, sizeof a->sign_pub), 0);
    }
    if (a->has_nonce) {
        cr_assert_eq(memcmp(a->nonce, b->nonce, sizeof a->nonce), 0);
    }
    if (a->has_proof) {
        cr_assert_eq(memcmp(a->proof, b->proof, sizeof a->proof), 0);
    }
    cr_assert_str_eq(a->reason, b->reason);
}

/*  Encode (caller frees). */
static char *
s_encode(const fk_admit_t *a, size_t *len_p)
{
    char *buf = NULL;
    int rc = fk_admit_encode(a, &buf, len_p);
    cr_assert_eq(rc, 0, "encode: %s", fk_err_name(rc));
    cr_assert_not_null(buf);
    return buf;
}

/*  ---------------------------------------------------------------------
    The ADMIT body. */

Test(fk_admit, every_step_round_trips)
{
    /*  EVIDENCE-OF: R-ADMIT-001 EVIDENCE-OF: R-ADMIT-003 */
    for (size_t i = 0; i < S_STEPS; i++) {
        fk_admit_t in = s_step(s_steps[i]);
        size_t len;
        char *buf = s_encode(&in, &len);
        fk_admit_t out;
        cr_assert_eq(s_decode_copy(buf, len, &out), 0, "step %d", (int)s_steps[i]);
        s_assert_same(&in, &out);
        /*  EVIDENCE-OF: R-ADMIT-009 canonical: encoding again gives the
            same bytes. */
        size_t again_len;
        char *again = s_encode(&out, &again_len);
        cr_assert_eq(again_len, len);
        cr_assert_eq(memcmp(again, buf, len), 0);
        free(again);
        free(buf);
    }
    /*  HELLO with the cluster secret names no token. */
    fk_admit_t in = s_step(FK_ADMIT_HELLO);
    in.method = FK_ADMIT_SECRET;
    in.has_token_id = false;
    size_t len;
    char *buf = s_encode(&in, &len);
    fk_admit_t out;
    cr_assert_eq(s_decode_copy(buf, len, &out), 0);
    s_assert_same(&in, &out);
    cr_assert_eq(out.method, FK_ADMIT_SECRET);
    free(buf);
}

Test(fk_admit, decode_zeroes_the_fields_a_step_does_not_use)
{
    /*  EVIDENCE-OF: R-ADMIT-004 what the encoder ignores (bytes behind a
        false has_*) never reaches the wire, and decode leaves them zero. */
    fk_admit_t in = s_step(FK_ADMIT_CHALLENGE);
    memset(in.token_id, 0xee, sizeof in.token_id);
    memset(in.proof, 0xee, sizeof in.proof);
    size_t len;
    char *buf = s_encode(&in, &len);
    fk_admit_t out;
    memset(&out, 0xa5, sizeof out);
    cr_assert_eq(s_decode_copy(buf, len, &out), 0);
    static const uint8_t zero[32];
    cr_assert_eq(memcmp(out.token_id, zero, sizeof out.token_id), 0);
    cr_assert_eq(memcmp(out.sign_pub, zero, sizeof out.sign_pub), 0);
    cr_assert_eq(memcmp(out.proof, zero, sizeof out.proof), 0);
    cr_assert_str_eq(out.reason, "");
    free(buf);
}

Test(fk_admit, encodes_the_protocol_examples)
{
    /*  EVIDENCE-OF: R-ADMIT-009 a REFUSED "no", a CHALLENGE and a HELLO
        with the cluster secret, byte for byte as PROTOCOL.md shows them. */
    fk_admit_t in;
    memset(&in, 0, sizeof in);
    in.step = FK_ADMIT_REFUSED;
    strcpy(in.reason, "no");
    size_t len;
    char *buf = s_encode(&in, &len);
    static const unsigned char refused[] = {0x97, 0x05, 0x00, 0xc4, 0x00, 0xc4, 0x00,
                                            0xc4, 0x00, 0xc4, 0x00, 0xa2, 0x6e, 0x6f};
    cr_assert_eq(len, sizeof refused);
    cr_assert_eq(memcmp(buf, refused, len), 0);
    free(buf);

    memset(&in, 0, sizeof in);
    in.step = FK_ADMIT_CHALLENGE;
    in.has_nonce = true;
    s_fill(in.nonce, sizeof in.nonce, 0);
    buf = s_encode(&in, &len);
    unsigned char challenge[9 + 32 + 3] = {0x97, 0x02, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xc4, 0x20};
    s_fill(challenge + 9, 32, 0);
    memcpy(challenge + 9 + 32, "\xc4\x00\xa0", 3);
    cr_assert_eq(len, sizeof challenge);
    cr_assert_eq(memcmp(buf, challenge, len), 0);
    free(buf);

    memset(&in, 0, sizeof in);
    in.step = FK_ADMIT_HELLO;
    in.method = FK_ADMIT_SECRET;
    in.has_sign_pub = true;
    s_fill(in.sign_pub, sizeof in.sign_pub, 0x80);
    buf = s_encode(&in, &len);
    unsigned char hello[7 + 32 + 5] = {0x97, 0x01, 0x02, 0xc4, 0x00, 0xc4, 0x20};
    s_fill(hello + 7, 32, 0x80);
    memcpy(hello + 7 + 32, "\xc4\x00\xc4\x00\xa0", 5);
    cr_assert_eq(len, sizeof hello);
    cr_assert_eq(memcmp(buf, hello, len), 0);
    free(buf);
}

/*  Every shape a step forbids, as a change to a valid body of that step. */
typedef struct {
    fk_admit_step_t step; /* the valid body to start from */
    const char *what;     /* for the failure message */
    void (*change)(fk_admit_t *a);
} s_bad_t;

static void
s_add_token_id(fk_admit_t *a)
{
    a->has_token_id = true;
}
static void
s_drop_token_id(fk_admit_t *a)
{
    a->has_token_id = false;
}
static void
s_add_sign_pub(fk_admit_t *a)
{
    a->has_sign_pub = true;
}
static void
s_drop_sign_pub(fk_admit_t *a)
{
    a->has_sign_pub = false;
}
static void
s_add_nonce(fk_admit_t *a)
{
    a->has_nonce = true;
}
static void
s_drop_nonce(fk_admit_t *a)
{
    a->has_nonce = false;
}
static void
s_add_proof(fk_admit_t *a)
{
    a->has_proof = true;
}
static void
s_drop_proof(fk_admit_t *a)
{
    a->has_proof = false;
}
static void
s_add_reason(fk_admit_t *a)
{
    strcpy(a->reason, "why");
}
static void
s_drop_reason(fk_admit_t *a)
{
    a->reason[0] = '\0';
}
static void
s_method_token(fk_admit_t *a)
{
    a->method = FK_ADMIT_TOKEN;
}
static void
s_method_secret(fk_admit_t *a)
{
    a->method = FK_ADMIT_SECRET;
}
static void
s_method_none(fk_admit_t *a)
{
    a->method = FK_ADMIT_NONE;
}

static const s_bad_t s_bad[] = {
    {FK_ADMIT_HELLO, "HELLO without method", s_method_none},
    {FK_ADMIT_HELLO, "HELLO token without id", s_drop_token_id},
    {FK_ADMIT_HELLO, "HELLO secret with a token id", s_method_secret},
    {FK_ADMIT_HELLO, "HELLO without signing key", s_drop_sign_pub},
    {FK_ADMIT_HELLO, "HELLO with a nonce", s_add_nonce},
    {FK_ADMIT_HELLO, "HELLO with a proof", s_add_proof},
    {FK_ADMIT_HELLO, "HELLO with a reason", s_add_reason},
    {FK_ADMIT_CHALLENGE, "CHALLENGE with a method", s_method_token},
    {FK_ADMIT_CHALLENGE, "CHALLENGE with a token id", s_add_token_id},
    {FK_ADMIT_CHALLENGE, "CHALLENGE with a signing key", s_add_sign_pub},
    {FK_ADMIT_CHALLENGE, "CHALLENGE without nonce", s_drop_nonce},
    {FK_ADMIT_CHALLENGE, "CHALLENGE with a proof", s_add_proof},
    {FK_ADMIT_CHALLENGE, "CHALLENGE with a reason", s_add_reason},
    {FK_ADMIT_PROOF, "PROOF with a method", s_method_secret},
    {FK_ADMIT_PROOF, "PROOF with a token id", s_add_token_id},
    {FK_ADMIT_PROOF, "PROOF with a signing key", s_add_sign_pub},
    {FK_ADMIT_PROOF, "PROOF without nonce", s_drop_nonce},
    {FK_ADMIT_PROOF, "PROOF without proof", s_drop_proof},
    {FK_ADMIT_PROOF, "PROOF with a reason", s_add_reason},
    {FK_ADMIT_WELCOME, "WELCOME with a method", s_method_token},
    {FK_ADMIT_WELCOME, "WELCOME with a token id", s_add_token_id},
    {FK_ADMIT_WELCOME, "WELCOME without signing key", s_drop_sign_pub},
    {FK_ADMIT_WELCOME, "WELCOME with a nonce", s_add_nonce},
    {FK_ADMIT_WELCOME, "WELCOME without proof", s_drop_proof},
    {FK_ADMIT_WELCOME, "WELCOME with a reason", s_add_reason},
    {FK_ADMIT_REFUSED, "REFUSED with a method", s_method_secret},
    {FK_ADMIT_REFUSED, "REFUSED with a token id", s_add_token_id},
    {FK_ADMIT_REFUSED, "REFUSED with a signing key", s_add_sign_pub},
    {FK_ADMIT_REFUSED, "REFUSED with a nonce", s_add_nonce},
    {FK_ADMIT_REFUSED, "REFUSED with a proof", s_add_proof},
    {FK_ADMIT_REFUSED, "REFUSED without reason", s_drop_reason},
};

/*  The bytes of *a packed without the encoder's checks (caller frees). */
static unsigned char *
s_pack_raw(const fk_admit_t *a, size_t *len_p)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 7);
    msgpack_pack_uint64(&pk, (uint64_t)a->step);
    msgpack_pack_uint64(&pk, (uint64_t)a->method);
    msgpack_pack_bin_with_body(&pk, a->token_id, a->has_token_id ? sizeof a->token_id : 0);
    msgpack_pack_bin_with_body(&pk, a->sign_pub, a->has_sign_pub ? sizeof a->sign_pub : 0);
    msgpack_pack_bin_with_body(&pk, a->nonce, a->has_nonce ? sizeof a->nonce : 0);
    msgpack_pack_bin_with_body(&pk, a->proof, a->has_proof ? sizeof a->proof : 0);
    msgpack_pack_str_with_body(&pk, a->reason, strlen(a->reason));
    *len_p = sbuf.size;
    return (unsigned char *)msgpack_sbuffer_release(&sbuf);
}

Test(fk_admit, every_forbidden_shape_is_refused_both_ways)
{
    /*  EVIDENCE-OF: R-ADMIT-004 EVIDENCE-OF: R-ADMIT-005
        EVIDENCE-OF: R-ADMIT-006 EVIDENCE-OF: R-ADMIT-007
        EVIDENCE-OF: R-ADMIT-008 the encoder refuses to write it
        (FK_EINVAL_INPUT) and the decoder refuses to read it. */
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        fk_admit_t a = s_step(s_bad[i].step);
        s_bad[i].change(&a);
        char sentinel;
        char *buf = &sentinel;
        size_t len = 1;
        cr_assert_eq(fk_admit_encode(&a, &buf, &len), FK_EINVAL_INPUT, "%s", s_bad[i].what);
        cr_assert_null(buf);
        cr_assert_eq(len, 0);
        unsigned char *raw = s_pack_raw(&a, &len);
        s_expect_malformed(raw, len);
        free(raw);
    }
}

Test(fk_admit, unknown_steps_and_methods_are_refused)
{
    /*  EVIDENCE-OF: R-ADMIT-003 EVIDENCE-OF: R-ADMIT-004 */
    static const uint64_t steps[] = {0, 6, 127, 255, (uint64_t)1 << 32 | 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        fk_admit_t a = s_step(FK_ADMIT_REFUSED);
        a.step = (fk_admit_step_t)(steps[i] & 0xff);
        if (steps[i] <= 255) {
            char *buf;
            size_t len;
            cr_assert_eq(fk_admit_encode(&a, &buf, &len), FK_EINVAL_INPUT);
        }
        msgpack_sbuffer sbuf;
        msgpack_sbuffer_init(&sbuf);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 7);
        msgpack_pack_uint64(&pk, steps[i]);
        msgpack_pack_uint64(&pk, 0);
        for (int f = 0; f < 4; f++) {
            msgpack_pack_bin(&pk, 0);
        }
        msgpack_pack_str_with_body(&pk, "x", 1);
        s_expect_malformed(sbuf.data, sbuf.size);
        msgpack_sbuffer_destroy(&sbuf);
    }
    fk_admit_t a = s_step(FK_ADMIT_HELLO);
    a.method = (fk_admit_method_t)3;
    char *buf;
    size_t len;
    cr_assert_eq(fk_admit_encode(&a, &buf, &len), FK_EINVAL_INPUT);
    unsigned char *raw = s_pack_raw(&a, &len);
    s_expect_malformed(raw, len);
    free(raw);
    /*  A negative step in a signed format. */
    s_expect_malformed(
        S_BYTES(0x97, 0xff, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xa1, 'x'));
}

/*  A bin (kind 0xc4) or str 8 (0xd9) of len zero octets (caller frees). */
static unsigned char *
s_sized(unsigned char kind, size_t len, size_t *out_len)
{
    unsigned char *bytes = calloc(1, 2 + len);
    cr_assert_not_null(bytes);
    bytes[0] = kind;
    bytes[1] = (unsigned char)len;
    *out_len = 2 + len;
    return bytes;
}

Test(fk_admit, fields_of_other_lengths_or_kinds_are_refused)
{
    /*  EVIDENCE-OF: R-ADMIT-002 each bin is empty or exactly its length,
        never a str; the step and method are unsigned integers; the reason
        is a str. Each field of a valid WELCOME replaced by wrong things. */
    const struct {
        size_t field;       /* 0 .. 6 */
        unsigned char kind; /* 0: the bytes below; else s_sized(kind, len) */
        size_t len;         /* for s_sized */
        const unsigned char *bytes;
        size_t bytes_len;
    } bad[] = {
        {0, 0, 0, S_BYTES(0xc0)},
        {0, 0, 0, S_BYTES(0xa1, 0x04)},
        {0, 0, 0, S_BYTES(0xca, 0x40, 0x80, 0x00, 0x00)},
        {1, 0, 0, S_BYTES(0xc2)},
        {1, 0, 0, S_BYTES(0xc4, 0x00)},
        {2, 0xc4, 1, NULL, 0},
        {2, 0xc4, FK_ADMIT_TOKEN_ID_LEN + 1, NULL, 0},
        {2, 0, 0, S_BYTES(0xa0)},
        {2, 0, 0, S_BYTES(0x90)},
        {3, 0xc4, FK_SIGN_PUBLIC_LEN - 1, NULL, 0},
        {3, 0xc4, FK_SIGN_PUBLIC_LEN + 1, NULL, 0},
        {3, 0xd9, FK_SIGN_PUBLIC_LEN, NULL, 0},
        {4, 0, 0, S_BYTES(0xc0)},
        {4, 0, 0, S_BYTES(0x80)},
        {5, 0xc4, 16, NULL, 0},
        {5, 0xc4, 64, NULL, 0},
        {6, 0, 0, S_BYTES(0xc4, 0x00)},
        {6, 0, 0, S_BYTES(0xc0)},
        {6, 0, 0, S_BYTES(0x00)},
    };
    fk_admit_t a = s_step(FK_ADMIT_WELCOME);
    size_t valid_len;
    char *valid = s_encode(&a, &valid_len);
    /*  Where each field of the encoded WELCOME starts: 97 | 04 | 00 | c4 00
        | c4 20 + 32 | c4 00 | c4 20 + 32 | a0, and the end. */
    static const size_t starts[] = {1, 2, 3, 5, 39, 41, 75, 76};
    cr_assert_eq(valid_len, 76);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char *sized = NULL;
        const unsigned char *repl = bad[i].bytes;
        size_t repl_len = bad[i].bytes_len;
        if (bad[i].kind != 0) {
            sized = s_sized(bad[i].kind, bad[i].len, &repl_len);
            repl = sized;
        }
        size_t head = starts[bad[i].field];
        size_t tail = starts[bad[i].field + 1];
        size_t len = head + repl_len + (valid_len - tail);
        unsigned char *bytes = malloc(len);
        cr_assert_not_null(bytes);
        memcpy(bytes, valid, head);
        memcpy(bytes + head, repl, repl_len);
        memcpy(bytes + head + repl_len, valid + tail, valid_len - tail);
        s_expect_malformed(bytes, len);
        free(bytes);
        free(sized);
    }
    free(valid);
}

Test(fk_admit, accepts_every_integer_width_and_header_form)
{
    /*  EVIDENCE-OF: R-ADMIT-009 array 16, step as uint64, method as int8,
        bins as bin 16 and bin 32, the reason as str 8. */
    unsigned char bytes[200];
    size_t n = 0;
    static const unsigned char head[] = {0xdc, 0x00, 0x07, 0xcf, 0,    0,    0,    0,
                                         0,    0,    0,    0x01, 0xd0, 0x02, 0xc5, 0x00,
                                         0x00, 0xc6, 0x00, 0x00, 0x00, 0x20};
    memcpy(bytes, head, sizeof head);
    n = sizeof head;
    s_fill(bytes + n, 32, 0x30);
    n += 32;
    static const unsigned char tail[] = {0xc6, 0, 0, 0, 0, 0xc5, 0x00, 0x00, 0xd9, 0x00};
    memcpy(bytes + n, tail, sizeof tail);
    n += sizeof tail;
    fk_admit_t out;
    cr_assert_eq(s_decode_copy(bytes, n, &out), 0);
    cr_assert_eq(out.step, FK_ADMIT_HELLO);
    cr_assert_eq(out.method, FK_ADMIT_SECRET);
    cr_assert(out.has_sign_pub);
    cr_assert_eq(out.sign_pub[31], 0x30 + 31);
    size_t len;
    char *buf = s_encode(&out, &len);
    cr_assert_lt(len, n);
    free(buf);
}

Test(fk_admit, reasons_are_1_to_200_octets_without_nul)
{
    /*  EVIDENCE-OF: R-ADMIT-008 */
    fk_admit_t a = s_step(FK_ADMIT_REFUSED);
    memset(a.reason, 'r', FK_ADMIT_MAX_REASON);
    a.reason[FK_ADMIT_MAX_REASON] = '\0';
    size_t len;
    char *buf = s_encode(&a, &len);
    fk_admit_t out;
    cr_assert_eq(s_decode_copy(buf, len, &out), 0);
    cr_assert_eq(strlen(out.reason), FK_ADMIT_MAX_REASON);
    free(buf);

    /*  Not NUL-terminated within the buffer: refused by the encoder. */
    memset(a.reason, 'r', sizeof a.reason);
    char *none;
    cr_assert_eq(fk_admit_encode(&a, &none, &len), FK_EINVAL_INPUT);

    /*  201 octets, or a NUL inside: refused by the decoder. */
    char long_reason[FK_ADMIT_MAX_REASON + 1];
    memset(long_reason, 'r', sizeof long_reason);
    for (int with_nul = 0; with_nul <= 1; with_nul++) {
        msgpack_sbuffer sbuf;
        msgpack_sbuffer_init(&sbuf);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 7);
        msgpack_pack_uint64(&pk, FK_ADMIT_REFUSED);
        msgpack_pack_uint64(&pk, 0);
        for (int f = 0; f < 4; f++) {
            msgpack_pack_bin(&pk, 0);
        }
        if (with_nul) {
            msgpack_pack_str_with_body(&pk, "a\0b", 3);
        } else {
            msgpack_pack_str_with_body(&pk, long_reason, sizeof long_reason);
        }
        s_expect_malformed(sbuf.data, sbuf.size);
        msgpack_sbuffer_destroy(&sbuf);
    }
}

Test(fk_admit, every_strict_prefix_is_refused)
{
    /*  EVIDENCE-OF: R-ADMIT-010 of every step's body, and trailing bytes
        too. */
    for (size_t i = 0; i < S_STEPS; i++) {
        fk_admit_t a = s_step(s_steps[i]);
        size_t len;
        char *buf = s_encode(&a, &len);
        for (size_t n = 0; n < len; n++) {
            s_expect_malformed(buf, n);
        }
        char *longer = malloc(len + 1);
        cr_assert_not_null(longer);
        memcpy(longer, buf, len);
        longer[len] = (char)0xc0;
        s_expect_malformed(longer, len + 1);
        free(longer);
        free(buf);
    }
    fk_admit_t out;
    cr_assert_eq(fk_admit_decode(NULL, 0, &out), FK_EPROTO_MALFORMED);
}

Test(fk_admit, refuses_other_shapes_and_the_allocation_bomb, .timeout = 10)
{
    /*  EVIDENCE-OF: R-ADMIT-001 EVIDENCE-OF: R-ADMIT-010 arrays of 6 and 8,
        a map, a scalar, nested arrays, and headers declaring billions. */
    s_expect_malformed(S_BYTES(0x96, 0x05, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xc4, 0x00));
    s_expect_malformed(
        S_BYTES(0x98, 0x05, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xa1, 'x', 0xc0));
    s_expect_malformed(S_BYTES(0x87, 0x05, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xc4, 0x00,
                               0xa1, 'x', 0xc0, 0xc0, 0xc0));
    s_expect_malformed(S_BYTES(0x05));
    s_expect_malformed(
        S_BYTES(0x97, 0x91, 0x05, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xc4, 0x00, 0xa1, 'x'));
    s_expect_malformed(S_BYTES(0xdd, 0xdd, 0xdd, 0xdd, 0xdd));
    s_expect_malformed(S_BYTES(0x97, 0xdd, 0xff, 0xff, 0xff, 0xff));
    s_expect_malformed(S_BYTES(0xdc, 0xff, 0xff, 0xdc, 0xff, 0xff));
    /*  A large honest array the pre-scan alone would pass. */
    size_t count = 1000000;
    unsigned char *nils = malloc(5 + count);
    cr_assert_not_null(nils);
    nils[0] = 0xdd;
    nils[1] = (unsigned char)(count >> 24);
    nils[2] = (unsigned char)(count >> 16);
    nils[3] = (unsigned char)(count >> 8);
    nils[4] = (unsigned char)count;
    memset(nils + 5, 0xc0, count);
    s_expect_malformed(nils, 5 + count);
    free(nils);
}

/*  ---------------------------------------------------------------------
    Proofs. */

/*  The inputs of one proof, to vary one at a time. */
typedef struct {
    uint8_t secret[FK_ADMIT_SECRET_LEN];
    bool seed;
    uint8_t seed_nonce[FK_ADMIT_NONCE_LEN];
    uint8_t joiner_nonce[FK_ADMIT_NONCE_LEN];
    uint8_t curve_self[32];
    uint8_t sign_self[FK_SIGN_PUBLIC_LEN];
    uint8_t curve_peer[32];
    char name[16];
    char addr[16];
} s_proof_in_t;

static void
s_proof_of(const s_proof_in_t *in, uint8_t out[FK_ADMIT_PROOF_LEN])
{
    fk_admit_proof(in->secret, in->seed, in->seed_nonce, in->joiner_nonce, in->curve_self,
                   in->sign_self, in->curve_peer, in->name, in->addr, out);
}

static s_proof_in_t
s_proof_base(void)
{
    s_proof_in_t in;
    memset(&in, 0, sizeof in);
    s_fill(in.secret, sizeof in.secret, 0x01);
    s_fill(in.seed_nonce, sizeof in.seed_nonce, 0x21);
    s_fill(in.joiner_nonce, sizeof in.joiner_nonce, 0x41);
    s_fill(in.curve_self, sizeof in.curve_self, 0x61);
    s_fill(in.sign_self, sizeof in.sign_self, 0x81);
    s_fill(in.curve_peer, sizeof in.curve_peer, 0xa1);
    strcpy(in.name, "node-d");
    strcpy(in.addr, "10.0.0.4:7946");
    return in;
}

Test(fk_admit, a_proof_changes_when_any_input_changes)
{
    /*  EVIDENCE-OF: R-ADMIT-011 every octet of every input, the side, and
        the name/address boundary. */
    s_proof_in_t base = s_proof_base();
    uint8_t want[FK_ADMIT_PROOF_LEN];
    s_proof_of(&base, want);
    uint8_t again[FK_ADMIT_PROOF_LEN];
    s_proof_of(&base, again);
    cr_assert(fk_admit_proof_equal(want, again), "deterministic");

    struct {
        uint8_t *bytes;
        size_t len;
    } fields[] = {
        {base.secret, sizeof base.secret},
        {base.seed_nonce, sizeof base.seed_nonce},
        {base.joiner_nonce, sizeof base.joiner_nonce},
        {base.curve_self, sizeof base.curve_self},
        {base.sign_self, sizeof base.sign_self},
        {base.curve_peer, sizeof base.curve_peer},
    };
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        for (size_t i = 0; i < fields[f].len; i++) {
            fields[f].bytes[i] ^= 0x01;
            uint8_t got[FK_ADMIT_PROOF_LEN];
            s_proof_of(&base, got);
            cr_assert_not(fk_admit_proof_equal(want, got), "field %zu octet %zu", f, i);
            fields[f].bytes[i] ^= 0x01;
        }
    }
    s_proof_in_t in = base;
    in.seed = true;
    uint8_t got[FK_ADMIT_PROOF_LEN];
    s_proof_of(&in, got);
    cr_assert_not(fk_admit_proof_equal(want, got), "seed and joiner proofs differ");

    static const char *const names[] = {"node-e", "node-", "node-dd", ""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        in = base;
        strcpy(in.name, names[i]);
        s_proof_of(&in, got);
        cr_assert_not(fk_admit_proof_equal(want, got), "name %s", names[i]);
    }
    in = base;
    strcpy(in.addr, "10.0.0.4:7947");
    s_proof_of(&in, got);
    cr_assert_not(fk_admit_proof_equal(want, got));
    /*  Moving a character across the NUL changes the proof. */
    in = base;
    strcpy(in.name, "node-d1");
    strcpy(in.addr, "0.0.0.4:7946");
    s_proof_of(&in, got);
    cr_assert_not(fk_admit_proof_equal(want, got));
    /*  Swapping the two nonces, or the two CURVE keys, changes it too. */
    in = base;
    memcpy(in.seed_nonce, base.joiner_nonce, sizeof in.seed_nonce);
    memcpy(in.joiner_nonce, base.seed_nonce, sizeof in.joiner_nonce);
    s_proof_of(&in, got);
    cr_assert_not(fk_admit_proof_equal(want, got));
    in = base;
    memcpy(in.curve_self, base.curve_peer, sizeof in.curve_self);
    memcpy(in.curve_peer, base.curve_self, sizeof in.curve_peer);
    s_proof_of(&in, got);
    cr_assert_not(fk_admit_proof_equal(want, got));
}

Test(fk_admit, a_proof_is_the_hmac_of_the_bytes_protocol_md_names)
{
    /*  EVIDENCE-OF: R-ADMIT-011 the input written out by hand, for both
        sides. */
    s_proof_in_t in = s_proof_base();
    for (int seed = 0; seed <= 1; seed++) {
        in.seed = seed == 1;
        const char *context = seed ? "fakts-node admit v1 seed" : "fakts-node admit v1 joiner";
        unsigned char bytes[64 + 5 * 32 + 32];
        size_t n = strlen(context) + 1;
        memcpy(bytes, context, n);
        memcpy(bytes + n, in.seed_nonce, 32);
        memcpy(bytes + n + 32, in.joiner_nonce, 32);
        memcpy(bytes + n + 64, in.curve_self, 32);
        memcpy(bytes + n + 96, in.sign_self, 32);
        memcpy(bytes + n + 128, in.curve_peer, 32);
        n += 160;
        memcpy(bytes + n,
               "node-d\0"
               "10.0.0.4:7946\0",
               21);
        n += 21;
        unsigned char want[32];
        fk_hmac_sha256(in.secret, sizeof in.secret, bytes, n, want);
        uint8_t got[FK_ADMIT_PROOF_LEN];
        s_proof_of(&in, got);
        cr_assert_eq(memcmp(got, want, 32), 0, "seed %d", seed);
    }
}

Test(fk_admit, proof_equal_compares_every_octet)
{
    uint8_t a[FK_ADMIT_PROOF_LEN];
    s_fill(a, sizeof a, 0x33);
    uint8_t b[FK_ADMIT_PROOF_LEN];
    memcpy(b, a, sizeof b);
    cr_assert(fk_admit_proof_equal(a, b));
    for (size_t i = 0; i < sizeof b; i++) {
        b[i] ^= 0x80;
        cr_assert_not(fk_admit_proof_equal(a, b), "octet %zu", i);
        b[i] ^= 0x80;
    }
}

/*  ---------------------------------------------------------------------
    The UDP hello. */

static const uint8_t s_secret[FK_ADMIT_SECRET_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t s_other_secret[FK_ADMIT_SECRET_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 10};

Test(fk_admit, hello_request_and_reply_round_trip)
{
    /*  EVIDENCE-OF: R-ADMIT-012 EVIDENCE-OF: R-ADMIT-014
        EVIDENCE-OF: R-ADMIT-015 */
    uint8_t nonce[FK_ADMIT_HELLO_NONCE_LEN];
    s_fill(nonce, sizeof nonce, 0x70);
    uint8_t request[FK_ADMIT_HELLO_LEN];
    fk_admit_hello_request(s_secret, nonce, request);
    cr_assert_eq(memcmp(request, "FKH1\x01", 5), 0);
    cr_assert_eq(memcmp(request + 5, nonce, 16), 0);
    static const uint8_t zero[32];
    cr_assert_eq(memcmp(request + 21, zero, 32), 0);

    uint8_t got_nonce[FK_ADMIT_HELLO_NONCE_LEN] = {0};
    cr_assert_eq(fk_admit_hello_read_request(s_secret, request, sizeof request, got_nonce), 0);
    cr_assert_eq(memcmp(got_nonce, nonce, sizeof nonce), 0);

    uint8_t curve[32];
    s_fill(curve, sizeof curve, 0x90);
    uint8_t reply[FK_ADMIT_HELLO_LEN];
    fk_admit_hello_reply(s_secret, got_nonce, curve, reply);
    cr_assert_eq(memcmp(reply, "FKH1\x02", 5), 0);
    cr_assert_eq(memcmp(reply + 21, curve, 32), 0);
    uint8_t got_curve[32] = {0};
    cr_assert_eq(fk_admit_hello_read_reply(s_secret, nonce, reply, sizeof reply, got_curve), 0);
    cr_assert_eq(memcmp(got_curve, curve, sizeof curve), 0);
}

Test(fk_admit, hello_macs_are_the_hmacs_protocol_md_names)
{
    /*  EVIDENCE-OF: R-ADMIT-012 */
    uint8_t nonce[16];
    s_fill(nonce, sizeof nonce, 0x01);
    uint8_t curve[32];
    s_fill(curve, sizeof curve, 0x51);
    uint8_t request[FK_ADMIT_HELLO_LEN];
    uint8_t reply[FK_ADMIT_HELLO_LEN];
    fk_admit_hello_request(s_secret, nonce, request);
    fk_admit_hello_reply(s_secret, nonce, curve, reply);
    unsigned char bytes[25 + 16 + 32];
    memcpy(bytes, "fakts-node hello request", 25);
    memcpy(bytes + 25, nonce, 16);
    unsigned char mac[32];
    fk_hmac_sha256(s_secret, sizeof s_secret, bytes, 25 + 16, mac);
    cr_assert_eq(memcmp(request + 53, mac, 32), 0);
    memcpy(bytes, "fakts-node hello reply", 23);
    memcpy(bytes + 23, nonce, 16);
    memcpy(bytes + 39, curve, 32);
    fk_hmac_sha256(s_secret, sizeof s_secret, bytes, 23 + 16 + 32, mac);
    cr_assert_eq(memcmp(reply + 53, mac, 32), 0);
}

Test(fk_admit, a_hello_under_another_secret_is_denied)
{
    /*  EVIDENCE-OF: R-ADMIT-014 */
    uint8_t nonce[16];
    s_fill(nonce, sizeof nonce, 0x70);
    uint8_t curve[32];
    s_fill(curve, sizeof curve, 0x90);
    uint8_t request[FK_ADMIT_HELLO_LEN];
    uint8_t reply[FK_ADMIT_HELLO_LEN];
    fk_admit_hello_request(s_other_secret, nonce, request);
    fk_admit_hello_reply(s_other_secret, nonce, curve, reply);
    uint8_t out[32] = {0};
    static const uint8_t zero[32];
    cr_assert_eq(fk_admit_hello_read_request(s_secret, request, sizeof request, out), FK_EDENIED);
    cr_assert_eq(fk_admit_hello_read_reply(s_secret, nonce, reply, sizeof reply, out), FK_EDENIED);
    cr_assert_eq(memcmp(out, zero, sizeof out), 0, "nothing is copied on failure");
}

Test(fk_admit, a_tampered_hello_is_denied_or_malformed)
{
    /*  EVIDENCE-OF: R-ADMIT-013 EVIDENCE-OF: R-ADMIT-014 any flipped bit:
        in the magic, kind or zero padding it is malformed, anywhere else
        denied. */
    uint8_t nonce[16];
    s_fill(nonce, sizeof nonce, 0x70);
    uint8_t curve[32];
    s_fill(curve, sizeof curve, 0x90);
    uint8_t request[FK_ADMIT_HELLO_LEN];
    uint8_t reply[FK_ADMIT_HELLO_LEN];
    fk_admit_hello_request(s_secret, nonce, request);
    fk_admit_hello_reply(s_secret, nonce, curve, reply);
    for (size_t i = 0; i < FK_ADMIT_HELLO_LEN; i++) {
        uint8_t out[32];
        request[i] ^= 0x04;
        int want = (i < 5 || (i >= 21 && i < 53)) ? FK_EPROTO_MALFORMED : FK_EDENIED;
        cr_assert_eq(fk_admit_hello_read_request(s_secret, request, sizeof request, out), want,
                     "request octet %zu", i);
        request[i] ^= 0x04;
        reply[i] ^= 0x04;
        want = i < 5 ? FK_EPROTO_MALFORMED : FK_EDENIED;
        cr_assert_eq(fk_admit_hello_read_reply(s_secret, nonce, reply, sizeof reply, out), want,
                     "reply octet %zu", i);
        reply[i] ^= 0x04;
    }
}

Test(fk_admit, a_reply_to_another_nonce_is_denied)
{
    /*  EVIDENCE-OF: R-ADMIT-015 a genuine reply, but to another request. */
    uint8_t nonce[16];
    s_fill(nonce, sizeof nonce, 0x70);
    uint8_t other[16];
    s_fill(other, sizeof other, 0x71);
    uint8_t curve[32];
    s_fill(curve, sizeof curve, 0x90);
    uint8_t reply[FK_ADMIT_HELLO_LEN];
    fk_admit_hello_reply(s_secret, other, curve, reply);
    uint8_t out[32];
    cr_assert_eq(fk_admit_hello_read_reply(s_secret, nonce, reply, sizeof reply, out), FK_EDENIED);
}

Test(fk_admit, hellos_of_the_wrong_size_or_kind_are_malformed)
{
    /*  EVIDENCE-OF: R-ADMIT-013 84 and 86 octets, a request read as a
        reply and the reverse, and nothing at all. */
    uint8_t nonce[16];
    s_fill(nonce, sizeof nonce, 0x70);
    uint8_t curve[32];
    s_fill(curve, sizeof curve, 0x90);
    uint8_t request[FK_ADMIT_HELLO_LEN + 1];
    uint8_t reply[FK_ADMIT_HELLO_LEN + 1];
    fk_admit_hello_request(s_secret, nonce, request);
    fk_admit_hello_reply(s_secret, nonce, curve, reply);
    request[FK_ADMIT_HELLO_LEN] = 0;
    reply[FK_ADMIT_HELLO_LEN] = 0;
    uint8_t out[32];
    for (size_t len = FK_ADMIT_HELLO_LEN - 1; len <= FK_ADMIT_HELLO_LEN + 1; len += 2) {
        uint8_t *copy = malloc(len);
        cr_assert_not_null(copy);
        memcpy(copy, request, len);
        cr_assert_eq(fk_admit_hello_read_request(s_secret, copy, len, out), FK_EPROTO_MALFORMED);
        memcpy(copy, reply, len);
        cr_assert_eq(fk_admit_hello_read_reply(s_secret, nonce, copy, len, out),
                     FK_EPROTO_MALFORMED);
        free(copy);
    }
    cr_assert_eq(fk_admit_hello_read_request(s_secret, reply, FK_ADMIT_HELLO_LEN, out),
                 FK_EPROTO_MALFORMED);
    cr_assert_eq(fk_admit_hello_read_reply(s_secret, nonce, request, FK_ADMIT_HELLO_LEN, out),
                 FK_EPROTO_MALFORMED);
    cr_assert_eq(fk_admit_hello_read_request(s_secret, NULL, 0, out), FK_EPROTO_MALFORMED);
    cr_assert_eq(fk_admit_hello_read_reply(s_secret, nonce, NULL, 0, out), FK_EPROTO_MALFORMED);
}

/*  ---------------------------------------------------------------------
    Join tokens. */

static fk_admit_token_t
s_token(void)
{
    fk_admit_token_t t;
    s_fill(t.seed_curve, sizeof t.seed_curve, 0x00);
    s_fill(t.id, sizeof t.id, 0x20);
    s_fill(t.secret, sizeof t.secret, 0xe0);
    return t;
}

static void
s_assert_token_eq(const fk_admit_token_t *a, const fk_admit_token_t *b)
{
    cr_assert_eq(memcmp(a->seed_curve, b->seed_curve, sizeof a->seed_curve), 0);
    cr_assert_eq(memcmp(a->id, b->id, sizeof a->id), 0);
    cr_assert_eq(memcmp(a->secret, b->secret, sizeof a->secret), 0);
}

Test(fk_admit, a_token_round_trips)
{
    /*  EVIDENCE-OF: R-ADMIT-016 */
    fk_admit_token_t in = s_token();
    char *text = fk_admit_token_encode(&in);
    cr_assert_eq(strlen(text), FK_ADMIT_TOKEN_TEXT_LEN);
    cr_assert_eq(strncmp(text, "fkj1.", 5), 0);
    cr_assert_eq(
        strspn(text + 5, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 107);
    /*  The key, id and secret, in that order, as base64url. */
    unsigned char *bytes;
    size_t len;
    cr_assert_eq(fk_b64url_decode(text + 5, 107, &bytes, &len), 0);
    cr_assert_eq(len, 80);
    cr_assert_eq(memcmp(bytes, in.seed_curve, 32), 0);
    cr_assert_eq(memcmp(bytes + 32, in.id, 16), 0);
    cr_assert_eq(memcmp(bytes + 48, in.secret, 32), 0);
    free(bytes);

    fk_admit_token_t out;
    cr_assert_eq(fk_admit_token_decode(text, &out), 0);
    s_assert_token_eq(&in, &out);

    /*  EVIDENCE-OF: R-ADMIT-017 surrounding whitespace is tolerated. */
    char padded[200];
    snprintf(padded, sizeof padded, " \t\r\n%s\r\n \v\f", text);
    cr_assert_eq(fk_admit_token_decode(padded, &out), 0);
    s_assert_token_eq(&in, &out);
    free(text);

    /*  Every octet value survives. */
    for (int b = 0; b < 256; b += 51) {
        memset(&in, b, sizeof in);
        text = fk_admit_token_encode(&in);
        cr_assert_eq(fk_admit_token_decode(text, &out), 0);
        s_assert_token_eq(&in, &out);
        free(text);
    }
}

/*  Expect text to be refused, with a zeroed token. */
static void
s_expect_not_a_token(const char *text)
{
    fk_admit_token_t out;
    memset(&out, 0xa5, sizeof out);
    cr_assert_eq(fk_admit_token_decode(text, &out), FK_EINVAL_INPUT, "%s", text ? text : "NULL");
    fk_admit_token_t zero;
    memset(&zero, 0, sizeof zero);
    cr_assert_eq(memcmp(&out, &zero, sizeof zero), 0);
}

Test(fk_admit, garbage_is_not_a_token)
{
    /*  EVIDENCE-OF: R-ADMIT-017 */
    fk_admit_token_t in = s_token();
    char *text = fk_admit_token_encode(&in);
    char bad[256];

    s_expect_not_a_token(NULL);
    s_expect_not_a_token("");
    s_expect_not_a_token("   ");
    s_expect_not_a_token("fkj1.");
    s_expect_not_a_token("hello");
    /*  Another prefix, or the prefix in another case. */
    snprintf(bad, sizeof bad, "fkj2.%s", text + 5);
    s_expect_not_a_token(bad);
    snprintf(bad, sizeof bad, "FKJ1.%s", text + 5);
    s_expect_not_a_token(bad);
    snprintf(bad, sizeof bad, "%s", text + 5);
    s_expect_not_a_token(bad);
    /*  One character short, one more, padded. */
    snprintf(bad, sizeof bad, "%.*s", FK_ADMIT_TOKEN_TEXT_LEN - 1, text);
    s_expect_not_a_token(bad);
    snprintf(bad, sizeof bad, "%sA", text);
    s_expect_not_a_token(bad);
    snprintf(bad, sizeof bad, "%s=", text);
    s_expect_not_a_token(bad);
    /*  Standard base64 characters, or a space, inside. */
    static const char wrong[] = {'+', '/', '=', ' ', '.', '\n', '\x80'};
    for (size_t i = 0; i < sizeof wrong; i++) {
        snprintf(bad, sizeof bad, "%s", text);
        bad[40] = wrong[i];
        s_expect_not_a_token(bad);
    }
    /*  A last character with its padding bits set: same octets, another
        text, refused so that a token has one text only. */
    snprintf(bad, sizeof bad, "%s", text);
    char last = bad[FK_ADMIT_TOKEN_TEXT_LEN - 1];
    bad[FK_ADMIT_TOKEN_TEXT_LEN - 1] = (char)(last + 1);
    s_expect_not_a_token(bad);
    free(text);
}
