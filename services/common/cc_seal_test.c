/* Unit tests for cc_seal: a value opens only with its key and its
 * associated data, whole and untouched; rotation opens old values; key
 * files are checked; an address sealed for one order and one daemon opens
 * for that pair only. Each refusal is a planted violation of "opens". */
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
#include "cc_seal.h"

static const char *O1 = "0f4d3c3e-8c0b-4a53-9d5e-2a1f3b9c7d10";
static const char *O2 = "1a2b3c4d-8c0b-4a53-9d5e-2a1f3b9c7d10";
static const char ADDR[] = "杭州市西湖区某街道3号";

static cc_seal_t *s_ring(int active, int old)
{
    uint8_t a[CC_SEAL_KEY_LEN], o[CC_SEAL_KEY_LEN];
    memset(a, active, sizeof a);
    memset(o, old, sizeof o);
    cc_seal_t *s = cc_seal_new(a, old >= 0 ? o : NULL);
    assert_non_null(s);
    return s;
}

static void test_round_trip_and_refusals(void **state)
{
    (void)state;
    cc_seal_t *k = s_ring(1, -1), *other = s_ring(2, -1);
    static const char ad[] = "row-1\0col";
    size_t n = 0;
    uint8_t *b = cc_seal(k, ad, sizeof ad, ADDR, strlen(ADDR), &n);
    assert_non_null(b);
    assert_int_equal(n, strlen(ADDR) + CC_SEAL_OVERHEAD);
    assert_null(memmem(b, n, ADDR, strlen(ADDR)));
    int32_t kid = 0;
    assert_int_equal(cc_seal_blob_key(b, n, &kid), 0);
    assert_int_equal(kid, cc_seal_active_id(k));
    char *s = cc_seal_open(k, ad, sizeof ad, b, n);
    assert_non_null(s);
    assert_string_equal(s, ADDR);
    free(s);
    /* Wrong key: refused. */
    assert_null(cc_seal_open(other, ad, sizeof ad, b, n));
    /* Wrong associated data: another value, a prefix, none. */
    static const char ad2[] = "row-2\0col";
    assert_null(cc_seal_open(k, ad2, sizeof ad2, b, n));
    assert_null(cc_seal_open(k, ad, sizeof ad - 1, b, n));
    assert_null(cc_seal_open(k, NULL, 0, b, n));
    /* Truncated: every length short of the whole. */
    for (size_t len = 0; len < n; len++)
        assert_null(cc_seal_open(k, ad, sizeof ad, b, len));
    /* One flipped bit anywhere (version, key id, nonce, ciphertext, tag). */
    for (size_t i = 0; i < n; i++) {
        b[i] ^= 0x20;
        assert_null(cc_seal_open(k, ad, sizeof ad, b, n));
        b[i] ^= 0x20;
    }
    /* Untouched again: opens (the loops above restored every byte). */
    s = cc_seal_open(k, ad, sizeof ad, b, n);
    assert_string_equal(s, ADDR);
    free(s);
    /* A fresh nonce each time; too long associated data is refused. */
    size_t n2 = 0;
    uint8_t *b2 = cc_seal(k, ad, sizeof ad, ADDR, strlen(ADDR), &n2);
    assert_int_equal(n, n2);
    assert_memory_not_equal(b, b2, n);
    char big[CC_SEAL_AD_MAX + 1] = { 0 };
    assert_null(cc_seal(k, big, sizeof big, "x", 1, &n2));
    free(b2);
    free(b);
    cc_seal_destroy(&k);
    cc_seal_destroy(&other);
    assert_null(k);
    cc_seal_destroy(&k);
}

static void test_rotation(void **state)
{
    (void)state;
    cc_seal_t *a = s_ring(1, -1), *ba = s_ring(2, 1), *bonly = s_ring(2, -1);
    size_t n = 0;
    uint8_t *b = cc_seal(a, "x", 1, "v", 1, &n);
    assert_true(cc_seal_has_old(ba));
    assert_false(cc_seal_has_old(bonly));
    assert_int_equal(cc_seal_old_id(ba), cc_seal_active_id(a));
    assert_int_equal(cc_seal_old_id(bonly), 0);
    char *s = cc_seal_open(ba, "x", 1, b, n);
    assert_string_equal(s, "v");
    free(s);
    assert_null(cc_seal_open(bonly, "x", 1, b, n));
    /* The same key as active and old: refused. */
    uint8_t k[CC_SEAL_KEY_LEN];
    memset(k, 3, sizeof k);
    assert_null(cc_seal_new(k, k));
    free(b);
    cc_seal_destroy(&a);
    cc_seal_destroy(&ba);
    cc_seal_destroy(&bonly);
}

