/*  fk_log - leveled logging to stderr. */

#include "fk_log.h"

#include "fk_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/*  Written once at start-up, before any thread exists, then only read. */
static fk_log_level_t s_threshold = FK_LOG_INFO;

static const char *const s_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void
fk_log_set_level(fk_log_level_t level)
{
    s_threshold = level;
}

int
fk_log_parse_level(const char *name, fk_log_level_t *level)
{
    static const char *const lower[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i <= (int)FK_LOG_OFF; i++) {
        if (strcmp(name, lower[i]) == 0) {
            *level = (fk_log_level_t)i;
            return 0;
        }
    }
    return FK_EINVAL_INPUT;
}

void
fk_log(fk_log_level_t level, const char *fmt, ...)
{
    if (level < s_threshold || level >= FK_LOG_OFF) {
        return;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    char line[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    /*  One fprintf per line: stdio locks the stream, so lines from
        different threads never interleave. */
    fprintf(stderr, "%s.%03dZ %-5s %s\n", stamp, (int)(tv.tv_usec / 1000), s_names[level], line);
}

void
fk_log_limit_init(fk_log_limit_t *limit)
{
    pthread_mutex_init(&limit->lock, NULL);
    limit->last_ms = 0;
    limit->held = 0;
}

void
fk_log_limit_fini(fk_log_limit_t *limit)
{
    pthread_mutex_destroy(&limit->lock);
}

bool
fk_log_limit_pass(fk_log_limit_t *limit, int64_t now_ms, int64_t every_ms, uint64_t *held_p)
{
    pthread_mutex_lock(&limit->lock);
    bool pass = limit->last_ms == 0 || now_ms - limit->last_ms >= every_ms;
    *held_p = limit->held;
    if (pass) {
        limit->last_ms = now_ms;
        limit->held = 0;
    } else {
        limit->held++;
    }
    pthread_mutex_unlock(&limit->lock);
    return pass;
}
