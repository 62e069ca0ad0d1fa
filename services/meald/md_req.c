/* md_req: request validation and response shapes. See md_req.h. */
#include "md_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc_util.h"

/* A delivery time may run ahead of our clock by this much (phone clocks). */
#define S_AT_SKEW_US (5 * CC_US_PER_MIN)

/* Re-label an error from a reader run on a nested object: field "slot" of
 * slots[2] becomes "slots[2].slot", and the message says so. */
static int s_nested(cc_err_t *err, size_t i)
{
    if (!err)
        return -1;
    char field[sizeof err->field + 32];
    snprintf(field, sizeof field, "slots[%zu].%s", i, err->field);
    char msg[sizeof err->message + 32];
    snprintf(msg, sizeof msg, "slots[%zu]: %s", i, err->message);
    return cc_err_set(err, err->status, err->error, field, "%s", msg);
}

static json_t *s_hhmm(int min);

static int s_copy(char *dst, size_t size, const char *src)
{
    return snprintf(dst, size, "%s", src ? src : "") >= (int)size ? -1 : 0;
}

int md_req_point(json_t *body, md_point_t *out, cc_err_t *err)
{
    static const char *const slot_names[] = {"lunch", "dinner", NULL};
    memset(out, 0, sizeof *out);
    if (!json_is_object(body))
        return cc_err_set(err, 400, "not_an_object", "", "request body must be a JSON object");
    const char *name = NULL, *provider = NULL;
    int64_t district = 0;
    if (cc_json_str(body, "name", 1, MD_NAME_MAX, &name, err)
        || cc_json_str(body, "provider_id", 0, MD_PROVIDER_MAX, &provider, err)
        || cc_json_int(body, "district_id", 1, CC_DISTRICT_MIN, CC_DISTRICT_MAX, &district, err)
        || cc_json_num(body, "lat", 1, -CC_LAT_MAX, CC_LAT_MAX, &out->lat, err)
        || cc_json_num(body, "lon", 1, -CC_LON_MAX, CC_LON_MAX, &out->lon, err))
        return -1;
    if (name[0] == '\0')
        return cc_err_set(err, 400, "invalid_value", "name", "name must not be empty");
    if (provider && provider[0] == '\0')
        return cc_err_set(err, 400, "invalid_value", "provider_id",
                          "provider_id must not be empty when given");
    s_copy(out->name, sizeof out->name, name);
    s_copy(out->provider_id, sizeof out->provider_id, provider);
    out->district_id = (uint32_t)district;
    int64_t hot = MD_HOT_LIMIT_DEFAULT_MIN;
    if (cc_json_int(body, "hot_limit_min", 0, 1, 240, &hot, err))
        return -1;
    out->hot_limit_min = (int)hot;

    json_t *slots = json_object_get(body, "slots");
    if (!slots || json_is_null(slots))
        return cc_err_set(err, 400, "missing_field", "slots", "slots is required");
    if (!json_is_array(slots))
        return cc_err_set(err, 400, "wrong_type", "slots", "slots must be an array");
    size_t n = json_array_size(slots);
    if (n == 0)
        return cc_err_set(err, 400, "invalid_value", "slots",
                          "slots must name at least one of lunch, dinner");
    if (n > MD_NSLOTS)
        return cc_err_set(err, 400, "invalid_value", "slots",
                          "slots may name lunch and dinner once each");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(slots, i);
        if (!json_is_object(s)) {
            char f[32];
            snprintf(f, sizeof f, "slots[%zu]", i);
            return cc_err_set(err, 400, "wrong_type", f, "%s must be an object", f);
        }
        int slot = -1, cutoff = 0;
        int64_t capacity = 0;
        if (cc_json_enum(s, "slot", 1, slot_names, &slot, err)
            || cc_json_int(s, "capacity", 1, 1, MD_CAPACITY_MAX, &capacity, err)
            || cc_json_hhmm(s, "cutoff", 1, &cutoff, err))
            return s_nested(err, i);
        md_slot_conf_t *sc = &out->slots[slot];
        if (sc->offered) {
            char f[32];
            snprintf(f, sizeof f, "slots[%zu].slot", i);
            return cc_err_set(err, 400, "invalid_value", f, "%s is given twice",
                              md_slot_name((md_slot_t)slot));
        }
        sc->offered = 1;
        sc->capacity = (int)capacity;
        sc->cutoff_min = cutoff;
    }
    return 0;
}

int md_req_delivered(json_t *body, int64_t now_us, int64_t *at_us,
                     char courier[MD_COURIER_MAX + 1], cc_err_t *err)
{
    *at_us = now_us;
    courier[0] = '\0';
    if (!body)
        return 0;
    if (!json_is_object(body))
        return cc_err_set(err, 400, "not_an_object", "", "request body must be a JSON object");
    const char *c = NULL;
    if (cc_json_str(body, "courier_id", 0, MD_COURIER_MAX, &c, err)
        || cc_json_time(body, "at", 0, at_us, err))
        return -1;
    if (*at_us > now_us + S_AT_SKEW_US)
        return cc_err_set(err, 400, "invalid_value", "at", "at must not be in the future");
    s_copy(courier, MD_COURIER_MAX + 1, c);
    return 0;
}

