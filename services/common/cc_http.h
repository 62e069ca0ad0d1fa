/* cc_http: evhttp server with routing by method and path pattern, JSON
 * bodies and errors, and the standard /healthz, /readyz, /metrics.
 *
 * A handler may answer at once or later (after its batch commits): the
 * cc_http_req_t stays valid until a reply call, even if the client has
 * gone away meanwhile (the reply is then dropped and counted). Every request
 * must be answered exactly once with one of the cc_http_reply_* calls. */
#ifndef CC_HTTP_H
#define CC_HTTP_H
#include <stddef.h>
#include <event2/event.h>
#include <jansson.h>
#include "cc_json.h"
#include "cc_jwt.h"
#include "cc_util.h"

typedef struct cc_http cc_http_t;
typedef struct cc_http_req cc_http_req_t;
typedef void (cc_http_fn)(cc_http_req_t *req, void *arg);
typedef int (cc_http_ready_fn)(void *arg);   /* 1 ready, 0 not yet */

/* Bind addr:port (port 0 = any free port; see cc_http_port). max_body caps
 * request bodies (413 beyond). NULL on failure (logged). Bodies up to about
 * 2 x max_body + 64 KiB are read and answered with a JSON 413; a larger
 * Content-Length is refused by evhttp itself (HTML 413, connection closed,
 * not counted in metrics).
 * Registers GET /healthz, /readyz, /metrics. Ignores SIGPIPE process-wide.
 * Every reply is counted in http_requests_total{code="..."} and timed in
 * http_request_duration_seconds; also http_clients_gone_total and
 * http_replies_dropped_total. A destroyed server's unanswered requests stay
 * valid: their replies are dropped. */
cc_http_t *cc_http_new(struct event_base *base, const char *addr, int port, size_t max_body);
void cc_http_destroy(cc_http_t **self_p);
int cc_http_port(const cc_http_t *self);

/* Pattern segments in braces capture: "/v1/orders/{id}/cancel".
 * Unknown path -> 404 JSON; known path, other method -> 405 JSON with Allow.
 * A literal segment beats a capture; HEAD is served by GET routes.
 * Captures are percent-decoded (never empty; NUL -> 400 invalid_path).
 * Returns -1 if pattern does not start with '/' or has > 8 captures. */
int cc_http_route(cc_http_t *self, const char *method, const char *pattern,
                  cc_http_fn *fn, void *arg);
void cc_http_set_ready(cc_http_t *self, cc_http_ready_fn *fn, void *arg);

/* ---- routes as a table ------------------------------------------------
 * Guards every route of a table shares, run before its handler in this
 * order, each answering with the JSON error shape and naming the field:
 * - Host must be one of the allowed hosts (cc_http_set_hosts): 421
 *   misdirected_request (field Host); an Origin, when present, too: 403
 *   forbidden (field Origin). Defeats DNS rebinding and cross-site posts;
 * - roles (CC_ROLE_* mask, cc_jwt.h) says who may call: the bearer token
 *   of "Authorization: Bearer <jwt>" is verified (cc_http_set_auth) and
 *   its role must be in the mask. Missing, malformed, badly signed,
 *   expired, wrong issuer or audience: 401 unauthorized (field
 *   Authorization, header WWW-Authenticate: Bearer); a verified token
 *   whose account is disabled or whose gen is old (cc_revoke_ok, the
 *   process' table): 401 unauthorized naming the revocation, or 503
 *   starting before that table's first load; a role not in the mask: 403
 *   forbidden (field role). A route with roles 0 must say
 *   CC_ROUTE_PUBLIC (no token read); cc_http_routes refuses any other;
 * - writes (POST, PUT, PATCH, DELETE) need Content-Type application/json
 *   (parameters after ';' allowed): 415 unsupported_media_type, even
 *   without a body: a cross-site form or no-cors fetch cannot send it;
 * - every capture named "id" or ending in "_id" is a UUID: 404 not_found
 *   (field: the capture) unless it is one, as for an unknown id; the
 *   handler sees it in lower case (cc_uuid_norm), so one object has one
 *   spelling everywhere;
 * - the gate (cc_http_set_gate): 503 starting, Retry-After: 1, until the
 *   daemon's working set is loaded;
 * - CC_ROUTE_IDEM: an Idempotency-Key header is required; CC_ROUTE_IDEM_OPT:
 *   optional. Either way a present key must pass cc_http_idem_key_valid;
 * - CC_ROUTE_JSON: the body must be a JSON object (400 invalid_json /
 *   not_an_object); the handler reads it with cc_http_json (borrowed).
 * Scope (which district, caregiver, provider, meal point, elder) depends
 * on the resource: handlers check it with cc_http_scope. */
#define CC_ROUTE_IDEM     0x1u
#define CC_ROUTE_IDEM_OPT 0x2u
#define CC_ROUTE_JSON     0x4u
/* No token wanted, roles 0: login and refresh (how one gets a token),
 * and the unit tests' tables. */
