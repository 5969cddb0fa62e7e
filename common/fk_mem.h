/*  fk_mem - allocation that aborts on out-of-memory.

    Following Redis' zmalloc and CZMQ, running out of memory is not an error a
    caller can handle: these wrappers print a message and abort(). Callers
    therefore never test the result for NULL. */

#ifndef FK_MEM_H_INCLUDED
#define FK_MEM_H_INCLUDED

#include <stddef.h>

/*  The one out-of-memory exit of the process: print "fakts-node: out of
    memory in <what>" to stderr and abort(). For the libraries that report
    OOM as a return value (jansson without fk_malloc, libyaml, msgpack-c)
    and for fk_malloc itself. Async-signal-unsafe (stdio); never returns. */
_Noreturn void fk_oom(const char *what);

/*  malloc(size); never returns NULL (size 0 allocates 1 byte). */
void *fk_malloc(size_t size);

/*  calloc(count, size) with overflow check; never returns NULL. */
void *fk_calloc(size_t count, size_t size);

/*  realloc(ptr, size); never returns NULL. */
void *fk_realloc(void *ptr, size_t size);

/*  strdup(s); s must not be NULL. Never returns NULL. */
char *fk_strdup(const char *s);

/*  Duplicate at most n bytes of s and NUL-terminate. Never returns NULL. */
char *fk_strndup(const char *s, size_t n);

/*  printf into a fresh string (caller frees). Never returns NULL. */
char *fk_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*  Free count strings of list, then list itself. Safe on NULL. */
void fk_strv_free(char **list, size_t count);

/*  A growing byte string. Start from {0}; data is NULL until something is
    added, then always NUL-terminated (len excludes the NUL); the owner
    frees data. */
typedef struct {
    char *data; /* the bytes, or NULL while empty */
    size_t len; /* bytes in data */
    size_t cap; /* bytes allocated */
} fk_buf_t;

/*  Append len bytes (doubling the allocation as needed); never fails.
    bytes may be NULL when len is 0. */
void fk_buf_add(fk_buf_t *buf, const void *bytes, size_t len);

/*  Hand the text to the caller (never NULL: "" when nothing was added) and
    leave buf empty. */
char *fk_buf_take(fk_buf_t *buf);

#endif
