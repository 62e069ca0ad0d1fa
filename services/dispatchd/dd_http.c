/* dd_http: the caregiver app and dispatcher board API (docs/API-dispatchd.md).
 *
 * Reads answer from the working set. Writes decide against it, queue one
 * SQL call on the writer and answer from its result callback, i.e. after
 * COMMIT. Bad input is a 4xx naming the field; nothing is stored then. */
#include "dd_http.h"
#include "dd_reopt.h"
#include "dd_model.h"
#include "dd_deadline.h"
#include "dd_dispatch.h"
#include "dd_ops.h"
#include "dd_store.h"
#include "dd_visit.h"
#include "cc_daemon.h"
#include "cc_log.h"
#include "cc_rt.h"
#include "cc_util.h"
#include "cc_limits.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sodium.h>

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

json_t *dd_http_visit_json(const dd_visit_t *v, int64_t now)
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
    json_object_set_new(o, "assigned_at",
                        offered && v->state != DD_VISIT_PLANNED ? s_time(v->assigned_us)
                                                                : json_null());
    /* Planned: when the offer goes out (docs/DISPATCH.md "Planned, then offered"). */
    json_object_set_new(o, "offer_at", v->state == DD_VISIT_PLANNED ? s_time(v->release_us)
                                                                    : json_null());
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
        json_object_set_new(o, "waiting_s", json_integer((now - v->created_us) / CC_US_PER_S));
    json_object_set_new(o, "unconfirmed_at", s_time(v->unconfirmed_us));
    json_object_set_new(o, "manual", json_boolean(dd_rules_pinned(v)));   /* dd_ops */
    return o;
}

json_t *dd_http_deadline_json(const dd_visit_t *v, const dd_deadline_rule_t *r, int64_t now_us)
{
    dd_deadline_t d;
    dd_due_t due = dd_deadline_due(v, r, now_us, &d);
    if (due == DD_DUE_NONE)
        return json_null();
    return json_pack("{s:s, s:o, s:o, s:b, s:s, s:o}", "stage", dd_stage_name(d.stage), "due",
                     s_time(d.due_us), "resolve_at", s_time(d.resolve_us), "overdue",
                     due != DD_DUE_ON_TIME, "resolution", dd_visit_state_name(d.to), "reason",
                     d.reason[0] ? json_string(d.reason) : json_null());
}

/* The visit object with its deadline (the app knows the rules). */
static json_t *s_visit_json(dd_app_t *app, const dd_visit_t *v, int64_t now)
{
    json_t *o = dd_http_visit_json(v, now);
    if (o)
        json_object_set_new(o, "deadline", dd_http_deadline_json(v, dd_app_rule(app, v), now));
    return o;
}

/* The elder's address into o, for the two who go or send someone there
 * (issue 10, "Personal data"): the caregiver the visit is assigned to
 * while it is open, and a dispatcher of its district (the route's scope
 * check has passed). Not a provider admin, and never in lists. Only on
 * CC_ROUTE_PII routes (the read is audited): GET /v1/visits/{visit_id}
 * and the caregiver's day. */
static void s_add_address(dd_app_t *app, cc_http_req_t *req, const dd_visit_t *v, json_t *o)
{
    const cc_jwt_claims_t *who = cc_http_claims(req);
    int may = who && ((who->role == CC_ROLE_DISPATCHER)
                      || (who->role == CC_ROLE_CAREGIVER && !dd_visit_state_final(v->state)
                          && v->caregiver_id[0]
                          && strcasecmp(who->caregiver_id, v->caregiver_id) == 0));
    if (o && may && v->address_sealed) {
        char addr[CC_ADDRESS_MAX + 1];
        if (dd_visit_address(app, v, addr, sizeof addr) == 0)
            json_object_set_new(o, "address", json_string(addr));
        sodium_memzero(addr, sizeof addr);
    }
}

/* GET /v1/visits/{visit_id}'s reply: the visit, with the address as above. */
static json_t *s_visit_json_one(dd_app_t *app, cc_http_req_t *req, const dd_visit_t *v,
                                int64_t now)
{
    json_t *o = s_visit_json(app, v, now);
    s_add_address(app, req, v, o);
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
    json_object_set_new(o, "certificates", dd_ops_certificates_json(c));
    return o;
}

/* ---- scope ---------------------------------------------------------------
 * Whose a caregiver or a visit is (cc_jwt_scope_check): a dispatcher sees
 * their districts, a provider_admin their provider's, a caregiver their own. */

