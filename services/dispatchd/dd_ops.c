/* dd_ops: see dd_ops.h. */
#include "dd_ops.h"
#include "dd_reopt.h"
#include "dd_dispatch.h"
#include "dd_rules.h"
#include "dd_store.h"
#include "cc_daemon.h"
#include "cc_event.h"
#include "cc_limits.h"
#include "cc_log.h"
#include "cc_rt.h"
#include "cc_util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ROTA_MAX_DAYS 62      /* GET rota: at most this many days at once */
#define S_ZONE_MAX 256          /* districts per provider */

/* ---- load ------------------------------------------------------------------ */

int dd_ops_load_rows(dd_world_t *world, PGresult *res)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 7)
        return -1;
    dd_zones_t *zones = dd_world_zones(world);
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        const char *kind = PQgetvalue(res, r, 0), *k1 = PQgetvalue(res, r, 1);
        const char *k2 = PQgetvalue(res, r, 2), *t = PQgetvalue(res, r, 3);
        int64_t n1 = strtoll(PQgetvalue(res, r, 4), NULL, 10);
        int64_t n2 = strtoll(PQgetvalue(res, r, 5), NULL, 10);
        int64_t n3 = strtoll(PQgetvalue(res, r, 6), NULL, 10);
        if (strcmp(kind, "zone") == 0) {
            uint32_t d[S_ZONE_MAX];
            size_t n = 0;
            for (const char *p = t; *p && n < S_ZONE_MAX;) {
                d[n++] = (uint32_t) strtoul(p, NULL, 10);
                p = strchr(p, ',');
                p = p ? p + 1 : "";
            }
            if (dd_zones_set(zones, k1, d, n) != 0)
                return -1;
            continue;
        }
        if (strcmp(kind, "pin") == 0) {
            dd_visit_t *v = dd_world_visit(world, k1);
            if (v)
                snprintf(v->manual_caregiver_id, sizeof v->manual_caregiver_id, "%s", k2);
            continue;
        }
        dd_caregiver_t *c = dd_world_caregiver(world, k1);
        if (!c)
            return -1;   /* caregivers are never deleted: store is inconsistent */
        if (strcmp(kind, "rota") == 0) {
            dd_rota_t e = { .start_min = (int) n1, .end_min = (int) n2 };
            int off = t[0] ? dd_off_parse(t) : DD_OFF_NONE;
            if (dd_day_parse(k2, &e.day) != 0 || off < 0)
                return -1;
            e.off = (dd_off_t) off;
            if (dd_rules_rota_set(c, &e) != 0)
                return -1;
        } else if (strcmp(kind, "cert") == 0) {
            dd_cert_t x = { .level = (int) n1, .from_us = n2, .until_us = n3 };
            snprintf(x.id, sizeof x.id, "%s", k2);
            x.kind = dd_cert_kind_parse(t);
            if (x.kind < 0 || dd_rules_cert_add(c, &x) != 0)
                return -1;
        } else {
            return -1;
        }
    }
    size_t n;
    dd_caregiver_t *const *cgs = dd_world_caregivers(world, &n);
    for (size_t i = 0; i < n; i++)
        if (dd_rules_link(zones, cgs[i]) != 0)
            return -1;
    return rows;
}

static void s_on_ops(PGresult *res, void *arg)
{
    dd_app_t *app = arg;
    int n = dd_ops_load_rows(app->world, res);
    if (n < 0) {
        cc_error("startup_failed", "what", "load_ops", "status",
                 res ? PQresStatus(PQresultStatus(res)) : "none");
        exit(1);
    }
    char buf[24];
    snprintf(buf, sizeof buf, "%d", n);
    cc_info("working_set_loaded", "dispatch_ops", buf);
    cc_rt_loaded(&app->rt);
}

void dd_ops_load(dd_app_t *app)
{
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_LOAD_OPS]);
    if (cc_db_call(app->rt.reader, &a, s_on_ops, app) != 0) {
        cc_error("startup_failed", "what", "load_ops", "status", "not queued");
        exit(1);
    }
}

/* ---- shared ------------------------------------------------------------------ */

static json_t *s_time(int64_t us)
{
    char buf[48];
    return us > 0 ? json_string(cc_time_format(us, buf, sizeof buf)) : json_null();
}

static json_t *s_hhmm(int min)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%02d:%02d", min / 60, min % 60);
    return json_string(buf);
}

