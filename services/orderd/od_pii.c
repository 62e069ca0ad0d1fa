/* od_pii: see od_pii.h. */
#include "od_pii.h"
#include "cc_util.h"
#include <sodium.h>
#include <ctype.h>
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
#define S_AD_MAX (S_HEAD + CC_UUID_LEN + 64)

struct od_pii {
    uint8_t *keys;         /* sodium_malloc: active | old | index, 32 bytes each */
    int32_t active_id;     /* key id of the active key */
    int32_t old_id;        /* key id of the old key, if has_old */
    int has_old;           /* an old key is loaded (rotation) */
};

static uint8_t *s_active(const od_pii_t *p)
{
    return p->keys;
}

static uint8_t *s_old(const od_pii_t *p)
{
    return p->keys + OD_PII_KEY_LEN;
}

static uint8_t *s_idx(const od_pii_t *p)
{
    return p->keys + 2 * OD_PII_KEY_LEN;
}

static int32_t s_key_id(const uint8_t *key)
{
    static const char tag[] = "eldercare-pii-key-id";
    uint8_t h[crypto_generichash_BYTES_MIN];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)tag, sizeof tag - 1);
    crypto_generichash_update(&st, key, OD_PII_KEY_LEN);
    crypto_generichash_final(&st, h, sizeof h);
    uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    int32_t kid;
    memcpy(&kid, &v, sizeof kid);
    return kid;
}

int od_pii_read_key(const char *path, uint8_t key[OD_PII_KEY_LEN], char *why, size_t whylen)
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
    else if (st.st_size != OD_PII_KEY_LEN)
        snprintf(why, whylen, "%s: %lld bytes; a key file holds exactly %d raw bytes", path,
                 (long long)st.st_size, OD_PII_KEY_LEN);
    else if (read(fd, key, OD_PII_KEY_LEN) != OD_PII_KEY_LEN)
        snprintf(why, whylen, "%s: short read", path);
    else
        rc = 0;
    close(fd);
    if (rc != 0)
        sodium_memzero(key, OD_PII_KEY_LEN);
    return rc;
}

od_pii_t *od_pii_new(const uint8_t *active, const uint8_t *old, const uint8_t *index)
{
    if (cc_sodium_init() != 0)
        return NULL;
    od_pii_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->keys = sodium_malloc(3 * OD_PII_KEY_LEN);
    if (!p->keys) {
        free(p);
        return NULL;
    }
    memcpy(s_active(p), active, OD_PII_KEY_LEN);
    memset(s_old(p), 0, OD_PII_KEY_LEN);
    if (old)
        memcpy(s_old(p), old, OD_PII_KEY_LEN);
    memcpy(s_idx(p), index, OD_PII_KEY_LEN);
    p->active_id = s_key_id(active);
    p->has_old = old != NULL;
    p->old_id = old ? s_key_id(old) : 0;
    /* Read-only from here: a stray write faults instead of changing a key. */
    sodium_mprotect_readonly(p->keys);
    return p;
}

od_pii_t *od_pii_load(const char *active_path, const char *old_path, const char *index_path,
                      char *why, size_t whylen)
{
    if (cc_sodium_init() != 0) {
        snprintf(why, whylen, "libsodium cannot start");
        return NULL;
    }
    uint8_t *k = sodium_malloc(3 * OD_PII_KEY_LEN);
    if (!k) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    int with_old = old_path && *old_path;
    od_pii_t *p = NULL;
    if (od_pii_read_key(active_path, k, why, whylen) == 0
        && (!with_old || od_pii_read_key(old_path, k + OD_PII_KEY_LEN, why, whylen) == 0)
        && od_pii_read_key(index_path, k + 2 * OD_PII_KEY_LEN, why, whylen) == 0) {
        if (sodium_memcmp(k, k + 2 * OD_PII_KEY_LEN, OD_PII_KEY_LEN) == 0
            || (with_old && sodium_memcmp(k + OD_PII_KEY_LEN, k + 2 * OD_PII_KEY_LEN,
                                          OD_PII_KEY_LEN) == 0))
            snprintf(why, whylen, "%s: the index key must not be a data key", index_path);
        else if (with_old && sodium_memcmp(k, k + OD_PII_KEY_LEN, OD_PII_KEY_LEN) == 0)
            snprintf(why, whylen, "%s: the old key is the active key", old_path);
        else if (!(p = od_pii_new(k, with_old ? k + OD_PII_KEY_LEN : NULL,
                                  k + 2 * OD_PII_KEY_LEN)))
            snprintf(why, whylen, "out of memory");
        else if (with_old && p->old_id == p->active_id) {
            snprintf(why, whylen, "%s: its key id collides with the active key's", old_path);
            od_pii_destroy(&p);
        }
    }
    sodium_free(k);   /* wipes */
    return p;
}

