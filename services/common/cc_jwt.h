/* cc_jwt: bearer tokens. Compact JWS (RFC 7515) JWTs (RFC 7519) signed
 * with EdDSA over Ed25519 (RFC 8037) and nothing else; roles as bit flags.
 *
 * Three classes:
 * - cc_jwt_key_t: the embedded issuer's key pair, from a secret key file
 *   (an OKP private JWK, mode 0600), for cc_jwt_sign;
 * - cc_jwks_t: the public keys a verifier trusts, by "kid": a JWKS file
 *   (ours, or a county's identity provider's) and/or the issuer's own key;
 * - cc_jwt_claims_t: the claims of a verified token, plain C.
 *
 * Verification refuses every "alg" but "EdDSA" (so no "none", no HS256
 * keyed with the public key, no RS/ES), a "crit" header, an embedded or
 * remote key ("jwk", "jku", "x5u", "x5c"), a "typ" other than JWT, an
 * unknown "kid", a bad signature; only then reads the claims: exp
 * (required), nbf and iat (if present), iss, aud, sub, role and the scope
 * the role needs. Errors: cc_err_t with status 401, error "invalid_token"
 * and field naming what failed ("alg", "kid", "signature", "exp", ...);
 * the message is safe to log and to send (no token text in it). */
#ifndef CC_JWT_H
#define CC_JWT_H
#include <stddef.h>
#include <stdint.h>
#include "cc_json.h"
#include "cc_util.h"

/* ---- roles ------------------------------------------------------------
 * One role per account. Bit flags so that a route lists the roles it
 * admits as a mask (cc_http_route_t.roles). */
typedef enum {
    CC_ROLE_OPERATOR       = 1u << 0,   /* call centre: elders, cards, orders */
    CC_ROLE_DISPATCHER     = 1u << 1,   /* queues, assignment; own districts */
    CC_ROLE_CAREGIVER      = 1u << 2,   /* own visits only */
    CC_ROLE_PROVIDER_ADMIN = 1u << 3,   /* own provider's caregivers, rotas */
    CC_ROLE_MEAL_POINT     = 1u << 4,   /* own point's kitchen lists */
    CC_ROLE_FAMILY         = 1u << 5,   /* one elder's card and orders */
    CC_ROLE_AUDITOR        = 1u << 6,   /* read-only: ledger, reports, audit */
    CC_ROLE_ADMIN          = 1u << 7,   /* accounts, prices, rules */
    CC_ROLE_SERVICE        = 1u << 8,   /* machine clients (telephony, alarms) */
} cc_role_t;
#define CC_ROLE_ALL 0x1FFu

/* "operator", ... for exactly one role; NULL for 0 or a mask. */
const char *cc_role_name(unsigned role);
/* The role named name (exact, lower case), or 0 when unknown. */
cc_role_t cc_role_parse(const char *name);

/* ---- base64url (RFC 4648 §5) without padding ---------------------------
 * Strict decoding: only A-Z a-z 0-9 - _, no '=', no white space, a length
 * that is not 1 mod 4, and zero unused trailing bits (one text per value,
 * so a token cannot be altered without changing its signed bytes). */
/* Encoded length of n bytes, without NUL. */
#define CC_B64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
/* Encode into out[size] (NUL-terminated): 0, or -1 if it does not fit. */
int cc_b64url_encode(const void *bin, size_t n, char *out, size_t size);
/* Decode len chars of text into out[max]: 0 and *n, or -1 (malformed or
 * longer than max). */
int cc_b64url_decode(const char *text, size_t len, void *out, size_t max, size_t *n);

/* ---- claims -------------------------------------------------------------
 * Token claims, all top level (the OAuth "scope" claim is a string of
 * scopes in OIDC access tokens, so ours are not nested under it):
 *   iss, aud (string or array), sub, exp, nbf, iat, jti,
 *   role     one cc_role_name,
 *   gen      the account's token generation (integer >= 0, default 0),
 *   district_ids [uint32...], provider_id, caregiver_id, meal_point_id,
 *   elder_id (UUIDs): the scope. A role's own scope is required:
 *   dispatcher: district_ids (non-empty), caregiver: caregiver_id,
 *   provider_admin: provider_id, meal_point: meal_point_id, family: elder_id.
 * Revocation: the account store keeps a generation per account, raised
 * when the account is disabled, its password or role changes, or it logs
 * out everywhere. The issuer signs the current one into "gen"; a daemon
 * refuses a token whose gen is below the account's (or whose account is
 * disabled), from a table it refreshes at least once a minute. Access
 * tokens live 15 minutes, so a stale table is bounded too. */
#define CC_JWT_MAX           8192  /* bytes of a compact token */
#define CC_JWT_TEXT_MAX      128   /* iss, aud, kid (bytes, without NUL) */
#define CC_JWT_SUB_MAX       64    /* sub, jti */
#define CC_JWT_MAX_DISTRICTS 64
#define CC_JWT_SKEW_S        60    /* default clock skew */

typedef struct {
    char iss[CC_JWT_TEXT_MAX + 1];  /* issuer */
    char sub[CC_JWT_SUB_MAX + 1];   /* account id: printable ASCII, no space */
    char jti[CC_JWT_SUB_MAX + 1];   /* token id, "" if absent */
    char kid[CC_JWT_TEXT_MAX + 1];  /* key that signed it (verify only) */
    cc_role_t role;
    int64_t exp;                    /* seconds since the epoch */
    int64_t nbf;                    /* 0 if absent */
    int64_t iat;                    /* 0 if absent */
    int64_t gen;                    /* token generation, 0 if absent */
    size_t n_districts;
    uint32_t district_ids[CC_JWT_MAX_DISTRICTS];
    char provider_id[CC_UUID_LEN];  /* lower-case UUIDs, "" if absent */
    char caregiver_id[CC_UUID_LEN];
    char meal_point_id[CC_UUID_LEN];
    char elder_id[CC_UUID_LEN];
} cc_jwt_claims_t;

