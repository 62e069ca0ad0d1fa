/* cc_jwt: EdDSA bearer tokens, key files and key sets. See cc_jwt.h.
 *
 * The order of verification matters: the header is read only far enough
 * to pin the algorithm and pick the key, the signature is checked next,
 * and the payload is parsed only once it is known to come from a trusted
 * key. Every JSON text is bounded in size and nesting before jansson sees
 * it, and parsed with duplicate keys refused (two "alg"s or two "sub"s
 * read differently by two parsers is a known way around checks). */
#include "cc_jwt.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PK_LEN   crypto_sign_PUBLICKEYBYTES     /* 32 */
#define SK_LEN   crypto_sign_SECRETKEYBYTES     /* 64: seed || public key */
#define SEED_LEN crypto_sign_SEEDBYTES          /* 32: a JWK's "d" */
#define SIG_LEN  crypto_sign_BYTES              /* 64 */
#define HEADER_MAX      1024        /* decoded header bytes */
#define KEY_FILE_MAX    4096
#define JWKS_MAX        65536
#define AUD_MAX_ITEMS   16
#define TIME_MAX        (INT64_C(1) << 40)  /* keeps exp + skew far from overflow */

struct cc_jwt_key {
    char kid[CC_JWT_TEXT_MAX + 1];  /* key id, published in the JWKS */
    unsigned char pk[PK_LEN];       /* public key */
    unsigned char sk[SK_LEN];       /* secret key, wiped on destroy */
};

typedef struct {
    char kid[CC_JWT_TEXT_MAX + 1];
    unsigned char pk[PK_LEN];
} s_pub_t;

struct cc_jwks {
    size_t n;                       /* keys in use */
    s_pub_t keys[CC_JWKS_MAX_KEYS]; /* trusted public keys, unique kids */
};

/* ---- roles ---------------------------------------------------------------- */

static const char *const s_role_names[] = {
    "operator", "dispatcher", "caregiver", "provider_admin", "meal_point",
    "family", "auditor", "admin", "service",
};
#define ROLE_COUNT (sizeof s_role_names / sizeof s_role_names[0])
_Static_assert(CC_ROLE_ALL == (1u << ROLE_COUNT) - 1, "one name per role bit");

const char *
cc_role_name(unsigned role)
{
    for (size_t i = 0; i < ROLE_COUNT; i++)
        if (role == 1u << i)
            return s_role_names[i];
    return NULL;
}

cc_role_t
cc_role_parse(const char *name)
{
    if (!name)
        return 0;
    for (size_t i = 0; i < ROLE_COUNT; i++)
        if (strcmp(name, s_role_names[i]) == 0)
            return (cc_role_t) (1u << i);
    return 0;
}

/* ---- base64url -------------------------------------------------------------- */

