/* od_alarm: see od_alarm.h. */
#include "od_alarm.h"
#include "od_notify.h"
#include "od_store.h"
#include "cc_event.h"
#include "cc_evlog.h"
#include "cc_jwt.h"
#include "cc_log.h"
#include "cc_rt.h"
#include "cc_time.h"
#include "cc_zsock.h"
#include <zmq.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_POLICY_MAX (64 * 1024)   /* as the order intake: CC_EVLOG_MAX_REQUEST */
#define S_HARD_MAX (1024 * 1024)

const char *const od_alarm_kind_names[] = { "fall", "smoke", "gas", "sos", "other", NULL };
const char *const od_alarm_state_names[] = { "open", "acknowledged", "escalated", NULL };

enum { S_CREATED, S_EXISTING, S_INVALID, S_UNKNOWN_ELDER, S_KEY_TAKEN, S_OUTCOMES };
static const char *const s_outcome_names[S_OUTCOMES] = {
    "created", "existing", "invalid", "unknown_elder", "key_taken"
};
enum { S_R_GARBAGE, S_R_OVERSIZE, S_R_TYPE, S_R_INVALID, S_R_FRAMES, S_R_OVERLOADED, S_R_COUNT };
static const char *const s_reject_names[S_R_COUNT] = {
    "garbage", "oversize", "wrong_type", "invalid", "frames", "overloaded"
};

typedef struct od_alarms {
    od_app_t *app;
    cc_zsock_t *router;                   /* the alarm intake, NULL when off */
    int live;                             /* intake replies pending */
    struct event *ev_escalate;            /* escalation check */
    int escalating;                       /* a check is queued */
    od_notify_t *notify;                  /* NULL without --notify-url */
    cc_metric_t *m_outcome[S_OUTCOMES];
    cc_metric_t *m_reject[S_R_COUNT];
    cc_metric_t *m_escalated, *m_acked;
} s_alarms_t;

/* ---- requests --------------------------------------------------------------- */
static int s_device_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > OD_DEVICE_MAX)
        return 0;
    for (; *s; s++)
        if (!isgraph((unsigned char)*s))
            return 0;
    return 1;
}

int od_alarm_req_check(od_alarm_req_t *r, int64_t now_us, cc_err_t *err)
{
    if (!s_device_ok(r->device_id))
        return cc_err_set(err, 400, "invalid_value", "device_id",
                          "device_id must be 1..64 printable characters without spaces");
    if (cc_uuid_norm(r->elder_id, r->elder_id) != 0)
        return cc_err_set(err, 400, "invalid_value", "elder_id", "elder_id must be a UUID");
    if (r->kind < 0 || r->kind > 4)
        return cc_err_set(err, 400, "invalid_value", "kind",
                          "kind must be one of fall, smoke, gas, sos, other");
    if (r->at_us < now_us - OD_ALARM_PAST_US)
        return cc_err_set(err, 422, "invalid_value", "at",
                          "the alarm is more than an hour old");
    if (r->at_us > now_us + OD_ALARM_FUTURE_US)
        return cc_err_set(err, 422, "invalid_value", "at",
                          "the alarm is more than 5 minutes in the future");
    return 0;
}

int od_alarm_req_from_json(json_t *body, int64_t now_us, od_alarm_req_t *r, cc_err_t *err)
{
    static const char *const known[] = { "device_id", "elder_id", "kind", "at", NULL };
    memset(r, 0, sizeof *r);
    const char *device = NULL, *elder = NULL;
    if (cc_json_only(body, known, err) != 0)
        return -1;
    if (cc_json_str(body, "device_id", 1, OD_DEVICE_MAX, &device, err) != 0)
        return -1;
    snprintf(r->device_id, sizeof r->device_id, "%s", device);
    if (cc_json_str(body, "elder_id", 1, CC_UUID_TEXT_LEN, &elder, err) != 0)
        return -1;
    snprintf(r->elder_id, sizeof r->elder_id, "%s", elder);
    if (cc_json_enum(body, "kind", 1, od_alarm_kind_names, &r->kind, err) != 0)
        return -1;
    if (cc_json_time(body, "at", 1, &r->at_us, err) != 0)
        return -1;
    return od_alarm_req_check(r, now_us, err);
}

