"""od_order_place_many (sql/orderd/021_place_many.sql): a generator's batch
of placements in one statement decides each row as od_order_place and
od_order_place_nocard decide one order, and writes the same rows and event.

The elders and cards are made through orderd (their personal data sealed);
then the daemons are stopped and the functions are called directly, each
case once in a batch and once alone on keys of its own, and the two answers
compared (a row the batch got wrong shows as a difference). The generators'
use of it through the whole system: test_plans.py, test_duties.py."""

import json
import uuid

import pytest

import harness
from test_journeys import new_card, new_elder, post

WS, WE = 1893456000000000, 1893459600000000      # 2030-01-01 09:00-10:00 +08


@pytest.fixture(scope="module")
def parts(need_daemons, pg, db):
    s = harness.System(pg, db)
    try:
        s.start()
        e1, e2 = new_elder(s), new_elder(s)
        c1 = new_card(s, e1)
        blocked = new_card(s, e2)
        post(s, "orderd", "/v1/cards/%s/status" % blocked, {"status": "blocked"})
        s.stop()
        yield s, e1, c1, e2, blocked
    finally:
        s.cleanup()


def row(key, card=None, elder=None, service="visit", ws=WS, we=WE, notes="n", mode="delivery"):
    return {"id": str(uuid.uuid4()), "key": key, "card": card, "elder": elder,
            "service": service, "ws": ws, "we": we, "notes": notes,
            "pid": str(uuid.uuid4()), "placed": (key.encode() * 3).hex(), "mode": mode}


def many(s, rows, source="plan"):
    return s.sql("orderd", "SELECT n, outcome, order_id::text, state FROM "
                 "od_order_place_many(%s::jsonb, %s)", (json.dumps(rows), source))


def alone(s, r, source="plan"):
    if r["card"]:
        q = ("SELECT outcome, order_id::text, state FROM od_order_place(%s, %s, %s, %s, %s, %s, "
             "%s, false, %s, %s, %s, NULL, NULL, %s)")
        args = (r["id"], r["key"], r["card"], r["service"], r["ws"], r["we"], r["notes"],
                source, r["pid"], bytes.fromhex(r["placed"]), r["mode"])
    else:
        q = ("SELECT outcome, order_id::text, state FROM od_order_place_nocard(%s, %s, %s, %s, "
             "%s, %s, %s, false, %s, %s, %s, NULL, NULL, %s)")
        args = (r["id"], r["key"], r["elder"], r["service"], r["ws"], r["we"], r["notes"],
                source, r["pid"], bytes.fromhex(r["placed"]), r["mode"])
    return s.sql("orderd", q, args)[0]


def order_row(s, oid):
    return s.sql("orderd", "SELECT card_id::text, elder_id::text, district_id, service, state, "
                 "window_start, window_end, notes, source, meal_mode, emergency FROM orders "
                 "WHERE id = %s", (oid,))[0]


def test_new_orders_rows_history_and_events(parts):
    s, e1, c1, e2, _ = parts
    seq0 = s.sql("orderd", "SELECT coalesce(max(seq), 0) FROM events")[0][0]
    rows = [row("m:card", card=c1, service="meal", mode="eat_in"), row("m:nocard", elder=e2)]
    out = many(s, rows, source="mandated")
    assert [(n, o, st) for n, o, _, st in out] == [(1, "created", "placed"),
                                                   (2, "created", "placed")], out
    assert [x[2] for x in out] == [r["id"] for r in rows]
    # The same rows as one at a time would write.
    ref = [row("a:card", card=c1, service="meal", mode="eat_in"), row("a:nocard", elder=e2)]
    for r in ref:
        assert alone(s, r, source="mandated")[0] == "created"
    for got, want in zip(rows, ref):
        assert order_row(s, got["id"]) == order_row(s, want["id"]), got["key"]
        assert (s.sql("orderd", "SELECT state, event, detail FROM order_history WHERE order_id "
                      "= %s", (got["id"],)) ==
                s.sql("orderd", "SELECT state, event, detail FROM order_history WHERE order_id "
                      "= %s", (want["id"],)))
    assert order_row(s, rows[1]["id"])[0] is None          # no card
    assert order_row(s, rows[0]["id"])[9] == "eat_in"
    # One OrderPlaced each, in input order, right after the log's head,
    # with the payload given and the elder's district.
    ev = s.sql("orderd", "SELECT seq, id::text, type, key, district_id, payload FROM events "
               "WHERE seq > %s ORDER BY seq LIMIT 2", (seq0,))
    assert [(x[0], x[1], x[2], x[3]) for x in ev] == [
        (seq0 + 1, rows[0]["pid"], "OrderPlaced", rows[0]["id"]),
        (seq0 + 2, rows[1]["pid"], "OrderPlaced", rows[1]["id"])]
    assert bytes(ev[0][5]) == bytes.fromhex(rows[0]["placed"])
    assert ev[0][4] == order_row(s, rows[0]["id"])[2] and ev[0][4] > 0


