/* od_store: see od_store.h. */
#include "od_store.h"
#include "od_auth.h"
#include "od_pii.h"
#include "od_reseal.h"
#include "od_elders.h"
#include "od_elders_stmts.h"
#include "cc_log.h"
#include "cc_rt.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <inttypes.h>
#include <sodium.h>

#define W CC_STMT_WRITER
#define R CC_STMT_READER
/* The effect functions' common head: the event being consumed. */
#define S_CONSUMED { "producer", CC_T_TEXT }, { "seq", CC_T_INT8 }, { "event_id", CC_T_UUID }, \
                   { "order", CC_T_UUID }

#define S_ELDER_COLS                                                                        \
    "e.id, e.name_enc, e.phone_enc, e.address_enc, e.district_id, e.birth_date::text, " \
    "e.ability_level, " \
    "e.household, e.living, e.disability_grade, e.diet, e.lat, e.lon, od_us(e.created_at), " \
    "(SELECT coalesce(json_agg(json_build_object('card_id', c.id, 'status', c.status) "      \
    "ORDER BY c.issued_at), '[]') FROM cards c WHERE c.elder_id = e.id)::text" OD_ELDERS_COLS
#define S_ORDER_COLS OD_STORE_ORDER_COLS

#define S_ALARM_COLS                                                                      \
    "a.id, a.device_id, a.elder_id, a.district_id, a.kind, od_us(a.at), a.source, "          \
    "a.order_id, a.state, od_us(a.raised_at), od_us(a.escalated_at), od_us(a.acked_at), "    \
    "a.acked_by"

