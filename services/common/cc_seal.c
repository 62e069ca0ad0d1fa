/* cc_seal: see cc_seal.h. */
#include "cc_seal.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_util.h"
#include <sodium.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_VERSION 1
#define S_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define S_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define S_HEAD 5

_Static_assert(CC_SEAL_OVERHEAD == S_HEAD + S_NONCE + S_TAG, "overhead");

struct cc_seal {
    uint8_t *keys;         /* sodium_malloc: active | old, 32 bytes each */
    int32_t active_id;
    int32_t old_id;        /* if has_old */
    int has_old;
};

int32_t cc_seal_key_id(const uint8_t key[CC_SEAL_KEY_LEN])
{
    static const char tag[] = "eldercare-pii-key-id";
    uint8_t h[crypto_generichash_BYTES_MIN];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)tag, sizeof tag - 1);
    crypto_generichash_update(&st, key, CC_SEAL_KEY_LEN);
    crypto_generichash_final(&st, h, sizeof h);
    uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    int32_t kid;
    memcpy(&kid, &v, sizeof kid);
    return kid;
}

int cc_seal_read_key(const char *path, uint8_t key[CC_SEAL_KEY_LEN], char *why, size_t whylen)
{
    if (!path || !*path) {
        snprintf(why, whylen, "no key file given");
        return -1;
    }
    /* O_NOFOLLOW: a symlink could point the daemon at a file its owner
     * does not control; the checks below are on the file actually opened. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) != 0)
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        snprintf(why, whylen, "%s: not a regular file", path);
    else if (st.st_uid != geteuid())
        snprintf(why, whylen, "%s: owned by uid %u, not by the daemon's user (uid %u)", path,
                 (unsigned)st.st_uid, (unsigned)geteuid());
    else if (st.st_mode & 077)
        snprintf(why, whylen, "%s: group or others have access (mode %04o; want 0600)", path,
                 (unsigned)(st.st_mode & 07777));
    else if (st.st_size != CC_SEAL_KEY_LEN)
        snprintf(why, whylen, "%s: %lld bytes; a key file holds exactly %d raw bytes", path,
                 (long long)st.st_size, CC_SEAL_KEY_LEN);
    else if (read(fd, key, CC_SEAL_KEY_LEN) != CC_SEAL_KEY_LEN)
        snprintf(why, whylen, "%s: short read", path);
    else
        rc = 0;
    close(fd);
    if (rc != 0)
        sodium_memzero(key, CC_SEAL_KEY_LEN);
    return rc;
}

int cc_seal_blob_key(const uint8_t *blob, size_t len, int32_t *kid)
{
    if (!blob || len < CC_SEAL_OVERHEAD || blob[0] != S_VERSION)
        return -1;
    uint32_t v = (uint32_t)blob[1] << 24 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 8
                 | blob[4];
    memcpy(kid, &v, sizeof *kid);
    return 0;
}

cc_seal_t *cc_seal_new(const uint8_t *active, const uint8_t *old)
{
    if (cc_sodium_init() != 0)
        return NULL;
    cc_seal_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->keys = sodium_malloc(2 * CC_SEAL_KEY_LEN);
    if (!s->keys) {
        free(s);
        return NULL;
    }
    memcpy(s->keys, active, CC_SEAL_KEY_LEN);
    memset(s->keys + CC_SEAL_KEY_LEN, 0, CC_SEAL_KEY_LEN);
    if (old)
        memcpy(s->keys + CC_SEAL_KEY_LEN, old, CC_SEAL_KEY_LEN);
    s->active_id = cc_seal_key_id(active);
    s->has_old = old != NULL;
    s->old_id = old ? cc_seal_key_id(old) : 0;
    /* Read-only from here: a stray write faults instead of changing a key. */
    sodium_mprotect_readonly(s->keys);
    if (s->has_old && s->old_id == s->active_id)
        cc_seal_destroy(&s);   /* opening could not tell the two apart */
    return s;
}

cc_seal_t *cc_seal_load(const char *active_path, const char *old_path, char *why, size_t whylen)
{
    if (cc_sodium_init() != 0) {
        snprintf(why, whylen, "libsodium cannot start");
        return NULL;
    }
    uint8_t *k = sodium_malloc(2 * CC_SEAL_KEY_LEN);
    if (!k) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    int with_old = old_path && *old_path;
    cc_seal_t *s = NULL;
    if (cc_seal_read_key(active_path, k, why, whylen) == 0
        && (!with_old || cc_seal_read_key(old_path, k + CC_SEAL_KEY_LEN, why, whylen) == 0)) {
        if (with_old && cc_seal_key_id(k) == cc_seal_key_id(k + CC_SEAL_KEY_LEN))
            snprintf(why, whylen, "%s: the old key is the active key (or its key id collides)",
                     old_path);
        else if (!(s = cc_seal_new(k, with_old ? k + CC_SEAL_KEY_LEN : NULL)))
            snprintf(why, whylen, "out of memory");
    }
    sodium_free(k);   /* wipes */
    return s;
}

void cc_seal_destroy(cc_seal_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sodium_free((*self_p)->keys);
    free(*self_p);
    *self_p = NULL;
}

int32_t cc_seal_active_id(const cc_seal_t *self)
{
    return self->active_id;
}

int cc_seal_has_old(const cc_seal_t *self)
{
    return self->has_old;
}

int32_t cc_seal_old_id(const cc_seal_t *self)
{
    return self->has_old ? self->old_id : 0;
}

int cc_seal_knows(const cc_seal_t *self, int32_t kid)
{
    return kid == self->active_id || (self->has_old && kid == self->old_id);
}