/* ---- raising --------------------------------------------------------------------- */
typedef struct {
    od_app_t *app;
    od_order_t *order;                    /* in app->orders until the store answers */
    od_alarm_cb *cb;
    void *ctx;
} s_raise_t;

/* The card an alarm's order is on: active, else blocked (an emergency is
 * never refused: billingd books arrears), else none. A scan of the cards:
 * alarms are rare, and memory keeps no index by elder. */
typedef struct {
    const od_elder_t *e;
    od_card_t *best;
} s_pick_t;

static int s_pick_card(const char *k, void *v, void *arg)
{
    (void)k;
    od_card_t *c = v;
    s_pick_t *p = arg;
    if (c->elder == p->e && c->status != OD_CARD_CLOSED &&
        (!p->best || (p->best->status != OD_CARD_ACTIVE && c->status == OD_CARD_ACTIVE)))
        p->best = c;
    return 0;
}

static void s_count(od_app_t *app, int outcome)
{
    if (app->alarms)
        cc_metric_inc(app->alarms->m_outcome[outcome]);
}

static void s_refuse(od_alarm_cb *cb, void *ctx, int status, const char *error,
                     const char *field, const char *msg)
{
    cc_err_t err;
    cc_err_set(&err, status, error, field, "%s", msg);
    cb(ctx, status, NULL, NULL, &err);
}

static void s_forget(od_app_t *app, od_order_t *o)
{
    cc_map_remove(app->orders, o->id);
    free(o->notes);
    free(o);
}

