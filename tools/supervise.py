#!/usr/bin/python3
"""supervise.py: run the four daemons as systemd would, for `make run`.

- starts build/bin/{orderd,billingd,dispatchd,meald} with the flags of
  docs/ARCHITECTURE.md (only those each binary lists in --help), each in its
  own session so a terminal's Ctrl-C reaches only us;
- appends each daemon's stderr/stdout (JSON lines) to var/log/<daemon>.log;
- writes var/run/<daemon>.pid and var/run/supervise.pid;
- restarts a daemon that fails (non-zero exit or killed by a signal) after
  1 s, like Restart=on-failure RestartSec=1; a clean exit 0 is left alone;
  more than 5 restarts of one daemon in 30 s backs off to 30 s;
- on SIGTERM/SIGINT: SIGTERM to every daemon, wait up to 10 s, then SIGKILL;
- never runs a daemon as root (they refuse uid 0, exit 2): run as root (make
  run as root, the benchmarks), it starts each as the system user
  $EC_DAEMON_USER (default eldercare, created if missing, like User= in the
  units) with that user's groups only. The logs are opened here and handed
  over; the pidfiles var/run/<daemon>.pid are written here, not by the
  daemons, so var/run stays root's (a daemon cannot plant a pid there that
  `make stop` would then kill as root). If that user cannot reach
  build/bin (a checkout under /root), the binaries are copied to
  /var/tmp/eldercare-<hash>/bin first.

Its own log (JSON lines) goes to stderr and var/log/supervise.log.

Environment (defaults in brackets):
  PGPORT [55432]  PGHOST [127.0.0.1]  EC_DB [eldercare]
  EC_SECRETS [var/secrets] (the daemons' passfiles pgpass-<daemon>_rt)
  <DAEMON>_HTTP_PORT [8081..8084]  <DAEMON>_LOG_ENDPOINT [tcp://127.0.0.1:908x]
  ORDERD_INTAKE_ENDPOINT [tcp://127.0.0.1:9091]  EC_LOG_LEVEL [info]
  EC_BIN_DIR [build/bin]  EC_VAR [var] (log/ and run/ go there)
  EC_DAEMON_USER [eldercare]  who the daemons run as when we are root
  EC_SUPERVISE_PARENT  a pid: stop everything when that process is gone
  <DAEMON>_ARGS  more flags for that daemon, split as a shell would
"""

import ctypes
import hashlib
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VAR = os.environ.get("EC_VAR") or os.path.join(ROOT, "var")
LOGDIR = os.path.join(VAR, "log")
RUNDIR = os.path.join(VAR, "run")
SECRETS = os.environ.get("EC_SECRETS") or os.path.join(VAR, "secrets")
BIN_DIR = os.environ.get("EC_BIN_DIR", os.path.join(ROOT, "build", "bin"))
DAEMON_USER = os.environ.get("EC_DAEMON_USER") or "eldercare"
DAEMONS = ("orderd", "billingd", "dispatchd", "meald")
HTTP_PORTS = {"orderd": 8081, "dispatchd": 8082, "meald": 8083, "billingd": 8084}
LOG_PORTS = {"orderd": 9081, "dispatchd": 9082, "meald": 9083, "billingd": 9084}
CONSUMES = {
    "orderd": ("billingd", "dispatchd", "meald"),
    "billingd": ("orderd", "dispatchd", "meald"),
    "dispatchd": ("orderd",),
    "meald": ("orderd",),
}
RESTART_SEC = 1.0
STOP_TIMEOUT = 10.0
BURST, BURST_WINDOW, BURST_BACKOFF = 5, 30.0, 30.0

_logf = None


def log(level, event, **kw):
    rec = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) +
           ".%03dZ" % (int(time.time() * 1000) % 1000),
           "level": level, "daemon": "supervise", "event": event}
    rec.update(kw)
    line = json.dumps(rec, ensure_ascii=False)
    print(line, file=sys.stderr, flush=True)
    if _logf:
        _logf.write(line + "\n")
        _logf.flush()


def env(name, default):
    v = os.environ.get(name)
    return v if v else default


def log_endpoint(name):
    return env(name.upper() + "_LOG_ENDPOINT", "tcp://127.0.0.1:%d" % LOG_PORTS[name])


def daemon_user():
    """Popen keyword arguments that run a daemon as DAEMON_USER when we are
    root (its uid, gid and own groups: none of root's), {} otherwise."""
    if os.geteuid() != 0:
        return {}
    try:
        pw = pwd.getpwnam(DAEMON_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                        DAEMON_USER], check=True)
        pw = pwd.getpwnam(DAEMON_USER)
    return {"user": pw.pw_uid, "group": pw.pw_gid,
            "extra_groups": os.getgrouplist(pw.pw_name, pw.pw_gid)}


