/*  fuzz_admit - libFuzzer target for the admission wire formats.

    Every input is read three ways:
      1. as an ADMIT body: fk_admit_decode() returns 0 or
         FK_EPROTO_MALFORMED, and a zeroed body on failure; a decoded body
         re-encodes to no more octets than the input (R-ADMIT-009), which
         decode to the same body and encode again to the same bytes;
      2. as a UDP hello, both ways, under a fixed secret (the corpus holds
         datagrams made with it): the readers return 0, FK_EPROTO_MALFORMED
         or FK_EDENIED and write nothing on failure; an accepted datagram
         is exactly what fk_admit_hello_request() or _reply() writes for
         the nonce and key read (the format has one encoding);
      3. as join token text: fk_admit_token_decode() returns 0 or
         FK_EINVAL_INPUT, and a zeroed token on failure; an accepted token
         encodes to exactly the input without its surrounding whitespace
         (R-ADMIT-017: one text per token).
    Any violation calls abort(). Nothing is leaked on any path that
    returns. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fk_admit.h"
#include "fk_err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*  The secret the corpus's hello datagrams were made with: octets 1 .. 32. */
static const uint8_t s_secret[FK_ADMIT_SECRET_LEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                                      12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                                      23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/*  The nonce a reply is read against when the input is too short to hold
    one of its own: octets 0x40 .. 0x4f. */
static const uint8_t s_nonce[FK_ADMIT_HELLO_NONCE_LEN] = {
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f};

static _Noreturn void
s_fail(const char *why)
{
    fprintf(stderr, "fuzz_admit: %s\n", why);
    abort();
}

static bool
s_all(const void *bytes, size_t len, uint8_t value)
{
    const uint8_t *b = bytes;
    for (size_t i = 0; i < len; i++) {
        if (b[i] != value) {
            return false;
        }
    }
    return true;
}

static bool
s_same_body(const fk_admit_t *a, const fk_admit_t *b)
{
    /*  Decode zeroes every unused byte, so two decoded bodies compare
        whole. */
    return memcmp(a, b, sizeof *a) == 0;
}

static void
s_check_body(const uint8_t *data, size_t size)
{
    fk_admit_t first;
    memset(&first, 0xa5, sizeof first);
    int rc = fk_admit_decode(data, size, &first);
    if (rc != 0) {
        if (rc != FK_EPROTO_MALFORMED) {
            s_fail("decode returned an undocumented code");
        }
        if (!s_all(&first, sizeof first, 0)) {
            s_fail("failed decode left a partial body");
        }
        return;
    }
    char *buf;
    size_t len;
    if (fk_admit_encode(&first, &buf, &len) != 0) {
        s_fail("a decoded body does not re-encode");
    }
    if (len > size) {
        s_fail("canonical encoding is longer than the decoded input");
    }
    fk_admit_t second;
    if (fk_admit_decode(buf, len, &second) != 0) {
        s_fail("an encoded body does not decode");
    }
    if (!s_same_body(&first, &second)) {
        s_fail("round trip changed the body");
    }
    char *again;
    size_t again_len;
    if (fk_admit_encode(&second, &again, &again_len) != 0) {
        s_fail("a round-tripped body does not re-encode");
    }
    if (again_len != len || memcmp(again, buf, len) != 0) {
        s_fail("encoding is not canonical");
    }
    free(again);
    free(buf);
}

static void
s_check_hello(const uint8_t *data, size_t size)
{
    uint8_t nonce[FK_ADMIT_HELLO_NONCE_LEN];
    memset(nonce, 0xa5, sizeof nonce);
    int rc = fk_admit_hello_read_request(s_secret, data, size, nonce);
    if (rc == 0) {
        uint8_t again[FK_ADMIT_HELLO_LEN];
        fk_admit_hello_request(s_secret, nonce, again);
        if (size != sizeof again || memcmp(again, data, size) != 0) {
            s_fail("an accepted request is not what the writer writes");
        }
    } else if (rc != FK_EPROTO_MALFORMED && rc != FK_EDENIED) {
        s_fail("read_request returned an undocumented code");
    } else if (!s_all(nonce, sizeof nonce, 0xa5)) {
        s_fail("a refused request wrote the nonce");
    }

    /*  Read as the reply to its own nonce when it has one, so a reply from
        the corpus can be accepted; and to a fixed one. */
    const uint8_t *want = size >= 5 + FK_ADMIT_HELLO_NONCE_LEN ? data + 5 : s_nonce;
    for (int pass = 0; pass < 2; pass++) {
        uint8_t curve[FK_ADMIT_CURVE_KEY_LEN];
        memset(curve, 0xa5, sizeof curve);
        rc = fk_admit_hello_read_reply(s_secret, want, data, size, curve);
        if (rc == 0) {
            uint8_t again[FK_ADMIT_HELLO_LEN];
            fk_admit_hello_reply(s_secret, want, curve, again);
            if (size != sizeof again || memcmp(again, data, size) != 0) {
                s_fail("an accepted reply is not what the writer writes");
            }
        } else if (rc != FK_EPROTO_MALFORMED && rc != FK_EDENIED) {
            s_fail("read_reply returned an undocumented code");
        } else if (!s_all(curve, sizeof curve, 0xa5)) {
            s_fail("a refused reply wrote the key");
        }
        want = s_nonce;
    }
}

static bool
s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void
s_check_token(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL) {
        s_fail("out of memory");
    }
    if (size > 0) {
        memcpy(text, data, size);
    }
    text[size] = '\0';

    fk_admit_token_t token;
    memset(&token, 0xa5, sizeof token);
    int rc = fk_admit_token_decode(text, &token);
    if (rc != 0) {
        if (rc != FK_EINVAL_INPUT) {
            s_fail("token decode returned an undocumented code");
        }
        if (!s_all(&token, sizeof token, 0)) {
            s_fail("failed token decode left a partial token");
        }
        free(text);
        return;
    }
    /*  The text the decoder read: up to the first NUL, trimmed. */
    const char *start = text;
    size_t len = strlen(text);
    while (len > 0 && s_is_space(start[0])) {
        start++;
        len--;
    }
    while (len > 0 && s_is_space(start[len - 1])) {
        len--;
    }
    char *again = fk_admit_token_encode(&token);
    if (strlen(again) != len || memcmp(again, start, len) != 0) {
        s_fail("an accepted token does not encode to its text");
    }
    fk_admit_token_t second;
    if (fk_admit_token_decode(again, &second) != 0 || memcmp(&second, &token, sizeof token) != 0) {
        s_fail("an encoded token does not decode to itself");
    }
    free(again);
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /*  A private exact-size copy, so ASan sees any read past the end
        (libFuzzer's own buffer is exact too, but the replay driver's is
        not guaranteed to be). */
    uint8_t *input = calloc(size > 0 ? size : 1, 1);
    if (input == NULL) {
        s_fail("out of memory");
    }
    if (size > 0) {
        memcpy(input, data, size);
    }
    s_check_body(input, size);
    s_check_hello(input, size);
    s_check_token(input, size);
    free(input);
    return 0;
}
