/* cc_event_test: every event schema covers its message, every rule takes a
 * good value and refuses each kind of bad one, and packing an event that
 * fails its schema aborts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cc_event.h"
#include "cc_log.h"

#define S_UUID_GOOD "0f8fad5b-d9cb-469f-a165-70867728950e"

static char s_long_text[CC_EVENT_NOTES_MAX + 2];
static uint8_t s_bytes[CC_EVENT_SEALED_ADDRESS_MAX + 1];

/* Where field f of msg lives. */
static void *s_at(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    return (char *) msg + f->offset;
}

static void s_set_int(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, int64_t v)
{
    void *p = s_at(msg, f);
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *(int32_t *) p = (int32_t) v;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *(uint32_t *) p = (uint32_t) v;
        break;
    case PROTOBUF_C_TYPE_ENUM:
        *(int *) p = (int) v;
        break;
    default:
        *(int64_t *) p = v;
        break;
    }
}

/* The range the field's C type can hold. */
static void s_type_range(const ProtobufCFieldDescriptor *f, int64_t *lo, int64_t *hi)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *lo = INT32_MIN;
        *hi = INT32_MAX;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *lo = 0;
        *hi = UINT32_MAX;
        break;
    default:
        *lo = INT64_MIN;
        *hi = INT64_MAX;
        break;
    }
}

/* Set field f to a value its rule accepts. */
static void s_set_good(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                       const cc_event_field_t *r)
{
    switch (r->rule) {
    case CC_EVENT_UUID:
    case CC_EVENT_UUID_OPT:
        *(const char **) s_at(msg, f) = S_UUID_GOOD;
        break;
    case CC_EVENT_TEXT:
        *(const char **) s_at(msg, f) = r->min > 0 ? "x" : "";
        break;
    case CC_EVENT_WORD:
        *(const char **) s_at(msg, f) = r->words[0];
        break;
    case CC_EVENT_INT:
        s_set_int(msg, f, r->min > 0 ? r->min : (r->max < 0 ? r->max : 0));
        break;
    case CC_EVENT_ENUM:
        s_set_int(msg, f, f->default_value ? *(const int *) f->default_value : 0);
        break;
    case CC_EVENT_TIME:
        s_set_int(msg, f, 1796000000000000LL);   /* 2026 */
        break;
    case CC_EVENT_REAL:
        *(double *) s_at(msg, f) = (double) (r->min + r->max) / 2;
        break;
    case CC_EVENT_BOOL:
        *(protobuf_c_boolean *) s_at(msg, f) = 1;
        break;
    case CC_EVENT_BYTES:
        *(ProtobufCBinaryData *) s_at(msg, f) = (ProtobufCBinaryData) { (size_t) r->min,
                                                                         s_bytes };
        break;
    }
}

/* A message of schema sc with every field good. Free with free(). */
static ProtobufCMessage *s_good(const cc_event_schema_t *sc)
{
    ProtobufCMessage *msg = calloc(1, sc->desc->sizeof_message);
    assert_non_null(msg);
    protobuf_c_message_init(sc->desc, msg);
    for (size_t i = 0; i < sc->nfields; i++) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(sc->desc, sc->fields[i].name);
        s_set_good(msg, f, &sc->fields[i]);
    }
    return msg;
}

/* Every field of every event message has exactly one rule, and the rule fits
 * the field's type (cc_event_check asserts that it does). */
static void test_schemas_cover_every_field(void **state)
{
    (void) state;
    size_t n;
    const cc_event_schema_t *all = cc_event_schemas(&n);
    assert_int_equal(n, 25);   /* 23 + VisitAssessed, CapacityReported (issue 13) */
    for (size_t s = 0; s < n; s++) {
        const cc_event_schema_t *sc = &all[s];
        assert_ptr_equal(cc_event_schema(sc->desc), sc);
        assert_int_equal(sc->nfields, sc->desc->n_fields);
        for (unsigned i = 0; i < sc->desc->n_fields; i++) {
            int rules = 0;
            for (size_t k = 0; k < sc->nfields; k++)
                rules += strcmp(sc->fields[k].name, sc->desc->fields[i].name) == 0;
            if (rules != 1)
                printf("%s.%s: %d rules\n", sc->desc->short_name, sc->desc->fields[i].name,
                       rules);
            assert_int_equal(rules, 1);
        }
        ProtobufCMessage *msg = s_good(sc);
        const char *field = "unset";
        assert_int_equal(cc_event_check(msg, &field), 0);
        assert_null(field);
        free(msg);
    }
    /* Not events: no schema, never accepted. */
    Cc__PlaceOrder po = CC__PLACE_ORDER__INIT;
    const char *field = NULL;
    assert_null(cc_event_schema(&cc__place_order__descriptor));
    assert_int_equal(cc_event_check(&po.base, &field), -1);
    assert_string_equal(field, "");
}

/* Expect msg to fail on field name with its field set to a bad value. */
static void s_expect_bad(ProtobufCMessage *msg, const char *name, const char *what)
{
    const char *field = NULL;
    int rc = cc_event_check(msg, &field);
    if (rc != -1 || !field || strcmp(field, name) != 0)
        printf("%s.%s accepted %s\n", msg->descriptor->short_name, name, what);
    assert_int_equal(rc, -1);
    assert_string_equal(field, name);
}