static void s_on_raised(PGresult *res, void *arg)
{
    s_raise_t *x = arg;
    od_app_t *app = x->app;
    cc_err_t err;
    if (od_app_write_ok(app, "od_alarm_raise", res, &err) != 0) {
        s_forget(app, x->order);   /* nothing committed: a retry raises it afresh */
        x->cb(x->ctx, err.status, NULL, NULL, &err);
        free(x);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_alarm_raise", res);
    const char *outcome = PQgetvalue(res, 0, 0);
    const char *alarm_id = PQgetvalue(res, 0, 1), *order_id = PQgetvalue(res, 0, 2);
    od_order_t *o = x->order;
    /* "existing" with our own order: the batch was re-sent after its COMMIT
     * went through (reconnect), so we did create it. */
    int created = strcmp(outcome, "created") == 0 ||
                  (strcmp(outcome, "existing") == 0 && strcmp(order_id, o->id) == 0);
    if (created) {
        o->state = OD_RELEASED;
        od_app_count_state(app, o->state, +1);
        if (--o->pending == 0)
            o->next = o->state;
        s_count(app, S_CREATED);
        cc_info("alarm_raised", "alarm_id", alarm_id, "order_id", order_id, "contacts",
                PQgetvalue(res, 0, 4));
        if (app->alarms && app->alarms->notify)
            od_notify_kick(app->alarms->notify);
        x->cb(x->ctx, 201, alarm_id, order_id, NULL);
    } else {
        s_forget(app, o);
        if (strcmp(outcome, "existing") == 0) {
            s_count(app, S_EXISTING);
            cc_info("alarm_replayed", "alarm_id", alarm_id, "order_id", order_id);
            x->cb(x->ctx, 200, alarm_id, order_id, NULL);
        } else if (strcmp(outcome, "conflict") == 0) {
            s_count(app, S_KEY_TAKEN);
            s_refuse(x->cb, x->ctx, 409, "alarm_conflict", "at",
                     "this device raised another alarm (elder or kind) at this time");
        } else if (strcmp(outcome, "unknown_elder") == 0) {
            s_count(app, S_UNKNOWN_ELDER);
            s_refuse(x->cb, x->ctx, 422, "unknown_elder", "elder_id", "no elder with this id");
        } else {
            s_count(app, S_KEY_TAKEN);
            s_refuse(x->cb, x->ctx, 409, "idempotency_conflict", "at",
                     "this alarm's order key was used by another request");
        }
    }
    free(x);
}

void od_alarm_raise(od_app_t *app, const od_alarm_req_t *r, const char *source,
                    od_alarm_cb *cb, void *ctx)
{
    od_elder_t *e = cc_map_get(app->elders, r->elder_id);
    if (!e) {
        s_count(app, S_UNKNOWN_ELDER);
        s_refuse(cb, ctx, 422, "unknown_elder", "elder_id", "no elder with this id");
        return;
    }
    s_pick_t pick = { e, NULL };
    cc_map_each(app->cards, s_pick_card, &pick);
    od_card_t *card = pick.best ? pick.best : od_app_nocard(e);

    char oid[CC_UUID_LEN], aid[CC_UUID_LEN], placed_id[CC_UUID_LEN], rel_id[CC_UUID_LEN];
    cc_uuid(oid);
    cc_uuid(aid);
    cc_uuid(placed_id);
    cc_uuid(rel_id);
    /* The order's key names its origin and occurrence: one per alarm. */
    char key[OD_KEY_MAX + 1], notes[128];
    snprintf(key, sizeof key, "alarm:%s:%lld", r->device_id, (long long)r->at_us);
    snprintf(notes, sizeof notes, "alarm: %s (device %s)", od_alarm_kind_names[r->kind],
             r->device_id);
    od_order_t *o = od_app_add_order(app, oid, card);
    s_raise_t *x = calloc(1, sizeof *x);
    char *onotes = strdup(notes);
    if (!o || !x || !onotes) {
        cc_error("out_of_memory", "what", "alarm");
        exit(1);   /* crash-only: nothing was queued */
    }
    o->service = CC__SERVICE__EMERGENCY;
    o->emergency = true;
    o->window_start_us = r->at_us;
    o->window_end_us = r->at_us + OD_EMERGENCY_WINDOW_US;
    free(o->notes);
    o->notes = onotes;
    /* Known before it commits, as od_app_place does: dispatchd and billingd
     * may answer the commit before our callback runs. */
    o->state = o->next = OD_RELEASED;
    o->pending = 1;
    x->app = app;
    x->order = o;
    x->cb = cb;
    x->ctx = ctx;

    size_t placed_len = 0, rel_len = 0;
    uint8_t *placed = od_app_pack_placed(o, &placed_len);
    uint8_t *rel = od_app_pack_released(app, o, &rel_len);
    if (!placed || !rel) {
        cc_error("out_of_memory", "what", "pack");
        exit(1);
    }
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_ALARM_RAISE]);
    cc_args_text(&a, "alarm", aid);
    cc_args_text(&a, "device", r->device_id);
    cc_args_text(&a, "elder", e->id);
    cc_args_text(&a, "kind", od_alarm_kind_names[r->kind]);
    cc_args_int(&a, "at", r->at_us);
    cc_args_text(&a, "source", source);
    cc_args_text(&a, "order", oid);
    cc_args_text(&a, "key", key);
    if (card->id[0])
        cc_args_text(&a, "card", card->id);
    else
        cc_args_null(&a, "card");
    cc_args_int(&a, "ws", o->window_start_us);
    cc_args_int(&a, "we", o->window_end_us);
    cc_args_text(&a, "notes", notes);
    cc_args_text(&a, "placed_id", placed_id);
    cc_args_bytes(&a, "placed", placed, placed_len);
    cc_args_text(&a, "released_id", rel_id);
    cc_args_bytes(&a, "released", rel, rel_len);
    if (cc_db_call(app->rt.writer, &a, s_on_raised, x) != 0) {
        cc_error("db_queue_failed", "what", "od_alarm_raise");
        exit(1);
    }
    free(placed);
    free(rel);
}

/* ---- HTTP --------------------------------------------------------------------------- */
static void s_read_failed(cc_http_req_t **req, const char *what, PGresult *res)
{
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    cc_warn("db_read_failed", "what", what, "sqlstate", st ? st : "");
    cc_http_reply_error(req, 503, "unavailable", NULL, "the store could not answer; retry");
}

static void s_on_http_raised(void *ctx, int status, const char *alarm_id, const char *order_id,
                             const cc_err_t *err)
{
    cc_http_req_t *req = ctx;
    if (status >= 400) {
        cc_http_reply_err(&req, err);
        return;
    }
    json_t *body = json_object();
    json_object_set_new(body, "alarm_id", json_string(alarm_id));
    json_object_set_new(body, "order_id", json_string(order_id));
    cc_http_reply_json(&req, status, body);
}

