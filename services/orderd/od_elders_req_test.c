/* Unit tests for od_elders_req: the CSV reader (quotes, CRLF, BOM, blank
 * lines, each malformation), the roster (header rules, each bad field
 * rejected with its row and field, repeated ID numbers, limits) and PATCH
 * bodies (each field's refusal names it; the plain fields' set). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "od_elders.h"
#include "od_domain.h"

static const int64_t NOW = 1795000000LL * 1000000;   /* 2026-11-18T15:06:40+08:00 */

/* A valid resident ID born on born (YYYYMMDD), sequence n. */
static void s_idn(char out[19], const char *born, int n)
{
    snprintf(out, 19, "110101%s%03d", born, n % 1000);
    out[17] = od_id_number_check_char(out);
    out[18] = '\0';
}

/* ---- CSV ----------------------------------------------------------------- */
typedef struct {
    char text[1024];
    int records;
} s_rec_t;

static int s_collect(int record, char **f, int n, void *arg)
{
    s_rec_t *r = arg;
    size_t len = strlen(r->text);
    len += (size_t)snprintf(r->text + len, sizeof r->text - len, "%d:", record);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(r->text + len, sizeof r->text - len, "[%s]", f[i]);
    snprintf(r->text + len, sizeof r->text - len, "|");
    r->records++;
    return 0;
}

static void test_csv_ok(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "a,b\nc,d\n", "1:[a][b]|2:[c][d]|" },
        { "a,b\r\nc,d", "1:[a][b]|2:[c][d]|" },                       /* CRLF, no last EOL */
        { "\xEF\xBB\xBFx,y\n", "1:[x][y]|" },                          /* BOM dropped */
        { "a\n\n\nb\n", "1:[a]|2:[b]|" },                              /* blank lines */
        { "\"a,1\",\"say \"\"hi\"\"\"\n", "1:[a,1][say \"hi\"]|" },  /* quotes */
        { "\"two\nlines\",x\n", "1:[two\nlines][x]|" },
        { ",,\n", "1:[][][]|" },
        { "", "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_rec_t r = { "", 0 };
        cc_err_t err;
        int rc = od_csv_parse(cases[i].in, strlen(cases[i].in), 8, s_collect, &r, &err);
        if (rc != 0 || strcmp(r.text, cases[i].want) != 0)
            fail_msg("case %zu: rc %d got %s want %s", i, rc, r.text, cases[i].want);
    }
}

static void test_csv_bad(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *msg;                 /* part of the message */
    } cases[] = {
        { "a\n\"open,b\n", "row 2 has an unterminated quote" },
        { "\"a\"b,c\n", "row 1 has text after a closing quote" },
        { "a\"b\n", "row 1 has a quote inside an unquoted field" },
        { "a,b,c,d,e,f,g,h,i\n", "row 1 has more than 8 fields" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_rec_t r = { "", 0 };
        cc_err_t err;
        memset(&err, 0, sizeof err);
        int rc = od_csv_parse(cases[i].in, strlen(cases[i].in), 8, s_collect, &r, &err);
        if (rc != -1 || err.status != 400 || strcmp(err.error, "invalid_csv")
            || !strstr(err.message, cases[i].msg))
            fail_msg("case %zu: rc %d %d %s %s", i, rc, err.status, err.error, err.message);
    }
    /* A NUL inside is refused before anything is read. */
    s_rec_t r = { "", 0 };
    cc_err_t err;
    assert_int_equal(od_csv_parse("a\0b\n", 4, 8, s_collect, &r, &err), -1);
    assert_int_equal(r.records, 0);
    assert_string_equal(err.field, "body");
}

/* ---- roster -------------------------------------------------------------- */
#define HEADER "name,id_number,phone,address,lat,lon,birth_date,district_id,ability_level," \
               "household,living,categories,diet,disability_grade\n"

