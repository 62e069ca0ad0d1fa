/* dd_dispatch: offers, re-offers, accept timers and the periodic sweep
 * (queue retry, deadlines, pruning), plus the write helpers every dispatchd
 * module shares. Decisions are taken against the working set (app->world);
 * each is written by one SQL call on app->writer, and an HTTP reply, if any,
 * goes out from that call's result callback (after COMMIT). */
#ifndef DD_DISPATCH_H
#define DD_DISPATCH_H
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "cc_http.h"
#include "cc_util.h"
#include "dd_app.h"
#include "dd_model.h"
#include "dd_store.h"

/* Fill *p with the model's parameters for now_us (the app's travel limit). */
void dd_app_model_params(dd_app_t *app, int64_t now_us, dd_model_params_t *p);

/* When v is to be offered: its creation, or for a routine visit whose
 * window opens more than app->offer_ahead_s later, that long before the
 * window (docs/DISPATCH.md "Planned, then offered"). Emergencies at once. */
int64_t dd_dispatch_release_us(const dd_app_t *app, const dd_visit_t *v);

/* Offer v, planned (DD_VISIT_PLANNED), to its planned caregiver at its
 * planned time and queue the write (as dd_dispatch_try's). */
void dd_dispatch_publish(dd_app_t *app, dd_visit_t *v, int64_t now_us);

/* Offer v, if still waiting, to the best caregiver (an emergency may bump an
 * unaccepted routine offer) and queue the write; before v->release_us only
 * plan it (DD_VISIT_PLANNED, no write). Returns 1 when offered or planned, 0
 * when v stays waiting. Exits on out of memory (memory may already hold the
 * decision). */
int dd_dispatch_try(dd_app_t *app, dd_visit_t *v, int64_t now_us);

/* VisitAssigned of v as offered now (malloc'd, *len bytes), or NULL. */
uint8_t *dd_pack_assigned(const dd_visit_t *v, size_t *len);

/* An emergency takes the slot of bumped (offered, not accepted). */
typedef struct {
    char old[DD_ID_LEN];       /* the caregiver who loses the offer */
    char ev[CC_UUID_LEN];      /* event id of its VisitDeclined{preempted} */
    uint8_t *pay;              /* its payload; owned: free after the exec */
    size_t len;
} dd_bump_t;
/* Put bumped back in the queue in memory and fill *b (b->pay is malloc'd,
 * the caller frees it once the statement is queued). Exits on out of
 * memory. */
void dd_bump_apply(dd_app_t *app, dd_visit_t *bumped, dd_bump_t *b, int64_t now_us);
/* Set the bump's statement arguments (b_district, b_id, b_caregiver, b_order,
 * b_ev, b_payload) in a; a borrows from bumped and b until the exec. */
void dd_bump_args(cc_args_t *a, const dd_visit_t *bumped, const dd_bump_t *b);

/* Set the offer's parameters of v (provider, eta, end, travel) in a, as
 * every statement that offers a visit takes them; a borrows from v. */
void dd_offer_args(cc_args_t *a, const dd_visit_t *v);

/* Decline (reason "declined") or accept timeout ("accept_timeout") by v's
 * current caregiver: remember them, re-offer to the next one or queue, and
 * write VisitDeclined (+VisitAssigned). reason is borrowed. req (may be
 * NULL) is taken over and answered after commit with {visit_id, state,
 * next_caregiver_assigned}. Exits on out of memory. */
void dd_dispatch_decline(dd_app_t *app, dd_visit_t *v, const char *reason,
                         cc_http_req_t *req);

/* Resolve v (dd_deadline.h): to failed (VisitFailed{reason}), unconfirmed
 * (no event) or completed (VisitCompleted without check-out evidence), in
 * memory now and in the store by one dd_visit_resolve call. by (may be
 * NULL: the sweep) is the deciding dispatcher's account id, kept in the
 * store. req (may be NULL) is taken over and answered after commit with
 * {visit_id, state}. Exits on out of memory. */
void dd_dispatch_resolve(dd_app_t *app, dd_visit_t *v, dd_visit_state_t to, const char *reason,
                         const char *by, cc_http_req_t *req);

/* Arm v's accept timer (fires its service's offer_s after v->assigned_us),
 * replacing any armed one. On out of memory v stays without a timer and the
 * sweep arms one later. */
void dd_timer_arm(dd_app_t *app, dd_visit_t *v, int64_t now_us);
/* Cancel and free v's accept timer, if any. */
void dd_timer_cancel(dd_visit_t *v);

/* Drop the queue-retry snapshot (shutdown, end of a pass). */
void dd_retry_reset(dd_app_t *app);
/* Start the periodic sweep (queue retry, deadlines, pruning). 0/-1. */
int dd_sweep_start(dd_app_t *app);
/* Refresh the gauges from the working set. */
void dd_update_gauges(dd_app_t *app);

/* Text of a one-row, one-column result (borrowed from res), or NULL when
 * res is anything else. */
const char *dd_result_text(PGresult *res);
/* A write's result is an error: logged and counted, *err (may be NULL) the
 * answer for its request, and the working set reloaded (cc_rt_reload):
 * every dispatchd write is decided into memory before it is queued (an
 * offer, a bump, a caregiver's plan), and one refused cannot be taken back
 * alone, as later decisions built on it. 1; else 0. */
int dd_write_failed(dd_app_t *app, const char *what, PGresult *res, cc_err_t *err);

#endif
