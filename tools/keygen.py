#!/usr/bin/env python3
"""keygen.py: CURVE key pairs for the ZeroMQ sockets (docs/SECURITY.md, "ZeroMQ").

    tools/keygen.py DIR NAME...

For each NAME (a daemon, "telephony", ...) writes DIR/NAME.key (the secret
key, mode 0600) and DIR/NAME.pub (the public key), Z85 text as
zmq_curve_keypair(3) makes them. DIR is created with mode 0700. A pair that
exists already is kept (make run twice keeps its keys); a secret key file
that group or others may read is refused, never silently fixed.
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
        ensure_keys(argv[1], argv[2:])
    except (ValueError, OSError) as e:
        print("keygen.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