int
cc_b64url_encode(const void *bin, size_t n, char *out, size_t size)
{
    if (size < CC_B64URL_LEN(n) + 1)
        return -1;
    sodium_bin2base64(out, size, bin, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

int
cc_b64url_decode(const char *text, size_t len, void *out, size_t max, size_t *n)
{
    /* sodium_base642bin with no ignore set and no end pointer fails on any
     * byte outside the alphabet ('=' included), on a dangling 6 bits and on
     * non-zero unused bits: exactly the strict rule. */
    size_t got = 0;
    if (sodium_base642bin(out, max, text, len, NULL, &got, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    *n = got;
    return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

static int
s_bad(cc_err_t *err, const char *field, const char *msg)
{
    return cc_err_set(err, 401, "invalid_token", field, "%s", msg);
}

/* 1 if the nesting of JSON text s stays within max levels. jansson's own
 * limit is 2048 levels, far more than a token or key set needs. */
static int
s_depth_ok(const char *s, size_t n, int max)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return 0;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}

/* Parse a bounded JSON object, or NULL. */
static json_t *
s_parse_object(const char *text, size_t n, int max_depth)
{
    if (!s_depth_ok(text, n, max_depth))
        return NULL;
    json_t *o = json_loadb(text, n, JSON_REJECT_DUPLICATES, NULL);
    if (o && !json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* 1 if s is 1..max printable ASCII bytes without space. */
static int
s_token_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) s[i] < 0x21 || (unsigned char) s[i] > 0x7e)
            return 0;
    return 1;
}

/* Read a whole file of at most max bytes into a NUL-terminated buffer the
 * caller frees (and wipes, if secret). secret: refuse group/other access. */
static char *
s_read_file(const char *path, size_t max, int secret, size_t *len, cc_err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cc_err_set(err, 500, "key_file", "path", "cannot open key file: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cc_err_set(err, 500, "key_file", "path", "key file is not a regular file");
        goto out;
    }
    /* fstat on the open file, not stat on the name: no race with a rename. */
    if (secret && (st.st_mode & 077)) {
        cc_err_set(err, 500, "key_file", "mode",
                   "secret key file mode %03o: group or others may access it; chmod 600",
                   (unsigned) (st.st_mode & 0777));
        goto out;
    }
    if ((size_t) st.st_size > max) {
        cc_err_set(err, 500, "key_file", "size", "key file over %zu bytes", max);
        goto out;
    }
    buf = calloc(1, (size_t) st.st_size + 1);
    if (!buf) {
        cc_err_set(err, 500, "key_file", "", "out of memory");
        goto out;
    }
    size_t got = 0;
    while (got < (size_t) st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t) st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t) r;
    }
    if (got != (size_t) st.st_size) {
        sodium_memzero(buf, (size_t) st.st_size);
        free(buf);
        buf = NULL;
        cc_err_set(err, 500, "key_file", "path", "short read of key file");
        goto out;
    }
    *len = got;
out:
    close(fd);
    return buf;
}

/* A string member of o, or "" when absent or not a string. */
static const char *
s_str(json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s ? s : "";
}

/* Decode a base64url JWK member of exactly want bytes into out. */
static int
s_jwk_bytes(json_t *jwk, const char *name, unsigned char *out, size_t want)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    size_t n = 0;
    if (!s || cc_b64url_decode(s, strlen(s), out, want, &n) != 0 || n != want)
        return -1;
    return 0;
}

/* ---- issuer key --------------------------------------------------------------- */

int
cc_jwt_key_generate(const char *path, const char *kid, cc_err_t *err)
{
    if (cc_sodium_init() != 0)
        return cc_err_set(err, 500, "crypto", "", "libsodium failed to start");
    /* Printable, and no '"' or '\\': the kid is written into JSON below. */
    if (!kid || !s_token_text(kid, CC_JWT_TEXT_MAX) || strpbrk(kid, "\"\\"))
        return cc_err_set(err, 500, "key_file", "kid", "kid must be 1..%d printable chars",
                          CC_JWT_TEXT_MAX);
    unsigned char pk[PK_LEN], sk[SK_LEN];
    char x[CC_B64URL_LEN(PK_LEN) + 1], d[CC_B64URL_LEN(SEED_LEN) + 1];
    crypto_sign_keypair(pk, sk);
    cc_b64url_encode(pk, PK_LEN, x, sizeof x);
    cc_b64url_encode(sk, SEED_LEN, d, sizeof d);     /* sk starts with the seed */
    char text[512];
    int n = snprintf(text, sizeof text,
                     "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"%s\",\"x\":\"%s\","
                     "\"d\":\"%s\"}\n", kid, x, d);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(d, sizeof d);
    int rc = -1;
    /* O_EXCL: never replace a key whose tokens are out there. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        cc_err_set(err, 500, "key_file", "path", "cannot create key file: %s", strerror(errno));
        goto out;
    }
    /* The umask can only remove bits, but say 0600 explicitly anyway. */
    if (fchmod(fd, 0600) == 0 && write(fd, text, (size_t) n) == n && fsync(fd) == 0)
        rc = 0;
    else
        cc_err_set(err, 500, "key_file", "path", "cannot write key file: %s", strerror(errno));
    close(fd);
    if (rc != 0)
        unlink(path);
out:
    sodium_memzero(text, sizeof text);
    return rc;
}

