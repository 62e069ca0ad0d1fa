/* od_plans: see od_plans.h. */
#include "od_plans.h"
#include "od_store.h"
#include "cc_jwt.h"
#include "cc_event.h"
#include "cc_log.h"
#include "cc_time.h"
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <inttypes.h>

#define S_DAY_US ((int64_t)86400 * CC_US_PER_S)
#define S_END_INACTIVE_BATCH 100

/* The generator's state: one run at a time. */
static struct {
    od_app_t *app;
    struct event *timer;
    int running;                 /* a run is between its first query and its last result */
    int again;                   /* run once more when this one ends */
    uint64_t epoch;              /* plan changes committed */
    uint64_t run_epoch;          /* epoch when the run began */
    int changes_in_flight;       /* plan changes queued, not yet answered */
    int pending;                 /* the run's statements not yet answered */
    int passes;                  /* passes whose marks have not committed */
    int backlog;                 /* the last run left plans due: the next goes on at once */
    int kicked;                  /* a change since the last full pass */
    int partial;                 /* a plan of this sweep was placed short of its last day */
    /* The sweep's cursor: the last plan read, in the due read's order
     * (generated_through, "" for none, then id). The next pass reads after
     * it while the last pass's writes still commit: pipelined. */
    int has_cursor;
    char cur_through[11], cur_id[CC_UUID_LEN];
    struct event *pace;          /* a read held back: the writer is behind */
    int64_t t0_us;               /* monotonic start of the run */
    cc_metric_t *m_occ[3];       /* created, existing, refused */
    cc_metric_t *m_runs, *m_run_s, *m_dropped, *m_ended;
} s_gen;

enum { S_OCC_CREATED, S_OCC_EXISTING, S_OCC_REFUSED };

/* ---- dates ------------------------------------------------------------------- */
static int32_t s_today(int64_t now_us)
{
    /* Local midnight in UTC+8 (no DST): days since the epoch of the local date. */
    int64_t local_s = now_us / CC_US_PER_S + CC_TZ_OFFSET_S;
    int64_t d = local_s / 86400;
    if (local_s < 0 && local_s % 86400)
        d--;
    return (int32_t)d;
}

static int64_t s_local_us(int32_t day, int minute)
{
    return ((int64_t)day * 86400 - CC_TZ_OFFSET_S + (int64_t)minute * 60) * CC_US_PER_S;
}

static void s_hhmm(int min, char out[8])
{
    unsigned m = (unsigned)min % 1440u;
    snprintf(out, 8, "%02u:%02u", m / 60, m % 60);
}

/* ---- validation --------------------------------------------------------------- */
static int s_date_field(json_t *body, const char *field, int required, int32_t *day, int *has,
                        cc_err_t *err)
{
    const char *s = NULL;
    if (cc_json_str(body, field, required, 10, &s, err) != 0)
        return -1;
    if (!s) {
        if (has)
            *has = 0;
        return 0;
    }
    int y, m, d;
    if (od_day_parse(s, day) != 0)
        return cc_err_set(err, 400, "invalid_value", field, "%s must be a date YYYY-MM-DD", field);
    od_day_to_ymd(*day, &y, &m, &d);
    if (y < 2000 || y > 2199)
        return cc_err_set(err, 422, "invalid_value", field,
                          "%s must be between 2000-01-01 and 2199-12-31", field);
    if (has)
        *has = 1;
    return 0;
}

int od_plan_req_from_json(json_t *body, od_plan_req_t *req, const char **part, cc_err_t *err)
{
    static const char *const known[] = { "elder_id", "card_id", "service", "rrule",
        "window_start", "window_end", "starts_on", "ends_on", "meal_point_id", "diet",
        "meal_mode", "notes", NULL };
    memset(req, 0, sizeof *req);
    req->meal_mode = -1;
    if (part)
        *part = NULL;
    if (cc_json_only(body, known, err) != 0)
        return -1;
    if (cc_json_uuid(body, "elder_id", 1, req->elder_id, err) != 0)
        return -1;
    if (cc_json_uuid(body, "card_id", 0, req->card_id, err) != 0)
        return -1;
    int svc = -1;
    if (cc_json_enum(body, "service", 1, od_service_names, &svc, err) != 0)
        return -1;
    req->service = svc + 1;
    if (req->service == CC__SERVICE__EMERGENCY)
        return cc_err_set(err, 422, "invalid_value", "service",
                          "an emergency is raised when it happens, not planned");
    const char *rr = NULL;
    if (cc_json_str(body, "rrule", 1, 512, &rr, err) != 0)
        return -1;
    const char *p = NULL, *why = NULL;
    if (od_rrule_parse(rr, &req->rule, &p, &why) != 0) {
        if (part)
            *part = p;
        return cc_err_set(err, 422, "invalid_value", "rrule", "%s: %s", p, why);
    }
    snprintf(req->rrule, sizeof req->rrule, "%s", rr);
    if (cc_json_hhmm(body, "window_start", 1, &req->window_start_min, err) != 0)
        return -1;
    if (cc_json_hhmm(body, "window_end", 1, &req->window_end_min, err) != 0)
        return -1;
    if (req->window_end_min <= req->window_start_min)
        return cc_err_set(err, 422, "invalid_value", "window_end",
                          "window_end must be after window_start (the same day)");
    if (s_date_field(body, "starts_on", 1, &req->starts_on, NULL, err) != 0)
        return -1;
    if (s_date_field(body, "ends_on", 0, &req->ends_on, &req->has_ends_on, err) != 0)
        return -1;
    if (req->has_ends_on && req->ends_on < req->starts_on)
        return cc_err_set(err, 422, "invalid_value", "ends_on", "ends_on is before starts_on");
    /* Meal fields on another service are a caller's mistake, as with
     * POST /v1/orders' meal_mode: said, not dropped. */
    static const char *const meal_only[] = { "meal_point_id", "diet", "meal_mode", NULL };
    for (int i = 0; meal_only[i]; i++)
        if (req->service != CC__SERVICE__MEAL && json_object_get(body, meal_only[i]) &&
            !json_is_null(json_object_get(body, meal_only[i])))
            return cc_err_set(err, 400, "invalid_value", meal_only[i],
                              "%s is for meal plans only", meal_only[i]);
    if (cc_json_uuid(body, "meal_point_id", 0, req->meal_point_id, err) != 0)
        return -1;
    const char *diet = NULL, *notes = NULL;
    if (cc_json_str(body, "diet", 0, sizeof req->diet - 1, &diet, err) != 0)
        return -1;
    if (diet) {
        snprintf(req->diet, sizeof req->diet, "%s", diet);
        req->has_diet = 1;
    }
    if (cc_json_enum(body, "meal_mode", 0, od_meal_mode_names, &req->meal_mode, err) != 0)
        return -1;
    if (req->service == CC__SERVICE__MEAL && req->meal_mode < 0)
        req->meal_mode = CC__MEAL_MODE__MEAL_DELIVERY;
    if (cc_json_str(body, "notes", 0, CC_NOTES_MAX, &notes, err) != 0)
        return -1;
    snprintf(req->notes, sizeof req->notes, "%s", notes ? notes : "");
    return 0;
}