static char *s_row(const char *idn, const char *over_col, const char *over_val)
{
    static const char *const cols[] = { "name", "id_number", "phone", "address", "lat", "lon",
                                        "birth_date", "district_id", "ability_level",
                                        "household", "living", "categories", "diet",
                                        "disability_grade" };
    const char *vals[] = { "张三", idn, "13800001111", "\"某街, 1号\"", "30.27", "120.15",
                           "1940-01-01", "2", "mild", "none", "alone", "no_carer;alone", "",
                           "" };
    static char buf[512];
    buf[0] = '\0';
    for (int c = 0; c < 14; c++) {
        const char *v = over_col && strcmp(cols[c], over_col) == 0 ? over_val : vals[c];
        strcat(buf, v);
        strcat(buf, c < 13 ? "," : "\n");
    }
    return buf;
}

static void test_roster_ok(void **state)
{
    (void)state;
    char idn[19], csv[2048] = HEADER;
    s_idn(idn, "19400101", 1);
    idn[17] = idn[17] == 'X' ? 'x' : idn[17];     /* lower-case x is normalised */
    strcat(csv, s_row(idn, "disability_grade", "3"));
    od_roster_t r;
    cc_err_t err;
    assert_int_equal(od_roster_parse(csv, strlen(csv), NOW, 10, &r, &err), 0);
    assert_int_equal(r.total, 1);
    assert_int_equal(json_array_size(r.rejected), 0);
    json_t *row = json_array_get(r.rows, 0);
    assert_int_equal(json_integer_value(json_object_get(row, "row")), 2);
    assert_string_equal(json_string_value(json_object_get(row, "address")), "某街, 1号");
    s_idn(idn, "19400101", 1);
    assert_string_equal(json_string_value(json_object_get(row, "id_number")), idn);
    char *set = json_dumps(json_object_get(row, "set"), JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(15));
    assert_string_equal(set, "{\"ability_level\":\"mild\",\"birth_date\":\"1940-01-01\","
                        "\"categories\":[\"alone\",\"no_carer\"],\"diet\":\"\","
                        "\"disability_grade\":3,\"district_id\":2,\"household\":\"none\","
                        "\"lat\":30.27,\"living\":\"alone\",\"lon\":120.15}");
    free(set);
    od_roster_clear(&r);

    /* Only the required columns: no disability_grade (left as it is), no
     * categories (none). */
    const char *min = "name,id_number,phone,address,lat,lon,birth_date,district_id,"
                      "ability_level,household,living\n";
    char csv2[1024];
    snprintf(csv2, sizeof csv2, "%s李四,%s,13800002222,某路,30,120,1950-06-30,1,intact,dibao,"
             "other\n", min, idn);
    assert_int_equal(od_roster_parse(csv2, strlen(csv2), NOW, 10, &r, &err), 0);
    json_t *s2 = json_object_get(json_array_get(r.rows, 0), "set");
    assert_null(json_object_get(s2, "disability_grade"));
    assert_null(json_object_get(s2, "categories"));
    assert_null(json_object_get(s2, "diet"));
    od_roster_clear(&r);
}