/* cc_http_reply_error with a formatted message. */
static void s_errf(cc_http_req_t **req, int status, const char *error, const char *field,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void s_errf(cc_http_req_t **req, int status, const char *error, const char *field,
                   const char *fmt, ...)
{
    cc_err_t e = { .status = status };
    snprintf(e.error, sizeof e.error, "%s", error);
    snprintf(e.field, sizeof e.field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    cc_http_reply_err(req, &e);
}

/* The caller's account id for the record ("" when the token has none). */
static const char *s_by(cc_http_req_t *req)
{
    const cc_jwt_claims_t *who = cc_http_claims(req);
    return who && who->sub[0] ? who->sub : "";
}

static dd_caregiver_t *s_caregiver_in_scope(dd_app_t *app, cc_http_req_t **req)
{
    dd_caregiver_t *c = dd_world_caregiver(app->world,
                                           cc_http_path_param(*req, "caregiver_id"));
    if (!c) {
        cc_http_reply_error(req, 404, "not_found", "caregiver_id", "no such caregiver");
        return NULL;
    }
    cc_scope_t scope = { .district_id = c->district_id, .caregiver_id = c->id,
                         .provider_id = c->provider_id };
    return cc_http_scope(req, &scope) == 0 ? c : NULL;
}

/* A write's answer after COMMIT: reply (owned) with status, or the error. */
typedef struct {
    dd_app_t *app;
    cc_http_req_t *req;
    dd_st_t st;
    int status;
    json_t *reply;
} s_write_t;

static void s_on_done(PGresult *res, void *arg)
{
    s_write_t *w = arg;
    cc_err_t err;
    if (dd_write_failed(w->app, dd_stmts[w->st].name, res, &err)) {
        json_decref(w->reply);
        cc_http_reply_err(&w->req, &err);
        free(w);
        return;
    }
    if (!dd_result_text(res))
        cc_rt_fatal(dd_stmts[w->st].name, res);
    cc_http_reply_json(&w->req, w->status, w->reply);
    free(w);
}

/* Queue a's call; the reply goes out after COMMIT. Exits on out of memory
 * (the decision is already in memory). */
static void s_exec(dd_app_t *app, cc_args_t *a, dd_st_t st, cc_http_req_t *req, int status,
                   json_t *reply)
{
    s_write_t *w = calloc(1, sizeof *w);
    if (!w || !reply) {
        cc_error("out_of_memory", "where", dd_stmts[st].name);
        exit(1);
    }
    *w = (s_write_t) { app, req, st, status, reply };
    if (cc_db_call(app->rt.writer, a, s_on_done, w) != 0)
        cc_rt_fatal(a->st->name, NULL);
}

/* ---- rota ------------------------------------------------------------------------ */

static json_t *s_day_json(const dd_caregiver_t *c, int32_t day)
{
    char buf[16];
    const dd_rota_t *e = dd_rules_rota_get(c, day);
    json_t *o = json_object();
    json_object_set_new(o, "date", json_string(dd_day_format(day, buf, sizeof buf)));
    json_object_set_new(o, "source", json_string(e ? "rota" : "default"));
    if (e && e->off != DD_OFF_NONE) {
        json_object_set_new(o, "off", json_string(dd_off_name(e->off)));
        json_object_set_new(o, "shift_start", json_null());
        json_object_set_new(o, "shift_end", json_null());
    } else {
        json_object_set_new(o, "off", json_null());
        json_object_set_new(o, "shift_start", s_hhmm(e ? e->start_min : c->shift_start_min));
        json_object_set_new(o, "shift_end", s_hhmm(e ? e->end_min : c->shift_end_min));
    }
    return o;
}

/* Text of a Postgres array literal of n strings (ours: ids, hex; no quoting
 * needed), malloc'd. */
static char *s_array(const char *const *items, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 3;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s\"%s\"", i ? "," : "", items[i]);
    *p++ = '}';
    *p = '\0';
    return s;
}

void dd_ops_put_rota(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    int32_t day;
    if (dd_day_parse(cc_http_path_param(req, "date"), &day) != 0) {
        cc_http_reply_error(&req, 400, "invalid_value", "date",
                            "date must be a date YYYY-MM-DD from 2000");
        return;
    }
    json_t *body = cc_http_json(req);
    cc_err_t err = {0};
    static const char *const known[] = {"shift_start", "shift_end", "off", NULL};
    int off_ix = -1, start = -1, end = -1;
    static const char *const offs[] = {"day_off", "leave", "sick", NULL};
    if (cc_json_only(body, known, &err) || cc_json_enum(body, "off", 0, offs, &off_ix, &err)) {
        cc_http_reply_err(&req, &err);
        return;
    }
    if (off_ix >= 0 && (json_object_get(body, "shift_start") || json_object_get(body, "shift_end"))) {
        cc_http_reply_error(&req, 400, "invalid_value", "off",
                            "a day is either off or a shift (shift_start, shift_end), not both");
        return;
    }
    if (off_ix < 0 && (cc_json_hhmm(body, "shift_start", 1, &start, &err)
                       || cc_json_hhmm(body, "shift_end", 1, &end, &err))) {
        cc_http_reply_err(&req, &err);
        return;
    }
    dd_caregiver_t *c = s_caregiver_in_scope(app, &req);
    if (!c)
        return;
    dd_rota_t e = { .day = day, .off = off_ix < 0 ? DD_OFF_NONE : (dd_off_t) (off_ix + 1),
                    .start_min = start, .end_min = end };
    /* Visits of the day still to start that the new day no longer holds
     * (all of them on a day off, leave or sick; those outside a new
     * shift) leave the plan and go back to the queue. */
    size_t nv = dd_rules_day_visits(c, day, NULL, 0);
    dd_visit_t **vs = nv ? calloc(nv, sizeof *vs) : NULL;
    char **ids = nv ? calloc(nv, sizeof *ids) : NULL, **orders = nv ? calloc(nv, sizeof *orders) : NULL;
    char **evs = nv ? calloc(nv, sizeof *evs) : NULL, **pays = nv ? calloc(nv, sizeof *pays) : NULL;
    char *vd = nv ? calloc(nv, 24) : NULL;
    if (nv && (!vs || !ids || !orders || !evs || !pays || !vd)) {
        cc_error("out_of_memory", "where", "put_rota");
        exit(1);
    }
    if (nv)
        dd_rules_day_visits(c, day, vs, nv);
    if (dd_rules_rota_set(c, &e) != 0) {
        cc_error("out_of_memory", "where", "put_rota");
        exit(1);
    }
    int64_t sh_s, sh_e;
    int works = dd_rules_shift_on(c, day, &sh_s, &sh_e) == 0;
    size_t keep = 0;
    int64_t now = cc_now_us();
    json_t *unplanned = json_array();
    for (size_t i = 0; i < nv; i++) {
        if (works && vs[i]->eta_us >= sh_s && vs[i]->planned_end_us <= sh_e)
            continue;
        if (vs[i]->state == DD_VISIT_PLANNED) {
            /* Never offered (the store has it waiting): back to the queue
             * in memory only, no event. */
            dd_world_set_state(app->world, vs[i], DD_VISIT_WAITING, now);
            json_array_append_new(unplanned, json_string(vs[i]->id));
            continue;
        }
        vs[keep++] = vs[i];
    }
    nv = keep;
    size_t vdlen = 2;
    char *vdl = malloc(nv * 12 + 3);
    if (!vdl) {
        cc_error("out_of_memory", "where", "put_rota");
        exit(1);
    }
    vdl[0] = '{';
    vdl[1] = '\0';
    for (size_t i = 0; i < nv; i++) {
        dd_visit_t *v = vs[i];
        Cc__VisitDeclined d = CC__VISIT_DECLINED__INIT;
        d.visit_id = v->id;
        d.order_id = v->order_id;
        d.caregiver_id = c->id;
        d.reason = "caregiver_unavailable";
        size_t len = 0;
        uint8_t *pay = cc_event_pack(&d.base, &len);
        ids[i] = strdup(v->id);
        orders[i] = strdup(v->order_id);
        evs[i] = malloc(CC_UUID_LEN);
        pays[i] = pay ? cc_hex(pay, len) : NULL;
        free(pay);
        if (!ids[i] || !orders[i] || !evs[i] || !pays[i]) {
            cc_error("out_of_memory", "where", "put_rota");
            exit(1);
        }
        cc_uuid(evs[i]);
        vdlen += (size_t) sprintf(vdl + vdlen - 1, "%s%" PRIu32, i ? "," : "", v->district_id);
        /* Back to the queue; not a decliner (not their choice), and the
         * rota keeps the visit from coming back to them that day. */
        dd_timer_cancel(v);
        dd_world_set_state(app->world, v, DD_VISIT_WAITING, now);
        v->accepted_us = 0;
        json_array_append_new(unplanned, json_string(v->id));
        cc_info("visit_unplanned", "visit_id", v->id, "order_id", v->order_id, "caregiver_id",
                c->id, "reason", "caregiver_unavailable");
    }
    strcpy(vdl + vdlen - 1, "}");
    app->dirty = 1;   /* capacity changed either way: retry the queue */
    c->plan_ver++;    /* a re-optimisation started before saw the old day */
    dd_reopt_kick(app, c->district_id);
    char dbuf[16];
    char *a_ids = s_array((const char *const *) ids, nv);
    char *a_orders = s_array((const char *const *) orders, nv);
    char *a_evs = s_array((const char *const *) evs, nv);
    char *a_pays = s_array((const char *const *) pays, nv);
    if (!a_ids || !a_orders || !a_evs || !a_pays) {
        cc_error("out_of_memory", "where", "put_rota");
        exit(1);
    }
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_ROTA_SET]);
    cc_args_int(&a, "district", c->district_id);
    cc_args_text(&a, "caregiver", c->id);
    cc_args_text(&a, "day", dd_day_format(day, dbuf, sizeof dbuf));
    if (e.off == DD_OFF_NONE) {
        cc_args_int(&a, "start", e.start_min);
        cc_args_int(&a, "end", e.end_min);
        cc_args_null(&a, "off");
    } else {
        cc_args_null(&a, "start");
        cc_args_null(&a, "end");
        cc_args_text(&a, "off", dd_off_name(e.off));
    }
    cc_args_text(&a, "by", s_by(req));
    cc_args_int(&a, "at", now);
    cc_args_text(&a, "vdistricts", vdl);
    cc_args_text(&a, "ids", a_ids);
    cc_args_text(&a, "orders", a_orders);
    cc_args_text(&a, "evs", a_evs);
    cc_args_text(&a, "payloads", a_pays);
    json_t *reply = s_day_json(c, day);
    json_object_set_new(reply, "caregiver_id", json_string(c->id));
    json_object_set_new(reply, "unplanned", unplanned);
    s_exec(app, &a, DD_ST_ROTA_SET, req, 200, reply);
    for (size_t i = 0; i < nv; i++) {
        free(ids[i]);
        free(orders[i]);
        free(evs[i]);
        free(pays[i]);
    }
    free(ids);
    free(orders);
    free(evs);
    free(pays);
    free(vs);
    free(vd);
    free(vdl);
    free(a_ids);
    free(a_orders);
    free(a_evs);
    free(a_pays);
    cc_info("rota_set", "caregiver_id", c->id, "date", dbuf, "off", dd_off_name(e.off));
}

