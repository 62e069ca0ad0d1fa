/* Unit tests for od_pii: sealing binds row and column, rotation opens old
 * values, the blind index compares normal forms, key files are checked. */
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
#include "od_pii.h"

static const char *E1 = "0f4d3c3e-8c0b-4a53-9d5e-2a1f3b9c7d10";
static const char *E2 = "1a2b3c4d-8c0b-4a53-9d5e-2a1f3b9c7d10";

static void s_key(uint8_t k[OD_PII_KEY_LEN], uint8_t fill)
{
    memset(k, fill, OD_PII_KEY_LEN);
}

static od_pii_t *s_ring(uint8_t active, int old, uint8_t index)
{
    uint8_t a[OD_PII_KEY_LEN], o[OD_PII_KEY_LEN], x[OD_PII_KEY_LEN];
    s_key(a, active);
    s_key(o, (uint8_t)old);
    s_key(x, index);
    od_pii_t *p = od_pii_new(a, old >= 0 ? o : NULL, x);
    assert_non_null(p);
    return p;
}

static void test_round_trip_binds_row_and_column(void **state)
{
    (void)state;
    od_pii_t *p = s_ring(1, -1, 9);
    const char *phone = "13912345678";
    size_t n = 0;
    uint8_t *b = od_pii_seal(p, E1, "phone", phone, strlen(phone), &n);
    assert_non_null(b);
    assert_int_equal(n, strlen(phone) + OD_PII_OVERHEAD);
    assert_null(memmem(b, n, phone, strlen(phone)));
    char *s = od_pii_open(p, E1, "phone", b, n);
    assert_non_null(s);
    assert_string_equal(s, phone);
    free(s);
    /* Another row, another column: does not open. */
    assert_null(od_pii_open(p, E2, "phone", b, n));
    assert_null(od_pii_open(p, E1, "address", b, n));
    /* Tampered, truncated: does not open. */
    b[n - 1] ^= 1;
    assert_null(od_pii_open(p, E1, "phone", b, n));
    b[n - 1] ^= 1;
    assert_null(od_pii_open(p, E1, "phone", b, n - 1));
    assert_null(od_pii_open(p, E1, "phone", b, 3));
    /* A fresh nonce each time: the same value seals differently. */
    size_t n2 = 0;
    uint8_t *b2 = od_pii_seal(p, E1, "phone", phone, strlen(phone), &n2);
    assert_int_equal(n, n2);
    assert_memory_not_equal(b, b2, n);
    free(b2);
    /* Empty values seal and open too. */
    uint8_t *e = od_pii_seal(p, E1, "name", "", 0, &n2);
    s = od_pii_open(p, E1, "name", e, n2);
    assert_string_equal(s, "");
    free(s);
    free(e);
    free(b);
    od_pii_destroy(&p);
    assert_null(p);
    od_pii_destroy(&p);
}

static void test_rotation(void **state)
{
    (void)state;
    od_pii_t *a = s_ring(1, -1, 9);
    size_t n = 0;
    uint8_t *b = od_pii_seal(a, E1, "address", "某街道3号", strlen("某街道3号"), &n);
    int32_t kid = 0;
    assert_int_equal(od_pii_blob_key(b, n, &kid), 0);
    assert_int_equal(kid, od_pii_active_id(a));
    /* New active key, the old one kept: the old value opens. */
    od_pii_t *ba = s_ring(2, 1, 9);
    assert_true(od_pii_has_old(ba));
    assert_int_equal(od_pii_old_id(ba), od_pii_active_id(a));
    assert_true(od_pii_knows(ba, kid));
    char *s = od_pii_open(ba, E1, "address", b, n);
    assert_string_equal(s, "某街道3号");
    /* Re-sealed under the new key, the old key is no longer needed. */
    size_t n2 = 0;
    uint8_t *b2 = od_pii_seal(ba, E1, "address", s, strlen(s), &n2);
    free(s);
    od_pii_t *bonly = s_ring(2, -1, 9);
    assert_false(od_pii_knows(bonly, kid));
    assert_null(od_pii_open(bonly, E1, "address", b, n));
    s = od_pii_open(bonly, E1, "address", b2, n2);
    assert_string_equal(s, "某街道3号");
    free(s);
    /* The blind index does not depend on the data key. */
    uint8_t i1[OD_PII_IDX_LEN], i2[OD_PII_IDX_LEN];
    od_pii_index(a, "phone", "139 1234 5678", i1);
    od_pii_index(bonly, "phone", "13912345678", i2);
    assert_memory_equal(i1, i2, OD_PII_IDX_LEN);
    free(b);
    free(b2);
    od_pii_destroy(&a);
    od_pii_destroy(&ba);
    od_pii_destroy(&bonly);
}