int md_req_courier(json_t *body, md_courier_t *out, char point_id[MD_ID_LEN], cc_err_t *err)
{
    static const char *const vehicles[] = {"foot", "e_bike", "car", NULL};
    memset(out, 0, sizeof *out);
    if (!json_is_object(body))
        return cc_err_set(err, 400, "not_an_object", "", "request body must be a JSON object");
    const char *name = NULL, *provider = NULL;
    int vehicle = -1, start = 0, end = 0;
    int64_t capacity = 0;
    double speed = 0;
    if (cc_json_uuid(body, "meal_point_id", 1, point_id, err)
        || cc_json_str(body, "provider_id", 0, MD_PROVIDER_MAX, &provider, err)
        || cc_json_str(body, "name", 1, MD_NAME_MAX, &name, err)
        || cc_json_enum(body, "vehicle", 1, vehicles, &vehicle, err)
        || cc_json_num(body, "speed_kmh", 0, 1, 120, &speed, err)
        || cc_json_int(body, "capacity", 1, 1, 1000, &capacity, err)
        || cc_json_hhmm(body, "shift_start", 1, &start, err)
        || cc_json_hhmm(body, "shift_end", 1, &end, err))
        return -1;
    if (name[0] == '\0')
        return cc_err_set(err, 400, "invalid_value", "name", "name must not be empty");
    if (provider && provider[0] == '\0')
        return cc_err_set(err, 400, "invalid_value", "provider_id",
                          "provider_id must not be empty when given");
    if (end <= start)
        return cc_err_set(err, 400, "invalid_value", "shift_end",
                          "shift_end must be later than shift_start (same day)");
    s_copy(out->name, sizeof out->name, name);
    s_copy(out->provider_id, sizeof out->provider_id, provider);
    out->vehicle = (md_vehicle_t)vehicle;
    out->speed_kmh = speed > 0 ? speed : md_vehicle_speed(out->vehicle);
    out->capacity = (int)capacity;
    out->shift_start_min = start;
    out->shift_end_min = end;
    return 0;
}

int md_req_failed(json_t *body, const char **reason, cc_err_t *err)
{
    static const char *const reasons[] = MD_FAIL_REASONS;
    if (!json_is_object(body))
        return cc_err_set(err, 400, "not_an_object", "", "request body must be a JSON object");
    int r = -1;
    if (cc_json_enum(body, "reason", 1, reasons, &r, err))
        return -1;
    *reason = reasons[r];
    return 0;
}

json_t *md_json_courier(const md_courier_t *c)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:i, s:o, s:o}", "courier_id", c->id,
                     "meal_point_id", c->point->id, "provider_id", c->provider_id, "name",
                     c->name, "vehicle", md_vehicle_name(c->vehicle), "speed_kmh", c->speed_kmh,
                     "capacity", c->capacity, "shift_start", s_hhmm(c->shift_start_min),
                     "shift_end", s_hhmm(c->shift_end_min));
}

int md_req_kitchen(const char *date, const char *slot, int32_t *day, md_slot_t *out_slot,
                   cc_err_t *err)
{
    if (!date || !*date)
        return cc_err_set(err, 400, "missing_field", "date", "date is required (YYYY-MM-DD)");
    if (md_day_parse(date, day) != 0)
        return cc_err_set(err, 400, "invalid_value", "date",
                          "date must be a calendar date YYYY-MM-DD");
    if (!slot || !*slot)
        return cc_err_set(err, 400, "missing_field", "slot", "slot is required (lunch|dinner)");
    int s = md_slot_parse(slot);
    if (s < 0)
        return cc_err_set(err, 400, "invalid_value", "slot", "slot must be lunch or dinner");
    *out_slot = (md_slot_t)s;
    return 0;
}

