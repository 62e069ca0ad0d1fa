/* Tests for cc_config: each layer, precedence, --help and every error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cc_config.h"

static char *s_db;
static char *s_addr;
static int64_t s_port;
static int64_t s_batch;
static bool s_verbose;

static cc_cfg_param_t s_params[] = {
    { "db", CC_CFG_STR, &s_db, "dbname=eldercare", "PostgreSQL conninfo", .flags = 0 },
    { "http-addr", CC_CFG_STR, &s_addr, NULL, "HTTP listen address", .flags = 0 },
    { "http-port", CC_CFG_INT, &s_port, "8081", "HTTP listen port", .flags = 0 },
    { "batch-max", CC_CFG_INT, &s_batch, NULL, "statements per batch", .flags = 0 },
    { "verbose", CC_CFG_BOOL, &s_verbose, "false", "chatty logs", .flags = 0 },
    { NULL, 0, NULL, NULL, NULL, .flags = 0 },
};

/* Capture of one fd (1 or 2) into a temp file while a load runs. */
typedef struct {
    int fd;
    int saved;
    FILE *file;
} s_capture_t;

static void
s_capture_start(s_capture_t *c, int fd)
{
    fflush(fd == 1 ? stdout : stderr);
    c->fd = fd;
    c->file = tmpfile();
    assert_non_null(c->file);
    c->saved = dup(fd);
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(c->file), fd) >= 0);
}

/* Returns the captured text (caller frees) and restores the fd. */
static char *
s_capture_end(s_capture_t *c)
{
    fflush(c->fd == 1 ? stdout : stderr);
    assert_true(dup2(c->saved, c->fd) >= 0);
    close(c->saved);
    fseek(c->file, 0, SEEK_END);
    long n = ftell(c->file);
    assert_true(n >= 0);
    char *text = calloc(1, (size_t) n + 1);
    assert_non_null(text);
    rewind(c->file);
    assert_int_equal(fread(text, 1, (size_t) n, c->file), (size_t) n);
    fclose(c->file);
    return text;
}

static int
s_reset(void **state)
{
    (void) state;
    s_db = s_addr = NULL;
    s_port = s_batch = -1;
    s_verbose = true;
    unsetenv("TESTD_DB");
    unsetenv("TESTD_HTTP_PORT");
    unsetenv("TESTD_HTTP_ADDR");
    unsetenv("TESTD_VERBOSE");
    unsetenv("TESTD_CONFIG");
    unsetenv("CC_CONFIG");
    return 0;
}

static int
s_cleanup(void **state)
{
    (void) state;
    cc_config_free(s_params);
    assert_null(s_db);
    assert_null(s_addr);
    return 0;
}

/* Load with a NULL-terminated list of arguments after argv[0]. */
static int
s_load(const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *) "testd";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        assert_true(argc < 31);
        argv[argc++] = (char *) a;
    }
    va_end(ap);
    argv[argc] = NULL;
    return cc_config_load(s_params, "testd", "Test daemon.", argc, argv);
}

/* Load expecting -1 with a stderr message containing each needle. */
static void
s_expect_error(const char *needle1, const char *needle2, const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *) "testd";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *))
        argv[argc++] = (char *) a;
    va_end(ap);
    argv[argc] = NULL;
    s_capture_t c;
    s_capture_start(&c, 2);
    int rc = cc_config_load(s_params, "testd", "Test daemon.", argc, argv);
    char *err = s_capture_end(&c);
    if (rc != -1)
        fail_msg("expected -1, got %d", rc);
    if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
        fail_msg("message \"%s\" lacks \"%s\" / \"%s\"", err, needle1, needle2);
    free(err);
    /* Nothing left allocated after an error. */
    assert_null(s_db);
    assert_null(s_addr);
}

static char s_path[64];

