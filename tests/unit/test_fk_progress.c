/*  test_fk_progress - fk_progress through its public header: what a wait
    draws on a terminal (a memory stream stands in for it), and that a
    silent wait draws nothing. No timing is asserted: the tests poll a
    deadline until the line appears. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "fk_clock.h"
#include "fk_progress.h"

TestSuite(fk_progress);

/*  Tick until the stream holds something, for at most 10 s. */
static void
s_tick_until_drawn(fk_progress_t *progress, FILE *out, size_t *size)
{
    int64_t deadline = fk_clock_mono_ms() + 10000;
    do {
        fk_progress_tick(progress);
        fflush(out);
    } while (*size == 0 && fk_clock_mono_ms() < deadline);
}

Test(fk_progress, draws_what_it_waits_for_then_erases_it)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    cr_assert_not_null(out);

    fk_progress_t progress;
    fk_progress_begin_on(&progress, out, "joining the cluster through %s", "10.0.0.5:8301");
    cr_assert(fk_progress_shown(&progress));
    s_tick_until_drawn(&progress, out, &size);
    cr_assert_gt(size, 0, "no line after 10 s of ticks");
    const char *want = "\rfakts-node: joining the cluster through 10.0.0.5:8301... ";
    cr_assert_eq(strncmp(text, want, strlen(want)), 0, "drawn: [%s]", text);
    cr_assert_not_null(strstr(text, " s"), "no seconds in [%s]", text);
    cr_assert_null(strchr(text, '\n'), "a progress line never ends a line: [%s]", text);

    /*  A new text shows at the next tick, and the end erases the line:
        the output finishes with '\r', blanks over the whole line, '\r'. */
    fk_progress_say(&progress, "waiting for %d members", 3);
    size_t before = size;
    int64_t deadline = fk_clock_mono_ms() + 10000;
    while (strstr(text + before, "waiting for 3 members") == NULL
           && fk_clock_mono_ms() < deadline) {
        fk_progress_tick(&progress);
        fflush(out);
    }
    cr_assert_not_null(strstr(text + before, "fakts-node: waiting for 3 members... "), "[%s]",
                       text + before);
    size_t drawn = strlen(strrchr(text, '\r') + 1); /* the last line drawn */
    before = size;
    fk_progress_end(&progress);
    fflush(out);
    cr_assert_eq(size - before, drawn + 2, "erasing wrote [%s]", text + before);
    cr_assert_eq(text[before], '\r');
    cr_assert_eq(text[size - 1], '\r');
    for (size_t i = before + 1; i < size - 1; i++) {
        cr_assert_eq(text[i], ' ', "erasing wrote [%s]", text + before);
    }

    /*  Ended: ticks draw nothing more. */
    before = size;
    fk_progress_tick(&progress);
    fflush(out);
    cr_assert_eq(size, before);
    fclose(out);
    free(text);
}

Test(fk_progress, a_short_wait_draws_nothing)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    cr_assert_not_null(out);
    fk_progress_t progress;
    int64_t start = fk_clock_mono_ms();
    fk_progress_begin_on(&progress, out, "waiting");
    /*  Right after begin the wait is younger than FK_PROGRESS_DELAY_MS
        (unless this thread was descheduled that long: then skip). */
    fk_progress_tick(&progress);
    int64_t age = fk_clock_mono_ms() - start;
    fk_progress_end(&progress);
    fflush(out);
    if (age < FK_PROGRESS_DELAY_MS) {
        cr_assert_eq(size, 0, "a wait of %lld ms drew [%s]", (long long)age, text);
    }
    fclose(out);
    free(text);
}

Test(fk_progress, a_silent_wait_draws_nothing)
{
    fk_progress_t progress;
    fk_progress_begin_on(&progress, NULL, "waiting for %s", "nothing");
    cr_assert_not(fk_progress_shown(&progress));
    int64_t deadline = fk_clock_mono_ms() + FK_PROGRESS_DELAY_MS + 1200;
    while (fk_clock_mono_ms() < deadline) {
        fk_progress_tick(&progress); /* would write through a NULL stream if it drew */
    }
    fk_progress_say(&progress, "still nothing");
    fk_progress_end(&progress);
}
