"""The audit trail (issue 10, docs/SECURITY.md "Audit trail"): every write
and every read of an elder's personal data leaves rows in the daemon's own
audit table, written by the runtime (services/common/cc_rt.c), never by a
handler:

- a write through each daemon: a row queued before its handler (status
  NULL, "accepted") and one with the reply's status, both with the caller's
  account and role, the method and the route pattern;
- a read of an elder's record (by id and by phone): one row with the
  status and the elder's id, committed before the reply;
- no personal data (name, phone, ID number, address) nor the token in any
  row;
- the runtime role cannot UPDATE, DELETE or TRUNCATE audit;
- kill -9 of orderd while writes are acknowledged: every acknowledged write
  has its row, and no committed write is without one;
- GET /v1/audit: 403 for operator, 200 for auditor (and admin), filters by
  elder_id and account.
"""

import datetime
import threading
import uuid

import psycopg2
import pytest

import harness
from test_journeys import id_number, new_card, new_elder, post
from test_pg_privileges import refused

INSUFFICIENT_PRIVILEGE = "42501"


def who(s, role, scope=None):
    """(account, headers): a token for role with an account id of its own."""
    sub = "%s-audit-%s" % (role, uuid.uuid4().hex[:10])
    return sub, {"Authorization": "Bearer " + s.token(role, scope, sub=sub)}


def rows(s, daemon, account):
    """daemon's audit rows of account, oldest first, as dicts."""
    cols = ("seq", "request", "account", "role", "method", "route", "ids", "status", "peer")
    out = s.sql("postgres", "SELECT %s FROM %s.audit WHERE account = %%s ORDER BY seq"
                % (", ".join(cols), daemon), (account,))
    return [dict(zip(cols, r)) for r in out]


def write_rows(s, daemon, account):
    """rows() once a write's outcome row is there too: it is appended after
    the reply has gone (with the writer's next batch, or 20 ms later), so a
    reader can come between the two."""
    harness.wait_until(lambda: len(rows(s, daemon, account)) >= 2, timeout=10,
                       what="%s audit outcome row" % daemon)
    return rows(s, daemon, account)


def check_write(rs, account, role, method, route):
    """A write's two rows: accepted (status NULL) then its outcome."""
    assert len(rs) == 2, rs
    acc, out = rs
    for r in rs:
        assert (r["account"], r["role"], r["method"], r["route"]) == (account, role, method,
                                                                    route), r
        assert r["peer"] == "127.0.0.1", r
    assert acc["request"] == out["request"], rs
    assert acc["status"] is None and 200 <= out["status"] < 300, rs
    return out


def elder_body(phone):
    return {"name": "审计老人", "id_number": id_number(), "phone": phone,
            "address": "审计街道9号", "district_id": 1, "lat": 30.27, "lon": 120.15,
            "birth_date": "1940-01-01", "ability_level": "mild", "household": "none",
            "living": "alone"}


def no_personal_data(s, secrets, tokens):
    for d in harness.DAEMONS:
        dump = s.sql("postgres", "SELECT coalesce(string_agg(a::text, '\n'), '') FROM %s.audit a"
                     % d)[0][0]
        for x in list(secrets) + list(tokens):
            assert x not in dump, (d, x)


