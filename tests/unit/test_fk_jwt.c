/*  Tests for fk_jwt: RS256 signing, JWKS verification, RFC 7638 kids, and
    refusal of every malformed, forged or expired token.

    Key generation is slow (and slower under ASan), and Criterion runs each
    test in its own process, so the suite loads two fixed test keys from
    PEM in .init; one test generates a key to cover fk_signer_generate.
    The test keys below exist only for these tests. */

#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_jwt.h"

#include <criterion/criterion.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/*  Test-only 2048-bit keys (openssl genpkey -algorithm RSA). */
static const char s_pem_a[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDZUxaVpg+o0euj\n"
                              "JmoQOg5f0SRxV0CHGV50iPhnePXrUZboVaiN9yx3DN9WcOkc6mZYbb7bEWqG9wdR\n"
                              "v4Yi2ac4YK2A1dX/yBgxXmBKRH/lOnDWo58e6LDdrG7GjBRvzKHojuxrPoh7zJEs\n"
                              "O0hh+LryjJDvfx6hKabFkqEUGRLev7tuODFJ0zIPmsHPuDoD+SFrplGJwsY7kggI\n"
                              "H42Gp+7ouwJ+J+gWXTzoz3YKNJEnAInEIhnlmBsGc1EHJU2QGBCLjIJR/+SPSotv\n"
                              "m8qRnTpoGCbDQXozkf0mcwvmX/WchcvN8NNBtQGfAERrm4HMU590UF1BJKeMgbRj\n"
                              "EEwEgttFAgMBAAECggEAPehSXazhdxjdhCtUOW0gXSEpvXO6eQG8C3xdLrShcThb\n"
                              "wbFtA4vuybcMBAbEES2gm/4fSS5r5yiFmD7zygewf/niUvoXLPbmFWIqEd3zhOwh\n"
                              "6rLPiDGG+I6/O6X5yGNFmAbmyCIXJRUAIdZ9ZxNAxglO3DqdEhHYZR3A7wW5f2Qe\n"
                              "acnhyhjq19QNmr3a6QiU2hDr3pksPLozRwlOyIthMvznkj+mgOX2eGpBAHZuyivf\n"
                              "ZosD5iAgaJHg2dXSR+VTgHE9F3aKGJF2IwyrXkCoHVwnNIOOgOcBM3EZJBE24fNJ\n"
                              "Zu9O90RBSj332QJTqAVurNMy78JKr84dncRHoHx5vQKBgQDw1nsAcFqY4VOMtNJw\n"
                              "Hj8bYHXz2F/b2w3S4vCce7f0YT18Fn+SHfW5rdVVdOyXdssfpZqGuG9xBu9g8hd7\n"
                              "Bg6CJzboLXC0kydv0YQEFXxxED4iTWHa04Ege0bMzTvrHC24lLuJGaFI9poMzm3X\n"
                              "pbXJNWdesyLUR9G0kPtJazOE1wKBgQDnAaagLqFTVRmQ6d5uBlCP0ZlnuTAx6rgt\n"
                              "nSIG3IgmiqSOmlmS/1moaee/KMD/wTQCDIFs9SEBT2ojgiDXFPp+jp0iHuowq0e5\n"
                              "eDwwsJePTDE4vMHPqiXeRFMPDA3a0gqNl2dejY+NSrYiBFlwlKiiAtLIg5idxjSY\n"
                              "Fi4cywfBQwKBgCov5+vzwmr1TYVgR1yMb9GD3CWSyXfhr1I5npxKr7aHMhYCeuZF\n"
                              "iT21TaFike8WSA6LG75toFfUNypsPeC29uOlquCQ1SVMgaP8t3tfqCTGC5xGodWL\n"
                              "JxthfM1zRgOxM/EZXKBvdOkrCWEk5+jWhjlwuWLFTlyRGBLhMqNxu9yRAoGBAJQJ\n"
                              "HMyd1UhfyqhxFtePOGVRvmsX4+i5MBobDkkzXhTE2DuCclCfTsd8RsTbywKav0do\n"
                              "2DAIzoPWboAezgjHKtebcNsC0LUrriUPBhN1t0pfW1OusszvjqDnTArigKZv389o\n"
                              "7RdMxGeZLyqReveIbKCWCpnwqwbAk8e6vwY4ndmdAoGAbmcOkI0Z20q3rCq9bXhE\n"
                              "RgDkbUD8CN20ITN3+Qj1ueAuzCRVhbiULeiEah9SdWcuGiekvN2QAU2mSpuH50+j\n"
                              "ZRLdQjQXpcIj+QZyjTGD7Fm+TCwTFvbmtYsn2h01DPS02MpKVjYMzw1mO9bwaBkE\n"
                              "OdllkkExFHfplomwEOp63M0=\n"
                              "-----END PRIVATE KEY-----\n";

static const char s_pem_b[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC3/YRFg8bRxkcl\n"
                              "WFdNEciUVsRu/z97z/duyoDx9jHEycu0qY4AHBl+i1LHC6LxDLajNMo26POO3eOc\n"
                              "g5GhCCd/Low24XeCq/wWPvNq+AtuTqvftn6nvaYlNW0AefXGXW4x+l4wa+XMXpOU\n"
                              "dBd3WI2lnP/NrS9lowXjtce0rezQhrZBRWH9YTDQaqQ/kwD/JTePwZJ3X8Xdg5Qd\n"
                              "RNUATqkWfnbJpTRWKUbky/cidKp33Aqyx93tJImpNW0MOjXMlfWQJJ7racAborPd\n"
                              "yAM1iCz4QipWnT0AUuDaX9xSoNGFsD7RzwYXrZ7CNKfcIetGfgcPVg+ghi8R71HL\n"
                              "/HHKgdqdAgMBAAECggEAFBkAdZJxKZFxzJHDiYLfiNqYfvJpRhY/ti2vG58TrSYI\n"
                              "1x1tSjRHkaPY4S6zeAa2PYoi65ATKMAyoHJbuj4YiGM2hDkpM5AjS2/JaZ4aK4yy\n"
                              "6A84cwy7hRV6qGJqFya2BoYNe1cR5TrQfpcWyB3XbSeC5r3b70t5NXgyDhmwhE9/\n"
                              "ORdNdayPhc8tRMZ8ETJvUh4dm0iDbRbXN9JYgknMbckjKofkIqVKNkkxW0Lzjgpr\n"
                              "xTliNuK/EeFQ+YL4NUMd7X7z1sD8utfWIUJhMu43+nAkWaNgPgVE9ujGZB8+PySo\n"
                              "ZpG00L+ecMWPWlIcup8/xzxnOC31EYn0oUFL/0216QKBgQDo+oWeCr8QQlwdATwb\n"
                              "s69CJSvOl+RVy7CTIvJmtwZjVbjDvA8cyQRbt9eQ3SF4kxZD0quiClov60EYokyD\n"
                              "Wxz97CLDhGAja2wei8CA+7WyrivYb1laWzmQeGn+zHMN6HjOyrktaJH7Jhjwm0HM\n"
                              "p1QcCENdBeaZCI2jwap9tBzKhQKBgQDKK8ae5FHIyRukAWviPVy2DlEB9zR2tV1y\n"
                              "wv+SLQ5sFc7miHvh8fSeznYNg9mbZ7OJbw6ezrimli8W3gbYvkrNgsWv5H3KEwsy\n"
                              "qbRik2Ma5ttLxPZ8dEkU3vPTPydb12b2Lws2OdoTFDf2TabyIuWjGJbTO4DVCaho\n"
                              "bx0QTsynOQKBgDNUVrH+PiAv7ql5Ryv3R6q0E9W9g1IfwXR5Y5ybwG2MSlvdiBrY\n"
                              "cvxeIcFJ5wDwrxwcQzI9Q6eBFmN+Bot+PIH5T6Nx+9hx521Hbw875clLNF/IEJCm\n"
                              "vqUE0p2Pn921lUBCS9AkVN1XhHEmU7XqO869R1IsZaTbzJECrzRoxVsdAoGAZZPZ\n"
                              "F7xf2yIwYRbVvbZW/qHy0aoDEiHN8ftHrYo11NigO/QXSk7nOWNCrUex7gMMkeDa\n"
                              "16/F1u1ee37SsdPqgZdS/C0xhnZLCgl6OI0VHk8fn9I2hhFnJrVejKUOgXaYpNi+\n"
                              "KWCn0S43b+lUGBSwjGGuZjNfZ6qSkuZBFBCDgwECgYEAugJ6RPCyhTknFchtf1f+\n"
                              "wpr84dU67RuxmY5ZsuntXLNJ/aeN1XLAj+AGYgg0q74uQd8qHnG7LW618dF+nszo\n"
                              "atMdPsHb4uKiP1foFX/3h91AQ3d8sRzysSn3XUUmzb/+38OzZ69nJ0F4m2XyMzeY\n"
                              "kf5kZAPq+/yzzXuUzDJ3RzU=\n"
                              "-----END PRIVATE KEY-----\n";

/*  RFC 7638 section 3.1: the example key and its thumbprint. */
static const char s_rfc_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
    "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvzq"
    "Y368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0"
    "fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
static const char s_rfc_thumbprint[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

#define NOW 1700000000

static fk_signer_t *s_signer_a;
static fk_signer_t *s_signer_b;
static fk_verifier_t *s_verifier; /* holds key A only */

static void
s_setup(void)
{
    cr_assert_eq(fk_signer_from_pem(&s_signer_a, s_pem_a, strlen(s_pem_a)), 0);
    cr_assert_eq(fk_signer_from_pem(&s_signer_b, s_pem_b, strlen(s_pem_b)), 0);
    s_verifier = fk_verifier_new();
    json_t *jwk = fk_signer_jwk(s_signer_a);
    cr_assert_eq(fk_verifier_add_jwk(s_verifier, jwk), 0);
    json_decref(jwk);
}

static void
s_teardown(void)
{
    fk_verifier_destroy(&s_verifier);
    fk_signer_destroy(&s_signer_a);
    fk_signer_destroy(&s_signer_b);
}

TestSuite(fk_jwt, .init = s_setup, .fini = s_teardown);

/*  Claims that expire an hour after NOW. */
static json_t *
s_claims(void)
{
    json_t *claims =
        json_pack("{s:s, s:s, s:I, s:I, s:[s, s], s:s, s:{s:b}}", "iss", "https://node.example/lok",
                  "sub", "user-7", "iat", (json_int_t)NOW, "exp", (json_int_t)NOW + 3600, "aud",
                  "lok", "rekuest", "scope", "openid read", "ext", "admin", 1);
    cr_assert_not_null(claims);
    return claims;
}

/*  Verify and insist on failure with code want and no claims. */
static void
s_expect_fail(const fk_verifier_t *verifier, const char *token, size_t len, int want)
{
    json_t *sentinel = json_object();
    json_t *claims = sentinel;
    int rc = fk_jwt_verify(verifier, token, len, NOW, &claims);
    cr_assert_eq(rc, want, "token \"%.*s\": got %s, want %s", (int)(len > 200 ? 200 : len),
                 token ? token : "", fk_err_name(rc), fk_err_name(want));
    cr_assert_null(claims);
    json_decref(sentinel);
}

/*  Any failure at all, with no claims. */
static void
s_expect_any_fail(const fk_verifier_t *verifier, const char *token, size_t len)
{
    json_t *sentinel = json_object();
    json_t *claims = sentinel;
    int rc = fk_jwt_verify(verifier, token, len, NOW, &claims);
    cr_assert_lt(rc, 0, "token of %zu bytes was accepted", len);
    cr_assert_null(claims);
    json_decref(sentinel);
}

/*  Load a test PEM as an OpenSSL key, to forge tokens the module would
    never make. */
static EVP_PKEY *
s_pkey(const char *pem)
{
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dctx =
        OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, "RSA", EVP_PKEY_KEYPAIR, NULL, NULL);
    cr_assert_not_null(dctx);
    const unsigned char *data = (const unsigned char *)pem;
    size_t left = strlen(pem);
    cr_assert_eq(OSSL_DECODER_from_data(dctx, &data, &left), 1);
    OSSL_DECODER_CTX_free(dctx);
    return pkey;
}

/*  Build "<b64 header>.<b64 payload>.<b64 sig>" from raw JSON texts,
    signed by pkey with the given RSA padding (or with sig_text verbatim
    if pkey is NULL). */
static char *
s_forge(EVP_PKEY *pkey, int padding, const char *header, const char *payload, const char *sig_text)
{
    char *h = fk_b64url_encode(header, strlen(header));
    char *p = fk_b64url_encode(payload, strlen(payload));
    char *input = malloc(strlen(h) + strlen(p) + 2);
    cr_assert_not_null(input);
    strcpy(input, h);
    strcat(input, ".");
    strcat(input, p);
    free(h);
    free(p);
    char *sig_b64 = NULL;
    if (pkey) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        cr_assert_eq(EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL, pkey, NULL), 1);
        cr_assert_eq(EVP_PKEY_CTX_set_rsa_padding(pctx, padding), 1);
        unsigned char sig[1024];
        size_t sig_len = sizeof sig;
        cr_assert_eq(EVP_DigestSign(md, sig, &sig_len, (unsigned char *)input, strlen(input)), 1);
        EVP_MD_CTX_free(md);
        sig_b64 = fk_b64url_encode(sig, sig_len);
    } else {
        sig_b64 = strdup(sig_text);
    }
    char *token = malloc(strlen(input) + strlen(sig_b64) + 2);
    cr_assert_not_null(token);
    strcpy(token, input);
    strcat(token, ".");
    strcat(token, sig_b64);
    free(input);
    free(sig_b64);
    return token;
}