cc_jwt_key_t *
cc_jwt_key_load(const char *path, cc_err_t *err)
{
    if (cc_sodium_init() != 0) {
        cc_err_set(err, 500, "crypto", "", "libsodium failed to start");
        return NULL;
    }
    size_t len = 0;
    char *buf = s_read_file(path, KEY_FILE_MAX, 1, &len, err);
    if (!buf)
        return NULL;
    json_t *jwk = s_parse_object(buf, len, 1);
    sodium_memzero(buf, len);
    free(buf);
    cc_jwt_key_t *self = calloc(1, sizeof *self);
    unsigned char seed[SEED_LEN], x[PK_LEN];
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    if (!self) {
        cc_err_set(err, 500, "key_file", "", "out of memory");
        goto fail;
    }
    if (!jwk || strcmp(s_str(jwk, "kty"), "OKP") != 0
        || strcmp(s_str(jwk, "crv"), "Ed25519") != 0) {
        cc_err_set(err, 500, "key_file", "kty", "not an OKP Ed25519 JWK");
        goto fail;
    }
    if (!kid || !s_token_text(kid, CC_JWT_TEXT_MAX)) {
        cc_err_set(err, 500, "key_file", "kid", "kid missing or not printable");
        goto fail;
    }
    if (s_jwk_bytes(jwk, "d", seed, SEED_LEN) != 0 || s_jwk_bytes(jwk, "x", x, PK_LEN) != 0) {
        cc_err_set(err, 500, "key_file", "d", "d and x must be 32 bytes of base64url");
        goto fail;
    }
    crypto_sign_seed_keypair(self->pk, self->sk, seed);
    sodium_memzero(seed, sizeof seed);
    if (sodium_memcmp(self->pk, x, PK_LEN) != 0) {
        cc_err_set(err, 500, "key_file", "x", "x is not the public key of d");
        goto fail;
    }
    snprintf(self->kid, sizeof self->kid, "%s", kid);
    json_decref(jwk);
    return self;
fail:
    sodium_memzero(seed, sizeof seed);
    json_decref(jwk);
    cc_jwt_key_destroy(&self);
    return NULL;
}

void
cc_jwt_key_destroy(cc_jwt_key_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sodium_memzero(*self_p, sizeof **self_p);
    free(*self_p);
    *self_p = NULL;
}

const char *
cc_jwt_key_kid(const cc_jwt_key_t *self)
{
    return self->kid;
}

char *
cc_jwt_key_public_jwks(const cc_jwt_key_t *self)
{
    char x[CC_B64URL_LEN(PK_LEN) + 1];
    cc_b64url_encode(self->pk, PK_LEN, x, sizeof x);
    json_t *doc = json_pack("{s:[{s:s,s:s,s:s,s:s,s:s,s:s}]}", "keys",
                            "kty", "OKP", "crv", "Ed25519", "kid", self->kid,
                            "use", "sig", "alg", "EdDSA", "x", x);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    return text;
}

/* base64url of a JSON value's compact text, appended at out; the number of
 * chars written, or 0 when it does not fit in size. */
static size_t
s_b64_json(json_t *v, char *out, size_t size)
{
    char *text = json_dumps(v, JSON_COMPACT);
    if (!text)
        return 0;
    size_t n = strlen(text);
    size_t w = cc_b64url_encode(text, n, out, size) == 0 ? CC_B64URL_LEN(n) : 0;
    free(text);
    return w;
}

char *
cc_jwt_sign(const cc_jwt_key_t *key, const cc_jwt_claims_t *c, const char *aud, cc_err_t *err)
{
    if (cc_sodium_init() != 0) {
        cc_err_set(err, 500, "crypto", "", "libsodium failed to start");
        return NULL;
    }
    if (!c->iss[0] || !aud || !aud[0] || !s_token_text(c->sub, CC_JWT_SUB_MAX)
        || !cc_role_name(c->role) || c->exp <= 0
        || (c->jti[0] && !s_token_text(c->jti, CC_JWT_SUB_MAX))) {
        cc_err_set(err, 500, "sign", "", "iss, aud, sub, one role and exp are required");
        return NULL;
    }
    json_t *hdr = json_pack("{s:s,s:s,s:s}", "alg", "EdDSA", "typ", "JWT", "kid", key->kid);
    json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:I}", "iss", c->iss, "aud", aud,
                          "sub", c->sub, "role", cc_role_name(c->role),
                          "exp", (json_int_t) c->exp);
    char jti[CC_UUID_LEN] = "";
    if (!c->jti[0])
        cc_uuid(jti);
    if (p) {
        json_object_set_new(p, "jti", json_string(c->jti[0] ? c->jti : jti));
        if (c->nbf)
            json_object_set_new(p, "nbf", json_integer(c->nbf));
        if (c->iat)
            json_object_set_new(p, "iat", json_integer(c->iat));
        json_object_set_new(p, "gen", json_integer(c->gen));
        if (c->n_districts) {
            json_t *a = json_array();
            for (size_t i = 0; i < c->n_districts && i < CC_JWT_MAX_DISTRICTS; i++)
                json_array_append_new(a, json_integer(c->district_ids[i]));
            json_object_set_new(p, "district_ids", a);
        }
        const struct { const char *name; const char *v; } ids[] = {
            {"provider_id", c->provider_id}, {"caregiver_id", c->caregiver_id},
            {"meal_point_id", c->meal_point_id}, {"elder_id", c->elder_id},
        };
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
            if (ids[i].v[0])
                json_object_set_new(p, ids[i].name, json_string(ids[i].v));
    }
    char *tok = malloc(CC_JWT_MAX + 1);
    size_t n = 0;
    if (hdr && p && tok) {
        size_t h = s_b64_json(hdr, tok, CC_JWT_MAX + 1);
        if (h && h + 1 < CC_JWT_MAX) {
            tok[h] = '.';
            size_t b = s_b64_json(p, tok + h + 1, CC_JWT_MAX - h);
            if (b)
                n = h + 1 + b;
        }
    }
    json_decref(hdr);
    json_decref(p);
    if (n == 0 || n + 1 + CC_B64URL_LEN(SIG_LEN) > CC_JWT_MAX) {
        cc_err_set(err, 500, "sign", "", "token would exceed %d bytes", CC_JWT_MAX);
        free(tok);
        return NULL;
    }
    unsigned char sig[SIG_LEN];
    crypto_sign_detached(sig, NULL, (const unsigned char *) tok, n, key->sk);
    tok[n] = '.';
    cc_b64url_encode(sig, SIG_LEN, tok + n + 1, CC_JWT_MAX + 1 - n - 1);
    return tok;
}

