/* od_store: orderd's SQL: statement texts (prepared on both connections),
 * the start-up load of the working set from the reader, and rows -> JSON
 * for the read endpoints. The SQL functions live in sql/orderd/. */
#ifndef OD_STORE_H
#define OD_STORE_H
#include <jansson.h>
#include "od_app.h"

/* Register the writer's and the reader's prepared statements. 0/-1. */
int od_store_prepare(cc_db_t *writer, cc_db_t *reader);
/* Load elders, cards, open orders, continuity and counts (async on the
 * reader); sets app->loaded and calls done(app) when all have arrived. */
void od_store_load(od_app_t *app, void (*done)(od_app_t *app));

/* Row of od_elder_get / od_elders_by_phone -> JSON object. */
json_t *od_store_elder_json(PGresult *res, int row);
/* Row of od_order_get / od_order_list -> JSON object; with_history adds
 * the history array (od_order_get's last column). */
json_t *od_store_order_json(PGresult *res, int row, int with_history);
/* Row of od_card_get -> JSON object. */
json_t *od_store_card_json(PGresult *res, int row);

#endif
