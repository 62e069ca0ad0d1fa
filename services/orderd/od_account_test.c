/* Tests for od_account: request parsing, who may create whom, claims from
 * the stored role and scope. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "od_account.h"

#define P1 "0f8fad5b-d9cb-469f-a165-70867728950e"
#define P2 "7c9e6679-7425-40de-944b-e07fc1f90ae7"
#define CG "16fd2706-8baf-433b-82eb-8c7fada847da"

static int s_req(const char *text, od_account_req_t *r, cc_err_t *err)
{
    json_t *b = json_loads(text, 0, NULL);
    assert_non_null(b);
    int rc = od_account_req_from_json(b, r, err);
    if (rc == 0) {
        /* the password is borrowed from the body: copy what we check */
        static char pw[64];
        snprintf(pw, sizeof pw, "%s", r->password);
        r->password = pw;
    }
    json_decref(b);
    return rc;
}

static void test_login_request(void **state)
{
    (void)state;
    char u[OD_USERNAME_MAX + 1];
    const char *pw;
    size_t n;
    cc_err_t err;
    json_t *b = json_pack("{s:s,s:s}", "username", "Ops.One", "password", "pw");
    assert_int_equal(od_login_req_from_json(b, u, &pw, &n, &err), 0);
    assert_string_equal(u, "ops.one");
    assert_int_equal(n, 2);
    json_decref(b);
    b = json_pack("{s:s}", "username", "x");
    assert_int_equal(od_login_req_from_json(b, u, &pw, &n, &err), -1);
    assert_string_equal(err.field, "password");
    json_decref(b);
    b = json_pack("{s:s,s:s,s:i}", "username", "x", "password", "y", "extra", 1);
    assert_int_equal(od_login_req_from_json(b, u, &pw, &n, &err), -1);
    json_decref(b);
}