void od_alarm_http_post(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    od_alarm_req_t r;
    cc_err_t err;
    if (od_alarm_req_from_json(cc_http_json(req), cc_now_us(), &r, &err) != 0) {
        s_count(app, S_INVALID);
        cc_http_reply_err(&req, &err);
        return;
    }
    od_alarm_raise(app, &r, "http", s_on_http_raised, req);
}

static json_t *s_col(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

static json_t *s_col_time(PGresult *res, int row, int col)
{
    char buf[48];
    if (PQgetisnull(res, row, col))
        return json_null();
    return json_string(cc_time_format(strtoll(PQgetvalue(res, row, col), NULL, 10), buf,
                                      sizeof buf));
}

/* Row of S_ALARM_COLS (od_store.c) -> JSON. */
static json_t *s_alarm_json(PGresult *res, int r)
{
    json_t *o = json_object();
    json_object_set_new(o, "alarm_id", s_col(res, r, 0));
    json_object_set_new(o, "device_id", s_col(res, r, 1));
    json_object_set_new(o, "elder_id", s_col(res, r, 2));
    json_object_set_new(o, "district_id", json_integer(atoi(PQgetvalue(res, r, 3))));
    json_object_set_new(o, "kind", s_col(res, r, 4));
    json_object_set_new(o, "at", s_col_time(res, r, 5));
    json_object_set_new(o, "source", s_col(res, r, 6));
    json_object_set_new(o, "order_id", s_col(res, r, 7));
    json_object_set_new(o, "state", s_col(res, r, 8));
    json_object_set_new(o, "raised_at", s_col_time(res, r, 9));
    json_object_set_new(o, "escalated_at", s_col_time(res, r, 10));
    json_object_set_new(o, "acknowledged_at", s_col_time(res, r, 11));
    json_object_set_new(o, "acknowledged_by", s_col(res, r, 12));
    return o;
}

static void s_on_list(PGresult *res, void *arg)
{
    cc_http_req_t *req = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_read_failed(&req, "alarms", res);
        return;
    }
    json_t *list = json_array();
    for (int r = 0; r < PQntuples(res); r++)
        json_array_append_new(list, s_alarm_json(res, r));
    json_t *body = json_object();
    json_object_set_new(body, "alarms", list);
    cc_http_reply_json(&req, 200, body);
}

void od_alarm_http_list(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    const char *state = cc_http_query(req, "state");
    const char *limit_s = cc_http_query(req, "limit");
    if (state && !*state)
        state = NULL;
    int known = 0;
    for (int i = 0; state && od_alarm_state_names[i]; i++)
        known |= strcmp(state, od_alarm_state_names[i]) == 0;
    if (state && !known) {
        cc_http_reply_error(&req, 400, "invalid_value", "state",
                            "state must be open, acknowledged or escalated");
        return;
    }
    long limit = 50;
    if (limit_s && *limit_s) {
        char *end = NULL;
        errno = 0;
        limit = strtol(limit_s, &end, 10);
        if (errno || *end || limit < 1 || limit > 500) {
            cc_http_reply_error(&req, 400, "invalid_value", "limit",
                                "limit must be an integer 1..500");
            return;
        }
    }
    cc_args_t a;
    cc_args_init(&a, &od_stmts[state ? OD_ST_ALARM_LIST_STATE : OD_ST_ALARM_LIST]);
    if (state)
        cc_args_text(&a, "state", state);
    cc_args_int(&a, "limit", limit);
    if (cc_db_call(app->rt.reader, &a, s_on_list, req) != 0)
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot queue the query");
}

static void s_on_get(PGresult *res, void *arg)
{
    cc_http_req_t *req = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        s_read_failed(&req, "alarm", res);
        return;
    }
    if (PQntuples(res) != 1) {
        cc_http_reply_error(&req, 404, "not_found", "id", "no alarm with this id");
        return;
    }
    json_t *o = s_alarm_json(res, 0);
    json_t *n = json_loads(PQgetvalue(res, 0, 13), 0, NULL);
    json_object_set_new(o, "notifications", n ? n : json_array());
    cc_http_reply_json(&req, 200, o);
}

