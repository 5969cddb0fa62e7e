/*  fk_jwt - RS256 JWTs and RSA JWKs through OpenSSL 3 EVP.

    Every key is a provider-native EVP_PKEY (made by a decoder, by keygen or
    by EVP_PKEY_fromdata), never a legacy RSA object, and is never changed
    after its signer or verifier entry is built. Every sign and verify call
    takes a fresh EVP_MD_CTX; the context takes its own reference on the
    key, and reference counting is atomic in OpenSSL, so concurrent calls
    share only read-only state. */

#include "fk_jwt.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_mem.h"

/*  A PKCS#8 PEM of an FK_JWT_RSA_MAX_BITS key is about 6.5 KB; anything far
    larger is not a key we would load. */
#define S_PEM_MAX_LEN 65536

/*  SHA-256 digest size. */
#define S_SHA256_LEN 32

/*  The largest public exponent accepted, in bits (the bound NIST SP 800-56B
    uses); real keys use 65537. */
#define S_RSA_MAX_E_BITS 256

struct fk_signer {
    EVP_PKEY *pkey;   /* RSA private key; only read after creation */
    char *kid;        /* RFC 7638 thumbprint of the public key */
    char *n_b64;      /* modulus, base64url, no leading zero bytes */
    char *e_b64;      /* public exponent, base64url */
    char *header_b64; /* encoded protected header, the same for every token */
};

typedef struct fk_verifier_key {
    char *kid;        /* the JWK's kid, NUL-terminated */
    size_t kid_len;   /* strlen(kid) */
    char *thumbprint; /* RFC 7638 thumbprint: tells "same key" from "same kid" */
    EVP_PKEY *pkey;   /* RSA public key; only read after creation */
} fk_verifier_key_t;

struct fk_verifier {
    fk_verifier_key_t *keys; /* the keys, in insertion order */
    size_t size;             /* keys in use */
    size_t capacity;         /* keys allocated */
};

/*  ---------------------------------------------------------------------
    base64url and key helpers */

static bool
s_is_b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
           || c == '_';
}

/*  Decode unpadded base64url and insist on the canonical encoding: the
    unused low bits of the last character must be zero. Otherwise one
    signature has several spellings that all verify, so a token could be
    re-spelled past anything keyed on its text (a revocation or replay
    list), and one JWK could be written several ways. Any failure is
    FK_EINVAL_INPUT. */
static int
s_b64url_decode_strict(const char *text, size_t len, unsigned char **out_p, size_t *len_p)
{
    *out_p = NULL;
    *len_p = 0;
    for (size_t i = 0; i < len; i++) {
        if (!s_is_b64url_char(text[i])) {
            return FK_EINVAL_INPUT;
        }
    }
    unsigned char *out = NULL;
    size_t out_len = 0;
    if (fk_b64url_decode(text, len, &out, &out_len) != 0) {
        return FK_EINVAL_INPUT;
    }
    char *again = fk_b64url_encode(out, out_len);
    bool canonical = strlen(again) == len && memcmp(again, text, len) == 0;
    free(again);
    if (!canonical) {
        free(out);
        return FK_EINVAL_INPUT;
    }
    *out_p = out;
    *len_p = out_len;
    return 0;
}

/*  Big-endian bytes of bn, without leading zeros, as base64url. */
static char *
s_bn_to_b64url(const BIGNUM *bn)
{
    size_t len = (size_t)BN_num_bytes(bn);
    unsigned char *bytes = fk_malloc(len);
    BN_bn2bin(bn, bytes);
    char *out = fk_b64url_encode(bytes, len);
    free(bytes);
    return out;
}

/*  The RFC 7638 thumbprint of an RSA public key. The members go in
    lexicographic order with no whitespace, and the values hold no
    characters JSON would escape, so plain formatting yields the exact
    required bytes. NULL only if OpenSSL cannot hash. */