static cc_scope_t s_cg_scope(const dd_caregiver_t *c)
{
    return (cc_scope_t) { .district_id = c->district_id, .caregiver_id = c->id,
                          .provider_id = c->provider_id };
}

static cc_scope_t s_visit_scope(const dd_visit_t *v)
{
    return (cc_scope_t) { .district_id = v->district_id, .caregiver_id = v->caregiver_id,
                          .provider_id = v->provider_id };
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
    cc_err_t err;
    if (dd_write_failed(w->app, dd_stmts[DD_ST_CG_CREATE].name, res, &err)) {
        cc_http_reply_err(&w->req, &err);   /* the caregiver leaves memory with the reload */
        free(w);
        return;
    }
    const char *r = dd_result_text(res);
    if (!r)
        cc_rt_fatal(dd_stmts[DD_ST_CG_CREATE].name, res);
    if (!w->replay) {
        w->app->dirty = 1;   /* waiting visits may fit the newcomer */
        /* ...and offered ones may be better with them (dd_reopt.h) */
        const dd_caregiver_t *c = dd_world_caregiver(w->app->world, w->caregiver_id);
        if (c)
            dd_reopt_kick(w->app, c->district_id);
    }
    cc_http_reply_json(&w->req, 201, json_pack("{s:s}", "caregiver_id", w->caregiver_id));
    free(w);
}

int dd_http_parse_skills(json_t *body, uint32_t *out, cc_err_t *err)
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
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_CG_CREATE]);
    cc_args_text(&a, "id", c->id);
    cc_args_text(&a, "idem", c->idem_key);
    cc_args_text(&a, "provider", c->provider_id);
    cc_args_int(&a, "district", c->district_id);
    cc_args_text(&a, "name", c->name);
    cc_args_float(&a, "lat", c->lat);
    cc_args_float(&a, "lon", c->lon);
    cc_args_text(&a, "skills", dd_skills_csv(c->skills, skills, sizeof skills));
    cc_args_int(&a, "level", c->level);
    cc_args_bool(&a, "first_aid", c->first_aid);
    cc_args_int(&a, "shift_start", c->shift_start_min);
    cc_args_int(&a, "shift_end", c->shift_end_min);
    if (cc_db_call(app->rt.writer, &a, s_on_cg_created, w) != 0)
        cc_rt_fatal(a.st->name, NULL);
}

int dd_http_read_caregiver(json_t *body, dd_cg_req_t *out, cc_err_t *err)
{
    memset(out, 0, sizeof *out);
    out->shift_start_min = out->shift_end_min = -1;
    if (cc_json_str(body, "name", 1, CC_NAME_MAX, &out->name, err)
        || cc_json_str(body, "provider_id", 1, CC_PROVIDER_ID_MAX, &out->provider_id, err)
        || cc_json_int(body, "district_id", 1, CC_DISTRICT_MIN, CC_DISTRICT_MAX,
                       &out->district_id, err)
        || cc_json_num(body, "lat", 1, -CC_LAT_MAX, CC_LAT_MAX, &out->lat, err)
        || cc_json_num(body, "lon", 1, -CC_LON_MAX, CC_LON_MAX, &out->lon, err)
        || dd_http_parse_skills(body, &out->skills, err)
        || cc_json_int(body, "level", 1, 1, 3, &out->level, err)
        || cc_json_bool(body, "first_aid", 0, &out->first_aid, err)
        || cc_json_hhmm(body, "shift_start", 1, &out->shift_start_min, err)
        || cc_json_hhmm(body, "shift_end", 1, &out->shift_end_min, err))
        return -1;
    if (!out->name[0] || !out->provider_id[0])
        return cc_err_set(err, 400, "invalid_value", !out->name[0] ? "name" : "provider_id",
                          "must not be empty");
    return 0;
}

dd_caregiver_t *dd_http_caregiver_new(const dd_cg_req_t *r)
{
    dd_caregiver_t *c = dd_caregiver_new();
    if (!c || !(c->name = strdup(r->name))) {
        dd_caregiver_free(&c);
        return NULL;
    }
    snprintf(c->provider_id, sizeof c->provider_id, "%s", r->provider_id);
    c->district_id = (uint32_t) r->district_id;
    c->lat = r->lat;
    c->lon = r->lon;
    c->skills = r->skills;
    c->level = (int) r->level;
    c->first_aid = r->first_aid;
    c->shift_start_min = r->shift_start_min;
    c->shift_end_min = r->shift_end_min;
    return c;
}

