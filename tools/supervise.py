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
- on SIGTERM/SIGINT: SIGTERM to every daemon, wait up to 10 s, then SIGKILL.

Its own log (JSON lines) goes to stderr and var/log/supervise.log.

Environment (defaults in brackets):
  PGPORT [55432]  PGHOST [127.0.0.1]  EC_DB [eldercare]
  <DAEMON>_HTTP_PORT [8081..8084]  <DAEMON>_LOG_ENDPOINT [tcp://127.0.0.1:908x]
  ORDERD_INTAKE_ENDPOINT [tcp://127.0.0.1:9091]  EC_LOG_LEVEL [info]
  EC_BIN_DIR [build/bin]  EC_VAR [var] (log/ and run/ go there)
  EC_SUPERVISE_PARENT  a pid: stop everything when that process is gone
"""

import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VAR = os.environ.get("EC_VAR") or os.path.join(ROOT, "var")
LOGDIR = os.path.join(VAR, "log")
RUNDIR = os.path.join(VAR, "run")
BIN_DIR = os.environ.get("EC_BIN_DIR", os.path.join(ROOT, "build", "bin"))
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


def known_flags(binary):
    try:
        r = subprocess.run([binary, "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10)
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
    def __init__(self, name):
        self.name = name
        self.binary = os.path.join(BIN_DIR, name)
        self.proc = None
        self.pidfile = os.path.join(RUNDIR, name + ".pid")
        self.logpath = os.path.join(LOGDIR, name + ".log")
        self.restarts = []      # monotonic times of recent restarts
        self.next_start = 0.0   # when to start it again (0: not scheduled)
        self.flags = None

    def argv(self):
        if self.flags is None:
            self.flags = known_flags(self.binary)
        up = self.name.upper()
        want = [
            ("db", env(up + "_DB", "host=%s port=%s dbname=%s user=%s" % (
                env("PGHOST", "127.0.0.1"), env("PGPORT", "55432"),
                env("EC_DB", "eldercare"), self.name))),
            ("http-addr", env(up + "_HTTP_ADDR", "127.0.0.1")),
            ("http-port", env(up + "_HTTP_PORT", str(HTTP_PORTS[self.name]))),
            ("log-endpoint", log_endpoint(self.name)),
            ("log-level", env("EC_LOG_LEVEL", "info")),
            ("pidfile", self.pidfile),
            # CURVE keys (tools/keygen.py, run by run.sh and bench/sys.sh).
            ("curve-keys-dir", env("EC_KEYS_DIR", os.path.join(VAR, "keys"))),
        ]
        for p in CONSUMES[self.name]:
            want.append(("%s-log" % p, log_endpoint(p)))
        if self.name == "orderd":
            for f in sorted(self.flags):
                if "intake" in f and ("endpoint" in f or "addr" in f):
                    want.append((f, env("ORDERD_INTAKE_ENDPOINT", "tcp://127.0.0.1:9091")))
                    break
        return [self.binary] + ["--%s=%s" % (f, v) for f, v in want
                                if not self.flags or f in self.flags]

    def start(self):
        self.next_start = 0.0
        logf = open(self.logpath, "ab")
        try:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=logf, cwd=ROOT, start_new_session=True,
                                         preexec_fn=_die_with_parent)
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
    children = [Child(n) for n in names]
    missing = [c.binary for c in children if not os.access(c.binary, os.X_OK)]
    if missing:
        log("error", "missing_binaries", binaries=missing)
        return 1
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
