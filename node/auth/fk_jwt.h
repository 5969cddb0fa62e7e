/*  fk_jwt - RS256 JSON Web Tokens (RFC 7515, RFC 7519) and RSA JSON Web
    Keys (RFC 7517), through OpenSSL 3's EVP interface only.

    Two objects, one per side of a token:
      fk_signer_t    an RSA private key and its kid; mints access tokens.
      fk_verifier_t  a set of RSA public keys by kid (the JWKS a service
                     trusts); checks bearer tokens from the network.

    The kid of every key this module makes is its RFC 7638 JWK thumbprint:
    base64url(SHA-256('{"e":"<e>","kty":"RSA","n":"<n>"}')), where n and e
    are the base64url big-endian bytes without leading zeros. The same key
    therefore always gets the same kid, on every node.

    Only RS256 (RSASSA-PKCS1-v1_5 with SHA-256) exists here. The algorithm
    is fixed by the key, never chosen by the token: a token whose header
    says "none", "HS256" or anything but "RS256" is refused, and keys a
    token offers about itself ("jwk", "jku", "x5u", "x5c") are ignored.

    Threads: an fk_signer_t is immutable once created, and an fk_verifier_t
    is immutable once its keys are added; either may then be used from any
    number of threads at once. Each sign or verify call makes its own
    EVP_MD_CTX (and so its own EVP_PKEY_CTX); the EVP_PKEY is shared and
    only read. OpenSSL 3 documents this as safe (openssl-threads(7)): an
    object may be used by many threads while no API modifies it, and "two
    threads can calculate a signature using two different EVP_PKEY_CTX
    objects"; it is not safe for one thread to change a key while another
    uses it, which is why nothing here changes a key after creation.

    Caveats: fk_verifier_add_jwk must not run while any thread verifies
    with the same verifier. To rotate keys, build a new verifier, publish
    it (for example by swapping a pointer under the caller's own lock or
    atomic), and destroy the old one once no thread still uses it. */

#ifndef FK_JWT_H_INCLUDED
#define FK_JWT_H_INCLUDED

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/*  The longest token fk_jwt_verify reads, in bytes; a longer one gives
    FK_ETOOBIG without being parsed. fk_jwt_sign refuses to mint a token
    longer than this, so every token it makes can be verified. */
#define FK_JWT_MAX_LEN 16384

/*  How far (seconds) a token's "nbf" may lie in the future and the token
    still be accepted, for clocks that differ between nodes. */
#define FK_JWT_NBF_SKEW_S 60

/*  The RSA modulus sizes accepted for signing and verifying keys, in
    bits. The upper bound caps the cost of a key taken from a JWKS. */
#define FK_JWT_RSA_MIN_BITS 2048
#define FK_JWT_RSA_MAX_BITS 8192

/*  An RSA private key with its kid. Immutable; thread-safe to share. */
typedef struct fk_signer fk_signer_t;

/*  A set of RSA public keys by kid. See the thread rules above. */
typedef struct fk_verifier fk_verifier_t;

/*  Generate a fresh RSA key of bits bits (2048 is the usual choice) with
    public exponent 65537. Takes from tens of milliseconds (2048) to
    seconds (4096 and up). Returns 0 and sets *self_p (caller destroys);
    FK_EINVAL_INPUT if bits is outside [FK_JWT_RSA_MIN_BITS,
    FK_JWT_RSA_MAX_BITS]; FK_ECRYPTO if OpenSSL fails. On failure *self_p
    is NULL. self_p must not be NULL. */
int fk_signer_generate(fk_signer_t **self_p, unsigned bits);

/*  Load a signer from an unencrypted PKCS#8 PEM private key ("-----BEGIN
    PRIVATE KEY-----", as fk_signer_to_pem writes) of len bytes; pem need
    not be NUL-terminated. Returns 0 and sets *self_p (caller destroys);
    FK_EINVAL_INPUT if the text is not such a PEM (encrypted and
    traditional "RSA PRIVATE KEY" PEMs included), holds a key that is not
    RSA (RSA-PSS included), has a modulus outside the accepted sizes or a
    public exponent fk_verifier_add_jwk would refuse; FK_ECRYPTO if the key
    fails a sign-then-verify self-test (a damaged key) or OpenSSL fails.
    On failure *self_p is NULL. The caller should cleanse its copy of pem.
    self_p must not be NULL; pem may be NULL only if len is 0. */
int fk_signer_from_pem(fk_signer_t **self_p, const char *pem, size_t len);

/*  The private key as an unencrypted PKCS#8 PEM, NUL-terminated. Returns a
    fresh string: the caller should OPENSSL_cleanse() it, then free() it.
    Returns NULL only if OpenSSL fails to encode (not expected). */
char *fk_signer_to_pem(const fk_signer_t *self);

/*  The key's kid (its RFC 7638 thumbprint, 43 characters), borrowed for
    the signer's lifetime. Never NULL. */
