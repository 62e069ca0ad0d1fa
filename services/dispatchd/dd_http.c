/* dd_http: the caregiver app and dispatcher board API (docs/API-dispatchd.md).
 *
 * Reads answer from the working set. Writes decide against it, queue one
 * SQL call on the writer and answer from its result callback, i.e. after
 * COMMIT. Bad input is a 4xx naming the field; nothing is stored then. */
#include "dd_app.h"
#include "dd_store.h"
#include "cc_daemon.h"
#include "cc_event.h"
#include "cc_log.h"
#include "cc_util.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A check-in/out time may run a little ahead of our clock (phone clocks). */
#define S_FUTURE_SLACK_US (5LL * 60 * 1000000)

/* ---- JSON shapes -------------------------------------------------------- */

static json_t *s_time(int64_t us)
{
    if (us <= 0)
        return json_null();
    char buf[48];
    return json_string(cc_time_format(us, buf, sizeof buf));
}

static json_t *s_hhmm(int min)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%02d:%02d", min / 60, min % 60);
    return json_string(buf);
}

static json_t *s_str_or_null(const char *s)
{
    return s && s[0] ? json_string(s) : json_null();
}

static const char *s_service(int service)
{
    const char *n = cc_service_name(service);
    return n ? n : "unknown";
}

static json_t *s_visit_json(const dd_visit_t *v, int64_t now)
{
    json_t *o = json_object();
    json_object_set_new(o, "visit_id", json_string(v->id));
    json_object_set_new(o, "order_id", json_string(v->order_id));
    json_object_set_new(o, "elder_id", s_str_or_null(v->elder_id));
    json_object_set_new(o, "service", json_string(s_service(v->service)));
    json_object_set_new(o, "state", json_string(dd_visit_state_name(v->state)));
    json_object_set_new(o, "district_id", json_integer(v->district_id));
    json_object_set_new(o, "emergency", json_boolean(v->emergency));
    json_object_set_new(o, "priority", json_integer(v->priority));
    json_object_set_new(o, "ability_level", s_str_or_null(dd_ability_name(v->ability)));
    json_object_set_new(o, "window_start", s_time(v->window_start_us));
    json_object_set_new(o, "window_end", s_time(v->window_end_us));
    json_object_set_new(o, "duration_min", json_integer(dd_service_minutes(v->service)));
    json_object_set_new(o, "location", json_pack("{s:f, s:f}", "lat", v->lat, "lon", v->lon));
    json_object_set_new(o, "notes", s_str_or_null(v->notes));
    json_object_set_new(o, "preferred_caregiver_id", s_str_or_null(v->preferred_caregiver_id));
    int offered = v->state != DD_VISIT_WAITING && v->caregiver_id[0];
    json_object_set_new(o, "caregiver_id", offered ? json_string(v->caregiver_id) : json_null());
    json_object_set_new(o, "provider_id", offered ? s_str_or_null(v->provider_id) : json_null());
    int planned = dd_visit_state_planned(v->state) || v->state == DD_VISIT_COMPLETED;
    json_object_set_new(o, "eta", planned ? s_time(v->eta_us) : json_null());
    json_object_set_new(o, "planned_end", planned ? s_time(v->planned_end_us) : json_null());
    json_object_set_new(o, "travel_s", planned ? json_integer(v->travel_s) : json_null());
    json_object_set_new(o, "created_at", s_time(v->created_us));
    json_object_set_new(o, "assigned_at", offered ? s_time(v->assigned_us) : json_null());
    json_object_set_new(o, "accepted_at", s_time(v->accepted_us));
    if (v->checked_in_us > 0)
        json_object_set_new(o, "check_in", json_pack("{s:o, s:f, s:f, s:i}", "at",
                                                     s_time(v->checked_in_us), "lat", v->in_lat,
                                                     "lon", v->in_lon, "distance_m",
                                                     v->in_distance_m));
    else
        json_object_set_new(o, "check_in", json_null());
    if (v->checked_out_us > 0)
        json_object_set_new(o, "check_out", json_pack("{s:o, s:f, s:f, s:i}", "at",
                                                      s_time(v->checked_out_us), "lat",
                                                      v->out_lat, "lon", v->out_lon,
                                                      "distance_m", v->out_distance_m));
    else
        json_object_set_new(o, "check_out", json_null());
    json_object_set_new(o, "declined_count", json_integer((json_int_t) v->ndeclined));
    json_object_set_new(o, "fail_reason", s_str_or_null(v->fail_reason));
    if (v->state == DD_VISIT_WAITING || v->state == DD_VISIT_ASSIGNED)
        json_object_set_new(o, "waiting_s", json_integer((now - v->created_us) / 1000000));
    return o;
}