void od_alarm_http_get(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_ALARM_GET]);
    cc_args_text(&a, "id", cc_http_path_param(req, "id"));
    if (cc_db_call(app->rt.reader, &a, s_on_get, req) != 0)
        cc_http_reply_error(&req, 503, "unavailable", NULL, "cannot queue the query");
}

typedef struct {
    od_app_t *app;
    cc_http_req_t *req;
    char id[CC_UUID_LEN];
} s_write_t;

static void s_on_acked(PGresult *res, void *arg)
{
    s_write_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "od_alarm_ack", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);
        free(x);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_alarm_ack", res);
    const char *outcome = PQgetvalue(res, 0, 0);
    if (strcmp(outcome, "unknown_alarm") == 0) {
        cc_http_reply_error(&x->req, 404, "not_found", "id", "no alarm with this id");
    } else {
        if (strcmp(outcome, "acknowledged") == 0) {
            if (x->app->alarms)
                cc_metric_inc(x->app->alarms->m_acked);
            cc_info("alarm_acknowledged", "alarm_id", x->id);
        }
        json_t *body = json_object();
        json_object_set_new(body, "alarm_id", json_string(x->id));
        json_object_set_new(body, "state", json_string("acknowledged"));
        json_object_set_new(body, "already", json_boolean(outcome[0] == 'a' &&
                                                          outcome[1] == 'l'));
        cc_http_reply_json(&x->req, 200, body);
    }
    free(x);
}

void od_alarm_http_ack(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    /* Body optional: {via: "contact" (a contact reached the call centre) |
     * "operator"}; recorded with the account that acknowledged. */
    static const char *const vias[] = { "operator", "contact", NULL };
    static const char *const known[] = { "via", NULL };
    int via = 0;
    size_t blen = 0;
    cc_http_body(req, &blen);
    if (blen > 0) {
        json_t *body = cc_http_json_body(req);
        if (!body)
            return;
        cc_err_t err;
        int rc = cc_json_only(body, known, &err);
        if (rc == 0)
            rc = cc_json_enum(body, "via", 0, vias, &via, &err);
        json_decref(body);
        if (rc != 0) {
            cc_http_reply_err(&req, &err);
            return;
        }
    }
    const cc_jwt_claims_t *c = cc_http_claims(req);
    char by[CC_JWT_SUB_MAX + 16];
    snprintf(by, sizeof by, "%s (%s)", c ? c->sub : "", vias[via]);
    s_write_t *x = cc_xcalloc(sizeof *x, "ack");
    x->app = app;
    x->req = req;
    snprintf(x->id, sizeof x->id, "%s", cc_http_path_param(req, "id"));
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_ALARM_ACK]);
    cc_args_text(&a, "alarm", x->id);
    cc_args_text(&a, "by", by);   /* the account, never a name */
    if (cc_db_call(app->rt.writer, &a, s_on_acked, x) != 0) {
        cc_error("db_queue_failed", "what", "od_alarm_ack");
        exit(1);
    }
}

static void s_on_receipt(PGresult *res, void *arg)
{
    s_write_t *x = arg;
    cc_err_t err;
    if (od_app_write_ok(x->app, "od_notify_receipt", res, &err) != 0) {
        cc_http_reply_err(&x->req, &err);
        free(x);
        return;
    }
    if (PQntuples(res) != 1)
        od_app_db_fatal("od_notify_receipt", res);
    const char *outcome = PQgetvalue(res, 0, 0);
    if (strcmp(outcome, "unknown") == 0) {
        cc_http_reply_error(&x->req, 404, "not_found", "id", "no notification with this id");
    } else if (strcmp(outcome, "not_sent") == 0) {
        cc_http_reply_error(&x->req, 409, "not_sent", "id",
                            "this notification has not been sent yet");
    } else {
        cc_info("notification_receipt", "notification_id", x->id, "state",
                PQgetvalue(res, 0, 1));
        json_t *body = json_object();
        json_object_set_new(body, "notification_id", json_string(x->id));
        json_object_set_new(body, "state", json_string(PQgetvalue(res, 0, 1)));
        cc_http_reply_json(&x->req, 200, body);
    }
    free(x);
}

