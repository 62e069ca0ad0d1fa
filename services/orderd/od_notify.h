/* od_notify: sends the notification outbox (notify_outbox, written with
 * each alarm; docs/ALARMS.md) to the SMS/voice gateway's webhook
 * (--notify-url): one HTTP POST with a JSON body per notification, by
 * libevent's evhttp client on orderd's loop.
 *
 * Rows are claimed from the store with a lease (a crash in the middle sends
 * them again after it, never loses them), one attempt counted per claim.
 * 2xx: sent, with the gateway's message_id; 5xx, 429, a timeout or a
 * refused connection: tried again after od_notify_backoff_ms, until
 * --notify-max-attempts; another 4xx: failed at once. The phone number is
 * opened (od_pii) only to be put in the body, and never logged. */
#ifndef OD_NOTIFY_H
#define OD_NOTIFY_H
#include <stdint.h>
#include "od_app.h"

typedef struct od_notify od_notify_t;

/* A sender for url ("http://host[:port]/path"); NULL when the URL is not
 * one (https is not spoken here: a local relay, docs/ALARMS.md). */
od_notify_t *od_notify_new(od_app_t *app, const char *url);
/* Look for due rows now (an alarm was raised), not at the next tick. */
void od_notify_kick(od_notify_t *self);
/* Stop claiming; sends in flight finish. */
void od_notify_stop(od_notify_t *self);
void od_notify_destroy(od_notify_t **self_p);

/* Delay before attempt n + 1 after n failed ones: base doubled per
 * attempt, capped at 60 s. */
int64_t od_notify_backoff_ms(int64_t attempts, int64_t base_ms);

#endif
