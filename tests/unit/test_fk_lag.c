/*  fk_lag: claims keep their highest version, applies their time, the
    table stays within FK_LAG_MAX by evicting the entry touched longest
    ago, and a NULL table takes notes silently. */

#include "fk_lag.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

typedef struct {
    size_t count;         /* entries visited */
    fk_lag_entry_t found; /* the entry named wanted, if visited */
    const char *wanted;   /* the owner to copy out */
    bool seen;            /* wanted was visited */
} s_visit_t;

static void
s_visit(void *arg, const fk_lag_entry_t *entry)
{
    s_visit_t *visit = arg;
    visit->count++;
    if (visit->wanted && strcmp(entry->owner, visit->wanted) == 0) {
        visit->found = *entry;
        visit->seen = true;
    }
}

static s_visit_t
s_lookup(fk_lag_t *lag, const char *owner)
{
    s_visit_t visit = {.wanted = owner};
    fk_lag_each(lag, s_visit, &visit);
    return visit;
}

Test(fk_lag, a_claim_keeps_the_highest_version)
{
    fk_lag_t *lag = fk_lag_new();
    fk_lag_claimed(lag, "n1", 7, 100);
    fk_lag_claimed(lag, "n1", 5, 200); /* a peer further behind */
    s_visit_t visit = s_lookup(lag, "n1");
    cr_assert(visit.seen);
    cr_expect_eq(visit.found.claimed, 7);
    cr_expect_eq(visit.found.applied_ms, 0, "no records applied yet");
    fk_lag_claimed(lag, "n1", 9, 300);
    cr_expect_eq(s_lookup(lag, "n1").found.claimed, 9);
    fk_lag_destroy(&lag);
    cr_expect_null(lag);
}

Test(fk_lag, an_apply_records_its_time_without_a_claim)
{
    fk_lag_t *lag = fk_lag_new();
    fk_lag_applied(lag, "n2", 1234);
    s_visit_t visit = s_lookup(lag, "n2");
    cr_assert(visit.seen);
    cr_expect_eq(visit.found.applied_ms, 1234);
    cr_expect_eq(visit.found.claimed, 0);
    fk_lag_applied(lag, "n2", 5678);
    cr_expect_eq(s_lookup(lag, "n2").found.applied_ms, 5678);
    cr_expect_eq(s_lookup(lag, "n2").count, 1, "one entry per owner");
    fk_lag_destroy(&lag);
}

Test(fk_lag, a_full_table_evicts_the_entry_touched_longest_ago)
{
    fk_lag_t *lag = fk_lag_new();
    char name[32];
    for (unsigned i = 0; i < FK_LAG_MAX; i++) {
        snprintf(name, sizeof name, "n%u", i);
        fk_lag_claimed(lag, name, 1, 1000 + i);
    }
    fk_lag_claimed(lag, "n0", 2, 10000); /* n0 touched again: n1 is now the stalest */
    fk_lag_claimed(lag, "newcomer", 1, 10001);
    cr_expect_eq(s_lookup(lag, "n0").count, FK_LAG_MAX, "the table stays at its bound");
    cr_expect(s_lookup(lag, "newcomer").seen);
    cr_expect(s_lookup(lag, "n0").seen, "touched again, so kept");
    cr_expect_not(s_lookup(lag, "n1").seen, "the stalest entry made room");
    cr_expect(s_lookup(lag, "n2").seen);
    fk_lag_destroy(&lag);
}

Test(fk_lag, a_null_table_takes_notes_silently)
{
    fk_lag_claimed(NULL, "n1", 3, 1);
    fk_lag_applied(NULL, "n1", 1);
    fk_lag_destroy(NULL);
    fk_lag_t *lag = NULL;
    fk_lag_destroy(&lag);
    cr_expect_null(lag);
}
