/*  fuzz_msg - libFuzzer target for the cluster message codec.

    For every input:
      1. fk_msg_decode() returns 0, FK_ETOOBIG, FK_EPROTO_MAGIC,
         FK_EPROTO_VERSION or FK_EPROTO_MALFORMED, and a NULL message on
         failure;
      2. a decoded message owns its data: it is decoded from a private copy
         of the input that is freed before the message is read, so ASan
         reports any pointer left into the input (R-MSG-018);
      3. it re-encodes to exactly fk_msg_encoded_size() bytes, no more than
         the input (R-MSG-015), which decode to the same fields and encode
         again to the same bytes;
      4. a member without a claim has a zeroed claim[], and an empty
         accuser is NULL (R-MSG-009, R-MSG-022);
      5. rebuilt field by field through the builder API, it encodes to the
         same bytes: the builder accepts everything the decoder does, except
         that deltas past FK_MSG_CHUNK_TARGET may be refused (R-MSG-021).
    Any violation calls abort(). Nothing is leaked on any path that
    returns. */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fk_err.h"
#include "fk_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static _Noreturn void
s_fail(const char *why)
{
    fprintf(stderr, "fuzz_msg: %s\n", why);
    abort();
}

static int
s_same_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

static int
s_same_bytes(const void *a, size_t a_len, const void *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

/*  Compare every field of two messages; abort on the first difference. */
static void
s_check_same(const fk_msg_t *a, const fk_msg_t *b)
{
    if (fk_msg_type(a) != fk_msg_type(b) || !s_same_str(fk_msg_from(a), fk_msg_from(b))
        || !s_same_str(fk_msg_from_addr(a), fk_msg_from_addr(b))
        || fk_msg_incarnation(a) != fk_msg_incarnation(b) || fk_msg_seq(a) != fk_msg_seq(b)
        || fk_msg_flags(a) != fk_msg_flags(b)
        || !s_same_str(fk_msg_target_name(a), fk_msg_target_name(b))
        || !s_same_str(fk_msg_target_addr(a), fk_msg_target_addr(b))) {
        s_fail("round trip changed a header field");
    }

    size_t na;
    size_t nb;
    const fk_msg_member_t *ma = fk_msg_members(a, &na);
    const fk_msg_member_t *mb = fk_msg_members(b, &nb);
    if (na != nb) {
        s_fail("round trip changed the member count");
    }
    static const uint8_t no_claim[sizeof ma[0].claim];
    for (size_t i = 0; i < na; i++) {
        if (!ma[i].has_claim && memcmp(ma[i].claim, no_claim, sizeof no_claim) != 0) {
            s_fail("a member without a claim has claim bytes");
        }
        if (ma[i].accuser != NULL && ma[i].accuser[0] == '\0') {
            s_fail("an empty accuser did not decode to NULL");
        }
        if (!s_same_str(ma[i].name, mb[i].name) || !s_same_str(ma[i].addr, mb[i].addr)
            || ma[i].status != mb[i].status || ma[i].incarnation != mb[i].incarnation
            || !s_same_str(ma[i].accuser, mb[i].accuser) || ma[i].has_claim != mb[i].has_claim
            || memcmp(ma[i].claim, mb[i].claim, sizeof ma[i].claim) != 0) {
            s_fail("round trip changed a member");
        }
    }

    const fk_msg_digest_t *da = fk_msg_digests(a, &na);
    const fk_msg_digest_t *db = fk_msg_digests(b, &nb);
    if (na != nb) {
        s_fail("round trip changed the digest count");
    }
    for (size_t i = 0; i < na; i++) {
        if (!s_same_str(da[i].owner, db[i].owner) || da[i].version != db[i].version) {
            s_fail("round trip changed a digest");
        }
    }

    const fk_msg_delta_t *xa = fk_msg_deltas(a, &na);
    const fk_msg_delta_t *xb = fk_msg_deltas(b, &nb);
    if (na != nb) {
        s_fail("round trip changed the delta count");
    }
    for (size_t i = 0; i < na; i++) {
        if (!s_same_str(xa[i].owner, xb[i].owner) || !s_same_str(xa[i].key, xb[i].key)
            || !s_same_bytes(xa[i].record, xa[i].record_len, xb[i].record, xb[i].record_len)) {
            s_fail("round trip changed a delta");
        }
    }

    size_t body_a;
    size_t body_b;
    const void *pa = fk_msg_body(a, &body_a);
    const void *pb = fk_msg_body(b, &body_b);
    if (!s_same_bytes(pa, body_a, pb, body_b)) {
        s_fail("round trip changed the body");
    }
}

/*  Rebuild msg through the builder and compare its encoding with
    [expect, expect + expect_len), msg's own encoding. */
static void
s_check_builder(const fk_msg_t *msg, const char *expect, size_t expect_len)
{
    fk_msg_t *copy = fk_msg_new(fk_msg_type(msg), fk_msg_from(msg), fk_msg_from_addr(msg),
                                fk_msg_incarnation(msg));
    fk_msg_set_seq(copy, fk_msg_seq(msg));
    fk_msg_set_flags(copy, fk_msg_flags(msg));
    if (fk_msg_target_name(msg) != NULL) {
        fk_msg_set_target(copy, fk_msg_target_name(msg), fk_msg_target_addr(msg));
    }

    size_t n;
    const fk_msg_member_t *members = fk_msg_members(msg, &n);
    for (size_t i = 0; i < n; i++) {
        if (fk_msg_add_member(copy, &members[i]) != 0) {
            s_fail("the builder refuses a decoded member");
        }
    }
    const fk_msg_digest_t *digests = fk_msg_digests(msg, &n);
    for (size_t i = 0; i < n; i++) {
        if (fk_msg_add_digest(copy, digests[i].owner, digests[i].version) != 0) {
            s_fail("the builder refuses a decoded digest");
        }
    }
    size_t body_len;
    const void *body = fk_msg_body(msg, &body_len);
    if (fk_msg_set_body(copy, body, body_len) != 0) {
        s_fail("the builder refuses a decoded body");
    }

    /*  Deltas last, so that the chunk target sees the whole rest of the
        message, as it would for a sender. */
    int complete = 1;
    const fk_msg_delta_t *deltas = fk_msg_deltas(msg, &n);
    for (size_t i = 0; i < n; i++) {
        int rc = fk_msg_add_delta(copy, deltas[i].owner, deltas[i].key, deltas[i].record,
                                  deltas[i].record_len);
        if (rc == FK_ETOOBIG && i > 0 && expect_len > FK_MSG_CHUNK_TARGET) {
            complete = 0; /* R-MSG-021: a sender would start a new message here */
            break;
        }
        if (rc != 0) {
            s_fail("the builder refuses a decoded delta");
        }
    }

    if (complete) {
        char *buf;
        size_t len;
        if (fk_msg_encode(copy, &buf, &len) != 0) {
            s_fail("a rebuilt message does not encode");
        }
        if (len != expect_len || memcmp(buf, expect, len) != 0) {
            s_fail("a rebuilt message encodes differently");
        }
        free(buf);
    }
    fk_msg_destroy(&copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /*  A private copy, freed right after decoding: if the message kept a
        pointer into its input, reading it below is a use after free. */
    uint8_t *input = malloc(size > 0 ? size : 1);
    if (input == NULL) {
        s_fail("out of memory");
    }
    if (size > 0) {
        memcpy(input, data, size);
    }
    fk_msg_t *first = (fk_msg_t *)input; /* garbage, so that NULLing is observable */
    int rc = fk_msg_decode(input, size, &first);
    free(input);
    if (rc != 0) {
        if (rc != FK_ETOOBIG && rc != FK_EPROTO_MAGIC && rc != FK_EPROTO_VERSION
            && rc != FK_EPROTO_MALFORMED) {
            s_fail("decode returned an undocumented code");
        }
        if (first != NULL) {
            s_fail("failed decode left a message");
        }
        return 0;
    }
    if (first == NULL) {
        s_fail("decode succeeded without a message");
    }

    char *buf;
    size_t len;
    if (fk_msg_encode(first, &buf, &len) != 0) {
        s_fail("a decoded message does not re-encode");
    }
    if (len != fk_msg_encoded_size(first)) {
        s_fail("fk_msg_encoded_size() is not the encoded length");
    }
    if (len > size) {
        s_fail("canonical encoding is longer than the decoded input");
    }

    fk_msg_t *second;
    if (fk_msg_decode(buf, len, &second) != 0) {
        s_fail("an encoded message does not decode");
    }
    s_check_same(first, second);

    char *again;
    size_t again_len;
    if (fk_msg_encode(second, &again, &again_len) != 0) {
        s_fail("a round-tripped message does not re-encode");
    }
    if (again_len != len || memcmp(again, buf, len) != 0) {
        s_fail("encoding is not canonical");
    }

    s_check_builder(first, buf, len);

    free(again);
    free(buf);
    fk_msg_destroy(&second);
    fk_msg_destroy(&first);
    return 0;
}
