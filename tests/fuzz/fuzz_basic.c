/*  fuzz_basic - the HTTP Basic credentials decoder behind the token
    endpoint's client_credentials grant (fk__api_basic). Any header value
    decodes or is refused, never crashes; decoded credentials, encoded
    again, decode to the same id and secret. */

#include "fk_api_priv.h"
#include "fk_mem.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*  RFC 6749 §2.3.1: every octet percent-encoded (the decoder accepts it). */
static char *
s_encoded(const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(text);
    char *out = fk_malloc(3 * len + 1);
    for (size_t i = 0; i < len; i++) {
        out[3 * i] = '%';
        out[3 * i + 1] = hex[(unsigned char)text[i] >> 4];
        out[3 * i + 2] = hex[(unsigned char)text[i] & 15];
    }
    out[3 * len] = '\0';
    return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) {
        return 0;
    }
    char *header = fk_malloc(size + 7);
    memcpy(header, "Basic ", 6);
    memcpy(header + 6, data, size);
    header[size + 6] = '\0';
    char *id = NULL;
    char *secret = NULL;
    if (!fk__api_basic(header, &id, &secret)) {
        if (id || secret) {
            abort();
        }
        free(header);
        return 0;
    }
    char *id_enc = s_encoded(id);
    char *secret_enc = s_encoded(secret);
    char *plain = fk_asprintf("%s:%s", id_enc, secret_enc);
    size_t plain_len = strlen(plain);
    char *again = fk_malloc(6 + 4 * ((plain_len + 2) / 3) + 1);
    memcpy(again, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)again + 6, (const unsigned char *)plain, (int)plain_len);
    char *id2 = NULL;
    char *secret2 = NULL;
    if (!fk__api_basic(again, &id2, &secret2) || strcmp(id, id2) != 0
        || strcmp(secret, secret2) != 0) {
        abort();
    }
    free(id2);
    free(secret2);
    free(again);
    free(plain);
    free(secret_enc);
    free(id_enc);
    free(secret);
    free(id);
    free(header);
    return 0;
}
