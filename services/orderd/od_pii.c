/* od_pii: see od_pii.h. */
#include "od_pii.h"
#include "cc_seal.h"
#include "cc_util.h"
#include <sodium.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Associated data after cc_seal's header: elder id | NUL | column (the
 * layout od_pii has always sealed with: stored values keep opening). */
#define S_AD_MAX (CC_UUID_LEN + 64)

struct od_pii {
    cc_seal_t *ring;       /* data keys: active, old during a rotation */
    uint8_t *idx;          /* sodium_malloc: the blind-index key */
};

od_pii_t *od_pii_new(const uint8_t *active, const uint8_t *old, const uint8_t *index)
{
    od_pii_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->ring = cc_seal_new(active, old);
    p->idx = p->ring ? sodium_malloc(OD_PII_KEY_LEN) : NULL;
    if (!p->idx) {
        cc_seal_destroy(&p->ring);
        free(p);
        return NULL;
    }
    memcpy(p->idx, index, OD_PII_KEY_LEN);
    sodium_mprotect_readonly(p->idx);
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
    if (cc_seal_read_key(active_path, k, why, whylen) == 0
        && (!with_old || cc_seal_read_key(old_path, k + OD_PII_KEY_LEN, why, whylen) == 0)
        && cc_seal_read_key(index_path, k + 2 * OD_PII_KEY_LEN, why, whylen) == 0) {
        if (sodium_memcmp(k, k + 2 * OD_PII_KEY_LEN, OD_PII_KEY_LEN) == 0
            || (with_old && sodium_memcmp(k + OD_PII_KEY_LEN, k + 2 * OD_PII_KEY_LEN,
                                          OD_PII_KEY_LEN) == 0))
            snprintf(why, whylen, "%s: the index key must not be a data key", index_path);
        else if (with_old && sodium_memcmp(k, k + OD_PII_KEY_LEN, OD_PII_KEY_LEN) == 0)
            snprintf(why, whylen, "%s: the old key is the active key", old_path);
        else if (with_old && cc_seal_key_id(k) == cc_seal_key_id(k + OD_PII_KEY_LEN))
            snprintf(why, whylen, "%s: its key id collides with the active key's", old_path);
        else if (!(p = od_pii_new(k, with_old ? k + OD_PII_KEY_LEN : NULL,
                                  k + 2 * OD_PII_KEY_LEN)))
            snprintf(why, whylen, "out of memory");
    }
    sodium_free(k);   /* wipes */
    return p;
}

void od_pii_destroy(od_pii_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cc_seal_destroy(&(*self_p)->ring);
    sodium_free((*self_p)->idx);
    free(*self_p);
    *self_p = NULL;
}

int32_t od_pii_active_id(const od_pii_t *self)
{
    return cc_seal_active_id(self->ring);
}

int od_pii_has_old(const od_pii_t *self)
{
    return cc_seal_has_old(self->ring);
}

int32_t od_pii_old_id(const od_pii_t *self)
{
    return cc_seal_old_id(self->ring);
}

int od_pii_knows(const od_pii_t *self, int32_t kid)
{
    return cc_seal_knows(self->ring, kid);
}

/* elder id | NUL | column */
static size_t s_ad(uint8_t *ad, const char *elder_id, const char *column)
{
    size_t li = strnlen(elder_id, CC_UUID_LEN - 1), lc = strnlen(column, 63);
    memcpy(ad, elder_id, li);
    ad[li] = 0;
    memcpy(ad + li + 1, column, lc);
    return li + 1 + lc;
}

uint8_t *od_pii_seal(const od_pii_t *self, const char *elder_id, const char *column,
                     const char *plain, size_t len, size_t *out_len)
{
    uint8_t ad[S_AD_MAX];
    return cc_seal(self->ring, ad, s_ad(ad, elder_id, column), plain, len, out_len);
}

char *od_pii_open(const od_pii_t *self, const char *elder_id, const char *column,
                  const uint8_t *blob, size_t len)
{
    uint8_t ad[S_AD_MAX];
    return cc_seal_open(self->ring, ad, s_ad(ad, elder_id, column), blob, len);
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
    crypto_generichash_init(&st, self->idx, OD_PII_KEY_LEN, OD_PII_IDX_LEN);
    crypto_generichash_update(&st, (const uint8_t *)column, strlen(column) + 1);
    crypto_generichash_update(&st, (const uint8_t *)norm, strlen(norm));
    crypto_generichash_final(&st, out, OD_PII_IDX_LEN);
    sodium_memzero(norm, strlen(norm));
    if (norm != stack)
        free(norm);
}
