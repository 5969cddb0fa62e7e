/*  fk_progress - what a command waits for, on a terminal only.

    A command that waits on something it does not control (a join, a
    quorum, a watch for changes) tells a person at a terminal what it waits
    for and for how long so far: one line on stderr,

        fakts-node: joining the cluster through 10.0.0.5:8301... 3 s

    rewritten in place with '\r' as the seconds go by and erased when the
    wait ends, so the command's own output starts on a clean line and
    nothing of the progress stays on the screen. The line appears only
    once the wait has lasted FK_PROGRESS_DELAY_MS: a wait that ends sooner
    prints nothing, even on a terminal.

    When stderr is not a terminal (a pipe, a file, a script, a test, a
    service manager's journal), nothing is ever printed: every output a
    program parses stays byte for byte what it is without this module.

    Use: fk_progress_begin when the wait starts; fk_progress_tick as often
    as convenient while waiting (it draws only when the seconds shown
    change, and costs a clock read otherwise); fk_progress_say
    when what is waited for changes; fk_progress_end before printing
    anything else and when the wait is over, however it ended. A
    fk_progress_t lives on the caller's stack and owns nothing.

    Threads: one progress line per process at a time, used by one thread
    (it writes to the process's stderr). */

#ifndef FK_PROGRESS_H_INCLUDED
#define FK_PROGRESS_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/*  How long a wait lasts before its line appears. */
#define FK_PROGRESS_DELAY_MS 500

/*  One wait. Fields are private to fk_progress.c. */
typedef struct {
    FILE *out;          /* where the line goes: stderr when it is a terminal, else NULL */
    int64_t start_ms;   /* when the wait began (fk_clock_mono_ms) */
    int64_t drawn_s;    /* the seconds the line shows, or -1: not drawn since begin or say */
    size_t drawn_width; /* characters of the line on screen, to erase it */
    bool ended;         /* fk_progress_end was called: draw no more */
    char what[200];     /* what is waited for, as fk_progress_say last set it */
} fk_progress_t;

/*  Start a wait for what the format says ("joining the cluster through
    %s"): the line reads "fakts-node: <what>... <seconds> s". Draws
    nothing yet. Decides once, here, whether stderr is a terminal. */
void fk_progress_begin(fk_progress_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*  Like fk_progress_begin, with the decision given: out is the terminal
    to draw on, or NULL for a silent wait. For callers (and tests) that
    already know where their user looks. */
void fk_progress_begin_on(fk_progress_t *self, FILE *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*  Draw the line if the wait has lasted FK_PROGRESS_DELAY_MS and the
    line on screen is not already this one. Safe on a silent wait. */
void fk_progress_tick(fk_progress_t *self);

/*  What is waited for changed ("waiting for a quorum: 1 of 3 members
    confirmed"): the next tick draws the new text; the time counts on
    from fk_progress_begin. */
void fk_progress_say(fk_progress_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*  The wait is over: erase the line if one was drawn; later ticks draw
    nothing. A command that prints something and waits again (a watch
    printing an event) ends the wait, prints, and begins the next one. */
void fk_progress_end(fk_progress_t *self);

/*  Whether this wait draws at all (stderr was a terminal at begin). */
bool fk_progress_shown(const fk_progress_t *self);

#endif
