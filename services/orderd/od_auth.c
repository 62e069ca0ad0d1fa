/* od_auth: see od_auth.h. */
#include "od_auth.h"
#include "od_account.h"
#include "od_store.h"
#include "cc_event.h"
#include "cc_jwt.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_passwd.h"
#include "cc_revoke.h"
#include "cc_work.h"
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What orderd keeps of an account: enough to authorize a change and to
 * know its next gen (orderd is the accounts' only writer). */
typedef struct {
    char id[CC_UUID_LEN];
    cc_role_t role;
    char provider_id[CC_UUID_LEN];     /* "" if none */
    int64_t gen;                       /* including changes queued */
    int disabled;
    /* The last change failed in the store: memory stays revoked (a gen
     * never goes back, fail-safe) and the next change is written even if
     * memory already says disabled. */
    int unsaved;
} s_account_t;

struct od_auth {
    cc_jwt_key_t *key;                 /* the issuer's key pair */
    cc_work_t *work;                   /* Argon2id off the loop */
    cc_map_t *accounts;                /* id -> s_account_t */
    json_t *seed;                      /* the seed file's list, while seeding */
    size_t seed_next;
    cc_metric_t *m_login_ok, *m_login_failed, *m_login_locked, *m_busy;
    cc_metric_t *m_refresh_ok, *m_refresh_replayed, *m_refresh_refused;
    cc_metric_t *m_hash_seconds;
    cc_metric_t *m_pw_changed, *m_pw_reset, *m_pw_wrong;
};

static od_auth_t s_auth;

/* ---- helpers ----------------------------------------------------------------------- */
static void s_queue(cc_db_t *db, cc_args_t *a, cc_db_fn *fn, void *arg)
{
    if (cc_db_call(db, a, fn, arg) != 0) {
        cc_error("db_queue_failed", "what", a->st->name);
        exit(1);
    }
}

static void s_read_failed(cc_http_req_t **req, const char *what, PGresult *res)
{
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    cc_warn("db_read_failed", "what", what, "sqlstate", st ? st : "");
    cc_http_reply_error_hdr(req, 503, "unavailable", NULL, "the store could not answer; retry",
                            "Retry-After", "1");
}

static void s_busy(cc_http_req_t **req)
{
    cc_metric_inc(s_auth.m_busy);
    cc_http_reply_error_hdr(req, 503, "busy", NULL, "too many logins at once; retry",
                            "Retry-After", "1");
}

/* The name's failures in the current window (column col of row 0, the
 * seconds left of the window in col + 1) reached --lockout-max: 429 with
 * Retry-After answered, 1. Login and password change share the lockout. */
static int s_locked_out(od_app_t *app, cc_http_req_t **req, PGresult *res, int col)
{
    if (strtoll(PQgetvalue(res, 0, col), NULL, 10) < app->lockout_max)
        return 0;
    int64_t wait = strtoll(PQgetvalue(res, 0, col + 1), NULL, 10);
    char ra[24];
    snprintf(ra, sizeof ra, "%" PRId64, wait > 0 ? wait : 1);
    cc_metric_inc(s_auth.m_login_locked);
    cc_http_reply_error_hdr(req, 429, "too_many_attempts", NULL,
                            "too many failed attempts for this name; wait and retry",
                            "Retry-After", ra);
    return 1;
}

/* A copy of a secret, wiped and freed by s_secret_free. */
static char *s_secret_dup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) {
        cc_error("out_of_memory", "what", "auth");
        exit(1);
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void s_secret_free(char **p, size_t n)
{
    if (*p) {
        sodium_memzero(*p, n);
        free(*p);
        *p = NULL;
    }
}

/* The verified claims of the caller of a route with roles: the guard
 * (cc_http.h) has checked the token, its role and its revocation. */
static const cc_jwt_claims_t *s_caller(cc_http_req_t *req)
{
    const cc_jwt_claims_t *c = cc_http_claims(req);
    assert(c);   /* a route of od_http_routes without roles: a bug */
    return c;
}

/* {access_token, token_type, expires_in, role, refresh_token} for claims c
 * (sub, role, gen, scope set), or NULL (logged). */
static json_t *s_token_body(od_app_t *app, cc_jwt_claims_t *c, const char *refresh)
{
    int64_t now = cc_now_us() / 1000000;
    snprintf(c->iss, sizeof c->iss, "%s", app->rt.token_issuer);
    c->iat = now;
    c->exp = now + app->access_ttl_s;
    cc_err_t err;
    char *access = cc_jwt_sign(s_auth.key, c, app->rt.token_audience, &err);
    if (!access) {
        cc_error("token_sign_failed", "account_id", c->sub, "field", err.field);
        return NULL;
    }
    json_t *b = json_pack("{s:s,s:s,s:I,s:s,s:s}", "access_token", access, "token_type",
                          "Bearer", "expires_in", (json_int_t)app->access_ttl_s, "role",
                          cc_role_name(c->role), "refresh_token", refresh);
    sodium_memzero(access, strlen(access));
    free(access);
    return b;
}

static void s_reply_tokens(od_app_t *app, cc_http_req_t **req, cc_jwt_claims_t *c,
                           const char *refresh)
{
    json_t *b = s_token_body(app, c, refresh);
    if (!b) {
        cc_http_reply_error(req, 500, "internal", NULL, "cannot sign a token");
        return;
    }
    /* RFC 6749 section 5.1: tokens are not to be cached. */
    cc_http_reply_json_hdr(req, 200, b, "Cache-Control", "no-store");
}

static s_account_t *s_account_put(const char *id, cc_role_t role, const char *provider,
                                  int64_t gen, int disabled)
{
    s_account_t *a = cc_map_get(s_auth.accounts, id);
    if (!a) {
        a = cc_xcalloc(sizeof *a, "account");
        snprintf(a->id, sizeof a->id, "%s", id);
        if (cc_map_put(s_auth.accounts, a->id, a, NULL) != 0) {
            cc_error("out_of_memory", "what", "account");
            exit(1);
        }
    }
    a->role = role;
    snprintf(a->provider_id, sizeof a->provider_id, "%s", provider ? provider : "");
    if (gen > a->gen)
        a->gen = gen;
    a->disabled |= disabled;
    if (cc_revoke_set(cc_revoke_default(), a->id, a->gen, a->disabled) != 0) {
        cc_error("out_of_memory", "what", "revoke");
        exit(1);
    }
    return a;
}

/* Raise a's gen (and disable it; or store a new password hash): refused
 * here at once, AccountChanged for the other daemons, refresh tokens
 * revoked, in one statement. */
static void s_account_change_hash(od_app_t *app, s_account_t *a, int disable,
                                  const char *hash, cc_db_fn *fn, void *arg)
{
    a->gen++;
    a->disabled |= disable;
    cc_revoke_set(cc_revoke_default(), a->id, a->gen, a->disabled);
    Cc__AccountChanged m = CC__ACCOUNT_CHANGED__INIT;
    m.account_id = a->id;
    m.gen = a->gen;
    m.disabled = a->disabled;
    size_t len = 0;
    uint8_t *payload = cc_event_pack(&m.base, &len);
    if (!payload) {
        cc_error("out_of_memory", "what", "AccountChanged");
        exit(1);
    }
    char event_id[CC_UUID_LEN];
    cc_uuid(event_id);
    cc_args_t q;
    if (hash) {
        cc_args_init(&q, &od_stmts[OD_ST_ACCOUNT_PASSWORD]);
        cc_args_text(&q, "id", a->id);
        cc_args_text(&q, "hash", hash);
        cc_args_int(&q, "gen", a->gen);
    } else {
        cc_args_init(&q, &od_stmts[OD_ST_ACCOUNT_CHANGE]);
        cc_args_text(&q, "id", a->id);
        cc_args_int(&q, "gen", a->gen);
        cc_args_bool(&q, "disabled", a->disabled);
    }
    cc_args_text(&q, "event_id", event_id);
    cc_args_bytes(&q, "payload", payload, len);
    s_queue(app->rt.writer, &q, fn, arg);
    free(payload);
    char gen[24];
    snprintf(gen, sizeof gen, "%" PRId64, a->gen);
    cc_info("account_changed", "account_id", a->id, "gen", gen, "disabled",
            a->disabled ? "true" : "false", "password", hash ? "changed" : "kept");
}

static void s_account_change(od_app_t *app, s_account_t *a, int disable, cc_db_fn *fn,
                             void *arg)
{
    s_account_change_hash(app, a, disable, NULL, fn, arg);
}

/* ---- init ------------------------------------------------------------------------ */
int od_auth_init(od_app_t *app)
{
    app->auth = &s_auth;
    if (cc_sodium_init() != 0)
        return -1;
    /* Made before any daemon starts (tools/tokens.py keygen), its public
     * half in every daemon's --jwks-file: orderd only loads it, so no
     * verifier ever waits for a file orderd has not written yet. */
    cc_err_t err = { 0 };
    s_auth.key = cc_jwt_key_load(app->issuer_key, &err);
    if (!s_auth.key) {
        fprintf(stderr, "orderd: --issuer-key %s: %s (make it with tools/tokens.py keygen)\n",
                app->issuer_key, err.message);
        cc_error("startup_failed", "what", "issuer-key", "file", app->issuer_key, "field",
                 err.field, "reason", err.message);
        return -1;
    }
    s_auth.work = cc_work_new(app->rt.base, (int)app->auth_threads, (int)app->auth_queue);
    s_auth.accounts = cc_map_new();
    if (!s_auth.work || !s_auth.accounts)
        return -1;
    s_auth.m_login_ok = cc_metrics_counter("orderd_logins_total{outcome=\"ok\"}", "Logins");
    s_auth.m_login_failed = cc_metrics_counter("orderd_logins_total{outcome=\"failed\"}",
                                               "Logins");
    s_auth.m_login_locked = cc_metrics_counter("orderd_logins_total{outcome=\"locked\"}",
                                               "Logins");
    s_auth.m_busy = cc_metrics_counter("orderd_auth_busy_total",
                                       "Logins and account writes refused: hashing queue full");
    s_auth.m_refresh_ok = cc_metrics_counter("orderd_refreshes_total{outcome=\"rotated\"}",
                                             "Refresh token uses");
    s_auth.m_refresh_replayed = cc_metrics_counter(
        "orderd_refreshes_total{outcome=\"replayed\"}", "Refresh token uses");
    s_auth.m_refresh_refused = cc_metrics_counter(
        "orderd_refreshes_total{outcome=\"refused\"}", "Refresh token uses");
    s_auth.m_hash_seconds = cc_metrics_histogram("orderd_password_hash_seconds",
                                                 "Argon2id hash or verification, on a worker");
    s_auth.m_pw_changed = cc_metrics_counter(
        "orderd_password_changes_total{how=\"self\"}", "Passwords changed");
    s_auth.m_pw_reset = cc_metrics_counter(
        "orderd_password_changes_total{how=\"reset\"}", "Passwords changed");
    s_auth.m_pw_wrong = cc_metrics_counter(
        "orderd_password_changes_total{how=\"wrong_current\"}",
        "Own password changes refused: the current password was wrong");
    cc_info("issuer_ready", "kid", cc_jwt_key_kid(s_auth.key), "iss", app->rt.token_issuer,
            "aud", app->rt.token_audience);
    return 0;
}

void od_auth_fini(od_app_t *app)
{
    (void)app;
    cc_work_destroy(&s_auth.work);   /* hands back jobs: their done frees them */
    cc_map_destroy(&s_auth.accounts, free);
    cc_jwt_key_destroy(&s_auth.key);
    json_decref(s_auth.seed);
    s_auth.seed = NULL;
}

void od_auth_accounts_loaded(od_app_t *app, PGresult *res)
{
    (void)app;
    for (int r = 0; r < PQntuples(res); r++)
        s_account_put(PQgetvalue(res, r, 0), cc_role_parse(PQgetvalue(res, r, 1)),
                      PQgetvalue(res, r, 2), strtoll(PQgetvalue(res, r, 3), NULL, 10),
                      PQgetvalue(res, r, 4)[0] == 't');
    cc_revoke_set_loaded(cc_revoke_default());
    char n[24];
    snprintf(n, sizeof n, "%zu", cc_map_size(s_auth.accounts));
    cc_info("accounts_loaded", "accounts", n);
}

/* ---- hashing on the worker ------------------------------------------------------- */
typedef struct {
    od_app_t *app;
    cc_http_req_t *req;                /* NULL when seeding */
    char username[OD_USERNAME_MAX + 1];
    char *password;                    /* wiped by the worker */
    size_t password_len;
    /* login */
    int found, disabled;
    char account_id[CC_UUID_LEN];
    char role[32];
    char *scope;
    int64_t gen;
    char hash[CC_PASSWD_HASH_MAX];     /* stored (login) or made (create) */
    int ok;                            /* verify matched / hash made */
    /* create */
    cc_role_t new_role;
    char provider_id[CC_UUID_LEN];
    char by[CC_UUID_LEN];              /* creator, "" when seeding */
    json_t *new_scope;
    double seconds;
} s_job_t;

static void s_job_free(s_job_t *j)
{
    s_secret_free(&j->password, j->password_len);
    sodium_memzero(j->hash, sizeof j->hash);
    free(j->scope);
    json_decref(j->new_scope);
    free(j);
}

static void s_run_verify(void *arg)
{
    s_job_t *j = arg;
    int64_t t0 = cc_mono_us();
    /* No account: the same work against a fixed hash (cc_passwd.h). */
    j->ok = cc_passwd_verify(j->found ? j->hash : NULL, j->password, j->password_len) == 0;
    s_secret_free(&j->password, j->password_len);
    j->seconds = (double)(cc_mono_us() - t0) / 1e6;
}

static void s_run_hash(void *arg)
{
    s_job_t *j = arg;
    int64_t t0 = cc_mono_us();
    j->ok = cc_passwd_hash(j->password, j->password_len, NULL, j->hash) == 0;
    s_secret_free(&j->password, j->password_len);
    j->seconds = (double)(cc_mono_us() - t0) / 1e6;
}

/* ---- login ------------------------------------------------------------------------ */
static void s_on_login_failed(PGresult *res, void *arg)
{
    s_job_t *j = arg;
    cc_err_t err;
    if (od_app_write_ok(j->app, "od_login_failed", res, &err) != 0) {
        cc_http_reply_err(&j->req, &err);
        s_job_free(j);
        return;
    }
    cc_metric_inc(s_auth.m_login_failed);
    /* One answer for an unknown name, a wrong password and a disabled
     * account: the caller learns nothing about which accounts exist. */
    cc_http_reply_error(&j->req, 401, "invalid_credentials", NULL,
                        "wrong username or password");
    s_job_free(j);
}

typedef struct {
    od_app_t *app;
    cc_http_req_t *req;
    cc_jwt_claims_t claims;
    char refresh[CC_REFRESH_TOKEN_LEN + 1];
} s_issue_t;

static void s_issue_free(s_issue_t *x)
{
    sodium_memzero(x->refresh, sizeof x->refresh);
    free(x);
}

static void s_on_login_ok(PGresult *res, void *arg)
{
    s_issue_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "od_login_ok", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);   /* no tokens: their refresh row is not stored */
        s_issue_free(x);
        return;
    }
    cc_metric_inc(s_auth.m_login_ok);
    cc_info("login", "account_id", x->claims.sub, "role", cc_role_name(x->claims.role));
    s_reply_tokens(x->app, &x->req, &x->claims, x->refresh);
    s_issue_free(x);
}

