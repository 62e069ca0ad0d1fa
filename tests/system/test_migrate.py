"""tools/migrate.sh: every migration file is recorded once per schema, a
second run applies nothing, and a file that fails is rolled back whole and
not recorded. (Role isolation: test_schema_isolation.py.)"""

import os
import subprocess

import harness

DAEMONS = harness.DAEMONS


def _files(sub):
    d = os.path.join(harness.ROOT, "sql", sub)
    return sorted(f for f in os.listdir(d) if f.endswith(".sql")) if os.path.isdir(d) else []


def test_every_migration_recorded_once_and_rerun_applies_nothing(pg, empty_db):
    pg.migrate(empty_db)
    for d in DAEMONS:
        want = ["common/" + f for f in _files("common")] + ["%s/%s" % (d, f) for f in _files(d)]
        got = [r[0] for r in pg.execute("SELECT name FROM schema_migrations ORDER BY name",
                                        dbname=empty_db, user=d)]
        assert sorted(want) == got, d
    env = dict(os.environ, PGPORT=str(pg.port), PGHOST="127.0.0.1")
    r = subprocess.run([os.path.join(harness.ROOT, "tools", "migrate.sh"), empty_db], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out
    assert "(0 applied)" in out, out


def test_failed_migration_leaves_nothing(pg, empty_db, tmp_path):
    """A file that fails half-way is rolled back whole and not recorded."""
    root = tmp_path / "repo"
    (root / "tools").mkdir(parents=True)
    for f in ("migrate.sh", "lib.sh"):
        src = os.path.join(harness.ROOT, "tools", f)
        (root / "tools" / f).write_bytes(open(src, "rb").read())
        os.chmod(root / "tools" / f, 0o755)
    (root / "sql" / "common").mkdir(parents=True)
    (root / "sql" / "orderd").mkdir(parents=True)
    (root / "sql" / "orderd" / "001_ok.sql").write_text("CREATE TABLE t_ok (a int);\n")
    (root / "sql" / "orderd" / "002_bad.sql").write_text(
        "CREATE TABLE t_half (a int);\nSELECT 1 / 0;\n")
    (root / "sql" / "ORDER").write_text("orderd/001_ok.sql\norderd/002_bad.sql\n")
    env = dict(os.environ, PGPORT=str(pg.port), PGHOST="127.0.0.1")
    r = subprocess.run([str(root / "tools" / "migrate.sh"), empty_db], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode != 0
    names = [x[0] for x in pg.execute("SELECT name FROM schema_migrations ORDER BY name",
                                      dbname=empty_db, user="orderd")]
    assert "orderd/001_ok.sql" in names and "orderd/002_bad.sql" not in names, names
    assert pg.execute("SELECT to_regclass('orderd.t_half') IS NULL", dbname=empty_db) == [(True,)]