static void s_reply_plan_err(cc_http_req_t **req, const cc_err_t *err, const char *part)
{
    if (!part) {
        cc_http_reply_err(req, err);
        return;
    }
    json_t *body = json_object();
    json_object_set_new(body, "error", json_string(err->error));
    json_object_set_new(body, "field", json_string(err->field));
    json_object_set_new(body, "part", json_string(part));
    json_object_set_new(body, "message", json_string(err->message));
    cc_http_reply_json(req, err->status, body);
}

/* ---- plan rows -> JSON ------------------------------------------------------- */
static json_t *s_text_or_null(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

/* The next occurrences by the rule from today (n at most): what the
 * generator will place, skips and an end taken into account. */
static json_t *s_next(const char *rrule, const char *starts, const char *ends,
                      const char *status, json_t *skips, int ws_min, int n)
{
    int64_t now = cc_now_us();
    json_t *out = json_array();
    od_rrule_t r;
    int32_t from, to, s0;
    if (strcmp(status, "active") != 0 || od_rrule_parse(rrule, &r, NULL, NULL) != 0 ||
        od_day_parse(starts, &s0) != 0)
        return out;
    from = s_today(now);
    if (s_local_us(from, ws_min) <= now)
        from++;   /* today's has begun: not next */
    to = from + 400;
    int32_t e;
    if (ends && *ends && od_day_parse(ends, &e) == 0 && e < to)
        to = e;
    if (from < s0)
        from = s0;
    int32_t days[64];
    int k = od_rrule_expand(&r, s0, from, to, days, n + (int)json_array_size(skips) < 64
                            ? n + (int)json_array_size(skips) : 64);
    char buf[16];
    for (int i = 0; i < k && (int)json_array_size(out) < n; i++) {
        od_day_format(days[i], buf, sizeof buf);
        int skipped = 0;
        size_t j;
        json_t *v;
        json_array_foreach(skips, j, v)
            if (json_is_string(v) && strcmp(json_string_value(v), buf) == 0)
                skipped = 1;
        if (!skipped)
            json_array_append_new(out, json_string(buf));
    }
    return out;
}

static json_t *s_plan_json(PGresult *res, int row)
{
    json_t *o = json_object();
    char hm[8];
    json_object_set_new(o, "plan_id", json_string(PQgetvalue(res, row, 0)));
    json_object_set_new(o, "elder_id", json_string(PQgetvalue(res, row, 1)));
    json_object_set_new(o, "card_id", s_text_or_null(res, row, 2));
    json_object_set_new(o, "service", json_string(PQgetvalue(res, row, 3)));
    json_object_set_new(o, "rrule", json_string(PQgetvalue(res, row, 4)));
    s_hhmm(atoi(PQgetvalue(res, row, 5)), hm);
    json_object_set_new(o, "window_start", json_string(hm));
    s_hhmm(atoi(PQgetvalue(res, row, 6)), hm);
    json_object_set_new(o, "window_end", json_string(hm));
    json_object_set_new(o, "starts_on", json_string(PQgetvalue(res, row, 7)));
    json_object_set_new(o, "ends_on", s_text_or_null(res, row, 8));
    if (strcmp(PQgetvalue(res, row, 3), "meal") == 0) {
        json_object_set_new(o, "meal_point_id", s_text_or_null(res, row, 9));
        json_object_set_new(o, "diet", s_text_or_null(res, row, 10));
        json_object_set_new(o, "meal_mode", s_text_or_null(res, row, 11));
    }
    json_object_set_new(o, "notes", json_string(PQgetvalue(res, row, 12)));
    json_object_set_new(o, "status", json_string(PQgetvalue(res, row, 13)));
    json_object_set_new(o, "ended_reason", s_text_or_null(res, row, 14));
    json_object_set_new(o, "rev", json_integer(atoll(PQgetvalue(res, row, 15))));
    json_object_set_new(o, "generated_through", s_text_or_null(res, row, 16));
    char t[48];
    json_object_set_new(o, "created_at",
                        json_string(cc_time_format(atoll(PQgetvalue(res, row, 17)), t, sizeof t)));
    json_object_set_new(o, "updated_at",
                        json_string(cc_time_format(atoll(PQgetvalue(res, row, 18)), t, sizeof t)));
    json_t *skips = json_loads(PQgetvalue(res, row, 19), 0, NULL);
    if (!skips)
        skips = json_array();
    json_object_set_new(o, "skipped", skips);
    json_object_set_new(o, "next", s_next(PQgetvalue(res, row, 4), PQgetvalue(res, row, 7),
                                          PQgetisnull(res, row, 8) ? NULL
                                                                   : PQgetvalue(res, row, 8),
                                          PQgetvalue(res, row, 13), skips,
                                          atoi(PQgetvalue(res, row, 5)), 10));
    return o;
}

/* ---- reads -------------------------------------------------------------------- */
static void s_read_failed(cc_http_req_t **req, const char *what, PGresult *res)
{
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    cc_warn("db_read_failed", "what", what, "sqlstate", st ? st : "");
    cc_http_reply_error(req, 503, "unavailable", NULL, "the store could not answer; retry");
}

/* A family account reads its own elder's plans only. */
static int s_family_elder(cc_http_req_t **req, const char *elder_id)
{
    const cc_jwt_claims_t *who = cc_http_claims(*req);
    if (!who || who->role != CC_ROLE_FAMILY)
        return 0;
    cc_scope_t scope = { .elder_id = elder_id };
    return cc_http_scope(req, &scope);
}

static void s_on_list(PGresult *res, void *arg)
{
    cc_http_req_t *req = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_read_failed(&req, "plans", res);
        return;
    }
    json_t *list = json_array();
    for (int r = 0; r < PQntuples(res); r++)
        json_array_append_new(list, s_plan_json(res, r));
    json_t *body = json_object();
    json_object_set_new(body, "plans", list);
    cc_http_reply_json(&req, 200, body);
}

