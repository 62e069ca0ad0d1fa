/* od_req: request bodies -> validated structs, with errors that name the
 * field (cc_err_t). Shared by HTTP (JSON) and the ZeroMQ intake (protobuf):
 * both end in od_order_req_check, so one rule set guards both doors.
 * Status codes: 400 for a malformed or wrongly typed field, 422 for a
 * well-formed value the rules refuse (window order, future birth date). */
#ifndef OD_REQ_H
#define OD_REQ_H
#include <stdint.h>
#include <jansson.h>
#include "cc_json.h"
#include "cc_util.h"
#include "od_domain.h"

#define OD_KEY_MAX CC_IDEM_KEY_MAX          /* cc_limits.h */
#define OD_NOTES_MAX_BYTES CC_NOTES_MAX

typedef struct {
    char key[OD_KEY_MAX + 1];          /* Idempotency-Key */
    char card_id[CC_UUID_LEN];         /* "": an order without a card (elder_id) */
    char elder_id[CC_UUID_LEN];        /* whose order, when card_id is "" */
    int service;                       /* Cc__Service value, 1..8 */
    int64_t window_start_us;
    int64_t window_end_us;
    char notes[OD_NOTES_MAX_BYTES + 1];
    int meal_mode;                     /* Cc__MealMode: meals only, delivery by default */
    /* A care plan's meal (od_plans): its point and diet; "" the nearest
     * point and the elder's diet. Not part of the idempotency comparison
     * (a plan's key names its rule's revision). */
    char meal_point_id[CC_UUID_LEN];
    char diet[201];
} od_order_req_t;

/* "delivery", "eat_in": POST /v1/orders meal_mode, Cc__MealMode order. */
extern const char *const od_meal_mode_names[];

/* Fill req from a POST /v1/orders body and the Idempotency-Key header
 * (key may be NULL: 400 missing_header naming Idempotency-Key). An
 * emergency may omit its window: now .. now + 2 h, and may name elder_id
 * instead of card_id (an elder without a card; any other service 422
 * no_card naming card_id). Runs od_order_req_check.
 * Returns 0 or -1 with err filled. */
int od_order_req_from_json(json_t *body, const char *key, int64_t now_us,
                           od_order_req_t *req, cc_err_t *err);
/* The rules on a filled request: key, card_id (UUID text) or, with card_id
 * "", elder_id (an order without a card: the fund pays an emergency or a
 * mandated one, billingd denies any other), service, window. */
int od_order_req_check(od_order_req_t *req, int64_t now_us, cc_err_t *err);
/* Same request (the idempotency comparison): card, service, window, notes,
 * meal mode. */
int od_order_req_same(const od_order_req_t *a, const od_order_req_t *b);

typedef struct {
    const char *name;                  /* strings are borrowed from the JSON body */
    const char *id_number;
    const char *phone;
    const char *address;
    const char *diet;                  /* "" when absent */
    char birth_date[11];               /* "YYYY-MM-DD" */
    int birth_y, birth_m, birth_d;
    int64_t district_id;
    double lat, lon;
    int ability;                       /* index in od_ability_names */
    int household;                     /* index in od_household_names */
    int living;                        /* index in od_living_names */
    int64_t disability_grade;          /* 0: none given; else 1..4 */
} od_elder_req_t;

/* POST /v1/elders body -> req (strings valid while body is). 0 or -1. */
int od_elder_req_from_json(json_t *body, int64_t now_us, od_elder_req_t *req, cc_err_t *err);

/* POST /v1/cards body {elder_id} -> elder_id, lower case. 0, or -1 with err
 * set (a value that is not an id names no elder: 422 unknown_elder). */
int od_card_req_from_json(json_t *body, char elder_id[CC_UUID_LEN], cc_err_t *err);
/* POST /v1/cards/{id}/status body {status} -> its index in
 * od_card_status_names. 0, or -1 with err set. */
int od_card_status_from_json(json_t *body, int *status, cc_err_t *err);
/* POST /v1/orders/{id}/cancel body {reason?} (body NULL: none sent) -> the
 * reason recorded, "cancelled by operator" when none. 0, or -1 with err
 * set. */
int od_cancel_req_from_json(json_t *body, char *why, size_t size, cc_err_t *err);

#endif
