/*  fk_metrics - counters, gauges and histograms with fixed labels, and
    their Prometheus text rendering (fk_metrics.h).

    Every series is allocated once and never moves, so the hot path holds a
    plain pointer and updates it with one atomic operation (a CAS loop for
    the doubles of gauges and histogram sums). The registry's lock guards
    only the family list, which changes at start-up and is walked by a
    scrape. */

#include "fk_metrics.h"

#include "fk_mem.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fk_metric {
    fk_metrics_type_t type;   /* the family's */
    char *labels;             /* rendered and escaped: name="value",... ("" for none) */
    _Atomic uint64_t value;   /* counter: the count; gauge: the double's bits */
    double *bounds;           /* histogram: upper bounds, nbounds of them */
    size_t nbounds;           /* histogram: bounds without +Inf */
    _Atomic uint64_t *counts; /* histogram: per bucket, not cumulative; nbounds + 1 */
    _Atomic uint64_t sum;     /* histogram: the double's bits */
    struct fk_metric *next;   /* next series of the family */
};

typedef struct s_family {
    char *name;               /* metric name */
    char *help;               /* # HELP text, escaped */
    fk_metrics_type_t type;   /* its type */
    fk_metric_t *series;      /* its series, in registration order */
    fk_metric_t **tail;       /* where the next series goes */
    fk_metrics_collect_fn fn; /* a collector's, or NULL */
    void *arg;                /* its argument */
    struct s_family *next;    /* next family */
} s_family_t;

struct fk_metrics {
    pthread_mutex_t lock; /* guards the family list and scrapes */
    s_family_t *families; /* in registration order */
    s_family_t **tail;    /* where the next family goes */
};

struct fk_metrics_out {
    fk_buf_t *buf;            /* the rendering */
    const s_family_t *family; /* the collector's family */
};

fk_metrics_t *
fk_metrics_new(void)
{
    fk_metrics_t *self = fk_calloc(1, sizeof *self);
    pthread_mutex_init(&self->lock, NULL);
    self->tail = &self->families;
    return self;
}