void od_alarm_http_receipt(cc_http_req_t *req, void *arg)
{
    od_app_t *app = arg;
    static const char *const statuses[] = { "delivered", "failed", NULL };
    static const char *const known[] = { "status", "message_id", NULL };
    int status = 0;
    size_t blen = 0;
    cc_http_body(req, &blen);
    if (blen > 0) {
        json_t *body = cc_http_json_body(req);
        if (!body)
            return;
        cc_err_t err;
        const char *mid = NULL;
        int rc = cc_json_only(body, known, &err);
        if (rc == 0)
            rc = cc_json_enum(body, "status", 0, statuses, &status, &err);
        if (rc == 0)
            rc = cc_json_str(body, "message_id", 0, 128, &mid, &err);
        json_decref(body);
        if (rc != 0) {
            cc_http_reply_err(&req, &err);
            return;
        }
    }
    s_write_t *x = cc_xcalloc(sizeof *x, "receipt");
    x->app = app;
    x->req = req;
    snprintf(x->id, sizeof x->id, "%s", cc_http_path_param(req, "id"));
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_NOTIFY_RECEIPT]);
    cc_args_text(&a, "id", x->id);
    cc_args_text(&a, "status", statuses[status]);
    if (cc_db_call(app->rt.writer, &a, s_on_receipt, x) != 0) {
        cc_error("db_queue_failed", "what", "od_notify_receipt");
        exit(1);
    }
}

/* ---- escalation ------------------------------------------------------------------------ */
static void s_on_escalated(PGresult *res, void *arg)
{
    od_app_t *app = arg;
    s_alarms_t *self = app->alarms;
    if (self)
        self->escalating = 0;
    if (od_app_write_ok(app, "od_alarm_escalate", res, NULL) != 0)
        return;   /* logged and counted; the next tick tries again */
    for (int r = 0; r < PQntuples(res); r++) {
        if (self)
            cc_metric_inc(self->m_escalated);
        cc_warn("alarm_escalated", "alarm_id", PQgetvalue(res, r, 0), "district_id",
                PQgetvalue(res, r, 1));
    }
}

static void s_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    od_app_t *app = arg;
    s_alarms_t *self = app->alarms;
    if (!app->rt.loaded || app->rt.stopping || self->escalating)
        return;
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_ALARM_ESCALATE]);
    cc_args_int(&a, "after_s", app->alarm_escalate_s);
    self->escalating = 1;
    if (cc_db_call(app->rt.writer, &a, s_on_escalated, app) != 0) {
        cc_error("db_queue_failed", "what", "od_alarm_escalate");
        exit(1);
    }
}

/* ---- the ZeroMQ intake ------------------------------------------------------------------ */
typedef struct {
    s_alarms_t *self;
    uint8_t ident[256];                   /* ROUTER identity (<= 255 bytes) */
    size_t ident_len;
    int req_shape;                        /* REQ peer: empty delimiter frame */
    char id[64];                          /* request envelope id, echoed */
} s_pending_t;

static void s_reply(s_pending_t *p, int status, const char *alarm_id, const char *order_id,
                    const char *error, const char *field)
{
    Cc__RaiseAlarmReply r = CC__RAISE_ALARM_REPLY__INIT;
    r.status = status;
    r.alarm_id = (char *)(alarm_id ? alarm_id : "");
    r.order_id = (char *)(order_id ? order_id : "");
    r.error = (char *)(error ? error : "");
    r.field = (char *)(field ? field : "");
    size_t ilen = 0, len = 0;
    uint8_t *inner = cc_pb_pack(&r.base, &ilen);
    if (!inner)
        return;
    Cc__Envelope env = CC__ENVELOPE__INIT;
    env.type = "RaiseAlarmReply";
    env.id = p->id;
    env.producer = "orderd";
    env.time_us = cc_now_us();
    env.key = (char *)(alarm_id ? alarm_id : "");
    env.payload.data = inner;
    env.payload.len = ilen;
    uint8_t *out = cc_pb_pack(&env.base, &len);
    free(inner);
    if (!out)
        return;
    const void *frames[3];
    size_t lens[3];
    int n = 0;
    frames[n] = p->ident;
    lens[n++] = p->ident_len;
    if (p->req_shape) {
        frames[n] = "";
        lens[n++] = 0;
    }
    frames[n] = out;
    lens[n++] = len;
    if (p->self->router && cc_zsock_sendv(p->self->router, frames, lens, n) != 0)
        cc_warn("alarm_reply_dropped", "reason", "would_block");
    free(out);
}

