/* od_store: see od_store.h. */
#include "od_store.h"
#include "cc_log.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <inttypes.h>

typedef struct {
    const char *name;
    const char *sql;
} s_stmt_t;

static const s_stmt_t s_writer_stmts[] = {
    { "od_elder_create",
      "SELECT outcome, elder_id FROM od_elder_create($1::uuid, $2::integer, $3, $4, $5, $6, "
      "$7::float8, $8::float8, $9::date, $10, $11, $12, $13::smallint, $14)" },
    { "od_card_issue",
      "SELECT outcome, card_id FROM od_card_issue($1::uuid, $2::uuid, $3::uuid, $4::bytea)" },
    { "od_card_set_status",
      "SELECT outcome, status FROM od_card_set_status($1::uuid, $2, $3::uuid, $4::bytea)" },
    { "od_order_place",
      "SELECT outcome, order_id, state FROM od_order_place($1::uuid, $2, $3::uuid, $4, "
      "$5::bigint, $6::bigint, $7, $8::boolean, $9, $10::uuid, $11::bytea, $12::uuid, "
      "$13::bytea)" },
    { "od_order_cancel",
      "SELECT outcome, state FROM od_order_cancel($1::uuid, $2, $3::uuid, $4::bytea)" },
    { "od_on_funds_held",
      "SELECT od_on_funds_held($1, $2::bigint, $3::uuid, $4::uuid, $5::bigint, $6::bigint, "
      "$7, $8, $9::uuid, $10::bytea)" },
    { "od_on_funds_denied",
      "SELECT od_on_funds_denied($1, $2::bigint, $3::uuid, $4::uuid, $5::bigint, $6, $7, $8)" },
    { "od_on_hold",
      "SELECT od_on_hold($1, $2::bigint, $3::uuid, $4::uuid, $5, $6::bigint, $7, $8)" },
    { "od_on_visit",
      "SELECT od_on_visit($1, $2::bigint, $3::uuid, $4::uuid, $5, $6, $7, $8, $9, $10, $11, "
      "$12, $13::uuid, $14::bytea)" },
    { "od_on_meal",
      "SELECT od_on_meal($1, $2::bigint, $3::uuid, $4::uuid, $5, $6, $7, $8, $9, $10, $11, "
      "$12::uuid, $13::bytea)" },
    { NULL, NULL }
};

#define S_ELDER_COLS                                                                        \
    "e.id, e.name, e.phone, e.address, e.district_id, e.birth_date::text, e.ability_level, " \
    "e.household, e.living, e.disability_grade, e.diet, e.lat, e.lon, od_us(e.created_at), " \
    "(SELECT coalesce(json_agg(json_build_object('card_id', c.id, 'status', c.status) "      \
    "ORDER BY c.issued_at), '[]') FROM cards c WHERE c.elder_id = e.id)::text"
#define S_ORDER_COLS                                                                          \
    "o.id, o.card_id, o.elder_id, o.service, o.state, od_us(o.window_start), "                \
    "od_us(o.window_end), o.notes, o.emergency, o.caregiver_id, o.visit_id, o.meal_point_id, " \
    "o.provider_id, o.price_fen, o.held_fen, o.charged_fen, o.reason, od_us(o.created_at), "  \
    "od_us(o.updated_at), o.district_id"