/* ---- key set ------------------------------------------------------------------ */

cc_jwks_t *
cc_jwks_new(void)
{
    if (cc_sodium_init() != 0)
        return NULL;
    return calloc(1, sizeof(cc_jwks_t));
}

void
cc_jwks_destroy(cc_jwks_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

size_t
cc_jwks_size(const cc_jwks_t *self)
{
    return self->n;
}

static const s_pub_t *
s_find(const s_pub_t *keys, size_t n, const char *kid)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i].kid, kid) == 0)
            return &keys[i];
    return NULL;
}

int
cc_jwks_add_key(cc_jwks_t *self, const cc_jwt_key_t *key, cc_err_t *err)
{
    if (s_find(self->keys, self->n, key->kid))
        return cc_err_set(err, 500, "jwks", "kid", "kid %s is already in the key set", key->kid);
    if (self->n == CC_JWKS_MAX_KEYS)
        return cc_err_set(err, 500, "jwks", "keys", "over %d keys", CC_JWKS_MAX_KEYS);
    s_pub_t *k = &self->keys[self->n++];
    snprintf(k->kid, sizeof k->kid, "%s", key->kid);
    memcpy(k->pk, key->pk, PK_LEN);
    return 0;
}

int
cc_jwks_add_json(cc_jwks_t *self, const char *text, size_t len, cc_err_t *err)
{
    if (len > JWKS_MAX)
        return cc_err_set(err, 500, "jwks", "", "JWKS over %d bytes", JWKS_MAX);
    /* {"keys":[{..., "x5c":[...]}]}: an IdP's RSA keys carry certificate
     * chains, four levels deep. */
    json_t *doc = s_parse_object(text, len, 4);
    json_t *arr = json_object_get(doc, "keys");
    if (!json_is_array(arr)) {
        json_decref(doc);
        return cc_err_set(err, 500, "jwks", "keys", "not a JWKS document {\"keys\":[...]}");
    }
    /* Stage the new keys, so a refused document changes nothing. */
    s_pub_t staged[CC_JWKS_MAX_KEYS];
    size_t n = self->n, added = 0;
    memcpy(staged, self->keys, n * sizeof staged[0]);
    int rc = 0;
    size_t i;
    json_t *jwk;
    json_array_foreach(arr, i, jwk) {
        if (!json_is_object(jwk)) {
            rc = cc_err_set(err, 500, "jwks", "keys", "key %zu is not an object", i);
            break;
        }
        const char *use = json_string_value(json_object_get(jwk, "use"));
        const char *alg = json_string_value(json_object_get(jwk, "alg"));
        if (strcmp(s_str(jwk, "kty"), "OKP") != 0 || strcmp(s_str(jwk, "crv"), "Ed25519") != 0
            || (use && strcmp(use, "sig") != 0) || (alg && strcmp(alg, "EdDSA") != 0))
            continue;                       /* not ours to use: RSA, X25519, enc */
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        if (!kid || !s_token_text(kid, CC_JWT_TEXT_MAX)) {
            rc = cc_err_set(err, 500, "jwks", "kid", "key %zu: kid missing or not printable", i);
            break;
        }
        if (json_object_get(jwk, "d")) {
            rc = cc_err_set(err, 500, "jwks", "d", "key %s: a secret key in a public key set",
                            kid);
            break;
        }
        if (s_find(staged, n, kid)) {
            rc = cc_err_set(err, 500, "jwks", "kid", "key %s: kid appears twice", kid);
            break;
        }
        unsigned char x[PK_LEN];
        /* A non-canonical, small-order or off-curve point is no public key. */
        if (s_jwk_bytes(jwk, "x", x, PK_LEN) != 0 || !crypto_core_ed25519_is_valid_point(x)) {
            rc = cc_err_set(err, 500, "jwks", "x", "key %s: x is not an Ed25519 public key",
                            kid);
            break;
        }
        if (n == CC_JWKS_MAX_KEYS) {
            rc = cc_err_set(err, 500, "jwks", "keys", "over %d keys", CC_JWKS_MAX_KEYS);
            break;
        }
        snprintf(staged[n].kid, sizeof staged[n].kid, "%s", kid);
        memcpy(staged[n].pk, x, PK_LEN);
        n++;
        added++;
    }
    json_decref(doc);
    /* An IdP whose realm has no EdDSA key yet would refuse every token at
     * run time as "unknown kid"; say so at start instead. */
    if (rc == 0 && added == 0)
        rc = cc_err_set(err, 500, "jwks", "keys", "no Ed25519 signing key in the key set");
    if (rc != 0)
        return -1;
    memcpy(self->keys, staged, n * sizeof staged[0]);
    self->n = n;
    return 0;
}

