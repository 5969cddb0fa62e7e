/*  fuzz_jwt - fk_jwt_verify on raw bytes, plus sign-then-verify round trips.

    Every input goes to fk_jwt_verify as a bearer token, against a verifier
    that trusts one fixed key, so the checked-in seeds (tokens signed by
    that key) stay valid and reach every stage of the verifier. A short
    input also becomes claims: parsed as a JSON object if it is one, else
    carried as a string claim. Those claims are signed, and the token must
    verify and give back equal claims; anything else aborts. */

#include "fk_jwt.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fk_crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*  A test-only 2048-bit key; the corpus tokens are signed with it. */
static const char s_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDZqnbKrB/5n+f3\n"
                            "ZQ09opHHwAQS1htl0W/te/u0FihGVgJwUWm4oa29XfSfe548nd7IEcdk5pHh/RkH\n"
                            "Dme1paJjwGo7kCZjitCrzhd4gu6oLVsHxlSBYj4lsc4ZIHFyYopIa/CT3pNLnroY\n"
                            "p8iyRX/oJUF3k+TUnnINqUe5eqzxavXm/ipjRqFlY2CJLPi0uPETvH19TNTEb5el\n"
                            "CaBTY91Qv8C1RgHE82OYSA67/k2PAiZ/ftcc5yVfkHsPWgZGAAq8L4wYcEkiCXsk\n"
                            "0fvyReiM70c3MQOE9+LCmt2IpyBXqRN/NqCJc6VNBRkuLWeLVnFepyc16ZE4pouF\n"
                            "bi+/gWx/AgMBAAECggEAAsenjr0WB3UgXEuBGMlrvTZZlvf/D5TWLh1IQKuLxiIx\n"
                            "E8gmZoJCGsoJZsQIaFPH1ZxMhKBhOpal7C4l6u77nPSHJs2Xf+v08EzIhfR+Ic26\n"
                            "fOXujFx52Ldln3KHoGNbysL+JpVQIkYbsFbsPEKg+JEJPgK4iHKhmEUSMm87qDWk\n"
                            "eLLk4DaqBemfh0IctRBK1kUDRt1o2XkOsIDVXitQ+agt6M0n12ty0yMO2aKIo1xB\n"
                            "lBaDPhztlkznPMWwHsp90WFsg1lkRTGXY0gtwmT6UjC9j4H2v5cZXGI+3Z+8R6Oh\n"
                            "r9wfGm+bdZut2tO4WckLOlKTs45heztd64NF1D6dyQKBgQDuH6e1Fwweajq2LRtr\n"
                            "M33KBqhsVPhYbnt+b/G5GOQ9ULP3BYIG6kbQUXXrCAu9T/eHM/0GoEJc6ZXwm8ve\n"
                            "IIeVG6tFNDRjBGOOLlSx2hxuIiSb3rOWO58ec1mEwWLbH3g7RxCucxGoin4+cIF9\n"
                            "9PzZ1oRNoKIGMr3GIfPyNc1AQwKBgQDqAaTjEQiVxITmCZkOhYNdUj9Uyeq/WpHe\n"
                            "niW0wwGRohn9YcC5iAE43t3EEIECDnFocRlqwH25tcCR5CHq1Dtog7FFIDXl78/0\n"
                            "peBfon0QO/onJAdJ8Zz8vrTiJZd9/mlT8KMNI1EyhjsquEvR4cZ41ZOz7B3vdjRF\n"
                            "RcAtK11NFQKBgDmX6G0xTNoSYW7sjAQqqRLy90t0ZbilyDK1iqZ1McbuvQhTCbb4\n"
                            "dPYvrbCR+pzoOXs3BMzUeBiW2pAebnmkLobO8WbEkKMeTaH27L8zfMracTZN7+u3\n"
                            "Me4gghdM2sca3m6f6pX2+N9l19DsTzWSypE5hDhuUKHlJedFEQaVIraXAoGBAMOB\n"
                            "MCNNfeCy2V3fsvKA9amoJ6VNNUU+BBT8CACn0826owAhBYV8bZj4CkvehgoTywg5\n"
                            "RcT8oY3gnczFztiFDEVbkWVxbdZ3r0R0uars9JP1qB+/aB+NL12ybylpwtHPFmy8\n"
                            "5Vz6nsIZh6E/bIkjmlAmEEsIAFKqbS1bAx451q+pAoGAQxsVATXcKayzhwfRMIQb\n"
                            "A5Hqgu2qcy+G/UHIWJ7WCKY+4eDcUiuLYGAfAtj8mzB3kSYXNDZtgd2xPbGVOOgQ\n"
                            "cK/Cp7uUT475Qnn55izuG9ysWhTdUpja9TxiX1520vTHPkCRZNAr+JA0OsXgw151\n"
                            "jJNaKN1j/0s7ZamCy6NZsk0=\n"
                            "-----END PRIVATE KEY-----\n";

