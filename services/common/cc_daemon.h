/* cc_daemon: process plumbing shared by the four daemons. */
#ifndef CC_DAEMON_H
#define CC_DAEMON_H
#include <event2/event.h>

typedef void (cc_stop_fn)(void *arg);

/* Signals as libevent events (handlers run on the loop, no async-signal
 * limits). SIGTERM/SIGINT: call stop_fn once (stop intake, finish the batch,
 * commit, close). A second SIGTERM/SIGINT or any SIGQUIT: exit(1) at once.
 * SIGPIPE is ignored. Returns 0/-1. */
int cc_signals_setup(struct event_base *base, cc_stop_fn *stop_fn, void *arg);
void cc_signals_teardown(void);

/* Write pid to path (if path non-empty; temp file + rename); removed by
 * cc_pidfile_remove. -1 (logged) if the file names another live process
 * or cannot be written; a stale or garbled file is replaced.
 * cc_pidfile_remove unlinks only a file holding our own pid. */
int cc_pidfile_write(const char *path);
void cc_pidfile_remove(const char *path);

/* Service names <-> proto enum values (Cc__Service), the one list: the
 * proto names in lower case, cc_service_names[value - 1], NULL-terminated
 * (for cc_json_enum). CC_SERVICE_MAX is the highest value. */
#define CC_SERVICE_MAX 8
extern const char *const cc_service_names[CC_SERVICE_MAX + 1];
const char *cc_service_name(int service);      /* "meal", ..., NULL if unknown */
int cc_service_parse(const char *name);        /* ignores case; 0 if unknown */

#endif