cc_stmt_t od_stmts[OD_ST_COUNT + 1] = {
    /* Personal data arrives sealed (od_pii.h) with its blind indexes. */
    [OD_ST_ELDER_CREATE] = { "od_elder_create", W, "od_elder_create", "outcome, elder_id", NULL,
        { { "id", CC_T_UUID }, { "district", CC_T_INT4 }, { "key", CC_T_INT4 },
          { "name", CC_T_BYTEA }, { "name_idx", CC_T_BYTEA }, { "id_number", CC_T_BYTEA },
          { "id_number_idx", CC_T_BYTEA }, { "phone", CC_T_BYTEA }, { "phone_idx", CC_T_BYTEA },
          { "address", CC_T_BYTEA }, { "address_idx", CC_T_BYTEA }, { "lat", CC_T_FLOAT8 }, { "lon", CC_T_FLOAT8 }, { "birth", CC_T_DATE },
          { "ability", CC_T_TEXT }, { "household", CC_T_TEXT }, { "living", CC_T_TEXT },
          { "disability", CC_T_INT2 }, { "diet", CC_T_TEXT } }, NULL },
    [OD_ST_CARD_ISSUE] = { "od_card_issue", W, "od_card_issue", "outcome, card_id", NULL,
        { { "card", CC_T_UUID }, { "elder", CC_T_UUID }, { "event_id", CC_T_UUID },
          { "payload", CC_T_BYTEA } }, NULL },
    [OD_ST_CARD_SET_STATUS] = { "od_card_set_status", W, "od_card_set_status",
        "outcome, status", NULL,
        { { "card", CC_T_UUID }, { "status", CC_T_TEXT }, { "event_id", CC_T_UUID },
          { "payload", CC_T_BYTEA } }, NULL },
    [OD_ST_ORDER_PLACE] = { "od_order_place", W, "od_order_place", "outcome, order_id, state",
        NULL,
        { { "order", CC_T_UUID }, { "key", CC_T_TEXT }, { "card", CC_T_UUID },
          { "service", CC_T_TEXT }, { "ws", CC_T_INT8 }, { "we", CC_T_INT8 },
          { "notes", CC_T_TEXT }, { "emergency", CC_T_BOOL }, { "source", CC_T_TEXT },
          { "placed_id", CC_T_UUID }, { "placed", CC_T_BYTEA }, { "released_id", CC_T_UUID },
          { "released", CC_T_BYTEA }, { "meal_mode", CC_T_TEXT } }, NULL },
    [OD_ST_ORDER_CANCEL] = { "od_order_cancel", W, "od_order_cancel", "outcome, state", NULL,
        { { "order", CC_T_UUID }, { "reason", CC_T_TEXT }, { "event_id", CC_T_UUID },
          { "payload", CC_T_BYTEA } }, NULL },
    [OD_ST_ON_FUNDS_HELD] = { "od_on_funds_held", W, "od_on_funds_held", NULL, NULL,
        { S_CONSUMED, { "price", CC_T_INT8 }, { "held", CC_T_INT8 }, { "to", CC_T_TEXT },
          { "detail", CC_T_TEXT }, { "out_id", CC_T_UUID }, { "out", CC_T_BYTEA } }, NULL },
    [OD_ST_ON_FUNDS_DENIED] = { "od_on_funds_denied", W, "od_on_funds_denied", NULL, NULL,
        { S_CONSUMED, { "price", CC_T_INT8 }, { "reason", CC_T_TEXT }, { "to", CC_T_TEXT },
          { "detail", CC_T_TEXT } }, NULL },
    [OD_ST_ON_HOLD] = { "od_on_hold", W, "od_on_hold", NULL, NULL,
        { S_CONSUMED, { "event", CC_T_TEXT }, { "charged", CC_T_INT8 }, { "to", CC_T_TEXT },
          { "detail", CC_T_TEXT } }, NULL },
    [OD_ST_ON_VISIT] = { "od_on_visit", W, "od_on_visit", NULL, NULL,
        { S_CONSUMED, { "event", CC_T_TEXT }, { "to", CC_T_TEXT }, { "detail", CC_T_TEXT },
          { "caregiver", CC_T_TEXT }, { "visit", CC_T_TEXT }, { "provider", CC_T_TEXT },
          { "reason", CC_T_TEXT }, { "out_type", CC_T_TEXT }, { "out_id", CC_T_UUID },
          { "out", CC_T_BYTEA } }, NULL },
    [OD_ST_ON_MEAL] = { "od_on_meal", W, "od_on_meal", NULL, NULL,
        { S_CONSUMED, { "event", CC_T_TEXT }, { "to", CC_T_TEXT }, { "detail", CC_T_TEXT },
          { "meal_point", CC_T_TEXT }, { "provider", CC_T_TEXT }, { "reason", CC_T_TEXT },
          { "out_type", CC_T_TEXT }, { "out_id", CC_T_UUID }, { "out", CC_T_BYTEA } }, NULL },
    [OD_ST_LOAD_STATES] = { "od_load_states", R, NULL, NULL,
        "SELECT name, final, cancellable FROM order_states", { { NULL, CC_T_NONE } }, NULL },
    [OD_ST_LOAD_ELDERS] = { "od_load_elders", R, NULL, NULL,
        "SELECT id, district_id, lat, lon, birth_date::text, ability_level, household, living, "
        "diet, address_enc, status = 'deceased' FROM elders", { { NULL, CC_T_NONE } }, NULL },
    [OD_ST_LOAD_CARDS] = { "od_load_cards", R, NULL, NULL,
        "SELECT id, elder_id, status FROM cards", { { NULL, CC_T_NONE } }, NULL },
    [OD_ST_LOAD_ORDERS] = { "od_load_orders", R, NULL, NULL,
        "SELECT o.id, coalesce(o.card_id::text, ''), o.service, o.state, "
        "od_us(o.window_start), od_us(o.window_end), o.emergency, o.notes, "
        "coalesce(o.caregiver_id, ''), coalesce(o.meal_mode, 'delivery'), o.elder_id, "
        /* A care plan's meal point and diet (od_plans). */
        "coalesce(p.meal_point_id::text, ''), p.diet "
        "FROM orders o LEFT JOIN plans p ON p.id = o.plan_id AND o.service = 'meal' "
        "WHERE NOT od_state_final(o.state)",
        { { NULL, CC_T_NONE } }, NULL },
    [OD_ST_LOAD_CONTINUITY] = { "od_load_continuity", R, NULL, NULL,
        "SELECT DISTINCT ON (elder_id, service) elder_id, service, caregiver_id FROM orders "
        "WHERE caregiver_id IS NOT NULL AND state IN ('completed', 'billed') "
        "ORDER BY elder_id, service, updated_at DESC", { { NULL, CC_T_NONE } }, NULL },
    [OD_ST_LOAD_COUNTS] = { "od_load_counts", R, NULL, NULL,
        "SELECT state, count(*) FROM orders GROUP BY state", { { NULL, CC_T_NONE } }, NULL },
    [OD_ST_ELDERS_BY_PHONE] = { "od_elders_by_phone", R, NULL, NULL,
        "SELECT " S_ELDER_COLS " FROM elders e WHERE e.phone_idx = $1 ORDER BY e.created_at "
        "LIMIT 50", { { "phone_idx", CC_T_BYTEA } }, NULL },
    [OD_ST_ELDER_GET] = { "od_elder_get", R, NULL, NULL,
        "SELECT " S_ELDER_COLS " FROM elders e WHERE e.id = $1::uuid",
        { { "id", CC_T_UUID } }, NULL },
    [OD_ST_CARD_GET] = { "od_card_get", R, NULL, NULL,
        "SELECT c.id, c.elder_id, c.district_id, c.status, od_us(c.issued_at) FROM cards c "
        "WHERE c.id = $1::uuid", { { "id", CC_T_UUID } }, NULL },
    [OD_ST_ORDER_GET] = { "od_order_get", R, NULL, NULL,
        "SELECT " S_ORDER_COLS ", (SELECT coalesce(json_agg(json_build_array(h.state, "
        "h.event, od_us(h.at), h.detail) ORDER BY h.id), '[]') FROM order_history h "
        "WHERE h.order_id = o.id)::text FROM orders o WHERE o.id = $1::uuid",
        { { "id", CC_T_UUID } }, NULL },
    [OD_ST_ORDER_LIST_CARD] = { "od_order_list_card", R, NULL, NULL,
        "SELECT " S_ORDER_COLS " FROM orders o WHERE o.card_id = $1::uuid "
        "AND ($2::text IS NULL OR o.state = $2) ORDER BY o.created_at DESC LIMIT $3::integer",
        { { "card", CC_T_UUID }, { "state", CC_T_TEXT }, { "limit", CC_T_INT4 } }, NULL },
    [OD_ST_ORDER_LIST_STATE] = { "od_order_list_state", R, NULL, NULL,
        "SELECT " S_ORDER_COLS " FROM orders o WHERE o.state = $1::text "
        "ORDER BY o.created_at DESC LIMIT $2::integer",
        { { "state", CC_T_TEXT }, { "limit", CC_T_INT4 } }, NULL },
    [OD_ST_ORDER_LIST_ALL] = { "od_order_list_all", R, NULL, NULL,
        "SELECT " S_ORDER_COLS " FROM orders o ORDER BY o.created_at DESC LIMIT $1::integer",
        { { "limit", CC_T_INT4 } }, NULL },
    [OD_ST_ACCOUNT_CREATE] = { "od_account_create", W, "od_account_create", "outcome", NULL,
        { { "id", CC_T_UUID }, { "username", CC_T_TEXT }, { "hash", CC_T_TEXT },
          { "role", CC_T_TEXT }, { "scope", CC_T_JSONB }, { "provider", CC_T_UUID },
          { "by", CC_T_UUID } }, NULL },
    [OD_ST_ACCOUNT_CHANGE] = { "od_account_change", W, "od_account_change", "outcome", NULL,
        { { "id", CC_T_UUID }, { "gen", CC_T_INT8 }, { "disabled", CC_T_BOOL },
          { "event_id", CC_T_UUID }, { "payload", CC_T_BYTEA } }, NULL },
    [OD_ST_LOGIN_FAILED] = { "od_login_failed", W, "od_login_failed", "failures", NULL,
        { { "username", CC_T_TEXT }, { "window_s", CC_T_INT4 } }, NULL },
    [OD_ST_LOGIN_OK] = { "od_login_ok", W, "od_login_ok", "outcome", NULL,
        { { "username", CC_T_TEXT }, { "account", CC_T_UUID }, { "hash", CC_T_TEXT },
          { "family", CC_T_UUID }, { "gen", CC_T_INT8 }, { "expires_us", CC_T_INT8 } }, NULL },
    [OD_ST_REFRESH_ROTATE] = { "od_refresh_rotate", W, "od_refresh_rotate",
        "outcome, account_id, role, scope, gen", NULL,
        { { "hash", CC_T_TEXT }, { "new_hash", CC_T_TEXT }, { "expires_us", CC_T_INT8 } }, NULL },
    [OD_ST_LOGOUT] = { "od_logout", W, "od_logout", "outcome", NULL,
        { { "hash", CC_T_TEXT }, { "account", CC_T_UUID } }, NULL },
    /* The account (if any) and the name's failures in the current window:
     * one row either way, so an unknown name costs what a known one does. */
    [OD_ST_LOGIN_LOOKUP] = { "od_login_lookup", R, NULL, NULL,
        "SELECT a.id, a.password_hash, a.role, a.scope::text, a.gen, a.disabled, "
        "coalesce(f.failures, 0), coalesce(ceil(extract(epoch FROM f.first_at "
        "+ make_interval(secs => $2::integer) - now())), 0)::bigint "
        "FROM (SELECT 1) one LEFT JOIN accounts a ON a.username = $1::text "
        "LEFT JOIN login_failures f ON f.who = od_who($1::text) "
        "AND f.first_at > now() - make_interval(secs => $2::integer)",
        { { "username", CC_T_TEXT }, { "window_s", CC_T_INT4 } }, NULL },
    [OD_ST_LOAD_ACCOUNTS] = { "od_load_accounts", R, NULL, NULL,
        "SELECT id::text, role, coalesce(provider_id::text, ''), gen, disabled FROM accounts",
        { { NULL, CC_T_NONE } }, NULL },
    [OD_ST_ACCOUNT_LIST] = { "od_account_list", R, NULL, NULL,
        "SELECT id, username, role, scope::text, gen, disabled, od_us(created_at) "
        "FROM accounts ORDER BY created_at, id LIMIT 1000", { { NULL, CC_T_NONE } }, NULL },
    [OD_ST_ACCOUNT_PASSWORD] = { "od_account_password", W, "od_account_password", "outcome",
        NULL, { { "id", CC_T_UUID }, { "hash", CC_T_TEXT }, { "gen", CC_T_INT8 },
                { "event_id", CC_T_UUID }, { "payload", CC_T_BYTEA } }, NULL },
    /* The caller's own account for a password change: its username (the
     * lockout counts per name, as login does), hash and the failures in the
     * current window. */
    [OD_ST_PASSWORD_LOOKUP] = { "od_password_lookup", R, NULL, NULL,
        "SELECT a.username, a.password_hash, a.disabled, coalesce(f.failures, 0), "
        "coalesce(ceil(extract(epoch FROM f.first_at + make_interval(secs => $2::integer) "
        "- now())), 0)::bigint FROM accounts a LEFT JOIN login_failures f "
        "ON f.who = od_who(a.username) AND f.first_at > now() - make_interval(secs => $2::integer) "
        "WHERE a.id = $1::uuid",
        { { "id", CC_T_UUID }, { "window_s", CC_T_INT4 } }, NULL },
    /* Personal data: key ids in use; rows in clear; rows under the old key;
     * sealing one row (od_reseal.h). */
    [OD_ST_PII_KEYS] = { "od_pii_keys", R, NULL, NULL,
        "SELECT pii_key, count(*) FROM elders WHERE pii_key IS NOT NULL GROUP BY pii_key",
        { { NULL, CC_T_NONE } }, NULL },
    [OD_ST_RESEAL_PLAIN] = { "od_reseal_plain", R, NULL, NULL,
        "SELECT id, name, id_number, phone, address FROM elders WHERE pii_key IS NULL "
        "LIMIT $1::integer", { { "limit", CC_T_INT4 } }, NULL },
    [OD_ST_RESEAL_OLD] = { "od_reseal_old", R, NULL, NULL,
        "SELECT id, name_enc, id_number_enc, phone_enc, address_enc FROM elders "
        "WHERE pii_key = $1::integer LIMIT $2::integer",
        { { "key", CC_T_INT4 }, { "limit", CC_T_INT4 } }, NULL },
    [OD_ST_ELDER_RESEAL] = { "od_elder_reseal", W, "od_elder_reseal", "outcome", NULL,
        { { "id", CC_T_UUID }, { "from", CC_T_INT4 }, { "key", CC_T_INT4 },
          { "name", CC_T_BYTEA }, { "id_number", CC_T_BYTEA }, { "id_number_idx", CC_T_BYTEA },
          { "phone", CC_T_BYTEA }, { "phone_idx", CC_T_BYTEA }, { "address", CC_T_BYTEA } },
        NULL },
    /* Assessments (od_assess.h, sql/orderd/018_assessments.sql). */
    [OD_ST_ON_ASSESSED] = { "od_on_visit_assessed", W, "od_on_visit_assessed", NULL, NULL,
        { S_CONSUMED, { "visit", CC_T_TEXT }, { "assessor", CC_T_UUID },
          { "elder", CC_T_UUID }, { "level", CC_T_TEXT }, { "score", CC_T_INT2 },
          { "at", CC_T_INT8 } }, NULL },
    [OD_ST_ASSESSMENTS_GET] = { "od_assessments_get", R, NULL, NULL,
        "SELECT e.id, e.birth_date::text, a.order_id, a.visit_id, a.assessor_id, a.level,"
        " a.score, od_us(a.assessed_at), (a.assessed_at AT TIME ZONE 'Asia/Shanghai')::date::text"
        " FROM elders e LEFT JOIN assessments a ON a.elder_id = e.id WHERE e.id = $1::uuid"
        " ORDER BY a.assessed_at DESC NULLS LAST, a.id", { { "id", CC_T_UUID } }, NULL },
    OD_ELDERS_STMTS
    /* Alarms (od_alarm.c) and their outbox (od_notify.c); docs/ALARMS.md. */
    [OD_ST_ALARM_RAISE] = { "od_alarm_raise", W, "od_alarm_raise",
        "outcome, alarm_id, order_id, state, contacts", NULL,
        { { "alarm", CC_T_UUID }, { "device", CC_T_TEXT }, { "elder", CC_T_UUID },
          { "kind", CC_T_TEXT }, { "at", CC_T_INT8 }, { "source", CC_T_TEXT },
          { "order", CC_T_UUID }, { "key", CC_T_TEXT }, { "card", CC_T_UUID },
          { "ws", CC_T_INT8 }, { "we", CC_T_INT8 }, { "notes", CC_T_TEXT },
          { "placed_id", CC_T_UUID }, { "placed", CC_T_BYTEA }, { "released_id", CC_T_UUID },
          { "released", CC_T_BYTEA } }, NULL },
    [OD_ST_ALARM_ACK] = { "od_alarm_ack", W, "od_alarm_ack", "outcome, state", NULL,
        { { "alarm", CC_T_UUID }, { "by", CC_T_TEXT } }, NULL },
    [OD_ST_ALARM_ESCALATE] = { "od_alarm_escalate", W, "od_alarm_escalate",
        "alarm_id, district_id", NULL, { { "after_s", CC_T_INT4 } }, NULL },
    [OD_ST_ALARM_LIST] = { "od_alarm_list", R, NULL, NULL,
        "SELECT " S_ALARM_COLS " FROM alarms a ORDER BY a.raised_at DESC LIMIT $1",
        { { "limit", CC_T_INT8 } }, NULL },
    [OD_ST_ALARM_LIST_STATE] = { "od_alarm_list_state", R, NULL, NULL,
        "SELECT " S_ALARM_COLS " FROM alarms a WHERE a.state = $1 "
        "ORDER BY a.raised_at DESC LIMIT $2",
        { { "state", CC_T_TEXT }, { "limit", CC_T_INT8 } }, NULL },
    [OD_ST_ALARM_GET] = { "od_alarm_get", R, NULL, NULL,
        "SELECT " S_ALARM_COLS ", (SELECT coalesce(json_agg(json_build_object("
        "'id', n.id, 'contact_id', n.contact_id, 'relation', k.relation, "
        "'priority', n.priority, 'state', n.state, 'attempts', n.attempts, "
        "'message_id', n.message_id, 'last_error', n.last_error) ORDER BY n.priority), '[]') "
        "FROM notify_outbox n JOIN elder_contacts k ON k.id = n.contact_id "
        "WHERE n.alarm_id = a.id)::text FROM alarms a WHERE a.id = $1::uuid",
        { { "id", CC_T_UUID } }, NULL },
    [OD_ST_NOTIFY_CLAIM] = { "od_notify_claim", W, "od_notify_claim",
        "id, alarm_id, contact_id, attempts, kind, elder_id, district_id, relation, "
        "phone_enc, order_id", NULL,
        { { "limit", CC_T_INT4 }, { "lease_s", CC_T_INT4 } }, NULL },
    [OD_ST_NOTIFY_RESULT] = { "od_notify_result", W, "od_notify_result", NULL, NULL,
        { { "id", CC_T_UUID }, { "ok", CC_T_BOOL }, { "message_id", CC_T_TEXT },
          { "error", CC_T_TEXT }, { "retry_ms", CC_T_INT4 } }, NULL },
    [OD_ST_NOTIFY_RECEIPT] = { "od_notify_receipt", W, "od_notify_receipt", "outcome, state",
        NULL, { { "id", CC_T_UUID }, { "status", CC_T_TEXT } }, NULL },
    /* od_order_place for an order without a card (od_app_place). */
    [OD_ST_ORDER_PLACE_NOCARD] = { "od_order_place_nocard", W, "od_order_place_nocard",
        "outcome, order_id, state", NULL,
        { { "order", CC_T_UUID }, { "key", CC_T_TEXT }, { "elder", CC_T_UUID },
          { "service", CC_T_TEXT }, { "ws", CC_T_INT8 }, { "we", CC_T_INT8 },
          { "notes", CC_T_TEXT }, { "emergency", CC_T_BOOL }, { "source", CC_T_TEXT },
          { "placed_id", CC_T_UUID }, { "placed", CC_T_BYTEA }, { "released_id", CC_T_UUID },
          { "released", CC_T_BYTEA }, { "meal_mode", CC_T_TEXT } }, NULL },
    /* A generator's batch in one statement (od_app_place_many, migration 021). */
    [OD_ST_ORDER_PLACE_MANY] = { "od_order_place_many", W, "od_order_place_many",
        "n, outcome, order_id, state", NULL,
        { { "rows", CC_T_JSONB }, { "source", CC_T_TEXT } }, NULL },
    /* Requests' placements gathered on the writer (s_gather, migration 029):
     * one array per column, every row decided as od_order_place_many does. */
    [OD_ST_ORDER_PLACE_COLS] = { "od_order_place_cols", W, "od_order_place_cols",
        "n, outcome, order_id, state", NULL,
        { { "id", CC_T_UUID_ARRAY }, { "key", CC_T_TEXT_ARRAY }, { "card", CC_T_UUID_ARRAY },
          { "elder", CC_T_UUID_ARRAY }, { "service", CC_T_TEXT_ARRAY },
          { "ws", CC_T_INT8_ARRAY }, { "we", CC_T_INT8_ARRAY }, { "notes", CC_T_TEXT_ARRAY },
          { "pid", CC_T_UUID_ARRAY }, { "placed", CC_T_BYTEA_ARRAY },
          { "mode", CC_T_TEXT_ARRAY }, { "source", CC_T_TEXT_ARRAY } }, NULL },
    [OD_ST_COUNT] = { NULL, 0, NULL, NULL, NULL, { { NULL, CC_T_NONE } }, NULL },
    OD_PLANS_STMTS,
};

