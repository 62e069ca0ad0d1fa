/* md_store: meald's SQL. Prepared statements on the writer and reader, the
 * working-set load (reader), and one call per write (writer, or through the
 * orderd consumer so the position commits with the effect).
 *
 * Result rows of the write functions (sql/meald/001_meald.sql):
 *   md_create_point -> (outcome created|replay|conflict, meal_point_id)
 *   md_schedule / md_refuse -> (outcome applied|duplicate|exists)
 *   md_cancel -> (outcome applied|duplicate|noop)
 *   md_deliver -> (outcome applied|already|not_scheduled|unknown,
 *                  delivered_us, courier_id) */
#ifndef MD_STORE_H
#define MD_STORE_H
#include <stddef.h>
#include <stdint.h>

#include "md_app.h"

/* Register the prepared statements on app->writer and app->reader. 0/-1. */
int md_store_prepare(md_app_t *app);

/* Load points, slots and meals of the last app->retain_days days from the
 * reader into app->state (which must be empty). done(app, ok) runs once. */
typedef void (md_store_loaded_fn)(md_app_t *app, int ok);
int md_store_load(md_app_t *app, int64_t now_us, md_store_loaded_fn *done);

/* Queue md_create_point for p (id, provider and slots set). idem_key and
 * req_hash may be "" (no Idempotency-Key). */
int md_store_create_point(md_app_t *app, const md_point_t *p, cc_db_fn *fn, void *arg);

/* The event being applied, for cc_consume(producer, seq, event_id). */
typedef struct {
    cc_consumer_t *consumer;
    const char *producer;
    uint64_t seq;
    const char *event_id;
} md_store_event_t;

/* Queue md_schedule / md_refuse for meal m (its decision), appending the
 * outgoing event out_id with payload (protobuf bytes). */
int md_store_schedule(md_app_t *app, const md_store_event_t *ev, const md_meal_t *m,
                      const char *out_id, const uint8_t *payload, size_t len,
                      cc_db_fn *fn, void *arg);
int md_store_refuse(md_app_t *app, const md_store_event_t *ev, const md_meal_t *m,
                    const char *out_id, const uint8_t *payload, size_t len,
                    cc_db_fn *fn, void *arg);
int md_store_cancel(md_app_t *app, const md_store_event_t *ev, const char *order_id,
                    cc_db_fn *fn, void *arg);
/* Queue md_deliver on the writer. */
int md_store_deliver(md_app_t *app, const char *order_id, const char *courier_id,
                     int64_t at_us, const char *out_id, const uint8_t *payload, size_t len,
                     cc_db_fn *fn, void *arg);

/* 1 if res is a TUPLES_OK result with at least one row. */
int md_store_ok(PGresult *res);

#endif
