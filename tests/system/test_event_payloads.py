"""Events carry only what their readers need (docs/SECURITY.md, "What events
carry"), with the four real daemons.

Orders with distinctive values (a diet, an ability level, notes) go through
the real saga; then each reader's own key fetches orderd's whole log from
its ROUTER, as the daemons' consumers do, and the bytes it is served are
searched:
- billingd gets no release at all (OrderReleased, VisitReleased,
  MealReleased), and no diet, ability level or notes;
- meald gets MealReleased with the diet, and never the ability level, an
  elder id or any notes;
- dispatchd gets VisitReleased with the ability level and the visit's
  notes, and never the diet or a meal's notes;
- a key admitted on the socket with no grant (here telephony's) gets
  nothing but markers;
- whatever is withheld comes as a Withheld marker (seq and id only), so
  every reader sees seq 1..head without a gap, and the real consumers
  count the markers and stay caught up.
Events appended before the split (OrderReleased) are still applied by
dispatchd and meald, and withheld from billingd. Stored copies: dispatchd
has no diet, meald no ability level."""

import datetime
import os
import subprocess
import sys
import tempfile
import uuid

import pytest

import harness
from test_journeys import at, new_card, new_caregiver, new_elder, order, post, wait_state

zmq = pytest.importorskip("zmq")

DIET = "canary-diet-5e1f"
ABILITY = "moderate"
VISIT_NOTES = "canary-visit-notes-31bd"
MEAL_NOTES = "canary-meal-notes-77aa"
RELEASES = {"OrderReleased", "VisitReleased", "MealReleased"}
READERS = ("billingd", "dispatchd", "meald")


@pytest.fixture(scope="module")
def s(need_daemons, pg, db):
    # telephony's key is admitted on orderd's log too, but has no grant.
    sysm = harness.System(pg, db, extra_args={
        "orderd": {"log-clients": "billingd,dispatchd,meald,telephony"}})
    try:
        sysm.start()
        yield sysm
    finally:
        sysm.cleanup()