int
cc_jwks_load_file(cc_jwks_t *self, const char *path, cc_err_t *err)
{
    size_t len = 0;
    char *text = s_read_file(path, JWKS_MAX, 0, &len, err);
    if (!text)
        return -1;
    int rc = cc_jwks_add_json(self, text, len, err);
    free(text);
    return rc;
}

/* ---- verification --------------------------------------------------------------- */

int
cc_jwt_has_district(const cc_jwt_claims_t *c, uint32_t district)
{
    for (size_t i = 0; i < c->n_districts; i++)
        if (c->district_ids[i] == district)
            return 1;
    return 0;
}

static int
s_same_id(const char *mine, const char *theirs)
{
    return mine && mine[0] && theirs && theirs[0] && strcasecmp(mine, theirs) == 0;
}

const char *
cc_jwt_scope_check(const cc_jwt_claims_t *c, const cc_scope_t *s)
{
    if (!c)
        return NULL;
    static const cc_scope_t none = { 0 };
    if (!s)
        s = &none;
    switch (c->role) {
    case CC_ROLE_DISPATCHER:
        return s->district_id && cc_jwt_has_district(c, s->district_id) ? NULL : "district_id";
    case CC_ROLE_CAREGIVER:
        return s_same_id(c->caregiver_id, s->caregiver_id) ? NULL : "caregiver_id";
    case CC_ROLE_PROVIDER_ADMIN:
        return s_same_id(c->provider_id, s->provider_id) ? NULL : "provider_id";
    case CC_ROLE_MEAL_POINT:
        return s_same_id(c->meal_point_id, s->meal_point_id) ? NULL : "meal_point_id";
    case CC_ROLE_FAMILY:
        return s_same_id(c->elder_id, s->elder_id) ? NULL : "elder_id";
    default:
        return NULL;
    }
}

/* A NumericDate claim: integer seconds in [0, TIME_MAX]. 1 present, 0
 * absent (left at 0), -1 wrong. Fractions are refused: our issuer and
 * the IdPs we know write integers. */
static int
s_time(json_t *p, const char *name, int64_t *out, cc_err_t *err)
{
    json_t *v = json_object_get(p, name);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > TIME_MAX)
        return s_bad(err, name, "must be an integer NumericDate");
    *out = json_integer_value(v);
    return 1;
}

