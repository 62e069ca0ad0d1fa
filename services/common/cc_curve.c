/* cc_curve: key files. See cc_curve.h. */
#include "cc_curve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

/* A key file is 40 characters and a newline; anything longer is not one. */
#define S_FILE_MAX 128

int cc_curve_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > CC_CURVE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int cc_curve_key_valid(const char *s)
{
    if (!s || strlen(s) != CC_CURVE_Z85_LEN)
        return 0;
    uint8_t raw[CC_CURVE_RAW_LEN];
    int ok = zmq_z85_decode(raw, s) != NULL;
    memset(raw, 0, sizeof raw);
    return ok;
}

static void s_why(char *why, size_t whylen, const char *fmt, const char *a)
{
    if (why && whylen)
        snprintf(why, whylen, fmt, a);
}

/* Read the key in fd into out: 40 Z85 characters, then only whitespace. */
static int s_read_key(int fd, char out[CC_CURVE_Z85_LEN + 1], char *why, size_t whylen)
{
    char buf[S_FILE_MAX + 1];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            s_why(why, whylen, "cannot read: %s", strerror(errno));
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t) r;
    }
    buf[n] = '\0';
    size_t k = n;
    while (k > 0 && (buf[k - 1] == '\n' || buf[k - 1] == '\r' || buf[k - 1] == ' '
                     || buf[k - 1] == '\t'))
        k--;
    buf[k] = '\0';
    int ok = n < S_FILE_MAX && cc_curve_key_valid(buf);
    if (ok)
        memcpy(out, buf, CC_CURVE_Z85_LEN + 1);
    memset(buf, 0, sizeof buf);
    if (!ok) {
        s_why(why, whylen, "%s", "not a 40-character Z85 key");
        return -1;
    }
    return 0;
}

int cc_curve_read_public(const char *path, char out[CC_CURVE_Z85_LEN + 1], char *why,
                         size_t whylen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        s_why(why, whylen, "cannot open: %s", strerror(errno));
        return -1;
    }
    int rc = s_read_key(fd, out, why, whylen);
    close(fd);
    return rc;
}

int cc_curve_read_secret(const char *path, cc_curve_pair_t *pair, char *why, size_t whylen)
{
    memset(pair, 0, sizeof *pair);
    /* O_NOFOLLOW: the checks below are of the file itself, not of a link
     * someone else may own or point elsewhere. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        s_why(why, whylen, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) != 0)
        s_why(why, whylen, "cannot stat: %s", strerror(errno));
    else if (!S_ISREG(st.st_mode))
        s_why(why, whylen, "%s", "not a regular file");
    else if (st.st_uid != geteuid())
        s_why(why, whylen, "%s", "not owned by the user running this process");
    else if (st.st_mode & (S_IRWXG | S_IRWXO))
        s_why(why, whylen, "%s", "group or others have access (chmod 0600)");
    else if (s_read_key(fd, pair->secret_key, why, whylen) == 0) {
        if (zmq_curve_public(pair->public_key, pair->secret_key) == 0)
            rc = 0;
        else
            s_why(why, whylen, "%s", "cannot derive the public key");
    }
    close(fd);
    if (rc != 0)
        cc_curve_wipe(pair);
    return rc;
}

int cc_curve_path(char *out, size_t outlen, const char *dir, const char *name, const char *ext)
{
    if (!cc_curve_name_valid(name) || !dir || !*dir)
        return -1;
    int n = snprintf(out, outlen, "%s/%s.%s", dir, name, ext);
    return n < 0 || (size_t) n >= outlen ? -1 : 0;
}

void cc_curve_fingerprint(const uint8_t key[CC_CURVE_RAW_LEN], char out[9])
{
    snprintf(out, 9, "%02x%02x%02x%02x", key[0], key[1], key[2], key[3]);
}

void cc_curve_wipe(cc_curve_pair_t *pair)
{
    /* volatile: the compiler may not drop a store to memory about to die. */
    volatile char *p = (volatile char *) pair;
    for (size_t i = 0; i < sizeof *pair; i++)
        p[i] = 0;
}