static void
s_write_file(const char *text)
{
    strcpy(s_path, "/tmp/cc_config_test_XXXXXX");
    int fd = mkstemp(s_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
}

static void
test_defaults(void **state)
{
    (void) state;
    assert_int_equal(s_load(NULL), 0);
    assert_string_equal(s_db, "dbname=eldercare");
    assert_string_equal(s_addr, "");            /* NULL default -> "" */
    assert_int_equal(s_port, 8081);
    assert_int_equal(s_batch, 0);               /* NULL default -> 0 */
    assert_false(s_verbose);
}

static void
test_file(void **state)
{
    (void) state;
    s_write_file("# comment\n"
                 "\n"
                 "  http-port = 9000  \n"
                 "; other comment\n"
                 "db = \"host=/tmp dbname=x\"\n"
                 "http-addr='127.0.0.2'\n"
                 "verbose = yes\n");
    assert_int_equal(s_load("--config", s_path, NULL), 0);
    assert_int_equal(s_port, 9000);
    assert_string_equal(s_db, "host=/tmp dbname=x");
    assert_string_equal(s_addr, "127.0.0.2");
    assert_true(s_verbose);
    cc_config_free(s_params);

    /* --config=FILE form, and the env fallbacks. */
    assert_int_equal(s_load("--config=", NULL), 0);
    assert_int_equal(s_port, 8081);
    cc_config_free(s_params);
    char arg[128];
    snprintf(arg, sizeof arg, "--config=%s", s_path);
    assert_int_equal(s_load(arg, NULL), 0);
    assert_int_equal(s_port, 9000);
    cc_config_free(s_params);
    setenv("TESTD_CONFIG", s_path, 1);
    assert_int_equal(s_load(NULL), 0);
    assert_int_equal(s_port, 9000);
    cc_config_free(s_params);
    unsetenv("TESTD_CONFIG");
    setenv("CC_CONFIG", s_path, 1);
    assert_int_equal(s_load(NULL), 0);
    assert_int_equal(s_port, 9000);
    unlink(s_path);
}

static void
test_env(void **state)
{
    (void) state;
    s_write_file("http-port = 9000\ndb = fromfile\n");
    setenv("TESTD_HTTP_PORT", "9100", 1);
    setenv("TESTD_HTTP_ADDR", "", 1);   /* set but empty is a value */
    setenv("TESTD_VERBOSE", "on", 1);
    assert_int_equal(s_load("--config", s_path, NULL), 0);
    assert_int_equal(s_port, 9100);             /* env beats file */
    assert_string_equal(s_db, "fromfile");      /* file beats default */
    assert_string_equal(s_addr, "");
    assert_true(s_verbose);
    unlink(s_path);
}

static void
test_flags(void **state)
{
    (void) state;
    s_write_file("http-port = 9000\n");
    setenv("TESTD_HTTP_PORT", "9100", 1);
    setenv("TESTD_VERBOSE", "true", 1);
    assert_int_equal(s_load("--config", s_path, "--http-port=9200", "--db", "dbname=flag",
                            "--no-verbose", "--batch-max", "-5", NULL), 0);
    assert_int_equal(s_port, 9200);             /* flag beats env */
    assert_string_equal(s_db, "dbname=flag");
    assert_false(s_verbose);
    assert_int_equal(s_batch, -5);
    cc_config_free(s_params);

    /* A bare bool flag is true; explicit values; last flag wins. */
    assert_int_equal(s_load("--verbose", "--http-port=1", "--http-port=2", NULL), 0);
    assert_true(s_verbose);
    assert_int_equal(s_port, 2);
    cc_config_free(s_params);
    assert_int_equal(s_load("--verbose=0", "--http-addr=", NULL), 0);
    assert_false(s_verbose);
    assert_string_equal(s_addr, "");
    unlink(s_path);
}

static void
test_help(void **state)
{
    (void) state;
    s_capture_t c;
    s_capture_start(&c, 1);
    int rc = s_load("--http-port=1", "--help", NULL);
    char *out = s_capture_end(&c);
    assert_int_equal(rc, 1);
    assert_null(s_db);
    const char *want[] = { "Usage: testd", "Test daemon.", "--db=TEXT", "PostgreSQL conninfo",
                           "default: dbname=eldercare", "env TESTD_DB", "--http-port=INT",
                           "default: 8081", "env TESTD_HTTP_PORT", "--verbose=BOOL",
                           "chatty logs", "--http-addr=TEXT", "--batch-max=INT",
                           "statements per batch", "--config=FILE", "--help" };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(out, want[i]))
            fail_msg("help lacks \"%s\":\n%s", want[i], out);
    free(out);

    s_capture_start(&c, 1);
    rc = s_load("-h", NULL);
    out = s_capture_end(&c);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "--http-port"));
    free(out);
}

