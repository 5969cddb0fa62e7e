/*  fk_tokens - join tokens in the store's local database; see fk_tokens.h. */

#include "fk_tokens.h"

#include "fk_clock.h"
#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"
#include "fk_mem.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_KEY "join_tokens"
#define S_KEEP_MS (7ll * 24 * 3600 * 1000) /* spent tokens are remembered this long */

/*  The token table, or an empty object when there is none or it does not
    parse (a damaged table forgets the tokens; it cannot admit anyone). */
static json_t *
s_load(fk_store_txn_t *txn)
{
    char *text = NULL;
    size_t len = 0;
    json_t *table = NULL;
    char err[80];
    if (fk_store_local_get(txn, S_KEY, &text, &len) != 0
        || fk_json_parse_object(text, len, &table, err, sizeof err) != 0) {
        table = fk_json_must(json_object());
    }
    if (text) {
        OPENSSL_cleanse(text, len);
    }
    free(text);
    return table;
}

/*  Drop tokens spent longer than S_KEEP_MS ago and write the table. */
static int
s_save(fk_store_txn_t *txn, json_t *table, int64_t now_ms)
{
    const char *id;
    json_t *token;
    void *tmp;
    json_object_foreach_safe(table, tmp, id, token)
    {
        if (fk_json_int(token, "expires_ms", 0) + S_KEEP_MS < now_ms) {
            json_object_del(table, id);
        }
    }
    char *text = fk_json_dump(table);
    int rc = fk_store_local_set(txn, S_KEY, text, strlen(text));
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    return rc;
}

static size_t
s_live_count(json_t *table, int64_t now_ms)
{
    size_t live = 0;
    const char *id;
    json_t *token;
    json_object_foreach(table, id, token)
    {
        live += fk_json_int(token, "expires_ms", 0) > now_ms && fk_json_int(token, "uses", 0) > 0;
    }
    return live;
}

int
fk_tokens_create(fk_store_txn_t *txn, const uint8_t seed_curve[32], int64_t ttl_ms, unsigned uses,
                 char **text_p)
{
    *text_p = NULL;
    if (ttl_ms <= 0 || uses == 0) {
        return FK_EINVAL_INPUT;
    }
    int64_t now = fk_clock_wall_ms();
    json_t *table = s_load(txn);
    if (s_live_count(table, now) >= FK_TOKENS_MAX) {
        json_decref(table);
        return FK_ETOOBIG;
    }
    fk_admit_token_t token;
    memcpy(token.seed_curve, seed_curve, sizeof token.seed_curve);
    if (RAND_bytes(token.id, sizeof token.id) != 1
        || RAND_bytes(token.secret, sizeof token.secret) != 1) {
        fprintf(stderr, "fakts-node: OpenSSL RAND_bytes failed\n");
        abort();
    }
    char id[2 * FK_ADMIT_TOKEN_ID_LEN + 1];
    fk_hex_encode(token.id, sizeof token.id, id);
    char *secret = fk_b64url_encode(token.secret, sizeof token.secret);
    fk_json_set(table, id,
                fk_json_must(json_pack("{s:s, s:I, s:I, s:I}", "secret", secret, "created_ms",
                                       (json_int_t)now, "expires_ms", (json_int_t)(now + ttl_ms),
                                       "uses", (json_int_t)uses)));
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    int rc = s_save(txn, table, now);
    json_decref(table);
    if (rc == 0) {
        *text_p = fk_admit_token_encode(&token);
    }
    OPENSSL_cleanse(&token, sizeof token);
    return rc;
}

int
fk_tokens_get(fk_store_txn_t *txn, const uint8_t id[FK_ADMIT_TOKEN_ID_LEN], int64_t now_ms,
              uint8_t secret[FK_ADMIT_SECRET_LEN])
{
    char hex[2 * FK_ADMIT_TOKEN_ID_LEN + 1];
    fk_hex_encode(id, FK_ADMIT_TOKEN_ID_LEN, hex);
    json_t *table = s_load(txn);
    json_t *token = json_object_get(table, hex);
    const char *text = fk_json_str(token, "secret");
    int rc = 0;
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (!text || fk_b64url_decode(text, strlen(text), &bytes, &len) != 0
        || len != FK_ADMIT_SECRET_LEN) {
        rc = FK_ENOTFOUND;
    } else if (fk_json_int(token, "expires_ms", 0) <= now_ms) {
        rc = FK_EEXPIRED;
    } else if (fk_json_int(token, "uses", 0) <= 0) {
        rc = FK_EUSED;
    } else {
        memcpy(secret, bytes, FK_ADMIT_SECRET_LEN);
    }
    if (bytes) {
        OPENSSL_cleanse(bytes, len);
    }
    free(bytes);
    json_decref(table);
    return rc;
}

int
fk_tokens_consume(fk_store_txn_t *txn, const uint8_t id[FK_ADMIT_TOKEN_ID_LEN])
{
    char hex[2 * FK_ADMIT_TOKEN_ID_LEN + 1];
    fk_hex_encode(id, FK_ADMIT_TOKEN_ID_LEN, hex);
    json_t *table = s_load(txn);
    json_t *token = json_object_get(table, hex);
    long long uses = fk_json_int(token, "uses", 0);
    int rc = !token ? FK_ENOTFOUND : uses <= 0 ? FK_EUSED : 0;
    if (rc == 0) {
        fk_json_set(token, "uses", fk_json_must(json_integer(uses - 1)));
        rc = s_save(txn, table, fk_clock_wall_ms());
    }
    json_decref(table);
    return rc;
}

bool
fk_tokens_live(fk_store_txn_t *txn, int64_t now_ms)
{
    json_t *table = s_load(txn);
    bool live = s_live_count(table, now_ms) > 0;
    json_decref(table);
    return live;
}

static int
s_by_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
fk_tokens_list(fk_store_txn_t *txn, fk_tokens_fn fn, void *arg)
{
    json_t *table = s_load(txn);
    int rc = 0;
    const char *id;
    json_t *token;
    /*  jansson keeps insertion order; ids are random, so order by id for
        a stable listing. */
    size_t count = json_object_size(table);
    const char **ids = fk_calloc(count ? count : 1, sizeof *ids);
    size_t n = 0;
    json_object_foreach(table, id, token)
    {
        ids[n++] = id;
    }
    qsort(ids, n, sizeof *ids, s_by_id);
    for (size_t i = 0; i < n && rc == 0; i++) {
        token = json_object_get(table, ids[i]);
        fk_token_info_t info = {.created_ms = fk_json_int(token, "created_ms", 0),
                                .expires_ms = fk_json_int(token, "expires_ms", 0)};
        long long uses = fk_json_int(token, "uses", 0);
        info.uses = uses > 0 ? (unsigned)uses : 0;
        snprintf(info.id, sizeof info.id, "%s", ids[i]);
        rc = fn(arg, &info);
    }
    free(ids);
    json_decref(table);
    return rc;
}

int
fk_tokens_revoke(fk_store_txn_t *txn, const char *id_hex)
{
    json_t *table = s_load(txn);
    int rc = json_object_del(table, id_hex) == 0 ? s_save(txn, table, fk_clock_wall_ms())
                                                 : FK_ENOTFOUND;
    json_decref(table);
    return rc;
}
