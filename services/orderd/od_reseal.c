/* od_reseal: see od_reseal.h. */
#include "od_reseal.h"
#include "od_pii.h"
#include "od_store.h"
#include "cc_log.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Between background batches: the writer's other work goes first. */
#define S_TICK_US 20000

static const char *const s_cols[4] = { "name", "id_number", "phone", "address" };

struct od_reseal {
    od_app_t *app;
    int rotating;                /* 0: rows in clear; 1: rows under the old key */
    int inflight;                /* reseal calls of the batch not yet committed */
    int stopping;                /* no more batches */
    int failed;                  /* a row would not open: rotation stopped */
    int64_t rows;                /* sealed so far in this phase */
    od_reseal_done_fn *done;     /* after the last plain batch */
    struct event *ev;            /* background tick */
};

static void s_next(od_reseal_t *r);

static void s_schedule(od_reseal_t *r)
{
    if (r->stopping)
        return;
    struct timeval tv = { 0, S_TICK_US };
    event_add(r->ev, &tv);
}

static void s_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    s_next(arg);
}

static void s_on_resealed(PGresult *res, void *arg)
{
    od_reseal_t *r = arg;
    if (od_app_write_ok(r->app, "od_elder_reseal", res, NULL) != 0) {
        /* The row keeps its old seal, which still opens; stop rather than
         * loop on it (the next start tries again). */
        r->failed = 1;
        r->stopping = 1;
    } else {
        r->rows += PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "resealed") == 0;
    }
    if (--r->inflight > 0)
        return;
    if (r->rotating)
        s_schedule(r);
    else
        s_next(r);
}

/* The four plain values of row: text columns 1..4 (in clear) or sealed
 * bytea columns 1..4 opened with the keyring. 0, or -1 naming the column
 * that would not open. Fills vals (heap, the caller frees). */
static int s_values(od_reseal_t *r, PGresult *res, int row, const char *id, char *vals[4],
                    const char **bad)
{
    for (int c = 0; c < 4; c++) {
        vals[c] = NULL;
        if (!r->rotating) {
            vals[c] = strdup(PQgetisnull(res, row, c + 1) ? "" : PQgetvalue(res, row, c + 1));
        } else {
            size_t len = 0;
            unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, c + 1),
                                               &len);
            if (b)
                vals[c] = od_pii_open(r->app->pii, id, s_cols[c], b, len);
            PQfreemem(b);
        }
        if (!vals[c]) {
            *bad = s_cols[c];
            return -1;
        }
    }
    return 0;
}

static void s_seal_row(od_reseal_t *r, const char *id, char *vals[4], const char *from)
{
    const od_pii_t *pii = r->app->pii;
    uint8_t *sealed[4];
    size_t lens[4];
    for (int c = 0; c < 4; c++) {
        sealed[c] = od_pii_seal(pii, id, s_cols[c], vals[c], strlen(vals[c]), &lens[c]);
        if (!sealed[c]) {
            cc_error("out_of_memory", "what", "reseal");
            exit(1);
        }
    }
    uint8_t idn_idx[OD_PII_IDX_LEN], phone_idx[OD_PII_IDX_LEN];
    od_pii_index(pii, "id_number", vals[1], idn_idx);
    od_pii_index(pii, "phone", vals[2], phone_idx);
    cc_args_t a;
    cc_args_init(&a, &od_stmts[OD_ST_ELDER_RESEAL]);
    cc_args_text(&a, "id", id);
    cc_args_text(&a, "from", from);
    cc_args_int(&a, "key", od_pii_active_id(pii));
    cc_args_bytes(&a, "name", sealed[0], lens[0]);
    cc_args_bytes(&a, "id_number", sealed[1], lens[1]);
    cc_args_bytes(&a, "id_number_idx", idn_idx, sizeof idn_idx);
    cc_args_bytes(&a, "phone", sealed[2], lens[2]);
    cc_args_bytes(&a, "phone_idx", phone_idx, sizeof phone_idx);
    cc_args_bytes(&a, "address", sealed[3], lens[3]);
    if (cc_db_call(r->app->rt.writer, &a, s_on_resealed, r) != 0) {
        cc_error("db_queue_failed", "what", "od_elder_reseal");
        exit(1);
    }
    r->inflight++;
    /* Memory's copy follows (NULL for a row that was in clear): the active
     * key opens it whether or not this write commits. */
    od_elder_t *e = cc_map_get(r->app->elders, id);
    if (e)
        od_app_elder_address(e, sealed[3], lens[3]);
    for (int c = 0; c < 4; c++)
        free(sealed[c]);
}