static void s_post_caregiver(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    json_t *body = cc_http_json(req);   /* borrowed: name and provider point into it */
    cc_err_t err = {0};
    dd_cg_req_t in;
    const char *key = cc_http_idem_key(req);   /* checked by the route guard */
    if (dd_http_read_caregiver(body, &in, &err) != 0) {
        cc_http_reply_err(&req, &err);
        return;
    }
    /* A provider_admin registers their own provider's caregivers only. */
    if (cc_http_scope(&req, &(cc_scope_t) { .provider_id = in.provider_id,
                                           .district_id = (uint32_t) in.district_id }) != 0)
        return;
    dd_caregiver_t *c = dd_http_caregiver_new(&in);
    if (!c) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    cc_uuid(c->id);
    if (key)
        snprintf(c->idem_key, sizeof c->idem_key, "%s", key);

    dd_caregiver_t *prior = key ? dd_world_caregiver_by_key(app->world, key) : NULL;
    if (prior) {
        int same = dd_caregiver_same(prior, c);
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
    /* The route guard made it a lower-case UUID. */
    dd_caregiver_t *c = dd_world_caregiver(app->world, cc_http_path_param(*req, "caregiver_id"));
    if (!c)
        cc_http_reply_error(req, 404, "not_found", "caregiver_id", "no such caregiver");
    return c;
}

static void s_get_caregiver(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    dd_caregiver_t *c = s_caregiver_or_404(app, &req);
    if (!c)
        return;
    cc_scope_t scope = s_cg_scope(c);
    if (cc_http_scope(&req, &scope) != 0)
        return;
    cc_http_reply_json(&req, 200, s_caregiver_json(c));
}

static void s_get_caregiver_visits(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    dd_caregiver_t *c = s_caregiver_or_404(app, &req);
    if (!c)
        return;
    cc_scope_t scope = s_cg_scope(c);
    if (cc_http_scope(&req, &scope) != 0)
        return;
    int64_t now = cc_now_us();
    json_t *list = json_array();
    for (size_t i = 0; i < c->nplan; i++)   /* plan order: by planned start */
        json_array_append_new(list, s_visit_json(app, c->plan[i], now));
    cc_http_reply_json(&req, 200, json_pack("{s:s, s:o}", "caregiver_id", c->id, "visits",
                                            list));
}

/* The caregiver's app: their day in order. ?date=YYYY-MM-DD (local; today
 * by default): the shift, then each planned visit starting that day with
 * its ETA, its travel from the stop before (home first, or in the shift
 * going on the door of the last visit checked out: starts_from) and where
 * it is, and the way home. Travel is dd_model_travel_s, as dispatch plans it. */
static void s_get_caregiver_day(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    dd_caregiver_t *c = s_caregiver_or_404(app, &req);
    if (!c)
        return;
    cc_scope_t scope = s_cg_scope(c);
    if (cc_http_scope(&req, &scope) != 0)
        return;
    int64_t now = cc_now_us(), day0;
    char date[16];
    const char *q = cc_http_query(req, "date");
    if (q) {
        if (strlen(q) != 10 || cc_date_parse(q, &day0) != 0) {
            cc_http_reply_error(&req, 400, "invalid_value", "date",
                                "date must be a day as YYYY-MM-DD");
            return;
        }
    } else if (cc_date_parse(cc_date_local(now, date, sizeof date), &day0) != 0) {
        cc_http_reply_error(&req, 500, "internal", NULL, "no local date");
        return;
    }
    cc_date_local(day0, date, sizeof date);
    int64_t day1 = day0 + 86400LL * CC_US_PER_S;
    int64_t sh_s, sh_e;
    int32_t dayn = dd_day_of(day0);
    int works = dd_rules_shift_on(c, dayn, &sh_s, &sh_e) == 0;   /* the rota's day */
    json_t *stops = json_array();
    double lat = c->lat, lon = c->lon;
    /* In the shift going on, a caregiver who has checked out of a visit
     * leaves from that door, not from home: as the models plan it. */
    int from_last = works && sh_s <= now && now < sh_e
                    && dd_caregiver_at(c, sh_s, now, &lat, &lon);
    int64_t total = 0;
    for (size_t i = 0; stops && i < c->nplan; i++) {
        const dd_visit_t *v = c->plan[i];
        if (v->eta_us < day0 || v->eta_us >= day1)
            continue;
        int travel = dd_model_travel_s(lat, lon, v->lat, v->lon);
        total += travel;
        json_t *o = s_visit_json(app, v, now);
        s_add_address(app, req, v, o);   /* the stop's door, for its caregiver */
        if (o)
            json_object_set_new(o, "travel_from_previous_s", json_integer(travel));
        json_array_append_new(stops, o);
        lat = v->lat;
        lon = v->lon;
    }
    int home = dd_model_travel_s(lat, lon, c->lat, c->lon);
    json_t *shift = works ? json_pack("{s:o, s:o}", "start", s_time(sh_s), "end", s_time(sh_e))
                          : json_null();
    json_t *body = json_pack("{s:s, s:s, s:o, s:s, s:o, s:I, s:I}", "caregiver_id", c->id,
                             "date", date, "shift", shift,
                             "starts_from", from_last ? "last_visit" : "home",
                             "stops", stops, "travel_home_s", (json_int_t) home,
                             "total_travel_s", (json_int_t) (total + home));
    cc_http_reply_json(&req, 200, body);
}

/* ---- visits ------------------------------------------------------------- */

typedef struct {
    dd_app_t *app;
    cc_http_req_t *req;
} s_lookup_t;

static void s_on_visit_read(PGresult *res, void *arg)
{
    s_lookup_t *l = arg;
    dd_app_t *app = l->app;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cc_http_reply_error(&l->req, 503, "unavailable", NULL, "the store is unavailable");
        free(l);
        return;
    }
    dd_world_t *tmp = dd_world_new();
    dd_visit_t *v = NULL;
    if (tmp && PQntuples(res) == 1 && dd_store_load_visits(tmp, res) == 1)
        v = dd_world_visit(tmp, PQgetvalue(res, 0, 0));
    cc_scope_t scope = v ? s_visit_scope(v) : (cc_scope_t) { 0 };
    if (!v)
        cc_http_reply_error(&l->req, 404, "not_found", "visit_id", "no such visit");
    else if (cc_http_scope(&l->req, &scope) == 0)
        cc_http_reply_json(&l->req, 200, s_visit_json_one(app, l->req, v, cc_now_us()));
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
    if (!d[0] || !end || *end || d[0] == '-' || d[0] == '+' || n < CC_DISTRICT_MIN || n > CC_DISTRICT_MAX) {
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
    const char *id = cc_http_path_param(req, "visit_id");   /* a lower-case UUID */
    dd_visit_t *v = dd_world_visit(app->world, id);
    if (v) {
        cc_scope_t scope = s_visit_scope(v);
        if (cc_http_scope(&req, &scope) == 0)
            cc_http_reply_json(&req, 200, s_visit_json_one(app, req, v, cc_now_us()));
        return;
    }
    /* Open visits are all in memory; a finished one pruned from it (see
     * --keep-finished-s) is read from the store. */
    s_lookup_t *l = calloc(1, sizeof *l);
    if (!l) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    l->app = app;
    l->req = req;
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_GET_VISIT]);
    cc_args_text(&a, "id", id);
    if (cc_db_call(app->rt.reader, &a, s_on_visit_read, l) != 0) {
        free(l);
        cc_http_reply_error(&req, 503, "unavailable", NULL, "the store is unavailable");
    }
}

