"""PostgreSQL drops every daemon connection while orders flow (as a server
restart or failover would): the daemons reconnect with backoff, re-send what
they had accepted, and every acknowledged order still completes its saga
exactly once."""

import threading
import time
import uuid

import harness
from test_orderd_api import Intake, pb, place_order  # noqa: F401 (pb: a fixture)
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


# ---- transient errors, deadlines and back-pressure (issue 11) -------------------------
# orderd alone is enough: every rule lives in the runtime the four share.

NO_CONSUMERS = {"billingd-log": "", "dispatchd-log": "", "meald-log": ""}


def _orderd(pg, dbname, **flags):
    args = dict(NO_CONSUMERS)
    args.update(flags)
    s = harness.System(pg, dbname, names=("orderd",), log_level="info",
                       extra_args={"orderd": args})
    s.start()
    return s


def _card(s):
    elder = new_elder(s)
    st, out = s.http("POST", "orderd", "/v1/cards", json={"elder_id": elder})
    assert st in (200, 201), (st, out)
    return out["card_id"]


def _order(s, card, key, day=1, timeout=10):
    body = {"card_id": card, "service": "cleaning", "window_start": at(day, 8),
            "window_end": at(day, 20), "notes": ""}
    st, out = s.http("POST", "orderd", "/v1/orders", json=body,
                     headers={"Idempotency-Key": key}, timeout=timeout)
    return st, out, dict(s.last_headers)


def _metric(s, prefix):
    return sum(v for k, v in s.metrics("orderd").items() if k.startswith(prefix))


def test_transient_error_is_retried_and_applied_once(need_daemons, pg, fresh_db):
    """A serialization failure (a trigger raises 40001 on the first two
    inserts into orders) is retried with backoff: the order is placed once
    and orderd keeps running. Before: orderd exited on the first one."""
    s = _orderd(pg, fresh_db)
    try:
        card = _card(s)
        s.sql("postgres", "CREATE SEQUENCE orderd.flaky")
        s.sql("postgres", "CREATE FUNCTION orderd.flaky() RETURNS trigger LANGUAGE plpgsql "
              "SECURITY DEFINER SET search_path = pg_catalog AS $$ BEGIN "
              "IF nextval('orderd.flaky') <= 2 THEN RAISE EXCEPTION 'injected' "
              "USING ERRCODE = '40001'; END IF; RETURN NEW; END $$")
        s.sql("postgres", "CREATE TRIGGER flaky BEFORE INSERT ON orderd.orders "
              "FOR EACH ROW EXECUTE FUNCTION orderd.flaky()")
        key = str(uuid.uuid4())
        st, out, _ = _order(s, card, key)
        assert st == 202, (st, out)
        assert s.daemons["orderd"].alive()
        assert s.sql("postgres", "SELECT last_value FROM orderd.flaky")[0][0] >= 3
        rows = s.sql("orderd", "SELECT id::text FROM orders WHERE idem_key = %s", (key,))
        assert rows == [(out["order_id"],)]
        assert _metric(s, "db_transient_retries_total") >= 1
        # The same key again: the one order, not a second.
        st, again, _ = _order(s, card, key)
        assert st == 200 and again["order_id"] == out["order_id"]
    finally:
        s.cleanup()