/* Associated data: header | the caller's. */
static size_t s_ad(uint8_t *out, const uint8_t *head, const void *ad, size_t adlen)
{
    memcpy(out, head, S_HEAD);
    if (adlen)
        memcpy(out + S_HEAD, ad, adlen);
    return S_HEAD + adlen;
}

uint8_t *cc_seal(const cc_seal_t *self, const void *ad, size_t adlen, const void *plain,
                 size_t len, size_t *out_len)
{
    if (adlen > CC_SEAL_AD_MAX)
        return NULL;
    uint8_t *out = malloc(len + CC_SEAL_OVERHEAD);
    if (!out)
        return NULL;
    uint32_t v;
    memcpy(&v, &self->active_id, sizeof v);
    out[0] = S_VERSION;
    out[1] = (uint8_t)(v >> 24);
    out[2] = (uint8_t)(v >> 16);
    out[3] = (uint8_t)(v >> 8);
    out[4] = (uint8_t)v;
    uint8_t *nonce = out + S_HEAD;
    randombytes_buf(nonce, S_NONCE);
    uint8_t a[S_HEAD + CC_SEAL_AD_MAX];
    size_t alen = s_ad(a, out, ad, adlen);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + S_HEAD + S_NONCE, &clen,
                                               (const uint8_t *)plain, len, a, alen, NULL,
                                               nonce, self->keys);
    *out_len = S_HEAD + S_NONCE + (size_t)clen;
    return out;
}

char *cc_seal_open(const cc_seal_t *self, const void *ad, size_t adlen, const uint8_t *blob,
                   size_t len)
{
    int32_t kid;
    if (adlen > CC_SEAL_AD_MAX || cc_seal_blob_key(blob, len, &kid) != 0
        || !cc_seal_knows(self, kid))
        return NULL;
    const uint8_t *key = kid == self->active_id ? self->keys : self->keys + CC_SEAL_KEY_LEN;
    size_t plen = len - CC_SEAL_OVERHEAD;
    char *out = malloc(plen + 1);
    if (!out)
        return NULL;
    uint8_t a[S_HEAD + CC_SEAL_AD_MAX];
    size_t alen = s_ad(a, blob, ad, adlen);
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)out, &mlen, NULL,
                                                   blob + S_HEAD + S_NONCE,
                                                   len - S_HEAD - S_NONCE, a, alen,
                                                   blob + S_HEAD, key) != 0) {
        free(out);
        return NULL;
    }
    out[mlen] = '\0';
    return out;
}

/* ---- addresses in transit ------------------------------------------------ */
/* "address" NUL consumer NUL order id: which order, for which daemon. */
static size_t s_addr_ad(char *ad, size_t cap, const char *consumer, const char *order_id)
{
    int n = snprintf(ad, cap, "address%c%s%c%s", 0, consumer, 0, order_id);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

uint8_t *cc_seal_address(const cc_seal_t *self, const char *consumer, const char *order_id,
                         const char *address, size_t *out_len)
{
    char ad[CC_SEAL_AD_MAX];
    size_t adlen = s_addr_ad(ad, sizeof ad, consumer, order_id);
    if (!adlen)
        return NULL;
    return cc_seal(self, ad, adlen, address, strlen(address), out_len);
}

int cc_seal_address_open(const cc_seal_t *self, const char *consumer, const char *order_id,
                         const uint8_t *blob, size_t len, char *buf, size_t buflen)
{
    if (buflen)
        buf[0] = '\0';
    char ad[CC_SEAL_AD_MAX];
    size_t adlen = s_addr_ad(ad, sizeof ad, consumer, order_id);
    if (!self || !blob || !len || !adlen)
        return -1;
    char *s = cc_seal_open(self, ad, adlen, blob, len);
    if (!s)
        return -1;
    size_t n = strlen(s);
    int rc = -1;
    if (n < buflen) {
        memcpy(buf, s, n + 1);
        rc = 0;
    }
    sodium_memzero(s, n);
    free(s);
    return rc;
}

cc_seal_t *cc_seal_load_address_keys(const char *keys_dir, const char *path,
                                     const char *old_path, const char *consumer)
{
    char def[4096], why[8400];
    if (!path || !*path) {
        snprintf(def, sizeof def, "%s/%s-address.key", keys_dir && *keys_dir ? keys_dir : ".",
                 consumer);
        path = def;
    }
    cc_seal_t *s = cc_seal_load(path, old_path, why, sizeof why);
    if (!s) {
        /* A config error restarting cannot mend: exit 2, as cc_rt does. */
        cc_error("startup_failed", "what", "address transit key", "error", why, "fix",
                 "docs/SECURITY.md, \"Personal data\"");
        exit(2);
    }
    return s;
}

int cc_seal_address_read(const cc_seal_t *self, const char *consumer, const char *order_id,
                         const uint8_t *blob, size_t len, char *buf, size_t buflen,
                         const char *event, const char *id_name, const char *id,
                         struct cc_metric *rejected)
{
    char tmp[CC_ADDRESS_MAX + 1];
    char *out = buf ? buf : tmp;
    size_t outlen = buf ? buflen : sizeof tmp;
    int rc = cc_seal_address_open(self, consumer, order_id, blob, len, out, outlen);
    if (!buf)
        sodium_memzero(tmp, sizeof tmp);
    if (rc == 0)
        return 0;
    int32_t kid = 0;
    char k[16] = "";
    if (cc_seal_blob_key(blob, len, &kid) == 0)
        snprintf(k, sizeof k, "%d", kid);
    cc_warn(event, id_name, id, "key", k);
    cc_metric_inc(rejected);
    return -1;
}
