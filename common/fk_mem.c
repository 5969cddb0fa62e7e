/*  fk_mem - abort-on-OOM allocation wrappers. */

#include "fk_mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Noreturn void
fk_oom(const char *what)
{
    fprintf(stderr, "fakts-node: out of memory in %s\n", what);
    abort();
}

/*  fk_oom with the size that failed, which is what a reader of the message
    needs to tell a leak from one absurd request. */
static _Noreturn void
s_oom_bytes(size_t size)
{
    char what[64];
    snprintf(what, sizeof what, "an allocation of %zu bytes", size);
    fk_oom(what);
}

void *
fk_malloc(size_t size)
{
    void *ptr = malloc(size ? size : 1);
    if (!ptr) {
        s_oom_bytes(size);
    }
    return ptr;
}

void *
fk_calloc(size_t count, size_t size)
{
    void *ptr = calloc(count ? count : 1, size ? size : 1);
    if (!ptr) {
        s_oom_bytes(count * size);
    }
    return ptr;
}

void *
fk_realloc(void *ptr, size_t size)
{
    void *fresh = realloc(ptr, size ? size : 1);
    if (!fresh) {
        s_oom_bytes(size);
    }
    return fresh;
}

char *
fk_strdup(const char *s)
{
    return fk_strndup(s, strlen(s));
}

char *
fk_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *copy = fk_malloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *
fk_asprintf(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    int len = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (len < 0) {
        abort();
    }
    char *out = fk_malloc((size_t)len + 1);
    va_start(args, fmt);
    vsnprintf(out, (size_t)len + 1, fmt, args);
    va_end(args);
    return out;
}

void
fk_buf_add(fk_buf_t *buf, const void *bytes, size_t len)
{
    if (buf->len + len + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 1024;
        while (cap < buf->len + len + 1) {
            cap *= 2;
        }
        buf->data = fk_realloc(buf->data, cap);
        buf->cap = cap;
    }
    if (len > 0) {
        memcpy(buf->data + buf->len, bytes, len);
    }
    buf->len += len;
    buf->data[buf->len] = '\0';
}

char *
fk_buf_take(fk_buf_t *buf)
{
    char *text = buf->data ? buf->data : fk_strdup("");
    *buf = (fk_buf_t){0};
    return text;
}

void
fk_strv_free(char **list, size_t count)
{
    for (size_t i = 0; list && i < count; i++) {
        free(list[i]);
    }
    free(list);
}