/*  A header naming key A, as fk_jwt_sign writes it. */
static char *
s_header_a(void)
{
    char header[256];
    snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             fk_signer_kid(s_signer_a));
    return strdup(header);
}

static const char s_payload_ok[] = "{\"sub\":\"u\",\"exp\":1700003600}";

Test(fk_jwt, sign_then_verify_round_trips_the_claims)
{
    json_t *claims = s_claims();
    char *token = fk_jwt_sign(s_signer_a, claims);
    cr_assert_not_null(token);
    /*  Compact serialisation: three base64url segments. */
    cr_assert_eq(strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
                 strlen(token));
    json_t *out = NULL;
    cr_assert_eq(fk_jwt_verify(s_verifier, token, strlen(token), NOW, &out), 0);
    cr_assert_not_null(out);
    cr_assert(json_equal(claims, out), "claims changed in transit");
    json_decref(out);
    json_decref(claims);
    free(token);
}

Test(fk_jwt, header_names_rs256_jwt_and_the_kid)
{
    json_t *claims = s_claims();
    char *token = fk_jwt_sign(s_signer_a, claims);
    const char *dot = strchr(token, '.');
    cr_assert_not_null(dot);
    unsigned char *header = NULL;
    size_t header_len = 0;
    cr_assert_eq(fk_b64url_decode(token, (size_t)(dot - token), &header, &header_len), 0);
    json_t *parsed = json_loadb((const char *)header, header_len, 0, NULL);
    cr_assert_not_null(parsed);
    cr_assert_str_eq(json_string_value(json_object_get(parsed, "alg")), "RS256");
    cr_assert_str_eq(json_string_value(json_object_get(parsed, "typ")), "JWT");
    cr_assert_str_eq(json_string_value(json_object_get(parsed, "kid")), fk_signer_kid(s_signer_a));
    cr_assert_eq(json_object_size(parsed), 3);
    json_decref(parsed);
    free(header);
    json_decref(claims);
    free(token);
}

