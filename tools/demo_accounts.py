#!/usr/bin/env python3
"""demo_accounts.py: the demo accounts `make run` seeds into orderd.

    tools/demo_accounts.py FILE

Writes FILE (mode 0600) as a JSON list of {username, password, role, scope},
one account per role, with random passwords, unless FILE exists already (a
second `make run` keeps the accounts it made). orderd creates the ones it
does not have at start (--seed-accounts, env ORDERD_SEED_ACCOUNTS); the demo
(tools/demo.py) and the README's curl examples log in with them.
"""

import json
import os
import secrets
import sys
import uuid

ROLES = ("operator", "dispatcher", "caregiver", "provider_admin", "meal_point", "family",
         "auditor", "admin", "service")


def accounts():
    provider = str(uuid.uuid4())
    scope = {
        "dispatcher": {"district_ids": [1, 2, 3]},
        "caregiver": {"caregiver_id": str(uuid.uuid4()), "provider_id": provider},
        "provider_admin": {"provider_id": provider},
        "meal_point": {"meal_point_id": str(uuid.uuid4())},
        "family": {"elder_id": str(uuid.uuid4())},
    }
    return [{"username": "demo-" + r.replace("_", "-"), "password": secrets.token_urlsafe(18),
             "role": r, "scope": scope.get(r, {})} for r in ROLES]


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) == 2 else 2
    path = argv[1]
    if os.path.exists(path):
        return 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(accounts(), f, indent=1)
        f.write("\n")
    os.chmod(path, 0o600)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
