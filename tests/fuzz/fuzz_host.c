/*  fuzz_host - the request's Host header as fk_origins reads it: any bytes
    pick one of the node's own origins (never NULL, never anything else),
    and the same bytes as a --public-url list parse or are refused. */

#include "fk_mem.h"
#include "fk_origins.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fk_origins_t *s_origins;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) {
        return 0;
    }
    if (!s_origins) {
        char err[300];
        if (fk_origins_parse(&s_origins, "https://fakts.lab.example,http://198.18.0.5:8520,"
                                         "http://[2001:db8::5]:8520/fakts",
                             err, sizeof err)
            != 0) {
            abort();
        }
    }
    char *text = fk_strndup((const char *)data, size);
    const fk_origin_t *picked = fk_origins_select(s_origins, text);
    bool own = false;
    for (size_t i = 0; i < fk_origins_count(s_origins); i++) {
        own = own || picked == fk_origins_get(s_origins, i);
    }
    if (!own) {
        abort();
    }
    fk_origins_t *parsed = NULL;
    char err[300];
    if (fk_origins_parse(&parsed, text, err, sizeof err) == 0) {
        for (size_t i = 0; i < fk_origins_count(parsed); i++) {
            const fk_origin_t *o = fk_origins_get(parsed, i);
            if (strncmp(o->base, "http://", 7) != 0 && strncmp(o->base, "https://", 8) != 0) {
                abort();
            }
        }
        fk_origins_destroy(&parsed);
    }
    free(text);
    return 0;
}