/* ---- load -------------------------------------------------------------------- */
typedef struct {
    od_app_t *app;
} s_load_t;

static int s_index(const char *const *names, const char *v)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], v) == 0)
            return i;
    return 0;
}

static void s_load_step(s_load_t *l, const char *what, PGresult *res)
{
    (void)l;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* Without the working set orderd cannot decide: restart and retry. */
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        cc_error("load_failed", "what", what, "sqlstate", st ? st : "");
        exit(1);
    }
}

static void s_load_finish(s_load_t *l)
{
    od_app_t *app = l->app;
    if (--app->loads_pending > 0)
        return;
    char ne[24], nc[24], no[24];
    snprintf(ne, sizeof ne, "%zu", cc_map_size(app->elders));
    snprintf(nc, sizeof nc, "%zu", cc_map_size(app->cards));
    snprintf(no, sizeof no, "%zu", cc_map_size(app->orders));
    cc_info("working_set_loaded", "elders", ne, "cards", nc, "open_orders", no);
    cc_rt_loaded(&app->rt);
}

/* The store's order_states must say what od_states.h says: a saga step the
 * SQL functions judge by one list and C by another would leave memory and
 * store apart. A mismatch is a deployment error: stop, naming the state. */
static void s_on_states(PGresult *res, void *arg)
{
    s_load_step(arg, "order_states", res);
    int n = PQntuples(res);
    od_state_row_t *rows = calloc((size_t)n + 1, sizeof *rows);
    if (!rows) {
        cc_error("out_of_memory", "what", "order_states");
        exit(1);
    }
    for (int r = 0; r < n; r++) {
        rows[r].name = PQgetvalue(res, r, 0);
        rows[r].final = PQgetvalue(res, r, 1)[0] == 't';
        rows[r].cancellable = PQgetvalue(res, r, 2)[0] == 't';
    }
    const char *bad = NULL, *why = NULL;
    int rc = od_states_check(rows, (size_t)n, &bad, &why);
    if (rc != 0)
        cc_error("order_states_mismatch", "state", bad, "differs", why, "fix",
                 "sql order_states and services/orderd/od_states.h must agree");
    free(rows);
    if (rc != 0)
        exit(1);
}

