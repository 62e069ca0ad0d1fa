/* cc_grant: which event types of which log each reader may receive.
 *
 * One table (cc_grant.c), data, for every log: a row names a log, a reader
 * as its producer's ZAP handler knows it (the party name of its CURVE key,
 * cc_zap.h, sent as the ZAP User-Id) and the types it is served. The event
 * log (cc_evlog_filter) serves a reader only the types of its row; every
 * other event reaches it as a Withheld marker (seq and id only), so its
 * sequence stays gapless. A reader without a row gets markers only.
 *
 * The consumer tables of the daemons (cc_consumer_entry_t) must name only
 * granted types: cc_rt refuses to start a consumer that names another
 * (consumer_type_not_granted), so the two cannot drift apart unnoticed.
 * docs/SECURITY.md, "What events carry", explains each row. */
#ifndef CC_GRANT_H
#define CC_GRANT_H

typedef struct {
    const char *log;                /* producer: "orderd"; NULL ends a table */
    const char *reader;             /* consumer: "billingd" (the ZAP User-Id) */
    const char *const *types;       /* Envelope.type values, NULL-terminated */
} cc_grant_t;

/* The grants of the four daemons' logs. */
extern const cc_grant_t cc_grants[];

/* The row of (log, reader) in table, NULL if none (or reader is NULL). */
const cc_grant_t *cc_grant_find(const cc_grant_t *table, const char *log, const char *reader);
/* 1 if row (may be NULL: nothing granted) grants type, else 0. */
int cc_grant_allows(const cc_grant_t *row, const char *type);

#endif