static void s_finish(od_reseal_t *r)
{
    char n[24];
    snprintf(n, sizeof n, "%lld", (long long)r->rows);
    if (!r->rotating) {
        if (r->rows > 0)
            cc_info("pii_sealed_rows_in_clear", "rows", n);
        od_reseal_done_fn *done = r->done;
        r->done = NULL;
        if (done)
            done(r->app);
        return;
    }
    char kid[16];
    snprintf(kid, sizeof kid, "%d", od_pii_old_id(r->app->pii));
    /* The operator's cue (docs/SECURITY.md): the old key may be removed. */
    cc_info("pii_rotation_done", "rows", n, "old_key_id", kid, "old_key_needed", "no");
}

static void s_on_batch(PGresult *res, void *arg)
{
    od_reseal_t *r = arg;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (!r->rotating) {
            /* Serving before every row is sealed would break the duplicate
             * rule: restart and retry (crash-only). */
            cc_error("load_failed", "what", "elders in clear", "sqlstate", st ? st : "");
            exit(1);
        }
        cc_warn("pii_rotation_read_failed", "sqlstate", st ? st : "");
        s_schedule(r);
        return;
    }
    if (PQntuples(res) == 0) {
        s_finish(r);
        return;
    }
    char from[16];
    snprintf(from, sizeof from, "%d", od_pii_old_id(r->app->pii));
    for (int row = 0; row < PQntuples(res); row++) {
        const char *id = PQgetvalue(res, row, 0);
        char *vals[4];
        const char *bad = NULL;
        if (s_values(r, res, row, id, vals, &bad) == 0)
            s_seal_row(r, id, vals, r->rotating ? from : NULL);
        for (int c = 0; c < 4; c++)
            if (vals[c]) {
                sodium_memzero(vals[c], strlen(vals[c]));
                free(vals[c]);
            }
        if (bad) {
            /* Under the old key by its key id, yet it does not open: a
             * tampered or misplaced value. Stop rather than loop on it. */
            cc_error("pii_open_failed", "elder_id", id, "column", bad, "fix",
                     "restore the row from a backup; rotation stopped");
            r->failed = 1;
            r->stopping = 1;
        }
    }
    if (r->inflight == 0 && !r->failed)
        s_schedule(r);
}

static void s_next(od_reseal_t *r)
{
    if (r->stopping)
        return;
    cc_args_t a;
    if (r->rotating) {
        cc_args_init(&a, &od_stmts[OD_ST_RESEAL_OLD]);
        cc_args_int(&a, "key", od_pii_old_id(r->app->pii));
    } else {
        cc_args_init(&a, &od_stmts[OD_ST_RESEAL_PLAIN]);
    }
    cc_args_int(&a, "limit", r->app->pii_batch);
    if (cc_db_call(r->app->rt.reader, &a, s_on_batch, r) != 0) {
        cc_error("db_queue_failed", "what", "reseal batch");
        exit(1);
    }
}

int od_reseal_init(od_app_t *app)
{
    od_reseal_t *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->app = app;
    r->ev = evtimer_new(app->rt.base, s_on_tick, r);
    if (!r->ev) {
        free(r);
        return -1;
    }
    app->reseal = r;
    return 0;
}

int od_reseal_plain(od_app_t *app, od_reseal_done_fn *done)
{
    od_reseal_t *r = app->reseal;
    r->rotating = 0;
    r->rows = 0;
    r->done = done;
    s_next(r);
    return 0;
}

int od_reseal_rotate(od_app_t *app)
{
    od_reseal_t *r = app->reseal;
    if (!od_pii_has_old(app->pii))
        return 0;
    r->rotating = 1;
    r->rows = 0;
    char kid[16], old[16];
    snprintf(kid, sizeof kid, "%d", od_pii_active_id(app->pii));
    snprintf(old, sizeof old, "%d", od_pii_old_id(app->pii));
    cc_info("pii_rotation_started", "key_id", kid, "old_key_id", old);
    s_schedule(r);
    return 0;
}

void od_reseal_stop(od_app_t *app)
{
    if (!app->reseal)
        return;
    app->reseal->stopping = 1;
    event_del(app->reseal->ev);
}

void od_reseal_destroy(od_app_t *app)
{
    od_reseal_t *r = app->reseal;
    if (!r)
        return;
    event_free(r->ev);
    free(r);
    app->reseal = NULL;
}