static void s_on_elders(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    s_load_step(l, "elders", res);
    for (int r = 0; r < PQntuples(res); r++) {
        od_elder_t *e = od_app_add_elder(l->app, PQgetvalue(res, r, 0));
        if (!e) {
            cc_error("out_of_memory", "what", "elders");
            exit(1);
        }
        e->district_id = atoi(PQgetvalue(res, r, 1));
        e->lat = atof(PQgetvalue(res, r, 2));
        e->lon = atof(PQgetvalue(res, r, 3));
        od_date_parse(PQgetvalue(res, r, 4), &e->birth_y, &e->birth_m, &e->birth_d);
        e->ability = (uint8_t)s_index(od_ability_names, PQgetvalue(res, r, 5));
        e->household = (uint8_t)s_index(od_household_names, PQgetvalue(res, r, 6));
        e->living = (uint8_t)s_index(od_living_names, PQgetvalue(res, r, 7));
        char *diet = strdup(PQgetvalue(res, r, 8));
        if (diet) {
            free(e->diet);
            e->diet = diet;
        }
        e->deceased = PQgetvalue(res, r, 10)[0] == 't';
        if (!PQgetisnull(res, r, 9)) {   /* NULL: in clear until od_reseal seals it */
            size_t len = 0;
            unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, 9), &len);
            if (!b) {
                cc_error("out_of_memory", "what", "elders");
                exit(1);
            }
            od_app_elder_address(e, b, len);
            PQfreemem(b);
        }
    }
}