static void s_login_verified(void *arg, int ran)
{
    s_job_t *j = arg;
    if (!ran) {            /* shutting down: nobody is left to answer */
        s_job_free(j);
        return;
    }
    od_app_t *app = j->app;
    cc_metric_observe(s_auth.m_hash_seconds, j->seconds);
    const s_account_t *mem = j->found ? cc_map_get(s_auth.accounts, j->account_id) : NULL;
    int good = j->ok && j->found && !j->disabled && !(mem && mem->disabled);
    s_issue_t *x = NULL;
    if (good) {
        x = cc_xcalloc(sizeof *x, "login");
        /* The gen signed is the current one (a change queued meanwhile
         * already raised it in memory). */
        int64_t gen = mem ? mem->gen : j->gen;
        if (od_account_claims(j->account_id, j->role, j->scope, gen, &x->claims) != 0) {
            cc_warn("account_unusable", "account_id", j->account_id);
            free(x);
            x = NULL;
            good = 0;
        }
    }
    if (!good) {
        if (j->found)
            cc_info("login_failed", "account_id", j->account_id);
        cc_args_t q;
        cc_args_init(&q, &od_stmts[OD_ST_LOGIN_FAILED]);
        cc_args_text(&q, "username", j->username);
        cc_args_int(&q, "window_s", app->lockout_window_s);
        s_queue(app->rt.writer, &q, s_on_login_failed, j);
        return;
    }
    x->app = app;
    x->req = j->req;
    j->req = NULL;
    char hash[CC_REFRESH_HASH_LEN + 1], family[CC_UUID_LEN];
    if (cc_refresh_new(x->refresh, hash) != 0) {
        cc_http_reply_error(&x->req, 500, "internal", NULL, "no random source");
        s_issue_free(x);
        s_job_free(j);
        return;
    }
    cc_uuid(family);
    cc_args_t q;
    cc_args_init(&q, &od_stmts[OD_ST_LOGIN_OK]);
    cc_args_text(&q, "username", j->username);
    cc_args_text(&q, "account", j->account_id);
    cc_args_text(&q, "hash", hash);
    cc_args_text(&q, "family", family);
    cc_args_int(&q, "gen", x->claims.gen);
    cc_args_int(&q, "expires_us", cc_now_us() + app->refresh_ttl_s * 1000000);
    s_queue(app->rt.writer, &q, s_on_login_ok, x);
    s_job_free(j);
}