Test(fk_jwt, thumbprint_matches_the_rfc7638_example)
{
    json_t *jwk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "n", s_rfc_n, "e", "AQAB",
                            "alg", "RS256", "kid", "2011-04-29");
    char *thumbprint = NULL;
    cr_assert_eq(fk_jwk_thumbprint(jwk, &thumbprint), 0);
    cr_assert_str_eq(thumbprint, s_rfc_thumbprint);
    free(thumbprint);
    json_decref(jwk);
}

Test(fk_jwt, kid_is_the_rfc7638_thumbprint_of_the_public_key)
{
    json_t *jwk = fk_signer_jwk(s_signer_a);
    char *thumbprint = NULL;
    cr_assert_eq(fk_jwk_thumbprint(jwk, &thumbprint), 0);
    cr_assert_str_eq(fk_signer_kid(s_signer_a), thumbprint);
    cr_assert_eq(strlen(thumbprint), 43);
    cr_assert_str_neq(fk_signer_kid(s_signer_a), fk_signer_kid(s_signer_b));
    /*  The thumbprint ignores the kid and every member but kty, n and e. */
    json_object_set_new(jwk, "kid", json_string("something-else"));
    json_object_set_new(jwk, "x5u", json_string("https://example.org/"));
    char *again = NULL;
    cr_assert_eq(fk_jwk_thumbprint(jwk, &again), 0);
    cr_assert_str_eq(again, thumbprint);
    free(again);
    free(thumbprint);
    json_decref(jwk);
}

Test(fk_jwt, thumbprint_refuses_a_jwk_that_is_not_rsa)
{
    json_t *jwk = json_pack("{s:s, s:s, s:s}", "kty", "EC", "x", "AQAB", "y", "AQAB");
    char untouched[] = "untouched";
    char *thumbprint = untouched;
    cr_assert_eq(fk_jwk_thumbprint(jwk, &thumbprint), FK_EINVAL_INPUT);
    cr_assert_null(thumbprint);
    /*  An RSA JWK without e, and a non-object. */
    json_object_set_new(jwk, "kty", json_string("RSA"));
    json_object_set_new(jwk, "n", json_string(s_rfc_n));
    cr_assert_eq(fk_jwk_thumbprint(jwk, &thumbprint), FK_EINVAL_INPUT);
    cr_assert_eq(fk_jwk_thumbprint(NULL, &thumbprint), FK_EINVAL_INPUT);
    json_decref(jwk);
}

Test(fk_jwt, jwk_has_the_published_members)
{
    json_t *jwk = fk_signer_jwk(s_signer_a);
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "kty")), "RSA");
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "use")), "sig");
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "alg")), "RS256");
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "kid")), fk_signer_kid(s_signer_a));
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "e")), "AQAB");
    /*  2048 bits = 256 bytes = 342 base64url characters, no leading zero. */
    cr_assert_eq(json_string_length(json_object_get(jwk, "n")), 342);
    cr_assert_null(json_object_get(jwk, "d"), "a private member leaked into the JWK");
    cr_assert_eq(json_object_size(jwk), 6);
    json_decref(jwk);
}

Test(fk_jwt, generated_key_signs_tokens_its_jwk_verifies)
{
    fk_signer_t *signer = NULL;
    cr_assert_eq(fk_signer_generate(&signer, 2048), 0);
    cr_assert_not_null(signer);
    fk_verifier_t *verifier = fk_verifier_new();
    json_t *jwk = fk_signer_jwk(signer);
    cr_assert_eq(fk_verifier_add_jwk(verifier, jwk), 0);
    json_t *claims = s_claims();
    char *token = fk_jwt_sign(signer, claims);
    cr_assert_not_null(token);
    json_t *out = NULL;
    cr_assert_eq(fk_jwt_verify(verifier, token, strlen(token), NOW, &out), 0);
    cr_assert(json_equal(claims, out));
    /*  The suite's verifier does not know this key. */
    s_expect_fail(s_verifier, token, strlen(token), FK_ENOTFOUND);
    json_decref(out);
    json_decref(claims);
    json_decref(jwk);
    free(token);
    fk_verifier_destroy(&verifier);
    cr_assert_null(verifier);
    fk_signer_destroy(&signer);
    cr_assert_null(signer);
    fk_signer_destroy(&signer); /* idempotent */
    fk_signer_destroy(NULL);
    fk_verifier_destroy(NULL);
}

