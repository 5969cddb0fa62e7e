/*  fuzz_service - libFuzzer target for fk_service_load.

    Checks, beyond "no crash, no leak, no sanitizer report":
      - a failure returns FK_EINVAL_INPUT or FK_ETOOBIG, leaves the output
        NULL and gives a non-empty message;
      - a success is canonical: its dump (default flags and compact) fits
        FK_SERVICE_MAX_BYTES, loads again to an equal value, and that value
        dumps to the very same bytes (the canonical form is a fixed point). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fk_err.h"
#include "fk_service.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*  Load text, which must succeed, and check it is equal to expected. */
static void
s_reload(const char *text, const json_t *expected, size_t flags)
{
    json_t *again = NULL;
    char err[256] = "";
    if (strlen(text) > FK_SERVICE_MAX_BYTES
        || fk_service_load(text, strlen(text), &again, err, sizeof err) != 0
        || !json_equal(expected, again)) {
        abort();
    }
    char *dump = json_dumps(again, flags);
    if (!dump || strcmp(dump, text) != 0) {
        abort();
    }
    free(dump);
    json_decref(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *canonical = NULL;
    char err[256] = "";
    int rc = fk_service_load((const char *)data, size, &canonical, err, sizeof err);
    if (rc != 0) {
        if (canonical || (rc != FK_EINVAL_INPUT && rc != FK_ETOOBIG) || err[0] == '\0') {
            abort();
        }
        return 0;
    }
    if (!canonical || !json_is_object(canonical) || json_object_size(canonical) != 6) {
        abort();
    }
    static const size_t flags[] = {0, JSON_COMPACT};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        char *dump = json_dumps(canonical, flags[i]);
        if (!dump) {
            abort();
        }
        s_reload(dump, canonical, flags[i]);
        free(dump);
    }
    json_decref(canonical);
    return 0;
}