static char *
s_thumbprint(const BIGNUM *n, const BIGNUM *e)
{
    char *n_b64 = s_bn_to_b64url(n);
    char *e_b64 = s_bn_to_b64url(e);
    char *canonical = fk_asprintf("{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e_b64, n_b64);
    free(n_b64);
    free(e_b64);
    /*  fk_crypto offers only the hex form; the thumbprint needs the raw
        digest, so hash through EVP directly. */
    unsigned char digest[S_SHA256_LEN];
    unsigned int digest_len = 0;
    int ok = EVP_Digest(canonical, strlen(canonical), digest, &digest_len, EVP_sha256(), NULL);
    free(canonical);
    if (ok != 1 || digest_len != S_SHA256_LEN) {
        ERR_clear_error();
        return NULL;
    }
    return fk_b64url_encode(digest, sizeof digest);
}

/*  The rules every key here meets, whether it signs or verifies: a modulus
    of an accepted size (always odd for a real RSA key) and an odd public
    exponent of at least 3. e = 1 would make every message its own
    signature. */
static int
s_check_public(const BIGNUM *n, const BIGNUM *e)
{
    int n_bits = BN_num_bits(n);
    if (n_bits < FK_JWT_RSA_MIN_BITS || n_bits > FK_JWT_RSA_MAX_BITS || !BN_is_odd(n)) {
        return FK_EINVAL_INPUT;
    }
    if (!BN_is_odd(e) || BN_is_one(e) || BN_num_bits(e) > S_RSA_MAX_E_BITS) {
        return FK_EINVAL_INPUT;
    }
    return 0;
}

/*  Read n and e out of a JWK ("kty":"RSA", "n", "e"), well-formed but not
    yet checked against s_check_public. Returns 0 or FK_EINVAL_INPUT. */
static int
s_jwk_public(const json_t *jwk, BIGNUM **n_p, BIGNUM **e_p)
{
    *n_p = NULL;
    *e_p = NULL;
    if (!json_is_object(jwk)) {
        return FK_EINVAL_INPUT;
    }
    const json_t *kty = json_object_get(jwk, "kty");
    const json_t *n_json = json_object_get(jwk, "n");
    const json_t *e_json = json_object_get(jwk, "e");
    if (!json_is_string(kty) || strcmp(json_string_value(kty), "RSA") != 0
        || !json_is_string(n_json) || !json_is_string(e_json)) {
        return FK_EINVAL_INPUT;
    }
    BIGNUM *bn[2] = {NULL, NULL};
    const json_t *src[2] = {n_json, e_json};
    /*  Bytes allowed for n or e (one spare for a leading zero), and the
        base64url length that encodes them: nothing longer is decoded. */
    const size_t max_bytes = FK_JWT_RSA_MAX_BITS / 8 + 1;
    const size_t max_text = (max_bytes + 2) / 3 * 4;
    for (int i = 0; i < 2; i++) {
        unsigned char *bytes = NULL;
        size_t len = 0;
        size_t text_len = json_string_length(src[i]);
        int rc = FK_EINVAL_INPUT;
        if (text_len <= max_text) {
            rc = s_b64url_decode_strict(json_string_value(src[i]), text_len, &bytes, &len);
        }
        if (rc == 0 && (len == 0 || len > max_bytes)) {
            rc = FK_EINVAL_INPUT;
        }
        if (rc == 0) {
            bn[i] = BN_bin2bn(bytes, (int)len, NULL);
            if (!bn[i] || BN_is_zero(bn[i])) {
                rc = FK_EINVAL_INPUT;
            }
        }
        free(bytes);
        if (rc != 0) {
            BN_free(bn[0]);
            BN_free(bn[1]);
            ERR_clear_error();
            return rc;
        }
    }
    *n_p = bn[0];
    *e_p = bn[1];
    return 0;
}

/*  A provider-native RSA public key from n and e. */
static int
s_pkey_from_public(const BIGNUM *n, const BIGNUM *e, EVP_PKEY **pkey_p)
{
    *pkey_p = NULL;
    int rc = FK_ECRYPTO;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    if (!bld || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1) {
        goto done;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, pkey_p, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        goto done;
    }
    rc = 0;
done:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    if (rc != 0) {
        EVP_PKEY_free(*pkey_p);
        *pkey_p = NULL;
        ERR_clear_error();
    }
    return rc;
}

/*  Sign data with RSASSA-PKCS1-v1_5 / SHA-256. Returns a fresh signature of
    EVP_PKEY_get_size bytes in *sig_p, or FK_ECRYPTO. */
static int
s_sign(EVP_PKEY *pkey, const void *data, size_t len, unsigned char **sig_p, size_t *sig_len_p)
{
    *sig_p = NULL;
    *sig_len_p = 0;
    int rc = FK_ECRYPTO;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    EVP_PKEY_CTX *pctx = NULL; /* owned by md */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    /*  PKCS#1 v1.5 is OpenSSL's default for RSA, but RS256 means exactly
        that padding, so say so rather than rely on a default. */
    if (!md || EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL, pkey, NULL) != 1
        || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1
        || EVP_DigestSign(md, NULL, &sig_len, data, len) != 1 || sig_len == 0) {
        goto done;
    }
    sig = fk_malloc(sig_len);
    if (EVP_DigestSign(md, sig, &sig_len, data, len) != 1) {
        goto done;
    }
    *sig_p = sig;
    *sig_len_p = sig_len;
    sig = NULL;
    rc = 0;
done:
    free(sig);
    EVP_MD_CTX_free(md);
    if (rc != 0) {
        ERR_clear_error();
    }
    return rc;
}