@pytest.fixture(scope="module")
def pb():
    out = tempfile.mkdtemp(prefix="payloads-pb-")
    proto = os.path.join(harness.ROOT, "proto")
    files = [os.path.join(proto, f) for f in os.listdir(proto) if f.endswith(".proto")]
    try:
        subprocess.run(["protoc", "--python_out=" + out, "-I" + proto] + files, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip("protoc unavailable: %s" % e)
    sys.path.insert(0, out)
    import envelope_pb2
    import events_pb2
    return envelope_pb2, events_pb2


def served(s, pb, producer, me):
    """[(Envelope, its bytes)] of producer's whole log as the reader with
    key `me` is served it, Fetch after Fetch from seq 0; asserts the seqs
    run 1, 2, ... without a gap."""
    envelope, _ = pb
    ctx = zmq.Context()
    try:
        sock = s.zmq_socket(ctx, zmq.DEALER, producer, me=me)
        sock.connect(s.daemons[producer].log_endpoint)
        got, after = [], 0
        for n in range(1, 1000):
            f = envelope.Fetch(after_seq=after, max_events=100, wait_ms=0, consumer="probe")
            req = envelope.Envelope(type="Fetch", id=str(n), payload=f.SerializeToString())
            sock.send(req.SerializeToString())
            assert sock.poll(5000), "%s-log did not answer %s" % (producer, me)
            reply = envelope.Envelope.FromString(sock.recv())
            assert (reply.type, reply.id) == ("Events", str(n))
            evs = envelope.Events.FromString(reply.payload)
            for raw in evs.events:
                e = envelope.Envelope.FromString(raw)
                assert e.seq == after + 1, "%s: gap after seq %d" % (me, after)
                got.append((e, bytes(raw)))
                after = e.seq
            if not evs.events and after >= evs.head_seq:
                return got
        raise AssertionError("%s-log never reached its head for %s" % (producer, me))
    finally:
        ctx.destroy(linger=0)


def canaries(raw):
    return [c for c in (DIET, ABILITY, VISIT_NOTES, MEAL_NOTES) if c.encode() in raw]


def metric(s, daemon, name):
    return s.metrics(daemon).get(name, 0)


def test_each_reader_gets_only_its_release(s, pb):
    _, ev = pb
    elder = new_elder(s, ability=ABILITY, diet=DIET)
    card = new_card(s, elder, topup_fen=100000)
    post(s, "meald", "/v1/meal-points", {
        "name": "近食堂", "provider_id": "kitchen-1", "district_id": 1, "lat": 30.2750,
        "lon": 120.1560, "slots": [{"slot": "lunch", "capacity": 50, "cutoff": "10:00"}]})
    new_caregiver(s, ["bath"], level=3)
    meal = order(s, card, "meal", start=at(1, 11, 30), end=at(1, 12, 30),
                 notes=MEAL_NOTES)["order_id"]
    bath = order(s, card, "bath", notes=VISIT_NOTES)["order_id"]
    wait_state(s, meal, "assigned")
    wait_state(s, bath, "assigned")

    head = s.sql("orderd", "SELECT max(seq) FROM events")[0][0]
    got = {me: served(s, pb, "orderd", me) for me in READERS + ("telephony",)}
    for me, evs in got.items():
        assert [e.seq for e, _ in evs] == list(range(1, head + 1)), me
        for e, raw in evs:
            if e.type == "Withheld":   # seq and id, nothing of what it was
                assert (e.key, e.payload, e.district_id, e.time_us) == ("", b"", 0, 0), me
                assert e.id and not canaries(raw), me
    types = {me: [e.type for e, _ in evs] for me, evs in got.items()}

    # billingd: no release, none of the elder's health data or notes.
    assert not RELEASES & set(types["billingd"]), types["billingd"]
    assert "Withheld" in types["billingd"] and "OrderPlaced" in types["billingd"]
    assert [c for _, raw in got["billingd"] for c in canaries(raw)] == []

    # meald: the meal's release with its diet; no ability, elder id, notes.
    assert set(types["meald"]) - {"Withheld"} <= {"MealReleased", "OrderCancelled",
                                                  "AccountChanged"}, types["meald"]
    meal_raw = [raw for e, raw in got["meald"] if e.type == "MealReleased"]
    assert len(meal_raw) == 1 and DIET.encode() in meal_raw[0]
    assert [c for _, raw in got["meald"] for c in canaries(raw)] == [DIET]
    assert not any(elder.encode() in raw for _, raw in got["meald"])

    # dispatchd: the visit's release with ability and notes; no diet.
    assert set(types["dispatchd"]) - {"Withheld"} <= {"VisitReleased", "OrderCancelled",
                                                      "AccountChanged"}, types["dispatchd"]
    found = sorted({c for _, raw in got["dispatchd"] for c in canaries(raw)})
    assert found == sorted([ABILITY, VISIT_NOTES]), found

    # No grant, nothing but markers.
    assert set(types["telephony"]) == {"Withheld"}

    # The log holds one release per order, typed for its one reader.
    rows = s.sql("orderd", "SELECT key, type, payload FROM events WHERE type LIKE '%%Released'"
                 " ORDER BY seq")
    assert [(k, t) for k, t, _ in rows] == [(meal, "MealReleased"), (bath, "VisitReleased")]
    m = ev.MealReleased.FromString(bytes(rows[0][2]))
    assert (m.order_id, m.diet) == (meal, DIET)
    v = ev.VisitReleased.FromString(bytes(rows[1][2]))
    assert (v.order_id, v.elder_id, v.ability_level, v.notes) == (bath, elder, ABILITY,
                                                                  VISIT_NOTES)

    # The real consumers were served the same way, counted the markers and
    # are caught up (no gap stopped them).
    for me in READERS:
        assert metric(s, "orderd", 'evlog_events_withheld_total{log="orderd",reader="%s"}'
                      % me) > 0, me
        assert metric(s, me, 'consumer_events_withheld_total{consumer="%s",log="orderd"}'
                      % me) > 0, me
        harness.wait_until(
            lambda: metric(s, me, 'consumer_lag_events{consumer="%s",log="orderd"}' % me) == 0,
            timeout=10, what="%s caught up on orderd's log" % me)


def test_stored_copies_are_the_minimum(s):
    """dispatchd keeps no diet, meald no ability level, billingd neither;
    the address only as orderd sealed it for dispatchd and meald
    (address_sealed; test_address_transit.py shows no byte of it is in
    clear), and billingd none. A column planted for a moment shows the
    check would see one."""
    def stored():
        return sorted(s.sql("postgres", "SELECT table_schema, table_name, column_name "
                            "FROM information_schema.columns WHERE table_schema IN "
                            "('dispatchd', 'meald', 'billingd') AND (column_name LIKE "
                            "'%%diet%%' OR column_name LIKE '%%abilit%%' OR column_name "
                            "LIKE '%%address%%')"))
    want = [("dispatchd", "visits", "ability_level"), ("dispatchd", "visits", "address_sealed"),
            ("meald", "meals", "address_sealed"), ("meald", "meals", "diet")]
    assert stored() == want
    s.sql("postgres", "ALTER TABLE meald.meals ADD COLUMN ability_level text")
    try:
        assert stored() == sorted(want + [("meald", "meals", "ability_level")])
    finally:
        s.sql("postgres", "ALTER TABLE meald.meals DROP COLUMN ability_level")
    assert stored() == want


def test_releases_of_older_logs_still_apply(s, pb):
    """OrderReleased, as appended before the split (every field, both
    readers' alike): dispatchd applies a visit's, meald a meal's, each
    reading only its own fields; billingd is served neither."""
    _, ev = pb
    visit_oid, meal_oid = str(uuid.uuid4()), str(uuid.uuid4())
    start = at(1, 11, 30)
    t0 = int(datetime.datetime.fromisoformat(start).timestamp()) * 10**6
    for oid, service in ((visit_oid, ev.BATH), (meal_oid, ev.MEAL)):
        m = ev.OrderReleased(order_id=oid, elder_id=str(uuid.uuid4()), service=service,
                             window_start_us=t0, window_end_us=t0 + 3600 * 10**6,
                             district_id=1, lat=30.2741, lon=120.1551, ability_level=ABILITY,
                             diet=DIET, notes=VISIT_NOTES, priority=1)
        s.sql("orderd", "SELECT cc_append('OrderReleased', %s, %s, 1, %s)",
              (str(uuid.uuid4()), oid, m.SerializeToString()))
    harness.wait_until(lambda: s.sql("dispatchd", "SELECT 1 FROM visits WHERE order_id = %s",
                                     (visit_oid,)), timeout=10, what="dispatchd applied it")
    assert s.sql("dispatchd", "SELECT ability_level, notes FROM visits WHERE order_id = %s",
                 (visit_oid,)) == [(ABILITY, VISIT_NOTES)]
    assert s.sql("dispatchd", "SELECT 1 FROM visits WHERE order_id = %s", (meal_oid,)) == []
    harness.wait_until(lambda: s.sql("meald", "SELECT 1 FROM meals WHERE order_id = %s",
                                     (meal_oid,)), timeout=10, what="meald applied it")
    assert s.sql("meald", "SELECT diet FROM meals WHERE order_id = %s", (meal_oid,)) == [(DIET,)]
    assert s.sql("meald", "SELECT 1 FROM meals WHERE order_id = %s", (visit_oid,)) == []
    for e, raw in served(s, pb, "orderd", "billingd"):
        assert e.type not in RELEASES and not canaries(raw), e.type
