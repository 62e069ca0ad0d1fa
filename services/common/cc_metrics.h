/* cc_metrics: a process-wide registry rendered in Prometheus text format.
 * A metric's name may carry labels: "orders_total{state=\"placed\"}"; all
 * series with the same base name share one HELP/TYPE header. Lookups by the
 * same full name return the same metric, so callers may cache or re-look-up.
 * Label values are written as given: the caller escapes them.
 * A lookup returns NULL for an invalid name, a name already registered with
 * another type, or no memory (logged); every cc_metric_* call accepts NULL.
 * Counters ignore negative adds; set works on counters and gauges; observe
 * only on histograms; NaN is ignored. Not thread-safe: loop thread only. */
#ifndef CC_METRICS_H
#define CC_METRICS_H

typedef struct cc_metric cc_metric_t;

cc_metric_t *cc_metrics_counter(const char *name, const char *help);
cc_metric_t *cc_metrics_gauge(const char *name, const char *help);
/* Latency histogram, buckets 0.5 ms .. 10 s, observed in seconds. */
cc_metric_t *cc_metrics_histogram(const char *name, const char *help);

void cc_metric_inc(cc_metric_t *m);
void cc_metric_add(cc_metric_t *m, double v);
void cc_metric_set(cc_metric_t *m, double v);
void cc_metric_observe(cc_metric_t *m, double seconds);
double cc_metric_value(const cc_metric_t *m);   /* counter/gauge value, histogram count */

/* Prometheus exposition text; the caller frees it. */
char *cc_metrics_render(void);
/* Free every metric (shutdown, tests); cached pointers become invalid. */
void cc_metrics_reset(void);

#endif
