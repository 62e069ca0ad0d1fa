/* od_plans: care plans (docs/API-orderd.md "Care plans") and their
 * generator.
 *
 * A plan lives in the store only (table plans, sql/orderd/016): the HTTP
 * handlers change it through SQL functions on the writer; the generator,
 * a timer (and a kick after every change), reads the plans due from the
 * bulk reader (app->bulk) and places each occurrence within the horizon
 * through od_app_place_many, the rules of POST /v1/orders, with the key
 * "plan:<plan id>:<yyyy-mm-dd>" (":r<rev>" after a change that cancelled
 * occurrences) and source 'plan'. Runs never overlap. A run is a sweep of
 * passes of at most --plan-batch orders each (one statement), the next
 * pass read after the last plan taken while the last pass's writes still
 * commit, and placed only while the writer holds fewer than --gen-pace
 * statements, so HTTP keeps its latency; a pass whose read raced a plan
 * change is dropped and the sweep begins again. */
#ifndef OD_PLANS_H
#define OD_PLANS_H
#include "od_app.h"
#include "cc_http.h"
#include "od_rrule.h"

/* The statements (od_store.c includes them in od_stmts). */
#define OD_PLANS_ST_ENUM                                                                   \
    OD_ST_PLAN_CREATE, OD_ST_PLAN_UPDATE, OD_ST_PLAN_SET, OD_ST_PLAN_SKIP,                   \
    OD_ST_PLAN_GENERATED, OD_ST_PLANS_END_INACTIVE, OD_ST_PLANS_DUE, OD_ST_PLAN_GET,         \
    OD_ST_PLAN_LIST, OD_ST_PLANS_GENERATED

/* Columns of od_plan_get / od_plan_list, in the order od_plans.c reads. */
#define OD_PLAN_COLS                                                                         \
    "p.id, p.elder_id, p.card_id, p.service, p.rrule, p.window_start_min, p.window_end_min, " \
    "p.starts_on::text, p.ends_on::text, p.meal_point_id, p.diet, p.meal_mode, p.notes, "     \
    "p.status, p.ended_reason, p.rev, p.generated_through::text, od_us(p.created_at), "       \
    "od_us(p.updated_at), (SELECT coalesce(json_agg(s.day ORDER BY s.day), '[]') "            \
    "FROM plan_skips s WHERE s.plan_id = p.id)::text"
#define OD_PLAN_NCOLS 20