static void s_on_lookup(PGresult *res, void *arg)
{
    s_job_t *j = arg;
    od_app_t *app = j->app;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        s_read_failed(&j->req, "od_login_lookup", res);
        s_job_free(j);
        return;
    }
    if (s_locked_out(app, &j->req, res, 6)) {
        s_job_free(j);
        return;
    }
    j->found = !PQgetisnull(res, 0, 0);
    if (j->found) {
        snprintf(j->account_id, sizeof j->account_id, "%s", PQgetvalue(res, 0, 0));
        snprintf(j->hash, sizeof j->hash, "%s", PQgetvalue(res, 0, 1));
        snprintf(j->role, sizeof j->role, "%s", PQgetvalue(res, 0, 2));
        j->scope = strdup(PQgetvalue(res, 0, 3));
        j->gen = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
        j->disabled = PQgetvalue(res, 0, 5)[0] == 't';
        if (!j->scope) {
            cc_error("out_of_memory", "what", "login");
            exit(1);
        }
    }
    if (cc_work_submit(s_auth.work, s_run_verify, s_login_verified, j) != 0) {
        s_busy(&j->req);
        s_job_free(j);
    }
}

void od_auth_login(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    const char *pw;
    size_t n;
    cc_err_t err;
    s_job_t *j = cc_xcalloc(sizeof *j, "login");
    if (od_login_req_from_json(cc_http_json(req), j->username, &pw, &n, &err) != 0) {
        cc_http_reply_err(&req, &err);
        free(j);
        return;
    }
    j->app = app;
    j->req = req;
    j->password = s_secret_dup(pw, n);
    j->password_len = n;
    cc_args_t q;
    cc_args_init(&q, &od_stmts[OD_ST_LOGIN_LOOKUP]);
    cc_args_text(&q, "username", j->username);
    cc_args_int(&q, "window_s", app->lockout_window_s);
    s_queue(app->rt.reader, &q, s_on_lookup, j);
}