void od_plans_list(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    int bad = 0;
    const char *elder = cc_http_query_id(req, "elder_id", &bad);
    if (bad)
        return;
    if (!elder || !*elder) {
        cc_http_reply_error(&req, 400, "missing_field", "elder_id", "elder_id is required");
        return;
    }
    if (s_family_elder(&req, elder) != 0)
        return;
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_PLAN_LIST]);
    cc_args_text(&a, "elder", elder);
    if (cc_db_call(app->rt.reader, &a, s_on_list, req) != 0)
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot queue the query");
}

static void s_on_get(PGresult *res, void *arg)
{
    cc_http_req_t *req = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_read_failed(&req, "plan", res);
        return;
    }
    if (PQntuples(res) != 1) {
        if (s_family_elder(&req, NULL) == 0)
            cc_http_reply_error(&req, 404, "not_found", "id", "no plan with this id");
        return;
    }
    if (s_family_elder(&req, PQgetvalue(res, 0, 1)) != 0)
        return;
    json_t *body = s_plan_json(res, 0);
    json_t *occ = json_loads(PQgetvalue(res, 0, OD_PLAN_NCOLS), 0, NULL);
    json_object_set_new(body, "occurrences", occ ? occ : json_array());
    cc_http_reply_json(&req, 200, body);
}

void od_plans_get(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_PLAN_GET]);
    cc_args_text(&a, "id", cc_http_path_param(req, "id"));
    if (cc_db_call(app->rt.reader, &a, s_on_get, req) != 0)
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot queue the query");
}

/* ---- cancelling occurrences ------------------------------------------------------ */
typedef struct {
    od_app_t *app;
    char order_id[CC_UUID_LEN];
    int stepped;
} s_cancel_t;

static void s_on_cancelled(PGresult *res, void *arg)
{
    s_cancel_t *x = arg;
    od_order_t *o = cc_map_get(x->app->orders, x->order_id);
    if (od_app_write_ok(x->app, "od_order_cancel", res, NULL) != 0) {
        if (o && x->stepped && --o->pending == 0)
            o->next = o->state;
        free(x);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_order_cancel", res);
    if (o && x->stepped) {
        o->pending--;
        int s = od_state_parse(PQgetvalue(res, 0, 1));
        if (s >= 0)
            od_app_order_committed(x->app, o, (od_state_t)s);   /* may free o */
        else if (o->pending == 0)
            o->next = o->state;
    }
    cc_info("plan_occurrence_cancelled", "order_id", x->order_id, "outcome",
            PQgetvalue(res, 0, 0));
    free(x);
}

/* Cancel one occurrence as POST /v1/orders/{id}/cancel does (the same SQL
 * function, event and memory steps); one already past cancelling is left. */
static void s_cancel(od_app_t *app, const char *order_id, const char *why)
{
    od_order_t *o = cc_map_get(app->orders, order_id);
    uint8_t *payload = NULL;
    size_t len = 0;
    s_cancel_t *x = cc_xcalloc(sizeof *x, "plan cancel");
    x->app = app;
    snprintf(x->order_id, sizeof x->order_id, "%s", order_id);
    if (o) {
        od_step_t st = od_step(o->next, OD_EV_CANCEL);
        if (!st.changes) {
            free(x);
            return;
        }
        o->next = st.to;
        o->pending++;
        x->stepped = 1;
        Cc__OrderCancelled m = CC__ORDER_CANCELLED__INIT;
        m.order_id = o->id;
        m.reason = (char *)why;
        m.card_id = o->card->id;
        payload = cc_event_pack(&m.base, &len);
        if (!payload) {
            cc_error("out_of_memory", "what", "plan cancel");
            exit(1);
        }
    }
    char event_id[CC_UUID_LEN];
    cc_uuid(event_id);
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_ORDER_CANCEL]);
    cc_args_text(&a, "order", x->order_id);
    cc_args_text(&a, "reason", why);
    cc_args_text(&a, "event_id", event_id);
    cc_args_bytes(&a, "payload", payload ? (const void *)payload : "", len);
    if (cc_db_call(app->rt.writer, &a, s_on_cancelled, x) != 0) {
        cc_error("db_queue_failed", "what", "od_order_cancel");
        exit(1);
    }
    free(payload);
}

/* "{id,id}" (a uuid[] as text) -> a cancel each; returns how many. */
static int s_cancel_list(od_app_t *app, const char *arr, const char *why)
{
    int n = 0;
    const char *p = arr;
    while (p && *p) {
        while (*p == '{' || *p == ',' || *p == '}')
            p++;
        if (!*p)
            break;
        char id[CC_UUID_LEN];
        size_t k = strcspn(p, ",}");
        if (k == CC_UUID_LEN - 1) {
            memcpy(id, p, k);
            id[k] = 0;
            s_cancel(app, id, why);
            n++;
        }
        p += k;
    }
    return n;
}

/* ---- changes ------------------------------------------------------------------- */
typedef struct {
    od_app_t *app;
    cc_http_req_t *req;
    char plan_id[CC_UUID_LEN];
    const char *action;
    char day[11];
    od_plan_req_t *plan;      /* create / patch */
    int read_rev;             /* patch */
} s_change_t;

static s_change_t *s_change_new(od_app_t *app, cc_http_req_t *req, const char *action)
{
    s_change_t *x = cc_xcalloc(sizeof *x, "plan change");
    x->app = app;
    x->req = req;
    x->action = action;
    s_gen.changes_in_flight++;
    return x;
}

/* A change answered: the generator's reads from before it are stale. */
static void s_change_done(s_change_t *x, int committed)
{
    s_gen.changes_in_flight--;
    if (committed)
        s_gen.epoch++;
    /* A run dropped while this change was in flight waits for this kick. */
    if (committed || s_gen.changes_in_flight == 0)
        od_plans_kick(x->app);
    free(x->plan);
    free(x);
}

static void s_queue(od_app_t *app, cc_args_t *a, cc_db_fn *fn, s_change_t *x, const char *what)
{
    if (cc_db_call(app->rt.writer, a, fn, x) != 0) {
        cc_error("db_queue_failed", "what", what);
        exit(1);
    }
}

