/*  fuzz_optoken - what operator tokens read off the network and off other
    nodes: the token string of an Authorization header (fk_optokens_parse)
    and an optoken/ record's payload as replication delivers it (the
    record decoder behind verify, live, list, revoke and sweep). Any bytes
    parse or are refused, and decode or read as absent, never crash; a
    token that parses is rebuilt byte for byte from its parts; a record
    that decodes never lets a token with a wrong secret in. */

#include "fk_optokens.h"
#include "fk_store.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_ACCESSOR "0123456789abcdef"
/*  A token of S_ACCESSOR whose secret no record's digest can match by
    accident (the fuzzer would need a SHA-256 preimage). */
#define S_TOKEN "fko_" S_ACCESSOR ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static char s_dir[] = "/tmp/fuzz_optoken.XXXXXX";
static fk_store_t *s_store;

static int
s_unlink(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
s_cleanup(void)
{
    fk_store_destroy(&s_store);
    nftw(s_dir, s_unlink, 8, FTW_DEPTH | FTW_PHYS);
}

static int
s_count(void *arg, const fk_optoken_t *token)
{
    (void)token;
    (*(int *)arg)++;
    return 0;
}

static void
s_token_string(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char accessor[FK_OPTOKENS_ACCESSOR_LEN + 1];
    const char *secret = NULL;
    if (fk_optokens_parse(text, accessor, &secret) == 0) {
        char again[FK_OPTOKENS_TOKEN_LEN + 1];
        snprintf(again, sizeof again, "fko_%s.%s", accessor, secret);
        if (strlen(text) != FK_OPTOKENS_TOKEN_LEN || strcmp(again, text) != 0) {
            abort();
        }
    }
    free(text);
}

static void
s_record(const uint8_t *data, size_t size)
{
    if (!s_store) {
        if (!mkdtemp(s_dir)
            || fk_store_open(&s_store, s_dir, "fuzz", 64u << 20, FK_STORE_SYNC_NONE) != 0) {
            abort();
        }
        atexit(s_cleanup);
    }
    fk_store_txn_t *txn;
    if (fk_store_write_begin(s_store, &txn) != 0) {
        abort();
    }
    /*  Written and read in one transaction that is never committed: the
        store stays empty between inputs. */
    if (fk_store_put(txn, "optoken/" S_ACCESSOR, data, size) == 0) {
        fk_optoken_t token;
        if (fk_optokens_verify(txn, S_TOKEN, 1, &token) == 0) {
            abort();
        }
        (void)fk_optokens_live(txn, S_ACCESSOR, 1);
        int listed = 0;
        (void)fk_optokens_list(txn, 1, s_count, &listed);
        if (listed > 1) {
            abort();
        }
        if (fk_optokens_sweep(txn, 1) < 0) {
            abort();
        }
    }
    fk_store_txn_end(&txn);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384) {
        return 0;
    }
    s_token_string(data, size);
    s_record(data, size);
    return 0;
}