static const s_stmt_t s_reader_stmts[] = {
    { "od_load_states", "SELECT name, final, cancellable FROM order_states" },
    { "od_load_elders",
      "SELECT id, district_id, lat, lon, birth_date::text, ability_level, household, living, "
      "diet FROM elders" },
    { "od_load_cards", "SELECT id, elder_id, status FROM cards" },
    { "od_load_orders",
      "SELECT id, card_id, service, state, od_us(window_start), od_us(window_end), emergency, "
      "notes, coalesce(caregiver_id, '') FROM orders WHERE NOT od_state_final(state)" },
    { "od_load_continuity",
      "SELECT DISTINCT ON (elder_id, service) elder_id, service, caregiver_id FROM orders "
      "WHERE caregiver_id IS NOT NULL AND state IN ('completed', 'billed') "
      "ORDER BY elder_id, service, updated_at DESC" },
    { "od_load_counts", "SELECT state, count(*) FROM orders GROUP BY state" },
    { "od_elders_by_phone",
      "SELECT " S_ELDER_COLS " FROM elders e WHERE e.phone = $1 ORDER BY e.created_at LIMIT 50" },
    { "od_elder_get", "SELECT " S_ELDER_COLS " FROM elders e WHERE e.id = $1::uuid" },
    { "od_card_get",
      "SELECT c.id, c.elder_id, c.district_id, c.status, od_us(c.issued_at) FROM cards c "
      "WHERE c.id = $1::uuid" },
    { "od_order_get",
      "SELECT " S_ORDER_COLS ", (SELECT coalesce(json_agg(json_build_array(h.state, h.event, "
      "od_us(h.at), h.detail) ORDER BY h.id), '[]') FROM order_history h "
      "WHERE h.order_id = o.id)::text FROM orders o WHERE o.id = $1::uuid" },
    { "od_order_list_card",
      "SELECT " S_ORDER_COLS " FROM orders o WHERE o.card_id = $1::uuid "
      "AND ($2::text IS NULL OR o.state = $2) ORDER BY o.created_at DESC LIMIT $3::integer" },
    { "od_order_list_state",
      "SELECT " S_ORDER_COLS " FROM orders o WHERE o.state = $1 "
      "ORDER BY o.created_at DESC LIMIT $2::integer" },
    { "od_order_list_all",
      "SELECT " S_ORDER_COLS " FROM orders o ORDER BY o.created_at DESC LIMIT $1::integer" },
    { NULL, NULL }
};

int od_store_prepare(cc_db_t *writer, cc_db_t *reader)
{
    for (const s_stmt_t *s = s_writer_stmts; s->name; s++)
        if (cc_db_prepare(writer, s->name, s->sql) != 0)
            return -1;
    for (const s_stmt_t *s = s_reader_stmts; s->name; s++)
        if (cc_db_prepare(reader, s->name, s->sql) != 0)
            return -1;
    return 0;
}

/* ---- load -------------------------------------------------------------------- */
typedef struct {
    od_app_t *app;
    void (*done)(od_app_t *app);
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
    app->loaded = 1;
    char ne[24], nc[24], no[24];
    snprintf(ne, sizeof ne, "%zu", cc_map_size(app->elders));
    snprintf(nc, sizeof nc, "%zu", cc_map_size(app->cards));
    snprintf(no, sizeof no, "%zu", cc_map_size(app->orders));
    cc_info("working_set_loaded", "elders", ne, "cards", nc, "open_orders", no);
    void (*done)(od_app_t *) = l->done;
    if (done)
        done(app);
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

void od_store_load(od_app_t *app, void (*done)(od_app_t *app))
{
    /* One load per process, and a stop before it finishes must not leak:
     * the context is static. */
    static s_load_t s_load;
    s_load_t *l = &s_load;
    l->app = app;
    l->done = done;
    app->loads_pending = 1;
    /* In queue order on one connection: the state table's check first,
     * elders before the cards that point at them, cards before orders; the
     * last callback finishes. */
    if (cc_db_exec(app->reader, "od_load_states", 0, NULL, NULL, NULL, s_on_states, l) != 0 ||
        cc_db_exec(app->reader, "od_load_elders", 0, NULL, NULL, NULL, s_on_elders, l) != 0 ||
        cc_db_exec(app->reader, "od_load_cards", 0, NULL, NULL, NULL, s_on_cards, l) != 0 ||
        cc_db_exec(app->reader, "od_load_orders", 0, NULL, NULL, NULL, s_on_orders, l) != 0 ||
        cc_db_exec(app->reader, "od_load_continuity", 0, NULL, NULL, NULL, s_on_continuity, l) !=
            0 ||
        cc_db_exec(app->reader, "od_load_counts", 0, NULL, NULL, NULL, s_on_counts, l) != 0) {
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

json_t *od_store_elder_json(PGresult *res, int r)
{
    json_t *o = json_object();
    json_object_set_new(o, "elder_id", s_text(res, r, 0));
    json_object_set_new(o, "name", s_text(res, r, 1));
    json_object_set_new(o, "phone", s_text(res, r, 2));
    json_object_set_new(o, "address", s_text(res, r, 3));
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
