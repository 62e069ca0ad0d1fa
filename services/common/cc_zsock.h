/* cc_zsock: a ZeroMQ socket driven by a libevent loop.
 * ZMQ_FD is edge-triggered (zmq_getsockopt(3)): after every send or receive we
 * re-read ZMQ_EVENTS and drain up to a budget, re-arming ourselves with
 * event_active() when input remains, so no wake-up is ever missed. */
#ifndef CC_ZSOCK_H
#define CC_ZSOCK_H
#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>

typedef struct cc_zsock cc_zsock_t;

#define CC_ZSOCK_MAX_FRAMES 8

/* One received multipart message: frames[i] / lens[i], valid only during the
 * callback. Messages with more than CC_ZSOCK_MAX_FRAMES frames are dropped
 * and counted before the callback. The callback must not destroy sock (the
 * drain loop goes on using it). */
typedef void (cc_zsock_fn)(cc_zsock_t *sock, const void *const *frames, const size_t *lens,
                           int nframes, void *arg);

/* type: ZMQ_ROUTER, ZMQ_DEALER, ...; maxmsgsize caps every inbound message
 * (ZMQ_MAXMSGSIZE: a peer sending more is disconnected). name labels metrics. */
cc_zsock_t *cc_zsock_new(struct event_base *base, void *zctx, int type, int64_t maxmsgsize,
                         const char *name, cc_zsock_fn *fn, void *arg);
void cc_zsock_destroy(cc_zsock_t **self_p);
int cc_zsock_bind(cc_zsock_t *self, const char *endpoint);
int cc_zsock_connect(cc_zsock_t *self, const char *endpoint);
/* Endpoint actually bound (resolves "tcp://127.0.0.1:*"). */
const char *cc_zsock_endpoint(const cc_zsock_t *self);
/* Send n frames as one multipart message, non-blocking. -1 if it would block
 * (high-water mark) or failed; counted as dropped. */
int cc_zsock_sendv(cc_zsock_t *self, const void *const *frames, const size_t *lens, int n);
void *cc_zsock_raw(cc_zsock_t *self);
/* The name given to cc_zsock_new (metrics label, ZAP domain). */
const char *cc_zsock_name(const cc_zsock_t *self);

/* CURVE (RFC 26), before bind/connect; keys are 40-character Z85 text.
 * Server: our secret key, and the ZAP domain the context's handler
 * (cc_zap.h) checks clients against: the socket's name. Client: our own
 * pair and the server's public key, so that only the holder of its secret
 * key can complete the handshake (a fake server bound on the port cannot).
 * Both also watch the socket's handshakes (zmq_socket_monitor): each one
 * that fails on our side (no CURVE, wrong server key, garbage) is counted in
 * zmq_auth_rejected_total{socket=name,reason="handshake"} and logged at
 * most once a second. 0, or -1 (logged). */
int cc_zsock_curve_server(cc_zsock_t *self, const char *secret_key);
int cc_zsock_curve_client(cc_zsock_t *self, const char *public_key, const char *secret_key,
                          const char *server_key);
/* The ZAP User-Id of the peer that sent the message being handled (the
 * party name cc_zap answered for its CURVE key), valid during the callback
 * only; NULL outside it, on a plaintext socket or when the handler named
 * nobody. It identifies the peer: the handshake proved its key. */
const char *cc_zsock_user_id(const cc_zsock_t *self);
/* Handshakes that failed on this socket so far (tests). */
double cc_zsock_handshake_failures(const cc_zsock_t *self);

#endif
