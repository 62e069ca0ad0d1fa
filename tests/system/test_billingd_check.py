"""billingd's GET /v1/ledger/check runs on its own connection (billingd-check),
one at a time, under --check-timeout. Its database session is stopped
(SIGSTOP to its PostgreSQL backend, idle so holding no lock: a check stuck
in the database) while top-ups and holds go on; the check ends in a 503
past its deadline instead of hanging, and a second one meanwhile is refused
busy. A check whose query waits on a lock ends 503 within
--check-timeout + 2 s as well. Real orderd, billingd and PostgreSQL."""

import os
import signal
import threading
import time

import pytest

import harness
from test_billingd_api import NO_DISPATCH_MEAL, hold, new_card, order, topup

CHECK_TIMEOUT_MS = 1500


@pytest.fixture(scope="module")
def s(pg, db):
    for d in ("orderd", "billingd"):
        if not os.access(harness.binary(d), os.X_OK):
            pytest.skip("%s not built yet" % d)
    sysm = harness.System(pg, db, names=("orderd", "billingd"),
                          extra_args={"orderd": dict(NO_DISPATCH_MEAL),
                                      "billingd": dict(NO_DISPATCH_MEAL, **{
                                          "check-timeout": str(CHECK_TIMEOUT_MS),
                                          # far past the check's own deadline
                                          "request-timeout": "20000"})})
    try:
        sysm.start()
        yield sysm
    finally:
        sysm.cleanup()


def checker_pid(s):
    """The backend of billingd's check connection: the one idle session whose
    last statement was the check (run once before)."""
    rows = s.sql("postgres", "SELECT pid FROM pg_stat_activity WHERE state = 'idle' "
                 "AND query LIKE '%%bd_ledger_check()%%' AND usename <> 'postgres'")
    assert len(rows) == 1, rows
    return rows[0][0]


def test_stuck_check_blocks_nothing_and_times_out(s):
    card = new_card(s)
    topup(s, card, 9000)
    st, chk = s.http("GET", "billingd", "/v1/ledger/check")
    assert st == 200 and chk["ok"] is True, chk
    pid = checker_pid(s)
    os.kill(pid, signal.SIGSTOP)
    try:
        first = {}

        def check():
            t0 = time.monotonic()
            first["st"], first["body"] = s.http("GET", "billingd", "/v1/ledger/check",
                                                timeout=30)
            first["s"] = time.monotonic() - t0

        t = threading.Thread(target=check)
        t.start()
        time.sleep(0.3)   # the first check is in flight on the stopped session
        # One at a time: a second check is refused at once.
        st, body = s.http("GET", "billingd", "/v1/ledger/check")
        assert st == 503 and body["error"] == "busy", (st, body)
        assert s.last_headers.get("Retry-After") == "5", s.last_headers
        # Writer and reader go on meanwhile: a top-up, and a hold decided
        # from orderd's event.
        t0 = time.monotonic()
        topup(s, card, 100)
        oid = order(s, card, "bath")
        assert hold(s, oid, ("held",))["state"] == "held"
        assert time.monotonic() - t0 < 3.0
        t.join(CHECK_TIMEOUT_MS / 1000 + 10)
        assert not t.is_alive(), "the stuck check hangs"
        assert first["st"] in (503, 504), first
        # check-timeout + 2 s, not the 20 s request-timeout
        assert first["s"] < CHECK_TIMEOUT_MS / 1000 + 6, first
    finally:
        os.kill(pid, signal.SIGCONT)
    # The stuck statement ends; checks run again.
    harness.wait_until(lambda: s.http("GET", "billingd", "/v1/ledger/check")[0] == 200, 15,
                       what="a check runs again once the session resumes")


def test_slow_check_query_cancelled_at_check_timeout(s):
    """The check's query blocked by a lock on postings (held by a superuser
    session) is cancelled by the check connection's statement_timeout: 503
    in about --check-timeout, then checks run again."""
    st, chk = s.http("GET", "billingd", "/v1/ledger/check")
    assert st == 200 and chk["ok"] is True, chk
    c = s.pg.connect(dbname=s.dbname, autocommit=False)
    try:
        c.cursor().execute("LOCK TABLE billingd.postings IN ACCESS EXCLUSIVE MODE")
        t0 = time.monotonic()
        st, body = s.http("GET", "billingd", "/v1/ledger/check", timeout=30)
        took = time.monotonic() - t0
        # statement_timeout cancels it (a cancel is retried as transient),
        # and the request ends at check-timeout + 2 s at the latest
        assert st == 503 and body["error"] in ("unavailable", "timeout"), (st, body)
        assert CHECK_TIMEOUT_MS / 1000 - 0.2 < took < CHECK_TIMEOUT_MS / 1000 + 3.5, took
        waiting = s.sql("postgres", "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock'")[0][0]
        assert waiting <= 1, waiting   # no pile-up of check queries behind the lock
    finally:
        c.rollback()
        c.close()
    harness.wait_until(lambda: s.http("GET", "billingd", "/v1/ledger/check")[0] == 200, 15,
                       what="a check runs again once the lock goes")
