/* cc_work: a small pool of worker threads for CPU-bound work that must not
 * run on the event loop (Argon2id: about 75 ms per password), with a
 * bounded queue and the results handed back to the loop.
 *
 * run(job) executes on a worker thread: it may compute and touch only the
 * job (no libevent, no libpq, no cc_http, no logs). done(job, 1) runs
 * afterwards on the loop thread (a pipe wakes the loop), in completion
 * order; it owns the job again. A full queue refuses the job at once
 * (cc_work_submit -1): the caller answers 503 with Retry-After rather than
 * letting waits grow without bound. */
#ifndef CC_WORK_H
#define CC_WORK_H
#include <stddef.h>
#include <event2/event.h>

typedef struct cc_work cc_work_t;
typedef void (cc_work_fn)(void *job);
/* ran: 1 after run(job); 0 when the pool was destroyed first (then called
 * from cc_work_destroy: free the job, touch nothing else). */
typedef void (cc_work_done_fn)(void *job, int ran);

/* threads 1..16 workers; queue_max 1..4096 jobs waiting for a worker
 * (jobs being run are not counted). NULL on failure (bad sizes, no
 * memory, no pipe, no thread). */
cc_work_t *cc_work_new(struct event_base *base, int threads, int queue_max);
/* Stop the workers (each finishes the job it runs; its done(job, 1) is
 * still called), done(job, 0) for jobs never started, free, NULL *self_p.
 * NULL-safe. Call from the loop thread, not from run or done. */
void cc_work_destroy(cc_work_t **self_p);
/* Queue a job: 0, or -1 when queue_max jobs are waiting already (the job
 * stays the caller's). */
int cc_work_submit(cc_work_t *self, cc_work_fn *run, cc_work_done_fn *done, void *job);
/* Jobs waiting for a worker now. */
size_t cc_work_waiting(cc_work_t *self);

/* Put the calling thread at the lowest CPU priority (SCHED_IDLE; where that
 * is refused, nice 19 for this thread only): for background work with a
 * wall-clock budget (dispatchd's re-optimisation, meald's rounds), so that
 * its own process's loop preempts it at once when it wakes, and a core that
 * runs only such work counts as free to other waking threads. Not for work
 * someone waits on (orderd's Argon2id). 0, or -1 (errno) when neither could
 * be set; the thread then runs as before. */
int cc_work_background(void);

#endif
