/* jwt: the bearer-token parser (cc_jwt.c). The first input byte picks:
 *   0  the rest is a compact token, verified as sent (base64url, header
 *      rules, signature);
 *   1  the rest is "<header JSON>\0<claims JSON>": signed here with the
 *      trusted fuzz key (fuzz_key.h), so the claims reader and the policy
 *      checks see fuzzed claims behind a good signature;
 *   2  the rest is a JWKS document for cc_jwks_add_json (the key file
 *      reader).
 * A verified token's claims must then hold what the HTTP guards rely on. */
#include "fuzz.h"
#include "fuzz_key.h"
#include "cc_log.h"

static cc_jwks_t *s_keys;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    cc_log_init("fuzz", "error");
    s_keys = fz_key_init();
    return 0;
}

static void s_verify(const char *token, size_t len)
{
    cc_jwt_policy_t pol = { FZ_ISS, FZ_AUD, -1 };
    cc_jwt_claims_t c;
    cc_err_t err;
    if (cc_jwt_verify(s_keys, &pol, token, len, FZ_NOW_US / 1000000, &c, &err) != 0) {
        if (err.status != 401)
            abort();
        return;
    }
    /* One role, and the scope that role needs (cc_jwt.h). */
    if (!cc_role_name(c.role) || c.n_districts > CC_JWT_MAX_DISTRICTS)
        abort();
    cc_scope_t s = { 1, c.caregiver_id, c.provider_id, c.meal_point_id, c.elder_id };
    (void) cc_jwt_scope_check(&c, &s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *rest = (const char *) data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0:
        s_verify(rest, n);
        break;
    case 1: {
        const char *nul = memchr(rest, '\0', n);
        if (!nul)
            break;
        size_t hlen = (size_t) (nul - rest);
        char *t = fz_sign(rest, hlen, nul + 1, n - hlen - 1);
        if (t) {
            s_verify(t, strlen(t));
            free(t);
        }
        break;
    }
    default: {
        cc_jwks_t *k = cc_jwks_new();
        cc_err_t err;
        if (!k)
            abort();
        (void) cc_jwks_add_json(k, rest, n, &err);
        cc_jwks_destroy(&k);
        break;
    }
    }
    return 0;
}
