/* Tests for cc_rt. cc_rt_main runs a loop until a signal, so the daemon
 * life cycle is left to the system tests; here: cc_sd_notify against a real
 * AF_UNIX datagram socket, by path and in the abstract namespace, and the
 * start-up check of consumer tables against the log grants. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cc_log.h"
#include "cc_rt.h"

/* A bound datagram socket: path ("/...") or abstract ("@..."). */
static int
s_bind(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(name);
    assert_true(len < sizeof sa.sun_path);
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    socklen_t salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len
                                   + (name[0] == '@' ? 0 : 1));
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, salen), 0);
    return fd;
}

/* The next datagram, or "" if none is waiting. */
static void
s_recv(int fd, char *buf, size_t size)
{
    ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);
    buf[n > 0 ? n : 0] = '\0';
}

static int
s_teardown(void **state)
{
    (void) state;
    unsetenv("NOTIFY_SOCKET");
    return 0;
}

static void
test_notify_no_socket(void **state)
{
    (void) state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(cc_sd_notify("READY=1"), 1);
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(cc_sd_notify("READY=1"), 1);
}

static void
test_notify_path(void **state)
{
    (void) state;
    char dir[] = "/tmp/cc_rt_test_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[96];
    snprintf(path, sizeof path, "%s/notify", dir);
    int fd = s_bind(path);
    setenv("NOTIFY_SOCKET", path, 1);
    char buf[256];
    assert_int_equal(cc_sd_notify("READY=1"), 0);
    s_recv(fd, buf, sizeof buf);
    assert_string_equal(buf, "READY=1");
    assert_int_equal(cc_sd_notify("STOPPING=1\nSTATUS=draining"), 0);
    s_recv(fd, buf, sizeof buf);
    assert_string_equal(buf, "STOPPING=1\nSTATUS=draining");
    s_recv(fd, buf, sizeof buf);
    assert_string_equal(buf, "");      /* exactly one datagram each */
    close(fd);
    unlink(path);
    /* Nobody listening any more: an error, not a crash or a hang. */
    assert_int_equal(cc_sd_notify("READY=1"), -1);
    rmdir(dir);
}

static void
test_notify_abstract(void **state)
{
    (void) state;
    char name[64];
    snprintf(name, sizeof name, "@cc_rt_test_%ld", (long) getpid());
    int fd = s_bind(name);
    setenv("NOTIFY_SOCKET", name, 1);
    char buf[256];
    assert_int_equal(cc_sd_notify("READY=1"), 0);
    s_recv(fd, buf, sizeof buf);
    assert_string_equal(buf, "READY=1");
    close(fd);
    /* The name is exact (its length counts): a longer one is another socket. */
    snprintf(name, sizeof name, "@cc_rt_test_%ld", (long) getpid());
    fd = s_bind(name);
    char other[80];
    snprintf(other, sizeof other, "%sx", name);
    setenv("NOTIFY_SOCKET", other, 1);
    assert_int_equal(cc_sd_notify("READY=1"), -1);
    s_recv(fd, buf, sizeof buf);
    assert_string_equal(buf, "");
    close(fd);
}

static void
test_notify_bad_address(void **state)
{
    (void) state;
    /* Neither a path nor abstract. */
    setenv("NOTIFY_SOCKET", "relative/notify", 1);
    assert_int_equal(cc_sd_notify("READY=1"), -1);
    /* Longer than sun_path. */
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    setenv("NOTIFY_SOCKET", longp, 1);
    assert_int_equal(cc_sd_notify("READY=1"), -1);
    setenv("NOTIFY_SOCKET", "/nonexistent/cc_rt_test/notify", 1);
    assert_int_equal(cc_sd_notify("READY=1"), -1);
}

static int
s_nop(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg, void *arg)
{
    (void) c;
    (void) env;
    (void) msg;
    (void) arg;
    return 0;
}

/* meald's table as it is, then with a type it is not granted, then with
 * a granted type missing: only the first may start. */
static void
test_consumer_tables_match_grants(void **state)
{
    (void) state;
    const cc_consumer_entry_t good[] = {
        { "MealReleased", &cc__meal_released__descriptor, s_nop },
        { "OrderReleased", &cc__order_released__descriptor, s_nop },
        { "OrderCancelled", &cc__order_cancelled__descriptor, s_nop },
        { "AccountChanged", &cc__account_changed__descriptor, s_nop },
        { NULL, NULL, NULL },
    };
    const cc_consumer_entry_t extra[] = {
        { "MealReleased", &cc__meal_released__descriptor, s_nop },
        { "OrderReleased", &cc__order_released__descriptor, s_nop },
        { "OrderCancelled", &cc__order_cancelled__descriptor, s_nop },
        { "AccountChanged", &cc__account_changed__descriptor, s_nop },
        { "VisitReleased", &cc__visit_released__descriptor, s_nop },
        { NULL, NULL, NULL },
    };
    const cc_consumer_entry_t missing[] = {
        { "MealReleased", &cc__meal_released__descriptor, s_nop },
        { "OrderCancelled", &cc__order_cancelled__descriptor, s_nop },
        { NULL, NULL, NULL },
    };
    cc_rt_consumer_t cons[] = { { "orderd", "tcp://127.0.0.1:9081", 0, good },
                                { NULL, NULL, 0, NULL } };
    cc_rt_spec_t spec = { .name = "meald", .consumers = cons };
    assert_int_equal(cc_rt_check_grants(&spec), 0);
    cons[0].table = extra;
    assert_int_equal(cc_rt_check_grants(&spec), -1);
    cons[0].table = missing;
    assert_int_equal(cc_rt_check_grants(&spec), -1);
    /* A daemon no log grants anything to may consume nothing. */
    cons[0].table = good;
    spec.name = "telephony";
    assert_int_equal(cc_rt_check_grants(&spec), -1);
}

int
main(void)
{
    cc_log_init("test", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_notify_no_socket, s_teardown),
        cmocka_unit_test_teardown(test_notify_path, s_teardown),
        cmocka_unit_test_teardown(test_notify_abstract, s_teardown),
        cmocka_unit_test_teardown(test_notify_bad_address, s_teardown),
        cmocka_unit_test(test_consumer_tables_match_grants),
    };
    return cmocka_run_group_tests_name("cc_rt", tests, NULL, NULL);
}
