/*  fuzz_audit - the audit log's decoder as it meets a peer's records: the
    input is "<key>\n<owner>\n<payload>". Whatever it decodes to is safe to
    print (no control characters), names its owner, and decodes again,
    unchanged, from the payload it would be stored as. The same bytes as a
    "since" argument parse or are refused. */

#include "fk_audit.h"
#include "fk_json.h"
#include "fk_mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_printable(const json_t *entry, const char *name)
{
    const char *text = fk_json_str(entry, name);
    if (!text) {
        abort();
    }
    for (const char *p = text; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) {
        return 0;
    }
    /*  A copy of every byte (NULs included) and a terminator, so the
        payload's length is what is left after the two lines. */
    char *text = fk_malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t since = 0;
    (void)fk_audit_parse_since(text, 1700000000000, &since);
    char *owner = strchr(text, '\n');
    char *payload = owner ? strchr(owner + 1, '\n') : NULL;
    if (!payload) {
        free(text);
        return 0;
    }
    *owner++ = '\0';
    *payload++ = '\0';
    size_t len = size - (size_t)(payload - text);
    json_t *entry = NULL;
    if (fk_audit_decode(text, owner, payload, len, &entry) == 0) {
        static const char *const fields[] = {"node", "actor", "from", "action", "subject"};
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            s_printable(entry, fields[i]);
        }
        if (strcmp(fk_json_str(entry, "node"), owner) != 0
            || strcmp(fk_json_str(entry, "id"), text + strlen("audit/")) != 0) {
            abort();
        }
        /*  Stored without its id, it decodes to the same entry. */
        json_t *stored = json_deep_copy(entry);
        json_object_del(stored, "id");
        char *again_text = fk_json_dump(stored);
        json_t *again = NULL;
        if (fk_audit_decode(text, owner, again_text, strlen(again_text), &again) != 0
            || !json_equal(again, entry)) {
            abort();
        }
        json_decref(again);
        free(again_text);
        json_decref(stored);
        json_decref(entry);
    }
    free(text);
    return 0;
}
