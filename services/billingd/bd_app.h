/* bd_app: billingd's process state, shared by main.c, bd_store.c (SQL),
 * bd_events.c (orderd's log) and bd_http.c (clerk API).
 *
 * Memory is the decision state: balances, cards, open holds and subsidy
 * usage live in bd_ledger, loaded from the store at start. A decision is
 * applied to memory when its SQL statement is queued (so the next decision
 * in the same batch sees it) and reverted if the store reports it was not
 * applied (a replay); an SQL error on a write means memory and store
 * disagree, and the daemon exits for the supervisor to restart it. */
#ifndef BD_APP_H
#define BD_APP_H
#include <stdint.h>
#include <event2/event.h>
#include "cc_db.h"
#include "cc_evlog.h"
#include "cc_http.h"
#include "cc_metrics.h"
#include "bd_ledger.h"
#include "cc_map.h"
#include "bd_pricing.h"

typedef struct {
    /* configuration (cc_config) */
    char *db;
    char *http_addr;
    int64_t http_port;
    char *log_endpoint;
    char *log_level;
    char *pidfile;
    char *orderd_log;
    char *dispatchd_log;         /* "" = not consumed */
    char *meald_log;             /* "" = not consumed */
    int64_t max_body;
    int64_t max_topup_fen;
    int64_t ring_size;
    int64_t batch_max;
    int64_t statement_limit;
    int64_t recon_interval_s;    /* reconciliation timer, 0 = off */

    /* runtime */
    struct event_base *base;
    void *zctx;
    cc_db_t *writer;             /* batching writer: every state change */
    cc_db_t *reader;             /* start-up load, statements, checks, lookups */
    cc_evlog_t *evlog;           /* own log: FundsHeld, FundsDenied, HoldCaptured, ... */
    cc_consumer_t *orderd;       /* orderd's log: cards and orders */
    cc_consumer_t *dispatchd;    /* dispatchd's log: VisitCompleted evidence (or NULL) */
    cc_consumer_t *meald;        /* meald's log: MealDelivered evidence (or NULL) */
    cc_http_t *http;
    bd_ledger_t *ledger;
    bd_pricing_t *pricing;
    cc_map_t *topups;            /* idempotency key -> bd_topup_job_t (in flight) */
    struct event *ev_tick;       /* gauges; shutdown wait */
    struct event *ev_recon;      /* reconciliation timer (bd_recon) */
    int recon_busy;              /* a reconciliation query is in flight */

    int load_left;               /* start-up queries outstanding */
    int loaded;                  /* working set in memory */
    int stopping;                /* SIGTERM seen */
    int64_t stop_deadline_us;
    int exit_code;               /* 1 when the stop timed out */
    uint64_t writes_issued;      /* own writer statements queued ... */
    uint64_t writes_done;        /* ... and answered (ledger check compares memory) */

    /* metrics */
    cc_metric_t *m_holds, *m_captures, *m_releases, *m_replays, *m_cards;
    cc_metric_t *m_open_holds, *m_money_available, *m_money_held, *m_money_arrears;
    cc_metric_t *m_money_payable, *m_money_subsidy, *m_money_topped_up, *m_writer_pending;
    cc_metric_t *m_apply_seconds, *m_topup_seconds;
} bd_app_t;

/* Crash-only: an unexpected SQL error on a write. Logs the statement name and
 * SQLSTATE (never parameters) and exits 1. */
void bd_fatal_sql(const char *stmt, PGresult *res) __attribute__((noreturn));

/* 1 if res is a successful result with at least one row. */
int bd_res_ok(PGresult *res);

/* Refresh the money / holds gauges from memory. */
void bd_app_update_gauges(bd_app_t *app);

#endif
