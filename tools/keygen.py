#!/usr/bin/env python3
"""keygen.py: CURVE key pairs for the ZeroMQ sockets (docs/SECURITY.md, "ZeroMQ").

    tools/keygen.py DIR NAME...
    tools/keygen.py --secret DIR NAME...

For each NAME (a daemon, "telephony", ...) writes DIR/NAME.key (the secret
key, mode 0600) and DIR/NAME.pub (the public key), Z85 text as
zmq_curve_keypair(3) makes them. DIR is created with mode 0700. A pair that
exists already is kept (make run twice keeps its keys); a secret key file
that group or others may read is refused, never silently fixed.

With --secret: DIR/NAME.key of 32 random raw bytes (mode 0600) for each
NAME, kept if it exists: orderd's personal-data keys pii and pii-index,
and the address transit keys dispatchd-address and meald-address
(docs/SECURITY.md, "Personal data").
"""

import os
import re
import stat
import sys

import zmq

NAME_RE = re.compile(r"^[a-z0-9_-]{1,32}$")


def _read(path):
    with open(path) as f:
        return f.read().strip()


def ensure_pair(keydir, name):
    """Make DIR/NAME.key and .pub unless both exist; return the public key."""
    if not NAME_RE.match(name):
        raise ValueError("bad key name %r (want [a-z0-9_-]{1,32})" % name)
    key = os.path.join(keydir, name + ".key")
    pub = os.path.join(keydir, name + ".pub")
    if os.path.exists(key):
        st = os.lstat(key)
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077:
            raise ValueError("%s: group or others have access (chmod 0600), or not a file" % key)
        secret = _read(key).encode()
        public = zmq.curve_public(secret).decode()
        if not os.path.exists(pub) or _read(pub) != public:
            _write(pub, public, 0o644)
        return public
    public, secret = zmq.curve_keypair()
    _write(key, secret.decode(), 0o600)
    _write(pub, public.decode(), 0o644)
    return public.decode()


def _write(path, text, mode):
    tmp = path + ".tmp"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.chmod(tmp, mode)   # whatever the umask
    os.replace(tmp, path)


# orderd's personal-data keys (docs/SECURITY.md, "Personal data"): 32 raw
# random bytes each, mode 0600; the data key and the blind-index key.
PII_KEYS = ("pii", "pii-index")
# The transit keys of the elder's address (cc_seal.h): orderd seals with
# them, the consumer named opens; same format.
TRANSIT_KEYS = ("dispatchd-address", "meald-address")
SECRET_KEYS = PII_KEYS + TRANSIT_KEYS
SECRET_LEN = 32


def ensure_secret(keydir, name, nbytes=SECRET_LEN):
    """DIR/NAME.key of nbytes random bytes (0600) unless it exists; an
    existing one that group or others may read, or of another size, is
    refused, never silently fixed or replaced (data sealed with it would be
    lost)."""
    if not NAME_RE.match(name):
        raise ValueError("bad key name %r (want [a-z0-9_-]{1,32})" % name)
    path = os.path.join(keydir, name + ".key")
    if os.path.exists(path):
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077:
            raise ValueError("%s: group or others have access (chmod 0600), or not a file" % path)
        if st.st_size != nbytes:
            raise ValueError("%s: %d bytes, want %d" % (path, st.st_size, nbytes))
        return path
    tmp = path + ".tmp"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(nbytes))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def ensure_keys(keydir, names):
    """The key directory (0700) with a pair for each name; {name: public}."""
    os.makedirs(keydir, mode=0o700, exist_ok=True)
    os.chmod(keydir, 0o700)
    return {n: ensure_pair(keydir, n) for n in names}


def main(argv):
    if len(argv) < 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) > 1 else 2
    try:
        if argv[1] == "--secret":
            # tools/keygen.py --secret DIR NAME...: raw 32-byte keys (SECRET_KEYS)
            os.makedirs(argv[2], mode=0o700, exist_ok=True)
            for n in argv[3:]:
                ensure_secret(argv[2], n)
            return 0
        ensure_keys(argv[1], argv[2:])
    except (ValueError, OSError) as e:
        print("keygen.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
