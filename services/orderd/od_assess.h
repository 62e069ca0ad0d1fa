/* od_assess: ability assessments (issue 13). The assessor checks the
 * assessment visit out with the result (dispatchd); dispatchd appends
 * VisitAssessed to its log, to orderd only; orderd records it once per order
 * (sql/orderd/018_assessments.sql) and moves the elder to the new level,
 * which later releases carry to dispatchd (who may bathe them).
 *
 * Policy: ../shared/policies/001_96a20b76e7fbf74d.txt §2 (free assessment,
 * once a year from 80, once every two years below 80) and
 * 003_53d61d0e4cc1e4ef.txt §2 (the result decides subsidies and services).
 * The level is health data: it is never logged. */
#ifndef OD_ASSESS_H
#define OD_ASSESS_H
#include "cc_consumer.h"
#include "cc_http.h"

/* From 80 an elder may have a free assessment every year, below 80 every
 * two years (001 §2); the age is the one reached on the assessment's day.
 * Dates are proleptic Gregorian (year, month, day); 29 February plus a year is
 * 28 February (as PostgreSQL's date + interval '1 year'). Writes the next
 * due date to *ny, *nm, *nd. Returns 0, or -1 for a date that does not exist
 * or an assessment before the birth. */
int od_assess_next_due(int by, int bm, int bd, int ay, int am, int ad, int *ny, int *nm,
                       int *nd);

/* Consumer entry for dispatchd's VisitAssessed (od_events.c's table). */
int od_assess_on_event(cc_consumer_t *c, const Cc__Envelope *env, const ProtobufCMessage *msg,
                       void *arg);
/* GET /v1/elders/{id}/assessments: newest first, with the next due date. */
void od_assess_get(cc_http_req_t *req, void *arg);
/* Counters (od_events_init_metrics). */
void od_assess_init_metrics(void);

#endif