#define CC_ROUTE_PUBLIC   0x8u
/* The reply carries an elder's personal data (name, phone, address, ID
 * number, location, health, diet, notes): every such read is audited
 * (cc_http_set_audit) and its reply waits for the audit row's commit. */
#define CC_ROUTE_PII      0x10u
/* A write whose body is CSV (a bulk import): Content-Type must be text/csv
 * (415 otherwise) and the body may reach cc_http_set_bulk_body's limit
 * instead of max_body (413 beyond it). */
#define CC_ROUTE_CSV      0x20u

typedef struct {
    const char *method;
    const char *pattern;
    cc_http_fn *fn;
    unsigned flags;           /* CC_ROUTE_* */
    unsigned roles;           /* CC_ROLE_* allowed (cc_jwt.h) */
} cc_http_route_t;

/* Register a table ended by an entry with method NULL; arg goes to every
 * handler. 0, or -1 (logged) if a pattern is invalid. */
int cc_http_routes(cc_http_t *self, const cc_http_route_t *table, void *arg);
/* The table as JSON text, one object per route: {"method", "pattern",
 * "roles": [names], "flags": [...]}, in a {"routes": [...]} document (the
 * daemons' --routes; docs/API.md and tests/system/test_roles.py read it).
 * The caller frees it; NULL on no memory. */
char *cc_http_routes_json(const cc_http_route_t *table);
/* Verify bearer tokens with keys (borrowed: call again with the new set
 * after a reload, before freeing the old one) under policy (its strings
 * are copied). Until called, every route with roles answers 401. 0/-1. */
int cc_http_set_auth(cc_http_t *self, const cc_jwks_t *keys, const cc_jwt_policy_t *policy);
/* Allowed Host (and Origin) values, comma-separated "host:port" or "host"
 * (compared ignoring case). NULL or "": 127.0.0.1:<port>,
 * localhost:<port> and <listen address>:<port>. 0, or -1 (no memory). */
int cc_http_set_hosts(cc_http_t *self, const char *csv);
/* The verified claims of the caller of a table route with roles; NULL on
 * a public route (borrowed, lives as long as req). */
const cc_jwt_claims_t *cc_http_claims(cc_http_req_t *req);
/* The caller may touch a resource of scope s (cc_jwt_scope_check): 0; or
 * -1 having answered 403 forbidden naming the scope field. */
int cc_http_scope(cc_http_req_t **req_p, const cc_scope_t *s);
/* A district named by the caller (a query filter): a dispatcher must hold
 * it, other roles pass. 0, or -1 having answered 403 naming district_id. */
int cc_http_scope_district(cc_http_req_t **req_p, uint32_t district);
/* ---- audit trail (docs/SECURITY.md "Audit trail") ---------------------
 * A table route is audited when it is a write (POST, PUT, PATCH, DELETE)
 * or flagged CC_ROUTE_PII. With a hook set, the server calls it:
 * - writes: once when every guard has passed, before the handler runs
 *   (status 0, hold 0), so the row is queued on the writer before any
 *   statement of the handler (same batch or an earlier one); then once
 *   more at the reply (status, hold 0): best effort, not waited for;
 * - PII reads: once at the reply (status, hold 1): the reply is held until
 *   the hook's owner calls cc_http_audit_done (after the row's COMMIT).
 * The hook returns 0 (queued), or -1: a write is then refused with 503
 * audit_unavailable before its handler; a held read is answered 503
 * audit_unavailable instead of its data (fail closed).
 * What a row may hold is cc_http_audit_ids's: path captures and elder ids,
 * never bodies, query text, names, phones or tokens. */
typedef int (cc_http_audit_fn)(cc_http_req_t *req, int status, int hold, void *arg);
void cc_http_set_audit(cc_http_t *self, cc_http_audit_fn *fn, void *arg);
/* The held reply of req may go (ok 1), or is replaced by 503
 * audit_unavailable (ok 0). Consumes req. */
void cc_http_audit_done(cc_http_req_t *req, int ok);
/* The ids of an audited request, as a JSON object (borrowed): its path
 * captures by name, "elder_id" when the query or JSON body names one (a
 * UUID) or the reply's object has one, and "elder_ids" (up to 100) from a
 * reply's list of objects with an elder_id. Never NULL for an audited
 * request. */
json_t *cc_http_audit_ids(cc_http_req_t *req);
/* The peer's address ("127.0.0.1"), "" when unknown. */
const char *cc_http_peer(cc_http_req_t *req);
/* The pattern of the route that matched ("/v1/orders/{id}/cancel"). */
const char *cc_http_route_pattern(cc_http_req_t *req);
/* A random id shared by the rows of one audited request (a UUID). */
const char *cc_http_request_id(cc_http_req_t *req);