/*  Verify an RS256 signature. Returns 0, or FK_ECRYPTO for a bad signature
    or an OpenSSL failure (the caller cannot tell them apart, nor should an
    attacker). */
static int
s_verify(EVP_PKEY *pkey, const void *data, size_t len, const unsigned char *sig, size_t sig_len)
{
    int rc = FK_ECRYPTO;
    EVP_PKEY_CTX *pctx = NULL; /* owned by md */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    /*  Padding is pinned so that a PSS signature never passes for RS256. */
    if (md && EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", NULL, NULL, pkey, NULL) == 1
        && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1
        && EVP_DigestVerify(md, sig, sig_len, data, len) == 1) {
        rc = 0;
    }
    EVP_MD_CTX_free(md);
    if (rc != 0) {
        ERR_clear_error();
    }
    return rc;
}

/*  Parse decoded JSON that must be an object. Duplicate members are
    refused: RFC 7515 section 4 lets a parser take the last of them, but
    two parsers that disagree about which "alg" or "exp" counts are a known
    way to slip a token past one of them. */
static json_t *
s_parse_object(const unsigned char *data, size_t len)
{
    json_error_t error;
    json_t *value = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &error);
    if (value && !json_is_object(value)) {
        json_decref(value);
        return NULL;
    }
    return value;
}

/*  ---------------------------------------------------------------------
    fk_signer */

/*  Build a signer around pkey, taking ownership of it in every case. */
static int
s_signer_new(EVP_PKEY *pkey, fk_signer_t **self_p)
{
    int rc = FK_EINVAL_INPUT;
    BIGNUM *n = NULL;
    BIGNUM *e = NULL;
    char *kid = NULL;
    if (!EVP_PKEY_is_a(pkey, "RSA")) {
        goto done;
    }
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1
        || EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
        rc = FK_ECRYPTO;
        goto done;
    }
    /*  The same rules as fk_verifier_add_jwk, so a signer's own JWK is
        always accepted by a verifier. */
    rc = s_check_public(n, e);
    if (rc != 0) {
        goto done;
    }
    kid = s_thumbprint(n, e);
    if (!kid) {
        rc = FK_ECRYPTO;
        goto done;
    }
    /*  The protected header never changes, so it is encoded once. */
    json_t *header = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", kid);
    char *header_json = header ? json_dumps(header, JSON_COMPACT) : NULL;
    json_decref(header);
    if (!header_json) {
        rc = FK_ECRYPTO;
        goto done;
    }
    fk_signer_t *self = fk_calloc(1, sizeof *self);
    self->pkey = pkey;
    self->kid = kid;
    self->n_b64 = s_bn_to_b64url(n);
    self->e_b64 = s_bn_to_b64url(e);
    self->header_b64 = fk_b64url_encode(header_json, strlen(header_json));
    free(header_json);
    pkey = NULL;
    kid = NULL;
    *self_p = self;
    rc = 0;