/* 1 if the claims' district list holds district. */
int cc_jwt_has_district(const cc_jwt_claims_t *c, uint32_t district);

/* ---- scope ---------------------------------------------------------------
 * Whose a resource is: 0 / NULL / "" where it has no such owner. */
typedef struct {
    uint32_t district_id;
    const char *caregiver_id;
    const char *provider_id;
    const char *meal_point_id;
    const char *elder_id;
} cc_scope_t;

/* NULL when the caller c may touch a resource of scope s, else the name of
 * the scope field it fails ("district_id", "caregiver_id", "provider_id",
 * "meal_point_id", "elder_id"). Only the scoped roles are limited:
 * dispatcher by district, caregiver by caregiver_id, provider_admin by
 * provider_id, meal_point by meal_point_id, family by elder_id; for the
 * others the route's role mask has decided. A scoped caller and a resource
 * without that owner is out of scope (fail closed). Ids compare ignoring
 * case. c NULL (a public route) is in scope. */
const char *cc_jwt_scope_check(const cc_jwt_claims_t *c, const cc_scope_t *s);

/* ---- the issuer's key pair ---------------------------------------------- */
typedef struct cc_jwt_key cc_jwt_key_t;

/* Create a new key pair in a new file at path (O_EXCL, mode 0600):
 * {"kty":"OKP","crv":"Ed25519","kid":kid,"x":...,"d":...}. kid: 1 to
 * CC_JWT_TEXT_MAX printable ASCII. 0, or -1 (err says why; an existing
 * file is never overwritten). */
int cc_jwt_key_generate(const char *path, const char *kid, cc_err_t *err);
/* Load a secret key file as written by cc_jwt_key_generate. Refused: not
 * a regular file, any group or other permission bit (a 0644 key is as
 * good as published), over 4 KiB, not an OKP Ed25519 private JWK, or "x"
 * not the public half of "d". NULL and err on failure. */
cc_jwt_key_t *cc_jwt_key_load(const char *path, cc_err_t *err);
/* Wipes the secret, frees, nulls *self_p. NULL-safe. */
void cc_jwt_key_destroy(cc_jwt_key_t **self_p);
const char *cc_jwt_key_kid(const cc_jwt_key_t *self);
/* The public half as JWKS text {"keys":[{...,"use":"sig","alg":"EdDSA"}]}
 * for the verifiers' key file. The caller frees it; NULL on no memory. */
char *cc_jwt_key_public_jwks(const cc_jwt_key_t *self);

/* Sign a token for audience aud: header {"alg":"EdDSA","typ":"JWT","kid"}
 * and every claim of c that is set (nbf/iat 0, "" ids and no districts are
 * left out; a "" jti becomes a random UUID). c needs iss, sub, role (one
 * role) and exp. The caller frees the token; NULL and err on failure. */
char *cc_jwt_sign(const cc_jwt_key_t *key, const cc_jwt_claims_t *c, const char *aud,
                  cc_err_t *err);

/* ---- the verifier's key set --------------------------------------------- */
typedef struct cc_jwks cc_jwks_t;

#define CC_JWKS_MAX_KEYS 32

cc_jwks_t *cc_jwks_new(void);
void cc_jwks_destroy(cc_jwks_t **self_p);
/* Add the keys of a JWKS document {"keys":[...]} (at most 64 KiB). Keys of
 * other types (an IdP also publishes RSA keys), "use" other than "sig" or
 * "alg" other than "EdDSA" are skipped. An OKP Ed25519 key without a kid,
 * with a kid already present, with "x" not 32 bytes of strict base64url or
 * not a valid curve point, or with a "d" (a secret in a public file)
 * refuses the whole document, with the set unchanged: a typo must not
 * silently leave a key out. 0, or -1 and err. */
int cc_jwks_add_json(cc_jwks_t *self, const char *text, size_t len, cc_err_t *err);
int cc_jwks_load_file(cc_jwks_t *self, const char *path, cc_err_t *err);
/* Trust the issuer's own public key (the issuing daemon verifies its own
 * tokens without a file). -1 if its kid is taken or the set is full. */
int cc_jwks_add_key(cc_jwks_t *self, const cc_jwt_key_t *key, cc_err_t *err);
size_t cc_jwks_size(const cc_jwks_t *self);

/* ---- verification -------------------------------------------------------- */
typedef struct {
    const char *iss;      /* required issuer, exact */
    const char *aud;      /* this service's audience: must be in "aud" */
    int skew_s;           /* clock skew allowed; < 0 means CC_JWT_SKEW_S */
} cc_jwt_policy_t;

/* Verify the compact token of len bytes (no "Bearer "), at now_s seconds
 * since the epoch: 0 and *out, or -1 and err (status 401). Time rules,
 * with skew s: valid while now < exp + s, from nbf - s on, and iat must
 * not be after now + s. *out is written only on success. */
int cc_jwt_verify(const cc_jwks_t *keys, const cc_jwt_policy_t *policy, const char *token,
                  size_t len, int64_t now_s, cc_jwt_claims_t *out, cc_err_t *err);

#endif
