/* od_auth: the embedded token issuer and its accounts (docs/SECURITY.md,
 * "Tokens and passwords"; docs/API-orderd.md, "Accounts and login").
 *
 * - Issuer key: an OKP Ed25519 private JWK (cc_jwt), mode 0600, made
 *   before any daemon starts (tools/tokens.py keygen) and only loaded here
 *   (--issuer-key); its public half is in every daemon's --jwks-file, and
 *   tokens carry the runtime's --token-issuer and --token-audience.
 * - Callers of the routes with roles are checked by the guard (cc_http.h:
 *   token, role, revocation); handlers read cc_http_claims.
 * - Passwords: Argon2id (cc_passwd) on a worker thread (cc_work), never on
 *   the loop; a full queue answers 503 with Retry-After.
 * - Lockout: lockout-max failed logins for a name within lockout-window-s
 *   answer 429 until the window ends; unknown names lock the same way and
 *   get the same 401 as wrong passwords, after the same Argon2id work.
 * - Refresh tokens rotate on every use; a replayed one revokes its family.
 * - Accounts are kept in memory (id, role, provider, gen, disabled) and in
 *   the process' revocation table (cc_revoke), so orderd refuses a
 *   disabled account's tokens at once; AccountChanged tells the others. */
#ifndef OD_AUTH_H
#define OD_AUTH_H
#include <libpq-fe.h>
#include "cc_http.h"
#include "od_app.h"

/* Key, worker pool, account map (od_app_init); free (fini). */
int od_auth_init(od_app_t *app);
void od_auth_fini(od_app_t *app);
/* Rows of od_load_accounts: the account map and the revocation table. */
void od_auth_accounts_loaded(od_app_t *app, PGresult *res);
/* Create the accounts of the seed file (--seed-accounts) that do not exist
 * yet. 1: started, od_store_load_part_done() follows; 0: no seed file.
 * A bad seed file stops orderd (exit 1). */
int od_auth_seed(od_app_t *app);

/* Handlers (od_http_routes). */
void od_auth_login(cc_http_req_t *req, void *arg);
void od_auth_refresh(cc_http_req_t *req, void *arg);
void od_auth_logout(cc_http_req_t *req, void *arg);
void od_auth_account_create(cc_http_req_t *req, void *arg);
void od_auth_account_disable(cc_http_req_t *req, void *arg);
void od_auth_account_list(cc_http_req_t *req, void *arg);
/* POST /v1/auth/password {current_password, new_password}: the caller's
 * own; POST /v1/accounts/{id}/password {new_password}: a reset by whoever
 * may disable it. Both raise gen: every earlier token is void. */
void od_auth_password(cc_http_req_t *req, void *arg);
void od_auth_account_password(cc_http_req_t *req, void *arg);

#endif
