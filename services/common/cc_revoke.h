/* cc_revoke: which accounts' tokens are revoked, for every daemon.
 *
 * An account's token generation ("gen", cc_jwt.h) is raised when the
 * account is disabled, its password or role changes, or it logs out
 * everywhere. orderd, the accounts' home, signs the current gen into each
 * access token and appends AccountChanged{account_id, gen, disabled} to
 * its log. A token is refused when its account is disabled or its gen is
 * below the account's. Accounts never changed have no entry (gen 0).
 *
 * Two parts:
 * - cc_revoke_t, the table itself (pure, tested without I/O). Gens only
 *   rise, so entries may arrive in any order and from any source (an
 *   event, a reload, orderd's own write) and merge the same way.
 * - the process' default table, kept in step with the store:
 *   cc_revoke_sync_start() loads it at start and reloads it every
 *   refresh_s seconds from the daemon's load statement (other daemons:
 *   their account_gens table, filled by consuming AccountChanged from
 *   orderd's log with CC_REVOKE_CONSUMER_ENTRY; orderd: its accounts), and
 *   the consumer sets an entry as soon as it sees the event, before its
 *   commit. A token is thus refused in every daemon as soon as the event
 *   reaches it (milliseconds), and at worst after refresh_s seconds.
 *
 * Where it plugs in: the route guard (cc_http.c), after cc_jwt_verify,
 * answers 503 starting until cc_revoke_loaded, then calls
 * cc_revoke_ok(&claims) and answers 401 unauthorized (field
 * Authorization, the message naming the revocation) when it returns 0. */
#ifndef CC_REVOKE_H
#define CC_REVOKE_H
#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include "cc_consumer.h"
#include "cc_db.h"
#include "cc_jwt.h"
#include "cc_stmt.h"
#include "events.pb-c.h"

typedef struct cc_revoke cc_revoke_t;

typedef enum {
    CC_REVOKE_OK = 0,          /* the token's account and gen are current */
    CC_REVOKE_REVOKED,         /* account disabled, or the token's gen is older */
    CC_REVOKE_NOT_LOADED,      /* the table is not loaded yet: cannot tell */
} cc_revoke_verdict_t;

cc_revoke_t *cc_revoke_new(void);
void cc_revoke_destroy(cc_revoke_t **self_p);
/* Merge what is known of an account (1..64 bytes): a higher gen replaces
 * the entry; the same gen keeps it disabled if either says so; a lower gen
 * is ignored. 0, or -1 (bad account, gen < 0, no memory). */
int cc_revoke_set(cc_revoke_t *self, const char *account, int64_t gen, int disabled);
/* The table holds the store's state (the first load is done). */
void cc_revoke_set_loaded(cc_revoke_t *self);
int cc_revoke_loaded(const cc_revoke_t *self);
/* The verdict for a token of account sub with generation gen. */
cc_revoke_verdict_t cc_revoke_check(const cc_revoke_t *self, const char *sub, int64_t gen);
/* The account's known gen (0 if none) and disabled flag (may be NULL). */
int64_t cc_revoke_gen(const cc_revoke_t *self, const char *account, int *disabled);
size_t cc_revoke_size(const cc_revoke_t *self);
size_t cc_revoke_disabled(const cc_revoke_t *self);

/* ---- the process' default table ------------------------------------------ */
/* The table cc_revoke_ok reads (created on first use; NULL only when out
 * of memory). */
cc_revoke_t *cc_revoke_default(void);
/* 1 if a verified token with these claims may be used: the default table
 * is loaded, and the account is not disabled and c->gen is current; else
 * 0 (counted in auth_tokens_revoked_total). */
int cc_revoke_ok(const cc_jwt_claims_t *c);

/* Load the default table now and every refresh_s seconds (1..3600) with
 * load, a reader statement without parameters returning rows (account
 * text, gen bigint, disabled boolean). apply (NULL for orderd) is the
 * writer statement the consumer entry queues: cc_account_changed(producer,
 * seq, event_id, account, gen, disabled) (sql/common/009_account_gens.sql).
 * Metrics: revoke_accounts, revoke_disabled_accounts,
 * revoke_reloads_total{outcome}, auth_tokens_revoked_total. 0/-1. */
int cc_revoke_sync_start(struct event_base *base, cc_db_t *reader, const cc_stmt_t *load,
                         const cc_stmt_t *apply, int refresh_s);
/* Stop reloading (at shutdown); the table stays. */
void cc_revoke_sync_stop(void);

/* The consumer table entry for orderd's log (cc_consumer.h): sets the
 * entry at once and queues apply with the event. */
int cc_revoke_on_account_changed(cc_consumer_t *c, const Cc__Envelope *env,
                                 const ProtobufCMessage *msg, void *arg);
#define CC_REVOKE_CONSUMER_ENTRY \
    { "AccountChanged", &cc__account_changed__descriptor, cc_revoke_on_account_changed }

/* Statement table entries for a daemon that consumes orderd's log: the
 * apply call and the load of account_gens. */
#define CC_REVOKE_STMT_APPLY                                                              \
    { "cc_account_changed", CC_STMT_WRITER, "cc_account_changed", NULL, NULL,            \
      { { "producer", CC_T_TEXT }, { "seq", CC_T_INT8 }, { "event_id", CC_T_UUID },       \
        { "account", CC_T_UUID }, { "gen", CC_T_INT8 }, { "disabled", CC_T_BOOL } }, NULL }
#define CC_REVOKE_STMT_LOAD                                                               \
    { "cc_account_gens", CC_STMT_READER, NULL, NULL,                                      \
      "SELECT account_id::text, gen, disabled FROM account_gens",                         \
      { { NULL, CC_T_NONE } }, NULL }

#endif