static void s_on_zmq_raised(void *ctx, int status, const char *alarm_id, const char *order_id,
                            const cc_err_t *err)
{
    s_pending_t *p = ctx;
    if (status >= 400)
        s_reply(p, status, NULL, NULL, err ? err->error : "rejected", err ? err->field : NULL);
    else
        s_reply(p, status, alarm_id, order_id, NULL, NULL);
    p->self->live--;
    free(p);
}

/* Counted and logged without payload: the reason, and the field's name
 * for an invalid alarm (never its value). */
static void s_reject(s_alarms_t *self, int reason, const char *field)
{
    cc_metric_inc(self->m_reject[reason]);
    cc_warn("zmq_rejected", "socket", "orderd-alarms", "reason", s_reject_names[reason],
            "field", field ? field : "");
}

static void s_on_msg(cc_zsock_t *sock, const void *const *frames, const size_t *lens, int n,
                     void *arg)
{
    (void)sock;
    s_alarms_t *self = arg;
    if (n < 2 || n > 3 || (n == 3 && lens[1] != 0) || lens[0] == 0 || lens[0] > 255) {
        s_reject(self, S_R_FRAMES, NULL);
        return;
    }
    size_t blen = lens[n - 1];
    if (blen > S_POLICY_MAX) {
        s_reject(self, S_R_OVERSIZE, NULL);
        return;
    }
    Cc__Envelope *env = cc__envelope__unpack(NULL, blen, frames[n - 1]);
    if (!env) {
        s_reject(self, S_R_GARBAGE, NULL);
        return;
    }
    s_pending_t *p = cc_xcalloc(sizeof *p, "alarm intake");
    p->self = self;
    memcpy(p->ident, frames[0], lens[0]);
    p->ident_len = lens[0];
    p->req_shape = n == 3;
    snprintf(p->id, sizeof p->id, "%s", env->id);
    if (strcmp(env->type, "RaiseAlarm") != 0) {
        cc__envelope__free_unpacked(env, NULL);
        s_reject(self, S_R_TYPE, "type");
        s_reply(p, 400, NULL, NULL, "unknown_type", "type");
        free(p);
        return;
    }
    Cc__RaiseAlarm *m = cc__raise_alarm__unpack(NULL, env->payload.len, env->payload.data);
    cc__envelope__free_unpacked(env, NULL);
    if (!m) {
        s_reject(self, S_R_GARBAGE, "payload");
        s_reply(p, 400, NULL, NULL, "malformed_payload", "payload");
        free(p);
        return;
    }
    od_alarm_req_t r;
    memset(&r, 0, sizeof r);
    cc_err_t err;
    int bad = 0;
    if (strlen(m->device_id) > OD_DEVICE_MAX) {
        bad = cc_err_set(&err, 400, "invalid_value", "device_id", "device_id is too long");
    } else if (strlen(m->elder_id) >= sizeof r.elder_id) {
        bad = cc_err_set(&err, 400, "invalid_value", "elder_id", "elder_id must be a UUID");
    } else {
        snprintf(r.device_id, sizeof r.device_id, "%s", m->device_id);
        snprintf(r.elder_id, sizeof r.elder_id, "%s", m->elder_id);
        r.kind = -1;
        for (int i = 0; od_alarm_kind_names[i]; i++)
            if (strcmp(m->kind, od_alarm_kind_names[i]) == 0)
                r.kind = i;
        r.at_us = m->at_us;
        bad = od_alarm_req_check(&r, cc_now_us(), &err);
    }
    cc__raise_alarm__free_unpacked(m, NULL);
    if (bad) {
        s_reject(self, S_R_INVALID, err.field);
        s_count(self->app, S_INVALID);
        s_reply(p, err.status, NULL, NULL, err.error, err.field);
        free(p);
        return;
    }
    od_app_t *app = self->app;
    const char *why = !app->rt.loaded || app->rt.stopping ? "not_ready" : NULL;
    if (!why)
        why = cc_rt_admit_write(&app->rt);
    if (!why && self->live >= app->rt.max_requests)
        why = "open_requests";
    if (why) {
        /* The gateway retries with the same device and time: one alarm. */
        s_reject(self, S_R_OVERLOADED, NULL);
        s_reply(p, 503, NULL, NULL, "overloaded", NULL);
        free(p);
        return;
    }
    self->live++;
    od_alarm_raise(app, &r, "zmq", s_on_zmq_raised, p);
}