def test_locked_database_gives_503s_then_recovers(need_daemons, pg, fresh_db):
    """The orders table locked by someone else (as a stuck migration or a
    paused database would): every request is answered 503 with Retry-After
    within its deadline, never left hanging; beyond --max-requests at once
    and beyond --db-queue-max statements, at once 503 overloaded; memory
    stays flat; orderd does not exit. Once the lock goes, the writes queued
    commit by themselves and a retry with the same key finds its order,
    once. Before: requests hung until the client gave up."""
    import psycopg2
    import concurrent.futures
    s = _orderd(pg, fresh_db, **{"request-timeout": "1000", "max-requests": "12",
                                 "db-queue-max": "64"})
    try:
        card = _card(s)
        pid = s.daemons["orderd"].proc.pid

        def rss_kb():
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
            return 0
        rss0 = rss_kb()
        lock = psycopg2.connect(pg.conninfo(fresh_db))
        cur = lock.cursor()
        cur.execute("LOCK TABLE orderd.orders IN ACCESS EXCLUSIVE MODE")
        outcomes = {}     # key -> (status, error, message)
        try:
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=30)
            t0 = time.monotonic()
            for wave in range(6):
                keys = [str(uuid.uuid4()) for _ in range(30)]
                for k, (st, out, hdr) in zip(keys, pool.map(
                        lambda k: _order(s, card, k, timeout=15), keys)):
                    assert st == 503, (st, out)
                    assert hdr.get("Retry-After") == "1", hdr
                    outcomes[k] = (out["error"], out["message"])
            took = time.monotonic() - t0
            pool.shutdown()
            errors = [e for e, _ in outcomes.values()]
            assert "timeout" in errors
            assert errors.count("overloaded") >= 30, errors
            assert any("database_behind" in m for _, m in outcomes.values())
            assert took < 6 * 5, took     # each wave within a few deadlines, none hung
            assert s.daemons["orderd"].alive()
            assert rss_kb() - rss0 < 64 * 1024, (rss0, rss_kb())
            assert _metric(s, "http_rejected_total") >= 30
            assert _metric(s, "http_deadline_exceeded_total") >= 1
        finally:
            lock.rollback()
            lock.close()
        # Recovery by itself: the statements held back commit.
        fresh = str(uuid.uuid4())
        harness.wait_until(lambda: _order(s, card, fresh)[0] == 202, timeout=20, interval=0.5,
                           what="orderd takes writes again")
        # Every key retried finds one order (a timed-out write committed
        # late, an overloaded one was never taken and is placed now).
        for k in outcomes:
            st, out, _ = _order(s, card, k)
            assert st in (200, 202), (k, st, out)
        n = s.sql("orderd", "SELECT count(*), count(DISTINCT idem_key) FROM orders "
                  "WHERE card_id = %s", (card,))[0]
        assert n[0] == n[1] == len(outcomes) + 1, n
        assert _metric(s, "db_transient_retries_total") >= 1   # 57014 was retried
        assert s.daemons["orderd"].alive()
    finally:
        s.cleanup()


def test_intake_over_bound_replies_503(need_daemons, pg, fresh_db, pb):
    """ZeroMQ PlaceOrder while the writer is behind (--db-queue-max) is
    answered with status 503 "overloaded", like HTTP, and counted."""
    import psycopg2
    pbm = pb
    s = _orderd(pg, fresh_db, **{"request-timeout": "1000", "db-queue-max": "64"})
    try:
        card = _card(s)
        lock = psycopg2.connect(pg.conninfo(fresh_db))
        lock.cursor().execute("LOCK TABLE orderd.orders IN ACCESS EXCLUSIVE MODE")
        z = Intake(s, pbm)
        try:
            statuses = []
            for _ in range(80):
                z.send(place_order(pbm, card, str(uuid.uuid4())))
            while z.poll(3000):
                _, r = z.recv()
                statuses.append((r.status, r.error))
            assert (503, "overloaded") in statuses, statuses
            assert _metric(s, 'zmq_rejected_total{socket="orderd-intake",reason="overloaded"}') >= 1
        finally:
            z.close()
            lock.rollback()
            lock.close()
        assert s.daemons["orderd"].alive()
    finally:
        s.cleanup()


def test_corruption_class_error_stops_the_daemon(need_daemons, pg, fresh_db):
    """XX001 (data_corrupted) is not retried nor answered: orderd logs it as
    class corrupt and exits 1 for its supervisor. Before: logged as an
    ordinary write failure (no class), indistinguishable from a bad input."""
    s = _orderd(pg, fresh_db)
    try:
        card = _card(s)
        s.sql("postgres", "CREATE FUNCTION orderd.rot() RETURNS trigger LANGUAGE plpgsql AS "
              "$$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = 'XX001'; END $$")
        s.sql("postgres", "CREATE TRIGGER rot BEFORE INSERT ON orderd.orders "
              "FOR EACH ROW EXECUTE FUNCTION orderd.rot()")
        try:
            _order(s, card, str(uuid.uuid4()), timeout=5)
        except OSError:
            pass
        d = s.daemons["orderd"]
        harness.wait_until(lambda: not d.alive(), timeout=10, what="orderd exits")
        assert d.proc.returncode == 1
        fatal = [x for x in d.log_lines() if x.get("event") == "fatal"]
        assert fatal and fatal[-1]["sqlstate"] == "XX001" and fatal[-1]["class"] == "corrupt"
        # The call's order is not stored (the duties' generator may have
        # placed the elder's mandated assessment before the trigger came).
        assert s.sql("orderd", "SELECT count(*) FROM orders WHERE source = 'http'")[0][0] == 0
    finally:
        s.cleanup()
