/* Tests for cc_passwd: Argon2id hashes, constant-time comparison and
 * refresh token hashes. Most hashes use libsodium's minimum cost so the
 * suite stays fast (and fast under ASan); one runs at the default cost. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cc_passwd.h"
#include "cc_util.h"

static const cc_passwd_params_t s_cheap = {
    crypto_pwhash_argon2id_OPSLIMIT_MIN, crypto_pwhash_argon2id_MEMLIMIT_MIN,
};

#define PW "correct horse battery staple"

static void
test_round_trip(void **state)
{
    (void) state;
    char h[CC_PASSWD_HASH_MAX], h2[CC_PASSWD_HASH_MAX];
    assert_int_equal(cc_passwd_hash(PW, strlen(PW), &s_cheap, h), 0);
    assert_true(strncmp(h, "$argon2id$v=19$m=8,t=1,p=1$", 27) == 0);
    assert_int_equal(cc_passwd_verify(h, PW, strlen(PW)), 0);
    /* Wrong: another word, one byte off, a prefix, a longer one. */
    assert_int_equal(cc_passwd_verify(h, "Tr0ub4dor&3", 11), -1);
    assert_int_equal(cc_passwd_verify(h, "correct horse battery staplf", strlen(PW)), -1);
    assert_int_equal(cc_passwd_verify(h, PW, strlen(PW) - 1), -1);
    assert_int_equal(cc_passwd_verify(h, PW "!", strlen(PW) + 1), -1);
    /* A fresh salt each time. */
    assert_int_equal(cc_passwd_hash(PW, strlen(PW), &s_cheap, h2), 0);
    assert_string_not_equal(h, h2);
    assert_int_equal(cc_passwd_verify(h2, PW, strlen(PW)), 0);
    /* Passwords are bytes: a NUL inside counts, UTF-8 is fine. */
    assert_int_equal(cc_passwd_hash("a\0b", 3, &s_cheap, h), 0);
    assert_int_equal(cc_passwd_verify(h, "a\0b", 3), 0);
    assert_int_equal(cc_passwd_verify(h, "a\0c", 3), -1);
    assert_int_equal(cc_passwd_verify(h, "a", 1), -1);
    const char *zh = "\xe5\xaf\x86\xe7\xa0\x81";     /* "password" in Chinese */
    assert_int_equal(cc_passwd_hash(zh, strlen(zh), &s_cheap, h), 0);
    assert_int_equal(cc_passwd_verify(h, zh, strlen(zh)), 0);
}

static void
test_lengths(void **state)
{
    (void) state;
    char h[CC_PASSWD_HASH_MAX];
    static char big[CC_PASSWD_MAX + 1];
    memset(big, 'x', sizeof big);
    assert_int_equal(cc_passwd_hash("", 0, &s_cheap, h), -1);
    assert_int_equal(cc_passwd_hash(NULL, 3, &s_cheap, h), -1);
    assert_int_equal(cc_passwd_hash(big, CC_PASSWD_MAX + 1, &s_cheap, h), -1);
    assert_int_equal(cc_passwd_hash(big, CC_PASSWD_MAX, &s_cheap, h), 0);
    assert_int_equal(cc_passwd_verify(h, big, CC_PASSWD_MAX), 0);
    assert_int_equal(cc_passwd_verify(h, big, CC_PASSWD_MAX + 1), -1);
    assert_int_equal(cc_passwd_verify(h, "", 0), -1);
    /* A cost libsodium refuses. */
    cc_passwd_params_t tiny = {0, 1024};
    assert_int_equal(cc_passwd_hash(PW, strlen(PW), &tiny, h), -1);
}

