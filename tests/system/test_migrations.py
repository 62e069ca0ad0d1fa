"""tools/migrate.sh and sql/ORDER: one order of migrations for a fresh
install and an upgrade, append-only.

- a fresh install applies sql/ORDER in order, records each file once with
  its sha256, and a second run applies nothing; a file that fails half-way
  is rolled back whole and not recorded;
- the upgrade from the schema of e830a6f (the last commit before sql/ORDER),
  with data e830a6f's own daemons put in it (tests/fixtures/e830a6f-data.sql,
  made by tests/fixtures/make_e830a6f_data.py from a build of e830a6f), to
  this HEAD: the data stays, today's daemons start and carry on (an order
  from before the upgrade and a new one both reach billed);
- migrate.sh refuses, applying nothing: a .sql file not in sql/ORDER, an
  entry without a file, an entry inserted before an applied one, an applied
  file that was edited, and an applied migration sql/ORDER no longer lists.

PgCluster.migrate(db, upto=N) applies only the first N entries of sql/ORDER:
an upgrade test from a later release adds its own BASELINE list the same way.
(Role isolation: test_schema_isolation.py.)"""

import hashlib
import json
import os
import shutil
import subprocess
import uuid

import pytest

import harness
from test_journeys import at, balance, get_order, ledger_ok, order, visit_step, wait_state

DAEMONS = harness.DAEMONS
TOOLS = ("migrate.sh", "lib.sh")

# The migrations at e830a6f, in the order its migrate.sh applied them within
# a schema (common first, then the daemon's), with each file's sha256 then.
# Hard-coded: CI may have no git history. They must stay the first entries of
# sql/ORDER with these very contents (applied files are never edited).
BASELINE_E830A6F = [
    ("common/001_eventlog.sql",
     "ed4f40f98ee8c133c94aa90093cd9343e43ed725a8de02fc973c08cc027fbb76"),
    ("common/002_consume_in_order.sql",
     "877a3db270173601d137bcd4ebf1a6ce05b2cebdaa8520c77675246831fa990c"),
    ("common/003_no_hot_rows.sql",
     "698a37fd2c2e8b07b6237294345395760f54810a9d677408a5ec4f68b2688ebe"),
    ("common/004_skip_runs.sql",
     "8953467956b0a548b461df639aeb234cfeef6119ad33a821a649772bbaa8c8a8"),
    ("common/005_append_one_statement.sql",
     "46ed027a34f4254fa06ed9e97b8c70f10b1d3101e89f8c9304720a8a96adb4e5"),
    ("common/006_consume_covered.sql",
     "d03f6ca7d1d5af4b0231f4cf308f40c0895a5ebc696bc5d0876479457a7d2221"),
    ("common/007_position_inline.sql",
     "62c8172b1649f529fb08690df336fcf5fb544fe05d235207380ed42685b14224"),
    ("orderd/001_orderd.sql",
     "e7379d0b3ddff76098959efdd3a671bf02c6500141322ed613a51c9e234cb8ef"),
    ("orderd/002_effects_report_state.sql",
     "416925f3f341566a71e1b646b353fb83a0cef8e478f71ccff8fe2334a30bcd29"),
    ("orderd/003_fold_saga_steps.sql",
     "92cdbf1d2a3385f6bf4b183ea6a6577fb9a61d9887399ba89a26a005527b9a31"),
    ("orderd/004_inline_time_conversions.sql",
     "d68453afd770287059d1721d452108a36aac4ab6bf7f1b926386ca2ed01da114"),
    ("orderd/005_place_fewer_statements.sql",
     "400394499f73775c9239b6cf29f047672c820ecfad9d9bf488aac678696a6048"),
    ("orderd/006_place_invalid_after_lookup.sql",
     "cf6ac1317a1608782a922a379f0626cbe03e6baf4b08364408c95035fcbe17bc"),
    ("orderd/007_checks_by_domain.sql",
     "12c471805a98aecbb66401e79c45fa07015757ca6283ebe3af0ef9e2ae96eee5"),
    ("billingd/001_ledger.sql",
     "66ed27ddd9b1aaa3b6e321131f0f3186151d2d2ee83f73b08bb5c37f1cd17427"),
    ("billingd/002_functions.sql",
     "d4dd1226f3b0ffeeae0446b30556a7b34d6cab0139e731760479cfbbc0e72739"),
    ("billingd/003_deliveries.sql",
     "41e2f6e122c29831b7837965bceb726cebfe6c785060405c2d1e714ec7886ad8"),
    ("billingd/004_post_once.sql",
     "8739f8783d0ffc252bb39687fed02f68ebeefffad0c723832d9a7f7556596945"),
    ("dispatchd/001_dispatch.sql",
     "54ed6e503c2f1ce643c9214008204719ccca6035ce8b26c0e43000d1253fb8e5"),
    ("dispatchd/002_released_replay.sql",
     "f0ad7d08bbe6e098b574a11fabb8cdf6b2046c56b0f581bfd821adfea948a277"),
    ("dispatchd/003_preempt.sql",
     "7fe7ab30375b121ec9e7dfe4b9397839a2a71e691b166b2af91122fddfaa5473"),
    ("dispatchd/004_lean_visit_writes.sql",
     "abf046541c46940d26b08a4221389230330e1e5a19b664b90c01c83d59984bc8"),
    ("dispatchd/005_checks_by_domain.sql",
     "8afdf67875c2bf1c46aaa0d1620da5ac7f10c80dcdfe8114c42e8a355aa293bb"),
    ("meald/001_meald.sql",
     "c1e1661c0ba05bde820f60f7af1eaae1b61937d20c1d10c37b8fee842ceda8fd"),
    ("meald/002_inline_time_conversions.sql",
     "688f566608c24f945d511ed8434bcb92930b6b6552346f5159ce53f31853518a"),
]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def for_schema(entries, d):
    """The entries of sql/ORDER that migrate.sh applies to schema d."""
    return [e for e in entries if e.startswith("common/") or e.startswith(d + "/")]


