/*  fk_metrics - a registry of counters, gauges and histograms, rendered in
    the Prometheus text exposition format (version 0.0.4) for GET /metrics.

    A series is one metric name with one fixed set of labels, created once
    (at start-up) and updated on the hot path with C11 atomics only: no
    lock, no allocation. Values that are cheap to read when scraped (members
    by state, records by kind) are not kept up to date by their owners:
    a collector callback reads them during the scrape instead.

    Threads: registration and rendering take the registry's lock; updates
    (fk_metrics_inc, _add, _set, _observe) take none and may run on any
    thread, concurrently with a scrape. A collector runs on the scraping
    thread with the registry's lock held: it must not register.

    Names are not checked at run time beyond an assert of the metric name
    syntax: they are compile-time constants of the node. */

#ifndef FK_METRICS_H_INCLUDED
#define FK_METRICS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct fk_metrics fk_metrics_t;

/*  One series: a counter, a gauge or a histogram with its labels. Owned by
    the registry; lives until fk_metrics_destroy. */
typedef struct fk_metric fk_metric_t;

/*  What a collector writes its samples to during one scrape. */
typedef struct fk_metrics_out fk_metrics_out_t;

/*  The metric types the format knows and this registry makes. */
typedef enum {
    FK_METRICS_COUNTER,   /* only goes up; name ends in _total */
    FK_METRICS_GAUGE,     /* goes up and down */
    FK_METRICS_HISTOGRAM, /* observations in cumulative buckets, _sum, _count */
} fk_metrics_type_t;

/*  A collector: write the family's current samples to out with
    fk_metrics_sample. arg is the collector's argument. */
typedef void (*fk_metrics_collect_fn)(void *arg, fk_metrics_out_t *out);

/*  Create an empty registry. Aborts on OOM. */
fk_metrics_t *fk_metrics_new(void);

/*  Free the registry and every series; sets *self_p to NULL. Safe on NULL.
    No update may be running: series pointers dangle afterwards. */
void fk_metrics_destroy(fk_metrics_t **self_p);

/*  Register one series of the family name (help is the family's # HELP
    text; the first registration's help is kept). labels is a
    NULL-terminated list of name, value pairs ("route", "v1", NULL), or
    NULL for none; names and values are copied. Registering the same name
    with another type is a programming error (assert). Returns the series,
    owned by the registry. self may be NULL: then NULL is returned, and
    every update function accepts NULL as "not counted". Aborts on OOM. */
fk_metric_t *fk_metrics_counter(fk_metrics_t *self, const char *name, const char *help,
                                const char *const *labels);
fk_metric_t *fk_metrics_gauge(fk_metrics_t *self, const char *name, const char *help,
                              const char *const *labels);

/*  A histogram series: bounds are the buckets' upper bounds (le), nbounds
    of them, strictly increasing and finite (copied); the +Inf bucket is
    added. Otherwise as fk_metrics_counter. */
fk_metric_t *fk_metrics_histogram(fk_metrics_t *self, const char *name, const char *help,
                                  const char *const *labels, const double *bounds, size_t nbounds);

/*  Register a family whose samples fn writes at each scrape (type counter
    or gauge). fn and arg must stay valid until fk_metrics_destroy. Safe on
    a NULL self (nothing registered). */
void fk_metrics_collector(fk_metrics_t *self, const char *name, const char *help,
                          fk_metrics_type_t type, fk_metrics_collect_fn fn, void *arg);

/*  Inside a collector: one sample of its family with labels (as
    fk_metrics_counter's) and value. */
void fk_metrics_sample(fk_metrics_out_t *out, const char *const *labels, double value);

/*  Updates: lock-free, any thread; metric may be NULL (nothing happens).
    _inc and _add are for counters (and gauges: _add then counts up),
    _set for gauges, _observe for histograms. */
void fk_metrics_inc(fk_metric_t *metric);
void fk_metrics_add(fk_metric_t *metric, uint64_t n);
void fk_metrics_set(fk_metric_t *metric, double value);
void fk_metrics_observe(fk_metric_t *metric, double value);

/*  The value of a counter or gauge series now (for tests and for the
    node's own reports). */
double fk_metrics_value(const fk_metric_t *metric);

/*  Render every family in registration order, each as # HELP, # TYPE and
    its samples, label values escaped (\\, \", \n). Returns a fresh
    NUL-terminated string (caller frees); its length in *len_p (may be
    NULL). Aborts on OOM. */
char *fk_metrics_render(fk_metrics_t *self, size_t *len_p);

/*  The content type of the rendering. */
#define FK_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