/* A UUID scope claim, optional, into out[CC_UUID_LEN] in lower case. */
static int
s_uuid(json_t *p, const char *name, char *out, cc_err_t *err)
{
    json_t *v = json_object_get(p, name);
    if (!v)
        return 0;
    if (!json_is_string(v) || cc_uuid_norm(json_string_value(v), out) != 0)
        return s_bad(err, name, "must be a UUID");
    return 0;
}

/* 1 if "aud" (a string or an array of strings) names aud. */
static int
s_aud_has(json_t *v, const char *aud)
{
    if (json_is_string(v))
        return strcmp(json_string_value(v), aud) == 0;
    if (!json_is_array(v) || json_array_size(v) > AUD_MAX_ITEMS)
        return 0;
    int found = 0;
    size_t i;
    json_t *a;
    json_array_foreach(v, i, a) {
        if (!json_is_string(a))
            return 0;               /* a malformed list is no audience */
        if (strcmp(json_string_value(a), aud) == 0)
            found = 1;
    }
    return found;
}

/* Read the verified payload p into c; policy checks included. */
static int
s_claims(json_t *p, const cc_jwt_policy_t *pol, int64_t now, cc_jwt_claims_t *c,
         cc_err_t *err)
{
    int64_t skew = pol->skew_s < 0 ? CC_JWT_SKEW_S : pol->skew_s;
    int has_exp = s_time(p, "exp", &c->exp, err);
    if (has_exp < 0)
        return -1;
    if (has_exp == 0)
        return s_bad(err, "exp", "exp is required");
    int has_nbf = s_time(p, "nbf", &c->nbf, err);
    int has_iat = has_nbf < 0 ? -1 : s_time(p, "iat", &c->iat, err);
    if (has_iat < 0)
        return -1;
    if (!(now < c->exp + skew))
        return s_bad(err, "exp", "token expired");
    if (has_nbf && now < c->nbf - skew)
        return s_bad(err, "nbf", "token not yet valid");
    if (has_iat && c->iat > now + skew)
        return s_bad(err, "iat", "token issued in the future");

    const char *iss = json_string_value(json_object_get(p, "iss"));
    if (!iss || strcmp(iss, pol->iss) != 0)
        return s_bad(err, "iss", "wrong issuer");
    if (!s_aud_has(json_object_get(p, "aud"), pol->aud))
        return s_bad(err, "aud", "token not meant for this service");
    snprintf(c->iss, sizeof c->iss, "%s", iss);

    const char *sub = json_string_value(json_object_get(p, "sub"));
    if (!sub || !s_token_text(sub, CC_JWT_SUB_MAX))
        return s_bad(err, "sub", "sub must be 1..64 printable chars");
    snprintf(c->sub, sizeof c->sub, "%s", sub);
    json_t *v = json_object_get(p, "jti");
    if (v) {
        if (!json_is_string(v) || !s_token_text(json_string_value(v), CC_JWT_SUB_MAX))
            return s_bad(err, "jti", "jti must be 1..64 printable chars");
        snprintf(c->jti, sizeof c->jti, "%s", json_string_value(v));
    }
    c->role = cc_role_parse(json_string_value(json_object_get(p, "role")));
    if (!c->role)
        return s_bad(err, "role", "role missing or unknown");
    v = json_object_get(p, "gen");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return s_bad(err, "gen", "gen must be an integer >= 0");
        c->gen = json_integer_value(v);
    }

    v = json_object_get(p, "district_ids");
    if (v) {
        if (!json_is_array(v) || json_array_size(v) > CC_JWT_MAX_DISTRICTS)
            return s_bad(err, "district_ids", "district_ids must be an array of <= 64 ids");
        size_t i;
        json_t *d;
        json_array_foreach(v, i, d) {
            if (!json_is_integer(d) || json_integer_value(d) < 0
                || json_integer_value(d) > UINT32_MAX)
                return s_bad(err, "district_ids", "a district id must be a uint32");
            c->district_ids[c->n_districts++] = (uint32_t) json_integer_value(d);
        }
    }
    if (s_uuid(p, "provider_id", c->provider_id, err) || s_uuid(p, "caregiver_id",
                                                                 c->caregiver_id, err)
        || s_uuid(p, "meal_point_id", c->meal_point_id, err)
        || s_uuid(p, "elder_id", c->elder_id, err))
        return -1;

    /* Fail closed: a scoped role without its scope would leave each
     * handler to notice the gap. */
    const char *need = NULL;
    switch (c->role) {
    case CC_ROLE_DISPATCHER:     need = c->n_districts ? NULL : "district_ids"; break;
    case CC_ROLE_CAREGIVER:      need = c->caregiver_id[0] ? NULL : "caregiver_id"; break;
    case CC_ROLE_PROVIDER_ADMIN: need = c->provider_id[0] ? NULL : "provider_id"; break;
    case CC_ROLE_MEAL_POINT:     need = c->meal_point_id[0] ? NULL : "meal_point_id"; break;
    case CC_ROLE_FAMILY:         need = c->elder_id[0] ? NULL : "elder_id"; break;
    default:                     break;
    }
    if (need)
        return cc_err_set(err, 401, "invalid_token", need, "role %s needs %s",
                          cc_role_name(c->role), need);
    return 0;
}

