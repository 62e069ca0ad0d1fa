/* orderd: the order's home and the saga's conductor (docs/ARCHITECTURE.md).
 * What orderd is, as the runtime (cc_rt.h) runs it: its own config, its
 * statements (od_store), routes (od_http), the logs it consumes
 * (od_events), and the working set it loads and keeps (od_app). */
#include "cc_rt.h"
#include "od_app.h"
#include "od_events.h"
#include "od_http.h"
#include "od_store.h"
#include "od_duties.h"

static od_app_t s_app;

static cc_cfg_param_t s_params[] = {
    { "intake-endpoint", CC_CFG_STR, &s_app.intake_endpoint, "tcp://127.0.0.1:9091",
      "ZeroMQ ROUTER taking PlaceOrder (empty: off)", .flags = 0 },
    { "intake-clients", CC_CFG_STR, &s_app.intake_clients, "telephony",
      "parties (comma-separated, keys <name>.pub in curve-keys-dir) that may place orders "
      "on the intake", .flags = 0 },
    { "idem-ttl", CC_CFG_INT, &s_app.idem_ttl_s, "3600",
      "seconds a committed Idempotency-Key stays in memory (the store guards after)",
      .min = 1, .max = 7 * 86400 },
    /* The embedded token issuer (od_auth.h, docs/SECURITY.md). Its iss and
     * aud are the runtime's --token-issuer and --token-audience, the ones
     * every daemon's guard requires; its public key is in --jwks-file. */
    { "issuer-key", CC_CFG_STR, &s_app.issuer_key, "var/issuer/issuer.key",
      "the issuer's secret key, an Ed25519 JWK of mode 0600 (tools/tokens.py keygen); "
      "keep it out of --curve-keys-dir: only orderd reads it", .flags = CC_CFG_NONEMPTY },
    { "access-ttl-s", CC_CFG_INT, &s_app.access_ttl_s, "900",
      "seconds an access token lives", .min = 1, .max = 3600 },
    { "refresh-ttl-s", CC_CFG_INT, &s_app.refresh_ttl_s, "43200",
      "seconds a refresh token lives (unused)", .min = 60, .max = 30 * 86400 },
    { "lockout-max", CC_CFG_INT, &s_app.lockout_max, "5",
      "failed logins for one name within lockout-window-s before it is locked",
      .min = 1, .max = 1000 },
    { "lockout-window-s", CC_CFG_INT, &s_app.lockout_window_s, "900",
      "seconds failed logins are counted over; a locked name waits for the window's end",
      .min = 1, .max = 86400 },
    { "auth-threads", CC_CFG_INT, &s_app.auth_threads, "1",
      "worker threads for Argon2id (64 MiB each while hashing)", .min = 1, .max = 16 },
    { "auth-queue", CC_CFG_INT, &s_app.auth_queue, "16",
      "logins waiting for a worker before 503 busy", .min = 1, .max = 4096 },
    { "seed-accounts", CC_CFG_STR, &s_app.seed_accounts, "",
      "JSON list of {username, password, role, scope} created at start if missing "
      "(mode 0600; make run's demo accounts)", .flags = 0 },
    /* Personal data at rest (od_pii.h, docs/SECURITY.md "Personal data"). */
    { "pii-key-file", CC_CFG_STR, &s_app.pii_key_file, "",
      "data key sealing names, ID numbers, phones and addresses: 32 raw bytes, mode 0600, "
      "owned by the daemon user (empty: <curve-keys-dir>/pii.key)", .flags = 0 },
    { "pii-old-key-file", CC_CFG_STR, &s_app.pii_old_key_file, "",
      "the previous data key during a rotation: opens old values while rows are re-sealed "
      "under --pii-key-file in the background (empty: none)", .flags = 0 },
    { "pii-index-key-file", CC_CFG_STR, &s_app.pii_index_key_file, "",
      "blind-index key for the phone search and the one-record-per-ID-number rule; not "
      "rotated with the data key (empty: <curve-keys-dir>/pii-index.key)", .flags = 0 },
    /* The address in transit (cc_seal.h, docs/SECURITY.md "Personal data"). */
    { "dispatchd-address-key-file", CC_CFG_STR, &s_app.dispatchd_address_key_file, "",
      "dispatchd's transit key: orderd seals the elder's address in VisitReleased with it; "
      "32 raw bytes, mode 0600 (empty: <curve-keys-dir>/dispatchd-address.key)", .flags = 0 },
    { "meald-address-key-file", CC_CFG_STR, &s_app.meald_address_key_file, "",
      "meald's transit key: orderd seals the elder's address in MealReleased with it; "
      "32 raw bytes, mode 0600 (empty: <curve-keys-dir>/meald-address.key)", .flags = 0 },
    { "pii-batch", CC_CFG_INT, &s_app.pii_batch, "200",
      "rows sealed per batch (rows in clear at start, rows under the old key after)",
      .min = 1, .max = 1000 },
    /* Alarms and notifications (od_alarm.h, od_notify.h, docs/ALARMS.md). */
    { "alarm-endpoint", CC_CFG_STR, &s_app.alarm_endpoint, "",
      "ZeroMQ ROUTER taking RaiseAlarm from device gateways (CURVE; empty: off)", .flags = 0 },
    { "alarm-clients", CC_CFG_STR, &s_app.alarm_clients, "gateway",
      "device gateways (comma-separated, keys <name>.pub in curve-keys-dir) that may raise "
      "alarms on the alarm endpoint", .flags = 0 },
    { "alarm-escalate-s", CC_CFG_INT, &s_app.alarm_escalate_s, "600",
      "seconds an alarm may stay unacknowledged before it goes to the call centre's queue",
      .min = 1, .max = 86400 },
    { "notify-url", CC_CFG_STR, &s_app.notify_url, "",
      "SMS/voice gateway webhook, http://host[:port]/path: each notification is POSTed "
      "there as JSON (empty: notifications wait in the outbox)", .flags = 0 },
    { "notify-max-attempts", CC_CFG_INT, &s_app.notify_max_attempts, "8",
      "attempts per notification before it is marked failed", .min = 1, .max = 100 },
    { "notify-backoff-ms", CC_CFG_INT, &s_app.notify_backoff_ms, "2000",
      "delay after the first failed attempt, doubled after each (at most 60 s)",
      .min = 1, .max = 60000 },
    { "notify-timeout-s", CC_CFG_INT, &s_app.notify_timeout_s, "10",
      "seconds to wait for the gateway's answer", .min = 1, .max = 300 },
    /* Care plans' generator (od_plans.h, docs/API-orderd.md "Care plans"). */
    { "plan-horizon-days", CC_CFG_INT, &s_app.plan_horizon_days, "7",
      "days ahead (today included) for which plans' occurrences are placed as orders",
      .min = 1, .max = 60 },
    { "plan-batch", CC_CFG_INT, &s_app.plan_batch, "200",
      "plans read, and orders placed, at most per generator run (runs follow each other "
      "until nothing is due)", .min = 1, .max = 10000 },
    { "gen-pace", CC_CFG_INT, &s_app.gen_pace, "32",
      "the plans' and duties' generators place their next batch only while orderd's writer "
      "holds fewer statements than this (queued or in flight): a call centre's write then "
      "waits behind about one batch, not a pile of them", .min = 1, .max = 100000 },
    { "plan-interval-s", CC_CFG_INT, &s_app.plan_interval_s, "60",
      "seconds between generator runs when no plan changed (a change runs it at once)",
      .min = 1, .max = 3600 },
    /* The mandated generator (od_duties.h, docs/DUTIES.md). */
    { "duty-horizon-days", CC_CFG_INT, &od_duties_horizon_days, "7",
      "days ahead the mandated generator places due duty orders", .min = 1, .max = 60 },
    { "duty-interval-s", CC_CFG_INT, &od_duties_interval_s, "900",
      "seconds between full runs of the mandated generator", .min = 10, .max = 86400 },
    { "duty-poll-s", CC_CFG_INT, &od_duties_poll_s, "10",
      "seconds between checks for a change (rules, elders, cards, contacts, unserved "
      "mandated orders) that runs the generator at once", .min = 1, .max = 60 },
    { NULL, 0, NULL, NULL, NULL, .flags = 0 },
};

static const cc_rt_consumer_t s_consumers[] = {
    { "billingd", "tcp://127.0.0.1:9084", 1, od_events_from_billingd },
    { "dispatchd", "tcp://127.0.0.1:9082", 1, od_events_from_dispatchd },
    { "meald", "tcp://127.0.0.1:9083", 1, od_events_from_meald },
    { NULL, NULL, 0, NULL },
};

static const cc_rt_spec_t s_spec = {
    .name = "orderd",
    .summary = "orderd: elders, love cards and orders; conducts the saga",
    .http_port = 8081,
    .log_endpoint = "tcp://127.0.0.1:9081",
    .log_clients = "billingd,dispatchd,meald",   /* its consumers (DESIGN.md section 1) */
    .log_ring = 8192,
    .params = s_params,
    .stmts = od_stmts,
    .routes = od_http_routes,
    .consumers = s_consumers,
    .init = od_app_init,
    .load = od_store_load,
    .start = od_app_start,
    .stop = od_app_stop,
    .fini = od_app_fini,
};

int main(int argc, char **argv)
{
    return cc_rt_main(&s_app.rt, &s_spec, &s_app, argc, argv);
}