Test(fk_jwt, generate_refuses_keys_under_2048_bits)
{
    fk_signer_t *signer = NULL;
    cr_assert_eq(fk_signer_generate(&signer, 1024), FK_EINVAL_INPUT);
    cr_assert_null(signer);
    cr_assert_eq(fk_signer_generate(&signer, 2047), FK_EINVAL_INPUT);
    cr_assert_eq(fk_signer_generate(&signer, 0), FK_EINVAL_INPUT);
    cr_assert_null(signer);
}

Test(fk_jwt, pem_round_trip_keeps_the_kid_and_the_key)
{
    char *pem = fk_signer_to_pem(s_signer_a);
    cr_assert_not_null(pem);
    cr_assert_eq(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28), 0);
    fk_signer_t *reloaded = NULL;
    cr_assert_eq(fk_signer_from_pem(&reloaded, pem, strlen(pem)), 0);
    cr_assert_str_eq(fk_signer_kid(reloaded), fk_signer_kid(s_signer_a));
    /*  Tokens of the reloaded signer verify with the original's JWK. */
    json_t *claims = s_claims();
    char *token = fk_jwt_sign(reloaded, claims);
    json_t *out = NULL;
    cr_assert_eq(fk_jwt_verify(s_verifier, token, strlen(token), NOW, &out), 0);
    json_decref(out);
    json_decref(claims);
    free(token);
    OPENSSL_cleanse(pem, strlen(pem));
    free(pem);
    fk_signer_destroy(&reloaded);
}

Test(fk_jwt, from_pem_refuses_what_is_not_an_unencrypted_pkcs8_rsa_key)
{
    fk_signer_t *signer = NULL;
    cr_assert_eq(fk_signer_from_pem(&signer, "garbage", 7), FK_EINVAL_INPUT);
    cr_assert_null(signer);
    cr_assert_eq(fk_signer_from_pem(&signer, NULL, 0), FK_EINVAL_INPUT);
    cr_assert_eq(fk_signer_from_pem(&signer, s_pem_a, 0), FK_EINVAL_INPUT);
    /*  Truncated in the middle of the base64 body. */
    cr_assert_eq(fk_signer_from_pem(&signer, s_pem_a, strlen(s_pem_a) / 2), FK_EINVAL_INPUT);
    cr_assert_null(signer);

    EVP_PKEY *pkey = s_pkey(s_pem_a);
    char *text = NULL;
    long len = 0;
    BIO *bio = NULL;

    /*  Traditional "BEGIN RSA PRIVATE KEY" (PKCS#1). */
    bio = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
    len = BIO_get_mem_data(bio, &text);
    cr_assert_eq(strncmp(text, "-----BEGIN RSA PRIVATE KEY-----", 31), 0);
    cr_assert_eq(fk_signer_from_pem(&signer, text, (size_t)len), FK_EINVAL_INPUT);
    BIO_free(bio);

    /*  Encrypted PKCS#8: refused without ever asking for a passphrase. */
    bio = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_PKCS8PrivateKey(bio, pkey, EVP_aes_256_cbc(), "pw", 2, NULL, NULL),
                 1);
    len = BIO_get_mem_data(bio, &text);
    cr_assert_eq(strncmp(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----", 37), 0);
    cr_assert_eq(fk_signer_from_pem(&signer, text, (size_t)len), FK_EINVAL_INPUT);
    BIO_free(bio);

    /*  The public key alone. */
    bio = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_PUBKEY(bio, pkey), 1);
    len = BIO_get_mem_data(bio, &text);
    cr_assert_eq(fk_signer_from_pem(&signer, text, (size_t)len), FK_EINVAL_INPUT);
    BIO_free(bio);
    EVP_PKEY_free(pkey);

    /*  A well-formed PKCS#8 RSA key that is too small. */
    EVP_PKEY *small = EVP_RSA_gen(1024);
    cr_assert_not_null(small);
    bio = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_PrivateKey(bio, small, NULL, NULL, 0, NULL, NULL), 1);
    len = BIO_get_mem_data(bio, &text);
    cr_assert_eq(strncmp(text, "-----BEGIN PRIVATE KEY-----", 27), 0);
    cr_assert_eq(fk_signer_from_pem(&signer, text, (size_t)len), FK_EINVAL_INPUT);
    BIO_free(bio);
    EVP_PKEY_free(small);

    /*  A PKCS#8 key of another type. */
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    cr_assert_not_null(ec);
    bio = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_PrivateKey(bio, ec, NULL, NULL, 0, NULL, NULL), 1);
    len = BIO_get_mem_data(bio, &text);
    cr_assert_eq(fk_signer_from_pem(&signer, text, (size_t)len), FK_EINVAL_INPUT);
    BIO_free(bio);
    EVP_PKEY_free(ec);
    cr_assert_null(signer);
}

Test(fk_jwt, the_jwk_of_one_signer_verifies_its_tokens_beside_others)
{
    fk_verifier_t *verifier = fk_verifier_new();
    json_t *jwk_a = fk_signer_jwk(s_signer_a);
    json_t *jwk_b = fk_signer_jwk(s_signer_b);
    cr_assert_eq(fk_verifier_add_jwk(verifier, jwk_a), 0);
    cr_assert_eq(fk_verifier_add_jwk(verifier, jwk_b), 0);
    cr_assert_eq(fk_verifier_size(verifier), 2);
    json_t *claims = s_claims();
    const fk_signer_t *signers[2] = {s_signer_a, s_signer_b};
    for (int i = 0; i < 2; i++) {
        char *token = fk_jwt_sign(signers[i], claims);
        json_t *out = NULL;
        cr_assert_eq(fk_jwt_verify(verifier, token, strlen(token), NOW, &out), 0);
        cr_assert(json_equal(claims, out));
        json_decref(out);
        free(token);
    }
    json_decref(claims);
    json_decref(jwk_a);
    json_decref(jwk_b);
    fk_verifier_destroy(&verifier);
    cr_assert_null(verifier);
}