def test_each_row_decided_as_alone(parts):
    s, e1, c1, e2, blocked = parts
    # Keys stored before, for the batch (b:) and for the single calls (a:).
    for p in ("b", "a"):
        for r in (row(p + ":same", card=c1), row(p + ":other", card=c1),
                  row(p + ":same-nc", elder=e2),
                  row(p + ":meal", card=c1, service="meal", mode="eat_in"),
                  row(p + ":meal-mode", card=c1, service="meal", mode="eat_in")):
            assert alone(s, r)[0] == "created"
    cases = [
        ("same", dict(card=c1)),                      # identical again: existing
        ("other", dict(card=c1, notes="changed")),    # same key, other body: conflict
        ("same-nc", dict(elder=e2)),                  # no card, identical: existing
        ("new-blocked", dict(card=blocked)),          # blocked card
        ("new-unknown", dict(card=str(uuid.uuid4()))),
        ("new-elder", dict(elder=str(uuid.uuid4()))),  # no card, unknown elder
        ("new-ok", dict(card=c1)),
        ("meal", dict(card=c1, service="meal", mode="eat_in")),        # existing
        ("meal-mode", dict(card=c1, service="meal", mode="delivery")),  # other mode: conflict
    ]
    batch = [row("b:" + k, **kw) for k, kw in cases]
    got = many(s, batch)
    assert [x[0] for x in got] == list(range(1, len(cases) + 1))
    for (k, kw), g in zip(cases, got):
        want = alone(s, row("a:" + k, **kw))
        assert g[1] == want[0], (k, g, want)
        assert (g[2] is None) == (want[1] is None) and g[3] == want[2], (k, g, want)
    assert [g[1] for g in got] == ["existing", "conflict", "existing", "card_unavailable",
                                   "card_unavailable", "unknown_elder", "created", "existing",
                                   "conflict"]
    # Nothing written for the refused rows.
    refused = [r["id"] for r, g in zip(batch, got) if g[1] != "created"]
    assert s.sql("orderd", "SELECT count(*) FROM orders WHERE id = ANY(%s::uuid[])",
                 (refused,))[0][0] == 0


def test_key_twice_in_a_batch_and_a_bad_window(parts):
    s, _, c1, _, _ = parts
    first, again = row("t:dup", card=c1), row("t:dup", card=c1)
    bad = row("t:bad", card=c1, we=WS)
    got = many(s, [first, again, bad])
    assert [g[1] for g in got] == ["created", "existing", "invalid_window"], got
    assert got[1][2] == first["id"]          # the one order, answered twice
    assert s.sql("orderd", "SELECT count(*) FROM orders WHERE idem_key IN ('t:dup', 't:bad')"
                 )[0][0] == 1
    # A re-sent batch (a reconnect after its COMMIT went through) creates
    # nothing: every row is answered with the order already stored.
    got2 = many(s, [first, again])
    assert [(g[1], g[2]) for g in got2] == [("existing", first["id"])] * 2
