/* od_reseal: bring every elder row under the active personal-data key
 * (od_pii.h), in bounded batches: read a batch of rows on the reader, seal
 * their values in C, write them back with od_elder_reseal on the writer,
 * and only then read the next batch.
 *
 * Two uses:
 * - rows in clear (an upgrade from before sealing): od_reseal_plain() runs
 *   at start, before the working set is loaded and before orderd serves,
 *   because the blind indexes (duplicate rule, phone search) must cover
 *   every row; it calls done when none is left;
 * - rows under the old key (a key rotation): od_reseal_rotate() runs in the
 *   background after start, a batch per timer tick, and logs
 *   pii_rotation_done when none is left (the old key may then go). */
#ifndef OD_RESEAL_H
#define OD_RESEAL_H
#include "od_app.h"

typedef void (od_reseal_done_fn)(od_app_t *app);

/* The worker for app (sets app->reseal). 0/-1. */
int od_reseal_init(od_app_t *app);
/* Seal every row in clear, then call done(app) once. 0/-1 (not queued). */
int od_reseal_plain(od_app_t *app, od_reseal_done_fn *done);
/* Start re-sealing rows under the old key in the background (no-op
 * without an old key). 0/-1. */
int od_reseal_rotate(od_app_t *app);
/* Stop queueing batches (SIGTERM); what is queued finishes. */
void od_reseal_stop(od_app_t *app);
/* Free the worker (after the loop). */
void od_reseal_destroy(od_app_t *app);

#endif