Test(fk_jwt, tampered_token_fails_the_signature)
{
    json_t *claims = s_claims();
    char *token = fk_jwt_sign(s_signer_a, claims);
    json_decref(claims);
    char *dot1 = strchr(token, '.');
    char *dot2 = strchr(dot1 + 1, '.');

    /*  Another payload under the original header and signature. */
    char *header = strndup(token, (size_t)(dot1 - token));
    const char *evil_json = "{\"sub\":\"admin\",\"exp\":1800000000}";
    char *evil = fk_b64url_encode(evil_json, strlen(evil_json));
    char *forged = malloc(strlen(token) + strlen(evil) + 2);
    sprintf(forged, "%s.%s%s", header, evil, dot2);
    s_expect_fail(s_verifier, forged, strlen(forged), FK_ECRYPTO);
    free(forged);
    free(evil);
    free(header);

    /*  One payload character changed ('A' and 'B' both keep the
        encoding canonical in the middle of a segment). */
    char *copy = strdup(token);
    size_t mid = (size_t)(dot1 - token) + 5;
    copy[mid] = copy[mid] == 'A' ? 'B' : 'A';
    s_expect_fail(s_verifier, copy, strlen(copy), FK_ECRYPTO);
    free(copy);

    /*  One signature character changed. */
    copy = strdup(token);
    size_t sig0 = (size_t)(dot2 - token) + 1;
    copy[sig0] = copy[sig0] == 'A' ? 'B' : 'A';
    s_expect_fail(s_verifier, copy, strlen(copy), FK_ECRYPTO);
    free(copy);

    /*  The same signature bytes spelled differently: a 256-byte signature
        leaves 4 unused bits in its last character, and setting one must
        not give a second token that verifies. */
    copy = strdup(token);
    char *last = copy + strlen(copy) - 1;
    cr_assert(strchr("AQgw", *last) != NULL);
    *last = (char)(*last + 1);
    s_expect_fail(s_verifier, copy, strlen(copy), FK_EINVAL_INPUT);
    free(copy);

    /*  The header re-encoded with the same kid: the signature covers the
        header bytes too. */
    char hdr[256];
    snprintf(hdr, sizeof hdr, "{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
             fk_signer_kid(s_signer_a));
    char *hdr_b64 = fk_b64url_encode(hdr, strlen(hdr));
    forged = malloc(strlen(token) + strlen(hdr_b64) + 1);
    sprintf(forged, "%s%s", hdr_b64, dot1);
    s_expect_fail(s_verifier, forged, strlen(forged), FK_ECRYPTO);
    free(forged);
    free(hdr_b64);
    free(token);
}

Test(fk_jwt, alg_none_is_refused)
{
    char header[256];
    snprintf(header, sizeof header, "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             fk_signer_kid(s_signer_a));
    /*  The classic unsecured JWS has an empty signature... */
    char *token = s_forge(NULL, 0, header, s_payload_ok, "");
    s_expect_fail(s_verifier, token, strlen(token), FK_EINVAL_INPUT);
    free(token);
    /*  ...but alg none is refused on its own account, whatever follows. */
    token = s_forge(NULL, 0, header, s_payload_ok, "AAAA");
    s_expect_fail(s_verifier, token, strlen(token), FK_EINVAL_INPUT);
    free(token);
    /*  And no other spelling of RS256 passes either. */
    const char *algs[] = {"None", "rs256", "RS256 ", "RS512", "PS256", ""};
    for (size_t i = 0; i < sizeof algs / sizeof *algs; i++) {
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"%s\"}", algs[i],
                 fk_signer_kid(s_signer_a));
        token = s_forge(NULL, 0, header, s_payload_ok, "AAAA");
        s_expect_fail(s_verifier, token, strlen(token), FK_EINVAL_INPUT);
        free(token);
    }
}

Test(fk_jwt, hs256_keyed_with_the_public_key_is_refused)
{
    /*  The algorithm-confusion attack: an HMAC over the token keyed with
        the (public) JWK text. Refused at the header, not by luck of the
        signature check: the code says so. */
    char header[256];
    snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             fk_signer_kid(s_signer_a));
    json_t *jwk = fk_signer_jwk(s_signer_a);
    const char *secret = json_string_value(json_object_get(jwk, "n"));
    char *h = fk_b64url_encode(header, strlen(header));
    char *p = fk_b64url_encode(s_payload_ok, strlen(s_payload_ok));
    char input[1024];
    snprintf(input, sizeof input, "%s.%s", h, p);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    cr_assert_not_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, strlen(secret),
                                 (unsigned char *)input, strlen(input), mac, sizeof mac, &mac_len));
    char *mac_b64 = fk_b64url_encode(mac, mac_len);
    char token[2048];
    snprintf(token, sizeof token, "%s.%s", input, mac_b64);
    s_expect_fail(s_verifier, token, strlen(token), FK_EINVAL_INPUT);
    free(mac_b64);
    free(h);
    free(p);
    json_decref(jwk);
}

Test(fk_jwt, pss_signature_under_rs256_is_refused)
{
    EVP_PKEY *pkey = s_pkey(s_pem_a);
    char *header = s_header_a();
    char *good = s_forge(pkey, RSA_PKCS1_PADDING, header, s_payload_ok, NULL);
    json_t *out = NULL;
    cr_assert_eq(fk_jwt_verify(s_verifier, good, strlen(good), NOW, &out), 0);
    json_decref(out);
    char *pss = s_forge(pkey, RSA_PKCS1_PSS_PADDING, header, s_payload_ok, NULL);
    s_expect_fail(s_verifier, pss, strlen(pss), FK_ECRYPTO);
    free(good);
    free(pss);
    free(header);
    EVP_PKEY_free(pkey);
}

