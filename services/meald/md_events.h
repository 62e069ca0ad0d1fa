/* md_events: meald's side of orderd's log.
 *
 * MealReleased (and OrderReleased of service meal, the release before it
 * was split per reader, still in older logs: its ability level, elder id,
 * caregiver and notes are not read): decide the meal point in C (md_choose at the
 * processing time, cc_now_us), take the place in memory at once (so the
 * next event of the same batch sees it), then one SQL call that records the
 * meal and appends MealScheduled or MealRefused with cc_consume in the same
 * transaction. OrderCancelled: free the place of a scheduled meal; memory
 * follows when the call reports it applied. Other types are skipped. */
#ifndef MD_EVENTS_H
#define MD_EVENTS_H
#include "cc_stmt.h"
#include "md_app.h"

/* The consumer table for orderd's log; its arg is the md_app_t. */
extern const cc_consumer_entry_t md_events_from_orderd[];

/* What a handler decides for one event before its SQL, without a database
 * or a socket (the handler queues the args; tests/fuzz/meald_events.c
 * calls the same): a release takes its place in app->state at once
 * (scheduled at a point, or refused) with its MealScheduled / MealRefused
 * payload; a cancellation of a scheduled meal only queues (memory follows
 * the store's answer, in the result callback). */
struct md_effect_ctx;   /* the result callback's context (md_events.c) */
typedef struct {
    cc_args_t args;            /* borrows from this struct, env, msg and the state */
    cc_db_fn *done;            /* NULL: nothing to queue (repeat, not a meal ...) */
    struct md_effect_ctx *ctx; /* done's argument; owned until queued */
    md_meal_t *meal;           /* the meal decided, or the one to cancel */
    uint8_t *payload;          /* the event appended by a release, or NULL */
    size_t plen;
    char date[16], out_id[CC_UUID_LEN];
} md_effect_t;
/* msg: env's payload, unpacked and schema-checked (cc_consumer_decode) by
 * the table above (not AccountChanged: cc_revoke's). now: the processing
 * time (md_choose's cut-off). 0 with *e filled, or -1 for another type;
 * free *e with md_effect_free either way. Exits on out of memory, as the
 * handlers do. */
int md_events_decide(md_app_t *app, const Cc__Envelope *env, const ProtobufCMessage *msg,
                     int64_t now, md_effect_t *e);
void md_effect_free(md_effect_t *e);

/* Copy src into dst[size] as valid UTF-8 (invalid bytes become '?'), cut
 * at a character boundary. Event text is not trusted to be UTF-8 and JSON
 * replies need it to be. */
void md_text_clean(char *dst, size_t size, const char *src);

#endif