/* ---- life cycle ------------------------------------------------------------------------ */
int od_alarm_init(od_app_t *app)
{
    s_alarms_t *self = cc_xcalloc(sizeof *self, "alarms");
    self->app = app;
    app->alarms = self;
    char name[128];
    for (int i = 0; i < S_OUTCOMES; i++) {
        snprintf(name, sizeof name, "orderd_alarms_total{outcome=\"%s\"}", s_outcome_names[i]);
        self->m_outcome[i] = cc_metrics_counter(name, "Alarms raised, by outcome");
    }
    for (int i = 0; i < S_R_COUNT; i++) {
        snprintf(name, sizeof name, "zmq_rejected_total{socket=\"orderd-alarms\",reason=\"%s\"}",
                 s_reject_names[i]);
        self->m_reject[i] = cc_metrics_counter(name, "ZeroMQ messages rejected, by reason");
    }
    self->m_escalated = cc_metrics_counter("orderd_alarms_escalated_total",
                                           "Alarms sent to the call centre's queue, unacknowledged");
    self->m_acked = cc_metrics_counter("orderd_alarms_acknowledged_total",
                                       "Alarms acknowledged");
    if (app->alarm_endpoint && *app->alarm_endpoint) {
        self->router = cc_zsock_new(app->rt.base, app->rt.zctx, ZMQ_ROUTER, S_HARD_MAX,
                                    "orderd-alarms", s_on_msg, self);
        if (!self->router || cc_rt_curve_server(&app->rt, self->router, app->alarm_clients) != 0
            || cc_zsock_bind(self->router, app->alarm_endpoint) != 0) {
            cc_error("startup_failed", "what", "alarm intake", "endpoint", app->alarm_endpoint);
            return -1;
        }
    }
    if (app->notify_url && *app->notify_url) {
        self->notify = od_notify_new(app, app->notify_url);
        if (!self->notify) {
            cc_error("startup_failed", "what", "notify-url", "fix",
                     "an http://host[:port]/path URL");
            return -1;
        }
    }
    /* Check a tenth of the timeout (at least every 30 s, at most 5 times a
     * second): an alarm escalates at most that late. */
    int64_t ms = app->alarm_escalate_s * 100;
    ms = ms < 200 ? 200 : ms > 30000 ? 30000 : ms;
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    self->ev_escalate = event_new(app->rt.base, -1, EV_PERSIST, s_on_tick, app);
    if (!self->ev_escalate || event_add(self->ev_escalate, &tv) != 0)
        return -1;
    return 0;
}

void od_alarm_stop(od_app_t *app)
{
    s_alarms_t *self = app->alarms;
    if (!self)
        return;
    if (self->ev_escalate)
        event_del(self->ev_escalate);
    if (self->notify)
        od_notify_stop(self->notify);
}

void od_alarm_fini(od_app_t *app)
{
    s_alarms_t *self = app->alarms;
    if (!self)
        return;
    cc_zsock_destroy(&self->router);   /* replies still pending are dropped */
    if (self->ev_escalate)
        event_free(self->ev_escalate);
    od_notify_destroy(&self->notify);
    app->alarms = NULL;
    /* A raise still queued at exit answers into a freed self: keep it
     * (process exit) rather than free it under them. */
    if (self->live == 0)
        free(self);
}