/* r's strings are borrowed until the call is queued: keep r alive. */
static void s_args_plan(cc_args_t *a, od_plan_req_t *r)
{
    od_day_format(r->starts_on, r->starts_s, sizeof r->starts_s);
    od_day_format(r->ends_on, r->ends_s, sizeof r->ends_s);
    if (*r->card_id)
        cc_args_text(a, "card", r->card_id);
    else
        cc_args_null(a, "card");
    cc_args_text(a, "rrule", r->rrule);
    cc_args_int(a, "ws", r->window_start_min);
    cc_args_int(a, "we", r->window_end_min);
    cc_args_text(a, "starts", r->starts_s);
    if (r->has_ends_on)
        cc_args_text(a, "ends", r->ends_s);
    else
        cc_args_null(a, "ends");
    if (*r->meal_point_id)
        cc_args_text(a, "meal_point", r->meal_point_id);
    else
        cc_args_null(a, "meal_point");
    if (r->has_diet)
        cc_args_text(a, "diet", r->diet);
    else
        cc_args_null(a, "diet");
    if (r->meal_mode >= 0)
        cc_args_text(a, "meal_mode", od_meal_mode_names[r->meal_mode]);
    else
        cc_args_null(a, "meal_mode");
    cc_args_text(a, "notes", r->notes);
}

static void s_reply_id(cc_http_req_t **req, int status, const char *plan_id, const char *extra_k,
                       json_t *extra_v)
{
    json_t *body = json_object();
    json_object_set_new(body, "plan_id", json_string(plan_id));
    if (extra_k)
        json_object_set_new(body, extra_k, extra_v);
    cc_http_reply_json(req, status, body);
}

static void s_on_created(PGresult *res, void *arg)
{
    s_change_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "od_plan_create", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);
        s_change_done(x, 0);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_plan_create", res);
    const char *o = PQgetvalue(res, 0, 0);
    if (strcmp(o, "created") == 0) {
        cc_info("plan_created", "plan_id", x->plan_id, "elder_id", x->plan->elder_id);
        s_reply_id(&x->req, 201, x->plan_id, "status", json_string("active"));
        s_change_done(x, 1);
        return;
    }
    if (strcmp(o, "unknown_elder") == 0)
        cc_http_reply_error(&x->req, 422, "unknown_elder", "elder_id", "no elder with this id");
    else if (strcmp(o, "elder_not_active") == 0)
        cc_http_reply_error(&x->req, 422, "elder_not_active", "elder_id",
                            "the elder is not active (in hospital, moved away or deceased)");
    else if (strcmp(o, "no_active_card") == 0)
        cc_http_reply_error(&x->req, 422, "no_active_card", "card_id",
                            "the elder has no active card: issue one or name a card_id");
    else if (strcmp(o, "card_not_elders") == 0)
        cc_http_reply_error(&x->req, 422, "card_not_elders", "card_id",
                            "this card belongs to another elder");
    else if (strcmp(o, "card_not_active") == 0)
        cc_http_reply_error(&x->req, 422, "card_blocked", "card_id", "the card is not active");
    else
        cc_http_reply_error(&x->req, 422, "unknown_card", "card_id", "no card with this id");
    s_change_done(x, 0);
}

void od_plans_post(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    od_plan_req_t r;
    cc_err_t err;
    const char *part = NULL;
    if (od_plan_req_from_json(cc_http_json(req), &r, &part, &err) != 0) {
        s_reply_plan_err(&req, &err, part);
        return;
    }
    if (!cc_map_get(app->elders, r.elder_id)) {
        cc_http_reply_error(&req, 422, "unknown_elder", "elder_id", "no elder with this id");
        return;
    }
    s_change_t *x = s_change_new(app, req, "create");
    x->plan = cc_xcalloc(sizeof *x->plan, "plan");
    *x->plan = r;
    cc_uuid(x->plan_id);
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_PLAN_CREATE]);
    cc_args_text(&a, "id", x->plan_id);
    cc_args_text(&a, "elder", r.elder_id);
    cc_args_text(&a, "service", od_service_name(r.service));
    s_args_plan(&a, x->plan);
    s_queue(app, &a, s_on_created, x, "od_plan_create");
}

/* The answer of od_plan_update / od_plan_set / od_plan_skip: outcome, rev,
 * cancel. */
static void s_on_changed(PGresult *res, void *arg)
{
    s_change_t *x = arg;
    cc_err_t err;
    const char *what = x->action;
    if (od_app_write_ok(x->app, "od_plan_change", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);
        s_change_done(x, 0);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_plan_change", res);
    const char *o = PQgetvalue(res, 0, 0);
    if (strcmp(o, "unknown_plan") == 0) {
        cc_http_reply_error(&x->req, 404, "not_found", "id", "no plan with this id");
    } else if (strcmp(o, "ended") == 0) {
        cc_http_reply_error(&x->req, 409, "plan_ended", "status", "the plan has ended");
    } else if (strcmp(o, "conflict") == 0) {
        cc_http_reply_error(&x->req, 409, "changed_meanwhile", "rev",
                            "the plan changed while this change was made; retry");
    } else if (strcmp(o, "not_active") == 0) {
        cc_http_reply_error(&x->req, 409, "not_active", "status", "the plan is not active");
    } else if (strcmp(o, "not_paused") == 0) {
        cc_http_reply_error(&x->req, 409, "not_paused", "status", "the plan is not paused");
    } else if (strcmp(o, "before_start") == 0) {
        cc_http_reply_error(&x->req, 422, "invalid_value", "on", "on is before starts_on");
    } else if (strcmp(o, "started") == 0) {
        cc_http_reply_error(&x->req, 409, "already_started", "date",
                            "the occurrence of this date has begun");
    } else {
        char why[64];
        snprintf(why, sizeof why, "plan %s", what);
        int n = s_cancel_list(x->app, PQgetvalue(res, 0, 2), why);
        cc_info("plan_changed", "plan_id", x->plan_id, "action", what);
        json_t *body = json_object();
        json_object_set_new(body, "plan_id", json_string(x->plan_id));
        json_object_set_new(body, "rev", json_integer(atoll(PQgetvalue(res, 0, 1))));
        json_object_set_new(body, "cancelled", json_integer(n));
        cc_http_reply_json(&x->req, 200, body);
        s_change_done(x, 1);
        return;
    }
    s_change_done(x, 0);
}

static void s_set(cc_http_req_t *req, od_app_t *app, const char *action, const char *day)
{
    s_change_t *x = s_change_new(app, req, action);
    snprintf(x->plan_id, sizeof x->plan_id, "%s", cc_http_path_param(req, "id"));
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_PLAN_SET]);
    cc_args_text(&a, "id", x->plan_id);
    cc_args_text(&a, "action", action);
    if (day)
        cc_args_text(&a, "day", day);
    else
        cc_args_null(&a, "day");
    cc_args_int(&a, "now_us", cc_now_us());
    s_queue(app, &a, s_on_changed, x, "od_plan_set");
}

