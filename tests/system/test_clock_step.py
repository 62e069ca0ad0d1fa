"""Wall-clock steps of +-1 h under load (issue 11). Every daemon runs under
libfaketime (LD_PRELOAD) with its offset read from a file the test rewrites
(FAKETIME_TIMESTAMP_FILE, FAKETIME_NO_CACHE); the monotonic clock is left
alone (FAKETIME_DONT_FAKE_MONOTONIC), as an NTP step or a VM resume leaves
it. While orders flow the daemons' wall clock jumps +1 h, back, -1 h, back.
The caregivers' and couriers' apps let the server stamp each step (no
"time" in the body), so the server's own stamps straddle the jumps; the
tokens are valid across the jumps, as tokens issued just before one are.
No order may fail or stay open because the clock jumped; every acknowledged
order is present once and money reconciles (reconcile.py).

Timeouts inside a daemon (Fetch re-sends, database reconnects, request and
stop deadlines, the idempotency cache, offer timers once armed) use the
monotonic clock (cc_mono_us, libevent timers); the wall clock is used for
stamps and for deadlines that must survive a restart (see
docs/RELIABILITY.md).

CLOCK_ORDERS sets the load (make soak: tests/soak.sh runs it larger)."""

import os
import sys
import time

import pytest

import harness

sys.path.insert(0, os.path.join(harness.ROOT, "tests"))
import soak  # noqa: E402
import demo  # noqa: E402

LIBFAKETIME = next((p for p in (
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1") if os.path.exists(p)), None)


class _Args:
    orders = int(os.environ.get("CLOCK_ORDERS", "120"))
    rounds = 0
    concurrency = 8
    elders = 20
    caregivers = 40
    kill_every = 0.0
    timeout = 180 + orders // 5     # make soak runs more orders
    place_seconds = None


def test_wall_clock_steps_fail_no_visit(need_daemons, durable_pg, durable_db, monkeypatch):
    if LIBFAKETIME is None:
        pytest.skip("libfaketime is not installed (Debian package libfaketime)")
    s = harness.System(durable_pg, durable_db, log_level="info")
    offset_file = os.path.join(s.workdir, "faketime")
    with open(offset_file, "w") as f:
        f.write("+0\n")
    os.chmod(offset_file, 0o644)
    env = {"LD_PRELOAD": LIBFAKETIME, "FAKETIME_TIMESTAMP_FILE": offset_file,
           "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    s.extra_env = {d: env for d in harness.DAEMONS}
    steps = []

    def step(offset):
        def go():
            tmp = offset_file + ".new"
            with open(tmp, "w") as f:
                f.write(offset + "\n")
            os.chmod(tmp, 0o644)
            os.rename(tmp, offset_file)     # never a half-written offset
            steps.append(offset)
        return go
    hold = float(os.environ.get("CLOCK_HOLD", "5"))
    faults = [(3.0, step("+1h"), "wall clock +1 h"),
              (hold, step("+0"), "wall clock back to true"),
              (hold, step("-1h"), "wall clock -1 h"),
              (hold, step("+0"), "wall clock back to true")]

    # Tokens valid 2 h either side of now: they straddle the jumps.
    def token(role, scope=None):
        return demo.tokens.mint(demo.ISSUER_KEY, role, scope, ttl=4 * 3600,
                                sub="clock-" + role, now=time.time() - 2 * 3600)
    monkeypatch.setattr(demo, "token", token)
    # The apps let the server stamp each step.
    real_call = demo.call

    def call(daemon, method, path, body=None, **kw):
        if isinstance(body, dict) and path.rsplit("/", 1)[-1] in (
                "check-in", "check-out", "delivered"):
            body = {k: v for k, v in body.items() if k != "time"}
        return real_call(daemon, method, path, body, **kw)
    monkeypatch.setattr(demo, "call", call)
    args = _Args()
    args.place_seconds = 3.0 + 3 * hold + 6.0
    try:
        s.start()
        assert "faketime" in open("/proc/%d/maps" % s.daemons["orderd"].proc.pid).read()
        run = soak.Soak(s, args, faults=faults, supervise=True)
        run.name = "clock-step"
        run.meal_days_ahead = 2     # a meal's cut-off never near a jump
        ok = run.run()
        failed = [c for c in run.checks if not c[1]]
        states = {}
        for o in run.orders:
            states[o.state] = states.get(o.state, 0) + 1
        print("FIGURE clock-step jumps: %s; final states %s" % (" ".join(steps), states))
        assert ok, "clock-step checks failed:\n" + "\n".join(
            "%s: %s" % (name, detail) for name, _, detail in failed)
        assert steps == ["+1h", "+0", "-1h", "+0"]
    finally:
        s.cleanup()