/* ---- refresh ---------------------------------------------------------------------- */
static void s_on_rotated(PGresult *res, void *arg)
{
    s_issue_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "od_refresh_rotate", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);
        s_issue_free(x);
        return;
    }
    const char *outcome = PQgetvalue(res, 0, 0);
    if (strcmp(outcome, "rotated") == 0
        && od_account_claims(PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
                             strtoll(PQgetvalue(res, 0, 4), NULL, 10), &x->claims) == 0) {
        cc_metric_inc(s_auth.m_refresh_ok);
        s_reply_tokens(x->app, &x->req, &x->claims, x->refresh);
        s_issue_free(x);
        return;
    }
    if (strcmp(outcome, "replayed") == 0) {
        /* A rotated token used again: one of two holders is a thief. */
        cc_metric_inc(s_auth.m_refresh_replayed);
        cc_warn("refresh_token_replayed", "account_id", PQgetvalue(res, 0, 1), "action",
                "family_revoked");
    } else {
        cc_metric_inc(s_auth.m_refresh_refused);
    }
    cc_http_reply_error(&x->req, 401, "invalid_grant", "refresh_token",
                        "the refresh token is not valid; log in again");
    s_issue_free(x);
}

void od_auth_refresh(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    static const char *const known[] = { "refresh_token", NULL };
    json_t *body = cc_http_json(req);
    const char *tok = NULL;
    cc_err_t err;
    if (cc_json_only(body, known, &err) != 0
        || cc_json_str(body, "refresh_token", 1, 256, &tok, &err) != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    char old_hash[CC_REFRESH_HASH_LEN + 1], new_hash[CC_REFRESH_HASH_LEN + 1];
    if (cc_refresh_hash(tok, strlen(tok), old_hash) != 0) {
        cc_metric_inc(s_auth.m_refresh_refused);
        cc_http_reply_error(&req, 401, "invalid_grant", "refresh_token",
                            "the refresh token is not valid; log in again");
        return;
    }
    s_issue_t *x = cc_xcalloc(sizeof *x, "refresh");
    x->app = app;
    x->req = req;
    if (cc_refresh_new(x->refresh, new_hash) != 0) {
        cc_http_reply_error(&x->req, 500, "internal", NULL, "no random source");
        s_issue_free(x);
        return;
    }
    cc_args_t q;
    cc_args_init(&q, &od_stmts[OD_ST_REFRESH_ROTATE]);
    cc_args_text(&q, "hash", old_hash);
    cc_args_text(&q, "new_hash", new_hash);
    cc_args_int(&q, "expires_us", cc_now_us() + app->refresh_ttl_s * 1000000);
    s_queue(app->rt.writer, &q, s_on_rotated, x);
}

/* ---- logout ----------------------------------------------------------------------- */
typedef struct {
    od_app_t *app;
    cc_http_req_t *req;
    char account_id[CC_JWT_SUB_MAX + 1];
    int64_t gen;
    int disabled;
    int everywhere;
    int password;              /* a password change or reset */
} s_change_ctx_t;

static void s_on_logged_out(PGresult *res, void *arg)
{
    s_change_ctx_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "od_logout", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);
        free(x);
        return;
    }
    json_t *b = json_pack("{s:s,s:b}", "logged_out", "session", "revoked",
                          strcmp(PQgetvalue(res, 0, 0), "revoked") == 0);
    cc_http_reply_json(&x->req, 200, b);
    free(x);
}