static void s_get_caregivers(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    uint32_t district = 0;
    if (s_district_query(req, &district) != 0)
        return;
    /* A dispatcher naming another district is refused; without one, each
     * caller sees only what is in their scope. */
    if (district && cc_http_scope_district(&req, district) != 0)
        return;
    const cc_jwt_claims_t *who = cc_http_claims(req);
    size_t n;
    dd_caregiver_t *const *cgs = dd_world_caregivers(app->world, &n);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        cc_scope_t scope = s_cg_scope(cgs[i]);
        if ((!district || cgs[i]->district_id == district) && !cc_jwt_scope_check(who, &scope))
            json_array_append_new(list, s_caregiver_json(cgs[i]));
    }
    cc_http_reply_json(&req, 200, json_pack("{s:o}", "caregivers", list));
}

static void s_get_queue(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
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
    /* A dispatcher's board: one of their districts, or all of them. */
    if (district && cc_http_scope_district(&req, district) != 0)
        return;
    const cc_jwt_claims_t *who = cc_http_claims(req);
    int64_t now = cc_now_us();
    size_t nactive, noverdue = 0;
    dd_visit_t *const *active = dd_world_active(app->world, &nactive);
    dd_visit_t **q = NULL;
    /* Overdue visits of any open state first (dd_deadline_board), then the
     * queue proper: waiting and unaccepted. */
    size_t n = dd_deadline_board(active, nactive, &app->deadlines, district, now, &q,
                                 &noverdue);
    if (n == (size_t) -1) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    size_t kept = 0, kept_overdue = 0, depth = 0;
    for (size_t i = 0; i < n; i++) {
        cc_scope_t scope = { .district_id = q[i]->district_id };
        if (who && who->role == CC_ROLE_DISPATCHER && cc_jwt_scope_check(who, &scope))
            continue;
        kept_overdue += i < noverdue;
        depth += q[i]->state == DD_VISIT_WAITING || q[i]->state == DD_VISIT_ASSIGNED;
        q[kept++] = q[i];
    }
    json_t *list = json_array();
    for (size_t i = 0; i < kept && i < (size_t) limit; i++)
        json_array_append_new(list, s_visit_json(app, q[i], now));
    free(q);
    json_t *o = json_object();
    json_object_set_new(o, "district_id", district ? json_integer(district) : json_null());
    json_object_set_new(o, "depth", json_integer((json_int_t) depth));
    json_object_set_new(o, "overdue", json_integer((json_int_t) kept_overdue));
    json_object_set_new(o, "visits", list);
    cc_http_reply_json(&req, 200, o);
}

