"""PostgreSQL drops every daemon connection while orders flow (as a server
restart or failover would): the daemons reconnect with backoff, re-send what
they had accepted, and every acknowledged order still completes its saga
exactly once."""

import threading
import time
import uuid

import harness
from test_journeys import (at, balance, ledger_ok, new_card, new_caregiver, new_elder,
                           wait_state)

# The daemons' connections: their runtime roles (harness.PgCluster.daemon_conninfo).
ROLES = "'orderd_rt','billingd_rt','dispatchd_rt','meald_rt'"


def test_connections_dropped_mid_flow_lose_nothing(need_daemons, pg, fresh_db):
    s = harness.System(pg, fresh_db, log_level="info")
    try:
        s.start()
        elder = new_elder(s)
        card = new_card(s, elder, topup_fen=10_000_000)
        for i in range(6):
            new_caregiver(s, ["cleaning"], level=1, lat=30.27 + i * 0.001)
        acked, stop = [], threading.Event()

        def place():
            day = 1
            while not stop.is_set():
                key = str(uuid.uuid4())
                body = {"card_id": card, "service": "cleaning",
                        "window_start": at(day, 8), "window_end": at(day, 20), "notes": ""}
                day = day % 60 + 1
                try:
                    st, out = s.http("POST", "orderd", "/v1/orders", json=body,
                                     headers={"Idempotency-Key": key}, timeout=30)
                except OSError:
                    continue
                if st in (200, 201, 202):
                    acked.append(out["order_id"])
        t = threading.Thread(target=place)
        t.start()
        for _ in range(3):
            time.sleep(1.0)
            s.sql("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  "WHERE usename IN (%s)" % ROLES)
        time.sleep(1.0)
        stop.set()
        t.join()
        assert len(acked) > 20, "too few orders placed to mean anything: %d" % len(acked)
        for d in harness.DAEMONS:
            assert s.daemons[d].alive(), "%s died:\n%s" % (d, s.daemons[d].log_text()[-3000:])
        # Every acknowledged order is stored once and gets its hold and caregiver.
        for oid in acked:
            wait_state(s, oid, ("assigned",), timeout=60)
        rows = s.sql("orderd", "SELECT count(*) FROM orderd.orders WHERE card_id = %s", (card,))
        assert rows[0][0] == len(acked)
        holds = s.sql("billingd", "SELECT count(*), coalesce(sum(held_fen), 0) "
                      "FROM billingd.holds WHERE card_id = %s", (card,))
        assert holds[0][0] == len(acked)
        assert balance(s, card)["held_fen"] == holds[0][1]
        for d in harness.DAEMONS:
            lost = sum(v for k, v in s.metrics(d).items() if k.startswith("db_reconnects_total"))
            assert lost >= 3, "%s saw only %s connection losses" % (d, lost)
        ledger_ok(s)
    finally:
        s.cleanup()
