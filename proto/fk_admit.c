/*  fk_admit - the admission wire formats; the contract is in fk_admit.h
    and the formats in PROTOCOL.md, section "Admission". */

#include "fk_admit.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <openssl/crypto.h>

#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_mem.h"
#include "fk_pack.h"
#include "fk_prescan.h"

/*  The body is one array of scalars (R-ADMIT-001): asking the pre-scan for
    depth 1 means msgpack-c never builds a nested tree from our input. */
#define S_BODY_DEPTH 1u
#define S_BODY_FIELDS 7u

/*  The largest canonical encoding: fixarray (1), two fixints (2), four
    bin 8 of 16 + 3 x 32 (4 x 2 + 112) and a str 8 of 200 (202). */
#define S_BODY_MAX 325u

/*  Where the parts of a hello datagram sit (R-ADMIT-012). */
#define S_HELLO_MAGIC "FKH1"
#define S_HELLO_MAGIC_LEN 4u
#define S_HELLO_KIND 4u
#define S_HELLO_NONCE 5u
#define S_HELLO_KEY (S_HELLO_NONCE + FK_ADMIT_HELLO_NONCE_LEN)
#define S_HELLO_MAC (S_HELLO_KEY + FK_ADMIT_CURVE_KEY_LEN)
#define S_HELLO_REQUEST 0x01u
#define S_HELLO_REPLY 0x02u
_Static_assert(S_HELLO_MAC + 32 == FK_ADMIT_HELLO_LEN, "PROTOCOL.md, R-ADMIT-012: 85 octets");

/*  The octets a join token carries (R-ADMIT-016), and the base64url
    characters that encode them without padding: 26 groups of three octets
    make 104 characters, and the last two octets 3 more. */
#define S_TOKEN_BYTES (FK_ADMIT_CURVE_KEY_LEN + FK_ADMIT_TOKEN_ID_LEN + FK_ADMIT_SECRET_LEN)
#define S_TOKEN_B64_LEN 107u
#define S_TOKEN_PREFIX_LEN (sizeof FK_ADMIT_TOKEN_PREFIX - 1)
_Static_assert(S_TOKEN_BYTES == 80, "PROTOCOL.md, R-ADMIT-016");
_Static_assert(S_TOKEN_PREFIX_LEN + S_TOKEN_B64_LEN == FK_ADMIT_TOKEN_TEXT_LEN, "token length");

/*  Context strings, each with its NUL, at the start of everything keyed
    with a secret: they keep a proof from ever verifying as the other
    side's proof, or as a hello mac, and the reverse. */
static const char s_proof_seed[] = "fakts-node admit v1 seed";
static const char s_proof_joiner[] = "fakts-node admit v1 joiner";
static const char s_hello_request_ctx[] = "fakts-node hello request";
static const char s_hello_reply_ctx[] = "fakts-node hello reply";

static _Noreturn void
s_oom(const char *what)
{
    /*  fk_mem's policy: running out of memory is not an error a caller can
        handle. msgpack-c reports it as a return code, so translate it. */
    fprintf(stderr, "fakts-node: out of memory in %s\n", what);
    abort();
}

/*  ---------------------------------------------------------------------
    The ADMIT body. */

/*  Does *a have a shape its step allows (R-ADMIT-004 ... R-ADMIT-008)?
    The one check behind both encode and decode, so the encoder cannot
    write what the decoder refuses. reason must already be known to be
    NUL-terminated. */
static bool
s_shape_ok(const fk_admit_t *a)
{
    bool reason_empty = a->reason[0] == '\0';
    switch (a->step) {
    case FK_ADMIT_HELLO:
        /*  A token is named by its id; the cluster secret needs no name,
            and naming a token there would only leak which one exists. */
        if (a->method == FK_ADMIT_TOKEN) {
            if (!a->has_token_id) {
                return false;
            }
        } else if (a->method != FK_ADMIT_SECRET || a->has_token_id) {
            return false;
        }
        return a->has_sign_pub && !a->has_nonce && !a->has_proof && reason_empty;
    case FK_ADMIT_CHALLENGE:
        return a->method == FK_ADMIT_NONE && !a->has_token_id && !a->has_sign_pub && a->has_nonce
               && !a->has_proof && reason_empty;
    case FK_ADMIT_PROOF:
        return a->method == FK_ADMIT_NONE && !a->has_token_id && !a->has_sign_pub && a->has_nonce
               && a->has_proof && reason_empty;
    case FK_ADMIT_WELCOME:
        return a->method == FK_ADMIT_NONE && !a->has_token_id && a->has_sign_pub && !a->has_nonce
               && a->has_proof && reason_empty;
    case FK_ADMIT_REFUSED:
        return a->method == FK_ADMIT_NONE && !a->has_token_id && !a->has_sign_pub && !a->has_nonce
               && !a->has_proof && !reason_empty;
    default:
        return false;
    }
}

