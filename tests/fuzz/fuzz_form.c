/*  fuzz_form - the application/x-www-form-urlencoded decoder behind the
    token and revocation endpoints. Any bytes decode or are refused, never
    crash; a decoded form re-encoded and decoded again gives the same form. */

#include "fk_api_priv.h"
#include "fk_mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_append_encoded(char **out, size_t *len, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        *out = fk_realloc(*out, *len + 4);
        (*out)[(*len)++] = '%';
        (*out)[(*len)++] = hex[*p >> 4];
        (*out)[(*len)++] = hex[*p & 15];
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) {
        return 0;
    }
    json_t *form = fk__api_form((const char *)data, size);
    if (!form) {
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    const char *key;
    json_t *value;
    json_object_foreach(form, key, value)
    {
        if (len > 0) {
            text = fk_realloc(text, len + 1);
            text[len++] = '&';
        }
        s_append_encoded(&text, &len, key);
        text = fk_realloc(text, len + 1);
        text[len++] = '=';
        s_append_encoded(&text, &len, json_string_value(value));
    }
    json_t *again = fk__api_form(text ? text : "", len);
    if (!again || !json_equal(form, again)) {
        abort();
    }
    json_decref(again);
    json_decref(form);
    free(text);
    return 0;
}
