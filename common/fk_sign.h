/*  fk_sign - Ed25519 signatures (RFC 8032) through OpenSSL.

    Every node signs what it says in the cluster with its own Ed25519 key:
    the records it owns (proto/fk_record) and the claims it makes about
    itself (alive at an incarnation, leaving). Others verify with the public
    key that the node's admission bound to its name (node/trust).

    Keys travel raw: a 32-byte secret seed and a 32-byte public key, as
    RFC 8032 defines them; signatures are 64 bytes. Ed25519 is deterministic
    (no random number per signature) and takes its input whole, so what is
    signed is exactly the bytes given, whatever their length.

    Threads: a signer may be used by several threads at once (OpenSSL's
    EVP_PKEY is safe for concurrent use when nobody modifies it, see
    openssl-threads(7)); fk_sign_verify keeps no state. Allocation failure
    aborts. */

#ifndef FK_SIGN_H_INCLUDED
#define FK_SIGN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FK_SIGN_SECRET_LEN 32 /* bytes of a secret seed */
#define FK_SIGN_PUBLIC_LEN 32 /* bytes of a public key */
#define FK_SIGN_LEN 64        /* bytes of a signature */

typedef struct fk_sign_key fk_sign_key_t;

/*  Draw a fresh secret seed from OpenSSL's CSPRNG into secret. */
void fk_sign_key_generate(uint8_t secret[FK_SIGN_SECRET_LEN]);

/*  Create a signer from a secret seed (copied). Returns 0 and sets *self_p
    (caller destroys), or FK_ECRYPTO when OpenSSL refuses the key. */
int fk_sign_key_new(fk_sign_key_t **self_p, const uint8_t secret[FK_SIGN_SECRET_LEN]);

/*  Free; sets *self_p to NULL. Safe on NULL. */
void fk_sign_key_destroy(fk_sign_key_t **self_p);

/*  The signer's public key. */
const uint8_t *fk_sign_key_public(const fk_sign_key_t *self);

/*  Sign len bytes at data into sig. Returns 0 or FK_ECRYPTO. */
int fk_sign(const fk_sign_key_t *self, const void *data, size_t len, uint8_t sig[FK_SIGN_LEN]);

/*  True when sig is a valid signature of the len bytes at data under the
    public key pub. Any failure (a malformed key or signature included) is
    false. */
bool fk_sign_verify(const uint8_t pub[FK_SIGN_PUBLIC_LEN], const void *data, size_t len,
                    const uint8_t sig[FK_SIGN_LEN]);

#endif