/* Pause and resume take no fields: a body, if sent, must be {} (a field
 * there is a caller's mistake, answered rather than ignored). 0, or -1
 * having answered. */
static int s_no_fields(cc_http_req_t **req)
{
    static const char *const none[] = { NULL };
    size_t len = 0;
    cc_http_body(*req, &len);
    if (len == 0)
        return 0;
    json_t *body = cc_http_json_body(*req);
    if (!body)
        return -1;   /* answered */
    cc_err_t err;
    int rc = cc_json_only(body, none, &err);
    json_decref(body);
    if (rc != 0)
        cc_http_reply_err(req, &err);
    return rc;
}

void od_plans_pause(cc_http_req_t *req, void *arg)
{
    if (s_no_fields(&req) == 0)
        s_set(req, arg, "pause", NULL);
}

void od_plans_resume(cc_http_req_t *req, void *arg)
{
    if (s_no_fields(&req) == 0)
        s_set(req, arg, "resume", NULL);
}

/* A body {field: "YYYY-MM-DD"} for skip (date) and end (on). */
static int s_day_body(cc_http_req_t **req, const char *field, int32_t *day)
{
    static const char *const k_date[] = { "date", NULL }, *const k_on[] = { "on", NULL };
    cc_err_t err;
    json_t *body = cc_http_json(*req);
    if (cc_json_only(body, field[0] == 'd' ? k_date : k_on, &err) != 0 ||
        s_date_field(body, field, 1, day, NULL, &err) != 0) {
        cc_http_reply_err(req, &err);
        return -1;
    }
    if (*day < s_today(cc_now_us())) {
        cc_http_reply_error(req, 422, "invalid_value", field, "the date is in the past");
        return -1;
    }
    return 0;
}

void od_plans_end(cc_http_req_t *req, void *arg)
{
    int32_t day;
    char buf[16];
    if (s_day_body(&req, "on", &day) == 0)
        s_set(req, arg, "end", od_day_format(day, buf, sizeof buf));
}

void od_plans_skip(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    int32_t day;
    if (s_day_body(&req, "date", &day) != 0)
        return;
    s_change_t *x = s_change_new(app, req, "skip");
    snprintf(x->plan_id, sizeof x->plan_id, "%s", cc_http_path_param(req, "id"));
    od_day_format(day, x->day, sizeof x->day);
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_PLAN_SKIP]);
    cc_args_text(&a, "id", x->plan_id);
    cc_args_text(&a, "day", x->day);
    cc_args_int(&a, "now_us", cc_now_us());
    s_queue(app, &a, s_on_changed, x, "od_plan_skip");
}

/* PATCH: read the plan, lay the body's fields over it, validate the whole
 * as a POST, write it against the rev read (a change meanwhile: 409). */
static void s_on_patch_read(PGresult *res, void *arg)
{
    s_change_t *x = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_read_failed(&x->req, "plan", res);
        s_change_done(x, 0);
        return;
    }
    if (PQntuples(res) != 1) {
        cc_http_reply_error(&x->req, 404, "not_found", "id", "no plan with this id");
        s_change_done(x, 0);
        return;
    }
    json_t *patch = cc_http_json(x->req);
    cc_err_t err;
    static const char *const fixed[] = { "elder_id", "service", NULL };
    for (int i = 0; fixed[i]; i++)
        if (json_object_get(patch, fixed[i])) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s cannot be changed: end this plan and create another",
                     fixed[i]);
            cc_http_reply_error(&x->req, 400, "immutable", fixed[i], msg);
            s_change_done(x, 0);
            return;
        }
    json_t *cur = s_plan_json(res, 0);
    json_t *merged = json_object();
    static const char *const keep[] = { "elder_id", "card_id", "service", "rrule",
        "window_start", "window_end", "starts_on", "ends_on", "meal_point_id", "diet",
        "meal_mode", "notes", NULL };
    for (int i = 0; keep[i]; i++) {
        json_t *v = json_object_get(cur, keep[i]);
        if (v && !json_is_null(v))
            json_object_set(merged, keep[i], v);
    }
    x->read_rev = (int)json_integer_value(json_object_get(cur, "rev"));
    json_decref(cur);
    const char *k;
    json_t *v;
    int bad = 0;
    json_object_foreach(patch, k, v) {
        int known = 0;
        for (int i = 0; keep[i]; i++)
            known |= strcmp(k, keep[i]) == 0;
        if (!known) {
            cc_err_set(&err, 400, "unknown_field", k, "unknown field");
            bad = 1;
            break;
        }
        if (json_is_null(v))
            json_object_del(merged, k);   /* null clears an optional field */
        else
            json_object_set(merged, k, v);
    }
    const char *part = NULL;
    od_plan_req_t r;
    if (!bad && od_plan_req_from_json(merged, &r, &part, &err) != 0)
        bad = 1;
    json_decref(merged);
    if (bad) {
        s_reply_plan_err(&x->req, &err, part);
        s_change_done(x, 0);
        return;
    }
    x->plan = cc_xcalloc(sizeof *x->plan, "plan");
    *x->plan = r;
    /* Which fields changed, for the plan's history (names only). */
    char detail[256] = "";
    json_object_foreach(patch, k, v) {
        if (strlen(detail) + strlen(k) + 2 < sizeof detail) {
            if (*detail)
                strcat(detail, ",");
            strcat(detail, k);
        }
    }
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_PLAN_UPDATE]);
    cc_args_text(&a, "id", x->plan_id);
    cc_args_int(&a, "rev", x->read_rev);
    s_args_plan(&a, x->plan);
    cc_args_int(&a, "now_us", cc_now_us());
    cc_args_text(&a, "detail", detail);
    s_queue(x->app, &a, s_on_changed, x, "od_plan_update");
}

