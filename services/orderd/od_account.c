/* od_account: see od_account.h. */
#include "od_account.h"
#include "cc_passwd.h"
#include <ctype.h>
#include <stdio.h>
#include <string.h>

int od_login_req_from_json(json_t *body, char username[OD_USERNAME_MAX + 1],
                           const char **password, size_t *password_len, cc_err_t *err)
{
    static const char *const known[] = { "username", "password", NULL };
    const char *u = NULL;
    if (cc_json_only(body, known, err) != 0
        || cc_json_str(body, "username", 1, OD_USERNAME_MAX, &u, err) != 0
        || cc_json_str(body, "password", 1, CC_PASSWD_MAX, password, err) != 0)
        return -1;
    if (!*u)
        return cc_err_set(err, 400, "invalid_value", "username", "username is empty");
    *password_len = json_string_length(json_object_get(body, "password"));
    if (*password_len == 0)
        return cc_err_set(err, 400, "invalid_value", "password", "password is empty");
    size_t i = 0;
    for (; u[i]; i++)
        username[i] = (char)tolower((unsigned char)u[i]);
    username[i] = '\0';
    return 0;
}

static int s_username_ok(const char *u)
{
    size_t n = strlen(u);
    if (n < 3 || n > OD_USERNAME_MAX || !(islower((unsigned char)u[0]) || isdigit((unsigned char)u[0])))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)u[i];
        if (!(islower(ch) || isdigit(ch) || ch == '.' || ch == '_' || ch == '@' || ch == '-'))
            return 0;
    }
    return 1;
}

/* The scope claims each role needs (one each; dispatcher: district_ids). */
static const char *s_scope_uuid(cc_role_t role)
{
    switch (role) {
    case CC_ROLE_CAREGIVER: return "caregiver_id";
    case CC_ROLE_PROVIDER_ADMIN: return "provider_id";
    case CC_ROLE_MEAL_POINT: return "meal_point_id";
    case CC_ROLE_FAMILY: return "elder_id";
    default: return NULL;
    }
}

static int s_scope_error(cc_err_t *err, const char *field, const char *msg)
{
    char f[64];
    snprintf(f, sizeof f, "scope.%s", field);
    return cc_err_set(err, 400, "invalid_value", f, "%s", msg);
}

/* The scope object of role from s (may be NULL), normalized, into *out. */
static int s_scope(json_t *s, cc_role_t role, json_t **out, char provider[CC_UUID_LEN],
                   cc_err_t *err)
{
    if (s && !json_is_null(s) && !json_is_object(s))
        return cc_err_set(err, 400, "wrong_type", "scope", "scope must be an object");
    json_t *scope = json_object();
    if (!scope)
        return cc_err_set(err, 500, "internal", NULL, "out of memory");
    const char *own = s_scope_uuid(role);
    const char *key;
    json_t *v;
    size_t used = 0;
    if (role == CC_ROLE_DISPATCHER) {
        json_t *d = s ? json_object_get(s, "district_ids") : NULL;
        if (!d || !json_is_array(d) || json_array_size(d) == 0
            || json_array_size(d) > CC_JWT_MAX_DISTRICTS) {
            json_decref(scope);
            return s_scope_error(err, "district_ids", "a dispatcher needs 1..64 district ids");
        }
        json_t *ids = json_array();
        size_t i;
        json_array_foreach(d, i, v) {
            json_int_t x = json_is_integer(v) ? json_integer_value(v) : -1;
            int dup = 0;
            for (size_t k = 0; k < i; k++)
                dup |= json_integer_value(json_array_get(ids, k)) == x;
            if (x < 0 || x > (json_int_t)UINT32_MAX || dup) {
                json_decref(ids);
                json_decref(scope);
                return s_scope_error(err, "district_ids",
                                     "district ids are distinct integers 0..4294967295");
            }
            json_array_append_new(ids, json_integer(x));
        }
        json_object_set_new(scope, "district_ids", ids);
        used++;
    }
    const char *need[2] = { own, role == CC_ROLE_CAREGIVER ? "provider_id" : NULL };
    for (int k = 0; k < 2; k++) {
        if (!need[k])
            continue;
        char id[CC_UUID_LEN];
        json_t *x = s ? json_object_get(s, need[k]) : NULL;
        if (!x || !json_is_string(x) || cc_uuid_norm(json_string_value(x), id) != 0) {
            json_decref(scope);
            return s_scope_error(err, need[k], "this role needs it, as a UUID");
        }
        json_object_set_new(scope, need[k], json_string(id));
        if (strcmp(need[k], "provider_id") == 0)
            memcpy(provider, id, CC_UUID_LEN);
        used++;
    }
    if (s && json_is_object(s) && json_object_size(s) != used) {
        json_object_foreach(s, key, v) {
            if (!json_object_get(scope, key)) {
                json_decref(scope);
                return s_scope_error(err, key, "not a scope of this role");
            }
        }
    }
    *out = scope;
    return 0;
}

