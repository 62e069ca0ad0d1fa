/* cc_event: the schema of every domain event. See cc_event.h. */
#include "cc_event.h"
#include "cc_evlog.h"
#include "cc_log.h"

#include <assert.h>
#include <math.h>
#include <string.h>

/* Shorthands for the tables below. */
#define S_UUID(n) { n, CC_EVENT_UUID, 0, 0, NULL }
#define S_UUID_OPT(n) { n, CC_EVENT_UUID_OPT, 0, 0, NULL }
#define S_TEXT(n, max) { n, CC_EVENT_TEXT, 0, max, NULL }
#define S_WORD(n, w) { n, CC_EVENT_WORD, 0, 0, w }
#define S_INT(n, lo, hi) { n, CC_EVENT_INT, lo, hi, NULL }
#define S_ENUM(n) { n, CC_EVENT_ENUM, 0, 0, NULL }
#define S_TIME(n) { n, CC_EVENT_TIME, CC_TIME_MIN_US, CC_TIME_MAX_US, NULL }
#define S_REAL(n, lo, hi) { n, CC_EVENT_REAL, lo, hi, NULL }
#define S_BOOL(n) { n, CC_EVENT_BOOL, 0, 0, NULL }
/* A sealed address: none, or at least cc_seal's header, nonce and tag. */
#define S_SEALED_ADDRESS \
    { "address_sealed", CC_EVENT_BYTES, CC_SEAL_OVERHEAD, CC_EVENT_SEALED_ADDRESS_MAX, NULL }
/* An amount of one order (price, subsidy, hold, charge): never negative, at
 * most a price. A balance may be negative (arrears) and as large as a card holds. */
#define S_FEN(n) S_INT(n, 0, CC_FEN_PRICE_MAX)
#define S_BALANCE(n) S_INT(n, -CC_FEN_BALANCE_MAX, CC_FEN_BALANCE_MAX)
#define S_DISTRICT S_INT("district_id", CC_DISTRICT_MIN, CC_DISTRICT_MAX)
#define S_PROVIDER S_TEXT("provider_id", CC_PROVIDER_ID_MAX)
#define S_LAT S_REAL("lat", -CC_LAT_MAX, CC_LAT_MAX)
#define S_LON S_REAL("lon", -CC_LON_MAX, CC_LON_MAX)
/* -1: not known (cc_geo_travel_s on a coordinate that is not finite). */
#define S_METRES S_INT("distance_m", -1, INT32_MAX)

static const char *const s_card_status[] = { "active", "blocked", "closed", NULL };

/* ---- orderd's log ---- */
static const cc_event_field_t s_card_issued[] = {
    S_UUID("card_id"), S_UUID_OPT("elder_id"), S_DISTRICT,
    S_TEXT("household", CC_EVENT_WORD_MAX), S_INT("age_years", 0, INT32_MAX),
};
static const cc_event_field_t s_card_status_changed[] = {
    S_UUID("card_id"), S_WORD("status", s_card_status),
};
static const cc_event_field_t s_account_changed[] = {
    S_UUID("account_id"), S_INT("gen", 1, INT64_MAX), S_BOOL("disabled"),
};
static const cc_event_field_t s_order_placed[] = {
    S_UUID("order_id"), S_UUID_OPT("card_id"), S_UUID_OPT("elder_id"), S_ENUM("service"),
    S_TIME("window_start_us"), S_TIME("window_end_us"), S_DISTRICT, S_BOOL("emergency"),
    S_TEXT("household", CC_EVENT_WORD_MAX), S_INT("age_years", 0, INT32_MAX),
    S_BOOL("mandated"),
};
static const cc_event_field_t s_order_released[] = {
    S_UUID("order_id"), S_UUID_OPT("elder_id"), S_ENUM("service"), S_TIME("window_start_us"),
    S_TIME("window_end_us"), S_DISTRICT, S_LAT, S_LON,
    S_TEXT("ability_level", CC_EVENT_WORD_MAX), S_BOOL("emergency"),
    S_INT("priority", INT32_MIN, INT32_MAX), S_TEXT("diet", CC_EVENT_TEXT_MAX),
    S_TEXT("notes", CC_EVENT_NOTES_MAX), S_UUID_OPT("preferred_caregiver_id"),
};
static const cc_event_field_t s_visit_released[] = {
    S_UUID("order_id"), S_UUID_OPT("elder_id"), S_ENUM("service"), S_TIME("window_start_us"),
    S_TIME("window_end_us"), S_DISTRICT, S_LAT, S_LON,
    S_TEXT("ability_level", CC_EVENT_WORD_MAX), S_BOOL("emergency"),
    S_INT("priority", INT32_MIN, INT32_MAX), S_TEXT("notes", CC_EVENT_NOTES_MAX),
    S_UUID_OPT("preferred_caregiver_id"), S_SEALED_ADDRESS,
};
static const cc_event_field_t s_meal_released[] = {
    S_UUID("order_id"), S_TIME("window_start_us"), S_TIME("window_end_us"), S_DISTRICT, S_LAT,
    S_LON, S_TEXT("diet", CC_EVENT_TEXT_MAX), S_SEALED_ADDRESS, S_ENUM("mode"),
    S_UUID_OPT("meal_point_id"),
};
static const cc_event_field_t s_order_cancelled[] = {
    S_UUID("order_id"), S_TEXT("reason", CC_EVENT_TEXT_MAX), S_UUID_OPT("card_id"),
};
static const cc_event_field_t s_order_completed[] = {
    S_UUID("order_id"), S_UUID_OPT("card_id"), S_ENUM("service"), S_PROVIDER,
    S_TIME("completed_us"),
};
static const cc_event_field_t s_order_failed[] = {
    S_UUID("order_id"), S_TEXT("reason", CC_EVENT_TEXT_MAX), S_UUID_OPT("card_id"),
};

