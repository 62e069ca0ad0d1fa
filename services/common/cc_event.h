/* cc_event: the schema of every domain event (proto/events.proto), defined
 * once for producers and consumers.
 *
 * protobuf-c checks only the wire format: any string, any integer. What an
 * event's fields may hold is written here, one rule per field, and used on
 * both sides of a log:
 *   producer  cc_event_pack() asserts the message passes before packing it:
 *             an event that fails its own schema is never appended (building
 *             one is our bug, not bad input);
 *   consumer  a consumer table (cc_consumer.h) checks every payload it
 *             unpacks with cc_event_check() and rejects the ones that fail,
 *             the same way in every daemon. */
#ifndef CC_EVENT_H
#define CC_EVENT_H
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "events.pb-c.h"
#include "cc_limits.h"
#include "cc_seal.h"

/* Limits shared by every daemon that takes, stores or forwards these: the
 * one definition is cc_limits.h; these names are the events' view of it. */
#define CC_EVENT_NOTES_MAX CC_NOTES_MAX  /* free text notes (orderd's order notes) */
#define CC_EVENT_TEXT_MAX CC_TEXT_MAX    /* reasons, diet and other short free text */
#define CC_EVENT_WORD_MAX CC_WORD_MAX    /* names of states, levels and kinds */
/* Times: microseconds since the epoch, 0 for "not set", else
 * CC_TIME_MIN_US..CC_TIME_MAX_US. */
#define CC_EVENT_TIME_MAX_US CC_TIME_MAX_US
/* A sealed address (cc_seal_address): the address plus cc_seal's overhead. */
#define CC_EVENT_SEALED_ADDRESS_MAX (CC_ADDRESS_MAX + CC_SEAL_OVERHEAD)
/* Payloads consumers unpack: the largest event is a few KiB. */
#define CC_EVENT_MAX_PAYLOAD (64 * 1024)

typedef enum {
    CC_EVENT_UUID,       /* canonical lower-case UUID text (36 chars), required */
    CC_EVENT_UUID_OPT,   /* the same, or "" */
    CC_EVENT_TEXT,       /* string of min..max bytes */
    CC_EVENT_WORD,       /* one of words[] (NULL-terminated) */
    CC_EVENT_INT,        /* integer (any width) in min..max */
    CC_EVENT_ENUM,       /* a value its enum names (proto3 enums are open) */
    CC_EVENT_TIME,       /* microseconds: 0 or CC_TIME_MIN_US..CC_TIME_MAX_US */
    CC_EVENT_REAL,       /* finite double in min..max */
    CC_EVENT_BOOL,       /* anything */
    CC_EVENT_BYTES,      /* bytes: none, or min..max of them (a sealed value) */
} cc_event_rule_t;

typedef struct {
    const char *name;            /* the field's name in events.proto */
    cc_event_rule_t rule;
    int64_t min, max;            /* TEXT, BYTES: bytes; INT, REAL: value */
    const char *const *words;    /* WORD */
} cc_event_field_t;

typedef struct {
    const ProtobufCMessageDescriptor *desc;
    const cc_event_field_t *fields;   /* one per field of desc, in any order */
    size_t nfields;
} cc_event_schema_t;

/* The schema of the event message desc describes, NULL if it is no event
 * (Envelope, Fetch, PlaceOrder...). */
const cc_event_schema_t *cc_event_schema(const ProtobufCMessageDescriptor *desc);
/* Every event schema, *n of them (for tests and tables). */
const cc_event_schema_t *cc_event_schemas(size_t *n);

/* 0 if msg passes the schema of its type. -1 if it fails, or has no schema;
 * *field (may be NULL) then names the first field that fails ("" when the
 * type has no schema). */
int cc_event_check(const ProtobufCMessage *msg, const char **field);

/* 1 if the NUL-terminated p is valid UTF-8 (no overlongs, surrogates or
 * code points past U+10FFFF): what every event text rule requires. */
int cc_utf8_ok(const unsigned char *p);

/* Serialise an event (malloc'd, the caller frees; NULL only when out of
 * memory). Asserts that msg is an event and passes its schema: a daemon
 * that builds an invalid event has a bug, and appending it would hand the
 * bug to every consumer. */
uint8_t *cc_event_pack(const ProtobufCMessage *msg, size_t *len);

#endif
