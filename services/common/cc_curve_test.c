/* Tests for cc_curve: key files as tools/keygen.py writes them, and the
 * secret key file's permission rule. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "cc_curve.h"

static char s_dir[64];
static char s_pub[CC_CURVE_Z85_LEN + 1], s_sec[CC_CURVE_Z85_LEN + 1];

static void s_write(const char *name, const char *text, mode_t mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static int s_setup(void **state)
{
    (void) state;
    snprintf(s_dir, sizeof s_dir, "/tmp/cc-curve-test-XXXXXX");
    if (!mkdtemp(s_dir))
        return -1;
    return zmq_curve_keypair(s_pub, s_sec);
}

static int s_teardown(void **state)
{
    (void) state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_names_and_keys(void **state)
{
    (void) state;
    assert_true(cc_curve_name_valid("orderd"));
    assert_true(cc_curve_name_valid("telephony-2_b"));
    assert_false(cc_curve_name_valid(""));
    assert_false(cc_curve_name_valid("../etc/passwd"));
    assert_false(cc_curve_name_valid("Orderd"));
    assert_false(cc_curve_name_valid("a23456789012345678901234567890123"));
    assert_true(cc_curve_key_valid(s_pub));
    assert_false(cc_curve_key_valid("short"));
    char bad[41];
    memcpy(bad, s_pub, 41);
    bad[5] = '"';   /* not in the Z85 alphabet */
    assert_false(cc_curve_key_valid(bad));
    char path[64];
    assert_int_equal(cc_curve_path(path, sizeof path, "/k", "orderd", "pub"), 0);
    assert_string_equal(path, "/k/orderd.pub");
    assert_int_equal(cc_curve_path(path, sizeof path, "/k", "../x", "pub"), -1);
    assert_int_equal(cc_curve_path(path, 8, "/k", "orderd", "pub"), -1);
}

static void test_public(void **state)
{
    (void) state;
    char line[64], path[256], out[41], why[128];
    snprintf(line, sizeof line, "%s\n", s_pub);
    s_write("a.pub", line, 0644);
    snprintf(path, sizeof path, "%s/a.pub", s_dir);
    assert_int_equal(cc_curve_read_public(path, out, why, sizeof why), 0);
    assert_string_equal(out, s_pub);
    s_write("b.pub", "not a key\n", 0644);
    snprintf(path, sizeof path, "%s/b.pub", s_dir);
    assert_int_equal(cc_curve_read_public(path, out, why, sizeof why), -1);
    assert_non_null(strstr(why, "Z85"));
    /* A key followed by more text is not a key file. */
    snprintf(line, sizeof line, "%s%s", s_pub, "x");
    s_write("c.pub", line, 0644);
    snprintf(path, sizeof path, "%s/c.pub", s_dir);
    assert_int_equal(cc_curve_read_public(path, out, why, sizeof why), -1);
    snprintf(path, sizeof path, "%s/none.pub", s_dir);
    assert_int_equal(cc_curve_read_public(path, out, why, sizeof why), -1);
    assert_non_null(strstr(why, "cannot open"));
}

static void test_secret(void **state)
{
    (void) state;
    char line[64], path[256], why[128];
    cc_curve_pair_t pair;
    snprintf(line, sizeof line, "%s\n", s_sec);
    snprintf(path, sizeof path, "%s/me.key", s_dir);
    s_write("me.key", line, 0600);
    assert_int_equal(cc_curve_read_secret(path, &pair, why, sizeof why), 0);
    assert_string_equal(pair.secret_key, s_sec);
    assert_string_equal(pair.public_key, s_pub);   /* derived */
    cc_curve_wipe(&pair);
    assert_int_equal(pair.secret_key[0], 0);
    s_write("me.key", line, 0400);
    assert_int_equal(cc_curve_read_secret(path, &pair, why, sizeof why), 0);
    /* Any group or other bit is refused, and nothing is kept. */
    mode_t bad[] = { 0640, 0604, 0644, 0660, 0610 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_write("me.key", line, bad[i]);
        assert_int_equal(cc_curve_read_secret(path, &pair, why, sizeof why), -1);
        assert_non_null(strstr(why, "chmod 0600"));
        assert_int_equal(pair.secret_key[0], 0);
        assert_int_equal(pair.public_key[0], 0);
    }
    /* A symlink to a good file is refused: the checks are of the file. */
    s_write("real.key", line, 0600);
    char real[256];
    snprintf(real, sizeof real, "%s/real.key", s_dir);
    snprintf(path, sizeof path, "%s/link.key", s_dir);
    assert_int_equal(symlink(real, path), 0);
    assert_int_equal(cc_curve_read_secret(path, &pair, why, sizeof why), -1);
    /* A directory is not a key. */
    assert_int_equal(cc_curve_read_secret(s_dir, &pair, why, sizeof why), -1);
    s_write("junk.key", "0123456789\n", 0600);
    snprintf(path, sizeof path, "%s/junk.key", s_dir);
    assert_int_equal(cc_curve_read_secret(path, &pair, why, sizeof why), -1);
}

static void test_fingerprint(void **state)
{
    (void) state;
    uint8_t raw[32] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3 };
    char fp[9];
    cc_curve_fingerprint(raw, fp);
    assert_string_equal(fp, "deadbeef");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_keys),
        cmocka_unit_test(test_public),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_fingerprint),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