void od_plans_patch(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    s_change_t *x = s_change_new(app, req, "update");
    snprintf(x->plan_id, sizeof x->plan_id, "%s", cc_http_path_param(req, "id"));
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_PLAN_GET]);
    cc_args_text(&a, "id", x->plan_id);
    if (cc_db_call(app->rt.reader, &a, s_on_patch_read, x) != 0) {
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot queue the query");
        x->req = NULL;
        s_change_done(x, 0);
    }
}

/* ---- the generator --------------------------------------------------------------- */
typedef struct {
    char plan_id[CC_UUID_LEN];
    char day[11];
} s_occ_t;

static void s_run_end(void);

static void s_on_occ(void *ctx, int status, const char *order_id, const char *state,
                     const cc_err_t *err)
{
    s_occ_t *o = ctx;
    (void)state;
    if (status >= 400) {
        cc_metric_inc(s_gen.m_occ[S_OCC_REFUSED]);
        cc_warn("plan_occurrence_refused", "plan_id", o->plan_id, "date", o->day, "error",
                err ? err->error : "", "field", err ? err->field : "");
    } else {
        cc_metric_inc(s_gen.m_occ[status == 202 ? S_OCC_CREATED : S_OCC_EXISTING]);
        if (status == 202)
            cc_info("plan_occurrence_placed", "plan_id", o->plan_id, "date", o->day, "order_id",
                    order_id);
    }
    free(o);
}

static void s_on_generated(PGresult *res, void *arg)
{
    od_app_t *app = arg;
    s_gen.passes--;
    (void)od_app_write_ok(app, "od_plan_generated", res, NULL);
    s_run_end();
}

/* A run's placements, sent in one statement (od_app_place_many). */
typedef struct {
    od_order_req_t *reqs;
    void **ctxs;
    int n, cap;
} s_batch_t;

static void s_batch_add(s_batch_t *b, const od_order_req_t *r, s_occ_t *o)
{
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        od_order_req_t *reqs = realloc(b->reqs, (size_t)cap * sizeof *reqs);
        void **ctxs = realloc(b->ctxs, (size_t)cap * sizeof *ctxs);
        if (!reqs || !ctxs) {
            cc_error("out_of_memory", "what", "plan batch");
            exit(1);
        }
        b->reqs = reqs;
        b->ctxs = ctxs;
        b->cap = cap;
    }
    b->reqs[b->n] = *r;
    b->ctxs[b->n++] = o;
}

/* One plan's occurrences in [from, to], at most budget of them, added to
 * batch; returns how many and sets *through to the last date covered. */
static int s_place_plan(od_app_t *app, PGresult *res, int row, int32_t today, int32_t last,
                        int64_t now_us, int budget, int32_t *through, s_batch_t *batch)
{
    (void)app;
    const char *id = PQgetvalue(res, row, 0);
    od_rrule_t rule;
    int32_t starts, ends = last, gen = 0;
    *through = last;
    if (od_rrule_parse(PQgetvalue(res, row, 3), &rule, NULL, NULL) != 0 ||
        od_day_parse(PQgetvalue(res, row, 6), &starts) != 0) {
        cc_warn("plan_unreadable", "plan_id", id);
        return 0;   /* marked generated: a bad row is not retried each tick */
    }
    if (!PQgetisnull(res, row, 7) && od_day_parse(PQgetvalue(res, row, 7), &ends) == 0 &&
        ends < last)
        *through = last = ends;
    int32_t from = today;
    if (!PQgetisnull(res, row, 8) && od_day_parse(PQgetvalue(res, row, 8), &gen) == 0 &&
        gen + 1 > from)
        from = gen + 1;
    if (starts > from)
        from = starts;
    if (from > last)
        return 0;
    int32_t days[64];
    int max = budget < 64 ? budget : 64;
    int n = od_rrule_expand(&rule, starts, from, last, days, max);
    if (n == max) {
        *through = days[n - 1];   /* more may follow: carry on from here next time */
        s_gen.partial = 1;
    }
    json_t *skips = json_loads(PQgetvalue(res, row, 12), 0, NULL);
    json_t *taken = json_loads(PQgetvalue(res, row, 13), 0, NULL);
    int ws = atoi(PQgetvalue(res, row, 4)), we = atoi(PQgetvalue(res, row, 5));
    int rev = atoi(PQgetvalue(res, row, 1));
    int service = od_service_parse(PQgetvalue(res, row, 2));
    const char *card = PQgetisnull(res, row, 9) ? "" : PQgetvalue(res, row, 9);
    const char *mode = PQgetisnull(res, row, 10) ? "" : PQgetvalue(res, row, 10);
    int placed = 0;
    for (int i = 0; i < n; i++) {
        char day[11];
        od_day_format(days[i], day, sizeof day);
        int skipped = 0;
        size_t j;
        json_t *v;
        json_array_foreach(skips, j, v)
            if (json_is_string(v) && strcmp(json_string_value(v), day) == 0)
                skipped = 1;
        json_array_foreach(taken, j, v)
            if (json_is_string(v) && strcmp(json_string_value(v), day) == 0)
                skipped = 1;
        od_order_req_t r;
        memset(&r, 0, sizeof r);
        r.window_start_us = s_local_us(days[i], ws);
        r.window_end_us = s_local_us(days[i], we);
        /* Only occurrences still to begin: a change never re-places what
         * has started, and a plan made at 10:30 has no 09:00 bath today. */
        if (skipped || r.window_start_us <= now_us)
            continue;
        if (rev > 1)
            snprintf(r.key, sizeof r.key, "plan:%s:%s:r%d", id, day, rev);
        else
            snprintf(r.key, sizeof r.key, "plan:%s:%s", id, day);
        snprintf(r.card_id, sizeof r.card_id, "%s", card);
        snprintf(r.notes, sizeof r.notes, "%s", PQgetvalue(res, row, 11));
        r.service = service;
        r.meal_mode = strcmp(mode, "eat_in") == 0 ? CC__MEAL_MODE__MEAL_EAT_IN
                                                  : CC__MEAL_MODE__MEAL_DELIVERY;
        snprintf(r.meal_point_id, sizeof r.meal_point_id, "%s", PQgetvalue(res, row, 14));
        snprintf(r.diet, sizeof r.diet, "%s", PQgetvalue(res, row, 15));
        s_occ_t *o = cc_xcalloc(sizeof *o, "plan occurrence");
        snprintf(o->plan_id, sizeof o->plan_id, "%s", id);
        snprintf(o->day, sizeof o->day, "%s", day);
        cc_err_t err;
        if (!*card) {
            cc_err_set(&err, 422, "no_active_card", "card_id", "the elder has no active card");
            s_on_occ(o, 422, NULL, NULL, &err);
        } else if (od_order_req_check(&r, now_us, &err) != 0) {
            s_on_occ(o, err.status, NULL, NULL, &err);
        } else {
            s_batch_add(batch, &r, o);
        }
        placed++;
    }
    json_decref(skips);
    json_decref(taken);
    return placed;
}

