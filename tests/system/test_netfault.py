"""Network faults between daemons (issue 11): every consumer reads every
producer's log through its own fault-injecting TCP proxy (faultproxy.py);
while orders flow the links are cut (RST), delayed, made to drop chunks
(the CURVE stream corrupts and must be re-established) and left half-open
(silent, no FIN or RST, never to speak again). After the faults clear every
event arrives exactly once: each consumer's position reaches its producer's
head, every acknowledged order is present once and final, and money
reconciles (reconcile.py). PostgreSQL runs as in production.

NETFAULT_ORDERS sets the load (make soak: tests/soak.sh runs it larger)."""

import os
import sys
import time

import harness
import faultproxy

sys.path.insert(0, os.path.join(harness.ROOT, "tests"))
import soak  # noqa: E402


class _Args:
    orders = int(os.environ.get("NETFAULT_ORDERS", "120"))
    rounds = 0
    concurrency = 8
    elders = 20
    caregivers = 40
    kill_every = 0.0
    timeout = 180 + orders // 5     # make soak runs more orders
    place_seconds = float(os.environ.get("NETFAULT_SECONDS", "22"))


def test_network_faults_between_daemons(need_daemons, durable_pg, durable_db):
    ps = faultproxy.ProxySet()
    s = harness.System(durable_pg, durable_db, log_level="info")
    links = {}
    for consumer, producers in harness.CONSUMES.items():
        for producer in producers:
            d = s.daemons[producer]
            p = ps.add("%s<-%s" % (consumer, producer), lambda d=d: d.log_port)
            links[(consumer, producer)] = p
            s.extra_args.setdefault(consumer, {})["%s-log" % producer] = p.endpoint
    # Each fault holds for a few seconds, then the links pass for a few.
    step = float(os.environ.get("NETFAULT_HOLD", "3"))
    faults = []
    for label, mode, arg in (("cut every link (RST)", "cut", 0),
                             ("delay every chunk 300 ms", "delay", 0.3),
                             ("drop 20% of chunks (stream corrupts)", "drop", 0.2),
                             ("half-open every link (silent, for good)", "halfopen", 0)):
        faults.append((step, lambda m=mode, a=arg: ps.set_all(m, a), label))
        faults.append((step, lambda: ps.set_all("pass"), "links clear after: " + label))
    try:
        s.start()
        run = soak.Soak(s, _Args(), faults=faults, supervise=True)
        run.name = "netfault"
        ok = run.run()
        # Every event reached every consumer: its position is its producer's head.
        def caught_up():
            behind = []
            for (consumer, producer) in links:
                head = s.sql("postgres", "SELECT coalesce(max(seq), 0) FROM %s.events"
                             % producer)[0][0]
                pos = s.sql("postgres", "SELECT coalesce(max(seq), 0) FROM %s.positions "
                            "WHERE producer = %%s" % consumer, (producer,))[0][0]
                if pos != head:
                    behind.append("%s at %d of %s's %d" % (consumer, pos, producer, head))
            return behind
        deadline = time.monotonic() + 30
        while caught_up() and time.monotonic() < deadline:
            time.sleep(0.5)
        behind = caught_up()
        st = ps.stats()
        print("FIGURE netfault links: %d proxied links, connections %d, resets %d, "
              "dropped chunks %d, frozen (half-open) %d, bytes %d, consumers behind %d"
              % (len(links), st["connections"], st["resets"], st["dropped_chunks"],
                 st["frozen"], st["bytes"], len(behind)), flush=True)
        failed = [c for c in run.checks if not c[1]]
        assert ok and not behind, "network fault checks failed:\n" + "\n".join(
            "%s: %s" % (name, detail) for name, _, detail in failed) + "\n" + "\n".join(behind)
        assert st["resets"] > 0 and st["frozen"] > 0 and st["dropped_chunks"] > 0, st
        assert len(run.faults_done) == len(faults)
    finally:
        s.cleanup()
        ps.close()
