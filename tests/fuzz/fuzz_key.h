/* fuzz_key.h: the fixed Ed25519 key the jwt and http targets trust and sign
 * with, so that a fuzzed claims set gets past the signature to the claims
 * reader. tests/fuzz/gen_seeds.py signs the seed tokens with the same key
 * (seed bytes 1..32); it protects nothing. */
#ifndef FUZZ_KEY_H
#define FUZZ_KEY_H
#include <stdio.h>
#include <sodium.h>
#include "cc_jwt.h"

#define FZ_ISS "https://issuer.fuzz"
#define FZ_AUD "eldercare"
#define FZ_KID "fuzz-1"

static unsigned char fz_pk[crypto_sign_PUBLICKEYBYTES], fz_sk[crypto_sign_SECRETKEYBYTES];

/* The key pair, and a key set that trusts its public half. */
static inline cc_jwks_t *fz_key_init(void)
{
    if (sodium_init() < 0)
        abort();
    unsigned char seed[crypto_sign_SEEDBYTES];
    for (size_t i = 0; i < sizeof seed; i++)
        seed[i] = (unsigned char) (i + 1);
    crypto_sign_seed_keypair(fz_pk, fz_sk, seed);
    char x[64], doc[256];
    if (cc_b64url_encode(fz_pk, sizeof fz_pk, x, sizeof x) != 0)
        abort();
    snprintf(doc, sizeof doc,
             "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"%s\",\"x\":\"%s\","
             "\"use\":\"sig\",\"alg\":\"EdDSA\"}]}", FZ_KID, x);
    cc_jwks_t *keys = cc_jwks_new();
    cc_err_t err;
    if (!keys || cc_jwks_add_json(keys, doc, strlen(doc), &err) != 0)
        abort();
    return keys;
}

/* header and payload texts -> a compact token signed with the fuzz key
 * (malloc'd), NULL when too long for a token. */
static inline char *fz_sign(const char *hdr, size_t hlen, const char *pay, size_t plen)
{
    size_t n = CC_B64URL_LEN(hlen) + 1 + CC_B64URL_LEN(plen) + 1 + CC_B64URL_LEN(64) + 1;
    if (n > 2 * CC_JWT_MAX)
        return NULL;
    char *t = malloc(n);
    if (!t)
        abort();
    size_t a = CC_B64URL_LEN(hlen), b = CC_B64URL_LEN(plen);
    if (cc_b64url_encode(hdr, hlen, t, a + 1) != 0)
        abort();
    t[a] = '.';
    if (cc_b64url_encode(pay, plen, t + a + 1, b + 1) != 0)
        abort();
    t[a + 1 + b] = '.';
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *) t, a + 1 + b, fz_sk);
    if (cc_b64url_encode(sig, sizeof sig, t + a + 2 + b, n - (a + 2 + b)) != 0)
        abort();
    return t;
}

#endif