/* POST /v1/visits/{visit_id}/confirm|reject: a dispatcher decides a visit
 * nobody checked out (dd_deadline.h). Body: a JSON object, no fields. */
static void s_decide(cc_http_req_t *req, dd_app_t *app, dd_decide_t d)
{
    dd_visit_t *v = dd_world_visit(app->world, cc_http_path_param(req, "visit_id"));
    if (!v) {
        /* Open visits are all in memory; a finished one is not decided
         * again. */
        cc_http_reply_error(&req, 404, "not_found", "visit_id", "no such open visit");
        return;
    }
    cc_scope_t scope = s_visit_scope(v);
    if (cc_http_scope(&req, &scope) != 0)
        return;
    cc_err_t err = {0};
    dd_visit_state_t to;
    switch (dd_deadline_decide(v, d, &to, &err)) {
    case DD_DECIDE_REFUSED:
        cc_http_reply_err(&req, &err);
        return;
    case DD_DECIDE_REPEAT:
        cc_http_reply_json(&req, 200, json_pack("{s:s, s:s}", "visit_id", v->id, "state",
                                                dd_visit_state_name(v->state)));
        return;
    case DD_DECIDE_DO:
        break;
    }
    const cc_jwt_claims_t *who = cc_http_claims(req);
    cc_metric_inc(d == DD_DECIDE_CONFIRM ? app->m_confirmed : app->m_rejected);
    dd_dispatch_resolve(app, v, to, DD_REASON_REJECTED, who && who->sub[0] ? who->sub : "",
                        req);
}

static void s_confirm(cc_http_req_t *req, void *arg)
{
    s_decide(req, arg, DD_DECIDE_CONFIRM);
}

static void s_reject(cc_http_req_t *req, void *arg)
{
    s_decide(req, arg, DD_DECIDE_REJECT);
}

typedef struct {
    dd_app_t *app;
    cc_http_req_t *req;
    dd_step_t step;
    char visit_id[DD_ID_LEN];
    char state[16];
    int distance_m;
} s_act_t;

static void s_on_action_done(PGresult *res, void *arg)
{
    s_act_t *w = arg;
    cc_err_t err;
    if (dd_write_failed(w->app, dd_stmts[w->step == DD_STEP_ACCEPT ? DD_ST_ACCEPT : DD_ST_CHECK].name,
                        res, &err)) {
        cc_http_reply_err(&w->req, &err);
        free(w);
        return;
    }
    const char *r = dd_result_text(res);
    if (!r)
        cc_rt_fatal(dd_stmts[w->step == DD_STEP_ACCEPT ? DD_ST_ACCEPT : DD_ST_CHECK].name, res);
    json_t *body = json_pack("{s:s, s:s}", "visit_id", w->visit_id, "state", w->state);
    if (body && (w->step == DD_STEP_CHECK_IN || w->step == DD_STEP_CHECK_OUT))
        json_object_set_new(body, "distance_m", json_integer(w->distance_m));
    cc_http_reply_json(&w->req, 200, body);
    free(w);
}

/* check-out's "assessment": {level, score} (issue 13). Absent (or null):
 * out->assessed 0; dd_visit_step decides whether the visit needs one. A bad
 * one is 422 naming the field. */