/* od_stmts entries (cc_stmt.h), the SQL functions of sql/orderd/016. */
#define OD_PLANS_STMTS                                                                        \
    [OD_ST_PLAN_CREATE] = { "od_plan_create", CC_STMT_WRITER, "od_plan_create", "outcome",    \
        NULL,                                                                                 \
        { { "id", CC_T_UUID }, { "elder", CC_T_UUID }, { "card", CC_T_UUID },                 \
          { "service", CC_T_TEXT }, { "rrule", CC_T_TEXT }, { "ws", CC_T_INT2 },               \
          { "we", CC_T_INT2 }, { "starts", CC_T_DATE }, { "ends", CC_T_DATE },                 \
          { "meal_point", CC_T_UUID }, { "diet", CC_T_TEXT }, { "meal_mode", CC_T_TEXT },      \
          { "notes", CC_T_TEXT } }, NULL },                                                   \
    [OD_ST_PLAN_UPDATE] = { "od_plan_update", CC_STMT_WRITER, "od_plan_update",              \
        "outcome, rev, cancel::text", NULL,                                                   \
        { { "id", CC_T_UUID }, { "rev", CC_T_INT4 }, { "card", CC_T_UUID },                   \
          { "rrule", CC_T_TEXT }, { "ws", CC_T_INT2 }, { "we", CC_T_INT2 },                    \
          { "starts", CC_T_DATE }, { "ends", CC_T_DATE }, { "meal_point", CC_T_UUID },         \
          { "diet", CC_T_TEXT }, { "meal_mode", CC_T_TEXT }, { "notes", CC_T_TEXT },           \
          { "now_us", CC_T_INT8 }, { "detail", CC_T_TEXT } }, NULL },                         \
    [OD_ST_PLAN_SET] = { "od_plan_set", CC_STMT_WRITER, "od_plan_set",                       \
        "outcome, rev, cancel::text", NULL,                                                   \
        { { "id", CC_T_UUID }, { "action", CC_T_TEXT }, { "day", CC_T_DATE },                 \
          { "now_us", CC_T_INT8 } }, NULL },                                                  \
    [OD_ST_PLAN_SKIP] = { "od_plan_skip", CC_STMT_WRITER, "od_plan_skip",                    \
        "outcome, rev, cancel::text", NULL,                                                   \
        { { "id", CC_T_UUID }, { "day", CC_T_DATE }, { "now_us", CC_T_INT8 } }, NULL },       \
    [OD_ST_PLAN_GENERATED] = { "od_plan_generated", CC_STMT_WRITER, "od_plan_generated",     \
        "outcome", NULL,                                                                      \
        { { "id", CC_T_UUID }, { "rev", CC_T_INT4 }, { "through", CC_T_DATE } }, NULL },       \
    /* A run's marks in one statement: od_plan_generated for each plan. */                  \
    [OD_ST_PLANS_GENERATED] = { "od_plans_generated", CC_STMT_WRITER, NULL, NULL,              \
        "SELECT count(g.outcome) FROM unnest($1::text[], $2::bigint[], $3::text[]) "           \
        "AS x(id, rev, through), od_plan_generated(x.id::uuid, x.rev::integer, "               \
        "x.through::date) AS g(outcome)",                                                      \
        { { "ids", CC_T_TEXT_ARRAY }, { "revs", CC_T_INT8_ARRAY },                             \
          { "throughs", CC_T_TEXT_ARRAY } }, NULL },                                           \
    [OD_ST_PLANS_END_INACTIVE] = { "od_plans_end_inactive", CC_STMT_WRITER,                  \
        "od_plans_end_inactive", "plan_id, cancel::text", NULL,                               \
        { { "now_us", CC_T_INT8 }, { "limit", CC_T_INT4 } }, NULL },                          \
    [OD_ST_PLANS_DUE] = { "od_plans_due", CC_STMT_READER, NULL, NULL,                        \
        "SELECT p.id, p.rev, p.service, p.rrule, p.window_start_min, p.window_end_min, "      \
        "p.starts_on::text, p.ends_on::text, p.generated_through::text, "                     \
        "coalesce(p.card_id, (SELECT c.id FROM cards c WHERE c.elder_id = p.elder_id "        \
        "AND c.status = 'active' ORDER BY c.issued_at DESC LIMIT 1)), p.meal_mode, p.notes, " \
        "(SELECT coalesce(json_agg(s.day), '[]') FROM plan_skips s WHERE s.plan_id = p.id "   \
        "AND s.day >= $1::date)::text, "                                                      \
        /* Dates another rev's occurrence still holds (begun, or past     \
         * cancelling): one occurrence per date. */                       \
        "(SELECT coalesce(json_agg(DISTINCT o.plan_day), '[]') FROM orders o "                \
        "WHERE o.plan_id = p.id AND o.plan_day >= $1::date "                                  \
        "AND o.state NOT IN ('cancelled', 'denied') AND o.idem_key <> 'plan:' || p.id || ':' " \
        "|| o.plan_day || CASE WHEN p.rev > 1 THEN ':r' || p.rev ELSE '' END)::text, "        \
        "coalesce(p.meal_point_id::text, ''), coalesce(p.diet, '') "                          \
        "FROM plans p JOIN elders e ON e.id = p.elder_id "                                    \
        "WHERE p.status = 'active' AND e.status = 'active' "                                  \
        "AND (p.generated_through IS NULL OR p.generated_through < $2::date) "                \
        "AND p.starts_on <= $2::date AND (p.ends_on IS NULL OR p.ends_on >= $1::date) "       \
        "AND (p.generated_through IS NULL OR p.ends_on IS NULL "                              \
        "     OR p.generated_through < p.ends_on) "                                           \
        /* After the sweep's cursor ($4 '': no generated_through yet), in     \
         * the order below: the plans of passes still committing are not   \
         * read again. */                                                   \
        "AND ($5::uuid IS NULL OR (coalesce(p.generated_through, '-infinity'::date), p.id) "  \
        "    > (coalesce(nullif($4::text, '')::date, '-infinity'::date), $5::uuid)) "          \
        "ORDER BY p.generated_through NULLS FIRST, p.id LIMIT $3::integer",                   \
        { { "today", CC_T_DATE }, { "last", CC_T_DATE }, { "limit", CC_T_INT4 },              \
          { "after_through", CC_T_TEXT }, { "after_id", CC_T_UUID } }, NULL },               \
    [OD_ST_PLAN_GET] = { "od_plan_get", CC_STMT_READER, NULL, NULL,                          \
        "SELECT " OD_PLAN_COLS ", (SELECT coalesce(json_agg(json_build_object("               \
        "'date', o.plan_day, 'order_id', o.id, 'state', o.state, 'window_start', "            \
        "to_char(o.window_start AT TIME ZONE 'Asia/Shanghai', "                               \
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"'), 'window_end', "                               \
        "to_char(o.window_end AT TIME ZONE 'Asia/Shanghai', "                                 \
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"'), 'reason', o.reason) "                         \
        "ORDER BY o.plan_day, o.created_at), '[]') FROM (SELECT * FROM orders x "            \
        "WHERE x.plan_id = p.id ORDER BY x.plan_day DESC, x.created_at DESC LIMIT 200) o)::text " \
        "FROM plans p WHERE p.id = $1::uuid",                                                 \
        { { "id", CC_T_UUID } }, NULL },                                                      \
    [OD_ST_PLAN_LIST] = { "od_plan_list", CC_STMT_READER, NULL, NULL,                        \
        "SELECT " OD_PLAN_COLS " FROM plans p WHERE p.elder_id = $1::uuid "                   \
        "ORDER BY p.created_at LIMIT 500",                                                    \
        { { "elder", CC_T_UUID } }, NULL }

