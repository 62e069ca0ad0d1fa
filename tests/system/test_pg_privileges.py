"""PostgreSQL: every role has a password, and a daemon's runtime role can do
only what the daemon's statements need (docs/SECURITY.md, "PostgreSQL").

- no connection without the password (TCP and the local socket), none with
  a wrong one, for every role, the superuser included; pg_hba.conf has no
  line other than scram-sha-256; every role's password is a SCRAM verifier;
  data checksums are on;
- the runtime role <daemon>_rt cannot TRUNCATE, ALTER TABLE, DROP TABLE,
  ALTER TABLE ... DISABLE TRIGGER, or switch triggers off for its session,
  on any table of its schema; billingd's ledger (transfers, postings) and
  any audit table are INSERT-only for it (UPDATE and DELETE fail);
- the catalog agrees: the runtime role owns nothing, is a member of nothing,
  holds no TRUNCATE/REFERENCES/TRIGGER/DELETE (but DELETE_ALLOWED) and no
  CREATE on a schema, and
  its search_path is its schema;
- the running daemons are connected as their runtime roles only (never the
  owner or the superuser), with no password in their argv, and the password
  files are mode 0600.
"""

import os
import stat

import psycopg2
import pytest

import harness

DAEMONS = harness.DAEMONS
INSUFFICIENT_PRIVILEGE = "42501"
# DELETE the runtime role holds on purpose: an elder's contact list is
# replaced as a whole (sql/orderd/014_elder_records.sql grants it;
# services/orderd/od_elders.c; the history keeps each replacement).
DELETE_ALLOWED = {("orderd.elder_contacts", "DELETE")}
# Tables the runtime role may only add to (and read).
INSERT_ONLY = {"billingd": ("transfers", "postings")}


def rt(d):
    return d + "_rt"


def tables(pg, db, schema):
    return [r[0] for r in pg.execute(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = %s::regnamespace "
        "AND c.relkind IN ('r', 'p') ORDER BY 1", dbname=db, params=(schema,))]


def insert_only(pg, db, d):
    """The INSERT-only tables of d: the ledger's, and any audit table."""
    return sorted(set(INSERT_ONLY.get(d, ())) |
                  {t for t in tables(pg, db, d) if "audit" in t})


def refused(pg, db, role, sql):
    """Run sql as role in one transaction (rolled back): the SQLSTATE it
    failed with, or None if it worked."""
    c = pg.connect(db, role, autocommit=False)
    try:
        with c.cursor() as cur:
            cur.execute(sql)
        return None
    except psycopg2.Error as e:
        return e.pgcode
    finally:
        c.rollback()
        c.close()


# ------------------------------------------------------------ passwords

@pytest.mark.parametrize("role", harness.PG_ROLES)
def test_no_login_without_the_password(pg, db, role):
    tcp = "host=127.0.0.1 port=%d dbname=%s user=%s" % (pg.port, db, role)
    sock = "host=%s port=%d dbname=%s user=%s" % (pg.sockdir, pg.port, db, role)
    for conninfo in (tcp, sock):
        # passfile=/dev/null: no ~/.pgpass of whoever runs the tests helps.
        for extra in (" passfile=/dev/null", " password=wrong-password"):
            with pytest.raises(psycopg2.OperationalError) as e:
                psycopg2.connect(conninfo + extra).close()
            msg = str(e.value)
            assert "no password supplied" in msg or "password authentication failed" in msg, \
                (role, conninfo, extra, msg)
    # With its own passfile it gets in.
    c = psycopg2.connect(pg.conninfo(db, role))
    c.close()


def test_hba_is_scram_only_and_every_role_has_a_scram_password(pg):
    rules = pg.execute("SELECT type, database, user_name, address, auth_method, error "
                       "FROM pg_hba_file_rules")
    assert rules, "pg_hba.conf has no rules"
    for typ, _, _, address, method, error in rules:
        assert error is None, rules
        assert method == "scram-sha-256", rules
        assert typ == "local" or address in ("127.0.0.1", "::1"), rules
    rows = dict(pg.execute("SELECT rolname, coalesce(rolpassword, '') FROM pg_authid "
                           "WHERE rolcanlogin"))
    for role in harness.PG_ROLES:
        assert rows.get(role, "").startswith("SCRAM-SHA-256$"), (role, rows.get(role, "")[:14])
    assert pg.execute("SHOW data_checksums") == [("on",)]


