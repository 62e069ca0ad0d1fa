/* bd_app: billingd's context and working set, shared by bd_store.c (SQL),
 * bd_events.c (the logs it reads) and bd_http.c (clerk API); the runtime
 * (cc_rt.h) runs it as main.c declares.
 *
 * Memory is the decision state: balances, cards, open holds and subsidy
 * usage live in bd_ledger, loaded from the store at start. A decision is
 * applied to memory when its SQL statement is queued (so the next decision
 * in the same batch sees it) and reverted if the store reports it was not
 * applied (a replay); an SQL error on an event's effect means memory and
 * store disagree: the working set is reloaded (cc_rt_reload). A top-up
 * refused takes its postings back (bd_ledger_revert). */
#ifndef BD_APP_H
#define BD_APP_H
#include <stdint.h>
#include <event2/event.h>
#include "cc_http.h"
#include "cc_metrics.h"
#include "cc_rt.h"
#include "bd_ledger.h"
#include "cc_map.h"
#include "bd_pricing.h"

typedef struct {
    cc_rt_t rt;                  /* first: handles and common config (cc_rt.h) */
    /* billingd's own configuration (main.c) */
    int64_t max_topup_fen;
    int64_t statement_limit;
    int64_t recon_interval_s;    /* reconciliation timer, 0 = off */

    bd_ledger_t *ledger;
    bd_pricing_t *pricing;
    cc_map_t *topups;            /* idempotency key -> top-up in flight (bd_http) */
    struct event *ev_tick;       /* gauges */
    struct event *ev_recon;      /* reconciliation timer (bd_recon) */
    int recon_busy;              /* a reconciliation query is in flight */
    /* GET /v1/ledger/check scans every posting: on a connection of its own,
     * one at a time, under its own statement timeout, so that it never
     * delays the reader and writer billing runs on. */
    cc_db_t *checker;
    int check_busy;
    int64_t check_timeout_ms;

    int load_left;               /* start-up queries outstanding */
    uint64_t writes_issued;      /* own writer statements queued ... */
    uint64_t writes_done;        /* ... and answered (ledger check compares memory) */

    /* metrics */
    cc_metric_t *m_holds, *m_captures, *m_releases, *m_replays, *m_cards;
    cc_metric_t *m_open_holds, *m_money_available, *m_money_held, *m_money_arrears;
    cc_metric_t *m_money_payable, *m_money_subsidy, *m_money_topped_up, *m_writer_pending;
    cc_metric_t *m_apply_seconds, *m_topup_seconds;
} bd_app_t;

/* Runtime hooks (cc_rt_spec_t): metrics, ledger, pricing and the top-ups
 * map; gauge tick and reconciliation timer once loaded; stop the timers;
 * free everything init made (after the loop). */
int bd_app_init(void *app);
int bd_app_start(void *app);
void bd_app_stop(void *app);
void bd_app_fini(void *app);
/* Reload (cc_rt_reload): stop the timers, and a new empty ledger and
 * pricing for bd_store_load; bd_app_start runs again. */
void bd_app_reset(void *app);

/* Refresh the money / holds gauges from memory. */
void bd_app_update_gauges(bd_app_t *app);

#endif