int
cc_jwt_verify(const cc_jwks_t *keys, const cc_jwt_policy_t *pol, const char *token,
              size_t len, int64_t now_s, cc_jwt_claims_t *out, cc_err_t *err)
{
    if (!keys || !pol || !pol->iss || !pol->iss[0] || !pol->aud || !pol->aud[0])
        return cc_err_set(err, 500, "misconfigured", "", "verifier needs keys, iss and aud");
    if (!token || len == 0 || len > CC_JWT_MAX)
        return s_bad(err, "token", "token empty or over 8 KiB");
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t) (dot2 + 1 - token)))
        return s_bad(err, "token", "not a compact JWS (three parts)");
    size_t hlen = (size_t) (dot1 - token), plen = (size_t) (dot2 - dot1 - 1);
    size_t slen = len - (size_t) (dot2 + 1 - token);

    /* Header: pin the algorithm, pick the key. */
    char hdr[HEADER_MAX + 1];
    size_t n = 0;
    if (cc_b64url_decode(token, hlen, hdr, HEADER_MAX, &n) != 0)
        return s_bad(err, "header", "header is not base64url JSON");
    json_t *h = s_parse_object(hdr, n, 1);
    if (!h)
        return s_bad(err, "header", "header is not a flat JSON object");
    const char *alg = json_string_value(json_object_get(h, "alg"));
    json_t *typ = json_object_get(h, "typ");
    const char *kid = json_string_value(json_object_get(h, "kid"));
    int rc = -1;
    const s_pub_t *key = NULL;
    if (!alg || strcmp(alg, "EdDSA") != 0)
        s_bad(err, "alg", "only alg EdDSA is accepted");
    else if (json_object_get(h, "crit"))
        s_bad(err, "crit", "no critical header extension is understood");
    else if (json_object_get(h, "jwk") || json_object_get(h, "jku")
             || json_object_get(h, "x5u") || json_object_get(h, "x5c"))
        s_bad(err, "header", "keys come from the key set, never from the token");
    else if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
        s_bad(err, "typ", "typ must be JWT");
    else if (!kid)
        s_bad(err, "kid", "kid is required");
    else if (!(key = s_find(keys->keys, keys->n, kid)))
        s_bad(err, "kid", "unknown kid");
    else
        rc = 0;
    json_decref(h);
    if (rc != 0)
        return -1;

    unsigned char sig[SIG_LEN + 1];
    if (cc_b64url_decode(dot2 + 1, slen, sig, sizeof sig, &n) != 0 || n != SIG_LEN)
        return s_bad(err, "signature", "signature is not 64 bytes of base64url");
    /* Signed input: the header and payload texts as sent (RFC 7515 §5.2). */
    if (crypto_sign_verify_detached(sig, (const unsigned char *) token, (size_t) (dot2 - token),
                                    key->pk) != 0)
        return s_bad(err, "signature", "bad signature");

    char *body = malloc(plen + 1);
    if (!body)
        return cc_err_set(err, 500, "out_of_memory", "", "out of memory");
    json_t *p = NULL;
    /* depth 2: the claims object and the district_ids / aud arrays. */
    if (cc_b64url_decode(dot1 + 1, plen, body, plen, &n) == 0)
        p = s_parse_object(body, n, 2);
    free(body);
    if (!p)
        return s_bad(err, "payload", "payload is not a JSON object");
    cc_jwt_claims_t c;
    memset(&c, 0, sizeof c);
    snprintf(c.kid, sizeof c.kid, "%s", key->kid);
    rc = s_claims(p, pol, now_s, &c, err);
    json_decref(p);
    if (rc == 0)
        *out = c;
    return rc;
}
