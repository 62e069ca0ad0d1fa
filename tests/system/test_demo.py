"""The demo of `make run` as a test: it loads a county over the public APIs,
places bath, meal, cleaning, emergency, poor-card and cancelled orders,
drives the caregivers and the courier, and exits 0 only when every order
ends as expected and the ledger check passes."""

import os
import subprocess
import sys

import harness


def test_demo_journeys(system):
    env = dict(os.environ, DEMO_PACE_S="0", DEMO_TIMEOUT_S="60", DEMO_KEYS_DIR=system.keydir)
    for d in harness.DAEMONS:
        env[d.upper() + "_URL"] = system.url(d)
    r = subprocess.run([sys.executable, os.path.join(harness.ROOT, "tools", "demo.py")],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, "demo failed (exit %d):\n%s" % (r.returncode, out)