def test_writes_through_each_daemon_are_audited(need_daemons, system):
    s = system
    secrets, tokens = [], []
    # orderd: an elder (the reply's elder_id is recorded, nothing else).
    phone = "1390000%04d" % (uuid.uuid4().int % 10000)
    body = elder_body(phone)
    secrets += [body["name"], body["id_number"], phone, body["address"]]
    op, h = who(s, "operator")
    tokens.append(h["Authorization"][7:])
    st, e = s.http("POST", "orderd", "/v1/elders", json=body, headers=h)
    assert st in (200, 201), (st, e)
    out = check_write(write_rows(s, "orderd", op), op, "operator", "POST", "/v1/elders")
    assert out["ids"] == {"elder_id": e["elder_id"]}, out
    # billingd: a top-up names the card in its path.
    card = new_card(s, new_elder(s))
    op2, h = who(s, "operator")
    h["Idempotency-Key"] = str(uuid.uuid4())
    st, t = s.http("POST", "billingd", "/v1/cards/%s/topups" % card, headers=h,
                   json={"amount_fen": 100, "source": "family"})
    assert st in (200, 201), (st, t)
    out = check_write(write_rows(s, "billingd", op2), op2, "operator", "POST",
                      "/v1/cards/{card_id}/topups")
    assert out["ids"]["card_id"] == card, out
    # dispatchd: a caregiver, by its provider's admin.
    prov = str(uuid.uuid4())
    pa, h = who(s, "provider_admin", {"provider_id": prov})
    cg = {"name": "审计护理员", "district_id": 1, "lat": 30.27, "lon": 120.15,
          "skills": ["cleaning"], "level": 2, "first_aid": True, "shift_start": "08:00",
          "shift_end": "18:00", "provider_id": prov}
    secrets.append(cg["name"])
    st, c = s.http("POST", "dispatchd", "/v1/caregivers", json=cg, headers=h)
    assert st in (200, 201), (st, c)
    check_write(write_rows(s, "dispatchd", pa), pa, "provider_admin", "POST", "/v1/caregivers")
    # meald: a meal point, by an admin.
    ad, h = who(s, "admin")
    mp = {"name": "审计食堂", "provider_id": "kitchen-a", "district_id": 1, "lat": 30.27,
          "lon": 120.15, "slots": [{"slot": "lunch", "capacity": 5, "cutoff": "10:00"}]}
    st, m = s.http("POST", "meald", "/v1/meal-points", json=mp, headers=h)
    assert st in (200, 201), (st, m)
    check_write(write_rows(s, "meald", ad), ad, "admin", "POST", "/v1/meal-points")
    # A refused write is on record too, with its status.
    op3, h = who(s, "operator")
    st, _ = s.http("POST", "orderd", "/v1/orders/%s/cancel" % uuid.uuid4(), headers=h)
    assert st == 404
    rs = write_rows(s, "orderd", op3)
    assert [r["status"] for r in rs] == [None, 404], rs
    no_personal_data(s, secrets, tokens)


def test_reading_an_elder_is_audited(need_daemons, system):
    s = system
    phone = "1391111%04d" % (uuid.uuid4().int % 10000)
    body = elder_body(phone)
    st, e = s.http("POST", "orderd", "/v1/elders", json=body, role="operator")
    assert st in (200, 201), (st, e)
    eid = e["elder_id"]
    op, h = who(s, "operator")
    st, got = s.http("GET", "orderd", "/v1/elders/%s" % eid, headers=h)
    assert st == 200 and got["phone"] == phone, (st, got)
    # The row committed before the reply left: it is there already.
    rs = rows(s, "orderd", op)
    assert len(rs) == 1, rs
    r = rs[0]
    assert (r["role"], r["method"], r["route"], r["status"]) == (
        "operator", "GET", "/v1/elders/{id}", 200), r
    assert r["ids"] == {"id": eid, "elder_id": eid}, r
    # By phone: the phone is not recorded, the elder found is.
    op2, h = who(s, "operator")
    st, got = s.http("GET", "orderd", "/v1/elders?phone=%s" % phone, headers=h)
    assert st == 200, (st, got)
    rs = rows(s, "orderd", op2)
    assert len(rs) == 1 and rs[0]["route"] == "/v1/elders", rs
    assert rs[0]["ids"] == {"elder_ids": [eid]}, rs
    no_personal_data(s, [phone, body["name"], body["id_number"], body["address"]],
                     [h["Authorization"][7:]])
    # The auditor finds both by the elder.
    st, a = s.http("GET", "orderd", "/v1/audit?elder_id=%s" % eid, role="auditor")
    assert st == 200, (st, a)
    accounts = {x["account"] for x in a["audit"]}
    assert {op, op2} <= accounts, a
    seqs = [x["seq"] for x in a["audit"]]
    assert seqs == sorted(seqs, reverse=True), seqs