done:
    free(kid);
    BN_free(n);
    BN_free(e);
    EVP_PKEY_free(pkey);
    if (rc != 0) {
        ERR_clear_error();
    }
    return rc;
}

int
fk_signer_generate(fk_signer_t **self_p, unsigned bits)
{
    assert(self_p);
    *self_p = NULL;
    if (bits < FK_JWT_RSA_MIN_BITS || bits > FK_JWT_RSA_MAX_BITS) {
        return FK_EINVAL_INPUT;
    }
    EVP_PKEY *pkey = EVP_RSA_gen(bits);
    if (!pkey) {
        ERR_clear_error();
        return FK_ECRYPTO;
    }
    int rc = s_signer_new(pkey, self_p);
    /*  A freshly generated key that fails our own rules is OpenSSL's
        failure, not the caller's input. */
    return rc == FK_EINVAL_INPUT ? FK_ECRYPTO : rc;
}

/*  Encrypted keys are refused: fakts-node has no passphrase to give, and a
    callback that always fails guarantees OpenSSL never prompts on a
    terminal for one. */
static int
s_no_passphrase(char *buf, size_t size, size_t *len_p, const OSSL_PARAM params[], void *arg)
{
    (void)buf;
    (void)size;
    (void)params;
    (void)arg;
    *len_p = 0;
    return 0;
}

/*  Read the first PEM block of text and return its DER body if, and only
    if, its label is "PRIVATE KEY" (unencrypted PKCS#8) and it carries no
    RFC 1421 headers. OpenSSL's decoders would also take "RSA PRIVATE KEY"
    (PKCS#1) when asked for PKCS#8, so the label is checked here. */
static int
s_pem_pkcs8_body(const char *pem, size_t len, unsigned char **der_p, long *der_len_p)
{
    *der_p = NULL;
    *der_len_p = 0;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) {
        ERR_clear_error();
        return FK_ECRYPTO;
    }
    char *name = NULL;
    char *header = NULL;
    unsigned char *der = NULL;
    long der_len = 0;
    int ok = PEM_read_bio(bio, &name, &header, &der, &der_len);
    BIO_free(bio);
    int rc = FK_EINVAL_INPUT;
    if (ok == 1 && strcmp(name, "PRIVATE KEY") == 0 && header[0] == '\0' && der_len > 0) {
        *der_p = der;
        *der_len_p = der_len;
        der = NULL;
        rc = 0;
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_clear_free(der, der_len > 0 ? (size_t)der_len : 0);
    ERR_clear_error();
    return rc;
}