/* ---- billingd's log ---- */
static const cc_event_field_t s_funds_held[] = {
    S_UUID("order_id"), S_UUID_OPT("card_id"), S_FEN("price_fen"), S_FEN("subsidy_fen"),
    S_FEN("held_fen"), S_FEN("arrears_fen"),
};
static const cc_event_field_t s_funds_denied[] = {
    S_UUID("order_id"), S_UUID_OPT("card_id"), S_FEN("price_fen"),
    S_BALANCE("available_fen"), S_TEXT("reason", CC_EVENT_TEXT_MAX),
};
static const cc_event_field_t s_hold_captured[] = {
    S_UUID("order_id"), S_UUID_OPT("card_id"), S_FEN("charged_fen"), S_FEN("subsidy_fen"),
    S_PROVIDER,
};
static const cc_event_field_t s_hold_released[] = {
    S_UUID("order_id"), S_UUID_OPT("card_id"), S_FEN("released_fen"),
    S_FEN("arrears_paid_fen"),
};

/* ---- dispatchd's log ---- */
static const cc_event_field_t s_visit_assigned[] = {
    S_UUID_OPT("visit_id"), S_UUID("order_id"), S_UUID_OPT("caregiver_id"), S_PROVIDER,
    S_TIME("eta_us"), S_INT("travel_s", -1, INT32_MAX),
};
static const cc_event_field_t s_visit_accepted[] = {
    S_UUID_OPT("visit_id"), S_UUID("order_id"), S_UUID_OPT("caregiver_id"),
};
static const cc_event_field_t s_visit_declined[] = {
    S_UUID_OPT("visit_id"), S_UUID("order_id"), S_UUID_OPT("caregiver_id"),
    S_TEXT("reason", CC_EVENT_TEXT_MAX),
};
static const cc_event_field_t s_visit_checked_in[] = {
    S_UUID_OPT("visit_id"), S_UUID("order_id"), S_UUID_OPT("caregiver_id"), S_TIME("at_us"),
    S_LAT, S_LON, S_METRES,
};
static const cc_event_field_t s_visit_completed[] = {
    S_UUID_OPT("visit_id"), S_UUID("order_id"), S_UUID_OPT("caregiver_id"), S_PROVIDER,
    S_TIME("checked_in_us"), S_TIME("checked_out_us"), S_LAT, S_LON, S_METRES,
};
/* The national standard's levels (GB/T 42195), as elders.ability_level. */
static const char *const s_ability_levels[] = {
    "intact", "mild", "moderate", "severe", "total", NULL
};
static const cc_event_field_t s_visit_assessed[] = {
    S_UUID_OPT("visit_id"), S_UUID("order_id"), S_UUID("caregiver_id"), S_UUID("elder_id"),
    S_WORD("level", s_ability_levels), S_INT("score", 0, 100), S_TIME("assessed_us"),
};
static const cc_event_field_t s_capacity_reported[] = {
    S_DISTRICT, S_TEXT("date", 10), S_INT("shift_min", 0, 1000000),
    S_INT("planned_min", 0, 1000000), S_INT("duty_min", 0, 1000000),
    S_INT("caregivers", 0, 100000), S_TIME("reported_us"),
};
static const cc_event_field_t s_visit_failed[] = {
    S_UUID_OPT("visit_id"), S_UUID("order_id"), S_TEXT("reason", CC_EVENT_TEXT_MAX),
};

/* ---- meald's log ---- */
static const cc_event_field_t s_meal_scheduled[] = {
    S_UUID("order_id"), S_UUID_OPT("meal_point_id"), S_TEXT("slot", CC_EVENT_WORD_MAX),
    S_TEXT("date", 10), S_PROVIDER,
};
static const cc_event_field_t s_meal_refused[] = {
    S_UUID("order_id"), S_TEXT("reason", CC_EVENT_TEXT_MAX),
};
static const cc_event_field_t s_meal_delivered[] = {
    S_UUID("order_id"), S_UUID_OPT("meal_point_id"), S_PROVIDER, S_TIME("delivered_us"),
};