static void
test_errors(void **state)
{
    (void) state;
    s_expect_error("--bogus", "unknown", "--bogus=1", NULL);
    s_expect_error("--no-db", "unknown", "--no-db", NULL);
    s_expect_error("http-port", "'80x'", "--http-port=80x", NULL);
    s_expect_error("http-port", "integer", "--http-port", "", NULL);
    s_expect_error("http-port", "integer", "--http-port", "99999999999999999999", NULL);
    s_expect_error("--http-port", "needs a value", "--http-port", NULL);
    s_expect_error("--config", "needs a value", "--config", NULL);
    s_expect_error("verbose", "'maybe'", "--verbose=maybe", NULL);
    s_expect_error("unexpected argument", "stray", "stray", NULL);
    s_expect_error("unexpected argument", "'-x'", "-x", NULL);

    setenv("TESTD_HTTP_PORT", "eighty", 1);
    s_expect_error("TESTD_HTTP_PORT", "http-port", NULL);
    unsetenv("TESTD_HTTP_PORT");

    s_expect_error("cannot open config file", "/nonexistent/x.conf",
                   "--config", "/nonexistent/x.conf", NULL);
    s_write_file("db = x\nhttp-prot = 1\n");
    s_expect_error(":2", "'http-prot'", "--config", s_path, NULL);
    unlink(s_path);
    s_write_file("db = x\nhttp-port = 12a\n");
    s_expect_error(":2", "http-port", "--config", s_path, NULL);
    unlink(s_path);
    s_write_file("just words\n");
    s_expect_error(":1", "name = value", "--config", s_path, NULL);
    unlink(s_path);
}

/* ---- rules: ranges, choices, non-empty ---------------------------------- */

static char *s_mode, *s_name;
static int64_t s_workers, s_free;

static cc_cfg_param_t s_rules[] = {
    { "workers", CC_CFG_INT, &s_workers, "4", "worker count", .min = 1, .max = 64 },
    { "mode", CC_CFG_STR, &s_mode, "fast", "how", .choices = "fast|safe|a" },
    { "name", CC_CFG_STR, &s_name, "n", "a name", .flags = CC_CFG_NONEMPTY },
    /* min == max: no range. */
    { "free", CC_CFG_INT, &s_free, "0", "anything", .min = 0, .max = 0 },
    { NULL, 0, NULL, NULL, NULL, .flags = 0 },
};

/* Load s_rules; with stderr captured into *err (caller frees). */
static int
s_rules_load(char **err, const char *a1, const char *a2)
{
    char *argv[] = { (char *) "testr", (char *) a1, (char *) a2, NULL };
    int argc = 1 + (a1 != NULL) + (a1 && a2);
    s_capture_t c;
    s_capture_start(&c, 2);
    int rc = cc_config_load(s_rules, "testr", "Rules.", argc, argv);
    *err = s_capture_end(&c);
    return rc;
}

static void
s_rules_ok(const char *a1, const char *a2)
{
    char *err;
    int rc = s_rules_load(&err, a1, a2);
    if (rc != 0)
        fail_msg("%s %s: got %d: %s", a1, a2 ? a2 : "", rc, err);
    free(err);
}

static void
s_rules_bad(const char *a1, const char *needle1, const char *needle2)
{
    char *err;
    int rc = s_rules_load(&err, a1, NULL);
    if (rc != -1)
        fail_msg("%s: got %d, want -1", a1 ? a1 : "(env)", rc);
    if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
        fail_msg("message \"%s\" lacks \"%s\" / \"%s\"", err, needle1, needle2);
    free(err);
    assert_null(s_mode);       /* everything freed */
    assert_null(s_name);
}

