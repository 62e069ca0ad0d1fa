/* intake: orderd's ZeroMQ PlaceOrder intake (od_intake.c), its message
 * handler run on fuzzed frames: frame shape and size caps, the Envelope,
 * the PlaceOrder payload and every rule od_order_req_check applies, and
 * the reply packed for each outcome. od_intake.c is compiled into this
 * target (its handler is static; the module is not changed for it), with
 * no socket (replies are built, not sent) and an app not loaded: a request
 * that passes every check is answered 503 not_ready, so no database is
 * needed. A request that passes must also fit the OrderPlaced event
 * od_app_place would build from it (cc_event_pack asserts that schema: a
 * request the checks accept but the event cannot carry would stop orderd).
 * Input: [shape byte][envelope bytes]; shape picks the frames: 0
 * DEALER [id, env], 1 REQ [id, "", env], 2 [id, "x", env], 3 [id],
 * 4 [id, "", "", env], 5 ["", env]. */
#include "fuzz.h"
#include "../../services/orderd/od_intake.c"
#include "cc_event.h"

static od_app_t s_app;
static od_intake_t s_intake;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    cc_log_init("fuzz", "error");
    s_intake.app = &s_app;   /* rt.loaded 0: valid requests get 503 */
    s_intake.m_garbage = cc_metrics_counter("fuzz_garbage", "x");
    s_intake.m_oversize = cc_metrics_counter("fuzz_oversize", "x");
    s_intake.m_type = cc_metrics_counter("fuzz_type", "x");
    s_intake.m_invalid = cc_metrics_counter("fuzz_invalid", "x");
    s_intake.m_frames = cc_metrics_counter("fuzz_frames", "x");
    s_intake.m_latency = cc_metrics_histogram("fuzz_latency", "x");
    return 0;
}

/* Rejections counted so far: unchanged after a message means it passed. */
static double s_refused(void)
{
    return cc_metric_value(s_intake.m_garbage) + cc_metric_value(s_intake.m_oversize)
           + cc_metric_value(s_intake.m_type) + cc_metric_value(s_intake.m_invalid)
           + cc_metric_value(s_intake.m_frames);
}

/* The OrderPlaced of an accepted PlaceOrder must pass its schema. */
static void s_accepted(const uint8_t *env, size_t elen)
{
    Cc__Envelope *e = cc__envelope__unpack(NULL, elen, env);
    Cc__PlaceOrder *po = e ? cc__place_order__unpack(NULL, e->payload.len, e->payload.data)
                           : NULL;
    if (!po)
        abort();   /* it was accepted, so it decodes */
    Cc__OrderPlaced m = CC__ORDER_PLACED__INIT;
    char card[CC_UUID_LEN];
    if (cc_uuid_norm(po->card_id, card) != 0)
        abort();
    m.order_id = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b";
    m.card_id = card;
    m.service = po->service;
    int emergency = po->service == CC__SERVICE__EMERGENCY;
    m.window_start_us = po->window_start_us;
    m.window_end_us = po->window_end_us;
    if (emergency && !m.window_start_us && !m.window_end_us) {
        m.window_start_us = cc_now_us();
        m.window_end_us = m.window_start_us + OD_EMERGENCY_WINDOW_US;
    }
    m.emergency = emergency;
    m.district_id = 1;   /* the elder's stored district, bounded when the elder was created */
    const char *field = NULL;
    if (cc_event_check(&m.base, &field) != 0) {
        fprintf(stderr, "intake accepted a PlaceOrder whose OrderPlaced fails at %s\n", field);
        abort();
    }
    cc__place_order__free_unpacked(po, NULL);
    cc__envelope__free_unpacked(e, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const uint8_t ident[5] = { 0, 0x6b, 0x8b, 0x45, 0x67 };
    const void *frames[4];
    size_t lens[4];
    int n = 0;
    const uint8_t *env = data + 1;
    size_t elen = size - 1;
    switch (data[0] % 6) {
    case 0: frames[n] = ident; lens[n++] = 5; break;
    case 1: frames[n] = ident; lens[n++] = 5; frames[n] = ""; lens[n++] = 0; break;
    case 2: frames[n] = ident; lens[n++] = 5; frames[n] = "x"; lens[n++] = 1; break;
    case 3: frames[n] = ident; lens[n++] = 5; env = NULL; break;
    case 4: frames[n] = ident; lens[n++] = 5; frames[n] = ""; lens[n++] = 0;
            frames[n] = ""; lens[n++] = 0; break;
    default: frames[n] = ""; lens[n++] = 0; break;
    }
    if (env) {
        frames[n] = env;
        lens[n++] = elen;
    }
    double refused = s_refused();
    s_on_msg(NULL, frames, lens, n, &s_intake);
    if (s_intake.live != 0)
        abort();   /* nothing may reach od_app_place while not loaded */
    if (env && s_refused() == refused)
        s_accepted(env, elen);
    return 0;
}
