/* cc_daemon: signals, pidfile, service names. See cc_daemon.h.
 *
 * Signals are libevent events (PgBouncer's signal_setup): the handler runs
 * on the loop like any callback, so stop_fn may touch anything. */
#include "cc_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <unistd.h>

#include "cc_log.h"
#include "events.pb-c.h"

static const int s_signals[] = { SIGTERM, SIGINT, SIGQUIT };
#define S_NSIGNALS (sizeof s_signals / sizeof *s_signals)

static struct event *s_events[S_NSIGNALS];  /* registered signal events */
static cc_stop_fn *s_stop_fn;
static void *s_stop_arg;
static int s_stopping;                      /* stop_fn already called */

static void
s_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void) what;
    (void) arg;
    const char *name = sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "SIGQUIT";
    if (sig == SIGQUIT || s_stopping) {
        cc_warn("exit_now", "signal", name);
        exit(1);
    }
    s_stopping = 1;
    cc_info("stopping", "signal", name);
    if (s_stop_fn)
        s_stop_fn(s_stop_arg);
}

int
cc_signals_setup(struct event_base *base, cc_stop_fn *stop_fn, void *arg)
{
    if (!base)
        return -1;
    cc_signals_teardown();
    /* Writes to a closed socket must fail with EPIPE, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    s_stop_fn = stop_fn;
    s_stop_arg = arg;
    s_stopping = 0;
    for (size_t i = 0; i < S_NSIGNALS; i++) {
        s_events[i] = evsignal_new(base, s_signals[i], s_on_signal, NULL);
        if (!s_events[i] || event_add(s_events[i], NULL) != 0) {
            cc_error("signal_setup_failed");
            cc_signals_teardown();
            return -1;
        }
    }
    return 0;
}

void
cc_signals_teardown(void)
{
    for (size_t i = 0; i < S_NSIGNALS; i++) {
        if (s_events[i]) {
            event_free(s_events[i]);
            s_events[i] = NULL;
        }
    }
    s_stop_fn = NULL;
    s_stop_arg = NULL;
}

/* Pid recorded in path, or 0 if absent or unreadable. */
static pid_t
s_pidfile_read(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1 || pid <= 0)
        pid = 0;
    fclose(f);
    return (pid_t) pid;
}

int
cc_pidfile_write(const char *path)
{
    if (!path || !*path)
        return 0;
    pid_t old = s_pidfile_read(path);
    if (old > 0 && old != getpid() && (kill(old, 0) == 0 || errno == EPERM)) {
        char pid[24];
        snprintf(pid, sizeof pid, "%ld", (long) old);
        cc_error("already_running", "pidfile", path, "pid", pid);
        return -1;
    }
    /* Write a temp file and rename it: readers never see a partial pid. */
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long) getpid());
    if (n < 0 || (size_t) n >= sizeof tmp)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        cc_error("pidfile_failed", "pidfile", path, "error", strerror(errno));
        return -1;
    }
    char text[24];
    int len = snprintf(text, sizeof text, "%ld\n", (long) getpid());
    int ok = write(fd, text, (size_t) len) == len;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        cc_error("pidfile_failed", "pidfile", path, "error", strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

void
cc_pidfile_remove(const char *path)
{
    /* Only our own: a successor may already have written its pid. */
    if (path && *path && s_pidfile_read(path) == getpid())
        unlink(path);
}

/* Wire names of Cc__Service values: the proto names in lower case. */
const char *const cc_service_names[CC_SERVICE_MAX + 1] = {
    "meal", "bath", "cleaning", "escort", "medical_escort", "emergency", "visit", "assessment",
    NULL
};
_Static_assert(CC__SERVICE__MEAL == 1 && CC__SERVICE__ASSESSMENT == CC_SERVICE_MAX,
               "cc_service_names follows proto/events.proto's Service");

const char *
cc_service_name(int service)
{
    return service >= 1 && service <= CC_SERVICE_MAX ? cc_service_names[service - 1] : NULL;
}

int
cc_service_parse(const char *name)
{
    for (int i = 0; name && i < CC_SERVICE_MAX; i++)
        if (strcasecmp(cc_service_names[i], name) == 0)
            return i + 1;
    return CC__SERVICE__SERVICE_UNKNOWN;
}