/* The body limit of CC_ROUTE_CSV routes (0: max_body, the default). */
void cc_http_set_bulk_body(cc_http_t *self, size_t max);
/* Table routes answer 503 starting while fn(arg) returns 0. */
void cc_http_set_gate(cc_http_t *self, cc_http_ready_fn *fn, void *arg);
/* What the closed gate answers from now on: 503 error (static text) with
 * message; error NULL: "starting" again. */
void cc_http_set_gate_error(cc_http_t *self, const char *error, const char *message);
/* cc_idem_key_valid (cc_util.h): kept for the route guards' readers. */
#define cc_http_idem_key_valid cc_idem_key_valid
/* The checked Idempotency-Key of a table route, or NULL when absent. */
const char *cc_http_idem_key(cc_http_req_t *req);
/* The body parsed by CC_ROUTE_JSON (borrowed, lives as long as req). */
json_t *cc_http_json(cc_http_req_t *req);
/* Query parameter that must be an id: NULL when absent; when present and
 * not a UUID answers 400 invalid_value naming it, sets *bad and returns
 * NULL. Otherwise the lower-case id (lives as long as req). */
const char *cc_http_query_id(cc_http_req_t *req, const char *name, int *bad);
/* Stop accepting new requests (SIGTERM): new ones get 503 draining and
 * /readyz 503, while /healthz and /metrics still answer. Replies carry
 * Connection: close. Requests already accepted are answered normally. */
void cc_http_drain(cc_http_t *self);
/* Requests accepted but not yet answered. */
int cc_http_pending(const cc_http_t *self);
/* Back-pressure and deadlines (0: none, the default for both):
 * - more than max_open requests accepted and unanswered: a new one is
 *   answered 503 overloaded, Retry-After: 1, Connection: close
 *   (http_rejected_total{reason="open_requests"}); /healthz, /readyz and
 *   /metrics are always served;
 * - a request its handler has not answered deadline_ms after it arrived
 *   (monotonic clock) is answered 503 timeout, Retry-After: 1
 *   (http_deadline_exceeded_total). The handler's cc_http_req_t stays
 *   valid: its reply, when it comes, is dropped
 *   (http_late_replies_total). A write may still commit after that 503:
 *   retried with the same Idempotency-Key it answers as committed.
 * Every 503 without another header carries Retry-After: 1. */
void cc_http_set_limits(cc_http_t *self, int max_open, int deadline_ms);
/* A handler whose work is known to be long (a full ledger scan) gives its
 * request deadline_ms instead of the server's; call before returning. */
void cc_http_set_deadline(cc_http_req_t *req, int deadline_ms);
/* Admission of table routes, after the gate: fn(method, arg) returns NULL
 * to admit, or why not (static text): 503 overloaded with that message,
 * counted in http_rejected_total{reason=<why>}. */
typedef const char *(cc_http_admit_fn)(const char *method, void *arg);
void cc_http_set_admit(cc_http_t *self, cc_http_admit_fn *fn, void *arg);

/* Request accessors; returned strings live as long as the request. */
const char *cc_http_method(cc_http_req_t *req);
const char *cc_http_path_param(cc_http_req_t *req, const char *name);
/* Decoded ('+' is a space; "a&b" gives ""), first of duplicates, or NULL. */
const char *cc_http_query(cc_http_req_t *req, const char *name);
/* Case-insensitive name. */
const char *cc_http_header(cc_http_req_t *req, const char *name);
/* Raw body (NUL-terminated copy) and its length. */
const char *cc_http_body(cc_http_req_t *req, size_t *len);
/* Parse the body as a JSON object. On failure answers 400 (invalid_json /
 * not_an_object) itself and returns NULL: the handler just returns.
 * The returned reference is the caller's (json_decref). */
json_t *cc_http_json_body(cc_http_req_t *req);
/* Seconds since the request arrived, for latency histograms. */
double cc_http_age_s(cc_http_req_t *req);

/* Replies. Each consumes the request (*req_p = NULL). body is stolen. */
void cc_http_reply_json(cc_http_req_t **req_p, int status, json_t *body);
void cc_http_reply_text(cc_http_req_t **req_p, int status, const char *ctype, const char *text);
/* {"error": error, "field": field|null, "message": message} */
void cc_http_reply_error(cc_http_req_t **req_p, int status, const char *error,
                         const char *field, const char *message);
void cc_http_reply_err(cc_http_req_t **req_p, const cc_err_t *err);
/* As cc_http_reply_json / _error, with one more header (name: value), e.g.
 * "Cache-Control: no-store" on tokens, "Retry-After" on 429 and 503. */
void cc_http_reply_json_hdr(cc_http_req_t **req_p, int status, json_t *body, const char *name,
                            const char *value);
void cc_http_reply_error_hdr(cc_http_req_t **req_p, int status, const char *error,
                             const char *field, const char *message, const char *name,
                             const char *value);

#endif