int
fk_signer_from_pem(fk_signer_t **self_p, const char *pem, size_t len)
{
    assert(self_p);
    *self_p = NULL;
    if (!pem || len == 0 || len > S_PEM_MAX_LEN) {
        return FK_EINVAL_INPUT;
    }
    unsigned char *der = NULL;
    long der_len = 0;
    int rc = s_pem_pkcs8_body(pem, len, &der, &der_len);
    if (rc != 0) {
        return rc;
    }
    /*  "PrivateKeyInfo" limits the decoder to unencrypted PKCS#8; "RSA"
        keeps out every other key type, RSA-PSS included. */
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", "PrivateKeyInfo", "RSA",
                                                           EVP_PKEY_KEYPAIR, NULL, NULL);
    int ok = dctx && OSSL_DECODER_CTX_get_num_decoders(dctx) > 0
             && OSSL_DECODER_CTX_set_passphrase_cb(dctx, s_no_passphrase, NULL) == 1;
    if (ok) {
        const unsigned char *data = der;
        size_t left = (size_t)der_len;
        ok = OSSL_DECODER_from_data(dctx, &data, &left) == 1 && left == 0 && pkey
             && EVP_PKEY_is_a(pkey, "RSA");
        rc = ok ? 0 : FK_EINVAL_INPUT;
    } else {
        rc = FK_ECRYPTO;
    }
    OSSL_DECODER_CTX_free(dctx);
    OPENSSL_clear_free(der, (size_t)der_len);
    if (rc != 0) {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return rc;
    }
    /*  A damaged key (a flipped bit in a prime or in d) would sign tokens
        no verifier accepts; one sign-and-verify round finds that here, for
        about a millisecond, rather than at the first login. */
    static const char probe[] = "fk_signer_from_pem self-test";
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    rc = s_sign(pkey, probe, sizeof probe - 1, &sig, &sig_len);
    if (rc == 0) {
        rc = s_verify(pkey, probe, sizeof probe - 1, sig, sig_len);
    }
    free(sig);
    if (rc != 0) {
        EVP_PKEY_free(pkey);
        return FK_ECRYPTO;
    }
    return s_signer_new(pkey, self_p);
}

char *
fk_signer_to_pem(const fk_signer_t *self)
{
    assert(self);
    unsigned char *data = NULL;
    size_t len = 0;
    OSSL_ENCODER_CTX *ectx =
        OSSL_ENCODER_CTX_new_for_pkey(self->pkey, EVP_PKEY_KEYPAIR, "PEM", "PrivateKeyInfo", NULL);
    int ok = ectx && OSSL_ENCODER_CTX_get_num_encoders(ectx) > 0
             && OSSL_ENCODER_to_data(ectx, &data, &len) == 1 && data;
    OSSL_ENCODER_CTX_free(ectx);
    if (!ok) {
        ERR_clear_error();
        return NULL;
    }
    char *pem = fk_malloc(len + 1);
    memcpy(pem, data, len);
    pem[len] = '\0';
    /*  OpenSSL's copy holds the private key too. */
    OPENSSL_clear_free(data, len);
    return pem;
}

const char *
fk_signer_kid(const fk_signer_t *self)
{
    assert(self);
    return self->kid;
}

json_t *
fk_signer_jwk(const fk_signer_t *self)
{
    assert(self);
    json_t *jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "use", "sig", "alg",
                            "RS256", "kid", self->kid, "n", self->n_b64, "e", self->e_b64);
    /*  Every value is a valid ASCII string, so only OOM makes this fail,
        and OOM aborts here as in fk_mem. */
    if (!jwk) {
        fprintf(stderr, "fakts-node: out of memory building a JWK\n");
        abort();
    }
    return jwk;
}

/*  Length of the unpadded base64url form of len bytes. */
static size_t
s_b64url_len(size_t len)
{
    return len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
}

