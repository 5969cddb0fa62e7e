/*  fk_ui_render - the web pages' template renderer over the files of
    node/api/ui/ embedded at build time. {{name}} inserts a string
    HTML-escaped, {{{name}}} inserts markup the pages rendered themselves;
    every string from a manifest, a service or a request goes through
    {{name}}, so nothing an app sends can become markup. Pure: no state,
    any thread. */

#include "fk_api_priv.h"

#include "fk_json.h"
#include "fk_mem.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

const fk__ui_asset_t *
fk__ui_asset(const char *name)
{
    for (const fk__ui_asset_t *a = fk__ui_assets; a->name; a++) {
        if (strcmp(a->name, name) == 0) {
            return a;
        }
    }
    return NULL;
}

static void
s_add_str(fk_buf_t *buf, const char *text)
{
    fk_buf_add(buf, text, strlen(text));
}

static void
s_escape(fk_buf_t *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '&':
            s_add_str(out, "&amp;");
            break;
        case '<':
            s_add_str(out, "&lt;");
            break;
        case '>':
            s_add_str(out, "&gt;");
            break;
        case '"':
            s_add_str(out, "&quot;");
            break;
        case '\'':
            s_add_str(out, "&#39;");
            break;
        default:
            fk_buf_add(out, p, 1);
        }
    }
}

char *
fk__ui_render(const char *name, const json_t *vars)
{
    const fk__ui_asset_t *asset = fk__ui_asset(name);
    fk_buf_t out = {0};
    const char *p = asset ? (const char *)asset->data : "";
    const char *end = p + (asset ? asset->len : 0);
    while (p < end) {
        const char *open = memmem(p, (size_t)(end - p), "{{", 2);
        if (!open) {
            fk_buf_add(&out, p, (size_t)(end - p));
            break;
        }
        fk_buf_add(&out, p, (size_t)(open - p));
        bool raw = open + 2 < end && open[2] == '{';
        const char *start = open + (raw ? 3 : 2);
        const char *close = memmem(start, (size_t)(end - start), raw ? "}}}" : "}}", raw ? 3 : 2);
        if (!close) {
            fk_buf_add(&out, open, (size_t)(end - open));
            break;
        }
        char *var = fk_strndup(start, (size_t)(close - start));
        const char *value = fk_json_str(vars, var);
        if (value && raw) {
            s_add_str(&out, value);
        } else if (value) {
            s_escape(&out, value);
        }
        free(var);
        p = close + (raw ? 3 : 2);
    }
    /*  A fragment's closing newline would stop CSS :empty from matching
        the list it fills. */
    while (out.len > 0 && out.data[out.len - 1] == '\n') {
        out.data[--out.len] = '\0';
    }
    return fk_buf_take(&out);
}

char *
fk__ui_render_new(const char *name, json_t *vars)
{
    char *text = fk__ui_render(name, vars);
    json_decref(vars);
    return text;
}