void dd_ops_get_rota(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    int32_t today = dd_day_of(cc_now_us()), from = today, to = today + 13;
    const char *f = cc_http_query(req, "from"), *t = cc_http_query(req, "to");
    if (f && dd_day_parse(f, &from) != 0) {
        cc_http_reply_error(&req, 400, "invalid_value", "from", "from must be a date YYYY-MM-DD");
        return;
    }
    if (t && dd_day_parse(t, &to) != 0) {
        cc_http_reply_error(&req, 400, "invalid_value", "to", "to must be a date YYYY-MM-DD");
        return;
    }
    if (f && !t)
        to = from + 13;
    if (to < from || to - from >= S_ROTA_MAX_DAYS) {
        s_errf(&req, 400, "invalid_value", "to",
                            "to must be from from to %d days after it", S_ROTA_MAX_DAYS - 1);
        return;
    }
    dd_caregiver_t *c = s_caregiver_in_scope(app, &req);
    if (!c)
        return;
    json_t *days = json_array();
    for (int32_t d = from; d <= to; d++)
        json_array_append_new(days, s_day_json(c, d));
    cc_http_reply_json(&req, 200, json_pack("{s:s, s:o}", "caregiver_id", c->id, "days", days));
}

/* ---- certificates ------------------------------------------------------------------ */