static void test_address(void **state)
{
    (void)state;
    cc_seal_t *d = s_ring(4, -1), *m = s_ring(5, -1);
    size_t n = 0;
    uint8_t *b = cc_seal_address(d, "dispatchd", O1, ADDR, &n);
    assert_non_null(b);
    char buf[CC_SEAL_AD_MAX];
    assert_int_equal(cc_seal_address_open(d, "dispatchd", O1, b, n, buf, sizeof buf), 0);
    assert_string_equal(buf, ADDR);
    /* Another order, another consumer's name, another consumer's key. */
    assert_int_equal(cc_seal_address_open(d, "dispatchd", O2, b, n, buf, sizeof buf), -1);
    assert_string_equal(buf, "");
    assert_int_equal(cc_seal_address_open(d, "meald", O1, b, n, buf, sizeof buf), -1);
    assert_int_equal(cc_seal_address_open(m, "dispatchd", O1, b, n, buf, sizeof buf), -1);
    /* No address, no keyring, a buffer too small: -1 and "". */
    assert_int_equal(cc_seal_address_open(d, "dispatchd", O1, NULL, 0, buf, sizeof buf), -1);
    assert_int_equal(cc_seal_address_open(NULL, "dispatchd", O1, b, n, buf, sizeof buf), -1);
    assert_int_equal(cc_seal_address_open(d, "dispatchd", O1, b, n, buf, 5), -1);
    assert_string_equal(buf, "");
    free(b);
    cc_seal_destroy(&d);
    cc_seal_destroy(&m);
}

static void s_write(const char *path, const void *data, size_t len, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    chmod(path, mode);
}

static void test_key_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/cc_seal_test.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[64], o[64], bad[64], lnk[64];
    snprintf(a, sizeof a, "%s/a.key", dir);
    snprintf(o, sizeof o, "%s/o.key", dir);
    snprintf(bad, sizeof bad, "%s/bad.key", dir);
    snprintf(lnk, sizeof lnk, "%s/link.key", dir);
    uint8_t k[CC_SEAL_KEY_LEN];
    memset(k, 1, sizeof k);
    s_write(a, k, sizeof k, 0600);
    memset(k, 2, sizeof k);
    s_write(o, k, sizeof k, 0400);
    char why[256];
    cc_seal_t *s = cc_seal_load(a, o, why, sizeof why);
    assert_non_null(s);
    assert_true(cc_seal_has_old(s));
    cc_seal_destroy(&s);
    s = cc_seal_load(a, "", why, sizeof why);
    assert_non_null(s);
    assert_false(cc_seal_has_old(s));
    cc_seal_destroy(&s);
    /* Readable by others, wrong size, missing, a symlink, old = active,
     * none given: refused, naming the file. */
    s_write(bad, k, sizeof k, 0644);
    assert_null(cc_seal_load(bad, NULL, why, sizeof why));
    assert_non_null(strstr(why, "mode 0644"));
    s_write(bad, k, 31, 0600);
    assert_null(cc_seal_load(a, bad, why, sizeof why));
    assert_non_null(strstr(why, "31 bytes"));
    unlink(bad);
    assert_null(cc_seal_load(bad, NULL, why, sizeof why));
    assert_non_null(strstr(why, bad));
    assert_int_equal(symlink(a, lnk), 0);
    assert_null(cc_seal_load(lnk, NULL, why, sizeof why));
    assert_non_null(strstr(why, lnk));
    assert_null(cc_seal_load(a, a, why, sizeof why));
    assert_non_null(strstr(why, "old key is the active key"));
    assert_null(cc_seal_load(NULL, NULL, why, sizeof why));
    unlink(lnk);
    unlink(a);
    unlink(o);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_refusals),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_address),
        cmocka_unit_test(test_key_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
