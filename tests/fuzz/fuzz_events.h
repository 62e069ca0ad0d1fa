/* fuzz_events.h: the frame of the <daemon>_events targets: a consumed log
 * as a sequence of events, each through the daemon's own consumer table
 * (cc_consumer_decode: type lookup, size cap, unpack, schema), then, for
 * those that pass, the target's s_apply: what the table's handler decides
 * in memory before it queues its SQL (the pure part; the SQL needs a
 * database and is not run).
 *
 * Input: records [log][type][len lo][len hi][len bytes of payload]. log
 * picks one of the daemon's tables (modulo their count), type one entry of
 * it (modulo the entries, plus one: the extra value is the target's own
 * record, e.g. a top-up). Each record becomes an Envelope as the producer
 * writes it (seq 1, 2, ..., a valid event id, time FZ_NOW_US).
 * tests/fuzz/gen_seeds.py writes such records. */
#ifndef FUZZ_EVENTS_H
#define FUZZ_EVENTS_H
#include "fuzz.h"
#include <stdio.h>
#include "cc_consumer.h"
#include "cc_event.h"
#include "cc_log.h"

typedef struct {
    const char *producer;
    const cc_consumer_entry_t *table;
} fz_log_t;

/* Per target. */
static const fz_log_t *s_logs(size_t *n);
static void s_begin(void);
/* msg passed the table's checks; entry is its row. */
static void s_apply(const fz_log_t *log, const Cc__Envelope *env, const ProtobufCMessage *msg);
/* The extra record of a log: payload bytes as they came. */
static void s_extra(const fz_log_t *log, const uint8_t *data, size_t len);
static void s_end(void);

static size_t fz_entries(const cc_consumer_entry_t *t)
{
    size_t n = 0;
    while (t[n].type)
        n++;
    return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    cc_log_init("fuzz", "error");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nlogs;
    const fz_log_t *logs = s_logs(&nlogs);
    s_begin();
    uint64_t seq = 0;
    while (size >= 4) {
        const fz_log_t *log = &logs[data[0] % nlogs];
        size_t n = fz_entries(log->table);
        size_t pick = data[1] % (n + 1);
        size_t len = (size_t) data[2] | (size_t) data[3] << 8;
        data += 4;
        size -= 4;
        if (len > size)
            len = size;
        if (pick == n) {
            s_extra(log, data, len);
        } else {
            char id[40];
            seq++;
            snprintf(id, sizeof id, "00000000-0000-4000-8000-%012llx", (unsigned long long) seq);
            Cc__Envelope env = CC__ENVELOPE__INIT;
            env.type = (char *) log->table[pick].type;
            env.id = id;
            env.seq = seq;
            env.producer = (char *) log->producer;
            env.time_us = FZ_NOW_US;
            env.payload.data = (uint8_t *) data;
            env.payload.len = len;
            const cc_consumer_entry_t *e;
            ProtobufCMessage *msg;
            const char *reason, *field;
            if (cc_consumer_decode(log->table, &env, &e, &msg, &reason, &field) == 0) {
                if (e != &log->table[pick] || !msg)
                    abort();
                s_apply(log, &env, msg);
                protobuf_c_message_free_unpacked(msg, NULL);
            } else if (!reason || msg) {
                abort();
            }
        }
        data += len;
        size -= len;
    }
    s_end();
    return 0;
}

#endif
