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
