/* cc_zap: the ZAP handler (ZeroMQ Authentication Protocol, RFC 27) of one
 * ZeroMQ context, on the libevent loop.
 *
 * libzmq asks inproc://zeromq.zap.01 about every CURVE handshake on a
 * server socket of the context (ZMQ_CURVE_SERVER), naming the socket's
 * ZMQ_ZAP_DOMAIN and the client's long-term public key. We answer 200 if the
 * key is on that domain's allow-list, else 400; the domain is the socket's
 * name ("orderd-log", "orderd-intake"), so an allow-list belongs to one
 * socket. An unknown domain, another mechanism than CURVE or a malformed
 * request gets 400 too: nothing is admitted by default.
 *
 * Counted: zmq_auth_accepted_total{socket=domain} and
 * zmq_auth_rejected_total{socket=domain,reason="key"} (unlisted key; reason
 * "request" for a malformed request or another mechanism). A rejection is
 * logged (zmq_auth_rejected: socket, reason, key fingerprint, peer address),
 * at most once a second per socket, with the count of those not logged. */
#ifndef CC_ZAP_H
#define CC_ZAP_H
#include <stddef.h>
#include <event2/event.h>

#define CC_ZAP_ENDPOINT "inproc://zeromq.zap.01"

typedef struct cc_zap cc_zap_t;

/* Bind the handler in zctx (one per context: NULL if the endpoint is taken,
 * or on failure). Must exist before any CURVE server socket accepts: libzmq
 * admits every CURVE client of a context that has no handler. */
cc_zap_t *cc_zap_new(struct event_base *base, void *zctx);
void cc_zap_destroy(cc_zap_t **self_p);
/* Declare domain (its metrics exist from now on) with an empty allow-list.
 * 0, -1 on a bad name or no memory. Declaring twice is harmless. */
int cc_zap_domain(cc_zap_t *self, const char *domain);
/* Admit the client public key public_z85 (Z85) to domain, known as who
 * (sent back as the User-Id, and logged). 0, or -1 (bad key, no memory). */
int cc_zap_allow(cc_zap_t *self, const char *domain, const char *who,
                 const char *public_z85);
/* Admit, for each name in the comma-separated list names, the key in
 * <dir>/<name>.pub. An empty list admits nobody. 0, or -1 with the reason
 * (naming the file) in why. */
int cc_zap_allow_names(cc_zap_t *self, const char *domain, const char *dir,
                       const char *names, char *why, size_t whylen);
/* Keys on domain's allow-list (0 for an unknown domain). */
size_t cc_zap_allowed(const cc_zap_t *self, const char *domain);

#endif
