/* od_req: see od_req.h. */
#include "od_req.h"
#include "od_app.h"
#include <string.h>
#include <stdio.h>
#include <ctype.h>

static int s_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

int od_order_req_check(od_order_req_t *req, int64_t now_us, cc_err_t *err)
{
    if (!od_idem_key_valid(req->key))
        return cc_err_set(err, 400, "invalid_value", "Idempotency-Key",
                          "Idempotency-Key must be 1..128 printable characters without spaces");
    /* One spelling of an id: lower case, as the maps and the store hold it. */
    if (!req->card_id[0] && req->elder_id[0]) {
        if (cc_uuid_norm(req->elder_id, req->elder_id) != 0)
            return cc_err_set(err, 400, "invalid_value", "elder_id", "elder_id must be a UUID");
    } else if (cc_uuid_norm(req->card_id, req->card_id) != 0) {
        return cc_err_set(err, 400, "invalid_value", "card_id", "card_id must be a UUID");
    }
    if (!od_service_name(req->service))
        return cc_err_set(err, 400, "invalid_value", "service", "unknown service");
    const char *why = NULL, *field = NULL;
    if (od_window_check(req->window_start_us, req->window_end_us, now_us, &field, &why) != 0)
        return cc_err_set(err, 422, "invalid_value", field, "%s", why);
    return 0;
}

int od_order_req_same(const od_order_req_t *a, const od_order_req_t *b)
{
    return strcmp(a->card_id, b->card_id) == 0 && strcmp(a->elder_id, b->elder_id) == 0 &&
           a->service == b->service &&
           a->window_start_us == b->window_start_us && a->window_end_us == b->window_end_us &&
           strcmp(a->notes, b->notes) == 0 && a->meal_mode == b->meal_mode;
}

const char *const od_meal_mode_names[] = { "delivery", "eat_in", NULL };

int od_order_req_from_json(json_t *body, const char *key, int64_t now_us,
                           od_order_req_t *req, cc_err_t *err)
{
    memset(req, 0, sizeof *req);
    if (!key || !*key)
        return cc_err_set(err, 400, "missing_header", "Idempotency-Key",
                          "the Idempotency-Key header is required");
    if (strlen(key) > OD_KEY_MAX)
        return cc_err_set(err, 400, "invalid_value", "Idempotency-Key",
                          "Idempotency-Key is longer than 128 characters");
    snprintf(req->key, sizeof req->key, "%s", key);

    const char *card = NULL, *notes = NULL, *elder = NULL;
    int svc = -1;
    if (json_object_get(body, "card_id") || !json_object_get(body, "elder_id")) {
        if (cc_json_str(body, "card_id", 1, CC_UUID_TEXT_LEN, &card, err) != 0)
            return -1;
        snprintf(req->card_id, sizeof req->card_id, "%s", card);
        if (json_object_get(body, "elder_id"))
            return cc_err_set(err, 400, "invalid_value", "elder_id",
                              "give card_id or, for an elder without a card, elder_id");
    } else {
        if (cc_json_str(body, "elder_id", 1, CC_UUID_TEXT_LEN, &elder, err) != 0)
            return -1;
        snprintf(req->elder_id, sizeof req->elder_id, "%s", elder);
    }
    if (cc_json_enum(body, "service", 1, od_service_names, &svc, err) != 0)
        return -1;
    req->service = svc + 1;
    int emergency = req->service == 6;
    /* Without a card the fund pays, and only for an emergency here
     * (mandated orders are generated, never placed over HTTP). */
    if (!req->card_id[0] && !emergency)
        return cc_err_set(err, 422, "no_card", "card_id",
                          "only an emergency may be placed without a card");
    req->window_start_us = req->window_end_us = INT64_MIN;
    if (cc_json_time(body, "window_start", !emergency, &req->window_start_us, err) != 0)
        return -1;
    if (cc_json_time(body, "window_end", !emergency, &req->window_end_us, err) != 0)
        return -1;
    if (req->window_start_us == INT64_MIN)
        req->window_start_us = now_us;
    if (req->window_end_us == INT64_MIN)
        req->window_end_us = req->window_start_us + OD_EMERGENCY_WINDOW_US;
    if (cc_json_str(body, "notes", 0, OD_NOTES_MAX_BYTES, &notes, err) != 0)
        return -1;
    snprintf(req->notes, sizeof req->notes, "%s", notes ? notes : "");
    /* Only a meal is delivered or eaten in: the field on another service is
     * a caller's mistake, not something to drop silently. */
    if (json_object_get(body, "meal_mode") && req->service != CC__SERVICE__MEAL)
        return cc_err_set(err, 400, "invalid_value", "meal_mode",
                          "meal_mode is for meal orders only");
    req->meal_mode = CC__MEAL_MODE__MEAL_DELIVERY;
    if (cc_json_enum(body, "meal_mode", 0, od_meal_mode_names, &req->meal_mode, err) != 0)
        return -1;
    return od_order_req_check(req, now_us, err);
}

