/* Tests for cc_daemon: SIGTERM calls stop once, a second signal or SIGQUIT
 * exits 1 (in a child), SIGPIPE is ignored, pidfile rules, and the service
 * name mapping covers every Cc__Service value. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "cc_daemon.h"
#include "cc_log.h"
#include "events.pb-c.h"

static int s_stops;
static struct event_base *s_base;
static FILE *s_log;     /* keeps expected log lines off the terminal */

static void
s_stop(void *arg)
{
    assert_ptr_equal(arg, &s_stops);
    s_stops++;
    event_base_loopbreak(s_base);
}

static void
s_run_ms(int ms)
{
    struct timeval tv = { 0, ms * 1000 };
    event_base_loopexit(s_base, &tv);
    event_base_dispatch(s_base);
}

static int
s_setup(void **state)
{
    (void) state;
    s_base = event_base_new();
    s_stops = 0;
    return s_base ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void) state;
    cc_signals_teardown();
    event_base_free(s_base);
    return 0;
}

static void
test_sigterm_stops_once(void **state)
{
    (void) state;
    assert_int_equal(cc_signals_setup(s_base, s_stop, &s_stops), 0);
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    s_run_ms(500);
    assert_int_equal(s_stops, 1);
    /* Nothing more without another signal. */
    s_run_ms(20);
    assert_int_equal(s_stops, 1);
}

static void
test_sigint_stops(void **state)
{
    (void) state;
    assert_int_equal(cc_signals_setup(s_base, s_stop, &s_stops), 0);
    assert_int_equal(kill(getpid(), SIGINT), 0);
    s_run_ms(500);
    assert_int_equal(s_stops, 1);
}

static void
test_sigpipe_ignored(void **state)
{
    (void) state;
    assert_int_equal(cc_signals_setup(s_base, s_stop, &s_stops), 0);
    struct sigaction sa;
    assert_int_equal(sigaction(SIGPIPE, NULL, &sa), 0);
    assert_ptr_equal(sa.sa_handler, SIG_IGN);
    assert_int_equal(kill(getpid(), SIGPIPE), 0);     /* survives */
    s_run_ms(10);
    assert_int_equal(s_stops, 0);
}

/* Child: set up, receive sigs in turn; reports stop count on fd. */
static void
s_child(int fd, const int *sigs, int nsigs)
{
    event_base_free(s_base);
    s_base = event_base_new();
    if (cc_signals_setup(s_base, s_stop, &s_stops) != 0)
        _exit(3);
    for (int i = 0; i < nsigs; i++) {
        kill(getpid(), sigs[i]);
        s_run_ms(500);
        char c = (char) ('0' + s_stops);
        if (write(fd, &c, 1) != 1)
            _exit(4);
    }
    _exit(0);
}

/* Fork a child receiving sigs; returns its exit status, fills reports. */
static int
s_fork(const int *sigs, int nsigs, char *reports, size_t size)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        s_child(fds[1], sigs, nsigs);
    }
    close(fds[1]);
    memset(reports, 0, size);
    size_t got = 0;
    ssize_t n;
    while (got < size - 1 && (n = read(fds[0], reports + got, size - 1 - got)) > 0)
        got += (size_t) n;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void
test_second_signal_exits(void **state)
{
    (void) state;
    char reports[8];
    const int term_term[] = { SIGTERM, SIGTERM };
    assert_int_equal(s_fork(term_term, 2, reports, sizeof reports), 1);
    assert_string_equal(reports, "1");  /* stop once, then exit(1) */

    const int term_int[] = { SIGTERM, SIGINT };
    assert_int_equal(s_fork(term_int, 2, reports, sizeof reports), 1);
    assert_string_equal(reports, "1");

    const int quit[] = { SIGQUIT };
    assert_int_equal(s_fork(quit, 1, reports, sizeof reports), 1);
    assert_string_equal(reports, "");   /* no stop at all */

    const int term[] = { SIGTERM };
    assert_int_equal(s_fork(term, 1, reports, sizeof reports), 0);
    assert_string_equal(reports, "1");
}

static void
test_teardown_restores(void **state)
{
    (void) state;
    assert_int_equal(cc_signals_setup(s_base, s_stop, &s_stops), 0);
    assert_int_equal(cc_signals_setup(s_base, s_stop, &s_stops), 0);   /* again */
    cc_signals_teardown();
    cc_signals_teardown();
    assert_int_equal(cc_signals_setup(NULL, s_stop, &s_stops), -1);
}