static void
test_tampered(void **state)
{
    (void) state;
    char h[CC_PASSWD_HASH_MAX];
    assert_int_equal(cc_passwd_hash(PW, strlen(PW), &s_cheap, h), 0);
    size_t n = strlen(h);
    /* Change each character of the string in turn: none may verify. */
    for (size_t i = 0; i < n; i++) {
        char t[CC_PASSWD_HASH_MAX];
        memcpy(t, h, n + 1);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        if (cc_passwd_verify(t, PW, strlen(PW)) == 0)
            fail_msg("char %zu of %s changed: verified", i, h);
    }
    /* Truncated, extended, other algorithm, cost changed, garbage. */
    char t[2 * CC_PASSWD_HASH_MAX];
    memcpy(t, h, n + 1);
    t[n - 1] = '\0';
    assert_int_equal(cc_passwd_verify(t, PW, strlen(PW)), -1);
    snprintf(t, sizeof t, "%sA", h);
    assert_int_equal(cc_passwd_verify(t, PW, strlen(PW)), -1);
    snprintf(t, sizeof t, "$argon2i$%s", h + strlen("$argon2id$"));
    assert_int_equal(cc_passwd_verify(t, PW, strlen(PW)), -1);
    snprintf(t, sizeof t, "$argon2id$v=19$m=9,t=1,p=1$%s", h + 27);
    assert_int_equal(cc_passwd_verify(t, PW, strlen(PW)), -1);
    snprintf(t, sizeof t, "$argon2id$v=19$m=8,t=2,p=1$%s", h + 27);
    assert_int_equal(cc_passwd_verify(t, PW, strlen(PW)), -1);
    assert_int_equal(cc_passwd_verify("", PW, strlen(PW)), -1);
    assert_int_equal(cc_passwd_verify("plaintext", PW, strlen(PW)), -1);
    assert_int_equal(cc_passwd_verify(PW, PW, strlen(PW)), -1);
    /* No NUL within the bound: refused, never read past. */
    memset(t, 'a', sizeof t);
    memcpy(t, h, n);
    t[sizeof t - 1] = '\0';
    assert_int_equal(cc_passwd_verify(t, PW, strlen(PW)), -1);
    assert_int_equal(cc_passwd_needs_rehash(t, NULL), -1);
    memcpy(t, h, n + 1);
    assert_int_equal(cc_passwd_verify(t, PW, strlen(PW)), 0);
}

static void
test_needs_rehash(void **state)
{
    (void) state;
    char h[CC_PASSWD_HASH_MAX];
    assert_int_equal(cc_passwd_hash(PW, strlen(PW), &s_cheap, h), 0);
    assert_int_equal(cc_passwd_needs_rehash(h, &s_cheap), 0);
    assert_int_equal(cc_passwd_needs_rehash(h, NULL), 1);        /* cheaper than default */
    cc_passwd_params_t more_mem = {s_cheap.opslimit, s_cheap.memlimit * 2};
    assert_int_equal(cc_passwd_needs_rehash(h, &more_mem), 1);
    cc_passwd_params_t more_ops = {s_cheap.opslimit + 1, s_cheap.memlimit};
    assert_int_equal(cc_passwd_needs_rehash(h, &more_ops), 1);
    assert_int_equal(cc_passwd_needs_rehash("garbage", NULL), -1);
    assert_int_equal(cc_passwd_needs_rehash("", NULL), -1);
    assert_int_equal(cc_passwd_needs_rehash(NULL, NULL), -1);
    /* An Argon2i hash (libsodium's default before 1.0.15) still verifies,
     * and is due for replacement. */
    char old[CC_PASSWD_HASH_MAX];
    assert_int_equal(crypto_pwhash_argon2i_str(old, PW, strlen(PW), 3, 8192), 0);
    assert_true(strncmp(old, "$argon2i$", 9) == 0);
    assert_int_equal(cc_passwd_verify(old, PW, strlen(PW)), 0);
    assert_int_equal(cc_passwd_verify(old, "x", 1), -1);
    assert_int_equal(cc_passwd_needs_rehash(old, &s_cheap), 1);
}

static double
s_ms(int64_t from_us)
{
    return (double) (cc_mono_us() - from_us) / 1000.0;
}

/* The default cost, once, with its time; and the unknown-account path
 * costs as much (within a loose lower bound: a cheap dummy would take
 * well under a millisecond). */