json_t *dd_ops_certificates_json(const dd_caregiver_t *c)
{
    json_t *a = json_array();
    for (size_t i = 0; c->rules && i < c->rules->ncerts; i++) {
        const dd_cert_t *x = &c->rules->certs[i];
        json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:o, s:o}", "certificate_id", x->id,
                                           "kind", dd_cert_kind_name(x->kind), "level",
                                           x->level, "valid_from", s_time(x->from_us),
                                           "valid_until", s_time(x->until_us)));
    }
    return a;
}

void dd_ops_post_certificate(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    json_t *body = cc_http_json(req);
    cc_err_t err = {0};
    const char *kind = NULL;
    int64_t level = 1, from = 0, until = 0;
    static const char *const known[] = {"kind", "level", "valid_from", "valid_until", NULL};
    if (cc_json_only(body, known, &err) || cc_json_str(body, "kind", 1, 32, &kind, &err)
        || cc_json_int(body, "level", 0, 1, 3, &level, &err)
        || cc_json_time(body, "valid_from", 1, &from, &err)
        || cc_json_time(body, "valid_until", 1, &until, &err)) {
        cc_http_reply_err(&req, &err);
        return;
    }
    int k = dd_cert_kind_parse(kind);
    if (k < 0) {
        cc_http_reply_error(&req, 400, "invalid_value", "kind",
                            "kind must be a visit service (bath, cleaning, escort, "
                            "medical_escort, emergency, visit, assessment) or first_aid");
        return;
    }
    if (until <= from) {
        cc_http_reply_error(&req, 400, "invalid_value", "valid_until",
                            "valid_until must be after valid_from");
        return;
    }
    dd_caregiver_t *c = s_caregiver_in_scope(app, &req);
    if (!c)
        return;
    dd_cert_t x = { .kind = k, .level = (int) level, .from_us = from, .until_us = until };
    cc_uuid(x.id);
    if (dd_rules_cert_add(c, &x) != 0) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    app->dirty = 1;   /* may qualify for waiting visits now */
    c->plan_ver++;    /* a re-optimisation started before saw the old rules */
    dd_reopt_kick(app, c->district_id);
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_CERT_ADD]);
    cc_args_int(&a, "district", c->district_id);
    cc_args_text(&a, "id", x.id);
    cc_args_text(&a, "caregiver", c->id);
    cc_args_text(&a, "kind", dd_cert_kind_name(k));
    cc_args_int(&a, "level", x.level);
    cc_args_int(&a, "from", from);
    cc_args_int(&a, "until", until);
    cc_args_text(&a, "by", s_by(req));
    cc_args_int(&a, "at", cc_now_us());
    s_exec(app, &a, DD_ST_CERT_ADD, req, 201,
           json_pack("{s:s, s:s, s:s, s:i, s:o, s:o}", "certificate_id", x.id, "caregiver_id",
                     c->id, "kind", dd_cert_kind_name(k), "level", x.level, "valid_from",
                     s_time(from), "valid_until", s_time(until)));
    cc_info("certificate_added", "caregiver_id", c->id, "kind", dd_cert_kind_name(k));
}