int
fk_admit_encode(const fk_admit_t *in, char **buf_p, size_t *len_p)
{
    assert(in != NULL);
    assert(buf_p != NULL);
    assert(len_p != NULL);
    *buf_p = NULL;
    *len_p = 0;

    size_t reason_len = strnlen(in->reason, sizeof in->reason);
    if (reason_len == sizeof in->reason || !s_shape_ok(in)) {
        return FK_EINVAL_INPUT;
    }

    /*  One allocation of the largest size, as fk_record_encode does:
        msgpack_sbuffer_write() then never grows it. */
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    sbuf.alloc = S_BODY_MAX;
    sbuf.data = fk_malloc(sbuf.alloc);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    /*  msgpack-c writes the shortest form of everything, so the encoding
        is canonical (R-ADMIT-009). An unused field is an empty bin. */
    int failed = msgpack_pack_array(&pk, S_BODY_FIELDS);
    failed |= msgpack_pack_uint64(&pk, (uint64_t)in->step);
    failed |= msgpack_pack_uint64(&pk, (uint64_t)in->method);
    failed |= fk_pack_bin(&pk, in->token_id, in->has_token_id ? FK_ADMIT_TOKEN_ID_LEN : 0);
    failed |= fk_pack_bin(&pk, in->sign_pub, in->has_sign_pub ? FK_SIGN_PUBLIC_LEN : 0);
    failed |= fk_pack_bin(&pk, in->nonce, in->has_nonce ? FK_ADMIT_NONCE_LEN : 0);
    failed |= fk_pack_bin(&pk, in->proof, in->has_proof ? FK_ADMIT_PROOF_LEN : 0);
    failed |= msgpack_pack_str_with_body(&pk, in->reason, reason_len);
    if (failed != 0) {
        msgpack_sbuffer_destroy(&sbuf);
        s_oom("fk_admit_encode");
    }
    assert(sbuf.size <= S_BODY_MAX);
    *len_p = sbuf.size;
    *buf_p = msgpack_sbuffer_release(&sbuf);
    return 0;
}

/*  Copy a bin field that is empty or exactly len octets into bytes and set
 *has_p. Returns 0 or FK_EPROTO_MALFORMED (not a bin, another length). */
static int
s_read_bin(const msgpack_object *obj, size_t len, bool *has_p, uint8_t *bytes)
{
    if (obj->type != MSGPACK_OBJECT_BIN) {
        return FK_EPROTO_MALFORMED;
    }
    if (obj->via.bin.size == 0) {
        *has_p = false;
        return 0;
    }
    if (obj->via.bin.size != len) {
        return FK_EPROTO_MALFORMED; /* R-ADMIT-002: never a part of a key or nonce */
    }
    memcpy(bytes, obj->via.bin.ptr, len);
    *has_p = true;
    return 0;
}

/*  Check the unpacked object field by field into *out. Returns 0 or
    FK_EPROTO_MALFORMED. */
