/* cc_log: JSON-lines logs on stderr, one object per line.
 * Personal data never reaches the log: values of keys in the deny list
 * (name, phone, id_number, address, lat, lon, card_no, payload, sql, params,
 * health, ability_level, birth_date, body, notes, diet, password, token,
 * username, hash) are written as "***". */
#ifndef CC_LOG_H
#define CC_LOG_H
#include <stdio.h>

typedef enum { CC_LOG_DEBUG = 0, CC_LOG_INFO, CC_LOG_WARN, CC_LOG_ERROR } cc_log_level_t;

/* Set the daemon name written in every line and the minimum level.
 * level_name: "debug"|"info"|"warn"|"error"; unknown -> info. */
void cc_log_init(const char *daemon, const char *level_name);

/* Write {"ts":..,"level":..,"daemon":..,"event":event, k1:v1, ...}.
 * Arguments after event are const char * key/value pairs ending with NULL.
 * A NULL value is written as null. Values are JSON-escaped. */
void cc_log(cc_log_level_t level, const char *event, ...) __attribute__((sentinel));

#define cc_info(...)  cc_log(CC_LOG_INFO, __VA_ARGS__, (const char *)NULL)
#define cc_warn(...)  cc_log(CC_LOG_WARN, __VA_ARGS__, (const char *)NULL)
#define cc_error(...) cc_log(CC_LOG_ERROR, __VA_ARGS__, (const char *)NULL)
#define cc_debug(...) cc_log(CC_LOG_DEBUG, __VA_ARGS__, (const char *)NULL)

/* 1 if key names personal data (exposed for tests): the key equals a deny
 * list entry or ends in "_" + entry ("elder_name", "pickup_lat"), compared
 * case-insensitively. */
int cc_log_key_is_private(const char *key);

/* Send lines to stream instead of stderr (tests); NULL restores stderr.
 * The stream is borrowed: the caller closes it after restoring. */
void cc_log_set_stream(FILE *stream);
/* 1 if a line at level would be written. */
int cc_log_enabled(cc_log_level_t level);

#endif