static void s_on_cards(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    s_load_step(l, "cards", res);
    for (int r = 0; r < PQntuples(res); r++) {
        od_elder_t *e = cc_map_get(l->app->elders, PQgetvalue(res, r, 1));
        if (!e)
            continue;   /* impossible under the foreign key */
        if (!od_app_add_card(l->app, PQgetvalue(res, r, 0), e,
                             s_index(od_card_status_names, PQgetvalue(res, r, 2)))) {
            cc_error("out_of_memory", "what", "cards");
            exit(1);
        }
    }
}

static void s_on_orders(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    s_load_step(l, "orders", res);
    for (int r = 0; r < PQntuples(res); r++) {
        od_card_t *c = cc_map_get(l->app->cards, PQgetvalue(res, r, 1));
        if (!c && !PQgetvalue(res, r, 1)[0]) {
            /* An order without a card (an alarm's): its elder's. */
            od_elder_t *e = cc_map_get(l->app->elders, PQgetvalue(res, r, 10));
            c = e ? od_app_nocard(e) : NULL;
        }
        if (!c)
            continue;
        od_order_t *o = od_app_add_order(l->app, PQgetvalue(res, r, 0), c);
        char *notes = strdup(PQgetvalue(res, r, 7));
        if (!o || !notes) {
            cc_error("out_of_memory", "what", "orders");
            exit(1);
        }
        o->service = od_service_parse(PQgetvalue(res, r, 2));
        int s = od_state_parse(PQgetvalue(res, r, 3));
        o->state = o->next = s < 0 ? OD_PLACED : (od_state_t)s;
        o->window_start_us = strtoll(PQgetvalue(res, r, 4), NULL, 10);
        o->window_end_us = strtoll(PQgetvalue(res, r, 5), NULL, 10);
        o->emergency = PQgetvalue(res, r, 6)[0] == 't';
        free(o->notes);
        o->notes = notes;
        snprintf(o->caregiver_id, sizeof o->caregiver_id, "%s", PQgetvalue(res, r, 8));
        o->meal_mode = strcmp(PQgetvalue(res, r, 9), "eat_in") == 0 ? CC__MEAL_MODE__MEAL_EAT_IN
                                                                     : CC__MEAL_MODE__MEAL_DELIVERY;
        snprintf(o->meal_point_id, sizeof o->meal_point_id, "%s", PQgetvalue(res, r, 11));
        if (!PQgetisnull(res, r, 12) && !(o->diet = strdup(PQgetvalue(res, r, 12)))) {
            cc_error("out_of_memory", "what", "orders");
            exit(1);
        }
    }
}

