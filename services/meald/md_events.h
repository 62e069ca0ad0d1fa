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
#include "md_app.h"

/* The consumer table for orderd's log; its arg is the md_app_t. */
extern const cc_consumer_entry_t md_events_from_orderd[];

/* Copy src into dst[size] as valid UTF-8 (invalid bytes become '?'), cut
 * at a character boundary. Event text is not trusted to be UTF-8 and JSON
 * replies need it to be. */
void md_text_clean(char *dst, size_t size, const char *src);

#endif
