/* cc_passwd: password hashes (Argon2id), constant-time comparison, and
 * refresh tokens stored only as hashes. libsodium underneath.
 *
 * Hashes are libsodium's encoded strings, which carry the algorithm, its
 * version, salt and cost ("$argon2id$v=19$m=65536,t=2,p=1$salt$hash"), so
 * a stored hash stays verifiable after the defaults change, and
 * cc_passwd_needs_rehash tells the login path when to store a new one.
 *
 * Cost: hashing blocks the calling thread for the whole computation
 * (about 75 ms and 64 MiB at the defaults on the 2-core build machine):
 * a daemon on one event loop stalls that long per login. */
#ifndef CC_PASSWD_H
#define CC_PASSWD_H
#include <stddef.h>

#define CC_PASSWD_HASH_MAX 128          /* crypto_pwhash_STRBYTES, with NUL */
#define CC_PASSWD_MAX      1024         /* bytes of a password */

/* Argon2id cost. The default is libsodium's "interactive" (t=2, 64 MiB,
 * one lane), above OWASP's Argon2id minimum (t=2, 19 MiB). */
typedef struct {
    unsigned long long opslimit;        /* passes over memory (t) */
    size_t memlimit;                    /* bytes of memory (m) */
} cc_passwd_params_t;
extern const cc_passwd_params_t cc_passwd_default;

/* Hash the password (len bytes, 1..CC_PASSWD_MAX, any bytes) with a fresh
 * random salt into out (NUL-terminated). params NULL: cc_passwd_default.
 * 0, or -1 (length out of range, cost out of libsodium's range, or no
 * memory for it). */
int cc_passwd_hash(const char *password, size_t len, const cc_passwd_params_t *params,
                   char out[CC_PASSWD_HASH_MAX]);
/* 0 if password matches hash, else -1 (wrong, malformed or tampered
 * hash, length out of range). hash NULL (no such account) runs the same
 * computation against a fixed hash and returns -1, so a login for an
 * unknown name takes as long as one for a known name. */
int cc_passwd_verify(const char *hash, const char *password, size_t len);
/* 1 if hash was made with another algorithm or cost than params (NULL:
 * the default) and should be replaced after the next good login; 0 if
 * not; -1 if hash is not an Argon2 hash string. */
int cc_passwd_needs_rehash(const char *hash, const cc_passwd_params_t *params);

/* 1 if the n bytes at a and b are equal, 0 if not, taking the same time
 * whichever bytes differ (for comparing secrets, MACs, token hashes). */
int cc_ct_equal(const void *a, const void *b, size_t n);

/* ---- refresh tokens -------------------------------------------------------
 * 32 random bytes, base64url without padding (43 chars), given to the
 * client once. The store keeps only the BLAKE2b-256 hash of those bytes
 * (64 hex chars): a leaked table gives no usable token, and since the
 * token is uniformly random no salt or slow hash is needed. Look a token
 * up by its hash; rotate it on every use and treat a second use of a
 * rotated one as theft (refuse, revoke the family). */
#define CC_REFRESH_TOKEN_LEN 43
#define CC_REFRESH_HASH_LEN  64

/* A new token and its hash. 0, or -1 if libsodium cannot start. */
int cc_refresh_new(char token[CC_REFRESH_TOKEN_LEN + 1], char hash[CC_REFRESH_HASH_LEN + 1]);
/* The hash of a token presented by a client (len bytes). 0, or -1 when
 * it is not exactly a well-formed token (never hashed then). */
int cc_refresh_hash(const char *token, size_t len, char hash[CC_REFRESH_HASH_LEN + 1]);

#endif
