/* od_pii: personal data at rest (docs/SECURITY.md, "Personal data").
 *
 * An elder's name, ID number, phone and address are stored sealed with
 * libsodium's XChaCha20-Poly1305-IETF (crypto_aead_xchacha20poly1305_ietf(3)):
 * a random 24-byte nonce per value, and as associated data the header, the
 * elder's id and the column's name, so a value moved to another row or
 * column does not open.
 *
 *   sealed value = version (1 byte, 1) | key id (4 bytes, big-endian)
 *                | nonce (24 bytes) | ciphertext + tag (len + 16 bytes)
 *
 * The key id is the first 4 bytes of BLAKE2b("eldercare-pii-key-id" | key):
 * it names the key without revealing it, so rotation can tell which key a
 * value needs. A keyring holds the active key (seals and opens) and at most
 * one old key (opens only, during a rotation).
 *
 * Lookups never decrypt: the phone search and the one-record-per-ID-number
 * rule use a blind index, BLAKE2b keyed with a separate index key (which a
 * data-key rotation leaves alone) of "<column>\0<normalised value>", 16 bytes.
 *
 * Key files hold exactly 32 raw bytes, are regular files owned by the
 * process's effective user and readable by nobody else (mode 0600 or
 * 0400); anything else is refused. Keys live in sodium_malloc'd memory
 * (guarded, locked, wiped on free). */
#ifndef OD_PII_H
#define OD_PII_H
#include <stddef.h>
#include <stdint.h>

#define OD_PII_KEY_LEN 32
#define OD_PII_IDX_LEN 16
/* Header (version + key id) + nonce + tag: a sealed value is this much
 * longer than its plaintext. */
#define OD_PII_OVERHEAD (1 + 4 + 24 + 16)

typedef struct od_pii od_pii_t;

/* Read a key file (rules above) into key. 0, or -1 with a reason in why
 * (names the path, never the key). */
int od_pii_read_key(const char *path, uint8_t key[OD_PII_KEY_LEN], char *why, size_t whylen);

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
/* The key id a sealed value names, or -1 if it is too short or not v1
 * (written to *kid). */
int od_pii_blob_key(const uint8_t *blob, size_t len, int32_t *kid);

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