def recorded(pg, db, d):
    """(name, checksum) rows of d's schema_migrations in the order applied."""
    cols = [r[0] for r in pg.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = 'schema_migrations'", dbname=db, params=(d,))]
    checksum = "checksum" if "checksum" in cols else "NULL"
    return pg.execute("SELECT name, %s FROM %s.schema_migrations ORDER BY applied_at, name"
                      % (checksum, d), dbname=db)


def repo_copy(tmp_path):
    """tools/migrate.sh, tools/lib.sh and sql/ copied to a scratch repository
    the test may change."""
    root = tmp_path / "repo"
    (root / "tools").mkdir(parents=True)
    for f in TOOLS:
        shutil.copy2(os.path.join(harness.ROOT, "tools", f), root / "tools" / f)
    shutil.copytree(os.path.join(harness.ROOT, "sql"), root / "sql")
    return root


# ---------------------------------------------------------------- fresh

def test_fresh_install_applies_the_manifest_in_order_then_nothing(pg, empty_db):
    entries = harness.manifest()
    out = pg.migrate(empty_db)
    # Globally in manifest order: a common entry goes to every schema.
    want_log = ["%s: apply %s" % (d, e) for e in entries
                for d in (DAEMONS if e.startswith("common/") else (e.split("/")[0],))]
    got_log = [ln.split("migrate.sh: ", 1)[1] for ln in out.splitlines() if ": apply " in ln]
    assert got_log == want_log, out
    for d in DAEMONS:
        want = [(e, sha256(os.path.join(harness.ROOT, "sql", e))) for e in for_schema(entries, d)]
        assert recorded(pg, empty_db, d) == want, d
    out = pg.migrate(empty_db)
    assert "(0 applied)" in out and ": apply " not in out, out


def test_in_steps_is_the_same_as_at_once(pg, empty_db):
    entries = harness.manifest()
    for n in (1, 8, len(entries) - 1):
        out = pg.migrate(empty_db, upto=n)
        assert "(0 applied)" not in out, (n, out)
    pg.migrate(empty_db, upto=3)          # already past it: nothing to do
    pg.migrate(empty_db)
    for d in DAEMONS:
        assert [r[0] for r in recorded(pg, empty_db, d)] == for_schema(entries, d), d
    rc, out = pg.run_migrate(empty_db, upto="meald/999_none.sql")
    assert rc != 0 and "no such entry" in out, out


def test_failed_migration_leaves_nothing(pg, empty_db, tmp_path):
    """A file that fails half-way is rolled back whole and not recorded."""
    root = tmp_path / "repo"
    (root / "tools").mkdir(parents=True)
    for f in TOOLS:
        shutil.copy2(os.path.join(harness.ROOT, "tools", f), root / "tools" / f)
    (root / "sql" / "orderd").mkdir(parents=True)
    (root / "sql" / "orderd" / "001_ok.sql").write_text("CREATE TABLE t_ok (a int);\n")
    (root / "sql" / "orderd" / "002_bad.sql").write_text(
        "CREATE TABLE t_half (a int);\nSELECT 1 / 0;\n")
    (root / "sql" / "ORDER").write_text("orderd/001_ok.sql\norderd/002_bad.sql\n")
    rc, out = pg.run_migrate(empty_db, root=root)
    assert rc != 0, out
    names = [x[0] for x in pg.execute("SELECT name FROM schema_migrations ORDER BY name",
                                      dbname=empty_db, user="orderd")]
    assert names == ["orderd/001_ok.sql"], names
    assert pg.execute("SELECT to_regclass('orderd.t_half') IS NULL", dbname=empty_db) == [(True,)]


# -------------------------------------------------------------- upgrade

def test_baseline_is_the_head_of_the_manifest_unchanged():
    names = [n for n, _ in BASELINE_E830A6F]
    assert harness.manifest()[:len(names)] == names
    for name, digest in BASELINE_E830A6F:
        assert sha256(os.path.join(harness.ROOT, "sql", name)) == digest, \
            "sql/%s was edited after release: add a new migration instead" % name


def snapshot(pg, db, columns=None):
    """{schema.table: (row count, md5 of the rows)} of every daemon table,
    over the columns given per table (default: all it has now), so that a
    later migration adding a column does not count as a change."""
    tables = pg.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE' "
        "AND table_name <> 'schema_migrations' ORDER BY 1", dbname=db, params=(list(DAEMONS),))
    out, cols = {}, {}
    for (t,) in tables:
        s, n = t.split(".")
        c = (columns or {}).get(t) or [r[0] for r in pg.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s ORDER BY ordinal_position", dbname=db, params=(s, n))]
        cols[t] = c
        row = ", ".join('"%s"' % x for x in c)
        out[t] = pg.execute("SELECT count(*), md5(coalesce(string_agg(r::text, E'\\n' "
                            "ORDER BY r::text), '')) FROM (SELECT %s FROM %s) r" % (row, t),
                            dbname=db)[0]
    return out, cols


FIXTURE = os.path.join(harness.ROOT, "tests", "fixtures", "e830a6f-data.sql")


def load_fixture(pg, db, path=FIXTURE):
    """Load the rows e830a6f's daemons wrote (tests/fixtures/e830a6f-data.sql,
    made by make_e830a6f_data.py: today's daemons refuse that schema) with
    psql as the superuser, in one transaction. Returns the scenario its
    header records: the ids of the card, orders and caregivers, the states
    and the card's balance."""
    seen = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("-- scenario: "):
                seen = json.loads(line[len("-- scenario: "):])
                break
    assert seen, "%s has no '-- scenario:' line" % path
    r = subprocess.run([os.path.join(harness.PG_BIN, "psql"), "-X", "-q", "-v",
                        "ON_ERROR_STOP=1", "--single-transaction", "-f", path,
                        pg.conninfo(db)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    # Identity columns number on after the loaded rows (the dump sets them).
    for s, t, c in pg.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = ANY(%s) AND is_identity = 'YES'", dbname=db,
            params=(list(DAEMONS),)):
        top, last = pg.execute(
            "SELECT (SELECT max(%s) FROM %s.%s), pg_sequence_last_value("
            "pg_get_serial_sequence(%%s, %%s))" % (c, s, t), dbname=db,
            params=("%s.%s" % (s, t), c))[0]
        assert top is None or (last or 0) >= top, (s, t, c, top, last)
    return seen


def test_upgrade_from_e830a6f_keeps_the_data_and_the_daemons_work(need_daemons, pg, empty_db):
    db = empty_db
    names = [n for n, _ in BASELINE_E830A6F]
    pg.migrate(db, upto=len(names))
    # The table as e830a6f's migrate.sh left it: no checksum column.
    for d in DAEMONS:
        pg.execute("ALTER TABLE schema_migrations DROP COLUMN checksum", dbname=db, user=d)
        assert [r[0] for r in recorded(pg, db, d)] == for_schema(names, d), d

    # The data of e830a6f's own daemons (today's refuse its schema).
    seen = load_fixture(pg, db)
    s = harness.System(pg, db)
    try:
        before, cols = snapshot(pg, db)
        assert sum(n for n, _ in before.values()) > 50, before

        out = pg.migrate(db)
        entries = harness.manifest()
        new = entries[len(names):]
        n_new = sum(len(DAEMONS) if e.startswith("common/") else 1 for e in new)
        assert "(%d applied)" % n_new in out, out
        assert "recorded the sha256" in out, out
        for d in DAEMONS:
            want = [(e, sha256(os.path.join(harness.ROOT, "sql", e)))
                    for e in for_schema(entries, d)]
            assert recorded(pg, db, d) == want, d
        after, _ = snapshot(pg, db, cols)
        for t, v in before.items():
            assert after.get(t) == v, "%s changed by the upgrade: %r -> %r" % (
                t, v, after.get(t))
        assert "(0 applied)" in pg.migrate(db)
        # What expired while dispatchd was down is resolved overdue_s (monotonic)
        # after it starts (cc_clock): shorten that stage, as an operator may.
        pg.execute("UPDATE dispatchd.deadlines SET overdue_s = 1", dbname=db)

        s.start()
        for k, state in seen["states"].items():
            assert get_order(s, seen["orders"][k])["state"] == state, k
        assert balance(s, seen["card"]) == seen["balance"]
        # The order in progress before the upgrade finishes after it: checked
        # in when the fixture was made, long past its check-out deadline
        # (dispatchd.deadlines, issue 11), it is now an exception that a
        # dispatcher confirms, no longer the caregiver's to check out.
        o = get_order(s, seen["orders"]["escort"])

        def unconfirmed():
            st, v = s.http("GET", "dispatchd", "/v1/visits/%s" % o["visit_id"])
            return st == 200 and v["state"] == "unconfirmed"
        harness.wait_until(unconfirmed, timeout=10, what="the stale visit unconfirmed")
        st, err = s.http("POST", "dispatchd", "/v1/visits/%s/check-out" % o["visit_id"],
                         json={"caregiver_id": seen["escort"], "lat": 30.2741,
                               "lon": 120.1551})
        assert st == 409, (st, err)
        st, out = s.http("POST", "dispatchd", "/v1/visits/%s/confirm" % o["visit_id"], json={})
        assert st == 200 and out["state"] == "completed", (st, out)
        wait_state(s, seen["orders"]["escort"], "billed")
        # And a new one goes all the way.
        oid = order(s, seen["card"], "bath", key=str(uuid.uuid4()), start=at(2, 9),
                    end=at(2, 12))["order_id"]
        o = wait_state(s, oid, "assigned")
        assert o["caregiver_id"] == seen["bather"]
        for step in ("accept", "check-in", "check-out"):
            visit_step(s, o["visit_id"], step, seen["bather"], lat=30.2741, lon=120.1551)
        wait_state(s, oid, "billed")
        assert balance(s, seen["card"])["held_fen"] == 0
        ledger_ok(s)
    finally:
        s.cleanup()


# ------------------------------------------------------------- refusals

def _unlisted(root):
    (root / "sql" / "common" / "999_unlisted.sql").write_text("CREATE TABLE t_x (a int);\n")
    return "sql/common/999_unlisted.sql is not listed in sql/ORDER"


def _no_file(root):
    with open(root / "sql" / "ORDER", "a") as f:
        f.write("orderd/999_missing.sql\n")
    return "orderd/999_missing.sql has no file"


def _inserted_in_the_middle(root):
    (root / "sql" / "orderd" / "999_mid.sql").write_text("CREATE TABLE t_x (a int);\n")
    text = (root / "sql" / "ORDER").read_text()
    mark = "orderd/001_orderd.sql\n"
    assert mark in text
    (root / "sql" / "ORDER").write_text(text.replace(mark, mark + "orderd/999_mid.sql\n"))
    return "orderd: orderd/999_mid.sql is not applied but comes before the applied"


def _edited(root):
    with open(root / "sql" / "meald" / "001_meald.sql", "a") as f:
        f.write("-- a harmless-looking edit\n")
    return "meald: sql/meald/001_meald.sql changed after it was applied"


def _dropped(root):
    p = root / "sql" / "dispatchd" / "005_checks_by_domain.sql"
    p.unlink()
    text = (root / "sql" / "ORDER").read_text()
    (root / "sql" / "ORDER").write_text(text.replace("dispatchd/005_checks_by_domain.sql\n", ""))
    return "dispatchd: dispatchd/005_checks_by_domain.sql is recorded as applied but"


@pytest.mark.parametrize("change", [_unlisted, _no_file, _inserted_in_the_middle, _edited,
                                    _dropped], ids=lambda f: f.__name__.strip("_"))
def test_refuses_and_applies_nothing(pg, empty_db, tmp_path, change):
    root = repo_copy(tmp_path)
    pg.migrate(empty_db, root=root)
    before = {d: recorded(pg, empty_db, d) for d in DAEMONS}
    why = change(root)
    rc, out = pg.run_migrate(empty_db, root=root)
    assert rc != 0, out
    assert why in out, out
    assert "refusing to migrate database %s: nothing was applied" % empty_db in out, out
    assert ": apply " not in out, out
    assert {d: recorded(pg, empty_db, d) for d in DAEMONS} == before
    assert pg.execute("SELECT count(*) FROM pg_tables WHERE tablename = 't_x'",
                      dbname=empty_db) == [(0,)]


def test_appending_is_the_way(pg, empty_db, tmp_path):
    """What the refusals point to: a new file at the end of sql/ORDER is
    applied on an upgrade, once, as on a fresh install."""
    root = repo_copy(tmp_path)
    pg.migrate(empty_db, root=root)
    (root / "sql" / "common" / "999_later.sql").write_text("CREATE TABLE t_later (a int);\n")
    with open(root / "sql" / "ORDER", "a") as f:
        f.write("common/999_later.sql   # after every daemon's files\n")
    out = pg.migrate(empty_db, root=root)
    assert "(%d applied)" % len(DAEMONS) in out, out
    for d in DAEMONS:
        assert recorded(pg, empty_db, d)[-1][0] == "common/999_later.sql", d
    assert "(0 applied)" in pg.migrate(empty_db, root=root)
