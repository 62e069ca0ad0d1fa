/* cc_metrics: process-wide metric registry. See cc_metrics.h.
 *
 * Metrics are grouped in families by base name (the text before '{'); a
 * family has one HELP/TYPE and any number of series, each a label set.
 * Not thread-safe: use from the loop thread only. */
#include "cc_metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_log.h"
#include "cc_map.h"

typedef enum { S_COUNTER, S_GAUGE, S_HISTOGRAM } s_type_t;

/* Upper bounds (le) in seconds; +Inf is implicit. */
static const double s_bounds[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
#define S_NBOUNDS (sizeof s_bounds / sizeof *s_bounds)

typedef struct s_family s_family_t;

struct cc_metric {
    cc_metric_t *next;          /* next series in the family */
    s_family_t *family;         /* owner */
    char *labels;               /* text inside the braces, "" for none */
    double value;               /* counter / gauge */
    uint64_t buckets[S_NBOUNDS + 1];  /* histogram: per-bucket (not cumulative), last +Inf */
    uint64_t count;             /* histogram: observations */
    double sum;                 /* histogram: sum of observations */
};

struct s_family {
    s_family_t *next;           /* next family, in registration order */
    char *name;                 /* base name */
    char *help;                 /* first help given */
    s_type_t type;
    cc_metric_t *series;        /* in registration order */
    cc_metric_t **series_tail;
};

static s_family_t *s_families;
static s_family_t **s_families_tail = &s_families;
/* Full name as looked up -> series: callers look metrics up by name on hot
 * paths (a status code's counter per HTTP request), and the walk over every
 * family cost thousands of instructions each time. Only names that passed
 * the checks below are entered. NULL when out of memory: slower, not wrong. */
static cc_map_t *s_index;

static const char *const s_type_names[] = { "counter", "gauge", "histogram" };

/* Base name: [a-zA-Z_:][a-zA-Z0-9_:]* */
static int
s_valid_base(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'
                 || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

/* m, entered in the index under name (if there is memory for it). */
static cc_metric_t *
s_indexed(const char *name, cc_metric_t *m)
{
    if (!s_index)
        s_index = cc_map_new();
    if (s_index)
        (void) cc_map_put(s_index, name, m, NULL);
    return m;
}

static cc_metric_t *
s_lookup(const char *name, const char *help, s_type_t type)
{
    if (!name)
        return NULL;
    cc_metric_t *hit = s_index ? cc_map_get(s_index, name) : NULL;
    if (hit && hit->family->type == type)
        return hit;
    size_t base_len = strcspn(name, "{");
    const char *labels = "";
    size_t labels_len = 0;
    if (name[base_len] == '{') {
        size_t n = strlen(name);
        if (name[n - 1] != '}' || strchr(name, '\n')) {
            cc_warn("metric_name_invalid", "metric", name);
            return NULL;
        }
        labels = name + base_len + 1;
        labels_len = n - base_len - 2;
    }
    if (!s_valid_base(name, base_len)) {
        cc_warn("metric_name_invalid", "metric", name);
        return NULL;
    }

    s_family_t *f = s_families;
    while (f && (strlen(f->name) != base_len || strncmp(f->name, name, base_len) != 0))
        f = f->next;
    if (f && f->type != type) {
        /* Two types under one name would make the exposition invalid. */
        cc_warn("metric_type_conflict", "metric", name, "registered", s_type_names[f->type],
                "wanted", s_type_names[type]);
        return NULL;
    }
    if (!f) {
        f = calloc(1, sizeof *f);
        if (!f)
            return NULL;
        f->name = strndup(name, base_len);
        f->help = strdup(help ? help : "");
        if (!f->name || !f->help) {
            free(f->name);
            free(f->help);
            free(f);
            return NULL;
        }
        f->type = type;
        f->series_tail = &f->series;
        *s_families_tail = f;
        s_families_tail = &f->next;
    }
    for (cc_metric_t *m = f->series; m; m = m->next)
        if (strlen(m->labels) == labels_len && strncmp(m->labels, labels, labels_len) == 0)
            return s_indexed(name, m);
    cc_metric_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->labels = strndup(labels, labels_len);
    if (!m->labels) {
        free(m);
        return NULL;
    }
    m->family = f;
    *f->series_tail = m;
    f->series_tail = &m->next;
    return s_indexed(name, m);
}

cc_metric_t *
cc_metrics_counter(const char *name, const char *help)
{
    return s_lookup(name, help, S_COUNTER);
}

cc_metric_t *
cc_metrics_gauge(const char *name, const char *help)
{
    return s_lookup(name, help, S_GAUGE);
}

cc_metric_t *
cc_metrics_histogram(const char *name, const char *help)
{
    return s_lookup(name, help, S_HISTOGRAM);
}

void
cc_metric_inc(cc_metric_t *m)
{
    cc_metric_add(m, 1.0);
}

void
cc_metric_add(cc_metric_t *m, double v)
{
    if (!m || m->family->type == S_HISTOGRAM || isnan(v))
        return;
    if (m->family->type == S_COUNTER && v < 0)
        return;     /* counters only go up */
    m->value += v;
}

void
cc_metric_set(cc_metric_t *m, double v)
{
    if (!m || m->family->type == S_HISTOGRAM)
        return;
    m->value = v;
}

void
cc_metric_observe(cc_metric_t *m, double seconds)
{
    if (!m || m->family->type != S_HISTOGRAM || isnan(seconds))
        return;
    size_t i = 0;
    while (i < S_NBOUNDS && seconds > s_bounds[i])
        i++;
    m->buckets[i]++;
    m->count++;
    m->sum += seconds;
}

double
cc_metric_value(const cc_metric_t *m)
{
    if (!m)
        return 0;
    return m->family->type == S_HISTOGRAM ? (double) m->count : m->value;
}

/* Shortest text that reads back as v; Prometheus spellings for specials. */
static const char *
s_num(double v, char *buf, size_t size)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

/* HELP text escapes backslash and newline (exposition format). */
static void
s_put_help(FILE *out, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", out);
        else if (*p == '\n')
            fputs("\\n", out);
        else
            fputc(*p, out);
    }
}

static void
s_render_histogram(FILE *out, const s_family_t *f, const cc_metric_t *m)
{
    char num[32];
    const char *sep = *m->labels ? "," : "";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= S_NBOUNDS; i++) {
        cumulative += m->buckets[i];
        fprintf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", f->name, m->labels, sep,
                i < S_NBOUNDS ? s_num(s_bounds[i], num, sizeof num) : "+Inf",
                (unsigned long long) cumulative);
    }
    const char *open = *m->labels ? "{" : "";
    const char *close = *m->labels ? "}" : "";
    fprintf(out, "%s_sum%s%s%s %s\n", f->name, open, m->labels, close,
            s_num(m->sum, num, sizeof num));
    fprintf(out, "%s_count%s%s%s %llu\n", f->name, open, m->labels, close,
            (unsigned long long) m->count);
}