static int s_read_assessment(json_t *body, dd_step_req_t *out, cc_err_t *err)
{
    json_t *a = json_object_get(body, "assessment");
    out->assessed = 0;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_object(a))
        return cc_err_set(err, 422, "wrong_type", "assessment",
                          "assessment must be an object {level, score}");
    const char *k;
    json_t *x;
    json_object_foreach(a, k, x) {
        if (strcmp(k, "level") != 0 && strcmp(k, "score") != 0)
            return cc_err_set(err, 422, "unknown_field", "assessment",
                              "assessment has only level and score");
    }
    json_t *level = json_object_get(a, "level"), *score = json_object_get(a, "score");
    if (!level)
        return cc_err_set(err, 422, "missing_field", "assessment.level",
                          "assessment.level is required");
    dd_ability_t l = json_is_string(level) ? dd_ability_parse(json_string_value(level))
                                           : DD_ABILITY_UNKNOWN;
    if (l == DD_ABILITY_UNKNOWN)
        return cc_err_set(err, 422, "invalid_value", "assessment.level",
                          "assessment.level is one of intact, mild, moderate, severe, total");
    if (!score)
        return cc_err_set(err, 422, "missing_field", "assessment.score",
                          "assessment.score is required");
    if (!json_is_integer(score) || json_integer_value(score) < 0
        || json_integer_value(score) > 100)
        return cc_err_set(err, 422, "invalid_value", "assessment.score",
                          "assessment.score is an integer 0..100");
    out->assessed = 1;
    out->assess_level = l;
    out->assess_score = (int) json_integer_value(score);
    return 0;
}

int dd_http_read_step(json_t *body, dd_step_t step, const char *who, char cg[DD_ID_LEN],
                      dd_step_req_t *out, cc_err_t *err)
{
    const char *reason = NULL;
    cg[0] = '\0';
    int rc = cc_json_uuid(body, "caregiver_id", 0, cg, err);
    if (rc == 0 && cg[0] && who && strcmp(cg, who) != 0)
        return cc_err_set(err, 403, "forbidden", "caregiver_id",
                          "caregiver_id is not the caller's (the token says who acts)");
    if (rc == 0 && who)
        snprintf(cg, DD_ID_LEN, "%s", who);
    if (rc == 0 && step == DD_STEP_DECLINE)   /* free text, checked but not stored */
        rc = cc_json_str(body, "reason", 0, CC_TEXT_MAX, &reason, err);
    if (rc == 0 && (step == DD_STEP_CHECK_IN || step == DD_STEP_CHECK_OUT)) {
        rc = cc_json_num(body, "lat", 1, -CC_LAT_MAX, CC_LAT_MAX, &out->lat, err);
        if (rc == 0)
            rc = cc_json_num(body, "lon", 1, -CC_LON_MAX, CC_LON_MAX, &out->lon, err);
        if (rc == 0)
            rc = cc_json_time(body, "at", 0, &out->at_us, err);
        if (rc == 0 && out->at_us == 0)   /* "time" is accepted as an alias of "at" */
            rc = cc_json_time(body, "time", 0, &out->at_us, err);
    }
    if (rc == 0 && step == DD_STEP_CHECK_OUT)
        rc = s_read_assessment(body, out, err);
    out->caregiver_id = cg;
    return rc;
}

/* Parse a step's body into *out (caregiver_id copied into cg). 0, or -1
 * having answered 4xx. Who acts is the token's caregiver; a caregiver_id in
 * the body (older apps send it) must be that one. */
static int s_step_body(cc_http_req_t **req, dd_step_t step, char cg[DD_ID_LEN],
                       dd_step_req_t *out)
{
    cc_err_t err = {0};
    const cc_jwt_claims_t *who = cc_http_claims(*req);
    if (dd_http_read_step(cc_http_json(*req), step, who ? who->caregiver_id : NULL, cg, out,
                          &err) != 0) {
        cc_http_reply_err(req, &err);
        return -1;
    }
    return 0;
}

/* The rules are dd_visit's; this parses, applies the decision to the
 * working set, queues its one write and answers after COMMIT. */