void od_pii_destroy(od_pii_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sodium_free((*self_p)->keys);
    free(*self_p);
    *self_p = NULL;
}

int32_t od_pii_active_id(const od_pii_t *self)
{
    return self->active_id;
}

int od_pii_has_old(const od_pii_t *self)
{
    return self->has_old;
}

int32_t od_pii_old_id(const od_pii_t *self)
{
    return self->has_old ? self->old_id : 0;
}

int od_pii_knows(const od_pii_t *self, int32_t kid)
{
    return kid == self->active_id || (self->has_old && kid == self->old_id);
}

int od_pii_blob_key(const uint8_t *blob, size_t len, int32_t *kid)
{
    if (!blob || len < OD_PII_OVERHEAD || blob[0] != S_VERSION)
        return -1;
    uint32_t v = (uint32_t)blob[1] << 24 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 8
                 | blob[4];
    memcpy(kid, &v, sizeof *kid);
    return 0;
}

/* Associated data: header | elder id | NUL | column. */
static size_t s_ad(uint8_t *ad, const uint8_t *head, const char *elder_id, const char *column)
{
    size_t n = 0, li = strnlen(elder_id, CC_UUID_LEN - 1), lc = strnlen(column, 63);
    memcpy(ad, head, S_HEAD);
    n += S_HEAD;
    memcpy(ad + n, elder_id, li);
    n += li;
    ad[n++] = 0;
    memcpy(ad + n, column, lc);
    return n + lc;
}

uint8_t *od_pii_seal(const od_pii_t *self, const char *elder_id, const char *column,
                     const char *plain, size_t len, size_t *out_len)
{
    uint8_t *out = malloc(len + OD_PII_OVERHEAD);
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
    uint8_t ad[S_AD_MAX];
    size_t adlen = s_ad(ad, out, elder_id, column);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + S_HEAD + S_NONCE, &clen,
                                               (const uint8_t *)plain, len, ad, adlen, NULL,
                                               nonce, s_active(self));
    *out_len = S_HEAD + S_NONCE + (size_t)clen;
    return out;
}

char *od_pii_open(const od_pii_t *self, const char *elder_id, const char *column,
                  const uint8_t *blob, size_t len)
{
    int32_t kid;
    if (od_pii_blob_key(blob, len, &kid) != 0 || !od_pii_knows(self, kid))
        return NULL;
    const uint8_t *key = kid == self->active_id ? s_active(self) : s_old(self);
    size_t plen = len - OD_PII_OVERHEAD;
    char *out = malloc(plen + 1);
    if (!out)
        return NULL;
    uint8_t ad[S_AD_MAX];
    size_t adlen = s_ad(ad, blob, elder_id, column);
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)out, &mlen, NULL,
                                                   blob + S_HEAD + S_NONCE,
                                                   len - S_HEAD - S_NONCE, ad, adlen,
                                                   blob + S_HEAD, key) != 0) {
        free(out);
        return NULL;
    }
    out[mlen] = '\0';
    return out;
}

char *od_pii_norm(const char *column, const char *value, char *out, size_t outlen)
{
    size_t n = 0;
    int idn = strcmp(column, "id_number") == 0, phone = strcmp(column, "phone") == 0;
    for (const char *s = value; *s && n + 1 < outlen; s++) {
        unsigned char c = (unsigned char)*s;
        if (idn) {
            if (!isspace(c))
                out[n++] = (char)toupper(c);
        } else if (phone) {
            if (isdigit(c) || (c == '+' && n == 0))
                out[n++] = (char)c;
        } else {
            out[n++] = (char)c;
        }
    }
    if (outlen)
        out[n] = '\0';
    return out;
}

void od_pii_index(const od_pii_t *self, const char *column, const char *value,
                  uint8_t out[OD_PII_IDX_LEN])
{
    size_t vl = strlen(value);
    char stack[256];
    char *norm = vl < sizeof stack ? stack : malloc(vl + 1);
    if (!norm)
        norm = stack, vl = sizeof stack - 1;   /* cannot happen for our fields (<= 200) */
    od_pii_norm(column, value, norm, vl + 1);
    crypto_generichash_state st;
    crypto_generichash_init(&st, s_idx(self), OD_PII_KEY_LEN, OD_PII_IDX_LEN);
    crypto_generichash_update(&st, (const uint8_t *)column, strlen(column) + 1);
    crypto_generichash_update(&st, (const uint8_t *)norm, strlen(norm));
    crypto_generichash_final(&st, out, OD_PII_IDX_LEN);
    sodium_memzero(norm, strlen(norm));
    if (norm != stack)
        free(norm);
}