char *
cc_metrics_render(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    char num[32];
    for (const s_family_t *f = s_families; f; f = f->next) {
        fprintf(out, "# HELP %s ", f->name);
        s_put_help(out, f->help);
        fprintf(out, "\n# TYPE %s %s\n", f->name, s_type_names[f->type]);
        for (const cc_metric_t *m = f->series; m; m = m->next) {
            if (f->type == S_HISTOGRAM)
                s_render_histogram(out, f, m);
            else if (*m->labels)
                fprintf(out, "%s{%s} %s\n", f->name, m->labels,
                        s_num(m->value, num, sizeof num));
            else
                fprintf(out, "%s %s\n", f->name, s_num(m->value, num, sizeof num));
        }
    }
    if (ferror(out)) {
        fclose(out);
        free(text);
        return NULL;
    }
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

void
cc_metrics_reset(void)
{
    s_family_t *f = s_families;
    while (f) {
        s_family_t *next_f = f->next;
        cc_metric_t *m = f->series;
        while (m) {
            cc_metric_t *next_m = m->next;
            free(m->labels);
            free(m);
            m = next_m;
        }
        free(f->name);
        free(f->help);
        free(f);
        f = next_f;
    }
    s_families = NULL;
    s_families_tail = &s_families;
    cc_map_destroy(&s_index, NULL);
}