Test(fk_jwt, unknown_kid_is_not_found)
{
    json_t *claims = s_claims();
    char *token = fk_jwt_sign(s_signer_b, claims);
    s_expect_fail(s_verifier, token, strlen(token), FK_ENOTFOUND);
    free(token);
    json_decref(claims);
    /*  A header without a kid is malformed, not merely unknown. */
    token = s_forge(NULL, 0, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", s_payload_ok, "AAAA");
    s_expect_fail(s_verifier, token, strlen(token), FK_EINVAL_INPUT);
    free(token);
    token = s_forge(NULL, 0, "{\"alg\":\"RS256\",\"kid\":7}", s_payload_ok, "AAAA");
    s_expect_fail(s_verifier, token, strlen(token), FK_EINVAL_INPUT);
    free(token);
}

Test(fk_jwt, same_kid_with_a_different_key_fails_the_signature)
{
    /*  The verifier trusts key A under B's kid; B's own token names that
        kid, so it reaches the signature check with the wrong key. */
    fk_verifier_t *verifier = fk_verifier_new();
    json_t *jwk = fk_signer_jwk(s_signer_a);
    json_object_set_new(jwk, "kid", json_string(fk_signer_kid(s_signer_b)));
    cr_assert_eq(fk_verifier_add_jwk(verifier, jwk), 0);
    json_t *claims = s_claims();
    char *token = fk_jwt_sign(s_signer_b, claims);
    s_expect_fail(verifier, token, strlen(token), FK_ECRYPTO);
    free(token);
    json_decref(claims);
    json_decref(jwk);
    fk_verifier_destroy(&verifier);
}

/*  Sign claims {"sub":"u", <extra>} with key A. */
static char *
s_token_with(const char *extra)
{
    char payload[256];
    snprintf(payload, sizeof payload, "{\"sub\":\"u\"%s%s}", *extra ? "," : "", extra);
    EVP_PKEY *pkey = s_pkey(s_pem_a);
    char *header = s_header_a();
    char *token = s_forge(pkey, RSA_PKCS1_PADDING, header, payload, NULL);
    free(header);
    EVP_PKEY_free(pkey);
    return token;
}

static int
s_verify_rc(const char *token)
{
    json_t *claims = NULL;
    int rc = fk_jwt_verify(s_verifier, token, strlen(token), NOW, &claims);
    cr_assert(rc == 0 ? claims != NULL : claims == NULL);
    json_decref(claims);
    return rc;
}

Test(fk_jwt, expired_or_not_yet_valid_tokens_are_refused)
{
    struct {
        const char *claims;
        int want;
    } cases[] = {
        {"\"exp\":1699999999", FK_EEXPIRED},
        {"\"exp\":1700000000", FK_EEXPIRED}, /* exp is exclusive */
        {"\"exp\":1700000001", 0},
        {"\"exp\":-9223372036854775807", FK_EEXPIRED},
        {"\"exp\":1700003600,\"nbf\":1700000060", 0}, /* within the 60 s skew */
        {"\"exp\":1700003600,\"nbf\":1700000061", FK_EEXPIRED},
        {"\"exp\":1700003600,\"nbf\":1600000000", 0},
        {"", FK_EINVAL_INPUT},                       /* no exp */
        {"\"exp\":\"1700003600\"", FK_EINVAL_INPUT}, /* a string */
        {"\"exp\":1700003600.0", FK_EINVAL_INPUT},   /* a real */
        {"\"exp\":null", FK_EINVAL_INPUT},           /* null */
        {"\"exp\":1700003600,\"nbf\":true", FK_EINVAL_INPUT},
        {"\"exp\":1,\"exp\":1700003600", FK_EINVAL_INPUT}, /* duplicate member */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *token = s_token_with(cases[i].claims);
        int rc = s_verify_rc(token);
        cr_assert_eq(rc, cases[i].want, "claims %s: got %s, want %s", cases[i].claims,
                     fk_err_name(rc), fk_err_name(cases[i].want));
        free(token);
    }
}

Test(fk_jwt, expiry_is_judged_against_the_given_clock)
{
    json_t *claims = s_claims(); /* exp = NOW + 3600 */
    char *token = fk_jwt_sign(s_signer_a, claims);
    json_t *out = NULL;
    cr_assert_eq(fk_jwt_verify(s_verifier, token, strlen(token), NOW + 3599, &out), 0);
    json_decref(out);
    cr_assert_eq(fk_jwt_verify(s_verifier, token, strlen(token), NOW + 3600, &out), FK_EEXPIRED);
    cr_assert_null(out);
    cr_assert_eq(fk_jwt_verify(s_verifier, token, strlen(token), INT64_MAX, &out), FK_EEXPIRED);
    cr_assert_null(out);
    free(token);
    json_decref(claims);
}

Test(fk_jwt, signed_payload_that_is_not_an_object_is_refused)
{
    EVP_PKEY *pkey = s_pkey(s_pem_a);
    char *header = s_header_a();
    const char *payloads[] = {"[1,2]", "\"exp\"", "{\"exp\":1800000000", "{} trailing", "null"};
    for (size_t i = 0; i < sizeof payloads / sizeof *payloads; i++) {
        char *token = s_forge(pkey, RSA_PKCS1_PADDING, header, payloads[i], NULL);
        s_expect_fail(s_verifier, token, strlen(token), FK_EINVAL_INPUT);
        free(token);
    }
    free(header);
    EVP_PKEY_free(pkey);
}

Test(fk_jwt, malformed_tokens_fail_without_claims)
{
    char kid_header[256];
    snprintf(kid_header, sizeof kid_header, "{\"alg\":\"RS256\",\"kid\":\"%s\"}",
             fk_signer_kid(s_signer_a));
    char *hdr = fk_b64url_encode(kid_header, strlen(kid_header));
    char *pay = fk_b64url_encode(s_payload_ok, strlen(s_payload_ok));
    char buf[1024];
    const char *plain[] = {
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "..",
        "...",
        "a..c",
        ".b.c",
        "a.b.",
        "a!.b.c",
        "a.b.c\n",
        " a.b.c",
        "YQ==.YQ.YQ",
        "YQ.YQ.YQ=",
        "a.b.c.",
        "e30.e30.e30",     /* {} header: no alg */
        "WzFd.e30.AAAA",   /* [1] header */
        "bnVsbA.e30.AAAA", /* null header */
        "eyJ.e30.AAAA",    /* truncated JSON */
        "A.e30.AAAA",      /* a lone base64 character cannot encode a byte */
    };
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
        s_expect_any_fail(s_verifier, plain[i], strlen(plain[i]));
    }
    s_expect_fail(s_verifier, NULL, 0, FK_EINVAL_INPUT);

    /*  A correct header, with things wrong elsewhere. */
    snprintf(buf, sizeof buf, "%s.%s.", hdr, pay); /* empty signature */
    s_expect_fail(s_verifier, buf, strlen(buf), FK_EINVAL_INPUT);
    snprintf(buf, sizeof buf, "%s..AAAA", hdr); /* empty payload */
    s_expect_fail(s_verifier, buf, strlen(buf), FK_EINVAL_INPUT);
    snprintf(buf, sizeof buf, "%s.%s.AAAA", hdr, pay); /* short signature */
    s_expect_fail(s_verifier, buf, strlen(buf), FK_ECRYPTO);
    snprintf(buf, sizeof buf, "%s.%s.A", hdr, pay); /* undecodable signature */
    s_expect_fail(s_verifier, buf, strlen(buf), FK_EINVAL_INPUT);
    /*  Non-canonical base64url in the header: "...fQ" ends the JSON; "fR"
        decodes to the same bytes with a stray bit set. */
    snprintf(buf, sizeof buf, "%s.%s.AAAA", hdr, pay);
    char *end_of_hdr = strchr(buf, '.') - 1;
    cr_assert_eq(*end_of_hdr, 'Q');
    *end_of_hdr = 'R';
    s_expect_fail(s_verifier, buf, strlen(buf), FK_EINVAL_INPUT);

    /*  A NUL inside the token. */
    size_t len = (size_t)snprintf(buf, sizeof buf, "%s.%s.AAAA", hdr, pay);
    buf[5] = '\0';
    s_expect_fail(s_verifier, buf, len, FK_EINVAL_INPUT);

    /*  Headers that parse but break the rules. */
    const char *headers[] = {
        "{\"alg\":\"RS256\",\"kid\":\"k\",\"alg\":\"none\"}", /* duplicate alg */
        "{\"kid\":\"k\"}",                                    /* no alg */
        "{\"alg\":[\"RS256\"],\"kid\":\"k\"}",                /* alg not a string */
        "{\"alg\":\"RS256\",\"kid\":\"k\\u0000x\"}",          /* NUL in kid */
    };
    for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
        char *token = s_forge(NULL, 0, headers[i], s_payload_ok, "AAAA");
        s_expect_fail(s_verifier, token, strlen(token), FK_EINVAL_INPUT);
        free(token);
    }
    /*  "crit" is refused even on a properly signed token. */
    EVP_PKEY *pkey = s_pkey(s_pem_a);
    snprintf(kid_header, sizeof kid_header, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"crit\":[\"b64\"]}",
             fk_signer_kid(s_signer_a));
    char *token = s_forge(pkey, RSA_PKCS1_PADDING, kid_header, s_payload_ok, NULL);
    s_expect_fail(s_verifier, token, strlen(token), FK_EINVAL_INPUT);
    free(token);
    EVP_PKEY_free(pkey);
    free(hdr);
    free(pay);
}