const char *fk_signer_kid(const fk_signer_t *self);

/*  The public key as a JWK, a new reference (caller decrefs):
    {"kty":"RSA","use":"sig","alg":"RS256","kid":..,"n":..,"e":..}.
    Publish these as {"keys":[...]} (protocol section 6.5). Aborts on OOM. */
json_t *fk_signer_jwk(const fk_signer_t *self);

/*  Sign claims (a JSON object) as a compact JWS with the header
    {"alg":"RS256","typ":"JWT","kid":<kid>}. The claims are serialised as
    given: the caller sets "exp" (and "iat", "iss", ...), which
    fk_jwt_verify requires. Returns a fresh NUL-terminated token (caller
    frees), or NULL if claims is NULL or not an object, cannot be
    serialised, would not parse back under fk_jwt_verify's rules (a string
    holding NUL, or invalid UTF-8 set with jansson's _nocheck calls), if
    the token would exceed FK_JWT_MAX_LEN, or if OpenSSL fails.
    Aborts only on OOM. Thread-safe. */
char *fk_jwt_sign(const fk_signer_t *self, const json_t *claims);

/*  Free the signer and set *self_p to NULL; the private key material is
    cleared by OpenSSL. Safe on NULL and on *self_p == NULL. */
void fk_signer_destroy(fk_signer_t **self_p);

/*  Compute the RFC 7638 thumbprint of an RSA public JWK (it needs "kty":
    "RSA", "n" and "e"; other members, "kid" included, are ignored). n and
    e are taken without leading zero bytes, so equal keys have equal
    thumbprints. Returns 0 and sets *thumbprint_p to a fresh 43-character
    string (caller frees); FK_EINVAL_INPUT if jwk is not such a JWK, with
    *thumbprint_p NULL. */
int fk_jwk_thumbprint(const json_t *jwk, char **thumbprint_p);

/*  Create an empty verifier. Aborts on OOM. */
fk_verifier_t *fk_verifier_new(void);

/*  Add an RSA public key given as a JWK: "kty" "RSA", "kid" a non-empty
    string, "n" and "e" base64url without padding; "use", if present, must
    be "sig" and "alg", if present, "RS256". Private members ("d", ...)
    are ignored. The kid need not be the thumbprint (keys from other
    issuers keep theirs). The jwk is only read; the verifier keeps no
    reference to it. Returns 0 on success, and also when the same key is
    already present under this kid; FK_EEXISTS if the kid is present with
    a different key; FK_EINVAL_INPUT if the JWK is malformed, n is not an
    odd modulus of FK_JWT_RSA_MIN_BITS to FK_JWT_RSA_MAX_BITS bits, or e is
    not an odd number from 3 to 2^256 - 1; FK_ECRYPTO if OpenSSL fails.
    Not thread-safe: see Caveats. */
int fk_verifier_add_jwk(fk_verifier_t *self, const json_t *jwk);

/*  The number of keys (distinct kids) in the verifier. */
size_t fk_verifier_size(const fk_verifier_t *self);

/*  Verify a compact RS256 token of len bytes (untrusted; need not be
    NUL-terminated, and may hold any bytes) at time now_s (Unix seconds).
    The checks, in order, and what each failure returns:
      - len > FK_JWT_MAX_LEN                                  FK_ETOOBIG
      - not three non-empty segments of the base64url alphabet (no
        padding, canonical trailing bits); header not a JSON object
        without duplicate members; "alg" not exactly "RS256"; "crit"
        present; "kid" missing or not a string           FK_EINVAL_INPUT
      - no key with that kid in the set                     FK_ENOTFOUND
      - signature (PKCS#1 v1.5, SHA-256, over "<header>.<payload>" as
        received) does not verify                             FK_ECRYPTO
      - payload not a JSON object without duplicate members or NUL
        characters (\u0000) in its strings; "exp"
        missing or not an integer; "nbf" present and not an integer
                                                         FK_EINVAL_INPUT
      - exp <= now_s, or nbf > now_s + FK_JWT_NBF_SKEW_S      FK_EEXPIRED
    The payload is parsed only after the signature has verified. Other
    claims ("iss", "aud", "scope", ...) are the caller's to check. Returns
    0 and sets *claims_p to a new reference to the claims object (caller
    decrefs); on any failure *claims_p is NULL. self and claims_p must not
    be NULL; token may be NULL only if len is 0 (then FK_EINVAL_INPUT).
    Thread-safe, given the Caveats. */
int fk_jwt_verify(const fk_verifier_t *self, const char *token, size_t len, int64_t now_s,
                  json_t **claims_p);

/*  Free the verifier and its keys and set *self_p to NULL. Safe on NULL
    and on *self_p == NULL. No thread may still be using it. */
void fk_verifier_destroy(fk_verifier_t **self_p);

#endif
