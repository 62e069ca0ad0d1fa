/* Tests for cc_metrics: identity of lookups, counter/gauge/histogram
 * semantics, label grouping and the exact Prometheus text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_log.h"
#include "cc_metrics.h"

static FILE *s_log;

static int
s_setup(void **state)
{
    (void) state;
    s_log = tmpfile();     /* keep the expected warnings off the terminal */
    cc_log_set_stream(s_log);
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    cc_metrics_reset();
    cc_log_set_stream(NULL);
    fclose(s_log);
    return 0;
}

static void
s_assert_render(const char *want)
{
    char *text = cc_metrics_render();
    assert_non_null(text);
    if (strcmp(text, want) != 0)
        fail_msg("rendered:\n%s\nwanted:\n%s", text, want);
    free(text);
}

static void
test_empty(void **state)
{
    (void) state;
    s_assert_render("");
}

static void
test_counter_gauge(void **state)
{
    (void) state;
    cc_metric_t *c = cc_metrics_counter("orders_placed_total", "Orders placed.");
    assert_non_null(c);
    assert_ptr_equal(c, cc_metrics_counter("orders_placed_total", "other help"));
    cc_metric_inc(c);
    cc_metric_inc(c);
    cc_metric_add(c, 0.5);
    cc_metric_add(c, -10);      /* ignored: counters only go up */
    cc_metric_add(c, NAN);      /* ignored */
    assert_true(cc_metric_value(c) == 2.5);

    cc_metric_t *g = cc_metrics_gauge("queue_depth", "Queued \\ statements\nnow.");
    cc_metric_set(g, 7);
    cc_metric_add(g, -2);
    assert_true(cc_metric_value(g) == 5);
    cc_metric_observe(g, 1.0);  /* no-op on a gauge */
    assert_true(cc_metric_value(g) == 5);

    cc_metric_t *lag = cc_metrics_gauge("consumer_lag", "Lag.");
    cc_metric_set(lag, 0.1);
    cc_metric_t *inf = cc_metrics_gauge("big", "Big.");
    cc_metric_set(inf, INFINITY);

    s_assert_render("# HELP orders_placed_total Orders placed.\n"
                    "# TYPE orders_placed_total counter\n"
                    "orders_placed_total 2.5\n"
                    "# HELP queue_depth Queued \\\\ statements\\nnow.\n"
                    "# TYPE queue_depth gauge\n"
                    "queue_depth 5\n"
                    "# HELP consumer_lag Lag.\n"
                    "# TYPE consumer_lag gauge\n"
                    "consumer_lag 0.1\n"
                    "# HELP big Big.\n"
                    "# TYPE big gauge\n"
                    "big +Inf\n");
}

static void
test_labels_grouped(void **state)
{
    (void) state;
    cc_metric_t *placed = cc_metrics_gauge("orders{state=\"placed\"}", "Orders by state.");
    cc_metric_t *other = cc_metrics_counter("other_total", "Other.");
    cc_metric_t *billed = cc_metrics_gauge("orders{state=\"billed\"}", "ignored help");
    assert_non_null(placed);
    assert_non_null(billed);
    assert_ptr_not_equal(placed, billed);
    assert_ptr_equal(placed, cc_metrics_gauge("orders{state=\"placed\"}", NULL));
    cc_metric_set(placed, 3);
    cc_metric_set(billed, 1);
    cc_metric_inc(other);
    /* Series registered later under an earlier family render with it. */
    s_assert_render("# HELP orders Orders by state.\n"
                    "# TYPE orders gauge\n"
                    "orders{state=\"placed\"} 3\n"
                    "orders{state=\"billed\"} 1\n"
                    "# HELP other_total Other.\n"
                    "# TYPE other_total counter\n"
                    "other_total 1\n");
}

static void
test_histogram(void **state)
{
    (void) state;
    cc_metric_t *h = cc_metrics_histogram("db_commit_seconds", "Commit latency.");
    assert_non_null(h);
    cc_metric_observe(h, 0.0005);   /* on a bound: le is inclusive */
    cc_metric_observe(h, 0.003);
    cc_metric_observe(h, 0.003);
    cc_metric_observe(h, 2.0);
    cc_metric_observe(h, 60.0);     /* beyond 10 s: only +Inf */
    cc_metric_observe(h, NAN);      /* ignored */
    assert_true(cc_metric_value(h) == 5);
    cc_metric_inc(h);               /* no-op on a histogram */
    cc_metric_set(h, 100);          /* no-op on a histogram */
    assert_true(cc_metric_value(h) == 5);
    s_assert_render("# HELP db_commit_seconds Commit latency.\n"
                    "# TYPE db_commit_seconds histogram\n"
                    "db_commit_seconds_bucket{le=\"0.0005\"} 1\n"
                    "db_commit_seconds_bucket{le=\"0.001\"} 1\n"
                    "db_commit_seconds_bucket{le=\"0.0025\"} 1\n"
                    "db_commit_seconds_bucket{le=\"0.005\"} 3\n"
                    "db_commit_seconds_bucket{le=\"0.01\"} 3\n"
                    "db_commit_seconds_bucket{le=\"0.025\"} 3\n"
                    "db_commit_seconds_bucket{le=\"0.05\"} 3\n"
                    "db_commit_seconds_bucket{le=\"0.1\"} 3\n"
                    "db_commit_seconds_bucket{le=\"0.25\"} 3\n"
                    "db_commit_seconds_bucket{le=\"0.5\"} 3\n"
                    "db_commit_seconds_bucket{le=\"1\"} 3\n"
                    "db_commit_seconds_bucket{le=\"2.5\"} 4\n"
                    "db_commit_seconds_bucket{le=\"5\"} 4\n"
                    "db_commit_seconds_bucket{le=\"10\"} 4\n"
                    "db_commit_seconds_bucket{le=\"+Inf\"} 5\n"
                    "db_commit_seconds_sum 62.0065\n"
                    "db_commit_seconds_count 5\n");
}