/* ---- zones ----------------------------------------------------------------------- */

static const char *s_provider_param(cc_http_req_t **req)
{
    const char *p = cc_http_path_param(*req, "provider");
    if (!p || !p[0] || strlen(p) > CC_PROVIDER_ID_MAX) {
        s_errf(req, 400, "invalid_value", "provider_id",
                            "a provider id is 1 to %d bytes", CC_PROVIDER_ID_MAX);
        return NULL;
    }
    return p;
}

static json_t *s_zone_json(const char *provider, const dd_zone_t *z)
{
    json_t *d = json_array();
    for (size_t i = 0; z && i < z->n; i++)
        json_array_append_new(d, json_integer(z->districts[i]));
    return json_pack("{s:s, s:o, s:s}", "provider_id", provider, "district_ids",
                     z ? d : (json_decref(d), json_null()), "serves",
                     z ? "districts" : "everywhere");
}

void dd_ops_put_districts(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    const char *provider = s_provider_param(&req);
    if (!provider)
        return;
    json_t *body = cc_http_json(req);
    json_t *arr = json_object_get(body, "district_ids");
    if (!arr || json_is_null(arr)) {
        cc_http_reply_error(&req, 400, "missing_field", "district_ids", "district_ids is required");
        return;
    }
    if (!json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > S_ZONE_MAX) {
        s_errf(&req, 400, "invalid_value", "district_ids",
                            "district_ids must be an array of 1 to %d district ids", S_ZONE_MAX);
        return;
    }
    uint32_t d[S_ZONE_MAX];
    size_t n = 0, i;
    json_t *x;
    json_array_foreach(arr, i, x) {
        if (!json_is_integer(x) || json_integer_value(x) < CC_DISTRICT_MIN
            || json_integer_value(x) > CC_DISTRICT_MAX) {
            s_errf(&req, 400, "invalid_value", "district_ids",
                                "district_ids[%zu] is not a district id", i);
            return;
        }
        d[n++] = (uint32_t) json_integer_value(x);
    }
    dd_zones_t *zones = dd_world_zones(app->world);
    /* Give the provider's caregivers their rules first (the only step that
     * allocates per caregiver), so that the zone never half applies. */
    size_t ncg;
    dd_caregiver_t *const *cgs = dd_world_caregivers(app->world, &ncg);
    for (size_t k = 0; k < ncg; k++)
        if (strcmp(cgs[k]->provider_id, provider) == 0 && !cgs[k]->rules) {
            cgs[k]->rules = calloc(1, sizeof *cgs[k]->rules);
            if (!cgs[k]->rules) {
                cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
                return;
            }
        }
    if (dd_zones_set(zones, provider, d, n) != 0) {
        cc_http_reply_error(&req, 503, "out_of_memory", NULL, "try again");
        return;
    }
    for (size_t k = 0; k < ncg; k++)
        if (strcmp(cgs[k]->provider_id, provider) == 0) {
            (void) dd_rules_link(zones, cgs[k]);   /* rules exist: cannot fail */
            cgs[k]->plan_ver++;   /* re-optimisations started before: stale */
        }
    app->dirty = 1;
    dd_reopt_kick(app, 0);
    char *lit = malloc(n * 12 + 3);
    if (!lit) {
        cc_error("out_of_memory", "where", "put_districts");
        exit(1);
    }
    size_t off = 0;
    off += (size_t) sprintf(lit, "{");
    for (size_t k = 0; k < n; k++)
        off += (size_t) sprintf(lit + off, "%s%" PRIu32, k ? "," : "", d[k]);
    sprintf(lit + off, "}");
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_ZONE_SET]);
    cc_args_text(&a, "provider", provider);
    cc_args_text(&a, "districts", lit);
    cc_args_text(&a, "by", s_by(req));
    cc_args_int(&a, "at", cc_now_us());
    s_exec(app, &a, DD_ST_ZONE_SET, req, 200,
           s_zone_json(provider, dd_zones_get(zones, provider)));
    free(lit);
    cc_info("provider_districts_set", "provider_id", provider);
}