char *
fk_jwt_sign(const fk_signer_t *self, const json_t *claims)
{
    assert(self);
    if (!json_is_object(claims)) {
        return NULL;
    }
    char *payload_json = json_dumps(claims, JSON_COMPACT);
    if (!payload_json) {
        return NULL;
    }
    /*  jansson serialises things its own parser refuses: a string holding
        NUL (written as \u0000) or invalid UTF-8 set through the _nocheck
        calls. The verifier must refuse NUL, since "admin\u0000x" would
        pass a C-string comparison as "admin". Parsing the payload with the
        verifier's own rules means sign never makes a token that verify
        refuses; it costs microseconds beside the RSA operation. */
    json_t *reparsed = s_parse_object((const unsigned char *)payload_json, strlen(payload_json));
    if (!reparsed) {
        free(payload_json);
        return NULL;
    }
    json_decref(reparsed);
    char *payload_b64 = fk_b64url_encode(payload_json, strlen(payload_json));
    free(payload_json);

    size_t header_len = strlen(self->header_b64);
    size_t payload_len = strlen(payload_b64);
    size_t signed_len = header_len + 1 + payload_len;
    size_t sig_b64_len = s_b64url_len((size_t)EVP_PKEY_get_size(self->pkey));
    if (signed_len + 1 + sig_b64_len > FK_JWT_MAX_LEN) {
        free(payload_b64);
        return NULL;
    }
    char *token = fk_malloc(signed_len + 1 + sig_b64_len + 1);
    memcpy(token, self->header_b64, header_len);
    token[header_len] = '.';
    memcpy(token + header_len + 1, payload_b64, payload_len);
    free(payload_b64);

    unsigned char *sig = NULL;
    size_t sig_len = 0;
    if (s_sign(self->pkey, token, signed_len, &sig, &sig_len) != 0) {
        free(token);
        return NULL;
    }
    char *sig_b64 = fk_b64url_encode(sig, sig_len);
    free(sig);
    size_t sig_b64_actual = strlen(sig_b64);
    /*  RSA signatures are exactly the modulus size, so this cannot fail;
        the check keeps the buffer arithmetic honest if that ever changed. */
    if (sig_b64_actual != sig_b64_len) {
        free(sig_b64);
        free(token);
        return NULL;
    }
    token[signed_len] = '.';
    memcpy(token + signed_len + 1, sig_b64, sig_b64_len + 1);
    free(sig_b64);
    return token;
}

void
fk_signer_destroy(fk_signer_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_signer_t *self = *self_p;
    /*  EVP_PKEY_free clears the private key material itself. */
    EVP_PKEY_free(self->pkey);
    free(self->kid);
    free(self->n_b64);
    free(self->e_b64);
    free(self->header_b64);
    free(self);
    *self_p = NULL;
}

int
fk_jwk_thumbprint(const json_t *jwk, char **thumbprint_p)
{
    assert(thumbprint_p);
    *thumbprint_p = NULL;
    BIGNUM *n = NULL;
    BIGNUM *e = NULL;
    int rc = s_jwk_public(jwk, &n, &e);
    if (rc != 0) {
        return rc;
    }
    char *thumbprint = s_thumbprint(n, e);
    BN_free(n);
    BN_free(e);
    if (!thumbprint) {
        return FK_ECRYPTO;
    }
    *thumbprint_p = thumbprint;
    return 0;
}

/*  ---------------------------------------------------------------------
    fk_verifier */

fk_verifier_t *
fk_verifier_new(void)
{
    return fk_calloc(1, sizeof(fk_verifier_t));
}

/*  The key with this kid, or NULL. A JWKS holds a handful of keys, so a
    linear scan costs less than the signature check that follows it. */
static const fk_verifier_key_t *
s_find(const fk_verifier_t *self, const char *kid, size_t kid_len)
{
    for (size_t i = 0; i < self->size; i++) {
        const fk_verifier_key_t *key = &self->keys[i];
        if (key->kid_len == kid_len && memcmp(key->kid, kid, kid_len) == 0) {
            return key;
        }
    }
    return NULL;
}

/*  An optional string member must be absent or equal to want. */
static bool
s_member_absent_or(const json_t *object, const char *name, const char *want)
{
    const json_t *value = json_object_get(object, name);
    return !value || (json_is_string(value) && strcmp(json_string_value(value), want) == 0);
}

