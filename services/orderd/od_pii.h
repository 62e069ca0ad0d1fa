/* od_pii: personal data at rest (docs/SECURITY.md, "Personal data").
 *
 * An elder's name, ID number, phone and address are stored sealed with a
 * cc_seal keyring (cc_seal.h: format, key ids, key file rules), with as
 * associated data the elder's id and the column's name, so a value moved
 * to another row or column does not open. The keyring holds the active
 * data key and at most one old key during a rotation (od_reseal.h moves
 * the stored rows to the active key).
 *
 * Lookups never decrypt: the phone search and the one-record-per-ID-number
 * rule use a blind index, BLAKE2b keyed with a separate index key (which a
 * data-key rotation leaves alone) of "<column>\0<normalised value>", 16 bytes. */
#ifndef OD_PII_H
#define OD_PII_H
#include <stddef.h>
#include <stdint.h>
#include "cc_seal.h"

#define OD_PII_KEY_LEN CC_SEAL_KEY_LEN
#define OD_PII_IDX_LEN 16
/* A sealed value is this much longer than its plaintext. */
#define OD_PII_OVERHEAD CC_SEAL_OVERHEAD

typedef struct od_pii od_pii_t;


/* A keyring from raw keys: active and index required, old may be NULL.
 * Copies them. NULL on allocation failure or when libsodium cannot start. */
od_pii_t *od_pii_new(const uint8_t *active, const uint8_t *old, const uint8_t *index);
/* The same from key files (old_path NULL or "": none). NULL with why. The
 * index key must differ from the data keys, and old from active. */
od_pii_t *od_pii_load(const char *active_path, const char *old_path, const char *index_path,
                      char *why, size_t whylen);
void od_pii_destroy(od_pii_t **self_p);

/* The active key's id, and the old key's (0 and has_old 0 when none). */
int32_t od_pii_active_id(const od_pii_t *self);
int od_pii_has_old(const od_pii_t *self);
int32_t od_pii_old_id(const od_pii_t *self);
/* 1 if the keyring can open values sealed under key id kid. */
int od_pii_knows(const od_pii_t *self, int32_t kid);
/* The key id a sealed value names (cc_seal_blob_key). */
#define od_pii_blob_key cc_seal_blob_key

/* Seal plain (len bytes) for elder_id's column under the active key.
 * Returns a malloc'd value of len + OD_PII_OVERHEAD bytes (*out_len), the
 * caller's; NULL on allocation failure. */
uint8_t *od_pii_seal(const od_pii_t *self, const char *elder_id, const char *column,
                     const char *plain, size_t len, size_t *out_len);
/* Open a sealed value of elder_id's column: a malloc'd NUL-terminated
 * string (the caller's), or NULL when it does not open (unknown key id,
 * other row or column, tampered, truncated) or on allocation failure. */
char *od_pii_open(const od_pii_t *self, const char *elder_id, const char *column,
                  const uint8_t *blob, size_t len);

/* Blind index of column's value, normalised first (od_pii_norm). */
void od_pii_index(const od_pii_t *self, const char *column, const char *value,
                  uint8_t out[OD_PII_IDX_LEN]);
/* The normal form a column's values are compared in, into out (>= strlen
 * + 1 bytes): "id_number": upper case, no blanks; "phone": digits and a
 * leading '+' only (the separators od_phone_valid allows dropped); other
 * columns: as is. Returns out. */
char *od_pii_norm(const char *column, const char *value, char *out, size_t outlen);

#endif