void dd_ops_get_districts(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    const char *provider = s_provider_param(&req);
    if (!provider)
        return;
    /* A provider_admin sees their own provider's; dispatchers every one
     * (which provider serves where is what they dispatch by). */
    const cc_jwt_claims_t *who = cc_http_claims(req);
    if (who && who->role == CC_ROLE_PROVIDER_ADMIN
        && cc_http_scope(&req, &(cc_scope_t) { .provider_id = provider }) != 0)
        return;
    cc_http_reply_json(&req, 200,
                       s_zone_json(provider, dd_zones_get(dd_world_zones(app->world), provider)));
}

/* ---- visits: failed on site, manual assignment, release ------------------------------ */

static dd_visit_t *s_visit_or_404(dd_app_t *app, cc_http_req_t **req)
{
    dd_visit_t *v = dd_world_visit(app->world, cc_http_path_param(*req, "visit_id"));
    if (!v)
        cc_http_reply_error(req, 404, "not_found", "visit_id", "no such open visit");
    return v;
}

/* Reasons a visit fails on site (VisitFailed.reason; orderd fails the
 * order with it and billingd releases its hold). */
static const char *const s_fail_reasons[] = {"elder_absent", "refused", "hospitalised",
                                             "unsafe", "other", NULL};

void dd_ops_fail(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    dd_visit_t *v = s_visit_or_404(app, &req);
    if (!v)
        return;
    json_t *body = cc_http_json(req);
    cc_err_t err = {0};
    int ix = -1, resched = 0;
    if (cc_json_enum(body, "reason", 1, s_fail_reasons, &ix, &err)
        || cc_json_bool(body, "reschedule", 0, &resched, &err)) {
        cc_http_reply_err(&req, &err);
        return;
    }
    if (resched) {
        /* orderd has no way back from a failed visit to a released order:
         * the family or operator books again (docs/API-dispatchd.md). */
        cc_http_reply_error(&req, 422, "not_supported", "reschedule",
                            "reschedule is not supported: the order fails; book a new one");
        return;
    }
    const cc_jwt_claims_t *who = cc_http_claims(req);
    if (who && who->role == CC_ROLE_CAREGIVER) {
        /* Only the caregiver who holds the visit (the token says who). */
        if (strcmp(v->caregiver_id, who->caregiver_id) != 0
            || !((dd_visit_state_planned(v->state) && v->state != DD_VISIT_PLANNED)
                 || v->state == DD_VISIT_FAILED)) {
            cc_http_reply_error(&req, 403, "forbidden", "caregiver_id",
                                "the visit is not assigned to this caregiver");
            return;
        }
    } else {
        cc_scope_t scope = { .district_id = v->district_id, .caregiver_id = v->caregiver_id,
                             .provider_id = v->provider_id };
        if (cc_http_scope(&req, &scope) != 0)
            return;
    }
    if (v->state == DD_VISIT_FAILED && strcmp(v->fail_reason, s_fail_reasons[ix]) == 0) {
        cc_http_reply_json(&req, 200, json_pack("{s:s, s:s}", "visit_id", v->id, "state",
                                                "failed"));   /* a retry */
        return;
    }
    if (v->state != DD_VISIT_ACCEPTED && v->state != DD_VISIT_CHECKED_IN) {
        s_errf(&req, 409, "invalid_state", "state",
                            "a visit fails on site once accepted or checked in (it is %s)",
                            dd_visit_state_name(v->state));
        return;
    }
    cc_info("visit_failed_on_site", "visit_id", v->id, "order_id", v->order_id, "reason",
            s_fail_reasons[ix]);
    dd_dispatch_resolve(app, v, DD_VISIT_FAILED, s_fail_reasons[ix], s_by(req), req);
}

