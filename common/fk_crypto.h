/*  fk_crypto - random secrets, base64url and SHA-256, all through OpenSSL.

    Every secret fakts-node hands out (device codes, refresh tokens, client
    secrets, the admin token) comes from fk_random_*, which draws from
    OpenSSL's CSPRNG. Secrets are stored by their SHA-256 (fk_sha256_hex), so
    a copy of the database or of a replica does not reveal usable tokens.
    All functions are thread-safe; all returned strings are fresh and the
    caller frees them. Allocation failure aborts. */

#ifndef FK_CRYPTO_H_INCLUDED
#define FK_CRYPTO_H_INCLUDED

#include <stddef.h>

/*  Length of a SHA-256 digest in lowercase hex, without the NUL. */
#define FK_SHA256_HEX_LEN 64

/*  A URL-safe random token from nbytes random bytes, as Python's
    secrets.token_urlsafe(nbytes): base64url without padding. */
char *fk_random_urlsafe(size_t nbytes);

/*  len characters drawn uniformly (no modulo bias) from alphabet. */
char *fk_random_from_alphabet(size_t len, const char *alphabet);

/*  A random RFC 4122 version-4 UUID in canonical lowercase form. */
char *fk_random_uuid4(void);

/*  The first 16 bytes of bytes as a UUID in canonical lowercase form, with
    the version-4 and RFC 4122 variant bits set (so a UUID derived from a
    digest looks like any uuid4 to a client that parses it). */
char *fk_uuid4_from_bytes(const unsigned char bytes[16]);

/*  HMAC-SHA256 (RFC 2104) of data under key into out. */
void fk_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                    unsigned char out[32]);

/*  len lowercase hex characters from random bytes (len even or odd). */
char *fk_random_hex(size_t len);

/*  Write len bytes as 2 * len lowercase hex characters and a NUL into out
    (2 * len + 1 bytes). */
void fk_hex_encode(const void *bytes, size_t len, char *out);

/*  base64url (RFC 4648 section 5) without padding. */
char *fk_b64url_encode(const void *data, size_t len);

/*  Decode base64url without padding (padding is also accepted). On success
    returns 0, *out_p owns a fresh buffer (NUL-terminated for convenience)
    and *len_p its length; on malformed input returns FK_EINVAL_INPUT and
    sets *out_p to NULL. */
int fk_b64url_decode(const char *text, size_t text_len, unsigned char **out_p, size_t *len_p);

/*  Standard base64 with padding (for HTTP Basic). Same contract as above. */
int fk_b64_decode(const char *text, size_t text_len, unsigned char **out_p, size_t *len_p);

/*  Write the lowercase hex SHA-256 of data into out (FK_SHA256_HEX_LEN + 1
    bytes, NUL-terminated). */
void fk_sha256_hex(const void *data, size_t len, char out[FK_SHA256_HEX_LEN + 1]);

/*  Compare two NUL-terminated secrets in time independent of where they
    differ. Returns 1 when equal, 0 otherwise. NULL never equals anything. */
int fk_secret_equal(const char *a, const char *b);

#endif