static char s_dir[64];

static void
test_pidfile(void **state)
{
    (void) state;
    strcpy(s_dir, "/tmp/cc_daemon_test_XXXXXX");
    assert_non_null(mkdtemp(s_dir));
    char path[128];
    snprintf(path, sizeof path, "%s/d.pid", s_dir);

    assert_int_equal(cc_pidfile_write(""), 0);
    assert_int_equal(cc_pidfile_write(NULL), 0);

    assert_int_equal(cc_pidfile_write(path), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long pid = 0;
    assert_int_equal(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    assert_int_equal(pid, getpid());
    assert_int_equal(cc_pidfile_write(path), 0);     /* our own pid: fine */

    /* A live other process owns it: refuse, and leave it alone. */
    f = fopen(path, "w");
    fprintf(f, "%ld\n", (long) getppid());
    fclose(f);
    assert_int_equal(cc_pidfile_write(path), -1);
    cc_pidfile_remove(path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);

    /* A dead process's file is stale: overwrite. */
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    f = fopen(path, "w");
    fprintf(f, "%ld\n", (long) child);
    fclose(f);
    assert_int_equal(cc_pidfile_write(path), 0);
    /* Garbage is stale too. */
    f = fopen(path, "w");
    fputs("not a pid\n", f);
    fclose(f);
    assert_int_equal(cc_pidfile_write(path), 0);

    cc_pidfile_remove(path);
    assert_int_equal(stat(path, &st), -1);
    cc_pidfile_remove(path);    /* absent: fine */
    cc_pidfile_remove("");

    char bad[160];
    snprintf(bad, sizeof bad, "%s/missing/d.pid", s_dir);
    assert_int_equal(cc_pidfile_write(bad), -1);
    assert_int_equal(rmdir(s_dir), 0);  /* no temp file left behind */
}

static void
test_service_names(void **state)
{
    (void) state;
    assert_string_equal(cc_service_name(CC__SERVICE__MEAL), "meal");
    assert_string_equal(cc_service_name(CC__SERVICE__MEDICAL_ESCORT), "medical_escort");
    assert_int_equal(cc_service_parse("meal"), CC__SERVICE__MEAL);
    assert_int_equal(cc_service_parse("MEAL"), CC__SERVICE__MEAL);
    assert_int_equal(cc_service_parse("assessment"), CC__SERVICE__ASSESSMENT);
    assert_null(cc_service_name(CC__SERVICE__SERVICE_UNKNOWN));
    assert_null(cc_service_name(-1));
    assert_null(cc_service_name(9999));
    assert_int_equal(cc_service_parse("service_unknown"), 0);
    assert_int_equal(cc_service_parse("massage"), 0);
    assert_int_equal(cc_service_parse(""), 0);
    assert_int_equal(cc_service_parse(NULL), 0);

    /* Every value in the proto has a name, and it round-trips: a service
     * added to events.proto without a name here fails this test. */
    const ProtobufCEnumDescriptor *d = &cc__service__descriptor;
    for (unsigned i = 0; i < d->n_values; i++) {
        int v = d->values[i].value;
        if (v == CC__SERVICE__SERVICE_UNKNOWN)
            continue;
        const char *name = cc_service_name(v);
        if (!name)
            fail_msg("no name for %s", d->values[i].name);
        char lower[64];
        snprintf(lower, sizeof lower, "%s", d->values[i].name);
        for (char *p = lower; *p; p++)
            *p = (char) tolower((unsigned char) *p);
        assert_string_equal(name, lower);
        assert_int_equal(cc_service_parse(name), v);
    }
}

static int
s_group_setup(void **state)
{
    (void) state;
    s_log = tmpfile();
    cc_log_set_stream(s_log);
    return s_log ? 0 : -1;
}

static int
s_group_teardown(void **state)
{
    (void) state;
    cc_log_set_stream(NULL);
    fclose(s_log);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sigterm_stops_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sigint_stops, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sigpipe_ignored, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_second_signal_exits, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_teardown_restores, s_setup, s_teardown),
        cmocka_unit_test(test_pidfile),
        cmocka_unit_test(test_service_names),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
