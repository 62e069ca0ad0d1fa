/* od_alarm: alarms from smart devices (docs/ALARMS.md). An alarm
 * {device_id, elder_id, kind, at} arrives over HTTP (POST /v1/alarms) or on
 * the ZeroMQ alarm intake (RaiseAlarm, CURVE); it becomes at once an
 * emergency order through the saga (released at once; billingd holds it
 * on the elder's card, blocked or not, or lets the fund pay when the elder
 * has none), and one outbox row per contact of the elder, all in one
 * transaction (od_alarm_raise in sql/orderd/019_alarms.sql). One alarm per
 * (device_id, at): a gateway's retry answers the first alarm and order.
 *
 * An alarm nobody acknowledges (POST /v1/alarms/{id}/ack) within
 * --alarm-escalate-s goes to the call centre's queue (state escalated),
 * counted by orderd_alarms_escalated_total. Notifications are sent by
 * od_notify. */
#ifndef OD_ALARM_H
#define OD_ALARM_H
#include <stdint.h>
#include <jansson.h>
#include "cc_json.h"
#include "cc_http.h"
#include "od_app.h"

#define OD_DEVICE_MAX 64
/* How far an alarm's time may lie from now: older is stale, later is a
 * device clock that is wrong. */
#define OD_ALARM_PAST_US (CC_US_PER_HOUR)
#define OD_ALARM_FUTURE_US (5 * 60 * CC_US_PER_S)

extern const char *const od_alarm_kind_names[];   /* fall smoke gas sos other */
extern const char *const od_alarm_state_names[];  /* open acknowledged escalated */

typedef struct {
    char device_id[OD_DEVICE_MAX + 1];
    char elder_id[CC_UUID_LEN];
    int kind;                          /* index in od_alarm_kind_names */
    int64_t at_us;
} od_alarm_req_t;

/* The rules on a filled request: device_id 1..64 printable characters
 * without spaces, elder_id a UUID (lower-cased), kind known, at within
 * [now - 1 h, now + 5 min]. 0, or -1 with err naming the field. */
int od_alarm_req_check(od_alarm_req_t *r, int64_t now_us, cc_err_t *err);
/* POST /v1/alarms body -> r (runs od_alarm_req_check). 0 or -1 with err. */
int od_alarm_req_from_json(json_t *body, int64_t now_us, od_alarm_req_t *r, cc_err_t *err);

/* Answer for a raise: 201 raised, 200 raised before (the same alarm and
 * order), 4xx/503 refused (err set, ids NULL). Called exactly once. */
typedef void (od_alarm_cb)(void *ctx, int status, const char *alarm_id, const char *order_id,
                           const cc_err_t *err);
/* Raise a checked alarm (source "http" or "zmq"). */
void od_alarm_raise(od_app_t *app, const od_alarm_req_t *r, const char *source,
                    od_alarm_cb *cb, void *ctx);

/* Runtime hooks, called from od_app's: metrics, the intake (when
 * --alarm-endpoint is set), the escalation timer and the notifier. */
int od_alarm_init(od_app_t *app);
void od_alarm_stop(od_app_t *app);
void od_alarm_fini(od_app_t *app);
/* Counted rejections of the alarm intake, for tests: by reason. */

/* Routes (od_http.c's table). */
void od_alarm_http_post(cc_http_req_t *req, void *arg);
void od_alarm_http_list(cc_http_req_t *req, void *arg);
void od_alarm_http_get(cc_http_req_t *req, void *arg);
void od_alarm_http_ack(cc_http_req_t *req, void *arg);
void od_alarm_http_receipt(cc_http_req_t *req, void *arg);

#endif