static void s_on_continuity(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    s_load_step(l, "continuity", res);
    for (int r = 0; r < PQntuples(res); r++) {
        od_elder_t *e = cc_map_get(l->app->elders, PQgetvalue(res, r, 0));
        int svc = od_service_parse(PQgetvalue(res, r, 1));
        if (e && svc > 0)
            snprintf(e->last_caregiver[svc], CC_UUID_LEN, "%s", PQgetvalue(res, r, 2));
    }
}

void od_store_load_part_done(od_app_t *app)
{
    static s_load_t s_part;
    s_part.app = app;
    s_load_finish(&s_part);
}

/* Accounts: od_auth keeps them (and the revocation table); seeding the
 * accounts of a seed file finishes the load later. */
static void s_on_accounts(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    s_load_step(l, "accounts", res);
    od_auth_accounts_loaded(l->app, res);
    l->app->loads_pending++;       /* od_auth calls od_store_load_part_done */
    if (od_auth_seed(l->app) == 0)
        l->app->loads_pending--;
}

static void s_on_counts(PGresult *res, void *arg)
{
    s_load_t *l = arg;
    s_load_step(l, "counts", res);
    for (int r = 0; r < PQntuples(res); r++) {
        int s = od_state_parse(PQgetvalue(res, r, 0));
        if (s >= 0)
            od_app_count_state(l->app, (od_state_t)s, strtoll(PQgetvalue(res, r, 1), NULL, 10));
    }
    s_load_finish(l);
}