static uint8_t *s_pack_declined(const dd_visit_t *v, const char *cg, const char *reason,
                                size_t *len)
{
    Cc__VisitDeclined d = CC__VISIT_DECLINED__INIT;
    d.visit_id = (char *) v->id;
    d.order_id = (char *) v->order_id;
    d.caregiver_id = (char *) cg;
    d.reason = (char *) reason;
    return cc_event_pack(&d.base, len);
}

static uint8_t *s_pack_assigned(const dd_visit_t *v, size_t *len)
{
    Cc__VisitAssigned m = CC__VISIT_ASSIGNED__INIT;
    m.visit_id = (char *) v->id;
    m.order_id = (char *) v->order_id;
    m.caregiver_id = (char *) v->caregiver_id;
    m.provider_id = (char *) v->provider_id;
    m.eta_us = v->eta_us;
    m.travel_s = v->travel_s;
    return cc_event_pack(&m.base, len);
}

static int s_reason(cc_http_req_t **req, json_t *body, const char **reason)
{
    cc_err_t err = {0};
    if (cc_json_str(body, "reason", 1, CC_TEXT_MAX, reason, &err) != 0) {
        cc_http_reply_err(req, &err);
        return -1;
    }
    if (!(*reason)[0]) {
        cc_http_reply_error(req, 400, "invalid_value", "reason", "reason must not be empty");
        return -1;
    }
    return 0;
}

void dd_ops_assign(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    json_t *body = cc_http_json(req);
    cc_err_t err = {0};
    char cg_id[CC_UUID_LEN];
    const char *reason = NULL;
    int force = 0;
    static const char *const known[] = {"caregiver_id", "reason", "force", NULL};
    if (cc_json_only(body, known, &err) || cc_json_uuid(body, "caregiver_id", 1, cg_id, &err)
        || cc_json_bool(body, "force", 0, &force, &err)) {
        cc_http_reply_err(&req, &err);
        return;
    }
    if (s_reason(&req, body, &reason) != 0)
        return;
    dd_visit_t *v = s_visit_or_404(app, &req);
    if (!v)
        return;
    cc_scope_t scope = { .district_id = v->district_id };
    if (cc_http_scope(&req, &scope) != 0)
        return;
    dd_caregiver_t *c = dd_world_caregiver(app->world, cg_id);
    if (!c) {
        cc_http_reply_error(&req, 422, "invalid_value", "caregiver_id", "no such caregiver");
        return;
    }
    if (v->state != DD_VISIT_WAITING && v->state != DD_VISIT_ASSIGNED
        && v->state != DD_VISIT_ACCEPTED && v->state != DD_VISIT_PLANNED) {
        s_errf(&req, 409, "invalid_state", "state",
                            "only a visit not started can be assigned (it is %s)",
                            dd_visit_state_name(v->state));
        return;
    }
    if (v->caregiver == c) {
        cc_http_reply_error(&req, 409, "already_assigned", "caregiver_id",
                            "the visit is this caregiver's already");
        return;
    }
    /* The hard rules always hold: skill, level, first aid, certificates,
     * zone (and never someone who declined it). force overrides only the
     * time fit (shift, plan, window), never a day of leave or sickness. */
    dd_fit_t q = dd_qualified(c, v);
    if (q != DD_FIT_OK) {
        s_errf(&req, 422, "not_qualified", "caregiver_id",
                            "the caregiver fails the rule %s for this visit", dd_fit_name(q));
        return;
    }
    int64_t now = cc_now_us();
    dd_match_t m;
    if (!force) {
        /* The day model with this one caregiver (dd_model.h): their shift
         * by the rota, their plan as it is, the window and the travel. */
        dd_model_params_t p;
        dd_app_model_params(app, now, &p);
        dd_caregiver_t *one[] = {c};
        if (dd_model_match(one, 1, v, &p, &m) != 0) {
            cc_http_reply_error(&req, 409, "no_fit", "caregiver_id",
                                "no time for it in the caregiver's day (shift, plan, window "
                                "or travel); \"force\": true overrides the time fit");
            return;
        }
    } else {
        int64_t at = v->window_start_us > now ? v->window_start_us : now;
        if (dd_rules_unavailable(c, at)) {
            cc_http_reply_error(&req, 409, "no_fit", "caregiver_id",
                                "the caregiver is on leave or sick that day");
            return;
        }
        int travel = dd_model_travel_s(c->lat, c->lon, v->lat, v->lon);
        if (travel < 0)
            travel = 0;
        m = (dd_match_t) { .caregiver = c, .travel_s = travel };
        m.eta_us = now + (int64_t) travel * CC_US_PER_S;
        if (m.eta_us < v->window_start_us)
            m.eta_us = v->window_start_us;
        m.end_us = m.eta_us + (int64_t) dd_service_minutes(v->service) * CC_US_PER_MIN;
    }
    char old[DD_ID_LEN] = "";
    dd_visit_state_t from = v->state;
    if (dd_visit_state_planned(from) && from != DD_VISIT_PLANNED)   /* planned: never offered */
        snprintf(old, sizeof old, "%s", v->caregiver_id);
    size_t dlen = 0, alen = 0;
    uint8_t *dpay = old[0] ? s_pack_declined(v, old, "reassigned", &dlen) : NULL;
    dd_timer_cancel(v);
    v->accepted_us = 0;
    if (dd_world_assign(app->world, v, &m, now) != 0) {
        cc_error("out_of_memory", "where", "manual_assign");
        exit(1);
    }
    snprintf(v->manual_caregiver_id, sizeof v->manual_caregiver_id, "%s", c->id);
    if (dd_visit_state_planned(from))
        app->dirty = 1;   /* the old caregiver's slot is free */
    uint8_t *apay = s_pack_assigned(v, &alen);
    if ((old[0] && !dpay) || !apay) {
        cc_error("out_of_memory", "where", "manual_assign");
        exit(1);
    }
    char rec[CC_UUID_LEN], ev_d[CC_UUID_LEN], ev[CC_UUID_LEN];
    cc_uuid(rec);
    cc_uuid(ev_d);
    cc_uuid(ev);
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_MANUAL_ASSIGN]);
    cc_args_int(&a, "district", v->district_id);
    cc_args_text(&a, "id", v->id);
    cc_args_text(&a, "from", dd_visit_state_stored(from));
    cc_args_text(&a, "old", old[0] ? old : NULL);
    cc_args_text(&a, "caregiver", c->id);
    dd_offer_args(&a, v);
    cc_args_int(&a, "at", now);
    cc_args_text(&a, "order", v->order_id);
    cc_args_text(&a, "rec", rec);
    cc_args_text(&a, "reason", reason);
    cc_args_text(&a, "by", s_by(req));
    cc_args_bool(&a, "forced", force);
    if (old[0]) {
        cc_args_text(&a, "ev_d", ev_d);
        cc_args_bytes(&a, "pay_d", dpay, dlen);
    } else {
        cc_args_null(&a, "ev_d");
        cc_args_null(&a, "pay_d");
    }
    cc_args_text(&a, "ev", ev);
    cc_args_bytes(&a, "payload", apay, alen);
    json_t *reply = json_pack("{s:s, s:s, s:s, s:b, s:b, s:o}", "visit_id", v->id, "state",
                              dd_visit_state_name(v->state), "caregiver_id", c->id, "manual", 1,
                              "forced", force, "eta", s_time(v->eta_us));
    json_object_set_new(reply, "from_caregiver_id", old[0] ? json_string(old) : json_null());
    s_exec(app, &a, DD_ST_MANUAL_ASSIGN, req, 200, reply);
    free(dpay);
    free(apay);
    dd_timer_arm(app, v, now);
    cc_metric_inc(app->m_assigned);
    cc_info("visit_assigned", "visit_id", v->id, "order_id", v->order_id, "caregiver_id", c->id,
            "from", "dispatcher");
}