static void test_account_request(void **state)
{
    (void)state;
    od_account_req_t r;
    cc_err_t err;
    assert_int_equal(s_req("{\"username\":\"Disp-1\",\"password\":\"correct horse\","
                           "\"role\":\"dispatcher\",\"scope\":{\"district_ids\":[1,2]}}",
                           &r, &err), 0);
    assert_string_equal(r.username, "disp-1");
    assert_int_equal(r.role, CC_ROLE_DISPATCHER);
    assert_int_equal(json_array_size(json_object_get(r.scope, "district_ids")), 2);
    od_account_req_clear(&r);
    /* caregiver: caregiver_id and provider_id, nothing else */
    assert_int_equal(s_req("{\"username\":\"cg1\",\"password\":\"correct horse\","
                           "\"role\":\"caregiver\",\"scope\":{\"caregiver_id\":\"" CG "\","
                           "\"provider_id\":\"" P1 "\"}}", &r, &err), 0);
    assert_string_equal(r.provider_id, P1);
    od_account_req_clear(&r);
    const char *bad[][2] = {
        { "{\"username\":\"cg1\",\"password\":\"correct horse\",\"role\":\"caregiver\","
          "\"scope\":{\"caregiver_id\":\"" CG "\"}}", "scope.provider_id" },
        { "{\"username\":\"op1\",\"password\":\"correct horse\",\"role\":\"operator\","
          "\"scope\":{\"district_ids\":[1]}}", "scope.district_ids" },
        { "{\"username\":\"dd1\",\"password\":\"correct horse\",\"role\":\"dispatcher\","
          "\"scope\":{\"district_ids\":[1,1]}}", "scope.district_ids" },
        { "{\"username\":\"d1x\",\"password\":\"correct horse\",\"role\":\"dispatcher\"}",
          "scope.district_ids" },
        { "{\"username\":\"op1\",\"password\":\"short\",\"role\":\"operator\"}", "password" },
        { "{\"username\":\"o\",\"password\":\"correct horse\",\"role\":\"operator\"}",
          "username" },
        { "{\"username\":\"o p\",\"password\":\"correct horse\",\"role\":\"operator\"}",
          "username" },
        { "{\"username\":\"op1\",\"password\":\"correct horse\",\"role\":\"root\"}", "role" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(s_req(bad[i][0], &r, &err), -1);
        assert_string_equal(err.field, bad[i][1]);
        assert_int_equal(err.status, 400);
        od_account_req_clear(&r);
    }
}

/* err.field of a password request that must fail, or "" if it passed. */
static const char *s_pw(const char *text, int self)
{
    static cc_err_t err;
    od_password_req_t r;
    json_t *b = json_loads(text, 0, NULL);
    assert_non_null(b);
    int rc = od_password_req_from_json(b, self, &r, &err);
    json_decref(b);
    if (rc == 0)
        return "";
    assert_int_equal(err.status, 400);
    return err.field;
}

static void test_password_request(void **state)
{
    (void)state;
    od_password_req_t r;
    cc_err_t err;
    json_t *b = json_pack("{s:s,s:s}", "current_password", "old secret",
                          "new_password", "a much longer one");
    assert_int_equal(od_password_req_from_json(b, 1, &r, &err), 0);
    assert_int_equal(r.current_len, 10);
    assert_int_equal(r.next_len, 17);
    assert_memory_equal(r.next, "a much longer one", 17);
    json_decref(b);
    assert_string_equal(s_pw("{\"new_password\":\"twelve bytes\"}", 0), "");
    /* Self needs the current password; a reset must not carry one. */
    assert_string_equal(s_pw("{\"new_password\":\"twelve bytes\"}", 1), "current_password");
    assert_string_equal(s_pw("{\"current_password\":\"x\",\"new_password\":\"twelve bytes\"}",
                             0), "current_password");
    assert_string_equal(s_pw("{\"current_password\":\"\",\"new_password\":\"twelve bytes\"}",
                             1), "current_password");
    assert_string_equal(s_pw("{\"current_password\":\"x\",\"new_password\":\"eleven byte\"}",
                             1), "new_password");
    assert_string_equal(s_pw("{\"current_password\":\"twelve bytes\","
                             "\"new_password\":\"twelve bytes\"}", 1), "new_password");
    assert_string_equal(s_pw("{\"new_password\":12}", 0), "new_password");
}

static void test_who_may_create(void **state)
{
    (void)state;
    cc_jwt_claims_t admin = { .role = CC_ROLE_ADMIN }, pa = { .role = CC_ROLE_PROVIDER_ADMIN },
                    op = { .role = CC_ROLE_OPERATOR };
    strcpy(pa.provider_id, P1);
    od_account_req_t r = { .role = CC_ROLE_CAREGIVER };
    strcpy(r.provider_id, P1);
    cc_err_t err;
    assert_int_equal(od_account_may_create(&admin, &r, &err), 0);
    assert_int_equal(od_account_may_create(&pa, &r, &err), 0);
    assert_int_equal(od_account_may_create(&op, &r, &err), -1);
    assert_int_equal(err.status, 403);
    strcpy(r.provider_id, P2);                 /* another provider's caregiver */
    assert_int_equal(od_account_may_create(&pa, &r, &err), -1);
    r.role = CC_ROLE_OPERATOR;                 /* not a caregiver */
    strcpy(r.provider_id, "");
    assert_int_equal(od_account_may_create(&pa, &r, &err), -1);
    assert_int_equal(od_account_may_create(&admin, &r, &err), 0);
    assert_int_equal(od_account_may_manage(&pa, CC_ROLE_CAREGIVER, P1), 1);
    assert_int_equal(od_account_may_manage(&pa, CC_ROLE_CAREGIVER, NULL), 0);
}

static void test_claims(void **state)
{
    (void)state;
    cc_jwt_claims_t c;
    assert_int_equal(od_account_claims(P2, "dispatcher", "{\"district_ids\":[3,4]}", 2, &c), 0);
    assert_int_equal(c.role, CC_ROLE_DISPATCHER);
    assert_int_equal(c.n_districts, 2);
    assert_int_equal(c.district_ids[1], 4);
    assert_int_equal(c.gen, 2);
    assert_string_equal(c.sub, P2);
    assert_int_equal(od_account_claims(P2, "caregiver",
                                       "{\"caregiver_id\":\"" CG "\",\"provider_id\":\"" P1 "\"}",
                                       0, &c), 0);
    assert_string_equal(c.caregiver_id, CG);
    assert_string_equal(c.provider_id, "");    /* only the role's own scope */
    assert_int_equal(od_account_claims(P2, "admin", "{}", 0, &c), 0);
    assert_int_equal(od_account_claims(P2, "family", "{}", 0, &c), -1);
    assert_int_equal(od_account_claims(P2, "nobody", "{}", 0, &c), -1);
    assert_int_equal(od_account_claims(P2, "admin", "[", 0, &c), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_request),
        cmocka_unit_test(test_account_request),
        cmocka_unit_test(test_password_request),
        cmocka_unit_test(test_who_may_create),
        cmocka_unit_test(test_claims),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