/* Every row's key id must be one the keyring has: a row under another key
 * means the wrong key file was given (or the old key was removed too
 * early). Config, not store: exit 2, naming the key id. */
static void s_on_keys(PGresult *res, void *arg)
{
    od_app_t *app = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        cc_error("load_failed", "what", "pii keys", "sqlstate", st ? st : "");
        exit(1);
    }
    int32_t active = od_pii_active_id(app->pii), old = od_pii_old_id(app->pii);
    long long n_active = 0, n_old = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        int32_t kid = (int32_t)atoi(PQgetvalue(res, r, 0));
        long long n = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        if (!od_pii_knows(app->pii, kid)) {
            char k[16];
            snprintf(k, sizeof k, "%d", kid);
            cc_error("pii_key_unknown", "key_id", k, "rows", PQgetvalue(res, r, 1), "fix",
                     "give the key these rows were sealed with as --pii-key-file or "
                     "--pii-old-key-file");
            exit(2);
        }
        if (kid == active)
            n_active = n;
        else if (od_pii_has_old(app->pii) && kid == old)
            n_old = n;
    }
    char ka[16], ko[16], na[24], no[24];
    snprintf(ka, sizeof ka, "%d", active);
    snprintf(ko, sizeof ko, "%d", old);
    snprintf(na, sizeof na, "%lld", n_active);
    snprintf(no, sizeof no, "%lld", n_old);
    cc_info("pii_keys", "key_id", ka, "rows", na, "old_key_id",
            od_pii_has_old(app->pii) ? ko : "", "old_rows", no);
}

static void s_load_set(od_app_t *app);

int od_store_load(void *arg)
{
    od_app_t *app = arg;
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_PII_KEYS]);
    if (cc_db_call(app->rt.reader, &a, s_on_keys, app) != 0)
        return -1;
    /* Rows in clear (an upgrade) are sealed before anything is served:
     * the blind indexes must cover every row. */
    return od_reseal_plain(app, s_load_set);
}

static void s_load_set(od_app_t *app)
{
    /* One load per process, and a stop before it finishes must not leak:
     * the context is static. */
    static s_load_t s_load;
    s_load_t *l = &s_load;
    l->app = app;
    app->loads_pending = 1;
    /* In queue order on one connection: the state table's check first,
     * elders before the cards that point at them, cards before orders; the
     * last callback finishes. */
    cc_db_fn *const fns[] = { s_on_states, s_on_elders, s_on_cards, s_on_orders, s_on_continuity,
                              s_on_accounts, s_on_counts };
    const int stmts[] = { OD_ST_LOAD_STATES, OD_ST_LOAD_ELDERS, OD_ST_LOAD_CARDS, OD_ST_LOAD_ORDERS,
                          OD_ST_LOAD_CONTINUITY, OD_ST_LOAD_ACCOUNTS, OD_ST_LOAD_COUNTS };
    int rc = 0;
    for (size_t i = 0; i < sizeof stmts / sizeof *stmts && rc == 0; i++) {
        cc_args_t a;
        cc_args_init(&a, &od_stmts[stmts[i]]);
        rc = cc_db_call(app->rt.reader, &a, fns[i], l);
    }
    if (rc != 0) {
        cc_error("db_queue_failed", "what", "load");
        exit(1);
    }
}