static json_t *s_caregiver_json(const dd_caregiver_t *c)
{
    json_t *skills = json_array();
    for (int s = 1; s <= DD_SVC_MAX; s++)
        if (dd_caregiver_has_skill(c, s))
            json_array_append_new(skills, json_string(s_service(s)));
    json_t *o = json_object();
    json_object_set_new(o, "caregiver_id", json_string(c->id));
    json_object_set_new(o, "provider_id", json_string(c->provider_id));
    json_object_set_new(o, "district_id", json_integer(c->district_id));
    json_object_set_new(o, "name", json_string(c->name ? c->name : ""));
    json_object_set_new(o, "lat", json_real(c->lat));
    json_object_set_new(o, "lon", json_real(c->lon));
    json_object_set_new(o, "skills", skills);
    json_object_set_new(o, "level", json_integer(c->level));
    json_object_set_new(o, "first_aid", json_boolean(c->first_aid));
    json_object_set_new(o, "shift_start", s_hhmm(c->shift_start_min));
    json_object_set_new(o, "shift_end", s_hhmm(c->shift_end_min));
    json_object_set_new(o, "planned_visits", json_integer((json_int_t) c->nplan));
    return o;
}

static int s_not_ready(dd_app_t *app, cc_http_req_t **req)
{
    if (app->loaded && !app->stopping)
        return 0;
    cc_http_reply_error(req, 503, "not_ready", NULL, "the working set is still loading");
    return 1;
}

/* ---- caregivers --------------------------------------------------------- */

typedef struct {
    dd_app_t *app;
    cc_http_req_t *req;
    char caregiver_id[DD_ID_LEN];
    int replay;
} s_cg_write_t;

static void s_on_cg_created(PGresult *res, void *arg)
{
    s_cg_write_t *w = arg;
    const char *r = dd_result_text(res);
    if (!r)
        dd_fatal_sql(DD_ST_CG_CREATE, res);
    if (!w->replay)
        w->app->dirty = 1;   /* waiting visits may fit the newcomer */
    cc_http_reply_json(&w->req, 201, json_pack("{s:s}", "caregiver_id", w->caregiver_id));
    free(w);
}

/* Parse "skills": a non-empty array of visit service names. */
static int s_parse_skills(json_t *body, uint32_t *out, cc_err_t *err)
{
    json_t *a = json_object_get(body, "skills");
    if (!a || json_is_null(a))
        return cc_err_set(err, 400, "missing_field", "skills", "skills is required");
    if (!json_is_array(a))
        return cc_err_set(err, 400, "wrong_type", "skills",
                          "skills must be an array of service names");
    if (json_array_size(a) == 0 || json_array_size(a) > 16)
        return cc_err_set(err, 400, "invalid_value", "skills",
                          "skills must list 1 to 16 services");
    uint32_t skills = 0;
    size_t i;
    json_t *s;
    json_array_foreach(a, i, s) {
        if (!json_is_string(s))
            return cc_err_set(err, 400, "wrong_type", "skills",
                              "skills must be an array of service names");
        int svc = cc_service_parse(json_string_value(s));
        if (!dd_service_is_visit(svc))
            return cc_err_set(err, 400, "invalid_value", "skills",
                              "skills[%zu] is not a visit service (bath, cleaning, escort, "
                              "medical_escort, emergency, visit, assessment)", i);
        skills |= 1u << svc;
    }
    *out = skills;
    return 0;
}

static int s_same_caregiver(const dd_caregiver_t *a, const dd_caregiver_t *b)
{
    return strcmp(a->provider_id, b->provider_id) == 0 && a->district_id == b->district_id
           && strcmp(a->name, b->name) == 0 && a->lat == b->lat && a->lon == b->lon
           && a->skills == b->skills && a->level == b->level && a->first_aid == b->first_aid
           && a->shift_start_min == b->shift_start_min && a->shift_end_min == b->shift_end_min;
}

