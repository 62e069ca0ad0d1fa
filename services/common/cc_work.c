/* cc_work: see cc_work.h. */
#include "cc_work.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#define S_MAX_THREADS 16
#define S_MAX_QUEUE   4096

typedef struct s_item {
    cc_work_fn *run;
    cc_work_done_fn *done;
    void *job;
    struct s_item *next;
} s_item_t;

struct cc_work {
    pthread_mutex_t mu;          /* guards everything below it but the pipe */
    pthread_cond_t cv;           /* workers wait on it for jobs or stop */
    s_item_t *head, *tail;       /* waiting jobs, FIFO */
    size_t waiting;
    s_item_t *done_head, *done_tail;   /* run, not yet handed back */
    int stop;                    /* workers exit when set */
    size_t queue_max;
    int nthreads;                /* started */
    pthread_t threads[S_MAX_THREADS];
    int pipe_r, pipe_w;          /* a byte per completion wakes the loop */
    struct event *ev;            /* reads pipe_r on the loop */
};

static void s_push(s_item_t **head, s_item_t **tail, s_item_t *it)
{
    it->next = NULL;
    if (*tail)
        (*tail)->next = it;
    else
        *head = it;
    *tail = it;
}

static void *s_worker(void *arg)
{
    cc_work_t *self = arg;
    pthread_mutex_lock(&self->mu);
    for (;;) {
        while (!self->head && !self->stop)
            pthread_cond_wait(&self->cv, &self->mu);
        if (self->stop)
            break;
        s_item_t *it = self->head;
        self->head = it->next;
        if (!self->head)
            self->tail = NULL;
        self->waiting--;
        pthread_mutex_unlock(&self->mu);
        it->run(it->job);
        pthread_mutex_lock(&self->mu);
        s_push(&self->done_head, &self->done_tail, it);
        /* Non-blocking: a full pipe already holds a wake-up. */
        ssize_t w = write(self->pipe_w, "", 1);
        (void)w;
    }
    pthread_mutex_unlock(&self->mu);
    return NULL;
}

/* Hand finished jobs back, on the loop thread. */
static void s_drain(cc_work_t *self, int ran)
{
    pthread_mutex_lock(&self->mu);
    s_item_t *it = self->done_head;
    self->done_head = self->done_tail = NULL;
    pthread_mutex_unlock(&self->mu);
    while (it) {
        s_item_t *next = it->next;
        it->done(it->job, ran);
        free(it);
        it = next;
    }
}

static void s_on_pipe(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    s_drain(arg, 1);
}

cc_work_t *cc_work_new(struct event_base *base, int threads, int queue_max)
{
    if (!base || threads < 1 || threads > S_MAX_THREADS || queue_max < 1
        || queue_max > S_MAX_QUEUE)
        return NULL;
    cc_work_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->queue_max = (size_t)queue_max;
    self->pipe_r = self->pipe_w = -1;
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->cv, NULL);
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0)
        goto fail;
    self->pipe_r = p[0];
    self->pipe_w = p[1];
    self->ev = event_new(base, self->pipe_r, EV_READ | EV_PERSIST, s_on_pipe, self);
    if (!self->ev || event_add(self->ev, NULL) != 0)
        goto fail;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&self->threads[i], NULL, s_worker, self) != 0)
            goto fail;
        self->nthreads++;
    }
    return self;
fail:
    cc_work_destroy(&self);
    return NULL;
}

void cc_work_destroy(cc_work_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cc_work_t *self = *self_p;
    pthread_mutex_lock(&self->mu);
    self->stop = 1;
    pthread_cond_broadcast(&self->cv);
    pthread_mutex_unlock(&self->mu);
    for (int i = 0; i < self->nthreads; i++)
        pthread_join(self->threads[i], NULL);
    s_drain(self, 1);
    s_item_t *it = self->head;   /* never started */
    while (it) {
        s_item_t *next = it->next;
        it->done(it->job, 0);
        free(it);
        it = next;
    }
    if (self->ev)
        event_free(self->ev);
    if (self->pipe_r >= 0)
        close(self->pipe_r);
    if (self->pipe_w >= 0)
        close(self->pipe_w);
    pthread_cond_destroy(&self->cv);
    pthread_mutex_destroy(&self->mu);
    free(self);
    *self_p = NULL;
}

int cc_work_submit(cc_work_t *self, cc_work_fn *run, cc_work_done_fn *done, void *job)
{
    if (!self || !run || !done)
        return -1;
    s_item_t *it = calloc(1, sizeof *it);
    if (!it)
        return -1;
    it->run = run;
    it->done = done;
    it->job = job;
    pthread_mutex_lock(&self->mu);
    if (self->stop || self->waiting >= self->queue_max) {
        pthread_mutex_unlock(&self->mu);
        free(it);
        return -1;
    }
    s_push(&self->head, &self->tail, it);
    self->waiting++;
    pthread_cond_signal(&self->cv);
    pthread_mutex_unlock(&self->mu);
    return 0;
}

size_t cc_work_waiting(cc_work_t *self)
{
    pthread_mutex_lock(&self->mu);
    size_t n = self->waiting;
    pthread_mutex_unlock(&self->mu);
    return n;
}

int cc_work_background(void)
{
    struct sched_param sp = {.sched_priority = 0};
    int rc = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    if (rc == 0)
        return 0;
    /* On Linux a nice value is per thread: the loop keeps its own. */
    if (setpriority(PRIO_PROCESS, (id_t) gettid(), 19) == 0)
        return 0;
    return -1;
}