static void s_on_changed(PGresult *res, void *arg)
{
    s_change_ctx_t *x = arg;
    cc_err_t err;
    s_account_t *a = cc_map_get(s_auth.accounts, x->account_id);
    if (od_app_write_ok(x->app, "od_account_change", res, &err) != 0) {
        if (a)
            a->unsaved = 1;
        cc_http_reply_err(&x->req, &err);
        free(x);
        return;
    }
    if (a && a->gen == x->gen)
        a->unsaved = 0;
    json_t *b = x->everywhere
                    ? json_pack("{s:s,s:I}", "logged_out", "everywhere", "gen", (json_int_t)x->gen)
                : x->password
                    ? json_pack("{s:s,s:b,s:I}", "account_id", x->account_id, "password_changed", 1,
                                "gen", (json_int_t)x->gen)
                    : json_pack("{s:s,s:b,s:I}", "account_id", x->account_id, "disabled",
                                x->disabled, "gen", (json_int_t)x->gen);
    cc_http_reply_json(&x->req, 200, b);
    free(x);
}

void od_auth_logout(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    const cc_jwt_claims_t *c = s_caller(req);
    if (!cc_uuid_valid(c->sub)) {   /* another issuer's account: not ours to log out */
        cc_http_reply_error(&req, 403, "forbidden", "sub", "not an account of this issuer");
        return;
    }
    static const char *const known[] = { "refresh_token", "everywhere", NULL };
    json_t *body = cc_http_json(req);
    const char *tok = NULL;
    int everywhere = 0;
    cc_err_t err;
    if (cc_json_only(body, known, &err) != 0
        || cc_json_str(body, "refresh_token", 0, 256, &tok, &err) != 0
        || cc_json_bool(body, "everywhere", 0, &everywhere, &err) != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    s_change_ctx_t *x = cc_xcalloc(sizeof *x, "logout");
    x->app = app;
    x->req = req;
    snprintf(x->account_id, sizeof x->account_id, "%s", c->sub);
    s_account_t *a = cc_map_get(s_auth.accounts, c->sub);
    if (everywhere && a) {
        /* Every token of the account, access tokens included. */
        x->everywhere = 1;
        s_account_change(app, a, 0, s_on_changed, x);
        x->gen = a->gen;
        return;
    }
    char hash[CC_REFRESH_HASH_LEN + 1];
    if (!tok || cc_refresh_hash(tok, strlen(tok), hash) != 0) {
        cc_http_reply_error(&x->req, 400, tok ? "invalid_value" : "missing_field",
                            "refresh_token",
                            "give the session's refresh_token, or everywhere: true");
        free(x);
        return;
    }
    cc_args_t q;
    cc_args_init(&q, &od_stmts[OD_ST_LOGOUT]);
    cc_args_text(&q, "hash", hash);
    cc_args_text(&q, "account", c->sub);
    s_queue(app->rt.writer, &q, s_on_logged_out, x);
}

/* ---- accounts ---------------------------------------------------------------------- */
static void s_seed_next(od_app_t *app);

static void s_on_account_created(PGresult *res, void *arg)
{
    s_job_t *j = arg;
    cc_err_t err;
    if (!j->req && PQresultStatus(res) != PGRES_TUPLES_OK)
        od_app_db_fatal("od_account_create", res);   /* seeding: a start-up step */
    if (od_app_write_ok(j->app, "od_account_create", res, &err) != 0) {
        cc_http_reply_err(&j->req, &err);   /* memory takes an account once stored */
        s_job_free(j);
        return;
    }
    int created = strcmp(PQgetvalue(res, 0, 0), "created") == 0;
    if (created) {
        s_account_put(j->account_id, j->new_role, j->provider_id, 0, 0);
        cc_info("account_created", "account_id", j->account_id, "role",
                cc_role_name(j->new_role), "by", *j->by ? j->by : "seed");
    }
    if (!j->req) {             /* seeding */
        od_app_t *app = j->app;
        s_job_free(j);
        s_seed_next(app);
        return;
    }
    if (created) {
        json_t *b = json_pack("{s:s,s:s,s:s,s:O,s:b}", "account_id", j->account_id, "username",
                              j->username, "role", cc_role_name(j->new_role), "scope",
                              j->new_scope, "disabled", 0);
        cc_http_reply_json(&j->req, 201, b);
    } else {
        cc_http_reply_error(&j->req, 409, "duplicate", "username", "the username is taken");
    }
    s_job_free(j);
}

static void s_account_hashed(void *arg, int ran)
{
    s_job_t *j = arg;
    if (!ran) {
        s_job_free(j);
        return;
    }
    cc_metric_observe(s_auth.m_hash_seconds, j->seconds);
    if (!j->ok) {
        cc_error("password_hash_failed", "account_id", j->account_id);
        if (!j->req)
            exit(1);
        cc_http_reply_error(&j->req, 500, "internal", NULL, "cannot hash the password");
        s_job_free(j);
        return;
    }
    char *scope = json_dumps(j->new_scope, JSON_COMPACT);
    if (!scope) {
        cc_error("out_of_memory", "what", "account");
        exit(1);
    }
    cc_args_t q;
    cc_args_init(&q, &od_stmts[OD_ST_ACCOUNT_CREATE]);
    cc_args_text(&q, "id", j->account_id);
    cc_args_text(&q, "username", j->username);
    cc_args_text(&q, "hash", j->hash);
    cc_args_text(&q, "role", cc_role_name(j->new_role));
    cc_args_text(&q, "scope", scope);
    if (*j->provider_id)
        cc_args_text(&q, "provider", j->provider_id);
    else
        cc_args_null(&q, "provider");
    if (*j->by)
        cc_args_text(&q, "by", j->by);
    else
        cc_args_null(&q, "by");
    s_queue(j->app->rt.writer, &q, s_on_account_created, j);
    free(scope);
}

/* A job creating the account of r (by: creator id, "" seeding). */
static s_job_t *s_create_job(od_app_t *app, cc_http_req_t *req, od_account_req_t *r,
                             const char *by)
{
    s_job_t *j = cc_xcalloc(sizeof *j, "account");
    j->app = app;
    j->req = req;
    cc_uuid(j->account_id);
    memcpy(j->username, r->username, sizeof j->username);
    j->password = s_secret_dup(r->password, r->password_len);
    j->password_len = r->password_len;
    j->new_role = r->role;
    memcpy(j->provider_id, r->provider_id, sizeof j->provider_id);
    snprintf(j->by, sizeof j->by, "%s", by);
    j->new_scope = r->scope;
    r->scope = NULL;
    return j;
}

void od_auth_account_create(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    const cc_jwt_claims_t *c = s_caller(req);
    if (!cc_uuid_valid(c->sub)) {   /* created_by is one of our accounts */
        cc_http_reply_error(&req, 403, "forbidden", "sub", "not an account of this issuer");
        return;
    }
    od_account_req_t r;
    cc_err_t err;
    if (od_account_req_from_json(cc_http_json(req), &r, &err) != 0
        || od_account_may_create(c, &r, &err) != 0) {
        od_account_req_clear(&r);
        cc_http_reply_err(&req, &err);
        return;
    }
    s_job_t *j = s_create_job(app, req, &r, c->sub);
    od_account_req_clear(&r);
    if (cc_work_submit(s_auth.work, s_run_hash, s_account_hashed, j) != 0) {
        s_busy(&j->req);
        s_job_free(j);
    }
}

void od_auth_account_disable(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    const cc_jwt_claims_t *c = s_caller(req);
    const char *id = cc_http_path_param(req, "id");
    s_account_t *a = id ? cc_map_get(s_auth.accounts, id) : NULL;
    /* Another provider's account is as unknown as a missing one. */
    if (!a || !od_account_may_manage(c, a->role, a->provider_id)) {
        cc_http_reply_error(&req, 404, "not_found", "id", "no such account");
        return;
    }
    s_change_ctx_t *x = cc_xcalloc(sizeof *x, "disable");
    x->app = app;
    x->req = req;
    snprintf(x->account_id, sizeof x->account_id, "%s", a->id);
    x->disabled = 1;
    if (a->disabled && !a->unsaved) {
        x->gen = a->gen;
        json_t *b = json_pack("{s:s,s:b,s:I}", "account_id", a->id, "disabled", 1, "gen",
                              (json_int_t)a->gen);
        cc_http_reply_json(&x->req, 200, b);
        free(x);
        return;
    }
    s_account_change(app, a, 1, s_on_changed, x);
    x->gen = a->gen;
}

static void s_on_account_list(PGresult *res, void *arg)
{
    cc_http_req_t *req = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_read_failed(&req, "od_account_list", res);
        return;
    }
    json_t *list = json_array();
    char ts[48];
    for (int r = 0; r < PQntuples(res); r++) {
        json_t *scope = json_loads(PQgetvalue(res, r, 3), 0, NULL);
        json_array_append_new(
            list, json_pack("{s:s,s:s,s:s,s:o,s:I,s:b,s:s}", "account_id",
                            PQgetvalue(res, r, 0), "username", PQgetvalue(res, r, 1), "role",
                            PQgetvalue(res, r, 2), "scope", scope ? scope : json_object(),
                            "gen", (json_int_t)strtoll(PQgetvalue(res, r, 4), NULL, 10),
                            "disabled", PQgetvalue(res, r, 5)[0] == 't', "created_at",
                            cc_time_format(strtoll(PQgetvalue(res, r, 6), NULL, 10), ts,
                                           sizeof ts)));
    }
    cc_http_reply_json(&req, 200, json_pack("{s:o}", "accounts", list));
}