int
fk_verifier_add_jwk(fk_verifier_t *self, const json_t *jwk)
{
    assert(self);
    if (!json_is_object(jwk)) {
        return FK_EINVAL_INPUT;
    }
    const json_t *kid_json = json_object_get(jwk, "kid");
    if (!json_is_string(kid_json) || json_string_length(kid_json) == 0
        || !s_member_absent_or(jwk, "use", "sig") || !s_member_absent_or(jwk, "alg", "RS256")) {
        return FK_EINVAL_INPUT;
    }
    /*  jansson strings may hold NUL only with JSON_ALLOW_NUL; compare by
        length all the same, as fk_jwt_verify does. */
    const char *kid = json_string_value(kid_json);
    size_t kid_len = json_string_length(kid_json);

    BIGNUM *n = NULL;
    BIGNUM *e = NULL;
    char *thumbprint = NULL;
    EVP_PKEY *pkey = NULL;
    int rc = s_jwk_public(jwk, &n, &e);
    if (rc != 0) {
        goto done;
    }
    rc = s_check_public(n, e);
    if (rc != 0) {
        goto done;
    }
    thumbprint = s_thumbprint(n, e);
    if (!thumbprint) {
        rc = FK_ECRYPTO;
        goto done;
    }
    const fk_verifier_key_t *existing = s_find(self, kid, kid_len);
    if (existing) {
        /*  Re-reading the same JWKS is harmless; a different key under a
            known kid would let one key's tokens be judged by another. */
        rc = strcmp(existing->thumbprint, thumbprint) == 0 ? 0 : FK_EEXISTS;
        goto done;
    }
    rc = s_pkey_from_public(n, e, &pkey);
    if (rc != 0) {
        goto done;
    }
    if (self->size == self->capacity) {
        self->capacity = self->capacity ? self->capacity * 2 : 4;
        self->keys = fk_realloc(self->keys, self->capacity * sizeof *self->keys);
    }
    fk_verifier_key_t *key = &self->keys[self->size++];
    key->kid = fk_strndup(kid, kid_len);
    key->kid_len = kid_len;
    key->thumbprint = thumbprint;
    key->pkey = pkey;
    thumbprint = NULL;
    pkey = NULL;
done:
    EVP_PKEY_free(pkey);
    free(thumbprint);
    BN_free(n);
    BN_free(e);
    return rc;
}

size_t
fk_verifier_size(const fk_verifier_t *self)
{
    assert(self);
    return self->size;
}

/*  Decode and check the protected header; on success *kid_p is a fresh
    copy of its kid (jansson strings cannot hold NUL here: json_loadb
    refuses \u0000 unless asked to allow it). */
static int
s_check_header(const char *text, size_t len, char **kid_p, size_t *kid_len_p)
{
    *kid_p = NULL;
    *kid_len_p = 0;
    unsigned char *bytes = NULL;
    size_t bytes_len = 0;
    int rc = s_b64url_decode_strict(text, len, &bytes, &bytes_len);
    if (rc != 0) {
        return FK_EINVAL_INPUT;
    }
    json_t *header = s_parse_object(bytes, bytes_len);
    free(bytes);
    if (!header) {
        return FK_EINVAL_INPUT;
    }
    rc = FK_EINVAL_INPUT;
    const json_t *alg = json_object_get(header, "alg");
    const json_t *kid = json_object_get(header, "kid");
    /*  The key decides the algorithm: anything but RS256 ("none", HS256
        keyed with the public key, ...) is refused outright. "crit" names
        extensions the verifier must understand (RFC 7515 section 4.1.11);
        we understand none, so any "crit" fails. */
    if (json_is_string(alg) && strcmp(json_string_value(alg), "RS256") == 0
        && !json_object_get(header, "crit") && json_is_string(kid)) {
        *kid_len_p = json_string_length(kid);
        *kid_p = fk_strndup(json_string_value(kid), *kid_len_p);
        rc = 0;
    }
    json_decref(header);
    return rc;
}