static void
test_histogram_labels(void **state)
{
    (void) state;
    cc_metric_t *h = cc_metrics_histogram("rpc_seconds{op=\"fetch\"}", "RPC latency.");
    cc_metric_observe(h, 0.02);
    char *text = cc_metrics_render();
    assert_non_null(text);
    assert_non_null(strstr(text, "rpc_seconds_bucket{op=\"fetch\",le=\"0.01\"} 0\n"));
    assert_non_null(strstr(text, "rpc_seconds_bucket{op=\"fetch\",le=\"0.025\"} 1\n"));
    assert_non_null(strstr(text, "rpc_seconds_bucket{op=\"fetch\",le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(text, "rpc_seconds_sum{op=\"fetch\"} 0.02\n"));
    assert_non_null(strstr(text, "rpc_seconds_count{op=\"fetch\"} 1\n"));
    assert_null(strstr(text, "# TYPE rpc_seconds{"));
    free(text);
}

static void
test_conflicts_and_invalid(void **state)
{
    (void) state;
    assert_non_null(cc_metrics_counter("x_total", "X."));
    assert_null(cc_metrics_gauge("x_total", "X."));
    assert_null(cc_metrics_histogram("x_total{a=\"b\"}", "X."));   /* same family */
    assert_null(cc_metrics_counter("", "bad"));
    assert_null(cc_metrics_counter("9lives", "bad"));
    assert_null(cc_metrics_counter("with space", "bad"));
    assert_null(cc_metrics_counter("open{a=\"b\"", "bad"));
    assert_null(cc_metrics_counter("{a=\"b\"}", "bad"));
    assert_null(cc_metrics_counter(NULL, "bad"));
    /* NULL metrics are accepted everywhere. */
    cc_metric_inc(NULL);
    cc_metric_add(NULL, 1);
    cc_metric_set(NULL, 1);
    cc_metric_observe(NULL, 1);
    assert_true(cc_metric_value(NULL) == 0);
    s_assert_render("# HELP x_total X.\n# TYPE x_total counter\nx_total 0\n");
}

static void
test_reset(void **state)
{
    (void) state;
    cc_metric_inc(cc_metrics_counter("a_total", "A."));
    cc_metrics_reset();
    s_assert_render("");
    cc_metric_t *a = cc_metrics_counter("a_total", "A.");
    assert_true(cc_metric_value(a) == 0);
}

/* Lookups by name are answered from an index after the first: the same
 * series, never one of another type, and nothing stale after a reset. */
static void
test_lookup_index(void **state)
{
    (void) state;
    cc_metric_t *a = cc_metrics_counter("idx_total{k=\"1\"}", "h");
    assert_non_null(a);
    for (int i = 0; i < 3; i++)
        assert_ptr_equal(cc_metrics_counter("idx_total{k=\"1\"}", "h"), a);
    assert_ptr_not_equal(cc_metrics_counter("idx_total{k=\"2\"}", "h"), a);
    /* Indexed as a counter: still refused as a gauge or a histogram. */
    assert_null(cc_metrics_gauge("idx_total{k=\"1\"}", "h"));
    assert_null(cc_metrics_histogram("idx_total{k=\"1\"}", "h"));
    cc_metric_inc(a);
    cc_metrics_reset();
    cc_metric_t *b = cc_metrics_gauge("idx_total{k=\"1\"}", "h");   /* a new type now */
    assert_non_null(b);
    cc_metric_set(b, 7);
    char *text = cc_metrics_render();
    assert_non_null(strstr(text, "# TYPE idx_total gauge"));
    assert_non_null(strstr(text, "idx_total{k=\"1\"} 7"));
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_counter_gauge, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_labels_grouped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_histogram, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_histogram_labels, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_conflicts_and_invalid, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reset, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lookup_index, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
