/* cc_seal: values sealed with a keyring (docs/SECURITY.md, "Personal data").
 *
 * One implementation of the sealing every daemon shares: orderd's
 * personal data at rest (od_pii.h builds on it) and the address orderd
 * seals in transit for dispatchd and meald (cc_seal_address below).
 *
 * libsodium's XChaCha20-Poly1305-IETF (crypto_aead_xchacha20poly1305_ietf(3)),
 * a random 24-byte nonce per value; the associated data is the header
 * followed by the caller's (which says what the value belongs to, so a
 * value moved elsewhere does not open):
 *
 *   sealed value = version (1 byte, 1) | key id (4 bytes, big-endian)
 *                | nonce (24 bytes) | ciphertext + tag (len + 16 bytes)
 *
 * The key id is the first 4 bytes of BLAKE2b("eldercare-pii-key-id" | key):
 * it names the key without revealing it. A keyring holds the active key
 * (seals and opens) and at most one old key (opens only, during a
 * rotation).
 *
 * Key files hold exactly 32 raw bytes, are regular files (no symlink)
 * owned by the process's effective user and readable by nobody else (mode
 * 0600 or 0400); anything else is refused. Keys live in sodium_malloc'd
 * memory (guarded, locked, wiped on free, read-only once loaded). */
#ifndef CC_SEAL_H
#define CC_SEAL_H
#include <stddef.h>
#include <stdint.h>

#define CC_SEAL_KEY_LEN 32
/* Header (version + key id) + nonce + tag: a sealed value is this much
 * longer than its plaintext. */
#define CC_SEAL_OVERHEAD (1 + 4 + 24 + 16)
/* The longest associated data a caller may give. */
#define CC_SEAL_AD_MAX 256

typedef struct cc_seal cc_seal_t;
struct cc_metric;   /* cc_metrics.h */

/* Read a key file (rules above) into key. 0, or -1 with a reason in why
 * (names the path, never the key); key is wiped on failure. */
int cc_seal_read_key(const char *path, uint8_t key[CC_SEAL_KEY_LEN], char *why, size_t whylen);
/* The key id of a key. */
int32_t cc_seal_key_id(const uint8_t key[CC_SEAL_KEY_LEN]);
/* The key id a sealed value names: 0, or -1 if it is too short or not v1. */
int cc_seal_blob_key(const uint8_t *blob, size_t len, int32_t *kid);

/* A keyring from raw keys (copied): active required, old may be NULL.
 * NULL on allocation failure, when libsodium cannot start, or when old
 * has the active key's id (the same key, or a 2^-32 collision). */
cc_seal_t *cc_seal_new(const uint8_t *active, const uint8_t *old);
/* The same from key files (old_path NULL or "": none). NULL with why. */
cc_seal_t *cc_seal_load(const char *active_path, const char *old_path, char *why, size_t whylen);
void cc_seal_destroy(cc_seal_t **self_p);

int32_t cc_seal_active_id(const cc_seal_t *self);
int cc_seal_has_old(const cc_seal_t *self);
/* The old key's id, 0 when none. */
int32_t cc_seal_old_id(const cc_seal_t *self);
/* 1 if the keyring can open values sealed under key id kid. */
int cc_seal_knows(const cc_seal_t *self, int32_t kid);

/* Seal plain (len bytes) under the active key with associated data ad
 * (adlen <= CC_SEAL_AD_MAX). A malloc'd value of len + CC_SEAL_OVERHEAD
 * bytes (*out_len), the caller's; NULL on allocation failure or a too
 * long ad. */
uint8_t *cc_seal(const cc_seal_t *self, const void *ad, size_t adlen, const void *plain,
                 size_t len, size_t *out_len);
/* Open a sealed value with the associated data it was sealed with: a
 * malloc'd NUL-terminated string (the caller's; wipe it before free), or
 * NULL when it does not open (unknown key id, other ad, tampered,
 * truncated) or on allocation failure. */
char *cc_seal_open(const cc_seal_t *self, const void *ad, size_t adlen, const uint8_t *blob,
                   size_t len);

/* ---- an elder's address in transit (VisitReleased, MealReleased) ----------
 * orderd seals the address with the consumer's transit key (keyring of
 * <curve-keys-dir>/<consumer>-address.key), binding it to the order and
 * the consumer ("address\0<consumer>\0<order id>"): a sealed address
 * copied to another order, or read with another daemon's key, does not
 * open. The consumer stores the bytes as they are and opens them only to
 * answer an authorised, audited read. */
uint8_t *cc_seal_address(const cc_seal_t *self, const char *consumer, const char *order_id,
                         const char *address, size_t *out_len);
/* The address into buf (NUL-terminated): 0; -1 when there is none (len
 * 0), it does not open or does not fit (buf is then ""). */
int cc_seal_address_open(const cc_seal_t *self, const char *consumer, const char *order_id,
                         const uint8_t *blob, size_t len, char *buf, size_t buflen);
/* cc_seal_address_open for a consumer daemon: a blob that does not open is
 * logged as `event` with `id_name`=id and the key id it names (never its
 * bytes) and counted in rejected. buf may be NULL (a check at receipt: the
 * clear text is wiped at once). 0, or -1. */
int cc_seal_address_read(const cc_seal_t *self, const char *consumer, const char *order_id,
                         const uint8_t *blob, size_t len, char *buf, size_t buflen,
                         const char *event, const char *id_name, const char *id,
                         struct cc_metric *rejected);

/* A daemon's transit keyring at start: key file `path`, or when empty
 * <keys_dir>/<consumer>-address.key; old_path during a rotation ("" or
 * NULL: none). Exits 2 with a startup_failed log line naming the file
 * when a key is missing or unreadable: a daemon never runs without it. */
cc_seal_t *cc_seal_load_address_keys(const char *keys_dir, const char *path,
                                     const char *old_path, const char *consumer);

#endif