void od_auth_account_list(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    cc_args_t q;   /* admin only: the route's roles */
    cc_args_init(&q, &od_stmts[OD_ST_ACCOUNT_LIST]);
    s_queue(app->rt.reader, &q, s_on_account_list, req);
}

/* ---- password change and reset --------------------------------------------------- */
typedef struct {
    od_app_t *app;
    cc_http_req_t *req;
    char account_id[CC_UUID_LEN];
    char username[OD_USERNAME_MAX + 1];
    int self;                          /* own change: current verified first */
    char *current, *next;              /* wiped by the worker */
    size_t current_len, next_len;
    char stored[CC_PASSWD_HASH_MAX];   /* the account's hash (self) */
    char hash[CC_PASSWD_HASH_MAX];     /* of next */
    int verified, ok;
    double seconds;
} s_pw_t;

static void s_pw_free(s_pw_t *p)
{
    s_secret_free(&p->current, p->current_len);
    s_secret_free(&p->next, p->next_len);
    sodium_memzero(p->stored, sizeof p->stored);
    sodium_memzero(p->hash, sizeof p->hash);
    free(p);
}

static void s_run_password(void *arg)
{
    s_pw_t *p = arg;
    int64_t t0 = cc_mono_us();
    p->verified = !p->self
                  || cc_passwd_verify(p->stored, p->current, p->current_len) == 0;
    if (p->verified)
        p->ok = cc_passwd_hash(p->next, p->next_len, NULL, p->hash) == 0;
    s_secret_free(&p->current, p->current_len);
    s_secret_free(&p->next, p->next_len);
    p->seconds = (double)(cc_mono_us() - t0) / 1e6;
}