static void s_exec_cg_create(dd_app_t *app, const dd_caregiver_t *c, cc_http_req_t *req,
                             int replay)
{
    s_cg_write_t *w = calloc(1, sizeof *w);
    if (!w) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    w->app = app;
    w->req = req;
    w->replay = replay;
    snprintf(w->caregiver_id, sizeof w->caregiver_id, "%s", c->id);
    char skills[160];
    dd_args_t a;
    dd_args_init(&a);
    dd_args_str(&a, c->id);
    dd_args_str(&a, c->idem_key);
    dd_args_str(&a, c->provider_id);
    dd_args_i64(&a, c->district_id);
    dd_args_str(&a, c->name);
    dd_args_f64(&a, c->lat);
    dd_args_f64(&a, c->lon);
    dd_args_str(&a, dd_skills_csv(c->skills, skills, sizeof skills));
    dd_args_i64(&a, c->level);
    dd_args_bool(&a, c->first_aid);
    dd_args_i64(&a, c->shift_start_min);
    dd_args_i64(&a, c->shift_end_min);
    if (cc_db_exec(app->writer, DD_ST_CG_CREATE, a.n, a.values, a.lengths, a.formats,
                   s_on_cg_created, w) != 0)
        dd_fatal_sql(DD_ST_CG_CREATE, NULL);
}