int od_account_req_from_json(json_t *body, od_account_req_t *out, cc_err_t *err)
{
    static const char *const known[] = { "username", "password", "role", "scope", NULL };
    memset(out, 0, sizeof *out);
    const char *u = NULL, *role = NULL;
    if (cc_json_only(body, known, err) != 0
        || cc_json_str(body, "username", 1, OD_USERNAME_MAX, &u, err) != 0
        || cc_json_str(body, "password", 1, CC_PASSWD_MAX, &out->password, err) != 0
        || cc_json_str(body, "role", 1, 32, &role, err) != 0)
        return -1;
    size_t i = 0;
    for (; u[i]; i++)
        out->username[i] = (char)tolower((unsigned char)u[i]);
    out->username[i] = '\0';
    if (!s_username_ok(out->username))
        return cc_err_set(err, 400, "invalid_value", "username",
                          "3..64 of a-z 0-9 . _ @ -, starting with a letter or digit");
    out->password_len = json_string_length(json_object_get(body, "password"));
    if (out->password_len < OD_PASSWORD_MIN)
        return cc_err_set(err, 400, "invalid_value", "password",
                          "a password has at least %d bytes", OD_PASSWORD_MIN);
    out->role = cc_role_parse(role);
    if (!out->role)
        return cc_err_set(err, 400, "invalid_value", "role", "unknown role");
    return s_scope(json_object_get(body, "scope"), out->role, &out->scope, out->provider_id,
                   err);
}

int od_password_req_from_json(json_t *body, int self, od_password_req_t *out, cc_err_t *err)
{
    static const char *const own[] = { "current_password", "new_password", NULL };
    static const char *const reset[] = { "new_password", NULL };
    memset(out, 0, sizeof *out);
    if (cc_json_only(body, self ? own : reset, err) != 0
        || (self && cc_json_str(body, "current_password", 1, CC_PASSWD_MAX, &out->current,
                                err) != 0)
        || cc_json_str(body, "new_password", 1, CC_PASSWD_MAX, &out->next, err) != 0)
        return -1;
    if (self) {
        out->current_len = json_string_length(json_object_get(body, "current_password"));
        if (out->current_len == 0)
            return cc_err_set(err, 400, "invalid_value", "current_password",
                              "current_password is empty");
    }
    out->next_len = json_string_length(json_object_get(body, "new_password"));
    if (out->next_len < OD_PASSWORD_MIN)
        return cc_err_set(err, 400, "invalid_value", "new_password",
                          "a password has at least %d bytes", OD_PASSWORD_MIN);
    if (self && out->next_len == out->current_len
        && memcmp(out->next, out->current, out->next_len) == 0)
        return cc_err_set(err, 400, "invalid_value", "new_password",
                          "the new password is the current one");
    return 0;
}

void od_account_req_clear(od_account_req_t *r)
{
    json_decref(r->scope);
    r->scope = NULL;
}

int od_account_may_manage(const cc_jwt_claims_t *by, cc_role_t role, const char *provider_id)
{
    if (by->role == CC_ROLE_ADMIN)
        return 1;
    return by->role == CC_ROLE_PROVIDER_ADMIN && role == CC_ROLE_CAREGIVER && by->provider_id[0]
           && provider_id && strcmp(by->provider_id, provider_id) == 0;
}

int od_account_may_create(const cc_jwt_claims_t *by, const od_account_req_t *r, cc_err_t *err)
{
    if (od_account_may_manage(by, r->role, r->provider_id))
        return 0;
    return cc_err_set(err, 403, "forbidden", "role",
                      by->role == CC_ROLE_PROVIDER_ADMIN
                          ? "a provider_admin creates caregivers of its own provider only"
                          : "only an admin creates accounts");
}

int od_account_claims(const char *id, const char *role, const char *scope_text, int64_t gen,
                      cc_jwt_claims_t *c)
{
    memset(c, 0, sizeof *c);
    if (!id || strlen(id) > CC_JWT_SUB_MAX || gen < 0)
        return -1;
    snprintf(c->sub, sizeof c->sub, "%s", id);
    c->role = cc_role_parse(role);
    c->gen = gen;
    if (!c->role)
        return -1;
    json_t *s = json_loads(scope_text ? scope_text : "{}", 0, NULL);
    if (!json_is_object(s)) {
        json_decref(s);
        return -1;
    }
    int rc = 0;
    if (c->role == CC_ROLE_DISPATCHER) {
        json_t *d = json_object_get(s, "district_ids"), *v;
        size_t i;
        if (!json_is_array(d) || json_array_size(d) == 0
            || json_array_size(d) > CC_JWT_MAX_DISTRICTS)
            rc = -1;
        else
            json_array_foreach(d, i, v) {
                json_int_t x = json_integer_value(v);
                if (!json_is_integer(v) || x < 0 || x > (json_int_t)UINT32_MAX)
                    rc = -1;
                else
                    c->district_ids[c->n_districts++] = (uint32_t)x;
            }
    }
    const char *own = s_scope_uuid(c->role);
    if (own) {
        char *dst = c->role == CC_ROLE_CAREGIVER        ? c->caregiver_id
                    : c->role == CC_ROLE_PROVIDER_ADMIN ? c->provider_id
                    : c->role == CC_ROLE_MEAL_POINT     ? c->meal_point_id
                                                        : c->elder_id;
        const char *v = json_string_value(json_object_get(s, own));
        if (!v || cc_uuid_norm(v, dst) != 0)
            rc = -1;
    }
    json_decref(s);
    return rc;
}