static void test_roster_bad_rows(void **state)
{
    (void)state;
    static const struct {
        const char *col, *val, *field;
    } cases[] = {
        { "name", "", "name" },
        { "id_number", "110101194001010010", "id_number" },
        { "phone", "12", "phone" },
        { "address", " ", "address" },
        { "lat", "north", "lat" },
        { "lat", "95", "lat" },
        { "lon", "", "lon" },
        { "birth_date", "1940-02-30", "birth_date" },
        { "birth_date", "2999-01-01", "birth_date" },
        { "district_id", "1.5", "district_id" },
        { "district_id", "0", "district_id" },
        { "ability_level", "great", "ability_level" },
        { "household", "rich", "household" },
        { "living", "moon", "living" },
        { "categories", "alone;lonely", "categories" },
        { "disability_grade", "9", "disability_grade" },
        { "name", "\xff\xfe", "name" },
    };
    char csv[8192] = HEADER;
    char idn[19];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_idn(idn, "19400101", (int)i + 10);
        strcat(csv, s_row(idn, cases[i].col, cases[i].val));
    }
    s_idn(idn, "19400101", 1);
    strcat(csv, s_row(idn, NULL, NULL));             /* good */
    strcat(csv, "too,few\n");                         /* field count */
    idn[17] = idn[17] == 'X' ? 'x' : idn[17];
    strcat(csv, s_row(idn, NULL, NULL));             /* the good row's ID again */
    od_roster_t r;
    cc_err_t err;
    assert_int_equal(od_roster_parse(csv, strlen(csv), NOW, 100, &r, &err), 0);
    size_t n = sizeof cases / sizeof cases[0];
    assert_int_equal(r.total, (int)n + 3);
    assert_int_equal(json_array_size(r.rows), 1);
    assert_int_equal(json_array_size(r.rejected), n + 2);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(r.rejected, i);
        const char *f = json_string_value(json_object_get(x, "field"));
        if (json_integer_value(json_object_get(x, "row")) != (json_int_t)i + 2
            || strcmp(f, cases[i].field) != 0)
            fail_msg("case %zu: row %lld field %s", i,
                     (long long)json_integer_value(json_object_get(x, "row")), f);
        /* The reason names the rule, never the value. */
        const char *why = json_string_value(json_object_get(x, "reason"));
        assert_true(why && *why);
        if (*cases[i].val && strlen(cases[i].val) > 2)
            assert_null(strstr(why, cases[i].val));
    }
    json_t *fc = json_array_get(r.rejected, n);
    assert_string_equal(json_string_value(json_object_get(fc, "field")), "row");
    json_t *dup = json_array_get(r.rejected, n + 1);
    assert_string_equal(json_string_value(json_object_get(dup, "field")), "id_number");
    char want[64];
    snprintf(want, sizeof want, "the same ID number as row %zu", n + 2);
    assert_string_equal(json_string_value(json_object_get(dup, "reason")), want);
    od_roster_clear(&r);
}