static void s_on_pw_wrong(PGresult *res, void *arg)
{
    s_pw_t *p = arg;
    cc_err_t err;
    if (od_app_write_ok(p->app, "od_login_failed", res, &err) != 0) {
        cc_http_reply_err(&p->req, &err);
        s_pw_free(p);
        return;
    }
    cc_metric_inc(s_auth.m_pw_wrong);
    cc_http_reply_error(&p->req, 403, "invalid_credentials", "current_password",
                        "the current password is wrong");
    s_pw_free(p);
}

static void s_password_done(void *arg, int ran)
{
    s_pw_t *p = arg;
    if (!ran) {
        s_pw_free(p);
        return;
    }
    od_app_t *app = p->app;
    cc_metric_observe(s_auth.m_hash_seconds, p->seconds);
    if (!p->verified) {
        /* Counted as a failed login of the name: a stolen access token
         * cannot be used to guess the password behind it. */
        cc_info("password_change_refused", "account_id", p->account_id);
        cc_args_t q;
        cc_args_init(&q, &od_stmts[OD_ST_LOGIN_FAILED]);
        cc_args_text(&q, "username", p->username);
        cc_args_int(&q, "window_s", app->lockout_window_s);
        s_queue(app->rt.writer, &q, s_on_pw_wrong, p);
        return;
    }
    if (!p->ok) {
        cc_error("password_hash_failed", "account_id", p->account_id);
        cc_http_reply_error(&p->req, 500, "internal", NULL, "cannot hash the password");
        s_pw_free(p);
        return;
    }
    s_account_t *a = cc_map_get(s_auth.accounts, p->account_id);
    if (!a) {
        cc_http_reply_error(&p->req, 404, "not_found", "id", "no such account");
        s_pw_free(p);
        return;
    }
    cc_metric_inc(p->self ? s_auth.m_pw_changed : s_auth.m_pw_reset);
    s_change_ctx_t *x = cc_xcalloc(sizeof *x, "password");
    x->app = app;
    x->req = p->req;
    p->req = NULL;
    x->password = 1;
    snprintf(x->account_id, sizeof x->account_id, "%s", a->id);
    s_account_change_hash(app, a, 0, p->hash, s_on_changed, x);
    x->gen = a->gen;
    s_pw_free(p);
}