#define S_SCHEMA(d, f) { &d, f, sizeof f / sizeof f[0] }
static const cc_event_schema_t s_schemas[] = {
    S_SCHEMA(cc__card_issued__descriptor, s_card_issued),
    S_SCHEMA(cc__card_status_changed__descriptor, s_card_status_changed),
    S_SCHEMA(cc__account_changed__descriptor, s_account_changed),
    S_SCHEMA(cc__order_placed__descriptor, s_order_placed),
    S_SCHEMA(cc__order_released__descriptor, s_order_released),
    S_SCHEMA(cc__visit_released__descriptor, s_visit_released),
    S_SCHEMA(cc__meal_released__descriptor, s_meal_released),
    S_SCHEMA(cc__order_cancelled__descriptor, s_order_cancelled),
    S_SCHEMA(cc__order_completed__descriptor, s_order_completed),
    S_SCHEMA(cc__order_failed__descriptor, s_order_failed),
    S_SCHEMA(cc__funds_held__descriptor, s_funds_held),
    S_SCHEMA(cc__funds_denied__descriptor, s_funds_denied),
    S_SCHEMA(cc__hold_captured__descriptor, s_hold_captured),
    S_SCHEMA(cc__hold_released__descriptor, s_hold_released),
    S_SCHEMA(cc__visit_assigned__descriptor, s_visit_assigned),
    S_SCHEMA(cc__visit_accepted__descriptor, s_visit_accepted),
    S_SCHEMA(cc__visit_declined__descriptor, s_visit_declined),
    S_SCHEMA(cc__visit_checked_in__descriptor, s_visit_checked_in),
    S_SCHEMA(cc__visit_completed__descriptor, s_visit_completed),
    S_SCHEMA(cc__visit_assessed__descriptor, s_visit_assessed),
    S_SCHEMA(cc__capacity_reported__descriptor, s_capacity_reported),
    S_SCHEMA(cc__visit_failed__descriptor, s_visit_failed),
    S_SCHEMA(cc__meal_scheduled__descriptor, s_meal_scheduled),
    S_SCHEMA(cc__meal_refused__descriptor, s_meal_refused),
    S_SCHEMA(cc__meal_delivered__descriptor, s_meal_delivered),
};

const cc_event_schema_t *cc_event_schemas(size_t *n)
{
    *n = sizeof s_schemas / sizeof s_schemas[0];
    return s_schemas;
}

#define S_NSCHEMAS (sizeof s_schemas / sizeof s_schemas[0])
#define S_MAX_FIELDS 32
/* Filled on first use; the loop is single-threaded (one per daemon). */
static const ProtobufCFieldDescriptor *s_fdesc[S_NSCHEMAS][S_MAX_FIELDS];
static int s_fdesc_ready[S_NSCHEMAS];

const cc_event_schema_t *cc_event_schema(const ProtobufCMessageDescriptor *desc)
{
    for (size_t i = 0; i < sizeof s_schemas / sizeof s_schemas[0]; i++)
        if (s_schemas[i].desc == desc)
            return &s_schemas[i];
    return NULL;
}

/* Canonical UUID text as PostgreSQL's uuid::text and cc_uuid() write it. */
static int s_uuid_lower(const char *s)
{
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;   /* also stops at a NUL before 36 */
        }
    }
    return s[36] == '\0';
}

/* 1 if s is valid UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF): protobuf-c does not check string fields, and PostgreSQL
 * refuses any other text, which would stop a consumer at the event. */
int cc_utf8_ok(const unsigned char *p)
{
    static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    while (*p) {
        size_t n;
        uint32_t cp;
        if (p[0] < 0x80) {
            p++;
            continue;
        } else if ((p[0] & 0xE0) == 0xC0) {
            n = 2;
            cp = p[0] & 0x1F;
        } else if ((p[0] & 0xF0) == 0xE0) {
            n = 3;
            cp = p[0] & 0x0F;
        } else if ((p[0] & 0xF8) == 0xF0) {
            n = 4;
            cp = p[0] & 0x07;
        } else {
            return 0;
        }
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i] & 0x3F);
        }
        if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += n;
    }
    return 1;
}

/* The integer in field f of msg, widened; 0 and *ok = 0 if f is no integer. */
static int64_t s_int(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, int *ok)
{
    const char *p = (const char *) msg + f->offset;
    *ok = 1;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return *(const int32_t *) p;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return *(const uint32_t *) p;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return *(const int64_t *) p;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t u = *(const uint64_t *) p;
        return u > INT64_MAX ? INT64_MAX : (int64_t) u;
    }
    case PROTOBUF_C_TYPE_ENUM:
        return *(const int *) p;
    default:
        *ok = 0;
        return 0;
    }
}

