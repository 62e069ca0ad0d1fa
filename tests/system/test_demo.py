"""The demo of `make run` as a test: orderd seeded with the demo accounts
(tools/demo_accounts.py, --seed-accounts) as `make run` does; the demo logs
in with them, loads a county over the public APIs, places bath, meal,
cleaning, emergency, poor-card and cancelled orders, drives the caregivers
(tokens minted with orderd's issuer key) and the courier, and exits 0 only
when every order ends as expected and the ledger check passes."""

import os
import subprocess
import sys
import tempfile

import pytest

import harness


@pytest.fixture(scope="module")
def demo_system(need_daemons, pg, db):
    work = tempfile.mkdtemp(prefix="eldercare-demo-")
    accounts = os.path.join(work, "demo-accounts.json")
    subprocess.run([sys.executable, os.path.join(harness.ROOT, "tools", "demo_accounts.py"),
                    accounts], check=True)
    harness.give_to_daemon_user(work, tree=True)
    s = harness.System(pg, db, extra_args={"orderd": {"seed-accounts": accounts}})
    s.accounts = accounts
    try:
        s.start()
        yield s
    finally:
        s.cleanup()
        harness.shutil.rmtree(work, ignore_errors=True)


def test_demo_journeys(demo_system):
    s = demo_system
    env = dict(os.environ, DEMO_PACE_S="0", DEMO_TIMEOUT_S="60",
               DEMO_ISSUER_KEY=s.issuer_key_file, DEMO_ACCOUNTS=s.accounts)
    for d in harness.DAEMONS:
        env[d.upper() + "_URL"] = s.url(d)
    r = subprocess.run([sys.executable, os.path.join(harness.ROOT, "tools", "demo.py")],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, "demo failed (exit %d):\n%s" % (r.returncode, out)
    assert "logged in as admin, auditor, operator" in out, out
