"""The daemon runtime (services/common/cc_rt.h), as each real daemon runs it:
typed config with ranges and the exit-status rule, sd_notify READY/STOPPING/
WATCHDOG on a real AF_UNIX socket, the pidfile, and the statement check
against the database's catalogue."""

import os
import signal
import socket
import subprocess
import tempfile
import threading

import pytest

import harness

DAEMONS = harness.DAEMONS


def _run(argv, timeout=20, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


@pytest.mark.parametrize("name", DAEMONS)
def test_help_lists_common_flags_with_ranges(need_daemons, name):
    r = _run([harness.binary(name), "--help"])
    assert r.returncode == 0, r.stderr
    for flag in ("--db=", "--http-port=", "--log-level=", "--stop-timeout=", "--batch-max="):
        assert flag in r.stdout, (name, flag)
    assert "0..65535" in r.stdout and "debug|info|warn|error" in r.stdout


@pytest.mark.parametrize("name", DAEMONS)
@pytest.mark.parametrize("flag", ["--http-port=70000", "--log-level=loud", "--stop-timeout=0",
                                  "--db=", "--no-such-flag=1"])
def test_bad_config_exits_2_naming_the_flag(need_daemons, name, flag):
    # Not as root: a daemon refuses uid 0 before it looks at its flags.
    r = _run([harness.binary(name), flag], **harness.as_daemon_user())
    assert r.returncode == 2, (name, flag, r.returncode, r.stderr)
    assert flag.split("=")[0] in r.stderr, (name, flag, r.stderr)


class _Notify:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ec-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        os.chmod(self.path, 0o777)   # the daemon may run as another user
        os.chmod(self.dir, 0o755)
        self.seen = []
        # Drain all the time: the kernel queues only a few datagrams, and the
        # daemons drop (never wait on) what does not fit.
        self.done = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while not self.done:
            try:
                self.seen.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
            except OSError:
                return

    def wait_for(self, state, timeout=30.0):
        def got():
            return any(state in m.split("\n") for m in list(self.seen))
        return harness.wait_until(got, timeout=timeout, what="%s on NOTIFY_SOCKET" % state)

    def close(self):
        self.done = True
        self.reader.join(2)
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


@pytest.mark.parametrize("name", DAEMONS)
def test_notify_pidfile_and_clean_stop(need_daemons, pg, fresh_db, name):
    note = _Notify()
    os.environ["NOTIFY_SOCKET"] = note.path
    os.environ["WATCHDOG_USEC"] = "200000"
    s = harness.System(pg, fresh_db)
    try:
        s.start()
        d = s.daemons[name]
        note_ready = note.wait_for("READY=1")
        assert note_ready
        note.wait_for("WATCHDOG=1")
        # The pidfile names the daemon once it listens.
        with open(d.pidfile) as f:
            assert int(f.read().strip()) == d.proc.pid
        d.signal(signal.SIGTERM)
        note.wait_for("STOPPING=1")
        assert d.proc.wait(15) == 0, d.log_text()[-2000:]
        assert not os.path.exists(d.pidfile)
    finally:
        del os.environ["NOTIFY_SOCKET"]
        del os.environ["WATCHDOG_USEC"]
        s.cleanup()
        note.close()


def test_statement_mismatch_stops_the_daemon_naming_it(need_daemons, pg, fresh_db):
    # A migration that renamed a parameter of a function orderd calls: the
    # binary and the schema disagree, and orderd must say so and stop.
    pg.execute("""
        SET search_path = orderd;
        DROP FUNCTION od_order_cancel(uuid, text, uuid, bytea);
        CREATE FUNCTION od_order_cancel(p_order uuid, p_why text, p_event_id uuid,
                                        p_payload bytea)
        RETURNS TABLE (outcome text, state text) LANGUAGE sql AS $$ SELECT 'x', 'y' $$;
        ALTER FUNCTION od_order_cancel(uuid, text, uuid, bytea) OWNER TO orderd;
    """, dbname=fresh_db)
    s = harness.System(pg, fresh_db)
    d = s.daemons["orderd"]
    try:
        d.start()
        assert d.proc.wait(30) == 1
        log = d.log_text()
        assert '"statement_mismatch"' in log and "od_order_cancel" in log, log[-2000:]
        assert "reason" in log and "p_why" in log, log[-2000:]
    finally:
        s.cleanup()