static void s_post_caregiver(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    if (s_not_ready(app, &req))
        return;
    json_t *body = cc_http_json_body(req);
    if (!body)
        return;
    cc_err_t err = {0};
    const char *name = NULL, *provider = NULL;
    int64_t district = 0, level = 0;
    double lat = 0, lon = 0;
    int first_aid = 0, ss = -1, se = -1;
    uint32_t skills = 0;
    const char *key = cc_http_header(req, "Idempotency-Key");
    if (cc_json_str(body, "name", 1, 200, &name, &err) || cc_json_str(body, "provider_id", 1,
                                                                     DD_ID_LEN - 1, &provider,
                                                                     &err)
        || cc_json_int(body, "district_id", 1, 1, INT32_MAX, &district, &err)
        || cc_json_num(body, "lat", 1, -90, 90, &lat, &err)
        || cc_json_num(body, "lon", 1, -180, 180, &lon, &err)
        || s_parse_skills(body, &skills, &err)
        || cc_json_int(body, "level", 1, 1, 3, &level, &err)
        || cc_json_bool(body, "first_aid", 0, &first_aid, &err)
        || cc_json_hhmm(body, "shift_start", 1, &ss, &err)
        || cc_json_hhmm(body, "shift_end", 1, &se, &err)) {
        json_decref(body);
        cc_http_reply_err(&req, &err);
        return;
    }
    if (!name[0] || !provider[0]) {
        const char *field = !name[0] ? "name" : "provider_id";   /* before body goes */
        json_decref(body);
        cc_http_reply_error(&req, 400, "invalid_value", field, "must not be empty");
        return;
    }
    if (key && (!key[0] || strlen(key) >= sizeof((dd_caregiver_t *) 0)->idem_key)) {
        json_decref(body);
        cc_http_reply_error(&req, 400, "invalid_value", "Idempotency-Key",
                            "Idempotency-Key must be 1 to 127 characters");
        return;
    }
    dd_caregiver_t *c = dd_caregiver_new();
    if (!c || !(c->name = strdup(name))) {
        dd_caregiver_free(&c);
        json_decref(body);
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    cc_uuid(c->id);
    snprintf(c->provider_id, sizeof c->provider_id, "%s", provider);
    if (key)
        snprintf(c->idem_key, sizeof c->idem_key, "%s", key);
    c->district_id = (uint32_t) district;
    c->lat = lat;
    c->lon = lon;
    c->skills = skills;
    c->level = (int) level;
    c->first_aid = first_aid;
    c->shift_start_min = ss;
    c->shift_end_min = se;
    json_decref(body);

    dd_caregiver_t *prior = key ? dd_world_caregiver_by_key(app->world, key) : NULL;
    if (prior) {
        int same = s_same_caregiver(prior, c);
        dd_caregiver_free(&c);
        if (!same) {
            cc_http_reply_error(&req, 409, "idempotency_conflict", "Idempotency-Key",
                                "this key was used with a different body");
            return;
        }
        /* Same request again: answer after the store confirms it (it may
         * still be in the batch in flight). */
        s_exec_cg_create(app, prior, req, 1);
        return;
    }
    dd_caregiver_t *keep = c;
    if (dd_world_add_caregiver(app->world, &c) != 0) {
        dd_caregiver_free(&c);
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    s_exec_cg_create(app, keep, req, 0);
    cc_info("caregiver_created", "caregiver_id", keep->id, "provider_id", keep->provider_id);
}

static dd_caregiver_t *s_caregiver_or_404(dd_app_t *app, cc_http_req_t **req)
{
    const char *id = cc_http_path_param(*req, "id");
    dd_caregiver_t *c = id ? dd_world_caregiver(app->world, id) : NULL;
    if (!c)
        cc_http_reply_error(req, 404, "not_found", "caregiver_id", "no such caregiver");
    return c;
}

static void s_get_caregiver(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    if (s_not_ready(app, &req))
        return;
    dd_caregiver_t *c = s_caregiver_or_404(app, &req);
    if (c)
        cc_http_reply_json(&req, 200, s_caregiver_json(c));
}

static void s_get_caregiver_visits(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    if (s_not_ready(app, &req))
        return;
    dd_caregiver_t *c = s_caregiver_or_404(app, &req);
    if (!c)
        return;
    int64_t now = cc_now_us();
    json_t *list = json_array();
    for (size_t i = 0; i < c->nplan; i++)   /* plan order: by planned start */
        json_array_append_new(list, s_visit_json(c->plan[i], now));
    cc_http_reply_json(&req, 200, json_pack("{s:s, s:o}", "caregiver_id", c->id, "visits",
                                            list));
}

/* ---- visits ------------------------------------------------------------- */

typedef struct {
    cc_http_req_t *req;
} s_lookup_t;

static void s_on_visit_read(PGresult *res, void *arg)
{
    s_lookup_t *l = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cc_http_reply_error(&l->req, 503, "unavailable", NULL, "the store is unavailable");
        free(l);
        return;
    }
    dd_world_t *tmp = dd_world_new();
    dd_visit_t *v = NULL;
    if (tmp && PQntuples(res) == 1 && dd_store_load_visits(tmp, res) == 1)
        v = dd_world_visit(tmp, PQgetvalue(res, 0, 0));
    if (v)
        cc_http_reply_json(&l->req, 200, s_visit_json(v, cc_now_us()));
    else
        cc_http_reply_error(&l->req, 404, "not_found", "visit_id", "no such visit");
    dd_world_destroy(&tmp);
    free(l);
}

/* ?district_id=N: 0 and *out when absent or valid; else answers 400. */
static int s_district_query(cc_http_req_t *req, uint32_t *out)
{
    const char *d = cc_http_query(req, "district_id");
    *out = 0;
    if (!d)
        return 0;
    char *end = NULL;
    long long n = strtoll(d, &end, 10);
    if (!d[0] || !end || *end || d[0] == '-' || d[0] == '+' || n < 1 || n > INT32_MAX) {
        cc_http_reply_error(&req, 400, "invalid_value", "district_id",
                            "district_id must be a positive integer");
        return -1;
    }
    *out = (uint32_t) n;
    return 0;
}

static void s_get_visit(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    if (s_not_ready(app, &req))
        return;
    const char *id = cc_http_path_param(req, "id");
    dd_visit_t *v = id ? dd_world_visit(app->world, id) : NULL;
    if (v) {
        cc_http_reply_json(&req, 200, s_visit_json(v, cc_now_us()));
        return;
    }
    if (!id || !cc_uuid_valid(id)) {
        cc_http_reply_error(&req, 404, "not_found", "visit_id", "no such visit");
        return;
    }
    /* Open visits are all in memory; a finished one pruned from it (see
     * --keep-finished-s) is read from the store. */
    s_lookup_t *l = calloc(1, sizeof *l);
    if (!l) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    l->req = req;
    const char *values[1] = {id};
    if (cc_db_exec(app->reader, DD_ST_GET_VISIT, 1, values, NULL, NULL, s_on_visit_read, l)
        != 0) {
        free(l);
        cc_http_reply_error(&req, 503, "unavailable", NULL, "the store is unavailable");
    }
}

static void s_get_caregivers(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    if (s_not_ready(app, &req))
        return;
    uint32_t district = 0;
    if (s_district_query(req, &district) != 0)
        return;
    size_t n;
    dd_caregiver_t *const *cgs = dd_world_caregivers(app->world, &n);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        if (!district || cgs[i]->district_id == district)
            json_array_append_new(list, s_caregiver_json(cgs[i]));
    cc_http_reply_json(&req, 200, json_pack("{s:o}", "caregivers", list));
}

static void s_get_queue(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    if (s_not_ready(app, &req))
        return;
    uint32_t district = 0;
    if (s_district_query(req, &district) != 0)
        return;
    /* The board shows the most urgent first; limit caps the list (not the
     * depth) so a county-wide backlog stays cheap to serve. */
    long long limit = 500;
    const char *l = cc_http_query(req, "limit");
    if (l) {
        char *end = NULL;
        limit = strtoll(l, &end, 10);
        if (!l[0] || !end || *end || limit < 1 || limit > 10000) {
            cc_http_reply_error(&req, 400, "invalid_value", "limit",
                                "limit must be an integer from 1 to 10000");
            return;
        }
    }
    dd_visit_t **q = NULL;
    size_t n = dd_world_queue(app->world, district, &q);
    if (n == (size_t) -1) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    int64_t now = cc_now_us();
    json_t *list = json_array();
    for (size_t i = 0; i < n && i < (size_t) limit; i++)
        json_array_append_new(list, s_visit_json(q[i], now));
    free(q);
    json_t *o = json_object();
    json_object_set_new(o, "district_id", district ? json_integer(district) : json_null());
    json_object_set_new(o, "depth", json_integer((json_int_t) n));
    json_object_set_new(o, "visits", list);
    cc_http_reply_json(&req, 200, o);
}

typedef enum { S_ACCEPT, S_DECLINE, S_CHECK_IN, S_CHECK_OUT } s_op_t;

typedef struct {
    dd_app_t *app;
    cc_http_req_t *req;
    s_op_t op;
    char visit_id[DD_ID_LEN];
    char state[16];
    int distance_m;
} s_act_t;

static void s_on_action_done(PGresult *res, void *arg)
{
    s_act_t *w = arg;
    const char *r = dd_result_text(res);
    if (!r)
        dd_fatal_sql(w->op == S_ACCEPT ? DD_ST_ACCEPT : DD_ST_CHECK, res);
    json_t *body = json_pack("{s:s, s:s}", "visit_id", w->visit_id, "state", w->state);
    if (body && (w->op == S_CHECK_IN || w->op == S_CHECK_OUT))
        json_object_set_new(body, "distance_m", json_integer(w->distance_m));
    cc_http_reply_json(&w->req, 200, body);
    free(w);
}

static void s_reply_state(cc_http_req_t **req, const dd_visit_t *v)
{
    cc_http_reply_json(req, 200, json_pack("{s:s, s:s}", "visit_id", v->id, "state",
                                           dd_visit_state_name(v->state)));
}

static void s_illegal(cc_http_req_t **req, const dd_visit_t *v, const char *op)
{
    char msg[128];
    snprintf(msg, sizeof msg, "cannot %s: visit is %s", op, dd_visit_state_name(v->state));
    cc_http_reply_error(req, 409, "illegal_transition", "state", msg);
}

static void s_visit_action(cc_http_req_t *req, dd_app_t *app, s_op_t op)
{
    static const char *const names[] = {"accept", "decline", "check in", "check out"};
    if (s_not_ready(app, &req))
        return;
    const char *id = cc_http_path_param(req, "id");
    dd_visit_t *v = id ? dd_world_visit(app->world, id) : NULL;
    if (!v) {
        cc_http_reply_error(&req, 404, "not_found", "visit_id", "no such visit");
        return;
    }
    json_t *body = cc_http_json_body(req);
    if (!body)
        return;
    cc_err_t err = {0};
    const char *cg = NULL, *reason = NULL;
    double lat = 0, lon = 0;
    int64_t at = 0;
    int rc = cc_json_str(body, "caregiver_id", 1, DD_ID_LEN - 1, &cg, &err);
    if (rc == 0 && op == S_DECLINE)
        rc = cc_json_str(body, "reason", 0, 200, &reason, &err);
    if (rc == 0 && (op == S_CHECK_IN || op == S_CHECK_OUT)) {
        rc = cc_json_num(body, "lat", 1, -90, 90, &lat, &err);
        if (rc == 0)
            rc = cc_json_num(body, "lon", 1, -180, 180, &lon, &err);
        if (rc == 0)
            rc = cc_json_time(body, "at", 0, &at, &err);
        if (rc == 0 && at == 0)   /* "time" is accepted as an alias of "at" */
            rc = cc_json_time(body, "time", 0, &at, &err);
    }
    char caregiver_id[DD_ID_LEN];
    snprintf(caregiver_id, sizeof caregiver_id, "%s", cg ? cg : "");
    json_decref(body);
    if (rc != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    int64_t now = cc_now_us();
    if (at == 0)
        at = now;
    if (at > now + S_FUTURE_SLACK_US) {
        cc_http_reply_error(&req, 400, "invalid_value", "at", "at is in the future");
        return;
    }
    /* Legal from which state; a repeat of the step just done by the same
     * caregiver is answered as done (an app retrying after a lost reply). */
    dd_visit_state_t from, done;
    switch (op) {
    case S_ACCEPT: from = DD_VISIT_ASSIGNED; done = DD_VISIT_ACCEPTED; break;
    case S_CHECK_IN: from = DD_VISIT_ACCEPTED; done = DD_VISIT_CHECKED_IN; break;
    case S_CHECK_OUT: from = DD_VISIT_CHECKED_IN; done = DD_VISIT_COMPLETED; break;
    default: from = DD_VISIT_ASSIGNED; done = DD_VISIT_NSTATES; break;
    }
    int mine = strcmp(v->caregiver_id, caregiver_id) == 0;
    if ((v->state == done && mine)
        || (op == S_DECLINE && dd_visit_declined_by(v, caregiver_id))) {
        s_reply_state(&req, v);
        return;
    }
    int legal = v->state == from || (op == S_DECLINE && v->state == DD_VISIT_ACCEPTED);
    if (!legal) {
        s_illegal(&req, v, names[op]);
        return;
    }
    if (!mine) {
        cc_http_reply_error(&req, 403, "not_assigned", "caregiver_id",
                            "the visit is not assigned to this caregiver");
        return;
    }
    if (op == S_CHECK_OUT && at < v->checked_in_us) {
        cc_http_reply_error(&req, 400, "invalid_value", "at", "check-out before check-in");
        return;
    }
    if (op == S_DECLINE) {
        cc_metric_inc(app->m_declines);
        cc_info("visit_declined", "visit_id", v->id, "order_id", v->order_id, "caregiver_id",
                caregiver_id);
        dd_dispatch_decline(app, v, "declined", req);
        return;
    }

    s_act_t *w = calloc(1, sizeof *w);
    if (!w) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    w->app = app;
    w->req = req;
    w->op = op;
    snprintf(w->visit_id, sizeof w->visit_id, "%s", v->id);
    uint8_t *payload = NULL;
    size_t plen = 0;
    const char *stmt;
    char ev[CC_UUID_LEN];
    cc_uuid(ev);
    dd_args_t a;
    dd_args_init(&a);
    if (op == S_ACCEPT) {
        Cc__VisitAccepted m = CC__VISIT_ACCEPTED__INIT;
        m.visit_id = v->id;
        m.order_id = v->order_id;
        m.caregiver_id = v->caregiver_id;
        payload = cc_event_pack(&m.base, &plen);
        dd_timer_cancel(v);
        v->accepted_us = at;
        dd_world_set_state(app->world, v, DD_VISIT_ACCEPTED, now);
        cc_metric_inc(app->m_accepted);
        stmt = DD_ST_ACCEPT;
        dd_args_i64(&a, v->district_id);
        dd_args_str(&a, v->id);
        dd_args_str(&a, v->caregiver_id);
        dd_args_i64(&a, at);
        dd_args_str(&a, v->order_id);
        dd_args_str(&a, ev);
        dd_args_bin(&a, payload, plen);
    } else {
        int out = op == S_CHECK_OUT;
        int dist = (int) lround(cc_geo_distance_m(v->lat, v->lon, lat, lon));
        w->distance_m = dist;
        if (out) {
            Cc__VisitCompleted m = CC__VISIT_COMPLETED__INIT;
            m.visit_id = v->id;
            m.order_id = v->order_id;
            m.caregiver_id = v->caregiver_id;
            m.provider_id = v->provider_id;
            m.checked_in_us = v->checked_in_us;
            m.checked_out_us = at;
            m.lat = lat;
            m.lon = lon;
            m.distance_m = dist;
            payload = cc_event_pack(&m.base, &plen);
            v->checked_out_us = at;
            v->out_lat = lat;
            v->out_lon = lon;
            v->out_distance_m = dist;
            dd_world_set_state(app->world, v, DD_VISIT_COMPLETED, now);
            app->dirty = 1;   /* free earlier than planned, maybe */
            cc_metric_inc(app->m_completed);
        } else {
            Cc__VisitCheckedIn m = CC__VISIT_CHECKED_IN__INIT;
            m.visit_id = v->id;
            m.order_id = v->order_id;
            m.caregiver_id = v->caregiver_id;
            m.at_us = at;
            m.lat = lat;
            m.lon = lon;
            m.distance_m = dist;
            payload = cc_event_pack(&m.base, &plen);
            v->checked_in_us = at;
            v->in_lat = lat;
            v->in_lon = lon;
            v->in_distance_m = dist;
            dd_world_set_state(app->world, v, DD_VISIT_CHECKED_IN, now);
            cc_metric_inc(app->m_checked_in);
        }
        stmt = DD_ST_CHECK;
        dd_args_i64(&a, v->district_id);
        dd_args_str(&a, v->id);
        dd_args_str(&a, v->caregiver_id);
        dd_args_bool(&a, out);
        dd_args_i64(&a, at);
        dd_args_f64(&a, lat);
        dd_args_f64(&a, lon);
        dd_args_i64(&a, dist);
        dd_args_str(&a, v->order_id);
        dd_args_str(&a, ev);
        dd_args_bin(&a, payload, plen);
    }
    if (!payload) {
        cc_error("out_of_memory", "where", "visit_action");
        exit(1);
    }
    snprintf(w->state, sizeof w->state, "%s", dd_visit_state_name(v->state));
    if (cc_db_exec(app->writer, stmt, a.n, a.values, a.lengths, a.formats, s_on_action_done,
                   w) != 0)
        dd_fatal_sql(stmt, NULL);
    free(payload);
    cc_info("visit_step", "visit_id", v->id, "order_id", v->order_id, "state", w->state);
}

static void s_accept(cc_http_req_t *req, void *arg) { s_visit_action(req, arg, S_ACCEPT); }
static void s_decline(cc_http_req_t *req, void *arg) { s_visit_action(req, arg, S_DECLINE); }
static void s_check_in(cc_http_req_t *req, void *arg) { s_visit_action(req, arg, S_CHECK_IN); }
static void s_check_out(cc_http_req_t *req, void *arg) { s_visit_action(req, arg, S_CHECK_OUT); }

int dd_http_ready(void *arg)
{
    dd_app_t *app = arg;
    return app->loaded && !app->stopping && cc_db_connected(app->writer)
           && cc_db_connected(app->reader) && cc_evlog_ready(app->evlog)
           && cc_consumer_caught_up(app->orders);
}

int dd_http_routes(dd_app_t *app)
{
    cc_http_t *h = app->http;
    if (cc_http_route(h, "POST", "/v1/caregivers", s_post_caregiver, app)
        || cc_http_route(h, "GET", "/v1/caregivers", s_get_caregivers, app)
        || cc_http_route(h, "GET", "/v1/caregivers/{id}", s_get_caregiver, app)
        || cc_http_route(h, "GET", "/v1/caregivers/{id}/visits", s_get_caregiver_visits, app)
        || cc_http_route(h, "GET", "/v1/visits/{id}", s_get_visit, app)
        || cc_http_route(h, "POST", "/v1/visits/{id}/accept", s_accept, app)
        || cc_http_route(h, "POST", "/v1/visits/{id}/decline", s_decline, app)
        || cc_http_route(h, "POST", "/v1/visits/{id}/check-in", s_check_in, app)
        || cc_http_route(h, "POST", "/v1/visits/{id}/check-out", s_check_out, app)
        || cc_http_route(h, "GET", "/v1/queue", s_get_queue, app))
        return -1;
    cc_http_set_ready(h, dd_http_ready, app);
    return 0;
}