/* 1 if field f of msg obeys rule r. A rule that does not fit the field's
 * type is a bug in the tables above (cc_event_test checks them all). */
static int s_field_ok(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                      const cc_event_field_t *r)
{
    const char *p = (const char *) msg + f->offset;
    int ok;
    switch (r->rule) {
    case CC_EVENT_UUID:
    case CC_EVENT_UUID_OPT:
    case CC_EVENT_TEXT:
    case CC_EVENT_WORD: {
        assert(f->type == PROTOBUF_C_TYPE_STRING);
        const char *s = *(const char *const *) p;
        if (!s)
            s = "";   /* protobuf-c packs NULL as "" */
        if (r->rule == CC_EVENT_UUID_OPT && s[0] == '\0')
            return 1;
        if (r->rule == CC_EVENT_UUID || r->rule == CC_EVENT_UUID_OPT)
            return s_uuid_lower(s);
        if (r->rule == CC_EVENT_WORD) {
            for (const char *const *w = r->words; *w; w++)
                if (strcmp(s, *w) == 0)
                    return 1;
            return 0;
        }
        size_t n = strnlen(s, (size_t) r->max + 1);
        return (int64_t) n >= r->min && (int64_t) n <= r->max
               && cc_utf8_ok((const unsigned char *) s);
    }
    case CC_EVENT_INT: {
        int64_t v = s_int(msg, f, &ok);
        assert(ok && f->type != PROTOBUF_C_TYPE_ENUM);
        return v >= r->min && v <= r->max;
    }
    case CC_EVENT_ENUM: {
        assert(f->type == PROTOBUF_C_TYPE_ENUM);
        int v = *(const int *) p;
        return protobuf_c_enum_descriptor_get_value(f->descriptor, v) != NULL;
    }
    case CC_EVENT_TIME: {
        int64_t v = s_int(msg, f, &ok);
        assert(ok && f->type != PROTOBUF_C_TYPE_ENUM);
        return v == 0 || (v >= r->min && v <= r->max);
    }
    case CC_EVENT_REAL: {
        double v;
        if (f->type == PROTOBUF_C_TYPE_DOUBLE)
            v = *(const double *) p;
        else if (f->type == PROTOBUF_C_TYPE_FLOAT)
            v = *(const float *) p;
        else
            assert(!"REAL rule on a field that is no double");
        return isfinite(v) && v >= (double) r->min && v <= (double) r->max;
    }
    case CC_EVENT_BOOL:
        assert(f->type == PROTOBUF_C_TYPE_BOOL);
        return 1;
    case CC_EVENT_BYTES: {
        assert(f->type == PROTOBUF_C_TYPE_BYTES);
        size_t n = ((const ProtobufCBinaryData *) p)->len;
        return n == 0 || ((int64_t) n >= r->min && (int64_t) n <= r->max);
    }
    }
    return 0;
}

int cc_event_check(const ProtobufCMessage *msg, const char **field)
{
    const char *dummy;
    if (!field)
        field = &dummy;
    assert(msg);
    const cc_event_schema_t *sc = cc_event_schema(msg->descriptor);
    if (!sc) {
        *field = "";
        return -1;
    }
    /* Field descriptors by rule, looked up by name once per schema: every
     * event is checked on both sides, so this is on the hot path. */
    size_t si = (size_t) (sc - s_schemas);
    if (!s_fdesc_ready[si]) {
        assert(sc->nfields <= S_MAX_FIELDS);
        for (size_t i = 0; i < sc->nfields; i++)
            s_fdesc[si][i] =
                protobuf_c_message_descriptor_get_field_by_name(sc->desc, sc->fields[i].name);
        s_fdesc_ready[si] = 1;
    }
    for (size_t i = 0; i < sc->nfields; i++) {
        const cc_event_field_t *r = &sc->fields[i];
        const ProtobufCFieldDescriptor *f = s_fdesc[si][i];
        assert(f && f->label != PROTOBUF_C_LABEL_REPEATED);   /* a bad table */
        if (!s_field_ok(msg, f, r)) {
            *field = r->name;
            return -1;
        }
    }
    *field = NULL;
    return 0;
}

uint8_t *cc_event_pack(const ProtobufCMessage *msg, size_t *len)
{
    const char *field = NULL;
    int rc = cc_event_check(msg, &field);
    if (rc != 0)   /* the field names our bug; its value may be personal data */
        cc_error("event_schema_violated", "type", msg->descriptor->short_name, "field", field);
    assert(rc == 0 && "an event that fails its own schema is never appended");
    return cc_pb_pack(msg, len);
}
