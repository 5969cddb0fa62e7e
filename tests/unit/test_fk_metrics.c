/*  Tests for fk_metrics: the registry and its Prometheus text rendering,
    checked line by line against the exposition format's grammar. */

#include "fk_metrics.h"

#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static fk_metrics_t *s_metrics;

static void
s_setup(void)
{
    s_metrics = fk_metrics_new();
}

static void
s_teardown(void)
{
    fk_metrics_destroy(&s_metrics);
}

TestSuite(fk_metrics, .init = s_setup, .fini = s_teardown);

static bool
s_name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'
           || (!first && c >= '0' && c <= '9');
}

/*  Whether line is a sample of the text format: name, optional {labels}
    with quoted values whose only escapes are \\ \" \n, a space and a
    float. */
static bool
s_sample_line(const char *line)
{
    const char *c = line;
    if (!s_name_char(*c, true)) {
        return false;
    }
    while (s_name_char(*c, false)) {
        c++;
    }
    if (*c == '{') {
        c++;
        while (*c != '}') {
            if (!s_name_char(*c, true) || *c == ':') {
                return false;
            }
            while (s_name_char(*c, false) && *c != ':') {
                c++;
            }
            if (*c++ != '=' || *c++ != '"') {
                return false;
            }
            while (*c != '"') {
                if (*c == '\0' || *c == '\n') {
                    return false;
                }
                if (*c == '\\') {
                    c++;
                    if (*c != '\\' && *c != '"' && *c != 'n') {
                        return false;
                    }
                }
                c++;
            }
            c++;
            if (*c == ',') {
                c++;
            } else if (*c != '}') {
                return false;
            }
        }
        c++;
    }
    if (*c++ != ' ') {
        return false;
    }
    if (strcmp(c, "+Inf") == 0 || strcmp(c, "-Inf") == 0 || strcmp(c, "NaN") == 0) {
        return true;
    }
    char *end;
    strtod(c, &end);
    return end != c && *end == '\0';
}

/*  Render, check every line is a comment (# HELP / # TYPE) or a sample,
    and return the text (caller frees). */
static char *
s_render_checked(void)
{
    size_t len;
    char *text = fk_metrics_render(s_metrics, &len);
    cr_assert_eq(strlen(text), len);
    cr_assert(len == 0 || text[len - 1] == '\n');
    char *copy = strdup(text);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') {
            cr_assert(strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0, "%s",
                      line);
        } else {
            cr_assert(s_sample_line(line), "not a sample line: %s", line);
        }
    }
    free(copy);
    return text;
}

static void
s_assert_contains(const char *text, const char *needle)
{
    cr_assert(strstr(text, needle), "missing:\n%s\nin:\n%s", needle, text);
}

Test(fk_metrics, counter_with_labels_counts_and_renders)
{
    fk_metric_t *ok = fk_metrics_counter(s_metrics, "fk_things_total", "Things done.",
                                         (const char *const[]){"kind", "a", "code", "200", NULL});
    fk_metric_t *bad = fk_metrics_counter(s_metrics, "fk_things_total", "ignored",
                                          (const char *const[]){"kind", "b", "code", "500", NULL});
    fk_metrics_inc(ok);
    fk_metrics_add(ok, 41);
    fk_metrics_inc(bad);
    cr_assert_eq(fk_metrics_value(ok), 42.0);
    char *text = s_render_checked();
    s_assert_contains(text, "# HELP fk_things_total Things done.\n"
                            "# TYPE fk_things_total counter\n"
                            "fk_things_total{kind=\"a\",code=\"200\"} 42\n"
                            "fk_things_total{kind=\"b\",code=\"500\"} 1\n");
    free(text);
}

Test(fk_metrics, gauge_without_labels_sets_and_adds)
{
    fk_metric_t *gauge = fk_metrics_gauge(s_metrics, "fk_level", "A level.", NULL);
    fk_metrics_set(gauge, 2.5);
    fk_metrics_add(gauge, 2);
    char *text = s_render_checked();
    s_assert_contains(text, "# TYPE fk_level gauge\nfk_level 4.5\n");
    free(text);
    fk_metrics_set(gauge, (double)NAN);
    text = s_render_checked();
    s_assert_contains(text, "fk_level NaN\n");
    free(text);
}