static void test_roster_bad_files(void **state)
{
    (void)state;
    char idn[19], many[4096] = HEADER;
    s_idn(idn, "19400101", 1);
    for (int i = 0; i < 3; i++) {
        s_idn(idn, "19400101", i + 1);
        strcat(many, s_row(idn, NULL, NULL));
    }
    static const struct {
        const char *csv;
        int status;
        const char *field;
    } cases[] = {
        { "", 400, "header" },
        { "\n\n", 400, "header" },
        { HEADER, 400, "body" },
        { "nom,id_number\n", 400, "nom" },
        { "name,name\n", 400, "name" },
        { "name,id_number,phone,address,lat,lon,birth_date,district_id,ability_level,"
          "household\nx\n", 400, "living" },
        { HEADER "\"x\n", 400, "body" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        od_roster_t r;
        cc_err_t err;
        memset(&err, 0, sizeof err);
        int rc = od_roster_parse(cases[i].csv, strlen(cases[i].csv), NOW, 10, &r, &err);
        if (rc != -1 || err.status != cases[i].status || strcmp(err.field, cases[i].field))
            fail_msg("case %zu: rc %d status %d field %s (%s)", i, rc, err.status, err.field,
                     err.message);
        assert_null(r.rows);
    }
    /* More rows than allowed: 413 naming the body; exactly the limit is fine. */
    od_roster_t r;
    cc_err_t err;
    assert_int_equal(od_roster_parse(many, strlen(many), NOW, 2, &r, &err), -1);
    assert_int_equal(err.status, 413);
    assert_int_equal(od_roster_parse(many, strlen(many), NOW, 3, &r, &err), 0);
    assert_int_equal(json_array_size(r.rows), 3);
    od_roster_clear(&r);
}

/* ---- PATCH ---------------------------------------------------------------- */
static void test_patch_ok(void **state)
{
    (void)state;
    json_error_t je;
    json_t *b = json_loads("{\"phone\":\"138 0000 1111\",\"id_number\":\"11010519491231002x\","
                           "\"lat\":30.5,\"district_id\":3,\"categories\":[\"no_carer\","
                           "\"alone\",\"no_carer\"],\"disability_grade\":null,\"diet\":\"低盐\","
                           "\"contacts\":[{\"name\":\"儿子\",\"phone\":\"13900000000\","
                           "\"relation\":\"child\",\"priority\":2}],\"rev\":4}", 0, &je);
    assert_non_null(b);
    od_elder_patch_t p;
    cc_err_t err;
    int rc = od_elder_patch_from_json(b, NOW, &p, &err);
    if (rc != 0 && strcmp(err.field, "id_number") == 0) {
        /* Use a checksum-valid number instead of the literal above. */
        char idn[19];
        s_idn(idn, "19491231", 2);
        json_object_set_new(b, "id_number", json_string(idn));
        rc = od_elder_patch_from_json(b, NOW, &p, &err);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(p.phone, "138 0000 1111");
    assert_null(p.name);
    assert_int_equal(p.has_rev, 1);
    assert_int_equal(p.rev, 4);
    assert_int_equal(p.ncontacts, 1);
    assert_int_equal(p.contacts[0].priority, 2);
    assert_string_equal(p.contacts[0].relation, "child");
    char *set = json_dumps(p.set, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(15));
    assert_string_equal(set, "{\"categories\":[\"alone\",\"no_carer\"],\"diet\":\"低盐\","
                        "\"disability_grade\":null,\"district_id\":3,\"lat\":30.5}");
    free(set);
    od_elder_patch_clear(&p);
    json_decref(b);
}

static void test_patch_bad(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int status;
        const char *field;
    } cases[] = {
        { "{}", 400, "" },
        { "{\"status\":\"deceased\"}", 400, "status" },
        { "{\"name\":\" \"}", 400, "name" },
        { "{\"name\":1}", 400, "name" },
        { "{\"phone\":\"abc\"}", 400, "phone" },
        { "{\"id_number\":\"110101194001010010\"}", 400, "id_number" },
        { "{\"address\":\"\"}", 400, "address" },
        { "{\"district_id\":null}", 400, "district_id" },
        { "{\"lat\":-91}", 400, "lat" },
        { "{\"lon\":181}", 400, "lon" },
        { "{\"birth_date\":\"1940-1-1\"}", 400, "birth_date" },
        { "{\"birth_date\":\"2030-01-01\"}", 422, "birth_date" },
        { "{\"ability_level\":\"ok\"}", 400, "ability_level" },
        { "{\"household\":1}", 400, "household" },
        { "{\"living\":\"\"}", 400, "living" },
        { "{\"disability_grade\":0}", 400, "disability_grade" },
        { "{\"diet\":[]}", 400, "diet" },
        { "{\"categories\":[\"alone\",1]}", 400, "categories" },
        { "{\"categories\":{}}", 400, "categories" },
        { "{\"contacts\":{}}", 400, "contacts" },
        { "{\"contacts\":[1]}", 400, "contacts[0]" },
        { "{\"contacts\":[{\"name\":\"a\",\"phone\":\"13800000000\",\"relation\":\"child\","
          "\"priority\":1,\"email\":\"x\"}]}", 400, "contacts[0]" },
        { "{\"contacts\":[{\"phone\":\"13800000000\",\"relation\":\"child\",\"priority\":1}]}",
          400, "contacts[0].name" },
        { "{\"contacts\":[{\"name\":\"a\",\"phone\":\"13800000000\",\"relation\":\"child\","
          "\"priority\":10}]}", 400, "contacts[0].priority" },
        { "{\"rev\":\"3\"}", 400, "rev" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_error_t je;
        json_t *b = json_loads(cases[i].body, 0, &je);
        assert_non_null(b);
        od_elder_patch_t p;
        cc_err_t err;
        memset(&err, 0, sizeof err);
        int rc = od_elder_patch_from_json(b, NOW, &p, &err);
        if (rc != -1 || err.status != cases[i].status || strcmp(err.field, cases[i].field))
            fail_msg("case %zu %s: rc %d status %d field %s", i, cases[i].body, rc, err.status,
                     err.field);
        assert_null(p.set);
        json_decref(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_ok),
        cmocka_unit_test(test_csv_bad),
        cmocka_unit_test(test_roster_ok),
        cmocka_unit_test(test_roster_bad_rows),
        cmocka_unit_test(test_roster_bad_files),
        cmocka_unit_test(test_patch_ok),
        cmocka_unit_test(test_patch_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