def test_get_audit_roles_and_filters(need_daemons, system):
    s = system
    for d in harness.DAEMONS:
        st, doc = s.http("GET", d, "/v1/audit", role="operator")
        assert st == 403 and doc["field"] == "role", (d, st, doc)
        st, doc = s.http("GET", d, "/v1/audit?limit=5", role="auditor")
        assert st == 200 and len(doc["audit"]) <= 5, (d, st, doc)
        st, doc = s.http("GET", d, "/v1/audit", role="admin")
        assert st == 200, (d, st, doc)
    op, h = who(s, "operator")
    s.http("POST", "orderd", "/v1/orders/%s/cancel" % uuid.uuid4(), headers=h)
    # The status row is written at reply time and not waited for (the
    # accepted row is): it may commit a moment after the answer.
    def both():
        st, doc = s.http("GET", "orderd", "/v1/audit?account=%s" % op, role="auditor")
        return (st, doc) if st == 200 and len(doc["audit"]) == 2 else None
    st, doc = harness.wait_until(both, timeout=10, what="accepted and status rows")
    assert all(x["account"] == op for x in doc["audit"]), doc
    st, doc = s.http("GET", "orderd", "/v1/audit?limit=1&account=%s" % op, role="auditor")
    assert len(doc["audit"]) == 1 and doc["audit"][0]["status"] == 404, doc
    st, doc2 = s.http("GET", "orderd", "/v1/audit?limit=1&account=%s&before=%d"
                      % (op, doc["next_before"]), role="auditor")
    assert doc2["audit"][0]["status"] is None, doc2
    for bad in ("elder_id=nope", "limit=0", "limit=x", "before=-3"):
        st, doc = s.http("GET", "orderd", "/v1/audit?" + bad, role="auditor")
        assert st == 400 and doc["error"] == "invalid_value", (bad, st, doc)


@pytest.mark.parametrize("daemon", harness.DAEMONS)
def test_runtime_role_cannot_rewrite_the_trail(need_daemons, pg, db, daemon):
    role = daemon + "_rt"
    assert refused(pg, db, role, "INSERT INTO audit (request, method, route) "
                   "VALUES (gen_random_uuid(), 'GET', '/x')") is None
    for sql in ("UPDATE audit SET status = 1", "DELETE FROM audit", "TRUNCATE audit"):
        assert refused(pg, db, role, sql) == INSUFFICIENT_PRIVILEGE, (daemon, sql)


def test_acknowledged_writes_survive_kill9(need_daemons, pg, fresh_db):
    s = harness.System(pg, fresh_db, log_level="info")
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def writer():
        while not stop.is_set():
            sub, h = who(s, "operator")
            try:
                st, e = s.http("POST", "orderd", "/v1/elders", headers=h, timeout=5,
                               json=elder_body("1392222%04d" % (uuid.uuid4().int % 10000)))
            except (OSError, Exception):
                continue
            if st in (200, 201):
                with lock:
                    acked.append((sub, e["elder_id"]))
    try:
        s.start()
        threads = [threading.Thread(target=writer) for _ in range(4)]
        for t in threads:
            t.start()
        harness.wait_until(lambda: len(acked) >= 40, timeout=60, what="40 acknowledged writes")
        s.kill9("orderd")
        stop.set()
        for t in threads:
            t.join(20)
        s.restart("orderd")
        assert acked
        accepted = {r[0] for r in s.sql(
            "postgres", "SELECT account FROM orderd.audit WHERE route = '/v1/elders' "
            "AND method = 'POST' AND status IS NULL")}
        missing = [a for a, _ in acked if a not in accepted]
        assert not missing, "acknowledged writes without an audit row: %r" % missing[:5]
        # No committed write without its row: as many elders as accepted rows, or fewer.
        n_elders = s.sql("postgres", "SELECT count(*) FROM orderd.elders")[0][0]
        assert n_elders <= len(accepted), (n_elders, len(accepted))
        # The reply rows say which elder; those that made it agree.
        out = dict(s.sql("postgres", "SELECT account, ids->>'elder_id' FROM orderd.audit "
                         "WHERE route = '/v1/elders' AND status IS NOT NULL"))
        for sub, eid in acked:
            assert out.get(sub, eid) == eid, (sub, eid, out.get(sub))
    finally:
        stop.set()
        s.cleanup()