static void s_visit_action(cc_http_req_t *req, dd_app_t *app, dd_step_t step)
{
    dd_visit_t *v = dd_world_visit(app->world, cc_http_path_param(req, "visit_id"));
    if (!v) {
        cc_http_reply_error(&req, 404, "not_found", "visit_id", "no such visit");
        return;
    }
    char caregiver_id[DD_ID_LEN];
    dd_step_req_t in = {0};
    if (s_step_body(&req, step, caregiver_id, &in) != 0)
        return;
    /* Only the visit's caregiver (or one retrying their decline) may act:
     * anyone else learns nothing about it, not even its state. */
    if (strcmp(v->caregiver_id, caregiver_id) != 0 && !dd_visit_declined_by(v, caregiver_id)) {
        cc_http_reply_error(&req, 403, "forbidden", "caregiver_id",
                            "the visit is not assigned to this caregiver");
        return;
    }
    int64_t now = cc_now_us();
    dd_step_result_t r;
    switch (dd_visit_step(v, step, &in, now, &r)) {
    case DD_STEP_REFUSED:
        cc_http_reply_err(&req, &r.err);
        return;
    case DD_STEP_REPEAT:   /* an app retrying after a lost reply: nothing to write */
        cc_http_reply_json(&req, 200, json_pack("{s:s, s:s}", "visit_id", v->id, "state",
                                                dd_visit_state_name(v->state)));
        return;
    case DD_STEP_DO:
        break;
    }
    if (step == DD_STEP_DECLINE) {
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
    w->step = step;
    w->distance_m = r.distance_m;
    snprintf(w->visit_id, sizeof w->visit_id, "%s", v->id);
    size_t plen = 0;
    uint8_t *payload = dd_visit_event_pack(v, &r, &plen);
    size_t alen = 0;
    uint8_t *assessed = r.assessed ? dd_visit_assessed_pack(v, &r, &alen) : NULL;
    if (!payload || (r.assessed && !assessed)) {
        cc_error("out_of_memory", "where", "visit_action");
        exit(1);
    }
    if (step == DD_STEP_ACCEPT)
        dd_timer_cancel(v);
    dd_visit_apply(app->world, v, &r, now);
    if (r.frees_slot)
        app->dirty = 1;   /* free earlier than planned, maybe */
    cc_metric_inc(step == DD_STEP_ACCEPT     ? app->m_accepted
                  : step == DD_STEP_CHECK_IN ? app->m_checked_in
                                             : app->m_completed);
    char ev[CC_UUID_LEN], ev2[CC_UUID_LEN];
    cc_uuid(ev);
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[step == DD_STEP_ACCEPT ? DD_ST_ACCEPT : DD_ST_CHECK]);
    cc_args_int(&a, "district", v->district_id);
    cc_args_text(&a, "id", v->id);
    cc_args_text(&a, "caregiver", v->caregiver_id);
    cc_args_int(&a, "at", r.at_us);
    if (step != DD_STEP_ACCEPT) {
        cc_args_bool(&a, "out", step == DD_STEP_CHECK_OUT);
        cc_args_float(&a, "lat", r.lat);
        cc_args_float(&a, "lon", r.lon);
        cc_args_int(&a, "distance", r.distance_m);
    }
    cc_args_text(&a, "order", v->order_id);
    cc_args_text(&a, "ev", ev);
    cc_args_bytes(&a, "payload", payload, plen);
    if (step != DD_STEP_ACCEPT) {
        /* The result travels as its own event, to orderd only (health data:
         * docs/SECURITY.md "What events carry"). Never logged. */
        cc_uuid(ev2);
        cc_args_text(&a, "level", assessed ? dd_ability_name(r.assess_level) : NULL);
        if (assessed) {
            cc_args_int(&a, "score", r.assess_score);
            cc_args_text(&a, "ev2", ev2);
            cc_args_bytes(&a, "payload2", assessed, alen);
        } else {
            cc_args_null(&a, "score");
            cc_args_null(&a, "ev2");
            cc_args_null(&a, "payload2");
        }
    }
    snprintf(w->state, sizeof w->state, "%s", dd_visit_state_name(v->state));
    if (cc_db_call(app->rt.writer, &a, s_on_action_done, w) != 0)
        cc_rt_fatal(a.st->name, NULL);
    free(payload);
    free(assessed);
    cc_info("visit_step", "visit_id", v->id, "order_id", v->order_id, "state", w->state);
}

static void s_accept(cc_http_req_t *req, void *arg)
{
    s_visit_action(req, arg, DD_STEP_ACCEPT);
}

static void s_decline(cc_http_req_t *req, void *arg)
{
    s_visit_action(req, arg, DD_STEP_DECLINE);
}

static void s_check_in(cc_http_req_t *req, void *arg)
{
    s_visit_action(req, arg, DD_STEP_CHECK_IN);
}