void md_req_hash(json_t *body, char out[17])
{
    char *text = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a 64 */
    for (const char *p = text ? text : ""; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    free(text);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static json_t *s_hhmm(int min)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%02d:%02d", (min / 60) % 24, min % 60);
    return json_string(buf);
}

json_t *md_json_point(const md_point_t *p)
{
    json_t *slots = json_array();
    for (int s = 0; s < MD_NSLOTS; s++) {
        const md_slot_conf_t *sc = &p->slots[s];
        if (!sc->offered)
            continue;
        json_array_append_new(slots, json_pack("{s:s, s:i, s:o}", "slot",
                                               md_slot_name((md_slot_t)s), "capacity",
                                               sc->capacity, "cutoff", s_hhmm(sc->cutoff_min)));
    }
    return json_pack("{s:s, s:s, s:s, s:I, s:f, s:f, s:o, s:i}", "meal_point_id", p->id,
                     "name", p->name, "provider_id", p->provider_id, "district_id",
                     (json_int_t)p->district_id, "lat", p->lat, "lon", p->lon, "slots", slots,
                     "hot_limit_min", p->hot_limit_min);
}

json_t *md_json_deadline(const md_meal_t *m, const md_deadline_rule_t *r, int64_t now_us)
{
    int64_t due, resolve;
    md_due_t d = md_meal_due(m, r, now_us, &due, &resolve);
    if (d == MD_DUE_NONE)
        return json_null();
    char a[48], b[48];
    return json_pack("{s:s, s:s, s:b, s:s, s:s}", "due", cc_time_format(due, a, sizeof a),
                     "resolve_at", cc_time_format(resolve, b, sizeof b), "overdue",
                     d != MD_DUE_ON_TIME, "resolution", md_status_name(MD_MEAL_UNDELIVERED),
                     "reason", MD_REASON_NOT_DELIVERED);
}

json_t *md_json_kitchen(const md_point_t *p, int32_t day, md_slot_t slot,
                        md_meal_t *const *meals, size_t n, int64_t now_us)
{
    char date[16], cut[48];
    md_day_format(day, date, sizeof date);
    const md_slot_conf_t *sc = &p->slots[slot];
    json_t *by_diet = json_object();
    json_t *orders = json_array();
    int delivered = 0, eat_in = 0;
    for (size_t i = 0; i < n; i++) {
        const md_meal_t *m = meals[i];
        eat_in += m->eat_in != 0;
        json_t *c = json_object_get(by_diet, m->diet);
        json_object_set_new(by_diet, m->diet,
                            json_integer(c ? json_integer_value(c) + 1 : 1));
        json_array_append_new(orders, json_pack("{s:s, s:s, s:s, s:s}", "order_id", m->order_id,
                                                "diet", m->diet, "status",
                                                md_status_name(m->status), "mode",
                                                m->eat_in ? "eat_in" : "delivery"));
        delivered += m->status == MD_MEAL_DELIVERED;
    }
    cc_time_format(md_cutoff_us(day, sc->cutoff_min), cut, sizeof cut);
    /* Eat-in meals are cooked like the others but get no round: the
     * kitchen plates them apart from the boxes. */
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:i, s:I, s:s, s:b, s:o, s:o}", "meal_point_id",
                     p->id, "date", date, "slot", md_slot_name(slot), "count", (json_int_t)n,
                     "capacity", sc->capacity, "delivered", (json_int_t)delivered, "cutoff",
                     cut, "closed", md_cutoff_passed(day, sc->cutoff_min, now_us), "by_diet",
                     by_diet, "orders", orders);
    if (o) {
        json_object_set_new(o, "eat_in", json_integer(eat_in));
        json_object_set_new(o, "delivery", json_integer((json_int_t)n - eat_in));
    }
    return o;
}

json_t *md_json_meal(const md_meal_t *m)
{
    char date[16];
    json_t *o = json_pack("{s:s, s:s}", "order_id", m->order_id, "status",
                          md_status_name(m->status));
    if (!o)
        return NULL;
    json_object_set_new(o, "date", json_string(md_day_format(m->day, date, sizeof date)));
    json_object_set_new(o, "slot", json_string(md_slot_name(m->slot)));
    if (m->status == MD_MEAL_REFUSED) {
        json_object_set_new(o, "reason", json_string(md_refusal_name(m->reason)));
    } else if (m->point) {
        json_object_set_new(o, "meal_point_id", json_string(m->point->id));
        json_object_set_new(o, "provider_id", json_string(m->point->provider_id));
    }
    if (m->status == MD_MEAL_UNDELIVERED) {
        char at[48];
        json_object_set_new(o, "reason", json_string(MD_REASON_NOT_DELIVERED));
        json_object_set_new(o, "expired_at",
                            json_string(cc_time_format(m->expired_us, at, sizeof at)));
    }
    if (m->status == MD_MEAL_FAILED) {
        char at[48];
        json_object_set_new(o, "reason", json_string(m->fail_reason));
        json_object_set_new(o, "failed_at",
                            json_string(cc_time_format(m->expired_us, at, sizeof at)));
    }
    if (m->status != MD_MEAL_REFUSED)
        json_object_set_new(o, "mode", json_string(m->eat_in ? "eat_in" : "delivery"));
    if (m->status == MD_MEAL_DELIVERED) {
        char at[48];
        json_object_set_new(o, "delivered_at",
                            json_string(cc_time_format(m->delivered_us, at, sizeof at)));
        json_object_set_new(o, "courier_id", m->courier_id[0] ? json_string(m->courier_id)
                                                               : json_null());
    }
    return o;
}
