/* od_account: the pure part of the embedded issuer's accounts: login and
 * account requests from JSON, who may create whom, and an account's
 * stored role and scope as token claims. No I/O (od_auth does that). */
#ifndef OD_ACCOUNT_H
#define OD_ACCOUNT_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "cc_json.h"
#include "cc_jwt.h"
#include "cc_util.h"

#define OD_USERNAME_MAX CC_USERNAME_MAX   /* cc_limits.h; the store's CHECK says the same */
#define OD_PASSWORD_MIN 12       /* bytes, for new passwords only */

/* {username, password}: username lower-cased (1..64 bytes, any text: an
 * impossible name is simply not found), password 1..CC_PASSWD_MAX bytes,
 * borrowed from body. 0, or -1 and err (400). */
int od_login_req_from_json(json_t *body, char username[OD_USERNAME_MAX + 1],
                           const char **password, size_t *password_len, cc_err_t *err);

typedef struct {
    char username[OD_USERNAME_MAX + 1];   /* lower case */
    const char *password;                 /* borrowed from the body */
    size_t password_len;
    cc_role_t role;
    json_t *scope;                        /* own reference: the scope to store */
    char provider_id[CC_UUID_LEN];        /* provider_admin's, or a caregiver's employer */
} od_account_req_t;

/* {username, password, role, scope}. The username: 3..64 of a-z 0-9 . _ @ -,
 * starting with a letter or digit (upper case is lowered); the password
 * OD_PASSWORD_MIN..CC_PASSWD_MAX bytes; the scope exactly what the role
 * needs: dispatcher {district_ids: [uint32, ...] (1..64, no repeats)},
 * caregiver {caregiver_id, provider_id}, provider_admin {provider_id},
 * meal_point {meal_point_id}, family {elder_id}, the others {} (or no
 * scope). 0 (free with od_account_req_clear), or -1 and err (400). */
int od_account_req_from_json(json_t *body, od_account_req_t *out, cc_err_t *err);
void od_account_req_clear(od_account_req_t *r);

/* A password change. Own account (self): {current_password, new_password};
 * a reset by an admin or provider_admin: {new_password}. current 1..
 * CC_PASSWD_MAX bytes, new OD_PASSWORD_MIN..CC_PASSWD_MAX and, for self,
 * not the current one. Both borrowed from body. 0, or -1 and err (400). */
typedef struct {
    const char *current;                  /* NULL for a reset */
    size_t current_len;
    const char *next;
    size_t next_len;
} od_password_req_t;
int od_password_req_from_json(json_t *body, int self, od_password_req_t *out, cc_err_t *err);

/* May the holder of claims by create this account? admin: any; a
 * provider_admin: caregivers of its own provider only; nobody else.
 * 0, or -1 and err (403 forbidden). */
int od_account_may_create(const cc_jwt_claims_t *by, const od_account_req_t *r, cc_err_t *err);
/* May by disable an account of role/provider? The same rule. 1 or 0. */
int od_account_may_manage(const cc_jwt_claims_t *by, cc_role_t role, const char *provider_id);

/* Claims of account id (sub, role, gen and the role's own scope claims)
 * from its stored role name and scope JSON text; iss, exp, iat are the
 * caller's. 0, or -1 when the stored row does not make a valid token. */
int od_account_claims(const char *id, const char *role, const char *scope_text, int64_t gen,
                      cc_jwt_claims_t *c);

#endif
