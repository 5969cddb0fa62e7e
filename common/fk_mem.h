/*  fk_mem - allocation that aborts on out-of-memory.

    Following Redis' zmalloc and CZMQ, running out of memory is not an error a
    caller can handle: these wrappers print a message and abort(). Callers
    therefore never test the result for NULL. */

#ifndef FK_MEM_H_INCLUDED
#define FK_MEM_H_INCLUDED

#include <stddef.h>

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

#endif