static void test_index(void **state)
{
    (void)state;
    od_pii_t *p = s_ring(1, -1, 9), *q = s_ring(1, -1, 8);
    uint8_t a[OD_PII_IDX_LEN], b[OD_PII_IDX_LEN];
    od_pii_index(p, "id_number", "11010119400101001x", a);
    od_pii_index(p, "id_number", "11010119400101001X", b);
    assert_memory_equal(a, b, OD_PII_IDX_LEN);
    /* Same value, other column or other index key: other index. */
    od_pii_index(p, "phone", "11010119400101001X", b);
    assert_memory_not_equal(a, b, OD_PII_IDX_LEN);
    od_pii_index(q, "id_number", "11010119400101001X", b);
    assert_memory_not_equal(a, b, OD_PII_IDX_LEN);
    char out[32];
    assert_string_equal(od_pii_norm("phone", "+86 139-1234-5678", out, sizeof out),
                        "+8613912345678");
    assert_string_equal(od_pii_norm("id_number", " 11010119400101001x", out, sizeof out),
                        "11010119400101001X");
    assert_string_equal(od_pii_norm("address", "a b", out, sizeof out), "a b");
    od_pii_destroy(&p);
    od_pii_destroy(&q);
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
    char dir[] = "/tmp/od_pii_test.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[64], o[64], x[64], bad[64], lnk[64];
    snprintf(a, sizeof a, "%s/pii.key", dir);
    snprintf(o, sizeof o, "%s/old.key", dir);
    snprintf(x, sizeof x, "%s/idx.key", dir);
    snprintf(bad, sizeof bad, "%s/bad.key", dir);
    snprintf(lnk, sizeof lnk, "%s/link.key", dir);
    uint8_t k[OD_PII_KEY_LEN];
    s_key(k, 1);
    s_write(a, k, sizeof k, 0600);
    s_key(k, 2);
    s_write(o, k, sizeof k, 0400);
    s_key(k, 3);
    s_write(x, k, sizeof k, 0600);
    char why[256];
    od_pii_t *p = od_pii_load(a, o, x, why, sizeof why);
    assert_non_null(p);
    assert_true(od_pii_has_old(p));
    od_pii_destroy(&p);
    p = od_pii_load(a, "", x, why, sizeof why);
    assert_non_null(p);
    assert_false(od_pii_has_old(p));
    od_pii_destroy(&p);
    /* Readable by others, wrong size, missing, a symlink, index = data key,
     * old = active: refused, naming the file. */
    s_write(bad, k, sizeof k, 0644);
    assert_null(od_pii_load(bad, NULL, x, why, sizeof why));
    assert_non_null(strstr(why, "mode 0644"));
    s_write(bad, k, 31, 0600);
    assert_null(od_pii_load(a, bad, x, why, sizeof why));
    assert_non_null(strstr(why, "31 bytes"));
    unlink(bad);
    assert_null(od_pii_load(bad, NULL, x, why, sizeof why));
    assert_non_null(strstr(why, bad));
    assert_int_equal(symlink(a, lnk), 0);
    assert_null(od_pii_load(lnk, NULL, x, why, sizeof why));
    assert_null(od_pii_load(a, NULL, a, why, sizeof why));
    assert_non_null(strstr(why, "index key"));
    assert_null(od_pii_load(a, a, x, why, sizeof why));
    assert_null(od_pii_load(NULL, NULL, x, why, sizeof why));
    unlink(lnk);
    unlink(a);
    unlink(o);
    unlink(x);
    rmdir(dir);
}

/* A value sealed by od_pii before it moved onto cc_seal (keys 0x01.. and
 * 0x09..): values already stored must keep opening after the move. */
static void test_opens_values_sealed_before(void **state)
{
    (void)state;
    static const uint8_t old[] =
        "\x01\x12\xcd\xe3\x3c\x40\x43\x7e\x22\xa4\x6d\x86\x16\x4f\xd6\xe8\x44\x56\xf4\xa0"
        "\xaa\x3b\xd2\x7f\xd5\x4e\x85\xc0\x81\xf9\xf7\x0f\xb1\xc2\x4f\xff\x99\x15\xe9\xbd"
        "\xb9\xdc\x6c\x91\xee\xb2\xad\x99\x6e\x6a\xda\x40\x55\x70\x54\x85\xf2\xa1";
    od_pii_t *p = s_ring(1, -1, 9);
    char *s = od_pii_open(p, E1, "address", old, sizeof old - 1);
    assert_non_null(s);
    assert_string_equal(s, "某街道3号");
    free(s);
    assert_null(od_pii_open(p, E1, "phone", old, sizeof old - 1));
    od_pii_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_binds_row_and_column),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_index),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_opens_values_sealed_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