Test(fk_metrics, label_values_and_help_are_escaped)
{
    fk_metric_t *metric =
        fk_metrics_counter(s_metrics, "fk_odd_total", "Back\\slash and\nnewline \"quoted\".",
                           (const char *const[]){"path", "a\\b\"c\nd", NULL});
    fk_metrics_inc(metric);
    char *text = s_render_checked();
    s_assert_contains(text, "# HELP fk_odd_total Back\\\\slash and\\nnewline \"quoted\".\n");
    s_assert_contains(text, "fk_odd_total{path=\"a\\\\b\\\"c\\nd\"} 1\n");
    free(text);
}

Test(fk_metrics, histogram_buckets_are_cumulative_with_inf_sum_and_count)
{
    static const double bounds[] = {0.01, 0.1, 1};
    fk_metric_t *hist = fk_metrics_histogram(s_metrics, "fk_wait_seconds", "Waits.",
                                             (const char *const[]){"route", "v1", NULL}, bounds, 3);
    fk_metrics_observe(hist, 0.005);
    fk_metrics_observe(hist, 0.01); /* le is inclusive */
    fk_metrics_observe(hist, 0.5);
    fk_metrics_observe(hist, 7);
    char *text = s_render_checked();
    s_assert_contains(text, "# TYPE fk_wait_seconds histogram\n"
                            "fk_wait_seconds_bucket{route=\"v1\",le=\"0.01\"} 2\n"
                            "fk_wait_seconds_bucket{route=\"v1\",le=\"0.1\"} 2\n"
                            "fk_wait_seconds_bucket{route=\"v1\",le=\"1\"} 3\n"
                            "fk_wait_seconds_bucket{route=\"v1\",le=\"+Inf\"} 4\n"
                            "fk_wait_seconds_sum{route=\"v1\"} 7.515\n"
                            "fk_wait_seconds_count{route=\"v1\"} 4\n");
    free(text);
}

static void
s_collect(void *arg, fk_metrics_out_t *out)
{
    int *calls = arg;
    (*calls)++;
    fk_metrics_sample(out, (const char *const[]){"state", "alive", NULL}, 3);
    fk_metrics_sample(out, (const char *const[]){"state", "failed", NULL}, *calls);
}

Test(fk_metrics, collector_is_read_at_each_scrape)
{
    int calls = 0;
    fk_metrics_collector(s_metrics, "fk_members", "Members by state.", FK_METRICS_GAUGE, s_collect,
                         &calls);
    char *text = s_render_checked();
    free(text);
    text = s_render_checked();
    cr_assert_eq(calls, 2);
    s_assert_contains(text, "# TYPE fk_members gauge\n"
                            "fk_members{state=\"alive\"} 3\n"
                            "fk_members{state=\"failed\"} 2\n");
    free(text);
}

Test(fk_metrics, null_registry_and_series_are_no_ops)
{
    fk_metric_t *none = fk_metrics_counter(NULL, "fk_x_total", "x", NULL);
    cr_assert_null(none);
    fk_metrics_inc(none);
    fk_metrics_observe(NULL, 1);
    fk_metrics_set(NULL, 1);
    fk_metrics_destroy(&s_metrics);
    cr_assert_null(s_metrics);
    fk_metrics_destroy(&s_metrics);
}

static void *
s_hammer(void *arg)
{
    for (int i = 0; i < 100000; i++) {
        fk_metrics_inc(((fk_metric_t **)arg)[0]);
        fk_metrics_observe(((fk_metric_t **)arg)[1], 1);
    }
    return NULL;
}

Test(fk_metrics, concurrent_updates_lose_nothing)
{
    static const double bounds[] = {0.5, 2};
    fk_metric_t *series[2] = {
        fk_metrics_counter(s_metrics, "fk_hits_total", "Hits.", NULL),
        fk_metrics_histogram(s_metrics, "fk_obs", "Observations.", NULL, bounds, 2),
    };
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        pthread_create(&threads[i], NULL, s_hammer, series);
    }
    for (int i = 0; i < 4; i++) {
        char *text = s_render_checked();
        free(text);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
    }
    char *text = s_render_checked();
    s_assert_contains(text, "fk_hits_total 400000\n");
    s_assert_contains(text, "fk_obs_bucket{le=\"2\"} 400000\n");
    s_assert_contains(text, "fk_obs_sum 400000\nfk_obs_count 400000\n");
    free(text);
}