def test_password_files_are_private(pg):
    # Not listable by others; as root only traversable (0711), so that the
    # daemon user reaches the runtime roles' passfiles handed to it.
    du = harness.daemon_user()
    st = os.stat(pg.secrets)
    assert stat.S_IMODE(st.st_mode) == (0o711 if du else 0o700), oct(st.st_mode)
    for name in os.listdir(pg.secrets):
        st = os.stat(os.path.join(pg.secrets, name))
        assert stat.S_IMODE(st.st_mode) == 0o600, (name, oct(st.st_mode))
        daemons = du is not None and name.startswith("pgpass-") and name.endswith("_rt")
        assert st.st_uid == (du.pw_uid if daemons else os.geteuid()), name


# ------------------------------------------------------- runtime roles

@pytest.mark.parametrize("d", DAEMONS)
def test_runtime_role_cannot_change_or_destroy_tables(pg, db, d):
    ts = tables(pg, db, d)
    assert ts, d
    for t in ts:
        q = "%s.%s" % (d, t)
        for sql in ("TRUNCATE %s" % q,
                    "TRUNCATE %s CASCADE" % q,
                    "ALTER TABLE %s ADD COLUMN intruder int" % q,
                    "ALTER TABLE %s DISABLE TRIGGER ALL" % q,
                    "ALTER TABLE %s DISABLE TRIGGER USER" % q,
                    "ALTER TABLE %s OWNER TO %s" % (q, rt(d)),
                    "DROP TABLE %s" % q,
                    "DROP TABLE %s CASCADE" % q):
            assert refused(pg, db, rt(d), sql) == INSUFFICIENT_PRIVILEGE, (rt(d), sql)
    for sql in ("SET session_replication_role = replica",      # triggers off
                "CREATE TABLE %s.intruder (x int)" % d,
                "CREATE FUNCTION %s.intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'" % d,
                "DROP SCHEMA %s CASCADE" % d):
        assert refused(pg, db, rt(d), sql) == INSUFFICIENT_PRIVILEGE, (rt(d), sql)


def test_billingd_ledger_is_insert_only_for_the_runtime_role(pg, db):
    # The ledger, and the audit trail every schema has (test_audit.py).
    assert insert_only(pg, db, "billingd") == ["audit", "postings", "transfers"]
    for t in ("postings", "transfers"):
        for sql in ("DELETE FROM billingd.%s" % t,
                    "UPDATE billingd.%s SET transfer_id = transfer_id" % t,
                    "TRUNCATE billingd.%s" % t,
                    "ALTER TABLE billingd.%s DISABLE TRIGGER %s_append_only" % (t, t)):
            assert refused(pg, db, "billingd_rt", sql) == INSUFFICIENT_PRIVILEGE, sql
    # What billingd does write to its ledger still works: INSERT (a transfer
    # whose postings sum to zero).
    assert refused(pg, db, "billingd_rt",
                   "WITH t AS (INSERT INTO transfers (transfer_id, kind) VALUES "
                   "(gen_random_uuid(), 'topup') RETURNING transfer_id) "
                   "INSERT INTO postings (transfer_id, account, amount) "
                   "SELECT transfer_id, a, m FROM t, (VALUES ('source:family', -5), "
                   "('subsidy_fund', 5)) v (a, m)") is None


@pytest.mark.parametrize("d", DAEMONS)
def test_catalog_grants_the_runtime_role_no_more(pg, db, d):
    role = rt(d)
    attrs = pg.execute("SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
                       "rolbypassrls, rolinherit, rolcanlogin FROM pg_roles "
                       "WHERE rolname = %s", params=(role,))
    assert attrs == [(False, False, False, False, False, False, True)], attrs
    assert pg.execute("SELECT count(*) FROM pg_auth_members WHERE member = %s::regrole",
                      params=(role,)) == [(0,)]
    owned = pg.execute(
        "SELECT 'class ' || relname FROM pg_class WHERE relowner = %(r)s::regrole "
        "UNION ALL SELECT 'proc ' || proname FROM pg_proc WHERE proowner = %(r)s::regrole "
        "UNION ALL SELECT 'type ' || typname FROM pg_type WHERE typowner = %(r)s::regrole "
        "UNION ALL SELECT 'schema ' || nspname FROM pg_namespace "
        "WHERE nspowner = %(r)s::regrole", dbname=db, params={"r": role})
    assert owned == [], owned
    # Table privileges, over every table and view of the database.
    bad = pg.execute(
        "SELECT table_schema || '.' || table_name, privilege_type "
        "FROM information_schema.role_table_grants WHERE grantee = %s "
        "AND (privilege_type IN ('TRUNCATE', 'REFERENCES', 'TRIGGER', 'DELETE') "
        "     OR table_schema <> %s) ORDER BY 1, 2", dbname=db, params=(role, d))
    bad = [b for b in bad if b not in DELETE_ALLOWED]
    assert bad == [], bad
    for t in insert_only(pg, db, d):
        got = sorted(r[0] for r in pg.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s AND table_schema = %s AND table_name = %s",
            dbname=db, params=(role, d, t)))
        assert got == ["INSERT", "SELECT"], (t, got)
    schemas = pg.execute(
        "SELECT nspname, has_schema_privilege(%(r)s, oid, 'CREATE'), "
        "has_schema_privilege(%(r)s, oid, 'USAGE') FROM pg_namespace "
        "WHERE nspname NOT LIKE 'pg\\_%%' AND nspname <> 'information_schema'",
        dbname=db, params={"r": role})
    for name, create, usage in schemas:
        assert not create, (role, name)
        assert usage == (name == d), (role, name, usage)
    # No SECURITY DEFINER function but the log's pruning (its own test
    # below), pinned to the schema: the runtime role's grants are all it can
    # do otherwise.
    assert pg.execute("SELECT proname, proconfig FROM pg_proc "
                      "WHERE pronamespace = %s::regnamespace AND prosecdef",
                      dbname=db, params=(d,)) == [
        ("cc_log_prune", ["search_path=%s, pg_temp" % d])]
    c = pg.connect(db, role)
    try:
        with c.cursor() as cur:
            cur.execute("SHOW search_path")
            assert cur.fetchone()[0] == d
    finally:
        c.close()