def test_gathered_placements_commit_no_earlier_than_their_accepted_rows(need_daemons, pg,
                                                                      fresh_db):
    """orderd gathers placements waiting for the writer into one statement
    already queued (od_app.c s_gather). Each one's accepted row must commit
    with it or before: its `at` (now() of its transaction) is never later
    than its order's created_at. --batch-max=2 splits the writer's queue
    into batches of two statements, so an audit statement often goes in one
    batch while the placements queued after it wait for the next: the case
    where a placement joining a statement ahead of a newer audit statement
    would break the rule (and did, with the mark check left out). Elders
    written meanwhile put another statement between them."""
    s = harness.System(pg, fresh_db, names=("orderd",), log_level="info",
                       extra_args={"orderd": {"batch-max": "2", "billingd-log": "",
                                              "dispatchd-log": "", "meald-log": ""}})
    try:
        s.start()
        elders = [post(s, "orderd", "/v1/elders", elder_body("1393333%04d" % i))["elder_id"]
                  for i in range(4)]
        cards = [post(s, "orderd", "/v1/cards", {"elder_id": e})["card_id"] for e in elders]
        m0 = s.metrics("orderd")
        cst = datetime.timezone(datetime.timedelta(hours=8))
        today = datetime.datetime.now(cst).replace(minute=0, second=0, microsecond=0)

        def day(d, hour):
            return (today + datetime.timedelta(days=d)).replace(hour=hour).isoformat()
        placed, errors, lock = [], [], threading.Lock()
        n_threads, per_thread = 12, 8
        go = threading.Barrier(n_threads)

        def caller(t):
            try:
                go.wait()
                for i in range(per_thread):
                    sub, h = who(s, "operator")
                    h["Idempotency-Key"] = "gather-%d-%d-%s" % (t, i, uuid.uuid4().hex[:8])
                    st, out = s.http("POST", "orderd", "/v1/orders", headers=h, json={
                        "card_id": cards[(t + i) % len(cards)], "service": "cleaning",
                        "window_start": day(1 + i % 7, 9), "window_end": day(1 + i % 7, 11)})
                    assert st == 202, (st, out)
                    with lock:
                        placed.append((sub, out["order_id"]))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
        done = threading.Event()

        def other_writes():
            # Writes of another statement between the audit statement and
            # the placements in the writer's queue.
            while not done.is_set():
                st, _ = s.http("POST", "orderd", "/v1/elders", json=elder_body(
                    "1394444%04d" % (uuid.uuid4().int % 10000)))
                assert st == 201, st
        others = [threading.Thread(target=other_writes) for _ in range(4)]
        threads = [threading.Thread(target=caller, args=(t,)) for t in range(n_threads)]
        for t in others + threads:
            t.start()
        for t in threads:
            t.join(60)
        done.set()
        for t in others:
            t.join(20)
        assert not errors, errors[:3]
        assert len(placed) == n_threads * per_thread
        late = s.sql("postgres", """
            SELECT a.account, a.at, o.created_at
              FROM orderd.audit a JOIN orderd.orders o ON o.id = ANY(%s::uuid[])
             WHERE a.account = ANY(%s) AND a.status IS NULL AND a.route = '/v1/orders'
               AND a.account = (SELECT x.sub FROM unnest(%s::text[], %s::uuid[]) AS x(sub, id)
                                 WHERE x.id = o.id)
               AND a.at > o.created_at""",
                     ([o for _, o in placed], [a for a, _ in placed], [a for a, _ in placed],
                      [o for _, o in placed]))
        assert not late, "orders committed before their accepted audit row: %r" % late[:5]
        accepted = s.sql("postgres", "SELECT count(*) FROM orderd.audit WHERE account = ANY(%s) "
                         "AND status IS NULL", ([a for a, _ in placed],))[0][0]
        assert accepted == len(placed)
        m1 = s.metrics("orderd")
        rows = lambda m: m.get("orderd_place_gathered_rows_total", 0.0)  # noqa: E731
        stmts = lambda m: m.get("orderd_place_gathered_statements_total", 0.0)  # noqa: E731
        assert rows(m1) - rows(m0) == len(placed)
        assert 0 < stmts(m1) - stmts(m0) <= len(placed)
    finally:
        s.cleanup()
