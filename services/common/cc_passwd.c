/* cc_passwd: Argon2id password hashes and refresh token hashes. See
 * cc_passwd.h. */
#include "cc_passwd.h"

#include <sodium.h>
#include <string.h>

#include "cc_jwt.h"
#include "cc_util.h"

_Static_assert(CC_PASSWD_HASH_MAX == crypto_pwhash_STRBYTES, "hash string size");
_Static_assert(CC_REFRESH_TOKEN_LEN == CC_B64URL_LEN(32), "refresh token length");

#define REFRESH_BYTES 32

const cc_passwd_params_t cc_passwd_default = {
    crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
    crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE,
};

/* Argon2id at the default cost (of the password "unknown account"), so
 * that verifying against it costs what a real verification costs. The
 * unit test checks it still matches cc_passwd_default. */
static const char s_dummy[CC_PASSWD_HASH_MAX] =
    "$argon2id$v=19$m=65536,t=2,p=1$cPC4txBvYcRPd/2Xu+h3iA"
    "$CvUrTZ5TPxRJFEKkePMwtzB2q0ToWCg7pXpDOSyGcaQ";

int
cc_passwd_hash(const char *password, size_t len, const cc_passwd_params_t *params,
               char out[CC_PASSWD_HASH_MAX])
{
    const cc_passwd_params_t *p = params ? params : &cc_passwd_default;
    if (cc_sodium_init() != 0 || !password || len == 0 || len > CC_PASSWD_MAX)
        return -1;
    /* crypto_pwhash_str is Argon2id in libsodium >= 1.0.15; name it so a
     * change of the library default cannot change ours. */
    return crypto_pwhash_argon2id_str(out, password, len, p->opslimit, p->memlimit) == 0
           ? 0 : -1;
}

int
cc_passwd_verify(const char *hash, const char *password, size_t len)
{
    if (cc_sodium_init() != 0 || !password || len == 0 || len > CC_PASSWD_MAX)
        return -1;
    if (!hash) {
        /* warn_unused_result: a (void) cast does not silence it. */
        int burnt = crypto_pwhash_str_verify(s_dummy, password, len);
        (void) burnt;
        return -1;
    }
    /* libsodium reads a NUL-terminated string: bound it first. */
    if (strnlen(hash, CC_PASSWD_HASH_MAX) >= CC_PASSWD_HASH_MAX)
        return -1;
    /* Accepts argon2i hashes too, so older hashes keep working until
     * needs_rehash replaces them. */
    return crypto_pwhash_str_verify(hash, password, len) == 0 ? 0 : -1;
}

int
cc_passwd_needs_rehash(const char *hash, const cc_passwd_params_t *params)
{
    const cc_passwd_params_t *p = params ? params : &cc_passwd_default;
    if (!hash || strnlen(hash, CC_PASSWD_HASH_MAX) >= CC_PASSWD_HASH_MAX)
        return -1;
    if (strncmp(hash, "$argon2i$", 9) == 0)
        return 1;               /* verifiable, but not Argon2id */
    int rc = crypto_pwhash_argon2id_str_needs_rehash(hash, p->opslimit, p->memlimit);
    return rc < 0 ? -1 : rc;
}

int
cc_ct_equal(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

static void
s_refresh_digest(const unsigned char bin[REFRESH_BYTES], char hash[CC_REFRESH_HASH_LEN + 1])
{
    unsigned char d[32];
    crypto_generichash(d, sizeof d, bin, REFRESH_BYTES, NULL, 0);
    sodium_bin2hex(hash, CC_REFRESH_HASH_LEN + 1, d, sizeof d);
}

int
cc_refresh_new(char token[CC_REFRESH_TOKEN_LEN + 1], char hash[CC_REFRESH_HASH_LEN + 1])
{
    if (cc_sodium_init() != 0)
        return -1;
    unsigned char bin[REFRESH_BYTES];
    randombytes_buf(bin, sizeof bin);
    cc_b64url_encode(bin, sizeof bin, token, CC_REFRESH_TOKEN_LEN + 1);
    s_refresh_digest(bin, hash);
    sodium_memzero(bin, sizeof bin);
    return 0;
}

int
cc_refresh_hash(const char *token, size_t len, char hash[CC_REFRESH_HASH_LEN + 1])
{
    unsigned char bin[REFRESH_BYTES];
    size_t n = 0;
    /* Strict decoding: one text per token, so one hash per token. */
    if (!token || len != CC_REFRESH_TOKEN_LEN
        || cc_b64url_decode(token, len, bin, sizeof bin, &n) != 0 || n != sizeof bin)
        return -1;
    s_refresh_digest(bin, hash);
    sodium_memzero(bin, sizeof bin);
    return 0;
}