# ------------------------------------------------------------- daemons

def test_daemons_log_in_as_their_runtime_roles(system):
    pg = system.pg
    # Each daemon has a connection open once ready.
    who = harness.wait_until(
        lambda: (lambda rows: rows if {r[0] for r in rows} >= {rt(d) for d in DAEMONS}
                 else None)(pg.execute(
                     "SELECT usename, count(*) FROM pg_stat_activity WHERE datname = %s "
                     "AND pid <> pg_backend_pid() GROUP BY usename",
                     params=(system.dbname,))),
        timeout=10, what="a connection of every daemon")
    assert {r[0] for r in who} == {rt(d) for d in DAEMONS}, who
    for d in DAEMONS:
        proc = system.daemons[d].proc
        with open("/proc/%d/cmdline" % proc.pid, "rb") as f:
            argv = f.read().decode(errors="replace")
        assert "user=%s " % rt(d) in argv, argv
        for role in harness.PG_ROLES:
            assert pg.password(role) not in argv, (d, role)


@pytest.mark.parametrize("d", DAEMONS)
def test_runtime_role_removes_log_rows_only_through_the_pruning(pg, fresh_db, d):
    """events and inbox have no DELETE for the runtime role; cc_log_prune()
    (SECURITY DEFINER) removes only what every listed reader passed and never
    the newest event (sql/common/012_log_prune.sql)."""
    c = pg.connect(fresh_db, rt(d))
    try:
        with c.cursor() as cur:
            for i in range(5):
                cur.execute("SELECT cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x00')")
            for t in ("events", "inbox", "log_readers"):
                assert refused(pg, fresh_db, rt(d), "DELETE FROM %s.%s" % (d, t)) == \
                    INSUFFICIENT_PRIVILEGE, t
            assert refused(pg, fresh_db, rt(d), "UPDATE %s.log_readers SET seq = 0" % d) == \
                INSUFFICIENT_PRIVILEGE
            # a reader that claims more than the head is clamped to it
            cur.execute("SELECT r_floor, r_events FROM cc_log_prune(ARRAY['r'], ARRAY[99]::bigint[], "
                        "ARRAY['r', 'q'], '{}', 0, 100, 1000)")
            assert cur.fetchone() == (None, 0)          # q never reported
            cur.execute("SELECT r_floor, r_events FROM cc_log_prune(ARRAY['q'], ARRAY[2]::bigint[], "
                        "ARRAY['r', 'q'], '{}', 0, 100, 1000)")
            assert cur.fetchone() == (2, 2)
            cur.execute("SELECT r_floor, r_events FROM cc_log_prune(ARRAY['q'], ARRAY[99]::bigint[], "
                        "ARRAY['r', 'q'], '{}', 0, 100, 1000)")
            assert cur.fetchone() == (5, 2)             # 3, 4; 5 is the head
            cur.execute("SELECT min(seq), max(seq) FROM events")
            assert cur.fetchone() == (5, 5)
            cur.execute("SELECT reader, seq FROM log_readers ORDER BY 1")
            assert cur.fetchall() == [("q", 5), ("r", 5)]
            cur.execute("SELECT cc_append('Tick', gen_random_uuid(), 'k', 1, '\\x00')")
            assert cur.fetchone() == (6,)               # numbering goes on
    finally:
        c.close()
