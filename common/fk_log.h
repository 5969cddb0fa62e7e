/*  fk_log - leveled logging to stderr.

    One line per message: "2026-11-28T05:43:46.123Z LEVEL message". The level
    threshold is process-wide and set once at start (before threads start);
    fk_log itself is thread-safe (one fprintf per line). It depends on nothing
    but libc so that fuzz targets and tools stay light. */

#ifndef FK_LOG_H_INCLUDED
#define FK_LOG_H_INCLUDED

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    FK_LOG_DEBUG = 0,
    FK_LOG_INFO = 1,
    FK_LOG_WARN = 2,
    FK_LOG_ERROR = 3,
    FK_LOG_OFF = 4
} fk_log_level_t;

/*  Set the threshold; messages below it are dropped. Call before threads. */
void fk_log_set_level(fk_log_level_t level);

/*  Parse "debug", "info", "warn", "error" or "off". Returns 0, or
    FK_EINVAL_INPUT for anything else (and leaves *level unchanged). */
int fk_log_parse_level(const char *name, fk_log_level_t *level);

/*  Log one line at the given level. */
void fk_log(fk_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*  A limit on a log line that others can trigger (a peer's malformed
    records, a send error per datagram): at most one line per period, and
    a count of the lines held back meanwhile, for the next line to say.
    Initialise with fk_log_limit_init; thread-safe. */
typedef struct {
    pthread_mutex_t lock; /* guards the two below */
    int64_t last_ms;      /* when a line last passed (0: never) */
    uint64_t held;        /* lines held back since */
} fk_log_limit_t;

void fk_log_limit_init(fk_log_limit_t *limit);
void fk_log_limit_fini(fk_log_limit_t *limit);

/*  Whether a line may be logged at now_ms (a monotonic clock, > 0): the
    first one does, then at most one per every_ms. When it may, *held_p is
    how many were held back since the last line that passed. */
bool fk_log_limit_pass(fk_log_limit_t *limit, int64_t now_ms, int64_t every_ms,
                       uint64_t *held_p);

#define fk_debug(...) fk_log(FK_LOG_DEBUG, __VA_ARGS__)
#define fk_info(...) fk_log(FK_LOG_INFO, __VA_ARGS__)
#define fk_warn(...) fk_log(FK_LOG_WARN, __VA_ARGS__)
#define fk_error(...) fk_log(FK_LOG_ERROR, __VA_ARGS__)

#endif
