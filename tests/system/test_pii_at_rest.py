"""Personal data at rest (docs/SECURITY.md, "Personal data"; od_pii.h).

- After elders with distinctive names, ID numbers, phones and addresses are
  registered and an order goes all the way to billed, a CHECKPOINT, and the
  daemons stopped: a byte scan of the whole cluster directory (data files,
  WAL, the server's log) and of every daemon's log finds none of them in
  clear. The scan is shown to work on every run: a canary planted in an
  order's notes is found.
- The API still answers with the opened values (GET /v1/elders/{id},
  ?phone= with and without separators); a second record for an ID number
  is 409 through the blind index.
- Key rotation: new active key, old key kept, rows re-sealed in bounded
  background batches, then the old key removed; the values open throughout.
- A missing or unsafe key file, or a key the rows were not sealed with,
  stops orderd with exit 2.
- An upgrade from e830a6f's data: orderd seals the rows in clear at start.
"""

import os
import uuid

import pytest

import harness
from test_journeys import (at, balance, id_number, ledger_ok, new_caregiver, new_card, order,
                           post, visit_step, wait_state)

NO_CONSUMERS = {"billingd-log": "", "dispatchd-log": "", "meald-log": ""}


@pytest.fixture(scope="module")
def own_pg(need_daemons):
    """A cluster of this module's own: the scan covers all of it."""
    cluster = harness.PgCluster().start()
    try:
        cluster.create_db("pii_tpl")
        cluster.migrate("pii_tpl")
        yield cluster
    finally:
        cluster.stop()


_n = iter(range(1, 10 ** 6))


@pytest.fixture
def pii_db(own_pg):
    name = "pii_%d" % next(_n)
    own_pg.create_db(name, template="pii_tpl")
    yield name
    own_pg.drop_db(name)


def person(born="19330303"):
    """Values no other test uses, easy to find as bytes."""
    tag = uuid.uuid4().hex[:8]
    return {"name": "秘密老人%s" % tag,
            "id_number": id_number(born),
            "phone": "1997%07d" % (uuid.uuid4().int % 10 ** 7),
            "address": "保密路%d号%s室" % (uuid.uuid4().int % 1000, tag)}


def register(s, p, expect=(201,)):
    body = dict(p, district_id=1, lat=30.2741, lon=120.1551,
                birth_date="%s-%s-%s" % (p["id_number"][6:10], p["id_number"][10:12],
                                         p["id_number"][12:14]),
                ability_level="severe", household="none", living="alone")
    return post(s, "orderd", "/v1/elders", body, expect=expect)