/*  Check the time claims of a verified payload. */
static int
s_check_times(const json_t *claims, int64_t now_s)
{
    const json_t *exp = json_object_get(claims, "exp");
    const json_t *nbf = json_object_get(claims, "nbf");
    if (!json_is_integer(exp) || (nbf && !json_is_integer(nbf))) {
        return FK_EINVAL_INPUT;
    }
    if (json_integer_value(exp) <= now_s) {
        return FK_EEXPIRED;
    }
    /*  Written so that now_s + skew cannot overflow. */
    if (nbf && now_s <= INT64_MAX - FK_JWT_NBF_SKEW_S
        && json_integer_value(nbf) > now_s + FK_JWT_NBF_SKEW_S) {
        return FK_EEXPIRED;
    }
    return 0;
}

int
fk_jwt_verify(const fk_verifier_t *self, const char *token, size_t len, int64_t now_s,
              json_t **claims_p)
{
    assert(self);
    assert(claims_p);
    *claims_p = NULL;
    if (len > FK_JWT_MAX_LEN) {
        return FK_ETOOBIG;
    }
    if (!token || len == 0) {
        return FK_EINVAL_INPUT;
    }
    /*  Split on the two dots and check the alphabet in one pass, before
        any allocation. */
    size_t dots[2];
    size_t ndots = 0;
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (ndots == 2) {
                return FK_EINVAL_INPUT;
            }
            dots[ndots++] = i;
        } else if (!s_is_b64url_char(token[i])) {
            return FK_EINVAL_INPUT;
        }
    }
    if (ndots != 2 || dots[0] == 0 || dots[1] == dots[0] + 1 || dots[1] == len - 1) {
        return FK_EINVAL_INPUT;
    }
    const char *payload_text = token + dots[0] + 1;
    size_t payload_text_len = dots[1] - dots[0] - 1;
    const char *sig_text = token + dots[1] + 1;
    size_t sig_text_len = len - dots[1] - 1;

    char *kid = NULL;
    size_t kid_len = 0;
    int rc = s_check_header(token, dots[0], &kid, &kid_len);
    if (rc != 0) {
        return rc;
    }
    const fk_verifier_key_t *key = s_find(self, kid, kid_len);
    free(kid);
    if (!key) {
        return FK_ENOTFOUND;
    }

    unsigned char *sig = NULL;
    size_t sig_len = 0;
    if (s_b64url_decode_strict(sig_text, sig_text_len, &sig, &sig_len) != 0) {
        return FK_EINVAL_INPUT;
    }
    /*  An RS256 signature is exactly as long as the modulus; OpenSSL would
        also take a shorter one, which is a second encoding of the same
        signature. */
    if (sig_len != (size_t)EVP_PKEY_get_size(key->pkey)) {
        rc = FK_ECRYPTO;
    } else {
        /*  The signing input is the header and payload exactly as
            received, not a re-encoding of them. */
        rc = s_verify(key->pkey, token, dots[1], sig, sig_len);
    }
    free(sig);
    if (rc != 0) {
        return rc;
    }

    /*  Only now, with the signature good, is the payload parsed. */
    unsigned char *payload = NULL;
    size_t payload_len = 0;
    if (s_b64url_decode_strict(payload_text, payload_text_len, &payload, &payload_len) != 0) {
        return FK_EINVAL_INPUT;
    }
    json_t *claims = s_parse_object(payload, payload_len);
    free(payload);
    if (!claims) {
        return FK_EINVAL_INPUT;
    }
    rc = s_check_times(claims, now_s);
    if (rc != 0) {
        json_decref(claims);
        return rc;
    }
    *claims_p = claims;
    return 0;
}

void
fk_verifier_destroy(fk_verifier_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_verifier_t *self = *self_p;
    for (size_t i = 0; i < self->size; i++) {
        free(self->keys[i].kid);
        free(self->keys[i].thumbprint);
        EVP_PKEY_free(self->keys[i].pkey);
    }
    free(self->keys);
    free(self);
    *self_p = NULL;
}
