/*  fk_progress - see fk_progress.h. */

#include "fk_progress.h"

#include "fk_clock.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

static void s_start(fk_progress_t *self, FILE *out, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
s_start(fk_progress_t *self, FILE *out, const char *fmt, va_list ap)
{
    memset(self, 0, sizeof *self);
    self->out = out;
    self->start_ms = fk_clock_mono_ms();
    self->drawn_s = -1;
    vsnprintf(self->what, sizeof self->what, fmt, ap);
}

void
fk_progress_begin(fk_progress_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_start(self, isatty(STDERR_FILENO) ? stderr : NULL, fmt, ap);
    va_end(ap);
}

void
fk_progress_begin_on(fk_progress_t *self, FILE *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_start(self, out, fmt, ap);
    va_end(ap);
}

/*  Overwrite the line on screen with text: '\r', the text, then blanks
    over whatever the previous line had beyond it, and '\r' again so the
    cursor rests at the start of the line. */
static void
s_draw(fk_progress_t *self, const char *text)
{
    size_t len = strlen(text);
    fprintf(self->out, "\r%s", text);
    for (size_t i = len; i < self->drawn_width; i++) {
        fputc(' ', self->out);
    }
    fputc('\r', self->out);
    if (len == 0) {
        /*  Erased: the next drawing starts on an empty line. */
        self->drawn_width = 0;
    } else {
        fprintf(self->out, "%s", text); /* the cursor after the text, as after a prompt */
        self->drawn_width = len;
    }
    fflush(self->out);
}

void
fk_progress_tick(fk_progress_t *self)
{
    if (self->out == NULL || self->ended) {
        return;
    }
    int64_t waited = fk_clock_mono_ms() - self->start_ms;
    if (waited < FK_PROGRESS_DELAY_MS || waited / 1000 == self->drawn_s) {
        return;
    }
    char line[256];
    snprintf(line, sizeof line, "fakts-node: %s... %lld s", self->what, (long long)(waited / 1000));
    s_draw(self, line);
    self->drawn_s = waited / 1000;
}

void
fk_progress_say(fk_progress_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->what, sizeof self->what, fmt, ap);
    va_end(ap);
    self->drawn_s = -1; /* the new text shows at the next tick */
}

void
fk_progress_end(fk_progress_t *self)
{
    if (self->out != NULL && !self->ended && self->drawn_width > 0) {
        s_draw(self, "");
    }
    self->ended = true;
}

bool
fk_progress_shown(const fk_progress_t *self)
{
    return self->out != NULL;
}