Test(fk_jwt, every_proper_prefix_and_any_extension_of_a_token_fails)
{
    json_t *claims = s_claims();
    char *token = fk_jwt_sign(s_signer_a, claims);
    size_t len = strlen(token);
    for (size_t i = 0; i < len; i++) {
        s_expect_any_fail(s_verifier, token, i);
    }
    char *longer = malloc(len + 2);
    const char tails[] = {'A', '.', '=', '\n', '\0'};
    for (size_t i = 0; i < sizeof tails; i++) {
        memcpy(longer, token, len);
        longer[len] = tails[i];
        s_expect_any_fail(s_verifier, longer, len + 1);
    }
    free(longer);
    free(token);
    json_decref(claims);
}

Test(fk_jwt, oversize_token_is_too_big_before_parsing)
{
    size_t len = FK_JWT_MAX_LEN + 1;
    char *big = malloc(len);
    memset(big, 'A', len);
    s_expect_fail(s_verifier, big, len, FK_ETOOBIG);
    /*  At the limit it is read (and refused as malformed, not as too big). */
    s_expect_fail(s_verifier, big, FK_JWT_MAX_LEN, FK_EINVAL_INPUT);
    free(big);
}

Test(fk_jwt, sign_refuses_what_it_could_not_verify)
{
    cr_assert_null(fk_jwt_sign(s_signer_a, NULL));
    json_t *array = json_array();
    cr_assert_null(fk_jwt_sign(s_signer_a, array));
    json_decref(array);
    json_t *string = json_string("claims");
    cr_assert_null(fk_jwt_sign(s_signer_a, string));
    json_decref(string);

    /*  A NUL in a string is valid JSON, and jansson writes it, but the
        verifier refuses it ("admin\u0000x" reads as "admin" in C), so the
        signer must not make such a token (a fuzzer finding). */
    json_t *nul = s_claims();
    json_object_set_new(nul, "sub", json_stringn("admin\0x", 7));
    cr_assert_null(fk_jwt_sign(s_signer_a, nul));
    json_decref(nul);
    nul = s_claims();
    json_object_set_new(nul, "aud", json_pack("[s, s#]", "lok", "a\0b", (size_t)3));
    cr_assert_null(fk_jwt_sign(s_signer_a, nul));
    json_decref(nul);

    /*  A token over FK_JWT_MAX_LEN would be refused by every verifier, so
        none is made. Search for the longest filler that still signs. */
    char *filler = malloc(FK_JWT_MAX_LEN);
    memset(filler, 'x', FK_JWT_MAX_LEN - 1);
    filler[FK_JWT_MAX_LEN - 1] = '\0';
    json_t *claims = s_claims();
    size_t fits = 0;
    size_t too_long = FK_JWT_MAX_LEN - 1;
    json_object_set_new(claims, "filler", json_string(filler));
    cr_assert_null(fk_jwt_sign(s_signer_a, claims));
    while (too_long - fits > 1) {
        size_t mid = (fits + too_long) / 2;
        json_object_set_new(claims, "filler", json_string(filler + FK_JWT_MAX_LEN - 1 - mid));
        char *token = fk_jwt_sign(s_signer_a, claims);
        if (token) {
            fits = mid;
        } else {
            too_long = mid;
        }
        free(token);
    }
    /*  The longest token made ends within two characters of the limit
        (one more payload byte adds one or two base64url characters), and
        it verifies: sign and verify agree on the boundary. */
    json_object_set_new(claims, "filler", json_string(filler + FK_JWT_MAX_LEN - 1 - fits));
    char *token = fk_jwt_sign(s_signer_a, claims);
    cr_assert_not_null(token);
    cr_assert_leq(strlen(token), FK_JWT_MAX_LEN);
    cr_assert_geq(strlen(token), FK_JWT_MAX_LEN - 2);
    json_t *out = NULL;
    cr_assert_eq(fk_jwt_verify(s_verifier, token, strlen(token), NOW, &out), 0);
    cr_assert(json_equal(claims, out));
    json_decref(out);
    free(token);
    json_decref(claims);
    free(filler);
}

/*  A modulus of nbytes bytes (the first bytes of jwk's n, repeated as
    needed), odd or even, as a JSON string. */
static json_t *
s_n_variant(const json_t *jwk, size_t nbytes, int odd)
{
    const json_t *n_json = json_object_get(jwk, "n");
    unsigned char *n = NULL;
    size_t n_len = 0;
    cr_assert_eq(
        fk_b64url_decode(json_string_value(n_json), json_string_length(n_json), &n, &n_len), 0);
    unsigned char *bytes = malloc(nbytes);
    for (size_t i = 0; i < nbytes; i++) {
        bytes[i] = n[i % n_len];
    }
    bytes[0] |= 0x80;
    bytes[nbytes - 1] = (unsigned char)(odd ? bytes[nbytes - 1] | 1 : bytes[nbytes - 1] & 0xfe);
    char *b64 = fk_b64url_encode(bytes, nbytes);
    json_t *out = json_string(b64);
    free(b64);
    free(bytes);
    free(n);
    return out;
}