static int
s_rules_reset(void **state)
{
    (void) state;
    unsetenv("TESTR_WORKERS");
    unsetenv("TESTR_CONFIG");
    unsetenv("CC_CONFIG");
    s_mode = s_name = NULL;
    return 0;
}

static int
s_rules_cleanup(void **state)
{
    (void) state;
    cc_config_free(s_rules);
    unsetenv("TESTR_WORKERS");
    return 0;
}

static void
test_rules_range(void **state)
{
    (void) state;
    s_rules_ok(NULL, NULL);
    assert_int_equal(s_workers, 4);
    cc_config_free(s_rules);
    s_rules_ok("--workers=1", NULL);
    assert_int_equal(s_workers, 1);
    cc_config_free(s_rules);
    s_rules_ok("--workers", "64");
    assert_int_equal(s_workers, 64);
    cc_config_free(s_rules);
    s_rules_bad("--workers=0", "--workers must be 1..64", "got 0");
    s_rules_bad("--workers=65", "--workers must be 1..64", "got 65");
    s_rules_bad("--workers=-9223372036854775808", "--workers", "1..64");
    /* From the environment too: the final value is checked. */
    setenv("TESTR_WORKERS", "100", 1);
    s_rules_bad(NULL, "--workers must be 1..64", "got 100");
    /* A flag overriding a bad env value is fine. */
    s_rules_ok("--workers=2", NULL);
    assert_int_equal(s_workers, 2);
    cc_config_free(s_rules);
    unsetenv("TESTR_WORKERS");
    /* No range when min == max. */
    s_rules_ok("--free=-5", NULL);
    assert_int_equal(s_free, -5);
}

static void
test_rules_choices_nonempty(void **state)
{
    (void) state;
    const char *good[] = { "--mode=fast", "--mode=safe", "--mode=a" };
    for (size_t i = 0; i < 3; i++) {
        s_rules_ok(good[i], NULL);
        assert_string_equal(s_mode, good[i] + 7);
        cc_config_free(s_rules);
    }
    /* Whole words only. */
    const char *bad[] = { "--mode=fas", "--mode=fastest", "--mode=", "--mode=fast|safe",
                          "--mode=FAST", "--mode=|" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        s_rules_bad(bad[i], "--mode must be one of fast|safe|a", "(got '");
    s_rules_bad("--name=", "--name must not be empty", NULL);
    s_rules_ok("--name= ", NULL);      /* a space is not empty */
}

static void
test_rules_help(void **state)
{
    (void) state;
    char *argv[] = { (char *) "testr", (char *) "--help", NULL };
    s_capture_t c;
    s_capture_start(&c, 1);
    int rc = cc_config_load(s_rules, "testr", "Rules.", 2, argv);
    char *out = s_capture_end(&c);
    assert_int_equal(rc, 1);
    const char *want[] = { "--workers=INT", "worker count (1..64; default: 4; env TESTR_WORKERS)",
                           "how (fast|safe|a; default: fast;", "a name (default: n;",
                           "anything (default: 0;" };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(out, want[i]))
            fail_msg("help lacks \"%s\":\n%s", want[i], out);
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, s_reset, s_cleanup),
        cmocka_unit_test_setup_teardown(test_file, s_reset, s_cleanup),
        cmocka_unit_test_setup_teardown(test_env, s_reset, s_cleanup),
        cmocka_unit_test_setup_teardown(test_flags, s_reset, s_cleanup),
        cmocka_unit_test_setup_teardown(test_help, s_reset, s_cleanup),
        cmocka_unit_test_setup_teardown(test_errors, s_reset, s_cleanup),
        cmocka_unit_test_setup_teardown(test_rules_range, s_rules_reset, s_rules_cleanup),
        cmocka_unit_test_setup_teardown(test_rules_choices_nonempty, s_rules_reset,
                                        s_rules_cleanup),
        cmocka_unit_test_setup_teardown(test_rules_help, s_rules_reset, s_rules_cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
