/* od_assess: ability assessments (see od_assess.h). */
#include "od_assess.h"
#include "cc_log.h"
#include "cc_metrics.h"
#include "cc_rt.h"
#include "cc_util.h"
#include "events.pb-c.h"
#include "od_app.h"
#include "od_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cc_metric_t *s_m_recorded, *s_m_not_recorded;

void od_assess_init_metrics(void)
{
    s_m_recorded = cc_metrics_counter("orderd_assessments_recorded_total",
                                      "Assessment results recorded (VisitAssessed)");
    s_m_not_recorded = cc_metrics_counter(
        "orderd_assessments_not_recorded_total",
        "VisitAssessed events recorded before or for no assessment order");
}

static int s_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int s_mdays(int y, int m)
{
    static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && s_leap(y) ? 29 : d[m - 1];
}

static int s_valid(int y, int m, int d)
{
    return y >= 1 && y <= 9997 && m >= 1 && m <= 12 && d >= 1 && d <= s_mdays(y, m);
}

int od_assess_next_due(int by, int bm, int bd, int ay, int am, int ad, int *ny, int *nm,
                       int *nd)
{
    if (!s_valid(by, bm, bd) || !s_valid(ay, am, ad))
        return -1;
    if (ay < by || (ay == by && (am < bm || (am == bm && ad < bd))))
        return -1;
    /* Completed years on the assessment's day. */
    int age = ay - by - ((am < bm || (am == bm && ad < bd)) ? 1 : 0);
    int y = ay + (age >= 80 ? 1 : 2);
    *ny = y;
    *nm = am;
    *nd = ad <= s_mdays(y, am) ? ad : s_mdays(y, am);   /* 29 Feb -> 28 Feb */
    return 0;
}

/* ---- VisitAssessed ------------------------------------------------------------------ */
typedef struct {
    od_app_t *app;
    char elder_id[CC_UUID_LEN];
    char order_id[CC_UUID_LEN];
    int level;                   /* index in od_ability_names */
} s_rec_t;

static void s_on_recorded(PGresult *res, void *arg)
{
    s_rec_t *x = arg;
    /* Failed: the consumer retries from its position (cc_consumer.h). */
    if (od_app_write_ok(x->app, "od_on_visit_assessed", res, NULL) == 0 && PQntuples(res) == 1) {
        const char *out = PQgetvalue(res, 0, 0);
        if (strcmp(out, "updated") == 0 || strcmp(out, "older") == 0) {
            cc_metric_inc(s_m_recorded);
            /* Later releases for this elder carry the new level (who may
             * bathe them: dd_rules_certified). */
            od_elder_t *e = cc_map_get(x->app->elders, x->elder_id);
            if (e && strcmp(out, "updated") == 0)
                e->ability = (uint8_t) x->level;
            cc_info("assessment_recorded", "order_id", x->order_id, "elder_id", x->elder_id);
        } else if (strcmp(out, "replayed") != 0) {
            cc_metric_inc(s_m_not_recorded);
            cc_warn("assessment_not_recorded", "order_id", x->order_id, "outcome", out);
        }
    }
    free(x);
}

int od_assess_on_event(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg,
                       void *arg)
{
    od_app_t *app = arg;
    const Cc__VisitAssessed *m = (const Cc__VisitAssessed *) msg;
    int level = -1;
    for (int i = 0; od_ability_names[i]; i++)
        if (strcmp(m->level, od_ability_names[i]) == 0)
            level = i;
    if (level < 0)   /* the schema allows the same words: our tables disagree */
        return -1;
    s_rec_t *x = cc_xcalloc(sizeof *x, "assessment");
    x->app = app;
    x->level = level;
    snprintf(x->elder_id, sizeof x->elder_id, "%s", m->elder_id);
    snprintf(x->order_id, sizeof x->order_id, "%s", m->order_id);
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_ON_ASSESSED]);
    cc_args_text(&a, "producer", "dispatchd");
    cc_args_int(&a, "seq", (int64_t) env->seq);
    cc_args_text(&a, "event_id", env->id);
    cc_args_text(&a, "order", m->order_id);
    cc_args_text(&a, "visit", m->visit_id);
    cc_args_text(&a, "assessor", m->caregiver_id);
    cc_args_text(&a, "elder", m->elder_id);
    cc_args_text(&a, "level", od_ability_names[level]);
    cc_args_int(&a, "score", m->score);
    cc_args_int(&a, "at", m->assessed_us ? m->assessed_us : (int64_t) env->time_us);
    if (cc_consumer_call(c, &a, s_on_recorded, x) != 0) {
        cc_error("db_queue_failed", "what", a.st->name);
        exit(1);
    }
    return 0;
}

/* ---- GET /v1/elders/{id}/assessments ------------------------------------------------ */
static json_t *s_due(const char *birth, const char *on)
{
    int by, bm, bd, ay, am, ad, ny, nm, nd;
    if (!birth || !on || sscanf(birth, "%d-%d-%d", &by, &bm, &bd) != 3
        || sscanf(on, "%d-%d-%d", &ay, &am, &ad) != 3
        || od_assess_next_due(by, bm, bd, ay, am, ad, &ny, &nm, &nd) != 0)
        return json_null();
    char buf[16];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", ny, nm, nd);
    return json_string(buf);
}

static void s_on_list(PGresult *res, void *arg)
{
    cc_http_req_t *req = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot read the assessments");
        return;
    }
    if (PQntuples(res) == 0) {
        cc_http_reply_error(&req, 404, "not_found", "id", "no elder with this id");
        return;
    }
    /* Columns: elder id, birth date, then one assessment per row (NULL
     * order: none), newest first (od_store.c, od_assessments_get). */
    json_t *list = json_array(), *next = json_null();
    for (int r = 0; r < PQntuples(res); r++) {
        if (PQgetisnull(res, r, 2))
            continue;
        char tbuf[48];
        const char *on = PQgetvalue(res, r, 8);
        json_t *due = s_due(PQgetvalue(res, r, 1), on);
        if (json_array_size(list) == 0) {
            json_decref(next);
            next = json_incref(due);
        }
        json_array_append_new(list, json_pack(
            "{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:o}",
            "order_id", PQgetvalue(res, r, 2), "visit_id", PQgetvalue(res, r, 3),
            "assessor_id", PQgetvalue(res, r, 4), "level", PQgetvalue(res, r, 5),
            "score", atoi(PQgetvalue(res, r, 6)),
            "assessed_at", cc_time_format(strtoll(PQgetvalue(res, r, 7), NULL, 10), tbuf,
                                          sizeof tbuf),
            "assessed_on", on, "next_due", due));
    }
    json_t *body = json_pack("{s:s, s:o, s:o}", "elder_id", PQgetvalue(res, 0, 0),
                             "assessments", list, "next_due", next);
    cc_http_reply_json(&req, 200, body);
}

void od_assess_get(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_ASSESSMENTS_GET]);
    cc_args_text(&a, "id", cc_http_path_param(req, "id"));
    if (cc_db_call(app->rt.reader, &a, s_on_list, req) != 0)
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot queue the query");
}
