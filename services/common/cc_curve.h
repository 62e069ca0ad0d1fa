/* cc_curve: CURVE key files (ZMTP CURVE, RFC 26; keys as zmq_curve_keypair(3)
 * makes them: 40 characters of Z85, RFC 32).
 *
 * A key directory holds, per party (a daemon, "telephony", ...):
 *   <name>.key  its secret key: a regular file owned by the user reading it,
 *               mode 0600 or stricter (any group/other bit is refused)
 *   <name>.pub  its public key (may be world-readable)
 * A file holds the key alone, optionally followed by a newline. tools/keygen.py
 * writes them. Secret keys never reach a log: cc_curve_fingerprint gives the
 * short form used in log lines (of public keys only). */
#ifndef CC_CURVE_H
#define CC_CURVE_H
#include <stddef.h>
#include <stdint.h>

#define CC_CURVE_Z85_LEN 40     /* Z85 text of a 32-byte key */
#define CC_CURVE_RAW_LEN 32
#define CC_CURVE_NAME_MAX 32    /* a party's name: [a-z0-9_-]{1,32} */

typedef struct {
    char public_key[CC_CURVE_Z85_LEN + 1];
    char secret_key[CC_CURVE_Z85_LEN + 1];
} cc_curve_pair_t;

/* 1 if name is a valid party name ([a-z0-9_-], 1..CC_CURVE_NAME_MAX). */
int cc_curve_name_valid(const char *name);
/* 1 if s is exactly 40 Z85 characters that decode. */
int cc_curve_key_valid(const char *s);

/* Read a public key file into out (NUL-terminated). 0, or -1 with the
 * reason in why (never key material). */
int cc_curve_read_public(const char *path, char out[CC_CURVE_Z85_LEN + 1], char *why,
                         size_t whylen);
/* Read a secret key file into pair->secret_key and derive pair->public_key
 * (zmq_curve_public). Refused unless the file is a regular file, not a
 * symlink, owned by the effective user, with no group or other permission
 * bits. 0, or -1 with the reason in why. */
int cc_curve_read_secret(const char *path, cc_curve_pair_t *pair, char *why, size_t whylen);
/* "<dir>/<name>.pub" and "<dir>/<name>.key" paths: 0, -1 if name is invalid
 * or the path does not fit. */
int cc_curve_path(char *out, size_t outlen, const char *dir, const char *name, const char *ext);
/* Short fingerprint for logs: the first 4 bytes of the raw key in hex. */
void cc_curve_fingerprint(const uint8_t key[CC_CURVE_RAW_LEN], char out[9]);
/* Overwrite the pair (secret key material) with zeros. */
void cc_curve_wipe(cc_curve_pair_t *pair);

#endif
