/* od_store: orderd's SQL: statement texts (prepared on both connections),
 * the start-up load of the working set from the reader, and rows -> JSON
 * for the read endpoints. The SQL functions live in sql/orderd/. */
#ifndef OD_STORE_H
#define OD_STORE_H
#include <jansson.h>
#include "cc_stmt.h"
#include "od_app.h"
#include "od_plans.h"

/* orderd's statements (cc_stmt.h), indexed by od_st_t. */
typedef enum {
    OD_ST_ELDER_CREATE, OD_ST_CARD_ISSUE, OD_ST_CARD_SET_STATUS, OD_ST_ORDER_PLACE,
    OD_ST_ORDER_CANCEL, OD_ST_ON_FUNDS_HELD, OD_ST_ON_FUNDS_DENIED, OD_ST_ON_HOLD,
    OD_ST_ON_VISIT, OD_ST_ON_MEAL,
    OD_ST_LOAD_STATES, OD_ST_LOAD_ELDERS, OD_ST_LOAD_CARDS, OD_ST_LOAD_ORDERS, OD_ST_LOAD_CONTINUITY,
    OD_ST_LOAD_COUNTS, OD_ST_ELDERS_BY_PHONE, OD_ST_ELDER_GET, OD_ST_CARD_GET,
    OD_ST_ORDER_GET, OD_ST_ORDER_LIST_CARD, OD_ST_ORDER_LIST_STATE, OD_ST_ORDER_LIST_ALL,
    /* accounts and tokens (od_auth) */
    OD_ST_ACCOUNT_CREATE, OD_ST_ACCOUNT_CHANGE, OD_ST_LOGIN_FAILED, OD_ST_LOGIN_OK,
    OD_ST_REFRESH_ROTATE, OD_ST_LOGOUT, OD_ST_LOGIN_LOOKUP, OD_ST_LOAD_ACCOUNTS,
    OD_ST_ACCOUNT_LIST, OD_ST_ACCOUNT_PASSWORD, OD_ST_PASSWORD_LOOKUP,
    OD_ST_PII_KEYS, OD_ST_RESEAL_PLAIN, OD_ST_RESEAL_OLD, OD_ST_ELDER_RESEAL,
    /* assessments (od_assess) */
    OD_ST_ON_ASSESSED, OD_ST_ASSESSMENTS_GET,
    /* elder records that live (od_elders_stmts.h) */
    OD_ST_EL_CHANGE, OD_ST_EL_STATUS, OD_ST_EL_IMPORT_BATCH, OD_ST_EL_INDEX_FILL,
    OD_ST_EL_INDEX_ROWS, OD_ST_EL_IMPORT_NEW, OD_ST_EL_IMPORT_CUT, OD_ST_EL_IMPORT_LOOKUP,
    OD_ST_EL_IMPORT_GET, OD_ST_EL_HISTORY, OD_ST_EL_SEARCH, OD_ST_EL_DECEASED_OPEN,
    OD_ST_EL_CONTACTS_OLD, OD_ST_EL_CONTACT_RESEAL,
    /* alarms and notifications (od_alarm, od_notify) */
    OD_ST_ALARM_RAISE, OD_ST_ALARM_ACK, OD_ST_ALARM_ESCALATE, OD_ST_ALARM_LIST,
    OD_ST_ALARM_LIST_STATE, OD_ST_ALARM_GET, OD_ST_NOTIFY_CLAIM, OD_ST_NOTIFY_RESULT,
    OD_ST_NOTIFY_RECEIPT, OD_ST_ORDER_PLACE_NOCARD, OD_ST_ORDER_PLACE_MANY,
    OD_ST_ORDER_PLACE_COLS,
    OD_PLANS_ST_ENUM,   /* care plans (od_plans.h) */
    OD_ST_COUNT
} od_st_t;
extern cc_stmt_t od_stmts[OD_ST_COUNT + 1];

/* Check that every row's key id is in the keyring (an unknown one: the
 * wrong key file; exit 2), seal rows still in clear (od_reseal_plain), then
 * load elders, cards, open orders, continuity and counts (async on the
 * reader); calls cc_rt_loaded() when all have arrived. 0/-1. */
int od_store_load(void *app);
/* A part of the load that finished later than its statement (the seeding
 * of accounts, od_auth) is done: app->loads_pending was raised for it. */
void od_store_load_part_done(od_app_t *app);

/* Row of od_elder_get / od_elders_by_phone -> JSON object, its sealed
 * values opened with app->pii (null, and a warning, if one does not). */
json_t *od_store_elder_json(PGresult *res, int row);
/* The keyring od_store_elder_json opens with (borrowed; od_app_init). */
void od_store_set_pii(const od_pii_t *pii);
/* The columns od_store_order_json reads, in its order (orders o). */
#define OD_STORE_ORDER_COLS                                                                   \
    "o.id, o.card_id, o.elder_id, o.service, o.state, od_us(o.window_start), "                \
    "od_us(o.window_end), o.notes, o.emergency, o.caregiver_id, o.visit_id, o.meal_point_id, " \
    "o.provider_id, o.price_fen, o.held_fen, o.charged_fen, o.reason, od_us(o.created_at), "  \
    "od_us(o.updated_at), o.district_id"
/* Row of od_order_get / od_order_list -> JSON object; with_history adds
 * the history array (od_order_get's last column). */
json_t *od_store_order_json(PGresult *res, int row, int with_history);
/* Row of od_card_get -> JSON object. */
json_t *od_store_card_json(PGresult *res, int row);

#endif