def scan(roots, needles):
    """{needle: [files holding it]} over every file under roots (bytes)."""
    found = {}
    enc = {n: n.encode() for n in needles}
    for root in roots:
        paths = [root] if os.path.isfile(root) else (
            os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
        for path in paths:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            for n, b in enc.items():
                if b in data:
                    found.setdefault(n, []).append(path)
    return found


def cluster_roots(pg, s):
    return [pg.base, s.workdir]   # data dir (WAL, pg_xact ...), server log; daemon logs


def test_no_personal_data_in_clear_anywhere(own_pg, pii_db):
    pg = own_pg
    s = harness.System(pg, pii_db, log_level="debug")
    try:
        s.start()
        people = [person() for _ in range(3)]
        ids = [register(s, p)["elder_id"] for p in people]
        # Read back: opened values, by id and by phone (the blind index).
        for p, e in zip(people, ids):
            st, got = s.http("GET", "orderd", "/v1/elders/%s" % e)
            assert st == 200
            assert (got["name"], got["phone"], got["address"]) == (
                p["name"], p["phone"], p["address"])
            st, found = s.http("GET", "orderd", "/v1/elders?phone=%s" % p["phone"])
            assert st == 200 and [x["elder_id"] for x in found["elders"]] == [e]
            assert found["elders"][0]["phone"] == p["phone"]
        spaced = people[0]["phone"][:3] + "%20" + people[0]["phone"][3:7] + "-" + \
            people[0]["phone"][7:]
        st, found = s.http("GET", "orderd", "/v1/elders?phone=%s" % spaced)
        assert st == 200 and [x["elder_id"] for x in found["elders"]] == [ids[0]]
        # One person, one record: by the ID number's blind index (a lower-case
        # check letter is the same number).
        dup = dict(person(), id_number=people[1]["id_number"].lower())
        out = register(s, dup, expect=(409,))
        assert out["field"] == "id_number" and out["elder_id"] == ids[1], out
        # An order through to billed: personal data must not leak into the
        # other daemons' stores or logs either.
        card = new_card(s, ids[0], topup_fen=100000)
        cg = new_caregiver(s, ["bath"], level=2)
        oid = order(s, card, "bath", start=at(1, 9), end=at(1, 12))["order_id"]
        o = wait_state(s, oid, "assigned")
        for step in ("accept", "check-in", "check-out"):
            visit_step(s, o["visit_id"], step, cg, lat=30.2741, lon=120.1551)
        wait_state(s, oid, "billed")
        assert balance(s, card)["held_fen"] == 0
        ledger_ok(s)
        # The store holds sealed values only.
        assert s.sql("orderd", "SELECT count(*) FROM elders WHERE name IS NOT NULL OR "
                     "id_number IS NOT NULL OR phone IS NOT NULL OR address IS NOT NULL "
                     "OR pii_key IS NULL") == [(0,)]
        assert s.stop() == {n: 0 for n in harness.DAEMONS}
        pg.execute("CHECKPOINT")
        needles = [v for p in people + [dup] for v in p.values()]
        needles += [p["id_number"].lower() for p in people]
        found = scan(cluster_roots(pg, s), needles)
        assert not found, "personal data in clear: %r" % found

        # The scan finds what is there: a canary in an order's notes.
        canary = "1997%07d" % (uuid.uuid4().int % 10 ** 7)
        pg.execute("UPDATE orderd.orders SET notes = %s WHERE id = %s", dbname=pii_db,
                   params=(canary, oid))
        pg.execute("CHECKPOINT")
        assert canary in scan([pg.datadir], [canary]), "the scan misses plaintext"
    finally:
        s.cleanup()


def _key_id(s):
    rows = s.sql("orderd", "SELECT DISTINCT pii_key FROM elders")
    return [r[0] for r in rows]


def _write_key(path):
    with open(path, "wb") as f:
        f.write(os.urandom(32))
    os.chmod(path, 0o600)
    harness.give_to_daemon_user(path)


def _values(s, ids):
    out = []
    for e in ids:
        st, got = s.http("GET", "orderd", "/v1/elders/%s" % e)
        assert st == 200, (st, got)
        out.append((got["name"], got["phone"], got["address"]))
    return out


def _exits(s, what, timeout=20):
    d = s.daemons["orderd"]
    d.start()
    d.proc.wait(timeout=timeout)
    return d.proc.returncode, d.log_text()


def test_key_rotation_round_trip(own_pg, pii_db):
    s = harness.System(own_pg, pii_db, names=("orderd",),
                       extra_args={"orderd": dict(NO_CONSUMERS, **{"pii-batch": "2"})})
    try:
        s.start()
        people = [person() for _ in range(5)]
        ids = [register(s, p)["elder_id"] for p in people]
        want = [(p["name"], p["phone"], p["address"]) for p in people]
        # Contacts are sealed too and move to the new key with the elders.
        kin = [{"name": "亲属%d" % i, "phone": "1370000%04d" % i, "relation": "child",
                 "priority": i + 1} for i in range(3)]
        st, _ = s.http("PATCH", "orderd", "/v1/elders/%s" % ids[0], json={"contacts": kin})
        assert st == 200
        [k1] = _key_id(s)
        s.stop()
        # Rotate: the current key becomes the old one, a new one is active.
        keys = s.keydir
        os.rename(os.path.join(keys, "pii.key"), os.path.join(keys, "pii-old.key"))
        _write_key(os.path.join(keys, "pii.key"))
        s.extra_args["orderd"]["pii-old-key-file"] = os.path.join(keys, "pii-old.key")
        s.start()
        assert _values(s, ids) == want   # old values open while rotation runs
        d = s.daemons["orderd"]
        harness.wait_until(lambda: any(x.get("event") == "pii_rotation_done"
                                       for x in d.log_lines()), timeout=20,
                           what="pii_rotation_done")
        done = [x for x in d.log_lines() if x.get("event") == "pii_rotation_done"][-1]
        assert done["rows"] == "5", done
        harness.wait_until(lambda: any(x.get("event") == "pii_contacts_rotation_done"
                                       for x in d.log_lines()), timeout=20,
                           what="pii_contacts_rotation_done")
        done = [x for x in d.log_lines() if x.get("event") == "pii_contacts_rotation_done"][-1]
        assert done["rows"] == "3", done
        assert s.sql("orderd", "SELECT DISTINCT pii_key FROM elder_contacts") != [(k1,)]
        [k2] = _key_id(s)
        assert k2 != k1
        # New rows are sealed under the new key; the index did not change.
        p6 = person()
        ids.append(register(s, p6)["elder_id"])
        want.append((p6["name"], p6["phone"], p6["address"]))
        register(s, dict(person(), id_number=people[0]["id_number"]), expect=(409,))
        assert _values(s, ids) == want
        s.stop()
        # The old key is no longer needed: gone, and everything opens.
        del s.extra_args["orderd"]["pii-old-key-file"]
        os.unlink(os.path.join(keys, "pii-old.key"))
        s.start()
        assert _values(s, ids) == want
        st, got = s.http("GET", "orderd", "/v1/elders/%s" % ids[0])
        assert [(c["name"], c["phone"]) for c in got["contacts"]] == \
            [(c["name"], c["phone"]) for c in kin], got["contacts"]
        st, found = s.http("GET", "orderd", "/v1/elders?phone=%s" % people[2]["phone"])
        assert [x["elder_id"] for x in found["elders"]] == [ids[2]]
        s.stop()
        # A key the rows were not sealed with: exit 2, naming the key id.
        os.rename(os.path.join(keys, "pii.key"), os.path.join(keys, "pii-b.key"))
        _write_key(os.path.join(keys, "pii.key"))
        rc, log = _exits(s, "wrong key")
        assert rc == 2, log[-2000:]
        assert "pii_key_unknown" in log and str(k2) in log
    finally:
        s.cleanup()


@pytest.mark.parametrize("case", ["missing", "mode_0644", "short", "index_is_data_key"])
def test_bad_key_file_exits_2(own_pg, pii_db, case):
    s = harness.System(own_pg, pii_db, names=("orderd",), extra_args={"orderd": NO_CONSUMERS})
    try:
        key = os.path.join(s.keydir, "pii.key")
        if case == "missing":
            os.unlink(key)
        elif case == "mode_0644":
            os.chmod(key, 0o644)
        elif case == "short":
            with open(key, "r+b") as f:
                f.truncate(16)
        else:
            s.extra_args["orderd"] = dict(NO_CONSUMERS, **{"pii-index-key-file": key})
        rc, log = _exits(s, case)
        assert rc == 2, log[-2000:]
        assert "personal-data key" in log and key in log, log[-2000:]
    finally:
        s.cleanup()


def test_upgrade_seals_the_rows_in_clear(own_pg, empty_db_own):
    """e830a6f's data (elders in clear) migrated to HEAD: orderd seals every
    row at start, before it serves, and shows the same values."""
    from test_migrations import BASELINE_E830A6F, load_fixture
    pg, db = own_pg, empty_db_own
    pg.migrate(db, upto=len(BASELINE_E830A6F))
    for d in harness.DAEMONS:
        pg.execute("ALTER TABLE schema_migrations DROP COLUMN checksum", dbname=db, user=d)
    load_fixture(pg, db)
    pg.migrate(db)
    before = pg.execute("SELECT id::text, name, phone, address FROM orderd.elders ORDER BY id",
                        dbname=db)
    assert before and all(r[2] for r in before)
    s = harness.System(pg, db, names=("orderd",), extra_args={"orderd": NO_CONSUMERS})
    try:
        s.start()
        assert s.sql("orderd", "SELECT count(*) FROM elders WHERE pii_key IS NULL "
                     "OR phone IS NOT NULL OR id_number IS NOT NULL") == [(0,)]
        for e, name, phone, address in before:
            st, got = s.http("GET", "orderd", "/v1/elders/%s" % e)
            assert st == 200 and (got["name"], got["phone"], got["address"]) == (
                name, phone, address)
            st, found = s.http("GET", "orderd", "/v1/elders?phone=%s" % phone)
            assert e in [x["elder_id"] for x in found["elders"]]
        # A second start finds nothing in clear.
        s.restart("orderd")
        assert not [x for x in s.daemons["orderd"].log_lines()[1:]
                    if x.get("event") == "pii_sealed_rows_in_clear"][1:]
    finally:
        s.cleanup()


@pytest.fixture
def empty_db_own(own_pg):
    name = "pii_empty_%d" % next(_n)
    own_pg.create_db(name)
    yield name
    own_pg.drop_db(name)