def reachable_bin_dir(names, as_user):
    """BIN_DIR, or, when the daemons' user cannot execute the binaries there
    (a parent directory it cannot search, e.g. a checkout under /root), a
    root-owned copy under /var/tmp it can."""
    if not as_user:
        return BIN_DIR
    probe = os.path.join(BIN_DIR, names[0])
    try:
        subprocess.run([probe, "--help"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=10, cwd="/", **as_user)
        return BIN_DIR
    except PermissionError:
        pass
    except (OSError, subprocess.TimeoutExpired):
        return BIN_DIR
    tag = hashlib.md5(os.path.realpath(ROOT).encode()).hexdigest()[:10]
    top = "/var/tmp/eldercare-%s" % tag
    alt = os.path.join(top, "bin")
    os.makedirs(alt, exist_ok=True)
    for d in (top, alt):
        os.chown(d, 0, 0)
        os.chmod(d, 0o755)
    for n in names:
        tmp = os.path.join(alt, ".%s.tmp" % n)
        shutil.copy2(os.path.join(BIN_DIR, n), tmp)
        os.chmod(tmp, 0o755)
        os.replace(tmp, os.path.join(alt, n))
    log("warn", "binaries_copied", user=DAEMON_USER, to=alt,
        reason="%s cannot reach %s" % (DAEMON_USER, BIN_DIR))
    return alt


def known_flags(binary, as_user=None):
    try:
        r = subprocess.run([binary, "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10, cwd="/", **(as_user or {}))
        return set(re.findall(r"--([a-z][a-z0-9-]*)", r.stdout.decode(errors="replace")))
    except (OSError, subprocess.TimeoutExpired):
        return set()


def _die_with_parent():
    """In the child before exec: SIGTERM when the supervisor dies, so a
    killed supervisor leaves no orphans holding the ports (prctl(2))."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stop_stale(binary, pidfile):
    """A daemon left running by an earlier supervisor that died: stop it."""
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().split(b"\0")[0].decode(errors="replace")
    except (OSError, ValueError):
        return
    if cmd != binary:
        return
    log("warn", "stale_daemon", child=os.path.basename(binary), pid=pid)
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            time.sleep(0.1)
            os.kill(pid, 0)
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


class Child:
    def __init__(self, name, bin_dir=BIN_DIR, as_user=None):
        self.name = name
        self.binary = os.path.join(bin_dir, name)
        self.as_user = as_user or {}
        self.proc = None
        self.pidfile = os.path.join(RUNDIR, name + ".pid")
        self.logpath = os.path.join(LOGDIR, name + ".log")
        self.restarts = []      # monotonic times of recent restarts
        self.next_start = 0.0   # when to start it again (0: not scheduled)
        self.flags = None

    def argv(self):
        if self.flags is None:
            self.flags = known_flags(self.binary, self.as_user)
        up = self.name.upper()
        want = [
            # The runtime role <daemon>_rt, its password from its own
            # passfile (tools/lib.sh): never in argv, never the owner.
            ("db", env(up + "_DB", "host=%s port=%s dbname=%s user=%s_rt passfile=%s" % (
                env("PGHOST", "127.0.0.1"), env("PGPORT", "55432"),
                env("EC_DB", "eldercare"), self.name,
                os.path.join(SECRETS, "pgpass-%s_rt" % self.name)))),
            ("http-addr", env(up + "_HTTP_ADDR", "127.0.0.1")),
            ("http-port", env(up + "_HTTP_PORT", str(HTTP_PORTS[self.name]))),
            ("log-endpoint", log_endpoint(self.name)),
            ("log-level", env("EC_LOG_LEVEL", "info")),
            # CURVE keys (tools/keygen.py, run by run.sh and bench/sys.sh).
            ("curve-keys-dir", env("EC_KEYS_DIR", os.path.join(VAR, "keys"))),
            # Public keys of the token issuer (tools/tokens.py keygen, run by
            # run.sh and bench/sys.sh; docs/SECURITY.md, "Tokens").
            ("jwks-file", env("EC_JWKS_FILE", os.path.join(env("EC_KEYS_DIR",
                                                               os.path.join(VAR, "keys")),
                                                           "jwks.json"))),
        ]
        # As root the pidfile is ours alone (see the top); else the daemon's too.
        if not self.as_user:
            want.append(("pidfile", self.pidfile))
        for p in CONSUMES[self.name]:
            want.append(("%s-log" % p, log_endpoint(p)))
        if self.name == "orderd":
            # The token issuer's secret key (tools/tokens.py keygen, run by
            # run.sh and bench/sys.sh): orderd's alone, not in var/keys.
            want.append(("issuer-key", env("EC_ISSUER_KEY",
                                           os.path.join(VAR, "issuer", "issuer.key"))))
            for f in sorted(self.flags):
                if "intake" in f and ("endpoint" in f or "addr" in f):
                    want.append((f, env("ORDERD_INTAKE_ENDPOINT", "tcp://127.0.0.1:9091")))
                    break
        # <DAEMON>_ARGS: more flags, as the daemon takes them (for the
        # benchmarks, e.g. DISPATCHD_ARGS=--offer-ahead-h=0 in bench/e2e.sh).
        extra = shlex.split(env(up + "_ARGS", ""))
        return [self.binary] + ["--%s=%s" % (f, v) for f, v in want
                                if not self.flags or f in self.flags] + extra

    def start(self):
        self.next_start = 0.0
        logf = open(self.logpath, "ab")
        try:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=logf, cwd=ROOT, start_new_session=True,
                                         preexec_fn=_die_with_parent, **self.as_user)
        except OSError as e:
            log("error", "start_failed", child=self.name, error=str(e))
            self.proc = None
            return False
        finally:
            logf.close()
        with open(self.pidfile, "w") as f:
            f.write("%d\n" % self.proc.pid)
        log("info", "started", child=self.name, pid=self.proc.pid)
        return True

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def remove_pidfile(self):
        try:
            os.unlink(self.pidfile)
        except OSError:
            pass


stopping = False


def on_signal(signum, _frame):
    global stopping
    if not stopping:
        log("info", "stopping", signal=signal.Signals(signum).name)
    stopping = True


def main():
    global _logf
    os.makedirs(LOGDIR, exist_ok=True)
    os.makedirs(RUNDIR, exist_ok=True)
    _logf = open(os.path.join(LOGDIR, "supervise.log"), "a")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    names = [n for n in DAEMONS if n in (sys.argv[1:] or DAEMONS)]
    missing = [os.path.join(BIN_DIR, n) for n in names
               if not os.access(os.path.join(BIN_DIR, n), os.X_OK)]
    if missing:
        log("error", "missing_binaries", binaries=missing)
        return 1
    as_user = daemon_user()
    if as_user:
        log("info", "daemon_user", user=DAEMON_USER, uid=as_user["user"],
            note="we are root; the daemons are not")
    bin_dir = reachable_bin_dir(names, as_user)
    children = [Child(n, bin_dir, as_user) for n in names]
    with open(os.path.join(RUNDIR, "supervise.pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    for c in children:
        stop_stale(c.binary, c.pidfile)
    for c in children:
        c.start()

    # Started by tools/run.sh: stop when it goes away however it died (its
    # terminal closed, it was killed), rather than run on as an orphan.
    try:
        parent = int(os.environ.get("EC_SUPERVISE_PARENT", "0"))
    except ValueError:
        parent = 0
    while not stopping:
        now = time.monotonic()
        if parent and not _alive(parent):
            log("warn", "parent_gone", parent=parent)
            break
        for c in children:
            if c.proc is not None and c.proc.poll() is not None:
                rc = c.proc.returncode
                c.proc = None
                c.remove_pidfile()
                how = ("signal %s" % signal.Signals(-rc).name) if rc < 0 else "exit %d" % rc
                if stopping:
                    break
                if rc == 0:
                    log("warn", "exited_cleanly", child=c.name,
                        note="not restarted (Restart=on-failure)")
                    continue
                c.restarts = [t for t in c.restarts if now - t < BURST_WINDOW] + [now]
                delay = RESTART_SEC if len(c.restarts) <= BURST else BURST_BACKOFF
                log("warn", "died", child=c.name, status=how, restart_in_s=delay,
                    restarts_recent=len(c.restarts))
                c.next_start = now + delay
            elif c.proc is None and c.next_start and now >= c.next_start:
                log("warn", "restarting", child=c.name)
                if not c.start():
                    c.next_start = now + RESTART_SEC
        time.sleep(0.1)

    # Stop: SIGTERM everyone, wait, then SIGKILL.
    for c in children:
        if c.alive():
            c.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for c in children:
        if c.proc is None:
            continue
        try:
            c.proc.wait(max(0.0, deadline - time.monotonic()))
            log("info", "stopped", child=c.name, status=c.proc.returncode)
        except subprocess.TimeoutExpired:
            log("warn", "killed", child=c.name, note="no exit %ds after SIGTERM" % STOP_TIMEOUT)
            c.proc.kill()
            c.proc.wait()
        c.remove_pidfile()
    try:
        os.unlink(os.path.join(RUNDIR, "supervise.pid"))
    except OSError:
        pass
    log("info", "stopped_all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