void dd_ops_release(cc_http_req_t *req, void *arg)
{
    dd_app_t *app = arg;
    json_t *body = cc_http_json(req);
    cc_err_t err = {0};
    const char *reason = NULL;
    static const char *const known[] = {"reason", NULL};
    if (cc_json_only(body, known, &err)) {
        cc_http_reply_err(&req, &err);
        return;
    }
    if (s_reason(&req, body, &reason) != 0)
        return;
    dd_visit_t *v = s_visit_or_404(app, &req);
    if (!v)
        return;
    cc_scope_t scope = { .district_id = v->district_id };
    if (cc_http_scope(&req, &scope) != 0)
        return;
    if (!v->manual_caregiver_id[0]) {
        cc_http_reply_error(&req, 409, "not_manual", "visit_id",
                            "the visit is not held by a manual assignment");
        return;
    }
    v->manual_caregiver_id[0] = '\0';
    char rec[CC_UUID_LEN];
    cc_uuid(rec);
    cc_args_t a;
    cc_args_init(&a, &dd_stmts[DD_ST_RELEASE]);
    cc_args_int(&a, "district", v->district_id);
    cc_args_text(&a, "id", v->id);
    cc_args_text(&a, "rec", rec);
    cc_args_text(&a, "reason", reason);
    cc_args_text(&a, "by", s_by(req));
    cc_args_int(&a, "at", cc_now_us());
    s_exec(app, &a, DD_ST_RELEASE, req, 200,
           json_pack("{s:s, s:s, s:b}", "visit_id", v->id, "state",
                     dd_visit_state_name(v->state), "manual", 0));
    cc_info("visit_released", "visit_id", v->id, "order_id", v->order_id);
}