/* Each field in turn gets each kind of bad value its rule refuses (and the
 * edge values it accepts); every other field stays good. */
static void test_each_rule_refuses_bad_values(void **state)
{
    (void) state;
    memset(s_long_text, 'x', sizeof s_long_text - 1);
    size_t n;
    const cc_event_schema_t *all = cc_event_schemas(&n);
    int checked = 0;
    for (size_t s = 0; s < n; s++) {
        const cc_event_schema_t *sc = &all[s];
        ProtobufCMessage *msg = s_good(sc);
        for (size_t i = 0; i < sc->nfields; i++) {
            const cc_event_field_t *r = &sc->fields[i];
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field_by_name(sc->desc, r->name);
            const char **sp = s_at(msg, f);
            int64_t lo, hi;
            switch (r->rule) {
            case CC_EVENT_UUID:
            case CC_EVENT_UUID_OPT: {
                static const char *bad[] = {
                    "not-a-uuid", "0F8FAD5B-D9CB-469F-A165-70867728950E",
                    "0f8fad5b-d9cb-469f-a165-70867728950", "0f8fad5b-d9cb-469f-a165-70867728950e0",
                    "0f8fad5bd9cb-469f-a165-70867728950e0", "0f8fad5b-d9cb-469f-a165-70867728950g",
                };
                for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
                    *sp = bad[k];
                    s_expect_bad(msg, r->name, bad[k]);
                }
                *sp = "";
                if (r->rule == CC_EVENT_UUID)
                    s_expect_bad(msg, r->name, "an empty id");
                else
                    assert_int_equal(cc_event_check(msg, NULL), 0);
                *sp = NULL;   /* packed as "" */
                if (r->rule == CC_EVENT_UUID)
                    s_expect_bad(msg, r->name, "a NULL id");
                break;
            }
            case CC_EVENT_TEXT:
                assert_true(r->max + 1 < (int64_t) sizeof s_long_text);
                s_long_text[r->max] = '\0';
                *sp = s_long_text;   /* max bytes: fits */
                assert_int_equal(cc_event_check(msg, NULL), 0);
                s_long_text[r->max] = 'x';
                s_long_text[r->max + 1] = '\0';
                *sp = s_long_text;
                s_expect_bad(msg, r->name, "an over-long text");
                s_long_text[r->max + 1] = 'x';
                if (r->max >= 4) {
                    /* PostgreSQL refuses text that is not UTF-8. */
                    static const char *bad_utf8[] = { "l\xf5nch", "a\xe4\xb8", "\xc0\xaf",
                                                      "\xed\xa0\x80" };
                    for (size_t k = 0; k < sizeof bad_utf8 / sizeof bad_utf8[0]; k++) {
                        *sp = bad_utf8[k];
                        s_expect_bad(msg, r->name, "text that is not UTF-8");
                    }
                    *sp = "\xe5\x8d\x88\xe9\xa4\x90";   /* lunch in Chinese: fits */
                    if ((int64_t) strlen(*sp) >= r->min && (int64_t) strlen(*sp) <= r->max)
                        assert_int_equal(cc_event_check(msg, NULL), 0);
                }
                *sp = s_long_text;
                break;
            case CC_EVENT_WORD:
                for (const char *const *w = r->words; *w; w++) {
                    *sp = *w;
                    assert_int_equal(cc_event_check(msg, NULL), 0);
                }
                *sp = "nonsense";
                s_expect_bad(msg, r->name, "an unknown word");
                *sp = "";
                s_expect_bad(msg, r->name, "an empty word");
                break;
            case CC_EVENT_INT:
                s_type_range(f, &lo, &hi);
                s_set_int(msg, f, r->min);
                assert_int_equal(cc_event_check(msg, NULL), 0);
                s_set_int(msg, f, r->max);
                assert_int_equal(cc_event_check(msg, NULL), 0);
                if (r->min > lo) {
                    s_set_int(msg, f, r->min - 1);
                    s_expect_bad(msg, r->name, "a value below its range");
                }
                if (r->max < hi) {
                    s_set_int(msg, f, r->max + 1);
                    s_expect_bad(msg, r->name, "a value above its range");
                }
                break;
            case CC_EVENT_ENUM:
                s_set_int(msg, f, 99);
                s_expect_bad(msg, r->name, "an unknown enum value");
                s_set_int(msg, f, -1);
                s_expect_bad(msg, r->name, "a negative enum value");
                break;
            case CC_EVENT_TIME:
                s_set_int(msg, f, 0);   /* not set */
                assert_int_equal(cc_event_check(msg, NULL), 0);
                s_set_int(msg, f, -1);
                s_expect_bad(msg, r->name, "a time before the epoch");
                s_set_int(msg, f, CC_EVENT_TIME_MAX_US + 1);
                s_expect_bad(msg, r->name, "a time past year 9999");
                /* cc_limits.h: the range every intake takes, ends included. */
                s_set_int(msg, f, CC_TIME_MIN_US - 1);
                s_expect_bad(msg, r->name, "a time before 2000");
                s_set_int(msg, f, CC_TIME_MIN_US);
                assert_int_equal(cc_event_check(msg, NULL), 0);
                s_set_int(msg, f, CC_TIME_MAX_US);
                assert_int_equal(cc_event_check(msg, NULL), 0);
                break;
            case CC_EVENT_REAL: {
                double *dp = s_at(msg, f);
                *dp = (double) r->min;
                assert_int_equal(cc_event_check(msg, NULL), 0);
                *dp = (double) r->max;
                assert_int_equal(cc_event_check(msg, NULL), 0);
                const double bad[] = { NAN, INFINITY, -INFINITY, (double) r->min - 0.5,
                                       (double) r->max + 0.5 };
                for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
                    *dp = bad[k];
                    s_expect_bad(msg, r->name, "a coordinate out of range");
                }
                break;
            }
            case CC_EVENT_BOOL:
                *(protobuf_c_boolean *) s_at(msg, f) = 0;
                assert_int_equal(cc_event_check(msg, NULL), 0);
                break;
            case CC_EVENT_BYTES: {
                ProtobufCBinaryData *bp = s_at(msg, f);
                assert_true(r->max + 1 <= (int64_t) sizeof s_bytes);
                const size_t ok[] = { 0, (size_t) r->min, (size_t) r->max };
                for (size_t k = 0; k < 3; k++) {
                    *bp = (ProtobufCBinaryData) { ok[k], s_bytes };
                    assert_int_equal(cc_event_check(msg, NULL), 0);
                }
                *bp = (ProtobufCBinaryData) { (size_t) r->min - 1, s_bytes };
                s_expect_bad(msg, r->name, "too few bytes");
                *bp = (ProtobufCBinaryData) { (size_t) r->max + 1, s_bytes };
                s_expect_bad(msg, r->name, "too many bytes");
                break;
            }
            }
            s_set_good(msg, f, r);
            assert_int_equal(cc_event_check(msg, NULL), 0);
            checked++;
        }
        free(msg);
    }
    printf("%d fields checked\n", checked);
}

