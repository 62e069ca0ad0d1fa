#!/usr/bin/env python3
"""tokens.py: makes orderd's token issuer key; mints test/demo tokens with it
(docs/SECURITY.md, "Tokens").

    tools/tokens.py keygen DIR [--jwks FILE]   # DIR/issuer.key (0600), FILE
    tools/tokens.py mint KEY ROLE [SCOPE_JSON] [--ttl S] [--sub NAME]

The daemons verify bearer JWTs signed with EdDSA (Ed25519) by a key in
their --jwks-file. One issuer signs them all: orderd (POST /v1/auth/login),
with the key this tool makes before any daemon starts (`make run`, the
system tests, the benchmarks), so no daemon waits for a file orderd has not
written yet and orderd only loads it:

- DIR/issuer.key: the secret key as an OKP private JWK
  {"kty","crv","kid","x","d"} (mode 0600 in a 0700 DIR, never
  overwritten), the format of cc_jwt_key_generate/cc_jwt_key_load, what
  orderd's --issuer-key names (default var/issuer/issuer.key). Keep DIR
  apart from the CURVE keys (var/keys): only orderd is to read it;
- FILE (default DIR/jwks.json; `make run`: var/keys/jwks.json): its public
  half {"keys":[{..., "use":"sig","alg":"EdDSA"}]}, what the daemons read
  (--jwks-file), rewritten from the key on every keygen.

mint: a token signed with the same key (KEY: the key file or its DIR), for
the tests, the demo's scoped callers and the benchmarks: iss and aud are
the daemons' defaults (ISSUER, AUDIENCE). SCOPE_JSON: the claims the role
needs, e.g. '{"district_ids":[1,2]}' for a dispatcher,
'{"caregiver_id":"<uuid>"}' for a caregiver. The token is printed on
stdout. Library use: ensure_issuer(dir, jwks), mint(key, role, scope).
Minted tokens name no account (sub is not a UUID, gen 0): orderd's
account routes refuse them, and no disable can revoke them before exp.
"""

import base64
import json
import os
import sys
import time
import uuid

import nacl.signing

ISSUER = "urn:eldercare:orderd"   # the daemons' default --token-issuer (orderd's iss)
AUDIENCE = "eldercare"             # and --token-audience
KEY_FILE = "issuer.key"
JWKS_FILE = "jwks.json"
ROLES = ("operator", "dispatcher", "caregiver", "provider_admin", "meal_point", "family",
         "auditor", "admin", "service")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _write(path, text, mode):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def ensure_issuer(keydir, jwks=None, kid=None):
    """Make keydir/issuer.key unless it exists; (re)write its public JWKS to
    jwks (default keydir/jwks.json). Returns the path of the secret key."""
    os.makedirs(keydir, mode=0o700, exist_ok=True)
    path = os.path.join(keydir, KEY_FILE)
    if not os.path.exists(path):
        sk = nacl.signing.SigningKey.generate()
        jwk = {"kty": "OKP", "crv": "Ed25519", "kid": kid or "orderd-" + uuid.uuid4().hex[:8],
               "x": b64url(bytes(sk.verify_key)), "d": b64url(bytes(sk))}
        _write(path, json.dumps(jwk) + "\n", 0o600)
    jwk = load_key(path)
    pub = {k: jwk[k] for k in ("kty", "crv", "kid", "x")}
    pub.update(use="sig", alg="EdDSA")
    jwks = jwks or os.path.join(keydir, JWKS_FILE)
    os.makedirs(os.path.dirname(os.path.abspath(jwks)), mode=0o700, exist_ok=True)
    _write(jwks, json.dumps({"keys": [pub]}) + "\n", 0o644)
    return path


def load_key(path_or_dir):
    """The issuer's private JWK (a dict) from a file or a key directory."""
    path = path_or_dir
    if os.path.isdir(path):
        path = os.path.join(path, KEY_FILE)
    with open(path) as f:
        return json.load(f)


def sign(jwk, claims, header=None):
    """A compact JWS of claims with the key (header overrides for tests)."""
    h = {"alg": "EdDSA", "typ": "JWT", "kid": jwk["kid"]}
    h.update(header or {})
    sk = nacl.signing.SigningKey(unb64url(jwk["d"]))
    head = b64url(json.dumps(h, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = sk.sign(("%s.%s" % (head, body)).encode()).signature
    return "%s.%s.%s" % (head, body, b64url(sig))


def claims_for(role, scope=None, ttl=900, sub=None, iss=ISSUER, aud=AUDIENCE, now=None):
    """The claims of an access token for role with its scope claims."""
    if role not in ROLES:
        raise ValueError("unknown role %r" % role)
    now = int(time.time() if now is None else now)
    c = {"iss": iss, "aud": aud, "sub": sub or "%s-%s" % (role, uuid.uuid4().hex[:8]),
         "role": role, "iat": now, "exp": now + int(ttl), "jti": str(uuid.uuid4())}
    c.update(scope or {})
    return c


def mint(key, role, scope=None, ttl=900, **kw):
    """A token for role (scope: its claims) signed by key (a JWK dict, a key
    file or a key directory)."""
    jwk = key if isinstance(key, dict) else load_key(key)
    return sign(jwk, claims_for(role, scope, ttl, **kw))


def _main(argv):
    if len(argv) >= 2 and argv[0] == "keygen":
        args, jwks = list(argv[1:]), None
        if "--jwks" in args:
            i = args.index("--jwks")
            jwks = args[i + 1]
            del args[i:i + 2]
        if len(args) != 1:
            print(__doc__, file=sys.stderr)
            return 2
        print(ensure_issuer(args[0], jwks))
        return 0
    if len(argv) >= 3 and argv[0] == "mint":
        args, ttl, sub = list(argv[1:]), 900, None
        if "--ttl" in args:
            i = args.index("--ttl")
            ttl = int(args[i + 1])
            del args[i:i + 2]
        if "--sub" in args:
            i = args.index("--sub")
            sub = args[i + 1]
            del args[i:i + 2]
        scope = json.loads(args[2]) if len(args) > 2 else None
        print(mint(args[0], args[1], scope, ttl, sub=sub))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