int od_elder_req_from_json(json_t *body, int64_t now_us, od_elder_req_t *req, cc_err_t *err)
{
    memset(req, 0, sizeof *req);
    const char *birth = NULL, *why = NULL;
    if (cc_json_str(body, "name", 1, CC_NAME_MAX, &req->name, err) != 0)
        return -1;
    if (s_blank(req->name))
        return cc_err_set(err, 400, "invalid_value", "name", "name is empty");
    if (cc_json_str(body, "id_number", 1, CC_ID_NUMBER_LEN, &req->id_number, err) != 0)
        return -1;
    if (od_id_number_check(req->id_number, &why) != 0)
        return cc_err_set(err, 400, "invalid_value", "id_number",
                          "id_number is not a valid 18-character resident ID (%s)", why);
    if (cc_json_str(body, "phone", 1, CC_PHONE_MAX, &req->phone, err) != 0)
        return -1;
    if (!od_phone_valid(req->phone))
        return cc_err_set(err, 400, "invalid_value", "phone",
                          "phone must be 5..20 digits, optionally with +, - or spaces");
    if (cc_json_str(body, "address", 1, CC_ADDRESS_MAX, &req->address, err) != 0)
        return -1;
    if (s_blank(req->address))
        return cc_err_set(err, 400, "invalid_value", "address", "address is empty");
    if (cc_json_int(body, "district_id", 1, CC_DISTRICT_MIN, CC_DISTRICT_MAX,
                    &req->district_id, err) != 0)
        return -1;
    if (cc_json_num(body, "lat", 1, -CC_LAT_MAX, CC_LAT_MAX, &req->lat, err) != 0)
        return -1;
    if (cc_json_num(body, "lon", 1, -CC_LON_MAX, CC_LON_MAX, &req->lon, err) != 0)
        return -1;
    if (cc_json_str(body, "birth_date", 1, 10, &birth, err) != 0)
        return -1;
    if (od_date_parse(birth, &req->birth_y, &req->birth_m, &req->birth_d) != 0)
        return cc_err_set(err, 400, "invalid_value", "birth_date",
                          "birth_date must be a date YYYY-MM-DD");
    snprintf(req->birth_date, sizeof req->birth_date, "%s", birth);
    char today[16];
    int ty, tm, td;
    if (cc_date_local(now_us, today, sizeof today) && od_date_parse(today, &ty, &tm, &td) == 0) {
        int age = od_age_years(req->birth_y, req->birth_m, req->birth_d, ty, tm, td);
        if (age < 0 || (age == 0 && strcmp(birth, today) > 0))
            return cc_err_set(err, 422, "invalid_value", "birth_date",
                              "birth_date is in the future");
        if (age > 130)
            return cc_err_set(err, 422, "invalid_value", "birth_date",
                              "birth_date is more than 130 years ago");
    }
    if (cc_json_enum(body, "ability_level", 1, od_ability_names, &req->ability, err) != 0)
        return -1;
    if (cc_json_enum(body, "household", 1, od_household_names, &req->household, err) != 0)
        return -1;
    if (cc_json_enum(body, "living", 1, od_living_names, &req->living, err) != 0)
        return -1;
    if (cc_json_int(body, "disability_grade", 0, 1, 4, &req->disability_grade, err) != 0)
        return -1;
    req->diet = "";
    if (cc_json_str(body, "diet", 0, CC_TEXT_MAX, &req->diet, err) != 0)
        return -1;
    return 0;
}

int od_card_req_from_json(json_t *body, char elder_id[CC_UUID_LEN], cc_err_t *err)
{
    if (cc_json_uuid(body, "elder_id", 1, elder_id, err) != 0) {
        /* Not an id names no elder, as before. */
        if (strcmp(err->error, "invalid_value") == 0)
            cc_err_set(err, 422, "unknown_elder", "elder_id", "no elder with this elder_id");
        return -1;
    }
    return 0;
}

int od_card_status_from_json(json_t *body, int *status, cc_err_t *err)
{
    return cc_json_enum(body, "status", 1, od_card_status_names, status, err) != 0 ? -1 : 0;
}

int od_cancel_req_from_json(json_t *body, char *why, size_t size, cc_err_t *err)
{
    const char *reason = NULL;
    if (body && cc_json_str(body, "reason", 0, CC_TEXT_MAX, &reason, err) != 0)
        return -1;
    snprintf(why, size, "%s", reason && *reason ? reason : "cancelled by operator");
    return 0;
}