static void s_read_due(od_app_t *app);

/* Hold the next pass while one is committing and another queued behind
 * it (a pass is read while the last one commits, no more), or while the
 * writer holds --gen-pace statements or more: a call centre's write queued
 * meanwhile waits behind about one batch, not a pile of them. */
#define S_PASSES_MAX 2
static int s_writer_behind(od_app_t *app)
{
    return s_gen.passes >= S_PASSES_MAX ||
           cc_rt_writer_pending(&app->rt) >= (int)app->gen_pace;
}

/* The next pass of a sweep: at once if the writer keeps up, else when it
 * does (the run stays open meanwhile: pending counts the held read). */
static void s_read_next(od_app_t *app)
{
    if (app->rt.stopping)
        return;
    if (!s_writer_behind(app)) {
        s_read_due(app);
        return;
    }
    s_gen.pending++;
    struct timeval soon = { 0, 5000 };
    evtimer_add(s_gen.pace, &soon);
}

static void s_on_pace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    od_app_t *app = arg;
    if (!app->rt.stopping && s_writer_behind(app)) {
        struct timeval soon = { 0, 5000 };
        evtimer_add(s_gen.pace, &soon);
        return;
    }
    /* A change since the sweep began drops this read (s_on_due). */
    if (!app->rt.stopping)
        s_read_due(app);
    s_run_end();
}

static void s_on_due(PGresult *res, void *arg)
{
    od_app_t *app = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        cc_warn("db_read_failed", "what", "plans_due", "sqlstate", st ? st : "");
        s_run_end();
        return;
    }
    /* A plan change committed (or still in flight) since this read began:
     * what was read may be the old rule. Read again rather than place it. */
    if (s_gen.epoch != s_gen.run_epoch || s_gen.changes_in_flight > 0) {
        cc_metric_inc(s_gen.m_dropped);
        if (s_gen.changes_in_flight == 0)
            s_gen.again = 1;   /* else the change's answer kicks (s_change_done) */
        s_run_end();
        return;
    }
    int64_t now = cc_now_us();
    int32_t today = s_today(now), last = today + (int32_t)app->plan_horizon_days - 1;
    int budget = (int)app->plan_batch;
    int rows = PQntuples(res), done = 0;
    s_batch_t batch = { 0 };
    int32_t *through = malloc((size_t)(rows ? rows : 1) * sizeof *through);
    if (!through) {
        cc_error("out_of_memory", "what", "plan batch");
        exit(1);
    }
    for (; done < rows && budget > 0; done++)
        budget -= s_place_plan(app, res, done, today, last, now, budget, &through[done],
                               &batch);
    /* The run's occurrences in one statement, queued before the marks. */
    if (batch.n)
        od_app_place_many(app, batch.reqs, batch.n, "plan", s_on_occ, batch.ctxs);
    free(batch.reqs);
    free(batch.ctxs);
    /* The marks, after the placements on the same writer: moved only once
     * they committed (a crash before re-places them under the same keys).
     * All of the run's in one statement (uuids, integers and dates need no
     * quoting in an array literal). */
    if (done > 0) {
        size_t cap = (size_t)done * (CC_UUID_LEN + 1) + 3;
        char *ids = malloc(cap), *revs = malloc((size_t)done * 12 + 3),
             *days = malloc((size_t)done * 12 + 3);
        if (!ids || !revs || !days) {
            cc_error("out_of_memory", "what", "plan marks");
            exit(1);
        }
        size_t li = 0, lr = 0, ld = 0;
        for (int r = 0; r < done; r++) {
            char buf[16];
            const char *sep = r ? "," : "{";
            li += (size_t)sprintf(ids + li, "%s%s", sep, PQgetvalue(res, r, 0));
            lr += (size_t)sprintf(revs + lr, "%s%d", sep, atoi(PQgetvalue(res, r, 1)));
            ld += (size_t)sprintf(days + ld, "%s%s", sep,
                                  od_day_format(through[r], buf, sizeof buf));
        }
        strcpy(ids + li, "}");
        strcpy(revs + lr, "}");
        strcpy(days + ld, "}");
        cc_args_t a;
        cc_args_init(&a, &od_stmts[OD_ST_PLANS_GENERATED]);
        cc_args_text(&a, "ids", ids);
        cc_args_text(&a, "revs", revs);
        cc_args_text(&a, "throughs", days);
        s_gen.pending++;
        s_gen.passes++;
        if (cc_db_call(app->rt.writer, &a, s_on_generated, app) != 0) {
            cc_error("db_queue_failed", "what", "od_plans_generated");
            exit(1);
        }
        free(ids);
        free(revs);
        free(days);
    }
    free(through);
    if (done > 0) {
        /* Read on after the last plan taken: the next pass never reads a plan
         * whose marks have not committed (its old generated_through sorts at
         * or before the cursor). */
        s_gen.has_cursor = 1;
        snprintf(s_gen.cur_through, sizeof s_gen.cur_through, "%s",
                 PQgetisnull(res, done - 1, 8) ? "" : PQgetvalue(res, done - 1, 8));
        snprintf(s_gen.cur_id, sizeof s_gen.cur_id, "%s", PQgetvalue(res, done - 1, 0));
    }
    if (budget <= 0 || rows == (int)app->plan_batch) {
        s_read_next(app);   /* more in this sweep: read on while these commit */
    } else {
        /* The sweep is over. A plan placed short of its last day (more than
         * 64 dates, or the budget ran out inside it) moved on, so it may sort
         * before the cursor: a new sweep from the start, once all committed. */
        s_gen.has_cursor = 0;
        if (s_gen.partial)
            s_gen.again = s_gen.backlog = 1;
        s_gen.partial = 0;
    }
    s_run_end();
}