void
fk_metrics_destroy(fk_metrics_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_metrics_t *self = *self_p;
    s_family_t *family = self->families;
    while (family) {
        s_family_t *next_family = family->next;
        fk_metric_t *series = family->series;
        while (series) {
            fk_metric_t *next = series->next;
            free(series->labels);
            free(series->bounds);
            free((void *)(uintptr_t)series->counts); /* _Atomic is a qualifier */
            free(series);
            series = next;
        }
        free(family->name);
        free(family->help);
        free(family);
        family = next_family;
    }
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

#ifndef NDEBUG
/*  The format's metric and label name syntax: [a-zA-Z_:][a-zA-Z0-9_:]*
    (label names without ':'). Checked by asserts only: every name is a
    constant of the node's own. */
static bool
s_valid_name(const char *name, bool colon)
{
    if (!name || !*name || (*name >= '0' && *name <= '9')) {
        return false;
    }
    for (const char *c = name; *c; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
                  || *c == '_' || (colon && *c == ':');
        if (!ok) {
            return false;
        }
    }
    return true;
}
#endif

/*  Append text escaped as the format says: backslash and newline always,
    the double quote too inside label values (quote). */
static void
s_escape(fk_buf_t *buf, const char *text, bool quote)
{
    for (const char *c = text; *c; c++) {
        if (*c == '\\') {
            fk_buf_add(buf, "\\\\", 2);
        } else if (*c == '\n') {
            fk_buf_add(buf, "\\n", 2);
        } else if (quote && *c == '"') {
            fk_buf_add(buf, "\\\"", 2);
        } else {
            fk_buf_add(buf, c, 1);
        }
    }
}

/*  labels ("n", "v", ..., NULL) as the format's name="value",... */
static void
s_labels(fk_buf_t *buf, const char *const *labels)
{
    for (size_t i = 0; labels && labels[i]; i += 2) {
        assert(s_valid_name(labels[i], false) && labels[i + 1]);
        if (i > 0) {
            fk_buf_add(buf, ",", 1);
        }
        fk_buf_add(buf, labels[i], strlen(labels[i]));
        fk_buf_add(buf, "=\"", 2);
        s_escape(buf, labels[i + 1], true);
        fk_buf_add(buf, "\"", 1);
    }
}

/*  The family called name, created (with help and type) if new. Called
    with the lock held. */
static s_family_t *
s_family(fk_metrics_t *self, const char *name, const char *help, fk_metrics_type_t type)
{
    assert(s_valid_name(name, true));
    for (s_family_t *family = self->families; family; family = family->next) {
        if (strcmp(family->name, name) == 0) {
            assert(family->type == type);
            return family;
        }
    }
    s_family_t *family = fk_calloc(1, sizeof *family);
    family->name = fk_strdup(name);
    fk_buf_t buf = {0};
    s_escape(&buf, help ? help : "", false);
    family->help = fk_buf_take(&buf);
    family->type = type;
    family->tail = &family->series;
    *self->tail = family;
    self->tail = &family->next;
    return family;
}

static fk_metric_t *
s_series(fk_metrics_t *self, const char *name, const char *help, fk_metrics_type_t type,
         const char *const *labels, const double *bounds, size_t nbounds)
{
    if (!self) {
        return NULL;
    }
    fk_metric_t *metric = fk_calloc(1, sizeof *metric);
    metric->type = type;
    fk_buf_t buf = {0};
    s_labels(&buf, labels);
    metric->labels = fk_buf_take(&buf);
    if (type == FK_METRICS_HISTOGRAM) {
        for (size_t i = 0; i < nbounds; i++) {
            assert(isfinite(bounds[i]) && (i == 0 || bounds[i] > bounds[i - 1]));
        }
        metric->bounds = fk_malloc((nbounds ? nbounds : 1) * sizeof *metric->bounds);
        memcpy(metric->bounds, bounds, nbounds * sizeof *bounds);
        metric->nbounds = nbounds;
        metric->counts = fk_calloc(nbounds + 1, sizeof *metric->counts);
    }
    pthread_mutex_lock(&self->lock);
    s_family_t *family = s_family(self, name, help, type);
    assert(!family->fn);
    *family->tail = metric;
    family->tail = &metric->next;
    pthread_mutex_unlock(&self->lock);
    return metric;
}

fk_metric_t *
fk_metrics_counter(fk_metrics_t *self, const char *name, const char *help,
                   const char *const *labels)
{
    return s_series(self, name, help, FK_METRICS_COUNTER, labels, NULL, 0);
}

fk_metric_t *
fk_metrics_gauge(fk_metrics_t *self, const char *name, const char *help, const char *const *labels)
{
    return s_series(self, name, help, FK_METRICS_GAUGE, labels, NULL, 0);
}

fk_metric_t *
fk_metrics_histogram(fk_metrics_t *self, const char *name, const char *help,
                     const char *const *labels, const double *bounds, size_t nbounds)
{
    return s_series(self, name, help, FK_METRICS_HISTOGRAM, labels, bounds, nbounds);
}

void
fk_metrics_collector(fk_metrics_t *self, const char *name, const char *help, fk_metrics_type_t type,
                     fk_metrics_collect_fn fn, void *arg)
{
    assert(type != FK_METRICS_HISTOGRAM && fn);
    if (!self) {
        return;
    }
    pthread_mutex_lock(&self->lock);
    s_family_t *family = s_family(self, name, help, type);
    assert(!family->series && !family->fn);
    family->fn = fn;
    family->arg = arg;
    pthread_mutex_unlock(&self->lock);
}

static uint64_t
s_bits(double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static double
s_double(uint64_t bits)
{
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/*  Add delta to the double whose bits are at cell. */
static void
s_add_double(_Atomic uint64_t *cell, double delta)
{
    uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(cell, &old, s_bits(s_double(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

void
fk_metrics_inc(fk_metric_t *metric)
{
    fk_metrics_add(metric, 1);
}

void
fk_metrics_add(fk_metric_t *metric, uint64_t n)
{
    if (!metric) {
        return;
    }
    assert(metric->type != FK_METRICS_HISTOGRAM);
    if (metric->type == FK_METRICS_COUNTER) {
        atomic_fetch_add_explicit(&metric->value, n, memory_order_relaxed);
    } else {
        s_add_double(&metric->value, (double)n);
    }
}

void
fk_metrics_set(fk_metric_t *metric, double value)
{
    if (!metric) {
        return;
    }
    assert(metric->type == FK_METRICS_GAUGE);
    atomic_store_explicit(&metric->value, s_bits(value), memory_order_relaxed);
}

void
fk_metrics_observe(fk_metric_t *metric, double value)
{
    if (!metric) {
        return;
    }
    assert(metric->type == FK_METRICS_HISTOGRAM);
    /*  Buckets are few (a dozen): a linear search costs less than the
        branch mispredictions of a binary one. NaN lands in +Inf. */
    size_t i = 0;
    while (i < metric->nbounds && !(value <= metric->bounds[i])) {
        i++;
    }
    atomic_fetch_add_explicit(&metric->counts[i], 1, memory_order_relaxed);
    s_add_double(&metric->sum, value);
}

double
fk_metrics_value(const fk_metric_t *metric)
{
    uint64_t bits =
        atomic_load_explicit(&((fk_metric_t *)(uintptr_t)metric)->value, memory_order_relaxed);
    return metric->type == FK_METRICS_COUNTER ? (double)bits : s_double(bits);
}

/*  A value as the format writes floats: NaN, +Inf, -Inf, or the shortest
    of %.15g and %.17g that reads back as the same double. */
static void
s_number(fk_buf_t *buf, double value)
{
    char text[40];
    if (isnan(value)) {
        snprintf(text, sizeof text, "NaN");
    } else if (isinf(value)) {
        snprintf(text, sizeof text, "%s", value > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(text, sizeof text, "%.15g", value);
        if (strtod(text, NULL) != value) {
            snprintf(text, sizeof text, "%.17g", value);
        }
    }
    fk_buf_add(buf, text, strlen(text));
}

static void
s_uint(fk_buf_t *buf, uint64_t value)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRIu64, value);
    fk_buf_add(buf, text, strlen(text));
}

/*  name + suffix {labels[,extra]} */
static void
s_sample_head(fk_buf_t *buf, const char *name, const char *suffix, const char *labels,
              const char *extra)
{
    fk_buf_add(buf, name, strlen(name));
    fk_buf_add(buf, suffix, strlen(suffix));
    if (*labels || extra) {
        fk_buf_add(buf, "{", 1);
        fk_buf_add(buf, labels, strlen(labels));
        if (extra) {
            if (*labels) {
                fk_buf_add(buf, ",", 1);
            }
            fk_buf_add(buf, extra, strlen(extra));
        }
        fk_buf_add(buf, "}", 1);
    }
    fk_buf_add(buf, " ", 1);
}

static void
s_render_histogram(fk_buf_t *buf, const char *name, const fk_metric_t *metric)
{
    /*  Buckets are read once each and summed here, so they are cumulative
        and +Inf equals _count in every scrape even while observations
        land; _sum may be one observation ahead or behind, which the
        format tolerates. */
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= metric->nbounds; i++) {
        cumulative += atomic_load_explicit(&metric->counts[i], memory_order_relaxed);
        fk_buf_t le = {0};
        fk_buf_add(&le, "le=\"", 4);
        if (i < metric->nbounds) {
            s_number(&le, metric->bounds[i]);
        } else {
            fk_buf_add(&le, "+Inf", 4);
        }
        fk_buf_add(&le, "\"", 1);
        s_sample_head(buf, name, "_bucket", metric->labels, le.data);
        free(le.data);
        s_uint(buf, cumulative);
        fk_buf_add(buf, "\n", 1);
    }
    s_sample_head(buf, name, "_sum", metric->labels, NULL);
    s_number(buf, s_double(atomic_load_explicit(&((fk_metric_t *)(uintptr_t)metric)->sum,
                                                memory_order_relaxed)));
    fk_buf_add(buf, "\n", 1);
    s_sample_head(buf, name, "_count", metric->labels, NULL);
    s_uint(buf, cumulative);
    fk_buf_add(buf, "\n", 1);
}

void
fk_metrics_sample(fk_metrics_out_t *out, const char *const *labels, double value)
{
    fk_buf_t text = {0};
    s_labels(&text, labels);
    s_sample_head(out->buf, out->family->name, "", text.data ? text.data : "", NULL);
    free(text.data);
    s_number(out->buf, value);
    fk_buf_add(out->buf, "\n", 1);
}

static const char *
s_type_name(fk_metrics_type_t type)
{
    switch (type) {
    case FK_METRICS_COUNTER:
        return "counter";
    case FK_METRICS_GAUGE:
        return "gauge";
    case FK_METRICS_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

char *
fk_metrics_render(fk_metrics_t *self, size_t *len_p)
{
    fk_buf_t buf = {0};
    pthread_mutex_lock(&self->lock);
    for (const s_family_t *family = self->families; family; family = family->next) {
        fk_buf_add(&buf, "# HELP ", 7);
        fk_buf_add(&buf, family->name, strlen(family->name));
        fk_buf_add(&buf, " ", 1);
        fk_buf_add(&buf, family->help, strlen(family->help));
        fk_buf_add(&buf, "\n# TYPE ", 8);
        fk_buf_add(&buf, family->name, strlen(family->name));
        fk_buf_add(&buf, " ", 1);
        const char *type = s_type_name(family->type);
        fk_buf_add(&buf, type, strlen(type));
        fk_buf_add(&buf, "\n", 1);
        if (family->fn) {
            fk_metrics_out_t out = {.buf = &buf, .family = family};
            family->fn(family->arg, &out);
            continue;
        }
        for (const fk_metric_t *metric = family->series; metric; metric = metric->next) {
            if (metric->type == FK_METRICS_HISTOGRAM) {
                s_render_histogram(&buf, family->name, metric);
                continue;
            }
            s_sample_head(&buf, family->name, "", metric->labels, NULL);
            if (metric->type == FK_METRICS_COUNTER) {
                s_uint(&buf, atomic_load_explicit(&((fk_metric_t *)(uintptr_t)metric)->value,
                                                  memory_order_relaxed));
            } else {
                s_number(&buf, fk_metrics_value(metric));
            }
            fk_buf_add(&buf, "\n", 1);
        }
    }
    pthread_mutex_unlock(&self->lock);
    size_t len = buf.len;
    char *text = fk_buf_take(&buf);
    if (len_p) {
        *len_p = len;
    }
    return text;
}
