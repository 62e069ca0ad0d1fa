"""tools/supervise.py, what `make run` relies on: it starts the four daemons
(as the daemon user when we are root)
with the right flags, restarts one killed with SIGKILL after about a second
(Restart=on-failure) and logs it, and stops them all on SIGTERM."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import harness

PORTS = {}


def _env(pg, db, var):
    env = dict(os.environ, PGPORT=str(pg.port), PGHOST="127.0.0.1", EC_DB=db, EC_VAR=var,
               EC_BIN_DIR=harness.BIN_DIR, EC_LOG_LEVEL="info",
               EC_SECRETS=pg.secrets)  # the daemons' passfiles pgpass-<daemon>_rt
    for d in harness.DAEMONS:
        PORTS[d] = harness.free_port()
        env[d.upper() + "_HTTP_PORT"] = str(PORTS[d])
        env[d.upper() + "_LOG_ENDPOINT"] = "tcp://127.0.0.1:%d" % harness.free_port()
    env["ORDERD_INTAKE_ENDPOINT"] = "tcp://127.0.0.1:%d" % harness.free_port()
    return env


def _ready(d):
    import http.client
    try:
        c = http.client.HTTPConnection("127.0.0.1", PORTS[d], timeout=2)
        c.request("GET", "/readyz")
        ok = c.getresponse().status == 200
        c.close()
        return ok
    except OSError:
        return False


def _events(var):
    try:
        with open(os.path.join(var, "log", "supervise.log")) as f:
            return [json.loads(line) for line in f if line.startswith("{")]
    except OSError:
        return []


def _pid(var, d):
    try:
        with open(os.path.join(var, "run", d + ".pid")) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def _uids(pid):
    """Real, effective, saved and filesystem uid of a process."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    return None


def test_restarts_a_killed_daemon_and_stops_all(need_daemons, pg, fresh_db, tmp_path):
    var = str(tmp_path / "var")
    # What run.sh does before supervise.py: key pairs, handed (as root) to
    # the daemon user, in a directory that user can reach (pytest's own
    # temporary tree is root's alone).
    keys = tempfile.mkdtemp(prefix="ec-keys-")
    harness.make_keys(keys)
    # orderd's issuer key and its JWKS in keys (supervise.py's --jwks-file).
    issuer = tempfile.mkdtemp(prefix="ec-issuer-")
    issuer_key = harness._tokens().ensure_issuer(issuer, os.path.join(keys, "jwks.json"))
    harness.give_to_daemon_user(keys, tree=True)
    harness.give_to_daemon_user(issuer, tree=True)
    env = _env(pg, fresh_db, var)
    env["EC_KEYS_DIR"] = keys
    env["EC_ISSUER_KEY"] = issuer_key
    sup = subprocess.Popen([sys.executable, os.path.join(harness.ROOT, "tools", "supervise.py")],
                           env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for d in harness.DAEMONS:
            harness.wait_until(lambda: _ready(d), 60, what="%s /readyz" % d)
        # Never as root: as root we are, each daemon runs as the daemon user.
        want = harness.daemon_user().pw_uid if harness.is_root() else os.getuid()
        for d in harness.DAEMONS:
            assert _uids(_pid(var, d)) == [want] * 4, (d, _uids(_pid(var, d)), want)
        first = _pid(var, "dispatchd")
        assert first
        os.kill(first, signal.SIGKILL)
        t0 = time.monotonic()
        harness.wait_until(lambda: _pid(var, "dispatchd") not in (None, first), 30,
                           what="dispatchd restarted")
        assert time.monotonic() - t0 >= 0.9, "restarted before the 1 s delay"
        harness.wait_until(lambda: _ready("dispatchd"), 60, what="dispatchd ready again")
        ev = [(e["event"], e.get("child")) for e in _events(var)]
        assert ("died", "dispatchd") in ev and ("restarting", "dispatchd") in ev, ev
        # Its log holds both lives, as JSON lines.
        with open(os.path.join(var, "log", "dispatchd.log")) as f:
            lines = [line for line in f if line.startswith("{")]
        assert sum('"process_up"' in line for line in lines) >= 2, lines[-5:]
        pids = [_pid(var, d) for d in harness.DAEMONS]
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(30) == 0
        for pid in pids:
            assert not os.path.exists("/proc/%d" % pid) or \
                open("/proc/%d/stat" % pid).read().split()[2] == "Z", pid
        assert [d for d in harness.DAEMONS if _pid(var, d)] == []
        assert ("stopped_all", None) in [(e["event"], e.get("child")) for e in _events(var)]
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()
        shutil.rmtree(keys, ignore_errors=True)
        shutil.rmtree(issuer, ignore_errors=True)