/* A validated plan (POST body, or a PATCH merged onto the stored plan). */
typedef struct {
    char elder_id[CC_UUID_LEN];
    char card_id[CC_UUID_LEN];          /* "" : the elder's active card */
    int service;                        /* Cc__Service */
    char rrule[513];
    od_rrule_t rule;
    int window_start_min, window_end_min;
    int32_t starts_on;
    int has_ends_on;
    int32_t ends_on;
    char meal_point_id[CC_UUID_LEN];    /* meals only, "" none */
    char diet[201];                     /* meals only */
    int has_diet;
    int meal_mode;                      /* -1 none; else index in od_meal_mode_names */
    char notes[CC_NOTES_MAX + 1];
    char starts_s[16], ends_s[16];      /* the dates as text, for the call */
} od_plan_req_t;

/* A POST /v1/plans body (or a merged PATCH) -> req. 0, or -1 with err set
 * naming the field (an rrule refused also sets *part, the rule's part). */
int od_plan_req_from_json(json_t *body, od_plan_req_t *req, const char **part, cc_err_t *err);

/* Runtime: metrics (init), the timer (start, again after a reload), stop. */
int od_plans_init(od_app_t *app);
int od_plans_start(od_app_t *app);
void od_plans_stop(od_app_t *app);
void od_plans_fini(od_app_t *app);
/* Run the generator soon (after a plan or elder change). */
void od_plans_kick(od_app_t *app);

/* Routes (od_http.c's table). */
void od_plans_post(cc_http_req_t *req, void *arg);
void od_plans_list(cc_http_req_t *req, void *arg);
void od_plans_get(cc_http_req_t *req, void *arg);
void od_plans_patch(cc_http_req_t *req, void *arg);
void od_plans_pause(cc_http_req_t *req, void *arg);
void od_plans_resume(cc_http_req_t *req, void *arg);
void od_plans_skip(cc_http_req_t *req, void *arg);
void od_plans_end(cc_http_req_t *req, void *arg);

#endif
