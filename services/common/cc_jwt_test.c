/* Tests for cc_jwt: roles, base64url, key files, key sets, signing and
 * every way a token must be refused. Forged tokens are signed with a
 * trusted key unless the test is about the signature, so each refusal is
 * the rule under test and not a side effect (checked by err.field). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cc_jwt.h"

#define ISS "https://orderd.cc.local"
#define AUD "homecare"
#define NOW INT64_C(1795653000)          /* 2026-11-26T08:30:00+08:00 */
#define CG  "0b5e8f6e-3c1a-4f7e-8a2d-6c9b1e4f7a20"

static char s_dir[64];
static cc_jwt_key_t *s_key;              /* kid "k1", loaded from a 0600 file */
static cc_jwks_t *s_keys;                /* trusts s_key */
static const cc_jwt_policy_t s_pol = {ISS, AUD, -1};

static void
s_path(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", s_dir, name);
}

static int
s_setup(void **state)
{
    (void) state;
    snprintf(s_dir, sizeof s_dir, "/tmp/cc_jwt_test.XXXXXX");
    if (!mkdtemp(s_dir))
        return -1;
    char path[128];
    s_path(path, sizeof path, "issuer.key");
    if (cc_jwt_key_generate(path, "k1", NULL) != 0)
        return -1;
    s_key = cc_jwt_key_load(path, NULL);
    s_keys = cc_jwks_new();
    if (!s_key || !s_keys || cc_jwks_add_key(s_keys, s_key, NULL) != 0)
        return -1;
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    cc_jwt_key_destroy(&s_key);
    cc_jwks_destroy(&s_keys);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Secret key bytes of the key file path (for forging with our own key). */
static void
s_secret(const char *name, unsigned char sk[crypto_sign_SECRETKEYBYTES])
{
    char path[128], text[512];
    s_path(path, sizeof path, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *d = strstr(text, "\"d\":\"");
    assert_non_null(d);
    unsigned char seed[32], pk[32];
    size_t got;
    assert_int_equal(cc_b64url_decode(d + 5, 43, seed, sizeof seed, &got), 0);
    crypto_sign_seed_keypair(pk, sk, seed);
}

/* header.payload.signature from JSON texts, signed with sk (NULL: sig_b64
 * is used as the third part instead). The caller frees it. */
static char *
s_forge(const char *hdr, const char *payload, const unsigned char *sk, const char *sig_b64)
{
    size_t hl = strlen(hdr), pl = strlen(payload);
    size_t size = CC_B64URL_LEN(hl) + CC_B64URL_LEN(pl) + 200 + (sig_b64 ? strlen(sig_b64) : 0);
    char *t = calloc(1, size);
    assert_non_null(t);
    assert_int_equal(cc_b64url_encode(hdr, hl, t, size), 0);
    size_t n = strlen(t);
    t[n++] = '.';
    assert_int_equal(cc_b64url_encode(payload, pl, t + n, size - n), 0);
    n = strlen(t);
    if (sk) {
        unsigned char sig[crypto_sign_BYTES];
        crypto_sign_detached(sig, NULL, (unsigned char *) t, n, sk);
        t[n++] = '.';
        assert_int_equal(cc_b64url_encode(sig, sizeof sig, t + n, size - n), 0);
    } else {
        snprintf(t + n, size - n, ".%s", sig_b64);
    }
    return t;
}

/* A valid operator payload with field replaced: extra is spliced in
 * before the closing brace (a JSON member list starting with ','). */
static char *
s_payload(char *buf, size_t size, int64_t exp, const char *extra)
{
    snprintf(buf, size,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"acct-1\","
             "\"role\":\"operator\",\"exp\":%lld%s}", (long long) exp, extra);
    return buf;
}

#define HDR "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"k1\"}"

/* Verify token at now; expect failure on field (NULL: expect success). */
static void
s_expect(const char *token, int64_t now, const char *field)
{
    cc_jwt_claims_t c;
    cc_err_t err = {0};
    int rc = cc_jwt_verify(s_keys, &s_pol, token, strlen(token), now, &c, &err);
    if (!field) {
        if (rc != 0)
            fail_msg("refused: %s: %s", err.field, err.message);
        return;
    }
    if (rc == 0)
        fail_msg("accepted, expected a refusal on %s", field);
    assert_int_equal(err.status, 401);
    assert_string_equal(err.error, "invalid_token");
    assert_string_equal(err.field, field);
}

/* Sign header/payload with s_key and expect field (NULL: success). */
static void
s_forged(const char *hdr, const char *payload, int64_t now, const char *field)
{
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    s_secret("issuer.key", sk);
    char *t = s_forge(hdr, payload, sk, NULL);
    s_expect(t, now, field);
    free(t);
}

/* ---- roles and base64url --------------------------------------------------- */

static void
test_roles(void **state)
{
    (void) state;
    const char *names[] = {"operator", "dispatcher", "caregiver", "provider_admin",
                           "meal_point", "family", "auditor", "admin", "service"};
    unsigned all = 0;
    for (unsigned i = 0; i < 9; i++) {
        assert_string_equal(cc_role_name(1u << i), names[i]);
        assert_int_equal(cc_role_parse(names[i]), 1u << i);
        all |= 1u << i;
    }
    assert_int_equal(all, CC_ROLE_ALL);
    assert_null(cc_role_name(0));
    assert_null(cc_role_name(CC_ROLE_ADMIN | CC_ROLE_AUDITOR));
    assert_null(cc_role_name(1u << 9));
    assert_int_equal(cc_role_parse("Admin"), 0);
    assert_int_equal(cc_role_parse("root"), 0);
    assert_int_equal(cc_role_parse(""), 0);
    assert_int_equal(cc_role_parse(NULL), 0);
}

static void
test_b64url(void **state)
{
    (void) state;
    unsigned char in[40] = {0}, out[40];
    char text[64];
    size_t n;
    for (size_t len = 0; len < sizeof in; len++) {
        for (size_t i = 0; i < len; i++)
            in[i] = (unsigned char) (0xF0 + i * 37);
        assert_int_equal(cc_b64url_encode(in, len, text, sizeof text), 0);
        assert_int_equal(strlen(text), CC_B64URL_LEN(len));
        assert_null(strpbrk(text, "+/="));
        assert_int_equal(cc_b64url_decode(text, strlen(text), out, sizeof out, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(in, out, len);
    }
    assert_int_equal(cc_b64url_encode(in, 3, text, 4), -1);          /* no room for NUL */
    assert_int_equal(cc_b64url_decode("-_8", 3, out, sizeof out, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0xFB);
    assert_int_equal(out[1], 0xFF);
    /* Strict: padding, the standard alphabet, white space, a dangling
     * char, non-zero unused bits, too long for the buffer. */
    const char *bad[] = {"QQ==", "QQ=", "+w", "/w", "QQ ", " QQ", "Q\nQ", "Q", "QUJDR",
                         "QR", "QUK", "QUJ", "Q.Q"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cc_b64url_decode(bad[i], strlen(bad[i]), out, sizeof out, &n) == 0)
            fail_msg("accepted %s", bad[i]);
    assert_int_equal(cc_b64url_decode("QQ", 2, out, 1, &n), 0);      /* canonical "A" */
    assert_int_equal(cc_b64url_decode("QUI", 3, out, 2, &n), 0);     /* canonical "AB" */
    assert_int_equal(cc_b64url_decode("QUJD", 4, out, 2, &n), -1);   /* 3 bytes into 2 */
}

/* ---- key files ----------------------------------------------------------------- */

static void
test_key_file(void **state)
{
    (void) state;
    char path[128];
    s_path(path, sizeof path, "issuer.key");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_string_equal(cc_jwt_key_kid(s_key), "k1");
    cc_err_t err = {0};
    /* Never overwrite a key in use. */
    assert_int_equal(cc_jwt_key_generate(path, "k2", &err), -1);
    assert_int_equal(cc_jwt_key_generate(path, "", &err), -1);
    assert_string_equal(err.field, "kid");

    /* Group- or world-readable secrets are refused, whatever they hold. */
    s_path(path, sizeof path, "open.key");
    assert_int_equal(cc_jwt_key_generate(path, "k9", NULL), 0);
    const mode_t modes[] = {0644, 0640, 0604, 0660, 0601};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(chmod(path, modes[i]), 0);
        assert_null(cc_jwt_key_load(path, &err));
        assert_string_equal(err.field, "mode");
    }
    assert_int_equal(chmod(path, 0400), 0);
    cc_jwt_key_t *k = cc_jwt_key_load(path, &err);
    assert_non_null(k);
    cc_jwt_key_destroy(&k);
    assert_null(k);
    cc_jwt_key_destroy(&k);                 /* NULL-safe */
    assert_null(cc_jwt_key_load(s_dir, &err));          /* a directory */
    s_path(path, sizeof path, "absent.key");
    assert_null(cc_jwt_key_load(path, &err));

    /* x must be the public half of d. */
    s_path(path, sizeof path, "mismatch.key");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"m\","
          "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
          "\"d\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}", f);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
    assert_null(cc_jwt_key_load(path, &err));
    assert_string_equal(err.field, "x");
    /* The RFC 8037 A.1 pair is consistent and loads. */
    f = fopen(path, "w");
    fputs("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"m\","
          "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
          "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\"}", f);
    fclose(f);
    k = cc_jwt_key_load(path, &err);
    assert_non_null(k);
    cc_jwt_key_destroy(&k);
    f = fopen(path, "w");
    fputs("{\"kty\":\"RSA\",\"kid\":\"m\",\"n\":\"AQAB\"}", f);
    fclose(f);
    assert_null(cc_jwt_key_load(path, &err));
    assert_string_equal(err.field, "kty");
}

/* ---- key sets -------------------------------------------------------------------- */

#define RFC_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

static int
s_jwks(cc_jwks_t *ks, const char *text, cc_err_t *err)
{
    return cc_jwks_add_json(ks, text, strlen(text), err);
}

static void
test_jwks(void **state)
{
    (void) state;
    cc_jwks_t *ks = cc_jwks_new();
    assert_non_null(ks);
    cc_err_t err = {0};
    /* An IdP's set: an RSA key (with a certificate chain), an encryption
     * key, and the Ed25519 signing key, which alone is taken. */
    assert_int_equal(s_jwks(ks, "{\"keys\":["
        "{\"kty\":\"RSA\",\"kid\":\"r\",\"use\":\"sig\",\"alg\":\"RS256\",\"n\":\"AQAB\","
        "\"e\":\"AQAB\",\"x5c\":[\"MIIB\"]},"
        "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"kid\":\"x\",\"use\":\"enc\",\"x\":\"" RFC_X "\"},"
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"e\",\"use\":\"sig\",\"alg\":\"EdDSA\","
        "\"x\":\"" RFC_X "\"}]}", &err), 0);
    assert_int_equal(cc_jwks_size(ks), 1);

    /* Each bad key refuses the whole document and leaves the set as it was. */
    const char *bad[] = {
        /* x one byte short */
        "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"a\","
        "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUQ\"}]}",
        /* x padded */
        "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"a\",\"x\":\"" RFC_X "=\"}]}",
        /* x the identity point: small order */
        "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"a\","
        "\"x\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}",
        /* no kid */
        "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC_X "\"}]}",
        /* kid already in the set */
        "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"e\",\"x\":\"" RFC_X "\"}]}",
        /* a secret in a public file */
        "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"a\",\"x\":\"" RFC_X "\","
        "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\"}]}",
        /* a good key then a bad one: neither is added */
        "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"g\",\"x\":\"" RFC_X "\"},"
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"h\",\"x\":7}]}",
        /* no Ed25519 key at all */
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
        "{\"keys\":{}}", "[]", "{\"keys\":[1]}", "not json", "",
        "{\"keys\":[[[[[[]]]]]]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (s_jwks(ks, bad[i], &err) == 0)
            fail_msg("accepted key set %zu", i);
        assert_int_equal(cc_jwks_size(ks), 1);
    }

    /* From a file: the issuer's published half verifies its tokens. */
    char *pub = cc_jwt_key_public_jwks(s_key);
    assert_non_null(pub);
    char path[128];
    s_path(path, sizeof path, "jwks.json");
    FILE *f = fopen(path, "w");
    fputs(pub, f);
    fclose(f);
    free(pub);
    cc_jwks_t *ks2 = cc_jwks_new();
    assert_int_equal(cc_jwks_load_file(ks2, path, &err), 0);
    assert_int_equal(cc_jwks_size(ks2), 1);
    assert_int_equal(cc_jwks_add_key(ks2, s_key, &err), -1);       /* same kid */
    cc_jwt_claims_t c = {.iss = ISS, .sub = "acct-1", .role = CC_ROLE_ADMIN,
                         .exp = NOW + 900};
    char *tok = cc_jwt_sign(s_key, &c, AUD, &err);
    assert_non_null(tok);
    cc_jwt_claims_t out;
    assert_int_equal(cc_jwt_verify(ks2, &s_pol, tok, strlen(tok), NOW, &out, &err), 0);
    free(tok);
    s_path(path, sizeof path, "absent.json");
    assert_int_equal(cc_jwks_load_file(ks2, path, &err), -1);
    cc_jwks_destroy(&ks2);
    cc_jwks_destroy(&ks);
    assert_null(ks);
}

/* ---- good tokens --------------------------------------------------------------- */

static void
test_sign_verify(void **state)
{
    (void) state;
    cc_jwt_claims_t c = {
        .iss = ISS, .sub = "9d4c8a3e-2b1f-4e6d-8c7b-5a4f3e2d1c0b", .role = CC_ROLE_CAREGIVER,
        .exp = NOW + 900, .iat = NOW, .nbf = NOW, .gen = 7,
        .n_districts = 2, .district_ids = {3, 4000000000u},
        .caregiver_id = CG, .provider_id = "7e57d004-2b97-4e7a-b45f-5387367791cd",
    };
    cc_err_t err = {0};
    char *tok = cc_jwt_sign(s_key, &c, AUD, &err);
    assert_non_null(tok);
    assert_true(strlen(tok) < 1024);
    cc_jwt_claims_t out;
    memset(&out, 0xA5, sizeof out);
    assert_int_equal(cc_jwt_verify(s_keys, &s_pol, tok, strlen(tok), NOW, &out, &err), 0);
    assert_string_equal(out.iss, ISS);
    assert_string_equal(out.sub, c.sub);
    assert_string_equal(out.kid, "k1");
    assert_int_equal(out.role, CC_ROLE_CAREGIVER);
    assert_int_equal(out.exp, NOW + 900);
    assert_int_equal(out.iat, NOW);
    assert_int_equal(out.nbf, NOW);
    assert_int_equal(out.gen, 7);
    assert_int_equal(out.n_districts, 2);
    assert_true(cc_jwt_has_district(&out, 4000000000u));
    assert_false(cc_jwt_has_district(&out, 5));
    assert_string_equal(out.caregiver_id, CG);
    assert_string_equal(out.provider_id, c.provider_id);
    assert_string_equal(out.meal_point_id, "");
    assert_string_equal(out.elder_id, "");
    assert_int_equal(strlen(out.jti), 36);             /* a fresh UUID */
    assert_true(cc_uuid_valid(out.jti));
    /* Two tokens, two jtis. */
    char *tok2 = cc_jwt_sign(s_key, &c, AUD, &err);
    cc_jwt_claims_t out2;
    assert_int_equal(cc_jwt_verify(s_keys, &s_pol, tok2, strlen(tok2), NOW, &out2, &err), 0);
    assert_string_not_equal(out.jti, out2.jti);
    free(tok2);

    /* Another service's audience, another issuer's policy: refused. */
    cc_jwt_policy_t other = {ISS, "billingd", -1};
    assert_int_equal(cc_jwt_verify(s_keys, &other, tok, strlen(tok), NOW, &out, &err), -1);
    assert_string_equal(err.field, "aud");
    other = (cc_jwt_policy_t) {"https://elsewhere", AUD, -1};
    assert_int_equal(cc_jwt_verify(s_keys, &other, tok, strlen(tok), NOW, &out, &err), -1);
    assert_string_equal(err.field, "iss");
    /* A verifier without iss or aud is a configuration error, not a pass. */
    other = (cc_jwt_policy_t) {NULL, AUD, -1};
    assert_int_equal(cc_jwt_verify(s_keys, &other, tok, strlen(tok), NOW, &out, &err), -1);
    assert_int_equal(err.status, 500);
    free(tok);

    /* Signing refuses incomplete claims. */
    cc_jwt_claims_t bad = c;
    bad.role = CC_ROLE_ADMIN | CC_ROLE_AUDITOR;
    assert_null(cc_jwt_sign(s_key, &bad, AUD, &err));
    bad = c;
    bad.sub[0] = '\0';
    assert_null(cc_jwt_sign(s_key, &bad, AUD, &err));
    bad = c;
    bad.exp = 0;
    assert_null(cc_jwt_sign(s_key, &bad, AUD, &err));
    assert_null(cc_jwt_sign(s_key, &c, "", &err));
}

/* Known answer: a token from an independent implementation (PyNaCl, the
 * Debian package python3-nacl 1.5.0) signed with the RFC 8037 A.1 test
 * key, made by this script (python3 mk.py):
 *
 *   import base64, json, nacl.signing
 *   b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
 *   seed = base64.urlsafe_b64decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
 *   sk = nacl.signing.SigningKey(seed)
 *   hdr = {"alg": "EdDSA", "typ": "JWT", "kid": "rfc8037-a1"}
 *   claims = {"iss": "https://idp.example.org/realms/county",
 *             "aud": ["account", "orderd"],
 *             "sub": "5f0c4e8a-6a51-4d2e-9b7e-3f1c2d4a5b6c", "role": "dispatcher",
 *             "district_ids": [3, 7], "iat": 1795653000, "nbf": 1795653000,
 *             "exp": 1795653900, "jti": "kat-0001", "gen": 2}
 *   enc = lambda o: b64(json.dumps(o, separators=(",", ":")).encode())
 *   msg = enc(hdr) + "." + enc(claims)
 *   print(msg + "." + b64(sk.sign(msg.encode()).signature))
 *   print(b64(bytes(sk.verify_key)))   # = RFC 8037 A.1 "x"
 */
static const char s_kat_token[] =
    "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6InJmYzgwMzctYTEifQ."
    "eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLm9yZy9yZWFsbXMvY291bnR5IiwiYXVkIjpbImFjY291bnQi"
    "LCJvcmRlcmQiXSwic3ViIjoiNWYwYzRlOGEtNmE1MS00ZDJlLTliN2UtM2YxYzJkNGE1YjZjIiwicm9sZSI6"
    "ImRpc3BhdGNoZXIiLCJkaXN0cmljdF9pZHMiOlszLDddLCJpYXQiOjE3OTU2NTMwMDAsIm5iZiI6MTc5NTY1"
    "MzAwMCwiZXhwIjoxNzk1NjUzOTAwLCJqdGkiOiJrYXQtMDAwMSIsImdlbiI6Mn0."
    "kMzf1V0NR0omBSAnsmk4v1c_1OcIBZArYyZ6qLut6f4hNZTtB_t1FCpEJThcthm0eFR0TcApGD3lnGmFmyb5DQ";

static void
test_known_answer(void **state)
{
    (void) state;
    cc_jwks_t *ks = cc_jwks_new();
    cc_err_t err = {0};
    assert_int_equal(s_jwks(ks, "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                                "\"kid\":\"rfc8037-a1\",\"x\":\"" RFC_X "\"}]}", &err), 0);
    cc_jwt_policy_t pol = {"https://idp.example.org/realms/county", "orderd", -1};
    cc_jwt_claims_t c;
    size_t len = strlen(s_kat_token);
    assert_int_equal(cc_jwt_verify(ks, &pol, s_kat_token, len, 1795653500, &c, &err), 0);
    assert_string_equal(c.sub, "5f0c4e8a-6a51-4d2e-9b7e-3f1c2d4a5b6c");
    assert_int_equal(c.role, CC_ROLE_DISPATCHER);
    assert_int_equal(c.n_districts, 2);
    assert_int_equal(c.district_ids[0], 3);
    assert_int_equal(c.district_ids[1], 7);
    assert_int_equal(c.exp, 1795653900);
    assert_int_equal(c.gen, 2);
    assert_string_equal(c.jti, "kat-0001");
    assert_string_equal(c.kid, "rfc8037-a1");
    /* The same token an hour later is expired: the clock is really read. */
    assert_int_equal(cc_jwt_verify(ks, &pol, s_kat_token, len, 1795657500, &c, &err), -1);
    assert_string_equal(err.field, "exp");
    /* Our own key set does not know its kid. */
    assert_int_equal(cc_jwt_verify(s_keys, &pol, s_kat_token, len, 1795653500, &c, &err), -1);
    assert_string_equal(err.field, "kid");
    cc_jwks_destroy(&ks);
}

/* ---- signatures and tampering --------------------------------------------------- */

static void
test_bad_signature(void **state)
{
    (void) state;
    /* A different key under the trusted kid. */
    char path[128];
    s_path(path, sizeof path, "rogue.key");
    assert_int_equal(cc_jwt_key_generate(path, "k1", NULL), 0);
    cc_jwt_key_t *rogue = cc_jwt_key_load(path, NULL);
    assert_non_null(rogue);
    cc_jwt_claims_t c = {.iss = ISS, .sub = "acct-1", .role = CC_ROLE_ADMIN, .exp = NOW + 60};
    char *tok = cc_jwt_sign(rogue, &c, AUD, NULL);
    assert_non_null(tok);
    s_expect(tok, NOW, "signature");
    free(tok);
    cc_jwt_key_destroy(&rogue);
    /* A signature of the wrong size, an empty one. */
    char p[256];
    char *t = s_forge(HDR, s_payload(p, sizeof p, NOW + 60, ""), NULL, "AAAA");
    s_expect(t, NOW, "signature");
    free(t);
    t = s_forge(HDR, s_payload(p, sizeof p, NOW + 60, ""), NULL, "");
    s_expect(t, NOW, "signature");
    free(t);
}

/* Flip one byte of each part's decoded bytes (re-encoded strictly), and
 * replace each character of the token by another of the alphabet: no
 * change of any kind may verify. */
static void
test_tamper(void **state)
{
    (void) state;
    cc_jwt_claims_t c = {.iss = ISS, .sub = "acct-1", .role = CC_ROLE_DISPATCHER,
                         .exp = NOW + 60, .n_districts = 1, .district_ids = {3}};
    char *tok = cc_jwt_sign(s_key, &c, AUD, NULL);
    assert_non_null(tok);
    s_expect(tok, NOW, NULL);
    size_t len = strlen(tok);
    char *dot1 = strchr(tok, '.'), *dot2 = strchr(dot1 + 1, '.');
    const char *starts[3] = {tok, dot1 + 1, dot2 + 1};
    size_t lens[3] = {(size_t) (dot1 - tok), (size_t) (dot2 - dot1 - 1),
                      len - (size_t) (dot2 + 1 - tok)};
    /* Decoded byte flips: the payload and signature fail the signature;
     * the header fails as JSON, as alg/kid/typ, or as the signature. */
    for (int part = 0; part < 3; part++) {
        unsigned char bin[1024];
        size_t n;
        assert_int_equal(cc_b64url_decode(starts[part], lens[part], bin, sizeof bin, &n), 0);
        for (size_t i = 0; i < n; i++) {
            bin[i] ^= 0x01;
            char enc[1400];
            assert_int_equal(cc_b64url_encode(bin, n, enc, sizeof enc), 0);
            bin[i] ^= 0x01;
            char t[2048];
            snprintf(t, sizeof t, "%.*s%s%s", (int) (starts[part] - tok), tok, enc,
                     part == 2 ? "" : starts[part] + lens[part]);
            cc_jwt_claims_t out;
            cc_err_t err = {0};
            if (cc_jwt_verify(s_keys, &s_pol, t, strlen(t), NOW, &out, &err) == 0)
                fail_msg("part %d byte %zu flipped: accepted", part, i);
            if (part > 0)
                assert_string_equal(err.field, "signature");
        }
    }
    /* Character substitutions, everywhere. */
    for (size_t i = 0; i < len; i++) {
        if (tok[i] == '.')
            continue;
        char saved = tok[i];
        tok[i] = saved == 'A' ? 'B' : 'A';
        cc_jwt_claims_t out;
        if (cc_jwt_verify(s_keys, &s_pol, tok, len, NOW, &out, NULL) == 0)
            fail_msg("char %zu changed: accepted", i);
        tok[i] = saved;
    }
    /* Appended, truncated, or given with a length that cuts it. */
    char t[2048];
    snprintf(t, sizeof t, "%sA", tok);
    s_expect(t, NOW, "signature");
    snprintf(t, sizeof t, "%s.", tok);
    s_expect(t, NOW, "token");
    cc_jwt_claims_t out;
    assert_int_equal(cc_jwt_verify(s_keys, &s_pol, tok, len - 1, NOW, &out, NULL), -1);
    s_expect(tok, NOW, NULL);
    free(tok);
}

/* ---- header rules --------------------------------------------------------------- */

static void
test_alg_none(void **state)
{
    (void) state;
    char p[256];
    s_payload(p, sizeof p, NOW + 60, "");
    char *t = s_forge("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"k1\"}", p, NULL, "");
    s_expect(t, NOW, "alg");
    free(t);
    t = s_forge("{\"alg\":\"none\"}", p, NULL, "");
    s_expect(t, NOW, "alg");
    free(t);
    /* Even with a valid EdDSA signature attached. */
    s_forged("{\"alg\":\"none\",\"kid\":\"k1\"}", p, NOW, "alg");
}

/* The classic confusion: HS256 with the verifier's public key as the HMAC
 * secret (a verifier that lets the token choose the algorithm would check
 * the MAC with the key it holds and accept). */
static void
test_alg_hs256_confusion(void **state)
{
    (void) state;
    char *jwks = cc_jwt_key_public_jwks(s_key);
    const char *x = strstr(jwks, "\"x\": \"");
    assert_non_null(x);
    unsigned char pk[32];
    size_t n;
    assert_int_equal(cc_b64url_decode(x + 6, 43, pk, sizeof pk, &n), 0);
    char p[256];
    s_payload(p, sizeof p, NOW + 60, "");
    const char *hdr = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}";
    /* Keyed with the raw public key, and with the JWKS text. */
    const unsigned char *secrets[2] = {pk, (const unsigned char *) jwks};
    size_t sizes[2] = {sizeof pk, strlen(jwks)};
    for (int k = 0; k < 2; k++) {
        char *t = s_forge(hdr, p, NULL, "");
        t[strlen(t) - 1] = '\0';           /* drop the trailing '.' */
        crypto_auth_hmacsha256_state st;
        unsigned char mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_init(&st, secrets[k], sizes[k]);
        crypto_auth_hmacsha256_update(&st, (unsigned char *) t, strlen(t));
        crypto_auth_hmacsha256_final(&st, mac);
        char m[64];
        cc_b64url_encode(mac, sizeof mac, m, sizeof m);
        char full[1024];
        snprintf(full, sizeof full, "%s.%s", t, m);
        s_expect(full, NOW, "alg");
        free(t);
    }
    free(jwks);
}

static void
test_alg_others(void **state)
{
    (void) state;
    char p[256];
    s_payload(p, sizeof p, NOW + 60, "");
    /* RS256 / ES256 with a junk signature, and each signed by our key:
     * the header's alg decides nothing but refusal. */
    const char *algs[] = {"RS256", "ES256", "PS256", "HS512", "EdDSA ", "eddsa", "ED25519",
                          "Ed25519"};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        char h[128];
        snprintf(h, sizeof h, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"k1\"}", algs[i]);
        char *t = s_forge(h, p, NULL, "c2lnbmF0dXJl");
        s_expect(t, NOW, "alg");
        free(t);
        s_forged(h, p, NOW, "alg");
    }
    s_forged("{\"typ\":\"JWT\",\"kid\":\"k1\"}", p, NOW, "alg");          /* missing */
    s_forged("{\"alg\":null,\"kid\":\"k1\"}", p, NOW, "alg");
    s_forged("{\"alg\":[\"EdDSA\"],\"kid\":\"k1\"}", p, NOW, "header");   /* too deep */
    s_forged("{\"alg\":\"EdDSA\",\"alg\":\"EdDSA\",\"kid\":\"k1\"}", p, NOW, "header");
    s_forged("{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"crit\":[\"exp\"]}", p, NOW, "header");
    s_forged("{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"crit\":\"b64\"}", p, NOW, "crit");
    s_forged("{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"jku\":\"https://x\"}", p, NOW, "header");
    s_forged("{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"x5u\":\"https://x\"}", p, NOW, "header");
    s_forged("{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"typ\":\"JOSE\"}", p, NOW, "typ");
    s_forged("{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"typ\":1}", p, NOW, "typ");
    s_forged("{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"typ\":\"jwt\"}", p, NOW, NULL);
    s_forged("{\"alg\":\"EdDSA\",\"kid\":\"k1\"}", p, NOW, NULL);         /* typ optional */
    s_forged("[\"EdDSA\"]", p, NOW, "header");
}

static void
test_kid(void **state)
{
    (void) state;
    char p[256];
    s_payload(p, sizeof p, NOW + 60, "");
    s_forged("{\"alg\":\"EdDSA\",\"kid\":\"k2\"}", p, NOW, "kid");
    s_forged("{\"alg\":\"EdDSA\",\"kid\":\"K1\"}", p, NOW, "kid");
    s_forged("{\"alg\":\"EdDSA\",\"kid\":\"\"}", p, NOW, "kid");
    s_forged("{\"alg\":\"EdDSA\"}", p, NOW, "kid");
    s_forged("{\"alg\":\"EdDSA\",\"kid\":1}", p, NOW, "kid");
}

/* ---- time ------------------------------------------------------------------------ */

static void
test_time(void **state)
{
    (void) state;
    char p[256];
    int64_t exp = NOW + 900;
    s_payload(p, sizeof p, exp, "");
    /* Default skew 60 s: valid while now < exp + 60. */
    s_forged(HDR, p, exp - 1, NULL);
    s_forged(HDR, p, exp, NULL);
    s_forged(HDR, p, exp + 59, NULL);
    s_forged(HDR, p, exp + 60, "exp");
    s_forged(HDR, p, exp + 86400, "exp");
    /* nbf: valid from nbf - 60 on. */
    s_payload(p, sizeof p, exp, ",\"nbf\":1795653600");
    s_forged(HDR, p, 1795653600 - 60, NULL);
    s_forged(HDR, p, 1795653600 - 61, "nbf");
    s_forged(HDR, p, NOW, "nbf");
    /* iat may not be more than the skew in the future. */
    s_payload(p, sizeof p, exp, ",\"iat\":1795653600");
    s_forged(HDR, p, 1795653600 - 60, NULL);
    s_forged(HDR, p, 1795653600 - 61, "iat");

    /* A configured skew: 0 makes exp exact, 300 widens it. */
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    s_secret("issuer.key", sk);
    s_payload(p, sizeof p, exp, "");
    char *t = s_forge(HDR, p, sk, NULL);
    cc_jwt_claims_t c;
    cc_err_t err;
    cc_jwt_policy_t pol = {ISS, AUD, 0};
    assert_int_equal(cc_jwt_verify(s_keys, &pol, t, strlen(t), exp - 1, &c, &err), 0);
    assert_int_equal(cc_jwt_verify(s_keys, &pol, t, strlen(t), exp, &c, &err), -1);
    assert_string_equal(err.field, "exp");
    pol.skew_s = 300;
    assert_int_equal(cc_jwt_verify(s_keys, &pol, t, strlen(t), exp + 299, &c, &err), 0);
    assert_int_equal(cc_jwt_verify(s_keys, &pol, t, strlen(t), exp + 300, &c, &err), -1);
    free(t);

    /* exp is required, and a plain integer. */
    s_forged(HDR, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"a\",\"role\":\"admin\"}",
             NOW, "exp");
    const char *exps[] = {"\"1795654000\"", "1795654000.5", "-1", "null", "true",
                          "99999999999999999999"};
    for (size_t i = 0; i < sizeof exps / sizeof exps[0]; i++) {
        char q[256];
        snprintf(q, sizeof q, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"a\","
                 "\"role\":\"admin\",\"exp\":%s}", exps[i]);
        /* jansson refuses an integer beyond int64 outright: payload. */
        s_forged(HDR, q, NOW, i == 5 ? "payload" : "exp");
    }
    s_payload(p, sizeof p, exp, ",\"nbf\":\"soon\"");
    s_forged(HDR, p, NOW, "nbf");
}

/* ---- iss, aud and the other claims ------------------------------------------------ */

static void
test_iss_aud(void **state)
{
    (void) state;
    char q[512];
    const struct { const char *iss, *aud, *field; } cases[] = {
        {"\"" ISS "\"", "\"" AUD "\"", NULL},
        {"\"" ISS "\"", "[\"other\",\"" AUD "\"]", NULL},
        {"\"" ISS "\"", "\"other\"", "aud"},
        {"\"" ISS "\"", "[\"other\"]", "aud"},
        {"\"" ISS "\"", "[]", "aud"},
        {"\"" ISS "\"", "[\"" AUD "\",7]", "aud"},
        {"\"" ISS "\"", "\"HOMECARE\"", "aud"},
        {"\"" ISS "\"", "\"homecare \"", "aud"},
        {"\"" ISS "\"", "null", "aud"},
        {"\"" ISS "/\"", "\"" AUD "\"", "iss"},
        {"\"https://evil.example\"", "\"" AUD "\"", "iss"},
        {"[\"" ISS "\"]", "\"" AUD "\"", "iss"},
        {"7", "\"" AUD "\"", "iss"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(q, sizeof q, "{\"iss\":%s,\"aud\":%s,\"sub\":\"a\",\"role\":\"admin\","
                 "\"exp\":%lld}", cases[i].iss, cases[i].aud, (long long) NOW + 60);
        s_forged(HDR, q, NOW, cases[i].field);
    }
    /* Missing aud, missing iss. */
    s_forged(HDR, "{\"iss\":\"" ISS "\",\"sub\":\"a\",\"role\":\"admin\",\"exp\":1795653060}",
             NOW, "aud");
    s_forged(HDR, "{\"aud\":\"" AUD "\",\"sub\":\"a\",\"role\":\"admin\",\"exp\":1795653060}",
             NOW, "iss");
}

static void
test_claims(void **state)
{
    (void) state;
    char p[512];
    const struct { const char *extra, *field; } cases[] = {
        {",\"gen\":3", NULL},
        {",\"gen\":-1", "gen"},
        {",\"gen\":\"3\"", "gen"},
        {",\"jti\":\"\"", "jti"},
        {",\"jti\":\"a b\"", "jti"},
        {",\"elder_id\":\"not-a-uuid\"", "elder_id"},
        {",\"provider_id\":7", "provider_id"},
        {",\"district_ids\":[1,-2]", "district_ids"},
        {",\"district_ids\":[4294967296]", "district_ids"},
        {",\"district_ids\":[\"3\"]", "district_ids"},
        {",\"district_ids\":3", "district_ids"},
        {",\"district_ids\":[[3]]", "payload"},              /* depth 3 */
        {",\"sub\":\"again\"", "payload"},                   /* duplicate member */
        {",\"x\":{\"y\":{}}", "payload"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_payload(p, sizeof p, NOW + 60, cases[i].extra);
        s_forged(HDR, p, NOW, cases[i].field);
    }
    /* sub and role: required, well-formed. */
    const char *tmpl = "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",%s\"exp\":1795653060}";
    const struct { const char *members, *field; } subs[] = {
        {"\"role\":\"admin\",", "sub"},
        {"\"sub\":\"\",\"role\":\"admin\",", "sub"},
        {"\"sub\":\"has space\",\"role\":\"admin\",", "sub"},
        {"\"sub\":\"a\",", "role"},
        {"\"sub\":\"a\",\"role\":\"root\",", "role"},
        {"\"sub\":\"a\",\"role\":\"Admin\",", "role"},
        {"\"sub\":\"a\",\"role\":[\"admin\"],", "role"},
        /* A scoped role needs its scope. */
        {"\"sub\":\"a\",\"role\":\"dispatcher\",", "district_ids"},
        {"\"sub\":\"a\",\"role\":\"dispatcher\",\"district_ids\":[],", "district_ids"},
        {"\"sub\":\"a\",\"role\":\"caregiver\",", "caregiver_id"},
        {"\"sub\":\"a\",\"role\":\"caregiver\",\"provider_id\":\"" CG "\",", "caregiver_id"},
        {"\"sub\":\"a\",\"role\":\"provider_admin\",", "provider_id"},
        {"\"sub\":\"a\",\"role\":\"meal_point\",", "meal_point_id"},
        {"\"sub\":\"a\",\"role\":\"family\",", "elder_id"},
        {"\"sub\":\"a\",\"role\":\"caregiver\",\"caregiver_id\":\"" CG "\",", NULL},
        {"\"sub\":\"a\",\"role\":\"family\",\"elder_id\":\"" CG "\",", NULL},
        {"\"sub\":\"a\",\"role\":\"auditor\",", NULL},
        {"\"sub\":\"a\",\"role\":\"service\",", NULL},
    };
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        snprintf(p, sizeof p, tmpl, subs[i].members);
        s_forged(HDR, p, NOW, subs[i].field);
    }
    /* An upper-case UUID scope comes out in lower case. */
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    s_secret("issuer.key", sk);
    snprintf(p, sizeof p, tmpl, "\"sub\":\"a\",\"role\":\"caregiver\","
             "\"caregiver_id\":\"0B5E8F6E-3C1A-4F7E-8A2D-6C9B1E4F7A20\",");
    char *t = s_forge(HDR, p, sk, NULL);
    cc_jwt_claims_t c;
    assert_int_equal(cc_jwt_verify(s_keys, &s_pol, t, strlen(t), NOW, &c, NULL), 0);
    assert_string_equal(c.caregiver_id, CG);
    assert_int_equal(c.gen, 0);
    assert_string_equal(c.jti, "");
    free(t);
    /* The payload must be a JSON object. */
    s_forged(HDR, "[1]", NOW, "payload");
    s_forged(HDR, "\"x\"", NOW, "payload");
    s_forged(HDR, "{", NOW, "payload");
}

/* ---- shape and size ------------------------------------------------------------------ */

static void
test_malformed(void **state)
{
    (void) state;
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    s_secret("issuer.key", sk);
    char p[256];
    s_payload(p, sizeof p, NOW + 60, "");
    char *good = s_forge(HDR, p, sk, NULL);
    s_expect(good, NOW, NULL);
    char t[2048];
    char *dot1 = strchr(good, '.'), *dot2 = strchr(dot1 + 1, '.');
    int hl = (int) (dot1 - good), bl = (int) (dot2 - dot1 - 1);
    /* Padding, the standard alphabet, spaces, in each part. */
    snprintf(t, sizeof t, "%.*s=.%s", hl, good, dot1 + 1);
    s_expect(t, NOW, "header");
    snprintf(t, sizeof t, "%.*s=%s", (int) (dot2 - good), good, dot2);
    s_expect(t, NOW, "signature");           /* the signed text changed */
    snprintf(t, sizeof t, "%s==", good);
    s_expect(t, NOW, "signature");
    snprintf(t, sizeof t, "%.*s+%s", hl - 1, good, dot1);
    s_expect(t, NOW, "header");
    snprintf(t, sizeof t, " %s", good);
    s_expect(t, NOW, "header");
    snprintf(t, sizeof t, "%s ", good);
    s_expect(t, NOW, "signature");
    snprintf(t, sizeof t, "Bearer %s", good);
    s_expect(t, NOW, "header");
    /* A payload that is not base64url, properly signed. */
    snprintf(t, sizeof t, "%.*s.%.*s*", hl, good, bl - 1, dot1 + 1);
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (unsigned char *) t, strlen(t), sk);
    size_t n = strlen(t);
    t[n++] = '.';
    cc_b64url_encode(sig, sizeof sig, t + n, sizeof t - n);
    s_expect(t, NOW, "payload");
    /* Parts: two, four (JWE has five), empty. */
    snprintf(t, sizeof t, "%.*s", (int) (dot2 - good), good);
    s_expect(t, NOW, "token");
    snprintf(t, sizeof t, "%s.e30", good);
    s_expect(t, NOW, "token");
    s_expect("..", NOW, "header");
    s_expect("", NOW, "token");
    s_expect("...", NOW, "token");
    /* A NUL inside the stated length. */
    cc_jwt_claims_t c;
    cc_err_t err;
    size_t len = strlen(good);
    memcpy(t, good, len + 1);
    t[hl + 3] = '\0';
    assert_int_equal(cc_jwt_verify(s_keys, &s_pol, t, len, NOW, &c, &err), -1);
    assert_int_equal(cc_jwt_verify(s_keys, &s_pol, NULL, 0, NOW, &c, &err), -1);
    assert_string_equal(err.field, "token");
    free(good);
}

static void
test_oversize(void **state)
{
    (void) state;
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    s_secret("issuer.key", sk);
    /* A validly signed token just over 8 KiB: refused before any parsing. */
    char pad[6200];
    memset(pad, 'a', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    char *extra = malloc(sizeof pad + 16);
    snprintf(extra, sizeof pad + 16, ",\"pad\":\"%s\"", pad);
    char *p = malloc(sizeof pad + 256);
    s_payload(p, sizeof pad + 256, NOW + 60, extra);
    char *t = s_forge(HDR, p, sk, NULL);
    assert_true(strlen(t) > CC_JWT_MAX);
    s_expect(t, NOW, "token");
    free(t);
    /* Under the limit, the same shape verifies. */
    p[strlen(p) - 2000] = '\0';
    snprintf(p + strlen(p), 16, "\"}");
    t = s_forge(HDR, p, sk, NULL);
    assert_true(strlen(t) <= CC_JWT_MAX);
    s_expect(t, NOW, NULL);
    free(t);
    /* A header over 1 KiB. */
    char h[1400];
    snprintf(h, sizeof h, "{\"alg\":\"EdDSA\",\"kid\":\"k1\",\"x\":\"%.1100s\"}", pad);
    s_payload(p, 256, NOW + 60, "");
    t = s_forge(h, p, sk, NULL);
    s_expect(t, NOW, "header");
    free(t);
    /* Deep nesting in the payload: refused before jansson recurses. */
    char deep[4200];
    size_t n = (size_t) snprintf(deep, sizeof deep, ",\"x\":");
    for (int i = 0; i < 2000; i++)
        deep[n++] = '[';
    for (int i = 0; i < 2000; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    s_payload(p, sizeof pad + 256, NOW + 60, deep);
    t = s_forge(HDR, p, sk, NULL);
    s_expect(t, NOW, "payload");
    free(t);
    free(p);
    free(extra);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_jwks),
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_alg_hs256_confusion),
        cmocka_unit_test(test_alg_others),
        cmocka_unit_test(test_kid),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_iss_aud),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_oversize),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