Test(fk_jwt, add_jwk_checks_the_key_and_the_kid)
{
    fk_verifier_t *verifier = fk_verifier_new();
    cr_assert_eq(fk_verifier_size(verifier), 0);
    json_t *jwk_a = fk_signer_jwk(s_signer_a);
    cr_assert_eq(fk_verifier_add_jwk(verifier, jwk_a), 0);
    /*  The same key again, even without the optional members, is a no-op. */
    json_t *bare =
        json_pack("{s:s, s:O, s:O, s:O}", "kty", "RSA", "kid", json_object_get(jwk_a, "kid"), "n",
                  json_object_get(jwk_a, "n"), "e", json_object_get(jwk_a, "e"));
    cr_assert_eq(fk_verifier_add_jwk(verifier, bare), 0);
    cr_assert_eq(fk_verifier_size(verifier), 1);
    /*  Key B under A's kid. */
    json_t *jwk_b = fk_signer_jwk(s_signer_b);
    json_object_set(jwk_b, "kid", json_object_get(jwk_a, "kid"));
    cr_assert_eq(fk_verifier_add_jwk(verifier, jwk_b), FK_EEXISTS);
    cr_assert_eq(fk_verifier_size(verifier), 1);

    struct {
        const char *member;
        json_t *value; /* NULL: delete the member */
    } bad[] = {
        {"kid", NULL},
        {"kid", json_string("")},
        {"kid", json_integer(1)},
        {"kty", json_string("EC")},
        {"kty", NULL},
        {"n", NULL},
        {"n", json_string("not base64!")},
        {"n", json_integer(5)},
        {"e", json_string("AQAB=")}, /* padding */
        {"e", json_string("AQ")},    /* e = 1 */
        {"e", json_string("Ag")},    /* even */
        {"e", json_string("AQAC")},  /* non-canonical trailing bits */
        {"e", json_string("")},
        {"use", json_string("enc")},
        {"alg", json_string("HS256")},
        {"alg", json_string("none")},
        {"n", s_n_variant(jwk_b, 64, 1)},   /* a 512-bit modulus */
        {"n", s_n_variant(jwk_b, 255, 1)},  /* 2040 bits */
        {"n", s_n_variant(jwk_b, 256, 0)},  /* even */
        {"n", s_n_variant(jwk_b, 1025, 1)}, /* 8200 bits */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *jwk = json_deep_copy(jwk_b);
        json_object_set_new(jwk, "kid", json_string("fresh"));
        if (bad[i].value) {
            json_object_set_new(jwk, bad[i].member, bad[i].value);
        } else {
            json_object_del(jwk, bad[i].member);
        }
        cr_assert_eq(fk_verifier_add_jwk(verifier, jwk), FK_EINVAL_INPUT, "case %zu (%s)", i,
                     bad[i].member);
        json_decref(jwk);
    }
    json_t *array = json_array();
    cr_assert_eq(fk_verifier_add_jwk(verifier, array), FK_EINVAL_INPUT);
    cr_assert_eq(fk_verifier_add_jwk(verifier, NULL), FK_EINVAL_INPUT);
    json_decref(array);
    cr_assert_eq(fk_verifier_size(verifier), 1);
    /*  B under its own kid is a second key; a private member is ignored. */
    json_object_set_new(jwk_b, "kid", json_string(fk_signer_kid(s_signer_b)));
    json_object_set_new(jwk_b, "d", json_string("AQAB"));
    cr_assert_eq(fk_verifier_add_jwk(verifier, jwk_b), 0);
    cr_assert_eq(fk_verifier_size(verifier), 2);
    json_decref(bare);
    json_decref(jwk_a);
    json_decref(jwk_b);
    fk_verifier_destroy(&verifier);
}

Test(fk_jwt, jwk_with_a_leading_zero_is_the_same_key)
{
    /*  RFC 7518 forbids leading zero octets in n, but a key padded with one
        is still the same key: same thumbprint, and no FK_EEXISTS. */
    json_t *jwk = fk_signer_jwk(s_signer_a);
    unsigned char *n = NULL;
    size_t n_len = 0;
    const json_t *n_json = json_object_get(jwk, "n");
    cr_assert_eq(
        fk_b64url_decode(json_string_value(n_json), json_string_length(n_json), &n, &n_len), 0);
    unsigned char *padded = malloc(n_len + 1);
    padded[0] = 0;
    memcpy(padded + 1, n, n_len);
    json_t *copy = json_deep_copy(jwk);
    char *padded_b64 = fk_b64url_encode(padded, n_len + 1);
    json_object_set_new(copy, "n", json_string(padded_b64));
    free(padded_b64);
    char *t1 = NULL;
    char *t2 = NULL;
    cr_assert_eq(fk_jwk_thumbprint(jwk, &t1), 0);
    cr_assert_eq(fk_jwk_thumbprint(copy, &t2), 0);
    cr_assert_str_eq(t1, t2);
    cr_assert_eq(fk_verifier_add_jwk(s_verifier, copy), 0);
    cr_assert_eq(fk_verifier_size(s_verifier), 1);
    free(t1);
    free(t2);
    free(padded);
    free(n);
    json_decref(copy);
    json_decref(jwk);
}

/*  Shared by the threads below. */
typedef struct {
    const char *token; /* a valid token of key A */
    int failures;      /* verifications or signings that went wrong */
} s_thread_arg_t;

static void *
s_thread_main(void *raw)
{
    s_thread_arg_t *arg = raw;
    json_t *claims = s_claims();
    for (int i = 0; i < 100; i++) {
        json_t *out = NULL;
        if (fk_jwt_verify(s_verifier, arg->token, strlen(arg->token), NOW, &out) != 0
            || !json_equal(out, claims)) {
            arg->failures++;
        }
        json_decref(out);
        if (i % 20 == 0) {
            char *token = fk_jwt_sign(s_signer_a, claims);
            if (!token || fk_jwt_verify(s_verifier, token, strlen(token), NOW, &out) != 0) {
                arg->failures++;
            }
            json_decref(out);
            free(token);
        }
    }
    json_decref(claims);
    return NULL;
}

Test(fk_jwt, one_signer_and_verifier_serve_many_threads_at_once)
{
    json_t *claims = s_claims();
    char *token = fk_jwt_sign(s_signer_a, claims);
    json_decref(claims);
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    s_thread_arg_t args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (s_thread_arg_t){.token = token, .failures = 0};
        cr_assert_eq(pthread_create(&threads[i], NULL, s_thread_main, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        cr_assert_eq(args[i].failures, 0, "thread %d saw %d failures", i, args[i].failures);
    }
    free(token);
}