/* p from a request body (self or reset), secrets copied; NULL and the
 * request answered (400) when the body is wrong. */
static s_pw_t *s_pw_new(od_app_t *app, cc_http_req_t **req, int self, const char *account_id)
{
    od_password_req_t r;
    cc_err_t err;
    if (od_password_req_from_json(cc_http_json(*req), self, &r, &err) != 0) {
        cc_http_reply_err(req, &err);
        return NULL;
    }
    s_pw_t *p = cc_xcalloc(sizeof *p, "password");
    p->app = app;
    p->req = *req;
    *req = NULL;
    p->self = self;
    snprintf(p->account_id, sizeof p->account_id, "%s", account_id);
    if (self) {
        p->current = s_secret_dup(r.current, r.current_len);
        p->current_len = r.current_len;
    }
    p->next = s_secret_dup(r.next, r.next_len);
    p->next_len = r.next_len;
    return p;
}

static void s_pw_submit(s_pw_t *p)
{
    if (cc_work_submit(s_auth.work, s_run_password, s_password_done, p) != 0) {
        s_busy(&p->req);
        s_pw_free(p);
    }
}

static void s_on_pw_lookup(PGresult *res, void *arg)
{
    s_pw_t *p = arg;
    od_app_t *app = p->app;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_read_failed(&p->req, "od_password_lookup", res);
        s_pw_free(p);
        return;
    }
    if (PQntuples(res) != 1) {
        cc_http_reply_error(&p->req, 404, "not_found", "id", "no such account");
        s_pw_free(p);
        return;
    }
    if (s_locked_out(app, &p->req, res, 3)) {
        s_pw_free(p);
        return;
    }
    snprintf(p->username, sizeof p->username, "%s", PQgetvalue(res, 0, 0));
    snprintf(p->stored, sizeof p->stored, "%s", PQgetvalue(res, 0, 1));
    s_pw_submit(p);
}

void od_auth_password(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    const cc_jwt_claims_t *c = s_caller(req);
    if (!cc_uuid_valid(c->sub) || !cc_map_get(s_auth.accounts, c->sub)) {
        /* another issuer's account: its password is not kept here */
        cc_http_reply_error(&req, 403, "forbidden", "sub", "not an account of this issuer");
        return;
    }
    s_pw_t *p = s_pw_new(app, &req, 1, c->sub);
    if (!p)
        return;
    cc_args_t q;
    cc_args_init(&q, &od_stmts[OD_ST_PASSWORD_LOOKUP]);
    cc_args_text(&q, "id", p->account_id);
    cc_args_int(&q, "window_s", app->lockout_window_s);
    s_queue(app->rt.reader, &q, s_on_pw_lookup, p);
}

void od_auth_account_password(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    const cc_jwt_claims_t *c = s_caller(req);
    const char *id = cc_http_path_param(req, "id");
    s_account_t *a = id ? cc_map_get(s_auth.accounts, id) : NULL;
    /* Another provider's account is as unknown as a missing one. */
    if (!a || !od_account_may_manage(c, a->role, a->provider_id)) {
        cc_http_reply_error(&req, 404, "not_found", "id", "no such account");
        return;
    }
    s_pw_t *p = s_pw_new(app, &req, 0, a->id);
    if (p)
        s_pw_submit(p);
}

/* ---- seed file ------------------------------------------------------------------------- */
static void s_seed_next(od_app_t *app)
{
    while (s_auth.seed && s_auth.seed_next < json_array_size(s_auth.seed)) {
        json_t *e = json_array_get(s_auth.seed, s_auth.seed_next++);
        od_account_req_t r;
        cc_err_t err;
        if (od_account_req_from_json(e, &r, &err) != 0) {
            char i[24];
            snprintf(i, sizeof i, "%zu", s_auth.seed_next - 1);
            cc_error("seed_accounts_invalid", "entry", i, "field", err.field, "reason",
                     err.message);
            exit(1);
        }
        s_job_t *j = s_create_job(app, NULL, &r, "");
        od_account_req_clear(&r);
        if (cc_work_submit(s_auth.work, s_run_hash, s_account_hashed, j) != 0) {
            cc_error("seed_accounts_failed", "reason", "queue");
            exit(1);
        }
        return;   /* one at a time: s_on_account_created calls us again */
    }
    json_decref(s_auth.seed);
    s_auth.seed = NULL;
    od_store_load_part_done(app);
}

int od_auth_seed(od_app_t *app)
{
    if (!app->seed_accounts || !*app->seed_accounts)
        return 0;
    /* It holds passwords: refuse one others may read, as cc_jwt does keys. */
    struct stat st;
    if (stat(app->seed_accounts, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
        cc_error("seed_accounts_refused", "reason", "not a regular file of mode 0600 or less");
        exit(1);
    }
    json_error_t je;
    s_auth.seed = json_load_file(app->seed_accounts, 0, &je);
    if (!json_is_array(s_auth.seed)) {
        cc_error("seed_accounts_invalid", "reason", "not a JSON list");
        exit(1);
    }
    s_auth.seed_next = 0;
    s_seed_next(app);
    return 1;
}