static void
test_default_cost(void **state)
{
    (void) state;
    char h[CC_PASSWD_HASH_MAX];
    int64_t t0 = cc_mono_us();
    assert_int_equal(cc_passwd_hash(PW, strlen(PW), NULL, h), 0);
    double hash_ms = s_ms(t0);
    assert_non_null(strstr(h, "$argon2id$v=19$m=65536,t=2,p=1$"));
    assert_int_equal(cc_passwd_needs_rehash(h, NULL), 0);
    assert_int_equal(cc_passwd_needs_rehash(h, &cc_passwd_default), 0);
    t0 = cc_mono_us();
    assert_int_equal(cc_passwd_verify(h, PW, strlen(PW)), 0);
    double verify_ms = s_ms(t0);
    t0 = cc_mono_us();
    assert_int_equal(cc_passwd_verify(NULL, PW, strlen(PW)), -1);
    double dummy_ms = s_ms(t0);
    print_message("argon2id t=2 m=64MiB: hash %.0f ms, verify %.0f ms, unknown account %.0f ms\n",
                  hash_ms, verify_ms, dummy_ms);
    assert_true(dummy_ms > verify_ms / 4);
    /* The dummy's password is not a back door. */
    assert_int_equal(cc_passwd_verify(NULL, "unknown account", 15), -1);
}

static void
test_ct_equal(void **state)
{
    (void) state;
    unsigned char a[64], b[64];
    for (int i = 0; i < 64; i++)
        a[i] = b[i] = (unsigned char) i;
    assert_int_equal(cc_ct_equal(a, b, sizeof a), 1);
    assert_int_equal(cc_ct_equal(a, b, 0), 1);
    b[0] ^= 0x80;
    assert_int_equal(cc_ct_equal(a, b, sizeof a), 0);
    assert_int_equal(cc_ct_equal(a + 1, b + 1, sizeof a - 1), 1);
    b[0] ^= 0x80;
    b[63] ^= 0x01;
    assert_int_equal(cc_ct_equal(a, b, sizeof a), 0);
    assert_int_equal(cc_ct_equal(a, b, 63), 1);
}

static void
test_refresh(void **state)
{
    (void) state;
    char tok[CC_REFRESH_TOKEN_LEN + 1], hash[CC_REFRESH_HASH_LEN + 1];
    char tok2[CC_REFRESH_TOKEN_LEN + 1], hash2[CC_REFRESH_HASH_LEN + 1];
    char again[CC_REFRESH_HASH_LEN + 1];
    assert_int_equal(cc_refresh_new(tok, hash), 0);
    assert_int_equal(strlen(tok), 43);
    assert_int_equal(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789-_"), 43);
    assert_int_equal(strlen(hash), 64);
    assert_int_equal(strspn(hash, "0123456789abcdef"), 64);
    /* The client's token hashes to the stored hash; the hash is not the
     * token. */
    assert_int_equal(cc_refresh_hash(tok, strlen(tok), again), 0);
    assert_string_equal(again, hash);
    assert_null(strstr(hash, tok));
    assert_int_equal(cc_refresh_new(tok2, hash2), 0);
    assert_string_not_equal(tok, tok2);
    assert_string_not_equal(hash, hash2);
    /* Known answer, from Python's hashlib (an independent BLAKE2b):
     * hashlib.blake2b(bytes(range(32)), digest_size=32).hexdigest() and
     * hashlib.blake2b(bytes(32), digest_size=32).hexdigest(). */
    assert_int_equal(cc_refresh_hash("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", 43,
                                     again), 0);
    assert_string_equal(again,
                        "cb2f5160fc1f7e05a55ef49d340b48da2e5a78099d53393351cd579dd42503d6");
    assert_int_equal(cc_refresh_hash("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 43, again), 0);
    assert_string_equal(again,
                        "89eb0d6a8a691dae2cd15ed0369931ce0a949ecafa5c3f93f8121833646e15c3");
    /* Malformed: padded, standard alphabet, short, long, non-canonical
     * last char (two spellings of one token would be two hashes). */
    char t[64];
    snprintf(t, sizeof t, "%s=", tok);
    assert_int_equal(cc_refresh_hash(t, strlen(t), again), -1);
    snprintf(t, sizeof t, "+%s", tok + 1);
    assert_int_equal(cc_refresh_hash(t, strlen(t), again), -1);
    assert_int_equal(cc_refresh_hash(tok, 42, again), -1);
    snprintf(t, sizeof t, "%sA", tok);
    assert_int_equal(cc_refresh_hash(t, strlen(t), again), -1);
    assert_int_equal(cc_refresh_hash("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", 43, again),
                     -1);
    assert_int_equal(cc_refresh_hash(NULL, 43, again), -1);
    assert_int_equal(cc_refresh_hash("", 0, again), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_needs_rehash),
        cmocka_unit_test(test_default_cost),
        cmocka_unit_test(test_ct_equal),
        cmocka_unit_test(test_refresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