/*  The clock the verifier runs at; the seeds expire long after it. */
#define S_NOW 1700000000

/*  Inputs up to this size are also signed; signing costs ~1 ms. */
#define S_ROUND_TRIP_MAX 256

static fk_signer_t *s_signer;     /* built on first call, never freed */
static fk_verifier_t *s_verifier; /* trusts s_signer's key only */

static void
s_die(const char *what)
{
    fprintf(stderr, "fuzz_jwt: %s\n", what);
    abort();
}

static void
s_init(void)
{
    if (s_verifier) {
        return;
    }
    if (fk_signer_from_pem(&s_signer, s_pem, strlen(s_pem)) != 0) {
        s_die("cannot load the test key");
    }
    s_verifier = fk_verifier_new();
    json_t *jwk = fk_signer_jwk(s_signer);
    if (fk_verifier_add_jwk(s_verifier, jwk) != 0) {
        s_die("the signer's own JWK was refused");
    }
    json_decref(jwk);
}

/*  Claims from the input: the input itself if it is a JSON object, else
    {"sub": <input as a string, or its base64url if not UTF-8>}. Either
    way with a valid "exp" and no "nbf". */
static json_t *
s_claims_from(const uint8_t *data, size_t size)
{
    json_t *claims = json_loadb((const char *)data, size, 0, NULL);
    if (!json_is_object(claims)) {
        json_decref(claims);
        claims = json_object();
        /*  A NUL would make the claims unsignable (fk_jwt_sign refuses
            what fk_jwt_verify would), so such input goes in as base64url;
            s_refuse_nul checks the refusal itself. */
        json_t *sub = memchr(data, 0, size) ? NULL : json_stringn((const char *)data, size);
        if (!sub) {
            char *b64 = fk_b64url_encode(data, size);
            sub = json_string(b64);
            free(b64);
        }
        json_object_set_new(claims, "sub", sub);
    }
    json_object_set_new(claims, "exp", json_integer(S_NOW + 3600));
    json_object_del(claims, "nbf");
    return claims;
}

/*  Claims holding a string with NUL must be refused by the signer. */
static void
s_refuse_nul(const uint8_t *data, size_t size)
{
    json_t *sub = json_stringn((const char *)data, size);
    if (!sub) {
        return; /* not UTF-8: jansson refused it already */
    }
    json_t *claims = json_pack("{s:o, s:I}", "sub", sub, "exp", (json_int_t)S_NOW + 3600);
    char *token = fk_jwt_sign(s_signer, claims);
    if (token) {
        s_die("signed claims holding a NUL");
    }
    json_decref(claims);
}

static void
s_round_trip(const uint8_t *data, size_t size)
{
    json_t *claims = s_claims_from(data, size);
    char *token = fk_jwt_sign(s_signer, claims);
    if (!token) {
        s_die("could not sign short claims");
    }
    json_t *out = NULL;
    int rc = fk_jwt_verify(s_verifier, token, strlen(token), S_NOW, &out);
    if (rc != 0 || !out) {
        fprintf(stderr, "fuzz_jwt: own token refused (%d): %s\n", rc, token);
        abort();
    }
    if (!json_equal(claims, out)) {
        s_die("claims changed in a round trip");
    }
    json_decref(out);
    free(token);
    json_decref(claims);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_init();
    json_t *claims = NULL;
    int rc = fk_jwt_verify(s_verifier, (const char *)data, size, S_NOW, &claims);
    /*  The contract: claims exactly on success. */
    if ((rc == 0) != (claims != NULL)) {
        s_die("claims do not match the return code");
    }
    if (rc == 0 && !json_is_object(claims)) {
        s_die("verified claims are not an object");
    }
    json_decref(claims);
    if (size <= S_ROUND_TRIP_MAX) {
        s_round_trip(data, size);
        if (memchr(data, 0, size)) {
            s_refuse_nul(data, size);
        }
    }
    return 0;
}
