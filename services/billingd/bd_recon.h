/* bd_recon: the reconciliation timer. Every --recon-interval-s seconds it
 * compares captures with the delivery reports of dispatchd and meald
 * (bd_reconciliation() in sql/billingd/003_deliveries.sql, leaving out the
 * last interval, since the logs travel separately), sets the gauges
 * billingd_reconciliation_items{kind=...} and logs a warning when anything
 * does not match. GET /v1/reconciliation gives the details on demand. */
#ifndef BD_RECON_H
#define BD_RECON_H
#include "bd_app.h"

/* Start the timer (interval <= 0: off). 0 or -1. */
int bd_recon_start(bd_app_t *app);
void bd_recon_stop(bd_app_t *app);

#endif
