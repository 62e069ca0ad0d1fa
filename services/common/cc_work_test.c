/* Tests for cc_work: results come back on the loop thread, in the job's
 * hands; a full queue refuses at once; destroy hands back every job;
 * cc_work_background lowers its own thread only. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>
#include <event2/event.h>

#include "cc_work.h"

typedef struct {
    int in, out;                 /* run computes out from in */
    pthread_t ran_on;            /* run's thread */
    pthread_t done_on;           /* done's thread */
    int done, ran;               /* done called, its ran argument */
} s_job_t;

static int s_done_count;
static struct event_base *s_base;
static int s_want;

/* A gate that holds workers inside run until opened. */
static pthread_mutex_t s_gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_gate_cv = PTHREAD_COND_INITIALIZER;
static int s_gate_open = 1;
static int s_in_run;

static void s_run(void *arg)
{
    s_job_t *j = arg;
    pthread_mutex_lock(&s_gate_mu);
    s_in_run++;
    pthread_cond_broadcast(&s_gate_cv);
    while (!s_gate_open)
        pthread_cond_wait(&s_gate_cv, &s_gate_mu);
    pthread_mutex_unlock(&s_gate_mu);
    j->out = j->in * 2;
    j->ran_on = pthread_self();
}

static void s_done(void *arg, int ran)
{
    s_job_t *j = arg;
    j->done++;
    j->ran = ran;
    j->done_on = pthread_self();
    if (++s_done_count == s_want)
        event_base_loopbreak(s_base);
}

static void s_gate(int open)
{
    pthread_mutex_lock(&s_gate_mu);
    s_gate_open = open;
    pthread_cond_broadcast(&s_gate_cv);
    pthread_mutex_unlock(&s_gate_mu);
}

static void s_wait_in_run(int n)
{
    pthread_mutex_lock(&s_gate_mu);
    while (s_in_run < n)
        pthread_cond_wait(&s_gate_cv, &s_gate_mu);
    pthread_mutex_unlock(&s_gate_mu);
}

static void s_reset(void)
{
    s_done_count = 0;
    s_in_run = 0;
    s_gate(1);
}

static void test_results_come_back_on_the_loop(void **state)
{
    (void)state;
    s_reset();
    s_base = event_base_new();
    cc_work_t *w = cc_work_new(s_base, 2, 64);
    assert_non_null(w);
    s_job_t jobs[40] = { 0 };
    for (int i = 0; i < 40; i++) {
        jobs[i].in = i;
        assert_int_equal(cc_work_submit(w, s_run, s_done, &jobs[i]), 0);
    }
    s_want = 40;
    struct timeval limit = { 10, 0 };
    event_base_loopexit(s_base, &limit);
    event_base_dispatch(s_base);
    assert_int_equal(s_done_count, 40);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(jobs[i].done, 1);
        assert_int_equal(jobs[i].ran, 1);
        assert_int_equal(jobs[i].out, 2 * i);
        assert_true(pthread_equal(jobs[i].done_on, pthread_self()));
        assert_false(pthread_equal(jobs[i].ran_on, pthread_self()));
    }
    cc_work_destroy(&w);
    assert_null(w);
    event_base_free(s_base);
}

static void test_full_queue_refuses_and_destroy_hands_back(void **state)
{
    (void)state;
    s_reset();
    s_base = event_base_new();
    cc_work_t *w = cc_work_new(s_base, 1, 2);
    assert_non_null(w);
    s_gate(0);
    s_job_t jobs[4] = { 0 };
    assert_int_equal(cc_work_submit(w, s_run, s_done, &jobs[0]), 0);
    s_wait_in_run(1);                  /* the worker holds job 0 */
    assert_int_equal(cc_work_submit(w, s_run, s_done, &jobs[1]), 0);
    assert_int_equal(cc_work_submit(w, s_run, s_done, &jobs[2]), 0);
    assert_int_equal(cc_work_waiting(w), 2);
    assert_int_equal(cc_work_submit(w, s_run, s_done, &jobs[3]), -1);   /* full */
    assert_int_equal(jobs[3].done, 0);
    s_gate(1);
    cc_work_destroy(&w);
    /* Job 0 ran; 1 and 2 either ran before the stop or come back unrun;
     * each is handed back exactly once. */
    assert_int_equal(jobs[0].done, 1);
    assert_int_equal(jobs[0].ran, 1);
    for (int i = 1; i < 3; i++)
        assert_int_equal(jobs[i].done, 1);
    assert_int_equal(jobs[3].done, 0);
    event_base_free(s_base);
}

static void test_bad_sizes(void **state)
{
    (void)state;
    struct event_base *b = event_base_new();
    assert_null(cc_work_new(b, 0, 4));
    assert_null(cc_work_new(b, 17, 4));
    assert_null(cc_work_new(b, 1, 0));
    assert_null(cc_work_new(NULL, 1, 4));
    cc_work_t *w = NULL;
    cc_work_destroy(&w);
    cc_work_destroy(NULL);
    event_base_free(b);
}

/* The thread's policy and nice value, as the kernel has them. */
static void s_prio(int *policy, int *nice_val)
{
    struct sched_param sp;
    assert_int_equal(pthread_getschedparam(pthread_self(), policy, &sp), 0);
    *nice_val = getpriority(PRIO_PROCESS, (id_t)gettid());
}

static void *s_background(void *arg)
{
    int *out = arg;
    out[0] = cc_work_background();
    s_prio(&out[1], &out[2]);
    return NULL;
}

static void test_background_lowers_its_own_thread_only(void **state)
{
    (void)state;
    int policy0, nice0, out[3];
    s_prio(&policy0, &nice0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, s_background, out), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(out[0], 0);
    /* SCHED_IDLE, or (where refused) nice 19. */
    assert_true(out[1] == SCHED_IDLE || out[2] == 19);
    /* The caller (the loop) keeps its priority: a process-wide
     * setpriority(PRIO_PROCESS, 0, 19) would fail here. */
    int policy1, nice1;
    s_prio(&policy1, &nice1);
    assert_int_equal(policy1, policy0);
    assert_int_equal(nice1, nice0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_results_come_back_on_the_loop),
        cmocka_unit_test(test_full_queue_refuses_and_destroy_hands_back),
        cmocka_unit_test(test_bad_sizes),
        cmocka_unit_test(test_background_lowers_its_own_thread_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