static int
s_from_object(const msgpack_object *obj, fk_admit_t *out)
{
    if (obj->type != MSGPACK_OBJECT_ARRAY || obj->via.array.size != S_BODY_FIELDS) {
        return FK_EPROTO_MALFORMED; /* R-ADMIT-001 */
    }
    const msgpack_object *f = obj->via.array.ptr;
    /*  msgpack-c reports every non-negative integer as POSITIVE_INTEGER
        whatever its width, so one test accepts every form (R-ADMIT-009)
        and refuses negatives, floats and everything else. The ranges are
        checked before the casts to the enums. */
    if (f[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[0].via.u64 < FK_ADMIT_HELLO
        || f[0].via.u64 > FK_ADMIT_REFUSED) {
        return FK_EPROTO_MALFORMED; /* R-ADMIT-003 */
    }
    if (f[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[1].via.u64 > FK_ADMIT_SECRET) {
        return FK_EPROTO_MALFORMED; /* R-ADMIT-004 */
    }
    out->step = (fk_admit_step_t)f[0].via.u64;
    out->method = (fk_admit_method_t)f[1].via.u64;
    if (s_read_bin(&f[2], FK_ADMIT_TOKEN_ID_LEN, &out->has_token_id, out->token_id) != 0
        || s_read_bin(&f[3], FK_SIGN_PUBLIC_LEN, &out->has_sign_pub, out->sign_pub) != 0
        || s_read_bin(&f[4], FK_ADMIT_NONCE_LEN, &out->has_nonce, out->nonce) != 0
        || s_read_bin(&f[5], FK_ADMIT_PROOF_LEN, &out->has_proof, out->proof) != 0) {
        return FK_EPROTO_MALFORMED;
    }
    const msgpack_object *reason = &f[6];
    if (reason->type != MSGPACK_OBJECT_STR || reason->via.str.size > FK_ADMIT_MAX_REASON
        || (reason->via.str.size > 0
            && memchr(reason->via.str.ptr, '\0', reason->via.str.size) != NULL)) {
        return FK_EPROTO_MALFORMED; /* R-ADMIT-008 */
    }
    if (reason->via.str.size > 0) {
        memcpy(out->reason, reason->via.str.ptr, reason->via.str.size);
    }
    out->reason[reason->via.str.size] = '\0';
    return s_shape_ok(out) ? 0 : FK_EPROTO_MALFORMED;
}

int
fk_admit_decode(const void *data, size_t len, fk_admit_t *out)
{
    assert(out != NULL);
    memset(out, 0, sizeof *out);

    /*  msgpack-c must never see bytes the pre-scan has not accepted: it
        would trust a header such as dd dd dd dd dd and try to allocate
        ~137 GB (msgpack/msgpack-c#1013). */
    int rc = fk_prescan(data, len, S_BODY_DEPTH);
    if (rc != 0) {
        return rc;
    }
    /*  The pre-scan bounds the element count by the input length only;
        requiring the array of seven first makes msgpack-c's allocation a
        small constant, whatever the input (R-ADMIT-010). */
    const unsigned char *p = data;
    fk_prescan_head_t head;
    if (fk_prescan_head(p, p + len, &head) != 0 || !head.is_array
        || head.children != S_BODY_FIELDS) {
        return FK_EPROTO_MALFORMED; /* R-ADMIT-001 */
    }

    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t off = 0;
    msgpack_unpack_return ret = msgpack_unpack_next(&unpacked, data, len, &off);
    if (ret == MSGPACK_UNPACK_NOMEM_ERROR) {
        msgpack_unpacked_destroy(&unpacked);
        s_oom("fk_admit_decode");
    }
    /*  msgpack-c 4.0.0 returns an enum (CONTINUE, 0, means truncated) and
        SUCCESS even when bytes follow the object: check both. */
    fk_admit_t tmp;
    memset(&tmp, 0, sizeof tmp);
    if (ret != MSGPACK_UNPACK_SUCCESS || off != len) {
        rc = FK_EPROTO_MALFORMED;
    } else {
        rc = s_from_object(&unpacked.data, &tmp);
    }
    msgpack_unpacked_destroy(&unpacked);
    /*  All or nothing: a refused body leaves *out zeroed, never half
        filled. */
    if (rc == 0) {
        *out = tmp;
    }
    return rc;
}

/*  ---------------------------------------------------------------------
    Proofs. */

void
fk_admit_proof(const uint8_t secret[FK_ADMIT_SECRET_LEN], bool seed,
               const uint8_t seed_nonce[FK_ADMIT_NONCE_LEN],
               const uint8_t joiner_nonce[FK_ADMIT_NONCE_LEN],
               const uint8_t curve_self[FK_ADMIT_CURVE_KEY_LEN],
               const uint8_t sign_self[FK_SIGN_PUBLIC_LEN],
               const uint8_t curve_peer[FK_ADMIT_CURVE_KEY_LEN], const char *name_self,
               const char *addr_self, uint8_t out[FK_ADMIT_PROOF_LEN])
{
    assert(secret != NULL && seed_nonce != NULL && joiner_nonce != NULL);
    assert(curve_self != NULL && sign_self != NULL && curve_peer != NULL);
    assert(name_self != NULL && addr_self != NULL && out != NULL);

    /*  What each part is for (R-ADMIT-011): the side keeps a seed's proof
        from being reflected back as a joiner's; both nonces make it fresh
        (neither side can reuse an old one); the CURVE keys bind it to this
        connection, so a man in the middle who relays it to a third node
        holds a connection with other keys; the signing key, name and
        address bind the identity the seed admits to the secret's holder. */
    const char *context = seed ? s_proof_seed : s_proof_joiner;
    size_t context_len = (seed ? sizeof s_proof_seed : sizeof s_proof_joiner);
    size_t name_len = strlen(name_self) + 1;
    size_t addr_len = strlen(addr_self) + 1;
    size_t len = context_len + 2 * FK_ADMIT_NONCE_LEN + 2 * FK_ADMIT_CURVE_KEY_LEN
                 + FK_SIGN_PUBLIC_LEN + name_len + addr_len;
    unsigned char *buf = fk_malloc(len);
    unsigned char *p = buf;
    memcpy(p, context, context_len);
    p += context_len;
    memcpy(p, seed_nonce, FK_ADMIT_NONCE_LEN);
    p += FK_ADMIT_NONCE_LEN;
    memcpy(p, joiner_nonce, FK_ADMIT_NONCE_LEN);
    p += FK_ADMIT_NONCE_LEN;
    memcpy(p, curve_self, FK_ADMIT_CURVE_KEY_LEN);
    p += FK_ADMIT_CURVE_KEY_LEN;
    memcpy(p, sign_self, FK_SIGN_PUBLIC_LEN);
    p += FK_SIGN_PUBLIC_LEN;
    memcpy(p, curve_peer, FK_ADMIT_CURVE_KEY_LEN);
    p += FK_ADMIT_CURVE_KEY_LEN;
    memcpy(p, name_self, name_len);
    p += name_len;
    memcpy(p, addr_self, addr_len);
    fk_hmac_sha256(secret, FK_ADMIT_SECRET_LEN, buf, len, out);
    free(buf);
}

bool
fk_admit_proof_equal(const uint8_t a[FK_ADMIT_PROOF_LEN], const uint8_t b[FK_ADMIT_PROOF_LEN])
{
    return CRYPTO_memcmp(a, b, FK_ADMIT_PROOF_LEN) == 0;
}

/*  ---------------------------------------------------------------------
    The UDP hello. */

/*  The mac of a hello: HMAC(secret, context NUL || nonce [|| curve_pub]).
    curve_pub is NULL for a request. */
static void
s_hello_mac(const uint8_t secret[FK_ADMIT_SECRET_LEN], const uint8_t *nonce,
            const uint8_t *curve_pub, uint8_t mac[32])
{
    /*  Sized for the longer context with a key: the request's context is
        the longer one, the reply's carries the key. */
    _Static_assert(sizeof s_hello_request_ctx >= sizeof s_hello_reply_ctx, "buffer size");
    unsigned char
        big[sizeof s_hello_request_ctx + FK_ADMIT_HELLO_NONCE_LEN + FK_ADMIT_CURVE_KEY_LEN];
    const char *context = curve_pub != NULL ? s_hello_reply_ctx : s_hello_request_ctx;
    size_t context_len = curve_pub != NULL ? sizeof s_hello_reply_ctx : sizeof s_hello_request_ctx;
    size_t len = 0;
    memcpy(big, context, context_len);
    len += context_len;
    memcpy(big + len, nonce, FK_ADMIT_HELLO_NONCE_LEN);
    len += FK_ADMIT_HELLO_NONCE_LEN;
    if (curve_pub != NULL) {
        memcpy(big + len, curve_pub, FK_ADMIT_CURVE_KEY_LEN);
        len += FK_ADMIT_CURVE_KEY_LEN;
    }
    fk_hmac_sha256(secret, FK_ADMIT_SECRET_LEN, big, len, mac);
}

/*  Write a datagram of kind with nonce, the 32 key octets (zero for a
    request) and its mac. */
static void
s_hello_write(const uint8_t secret[FK_ADMIT_SECRET_LEN], unsigned kind, const uint8_t *nonce,
              const uint8_t *curve_pub, uint8_t out[FK_ADMIT_HELLO_LEN])
{
    assert(secret != NULL && nonce != NULL && out != NULL);
    memcpy(out, S_HELLO_MAGIC, S_HELLO_MAGIC_LEN);
    out[S_HELLO_KIND] = (uint8_t)kind;
    memcpy(out + S_HELLO_NONCE, nonce, FK_ADMIT_HELLO_NONCE_LEN);
    if (curve_pub != NULL) {
        memcpy(out + S_HELLO_KEY, curve_pub, FK_ADMIT_CURVE_KEY_LEN);
    } else {
        memset(out + S_HELLO_KEY, 0, FK_ADMIT_CURVE_KEY_LEN);
    }
    s_hello_mac(secret, nonce, curve_pub, out + S_HELLO_MAC);
}

void
fk_admit_hello_request(const uint8_t secret[FK_ADMIT_SECRET_LEN],
                       const uint8_t nonce[FK_ADMIT_HELLO_NONCE_LEN],
                       uint8_t out[FK_ADMIT_HELLO_LEN])
{
    s_hello_write(secret, S_HELLO_REQUEST, nonce, NULL, out);
}

void
fk_admit_hello_reply(const uint8_t secret[FK_ADMIT_SECRET_LEN],
                     const uint8_t nonce[FK_ADMIT_HELLO_NONCE_LEN],
                     const uint8_t curve_pub[FK_ADMIT_CURVE_KEY_LEN],
                     uint8_t out[FK_ADMIT_HELLO_LEN])
{
    assert(curve_pub != NULL);
    s_hello_write(secret, S_HELLO_REPLY, nonce, curve_pub, out);
}

/*  Is data a datagram of the hello's size, magic and this kind? */
static bool
s_hello_shape(const void *data, size_t len, unsigned kind)
{
    const uint8_t *d = data;
    return len == FK_ADMIT_HELLO_LEN && memcmp(d, S_HELLO_MAGIC, S_HELLO_MAGIC_LEN) == 0
           && d[S_HELLO_KIND] == kind;
}

int
fk_admit_hello_read_request(const uint8_t secret[FK_ADMIT_SECRET_LEN], const void *data, size_t len,
                            uint8_t nonce[FK_ADMIT_HELLO_NONCE_LEN])
{
    assert(secret != NULL && nonce != NULL);
    if (!s_hello_shape(data, len, S_HELLO_REQUEST)) {
        return FK_EPROTO_MALFORMED; /* R-ADMIT-013 */
    }
    const uint8_t *d = data;
    static const uint8_t zero[FK_ADMIT_CURVE_KEY_LEN];
    if (memcmp(d + S_HELLO_KEY, zero, sizeof zero) != 0) {
        return FK_EPROTO_MALFORMED; /* R-ADMIT-012: the padding is zero */
    }
    uint8_t mac[32];
    s_hello_mac(secret, d + S_HELLO_NONCE, NULL, mac);
    if (CRYPTO_memcmp(mac, d + S_HELLO_MAC, sizeof mac) != 0) {
        return FK_EDENIED; /* R-ADMIT-014 */
    }
    memcpy(nonce, d + S_HELLO_NONCE, FK_ADMIT_HELLO_NONCE_LEN);
    return 0;
}

int
fk_admit_hello_read_reply(const uint8_t secret[FK_ADMIT_SECRET_LEN],
                          const uint8_t nonce[FK_ADMIT_HELLO_NONCE_LEN], const void *data,
                          size_t len, uint8_t curve_pub[FK_ADMIT_CURVE_KEY_LEN])
{
    assert(secret != NULL && nonce != NULL && curve_pub != NULL);
    if (!s_hello_shape(data, len, S_HELLO_REPLY)) {
        return FK_EPROTO_MALFORMED; /* R-ADMIT-013 */
    }
    const uint8_t *d = data;
    /*  The mac is computed over our own nonce, not the one in the reply: a
        reply to any other request (an old one replayed, or one meant for
        another joiner) then fails like a forgery (R-ADMIT-015). */
    uint8_t mac[32];
    s_hello_mac(secret, nonce, d + S_HELLO_KEY, mac);
    if (CRYPTO_memcmp(nonce, d + S_HELLO_NONCE, FK_ADMIT_HELLO_NONCE_LEN) != 0
        || CRYPTO_memcmp(mac, d + S_HELLO_MAC, sizeof mac) != 0) {
        return FK_EDENIED;
    }
    memcpy(curve_pub, d + S_HELLO_KEY, FK_ADMIT_CURVE_KEY_LEN);
    return 0;
}

/*  ---------------------------------------------------------------------
    Join tokens. */

/*  The 6-bit value of a base64url character, or -1 for any other. */
static int
s_b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    return c == '_' ? 63 : -1;
}

static bool
s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

char *
fk_admit_token_encode(const fk_admit_token_t *token)
{
    assert(token != NULL);
    uint8_t bytes[S_TOKEN_BYTES];
    memcpy(bytes, token->seed_curve, FK_ADMIT_CURVE_KEY_LEN);
    memcpy(bytes + FK_ADMIT_CURVE_KEY_LEN, token->id, FK_ADMIT_TOKEN_ID_LEN);
    memcpy(bytes + FK_ADMIT_CURVE_KEY_LEN + FK_ADMIT_TOKEN_ID_LEN, token->secret,
           FK_ADMIT_SECRET_LEN);
    char *b64 = fk_b64url_encode(bytes, sizeof bytes);
    OPENSSL_cleanse(bytes, sizeof bytes);
    char *text = fk_asprintf("%s%s", FK_ADMIT_TOKEN_PREFIX, b64);
    OPENSSL_cleanse(b64, strlen(b64));
    free(b64);
    return text;
}

int
fk_admit_token_decode(const char *text, fk_admit_token_t *out)
{
    assert(out != NULL);
    memset(out, 0, sizeof *out);
    if (text == NULL) {
        return FK_EINVAL_INPUT;
    }
    /*  Whitespace around the token is what copying it from a terminal or
        a file adds; inside it, nothing is tolerated (R-ADMIT-017). */
    size_t len = strlen(text);
    while (len > 0 && s_is_space(text[0])) {
        text++;
        len--;
    }
    while (len > 0 && s_is_space(text[len - 1])) {
        len--;
    }
    if (len != FK_ADMIT_TOKEN_TEXT_LEN
        || memcmp(text, FK_ADMIT_TOKEN_PREFIX, S_TOKEN_PREFIX_LEN) != 0) {
        return FK_EINVAL_INPUT;
    }
    const char *b64 = text + S_TOKEN_PREFIX_LEN;
    for (size_t i = 0; i < S_TOKEN_B64_LEN; i++) {
        if (s_b64url_value(b64[i]) < 0) {
            return FK_EINVAL_INPUT;
        }
    }
    /*  The last character carries the final 4 bits of the 80 octets in its
        high bits; its 2 low bits are padding and must be zero, so that
        each token has exactly one text (R-ADMIT-017). */
    if ((s_b64url_value(b64[S_TOKEN_B64_LEN - 1]) & 0x3) != 0) {
        return FK_EINVAL_INPUT;
    }
    unsigned char *bytes = NULL;
    size_t bytes_len = 0;
    if (fk_b64url_decode(b64, S_TOKEN_B64_LEN, &bytes, &bytes_len) != 0) {
        return FK_EINVAL_INPUT;
    }
    int rc = FK_EINVAL_INPUT;
    if (bytes_len == S_TOKEN_BYTES) {
        memcpy(out->seed_curve, bytes, FK_ADMIT_CURVE_KEY_LEN);
        memcpy(out->id, bytes + FK_ADMIT_CURVE_KEY_LEN, FK_ADMIT_TOKEN_ID_LEN);
        memcpy(out->secret, bytes + FK_ADMIT_CURVE_KEY_LEN + FK_ADMIT_TOKEN_ID_LEN,
               FK_ADMIT_SECRET_LEN);
        rc = 0;
    }
    OPENSSL_cleanse(bytes, bytes_len);
    free(bytes);
    return rc;
}
