/*  fk_sign - Ed25519 through OpenSSL's EVP one-shot interface. */

#include "fk_sign.h"

#include "fk_err.h"
#include "fk_mem.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fk_sign_key {
    EVP_PKEY *key;                            /* the private key */
    uint8_t public_key[FK_SIGN_PUBLIC_LEN]; /* its public half, raw */
};

void
fk_sign_key_generate(uint8_t secret[FK_SIGN_SECRET_LEN])
{
    /*  As for every secret the node mints: without a CSPRNG there is no
        safe key, so this is not an error a caller could handle. */
    if (RAND_bytes(secret, FK_SIGN_SECRET_LEN) != 1) {
        fprintf(stderr, "fakts-node: OpenSSL RAND_bytes failed\n");
        abort();
    }
}

int
fk_sign_key_new(fk_sign_key_t **self_p, const uint8_t secret[FK_SIGN_SECRET_LEN])
{
    *self_p = NULL;
    EVP_PKEY *key =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, secret, FK_SIGN_SECRET_LEN);
    if (!key) {
        return FK_ECRYPTO;
    }
    fk_sign_key_t *self = fk_calloc(1, sizeof *self);
    self->key = key;
    size_t len = FK_SIGN_PUBLIC_LEN;
    if (EVP_PKEY_get_raw_public_key(key, self->public_key, &len) != 1
        || len != FK_SIGN_PUBLIC_LEN) {
        fk_sign_key_destroy(&self);
        return FK_ECRYPTO;
    }
    *self_p = self;
    return 0;
}

void
fk_sign_key_destroy(fk_sign_key_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    EVP_PKEY_free((*self_p)->key);
    free(*self_p);
    *self_p = NULL;
}

const uint8_t *
fk_sign_key_public(const fk_sign_key_t *self)
{
    return self->public_key;
}

int
fk_sign(const fk_sign_key_t *self, const void *data, size_t len, uint8_t sig[FK_SIGN_LEN])
{
    /*  Ed25519 is a one-shot scheme (it hashes the message twice), so the
        digest is NULL and the whole input goes to EVP_DigestSign. */
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sig_len = FK_SIGN_LEN;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, self->key) == 1
             && EVP_DigestSign(ctx, sig, &sig_len, data, len) == 1 && sig_len == FK_SIGN_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : FK_ECRYPTO;
}

bool
fk_sign_verify(const uint8_t pub[FK_SIGN_PUBLIC_LEN], const void *data, size_t len,
               const uint8_t sig[FK_SIGN_LEN])
{
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, FK_SIGN_PUBLIC_LEN);
    EVP_MD_CTX *ctx = key ? EVP_MD_CTX_new() : NULL;
    bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1
              && EVP_DigestVerify(ctx, sig, FK_SIGN_LEN, data, len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}