static void s_read_due(od_app_t *app)
{
    int64_t now = cc_now_us();
    int32_t today = s_today(now), last = today + (int32_t)app->plan_horizon_days - 1;
    char t[16], l[16];
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_PLANS_DUE]);
    cc_args_text(&a, "today", od_day_format(today, t, sizeof t));
    cc_args_text(&a, "last", od_day_format(last, l, sizeof l));
    cc_args_int(&a, "limit", app->plan_batch);
    if (s_gen.has_cursor) {
        cc_args_text(&a, "after_through", s_gen.cur_through);
        cc_args_text(&a, "after_id", s_gen.cur_id);
    } else {
        cc_args_null(&a, "after_through");
        cc_args_null(&a, "after_id");
    }
    s_gen.pending++;
    if (cc_db_call(app->bulk, &a, s_on_due, app) != 0) {
        s_gen.pending--;
        cc_warn("db_queue_failed", "what", "od_plans_due");
    }
}

static void s_on_ended(PGresult *res, void *arg)
{
    od_app_t *app = arg;
    if (od_app_write_ok(app, "od_plans_end_inactive", res, NULL) == 0) {
        for (int r = 0; r < PQntuples(res); r++) {
            cc_metric_inc(s_gen.m_ended);
            cc_info("plan_ended", "plan_id", PQgetvalue(res, r, 0), "reason", "elder_not_active");
            s_cancel_list(app, PQgetvalue(res, r, 1), "plan ended: elder not active");
        }
        if (PQntuples(res) > 0)
            s_gen.epoch++;
        s_gen.run_epoch = s_gen.epoch;
        s_gen.has_cursor = 0;   /* a full pass: the sweep from the start */
        s_gen.partial = 0;
        s_read_due(app);
    }
    s_run_end();
}

/* The run's last answer ends it: time it, and go again if asked. */
static void s_run_end(void)
{
    if (--s_gen.pending > 0)
        return;
    s_gen.running = 0;
    cc_metric_observe(s_gen.m_run_s, (double)(cc_mono_us() - s_gen.t0_us) / CC_US_PER_S);
    if (s_gen.again && s_gen.timer && !s_gen.app->rt.stopping) {
        /* More due, or a change came meanwhile: the next pass of the loop
         * (requests waiting get their turn first; no pause, or a large
         * backlog would take 50 ms per batch). */
        s_gen.again = 0;
        struct timeval now = { 0, 0 };
        evtimer_add(s_gen.timer, &now);
    }
}

static void s_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    od_app_t *app = arg;
    struct timeval next = { app->plan_interval_s, 0 };
    evtimer_add(s_gen.timer, &next);
    if (s_gen.running) {
        s_gen.again = 1;
        return;
    }
    if (!app->rt.loaded || app->rt.stopping)
        return;
    if (cc_rt_admit_write(&app->rt)) {
        /* The writer is behind: placements would only queue. Soon again. */
        struct timeval soon = { 1, 0 };
        evtimer_add(s_gen.timer, &soon);
        return;
    }
    s_gen.running = 1;
    s_gen.t0_us = cc_mono_us();
    cc_metric_inc(s_gen.m_runs);
    if (s_gen.backlog && !s_gen.kicked) {
        /* Going on with a backlog (a start with 100,000 elders' plans): the
         * plans of elders no longer active were ended by the run that began
         * it, and the due read skips them anyway; that scan on the writer at
         * every batch was a good part of a large catch-up. */
        s_gen.backlog = 0;
        s_gen.pending = 1;
        s_gen.run_epoch = s_gen.epoch;
        s_read_due(app);
        s_run_end();
        return;
    }
    s_gen.backlog = s_gen.kicked = 0;
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_PLANS_END_INACTIVE]);
    cc_args_int(&a, "now_us", cc_now_us());
    cc_args_int(&a, "limit", S_END_INACTIVE_BATCH);
    s_gen.pending = 1;
    if (cc_db_call(app->rt.writer, &a, s_on_ended, app) != 0) {
        cc_error("db_queue_failed", "what", "od_plans_end_inactive");
        exit(1);
    }
}

void od_plans_kick(od_app_t *app)
{
    if (!s_gen.timer || app->rt.stopping)
        return;
    s_gen.kicked = 1;   /* a change: the next run begins with the full pass */
    if (s_gen.running) {
        s_gen.again = 1;
        return;
    }
    /* Not at once: several changes in one pass of the loop make one run. */
    struct timeval soon = { 0, 50000 };
    evtimer_add(s_gen.timer, &soon);
}

int od_plans_init(od_app_t *app)
{
    s_gen.app = app;
    static const char *const names[3] = { "created", "existing", "refused" };
    char name[96];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "orderd_plan_occurrences_total{outcome=\"%s\"}", names[i]);
        s_gen.m_occ[i] = cc_metrics_counter(name, "Plan occurrences placed by the generator");
    }
    s_gen.m_runs = cc_metrics_counter("orderd_plan_generator_runs_total", "Generator runs");
    s_gen.m_run_s = cc_metrics_histogram("orderd_plan_generator_seconds",
                                         "Generator run time, first query to last commit");
    s_gen.m_dropped = cc_metrics_counter("orderd_plan_generator_stale_reads_total",
                                         "Generator reads dropped: a plan changed meanwhile");
    s_gen.m_ended = cc_metrics_counter("orderd_plans_ended_total{reason=\"elder_not_active\"}",
                                       "Plans ended by the generator");
    s_gen.timer = evtimer_new(app->rt.base, s_tick, app);
    s_gen.pace = evtimer_new(app->rt.base, s_on_pace, app);
    return s_gen.timer && s_gen.pace ? 0 : -1;
}

int od_plans_start(od_app_t *app)
{
    od_plans_kick(app);   /* catch up at once after a start */
    return 0;
}

void od_plans_stop(od_app_t *app)
{
    (void)app;
    if (s_gen.timer)
        evtimer_del(s_gen.timer);
    if (s_gen.pace)
        evtimer_del(s_gen.pace);
}

void od_plans_fini(od_app_t *app)
{
    (void)app;
    if (s_gen.timer)
        event_free(s_gen.timer);
    if (s_gen.pace)
        event_free(s_gen.pace);
    s_gen.timer = s_gen.pace = NULL;
}