/* The shared limits are the ones the rules use. */
static void test_shared_limits(void **state)
{
    (void) state;
    char provider[CC_PROVIDER_ID_MAX + 2];
    memset(provider, 'p', sizeof provider);
    provider[CC_PROVIDER_ID_MAX] = '\0';
    Cc__HoldCaptured hc = CC__HOLD_CAPTURED__INIT;
    hc.order_id = S_UUID_GOOD;
    hc.provider_id = provider;
    assert_int_equal(cc_event_check(&hc.base, NULL), 0);
    provider[CC_PROVIDER_ID_MAX] = 'p';
    provider[CC_PROVIDER_ID_MAX + 1] = '\0';
    const char *field = NULL;
    assert_int_equal(cc_event_check(&hc.base, &field), -1);
    assert_string_equal(field, "provider_id");
}

/* A good event packs and reads back as itself. */
static void test_pack_good_event(void **state)
{
    (void) state;
    Cc__OrderFailed m = CC__ORDER_FAILED__INIT;
    m.order_id = S_UUID_GOOD;
    m.reason = "no_caregiver";
    size_t len = 0;
    uint8_t *b = cc_event_pack(&m.base, &len);
    assert_non_null(b);
    Cc__OrderFailed *back = cc__order_failed__unpack(NULL, len, b);
    assert_non_null(back);
    assert_string_equal(back->order_id, S_UUID_GOOD);
    assert_string_equal(back->reason, "no_caregiver");
    assert_int_equal(cc_event_check(&back->base, NULL), 0);
    cc__order_failed__free_unpacked(back, NULL);
    free(b);
}

/* Pack msg in a child; its exit status. */
static int s_pack_in_child(const ProtobufCMessage *msg)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = { 0, 0 };   /* an abort we expect: no core file */
        setrlimit(RLIMIT_CORE, &no_core);
        size_t len;
        uint8_t *b = cc_event_pack(msg, &len);
        free(b);
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

/* Death test: packing an event that fails its schema (or no event at all)
 * aborts the process; it is a bug, not input. */
static void test_pack_bad_event_aborts(void **state)
{
    (void) state;
    Cc__OrderFailed good = CC__ORDER_FAILED__INIT;
    good.order_id = S_UUID_GOOD;
    int st = s_pack_in_child(&good.base);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    Cc__OrderFailed bad = CC__ORDER_FAILED__INIT;
    bad.order_id = "not-a-uuid";
    st = s_pack_in_child(&bad.base);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);

    Cc__PlaceOrder po = CC__PLACE_ORDER__INIT;
    st = s_pack_in_child(&po.base);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
}

int main(void)
{
    cc_log_init("test", "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schemas_cover_every_field),
        cmocka_unit_test(test_each_rule_refuses_bad_values),
        cmocka_unit_test(test_shared_limits),
        cmocka_unit_test(test_pack_good_event),
        cmocka_unit_test(test_pack_bad_event_aborts),
    };
    return cmocka_run_group_tests_name("cc_event", tests, NULL, NULL);
}
