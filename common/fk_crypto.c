/*  fk_crypto - random secrets, base64url and SHA-256 through OpenSSL. */

#include "fk_crypto.h"

#include "fk_err.h"
#include "fk_mem.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_random_bytes(unsigned char *buf, size_t len)
{
    /*  A CSPRNG that cannot produce bytes leaves no safe way to mint a
        secret; like OOM, this is not an error a caller can handle. */
    if (len > INT32_MAX || RAND_bytes(buf, (int)len) != 1) {
        fprintf(stderr, "fakts-node: OpenSSL RAND_bytes failed\n");
        abort();
    }
}

char *
fk_b64url_encode(const void *data, size_t len)
{
    size_t b64_len = 4 * ((len + 2) / 3);
    char *out = fk_malloc(b64_len + 1);
    int written = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    /*  Translate the standard alphabet and drop the padding. */
    size_t n = (size_t)written;
    while (n > 0 && out[n - 1] == '=') {
        n--;
    }
    out[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (out[i] == '+') {
            out[i] = '-';
        } else if (out[i] == '/') {
            out[i] = '_';
        }
    }
    return out;
}

static int
s_b64_decode_std(char *text, size_t len, unsigned char **out_p, size_t *len_p)
{
    /*  EVP_DecodeBlock wants padded input whose length is a multiple of 4
        and reports the padded length; both are fixed up here. */
    size_t pad = (4 - len % 4) % 4;
    if (pad == 3) {
        return FK_EINVAL_INPUT;
    }
    for (size_t i = 0; i < pad; i++) {
        text[len + i] = '=';
    }
    size_t padded = len + pad;
    text[padded] = '\0';
    size_t given_pad = 0;
    while (given_pad < 2 && padded > given_pad && text[padded - 1 - given_pad] == '=') {
        given_pad++;
    }
    unsigned char *out = fk_malloc(padded / 4 * 3 + 1);
    int n = EVP_DecodeBlock(out, (unsigned char *)text, (int)padded);
    if (n < 0 || (size_t)n < given_pad) {
        free(out);
        return FK_EINVAL_INPUT;
    }
    size_t out_len = (size_t)n - given_pad;
    out[out_len] = '\0';
    *out_p = out;
    *len_p = out_len;
    return 0;
}

static int
s_b64_decode(const char *text, size_t text_len, int url, unsigned char **out_p, size_t *len_p)
{
    *out_p = NULL;
    *len_p = 0;
    if (text_len > 1u << 24) {
        return FK_ETOOBIG;
    }
    char *copy = fk_malloc(text_len + 4);
    size_t len = 0;
    for (size_t i = 0; i < text_len; i++) {
        char c = text[i];
        if (url && c == '-') {
            c = '+';
        } else if (url && c == '_') {
            c = '/';
        } else if (c == '=') {
            /*  Padding only at the end; the decoder re-adds it. */
            if (strspn(text + i, "=") != text_len - i) {
                free(copy);
                return FK_EINVAL_INPUT;
            }
            break;
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                     || (!url && (c == '+' || c == '/')))) {
            free(copy);
            return FK_EINVAL_INPUT;
        }
        copy[len++] = c;
    }
    int rc = s_b64_decode_std(copy, len, out_p, len_p);
    free(copy);
    return rc;
}

int
fk_b64url_decode(const char *text, size_t text_len, unsigned char **out_p, size_t *len_p)
{
    return s_b64_decode(text, text_len, 1, out_p, len_p);
}

int
fk_b64_decode(const char *text, size_t text_len, unsigned char **out_p, size_t *len_p)
{
    return s_b64_decode(text, text_len, 0, out_p, len_p);
}

char *
fk_random_urlsafe(size_t nbytes)
{
    unsigned char *buf = fk_malloc(nbytes);
    s_random_bytes(buf, nbytes);
    char *out = fk_b64url_encode(buf, nbytes);
    OPENSSL_cleanse(buf, nbytes);
    free(buf);
    return out;
}

char *
fk_random_from_alphabet(size_t len, const char *alphabet)
{
    size_t size = strlen(alphabet);
    /*  Rejection sampling: bytes at or above the largest multiple of the
        alphabet size are redrawn, so every character is equally likely. */
    unsigned limit = 256u - 256u % (unsigned)size;
    char *out = fk_malloc(len + 1);
    size_t filled = 0;
    while (filled < len) {
        unsigned char byte;
        s_random_bytes(&byte, 1);
        if (byte < limit) {
            out[filled++] = alphabet[byte % size];
        }
    }
    out[len] = '\0';
    return out;
}

char *
fk_random_hex(size_t len)
{
    return fk_random_from_alphabet(len, "0123456789abcdef");
}

char *
fk_uuid4_from_bytes(const unsigned char bytes[16])
{
    unsigned char b[16];
    memcpy(b, bytes, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    return fk_asprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                       b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                       b[13], b[14], b[15]);
}

char *
fk_random_uuid4(void)
{
    unsigned char b[16];
    s_random_bytes(b, sizeof b);
    return fk_uuid4_from_bytes(b);
}

void
fk_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, unsigned char out[32])
{
    unsigned int out_len = 0;
    if (key_len > INT32_MAX || !HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len)) {
        fprintf(stderr, "fakts-node: OpenSSL HMAC-SHA256 failed\n");
        abort();
    }
}

void
fk_hex_encode(const void *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *in = bytes;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

void
fk_sha256_hex(const void *data, size_t len, char out[FK_SHA256_HEX_LEN + 1])
{
    unsigned char digest[32];
    unsigned int digest_len = 0;
    if (EVP_Digest(data, len, digest, &digest_len, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "fakts-node: OpenSSL SHA-256 failed\n");
        abort();
    }
    fk_hex_encode(digest, sizeof digest, out);
}

int
fk_secret_equal(const char *a, const char *b)
{
    if (!a || !b) {
        return 0;
    }
    size_t la = strlen(a);
    size_t lb = strlen(b);
    if (la != lb) {
        return 0;
    }
    return CRYPTO_memcmp(a, b, la) == 0;
}