static void s_check_out(cc_http_req_t *req, void *arg)
{
    s_visit_action(req, arg, DD_STEP_CHECK_OUT);
}

/* Guards (cc_http.h): Host/Origin, the caller's token and role, JSON
 * writes, ids in paths are lower-case UUIDs, 503 until loaded, the
 * Idempotency-Key rule, bodies parsed as JSON objects. */
#define DISPATCHER CC_ROLE_DISPATCHER
#define PROVIDER_ADMIN CC_ROLE_PROVIDER_ADMIN
#define CAREGIVER CC_ROLE_CAREGIVER
#define ADMIN CC_ROLE_ADMIN

/* Who may call what (roles; docs/API.md is generated from this table).
 * Scope is checked in the handlers: a dispatcher their districts, a
 * provider_admin their provider, a caregiver themselves. Visits carry an
 * elder's location, ability level and notes: CC_ROUTE_PII (audited). */
const cc_http_route_t dd_http_routes[] = {
    { "POST", "/v1/caregivers", s_post_caregiver, CC_ROUTE_JSON | CC_ROUTE_IDEM_OPT,
      PROVIDER_ADMIN | ADMIN },
    { "GET", "/v1/caregivers", s_get_caregivers, 0, DISPATCHER | PROVIDER_ADMIN | ADMIN },
    { "GET", "/v1/caregivers/{caregiver_id}", s_get_caregiver, 0,
      DISPATCHER | PROVIDER_ADMIN | CAREGIVER | ADMIN },
    { "GET", "/v1/caregivers/{caregiver_id}/visits", s_get_caregiver_visits, CC_ROUTE_PII,
      DISPATCHER | PROVIDER_ADMIN | CAREGIVER },
    { "GET", "/v1/caregivers/{caregiver_id}/day", s_get_caregiver_day, CC_ROUTE_PII,
      DISPATCHER | PROVIDER_ADMIN | CAREGIVER },
    { "GET", "/v1/visits/{visit_id}", s_get_visit, CC_ROUTE_PII, DISPATCHER | PROVIDER_ADMIN | CAREGIVER },
    { "POST", "/v1/visits/{visit_id}/accept", s_accept, CC_ROUTE_JSON, CAREGIVER },
    { "POST", "/v1/visits/{visit_id}/decline", s_decline, CC_ROUTE_JSON, CAREGIVER },
    { "POST", "/v1/visits/{visit_id}/check-in", s_check_in, CC_ROUTE_JSON, CAREGIVER },
    { "POST", "/v1/visits/{visit_id}/check-out", s_check_out, CC_ROUTE_JSON, CAREGIVER },
    { "GET", "/v1/queue", s_get_queue, CC_ROUTE_PII, DISPATCHER },
    { "POST", "/v1/visits/{visit_id}/confirm", s_confirm, CC_ROUTE_JSON, DISPATCHER },
    { "POST", "/v1/visits/{visit_id}/reject", s_reject, CC_ROUTE_JSON, DISPATCHER },
    /* A dispatcher's operations (dd_ops.h). */
    { "PUT", "/v1/caregivers/{caregiver_id}/rota/{date}", dd_ops_put_rota, CC_ROUTE_JSON,
      DISPATCHER | PROVIDER_ADMIN | ADMIN },
    { "GET", "/v1/caregivers/{caregiver_id}/rota", dd_ops_get_rota, 0,
      DISPATCHER | PROVIDER_ADMIN | CAREGIVER | ADMIN },
    { "POST", "/v1/caregivers/{caregiver_id}/certificates", dd_ops_post_certificate,
      CC_ROUTE_JSON, PROVIDER_ADMIN | ADMIN },
    { "PUT", "/v1/providers/{provider}/districts", dd_ops_put_districts, CC_ROUTE_JSON, ADMIN },
    { "GET", "/v1/providers/{provider}/districts", dd_ops_get_districts, 0,
      DISPATCHER | PROVIDER_ADMIN | ADMIN },
    { "POST", "/v1/visits/{visit_id}/fail", dd_ops_fail, CC_ROUTE_JSON, CAREGIVER | DISPATCHER },
    { "POST", "/v1/visits/{visit_id}/assign", dd_ops_assign, CC_ROUTE_JSON, DISPATCHER | ADMIN },
    { "POST", "/v1/visits/{visit_id}/release", dd_ops_release, CC_ROUTE_JSON,
      DISPATCHER | ADMIN },
    { NULL, NULL, NULL, 0, 0 },
};