/* ---- rows -> JSON --------------------------------------------------------------- */
static json_t *s_text(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

static json_t *s_int(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null()
                                      : json_integer(strtoll(PQgetvalue(res, row, col), NULL, 10));
}

static json_t *s_time_us(int64_t us)
{
    char buf[48];
    return json_string(cc_time_format(us, buf, sizeof buf));
}

static json_t *s_time(PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return json_null();
    return s_time_us(strtoll(PQgetvalue(res, row, col), NULL, 10));
}

static const od_pii_t *s_pii;

void od_store_set_pii(const od_pii_t *pii)
{
    s_pii = pii;
}

/* A sealed column opened: a JSON string, or null (and a warning naming
 * the elder and the column, never the value) if it does not open. */
static json_t *s_opened(PGresult *res, int row, int col, const char *column)
{
    if (PQgetisnull(res, row, col))
        return json_null();
    const char *id = PQgetvalue(res, row, 0);
    size_t len = 0;
    unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), &len);
    char *v = b && s_pii ? od_pii_open(s_pii, id, column, b, len) : NULL;
    PQfreemem(b);
    if (!v) {
        cc_warn("pii_open_failed", "elder_id", id, "column", column);
        return json_null();
    }
    json_t *j = json_string(v);
    sodium_memzero(v, strlen(v));
    free(v);
    return j;
}

json_t *od_store_elder_json(PGresult *res, int r)
{
    json_t *o = json_object();
    json_object_set_new(o, "elder_id", s_text(res, r, 0));
    json_object_set_new(o, "name", s_opened(res, r, 1, "name"));
    json_object_set_new(o, "phone", s_opened(res, r, 2, "phone"));
    json_object_set_new(o, "address", s_opened(res, r, 3, "address"));
    json_object_set_new(o, "district_id", s_int(res, r, 4));
    json_object_set_new(o, "birth_date", s_text(res, r, 5));
    json_object_set_new(o, "ability_level", s_text(res, r, 6));
    json_object_set_new(o, "household", s_text(res, r, 7));
    json_object_set_new(o, "living", s_text(res, r, 8));
    json_object_set_new(o, "disability_grade", s_int(res, r, 9));
    json_object_set_new(o, "diet", s_text(res, r, 10));
    json_object_set_new(o, "lat", json_real(atof(PQgetvalue(res, r, 11))));
    json_object_set_new(o, "lon", json_real(atof(PQgetvalue(res, r, 12))));
    json_object_set_new(o, "created_at", s_time(res, r, 13));
    json_t *cards = json_loads(PQgetvalue(res, r, 14), 0, NULL);
    json_object_set_new(o, "cards", cards ? cards : json_array());
    od_elders_json_more(o, res, r, OD_ELDERS_COL0, s_pii);
    return o;
}

json_t *od_store_card_json(PGresult *res, int r)
{
    json_t *o = json_object();
    json_object_set_new(o, "card_id", s_text(res, r, 0));
    json_object_set_new(o, "elder_id", s_text(res, r, 1));
    json_object_set_new(o, "district_id", s_int(res, r, 2));
    json_object_set_new(o, "status", s_text(res, r, 3));
    json_object_set_new(o, "issued_at", s_time(res, r, 4));
    return o;
}

json_t *od_store_order_json(PGresult *res, int r, int with_history)
{
    json_t *o = json_object();
    json_object_set_new(o, "order_id", s_text(res, r, 0));
    json_object_set_new(o, "card_id", s_text(res, r, 1));
    json_object_set_new(o, "elder_id", s_text(res, r, 2));
    json_object_set_new(o, "service", s_text(res, r, 3));
    json_object_set_new(o, "state", s_text(res, r, 4));
    json_object_set_new(o, "window_start", s_time(res, r, 5));
    json_object_set_new(o, "window_end", s_time(res, r, 6));
    json_object_set_new(o, "notes", s_text(res, r, 7));
    json_object_set_new(o, "emergency", json_boolean(PQgetvalue(res, r, 8)[0] == 't'));
    json_object_set_new(o, "caregiver_id", s_text(res, r, 9));
    json_object_set_new(o, "visit_id", s_text(res, r, 10));
    json_object_set_new(o, "meal_point_id", s_text(res, r, 11));
    json_object_set_new(o, "provider_id", s_text(res, r, 12));
    json_object_set_new(o, "price_fen", s_int(res, r, 13));
    json_object_set_new(o, "held_fen", s_int(res, r, 14));
    json_object_set_new(o, "charged_fen", s_int(res, r, 15));
    json_object_set_new(o, "reason", s_text(res, r, 16));
    json_object_set_new(o, "created_at", s_time(res, r, 17));
    json_object_set_new(o, "updated_at", s_time(res, r, 18));
    json_object_set_new(o, "district_id", s_int(res, r, 19));
    if (with_history) {
        json_t *hist = json_array();
        json_t *raw = json_loads(PQgetvalue(res, r, 20), 0, NULL);
        size_t i;
        json_t *h;
        json_array_foreach(raw, i, h)
        {
            json_t *e = json_object();
            json_object_set(e, "state", json_array_get(h, 0));
            json_object_set(e, "event", json_array_get(h, 1));
            json_object_set_new(e, "at", s_time_us(json_integer_value(json_array_get(h, 2))));
            json_object_set(e, "detail", json_array_get(h, 3));
            json_array_append_new(hist, e);
        }
        json_decref(raw);
        json_object_set_new(o, "history", hist);
    }
    return o;
}
