#!/usr/bin/python3
"""sqlcpu.py: backend CPU per call of orderd's per-order SQL functions.

A stable figure where wall-clock time is not (the machines are shared): one
PostgreSQL backend runs the functions in transactions of 32 calls, as
orderd's batching writer does, and we read that backend's own CPU time
(utime + stime from /proc/<pid>/stat) before and after. Several git
revisions of sql/ are measured side by side, interleaved, each in its own
schema of one throwaway cluster (fsync off: commit cost is not measured).

Per order, in saga order:
  place      od_order_place        (intake: order, history, OrderPlaced)
  audit      the runtime's audit rows of that POST /v1/orders, in the shape
             the revision's services/common/cc_rt.c writes them (issue 10
             on): an accepted row (status NULL) and a status row, either one
             INSERT each ("cc_audit_add") or every row of a batch in one
             INSERT ... unnest ("cc_audit_rows"); a batch holds the previous
             batch's status rows and its own accepted rows, as under load;
             0 for a revision without an audit trail
  funds_held od_on_funds_held      (billingd's FundsHeld: -> released)
  assigned   od_on_visit           (dispatchd's VisitAssigned)

    bench/sqlcpu.py                      # the working tree's sql/
    bench/sqlcpu.py --rev c6cd541 --rev HEAD --reps 7
    bench/sqlcpu.py --rev HEAD --rev worktree          # uncommitted changes

Prints the median microseconds of backend CPU per call of each function for
each revision. Needs PostgreSQL 15 (as tests/system/harness.py).
"""
import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))

import harness  # noqa: E402  (PgCluster: a throwaway cluster)
import psycopg2  # noqa: E402

TCK = os.sysconf("SC_CLK_TCK")
BATCH = 32
PAYLOAD = "decode(repeat('ab', 160), 'hex')"


# The runtime's audit statements (services/common/cc_rt.c) by revision shape.
AUDIT_ADD = ("INSERT INTO audit (request, account, role, method, route, ids, status, peer) "
             "VALUES ($1::uuid, $2::text, $3::text, $4::text, $5::text, $6::jsonb, $7::integer, "
             "$8::text)")
AUDIT_ROWS = ("INSERT INTO audit (request, account, role, method, route, ids, status, peer) "
              "SELECT r::uuid, a, ro, m, rt, i::jsonb, st::integer, p FROM unnest($1::text[], "
              "$2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) "
              "WITH ORDINALITY AS x(r, a, ro, m, rt, i, st, p, n) ORDER BY n")


@contextlib.contextmanager
def scratch_cluster(prefix):
    """A throwaway PostgreSQL cluster in a temporary directory of its own
    (owned by the PostgreSQL user when run as root, so that its single-user
    backends can write there, in tmp/pg/data): yields (tmp, cur), cur an
    autocommit superuser cursor; stops and removes it all at the end."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    base = os.path.join(tmp, "pg")
    os.makedirs(base)
    if harness.is_root():
        pw = harness.ensure_pg_user()
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    pg = harness.PgCluster(base=base)
    try:
        pg.start()
        conn = psycopg2.connect(pg.conninfo("postgres"))
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SET client_min_messages = warning")
        yield tmp, cur
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def git_text(rev, path):
    """A file at a git revision (None/'worktree': the working tree), or None."""
    try:
        if rev in (None, "worktree"):
            with open(os.path.join(ROOT, path)) as f:
                return f.read()
        return subprocess.run(["git", "-C", ROOT, "show", "%s:%s" % (rev, path)],
                              check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def audit_shape(rev):
    """How the revision's runtime writes audit rows: rows, row or None."""
    text = git_text(rev, "services/common/cc_rt.c") or ""
    if '"cc_audit_rows"' in text:
        return "rows"
    if '"cc_audit_add"' in text:
        return "row"
    return None


def sql_files(rev):
    """orderd's migrations (common and orderd entries) in the order of
    sql/ORDER, at a git revision (None: working tree); revisions older than
    sql/ORDER: sql/common then sql/orderd, each sorted."""
    worktree = rev in (None, "worktree")

    def read(path):
        if worktree:
            with open(os.path.join(ROOT, path)) as f:
                return f.read()
        return subprocess.run(["git", "-C", ROOT, "show", "%s:%s" % (rev, path)],
                              check=True, capture_output=True, text=True).stdout

    try:
        order = read("sql/ORDER")
    except (OSError, subprocess.CalledProcessError):
        order = None
    if order is not None:
        names = ["sql/" + e for e in ("".join(ln.split("#", 1)[0].split())
                                      for ln in order.splitlines())
                 if e.startswith(("common/", "orderd/"))]
    else:
        names = []
        for sub in ("common", "orderd"):
            if worktree:
                ls = ["sql/%s/%s" % (sub, n) for n in os.listdir(os.path.join(ROOT, "sql", sub))]
            else:
                ls = subprocess.run(["git", "-C", ROOT, "ls-tree", "--name-only", rev,
                                     "sql/%s/" % sub],
                                    check=True, capture_output=True, text=True).stdout.split()
            names += sorted(p for p in ls if p.endswith(".sql"))
    return [read(p) for p in names]


class Variant:
    def __init__(self, cur, schema, files, audit=None):
        self.cur, self.schema, self.audit = cur, schema, audit
        cur.execute("DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s" % (schema, schema))
        cur.execute("SET search_path = %s" % schema)
        # Migrations since issue 10 grant to <schema>_rt and orderd_rt.
        for role in (schema + "_rt", "orderd_rt"):
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            if not cur.fetchone():
                cur.execute('CREATE ROLE "%s" NOLOGIN' % role)
        for text in files:
            cur.execute(text)
        cur.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = 'elders' AND column_name = 'pii_key'", (schema,))
        sealed = cur.fetchone() is not None
        self.cards = []
        for i in range(50):
            e, c = str(uuid.uuid4()), str(uuid.uuid4())
            if sealed:   # personal data sealed at rest (orderd/011): stand-in bytes
                cur.execute("INSERT INTO elders (id, district_id, pii_key, name_enc, id_number_enc,"
                            " id_number_idx, phone_enc, phone_idx, address_enc, lat, lon,"
                            " birth_date, ability_level, household, living) VALUES (%s, 1, 1,"
                            " '\\x00', '\\x00', convert_to(%s, 'UTF8'), '\\x00', '\\x01',"
                            " '\\x00', 0, 0, '1940-01-01', 'mild', 'none', 'alone')",
                            (e, "%s-%d" % (schema, i)))
            else:
                cur.execute("INSERT INTO elders (id, district_id, name, id_number, phone, address,"
                            " lat, lon, birth_date, ability_level, household, living) VALUES (%s,"
                            " 1, 'x', %s, '1', 'a', 0, 0, '1940-01-01', 'mild', 'none', 'alone')",
                            (e, "%s-%d" % (schema, i)))
            cur.execute("INSERT INTO cards (id, elder_id, district_id) VALUES (%s, %s, 1)", (c, e))
            self.cards.append(c)
        if audit == "row":
            cur.execute("PREPARE %s_audit_add AS %s" % (schema, AUDIT_ADD))
        elif audit == "rows":
            cur.execute("PREPARE %s_audit_rows AS %s" % (schema, AUDIT_ROWS))
        self.status_rows = []          # the previous batch's replies
        self.seq = {"billingd": 0, "dispatchd": 0}   # each producer's log
        self.placed, self.released = [], []

    def audit_rows(self, n):
        """The audit rows of n order requests, BATCH per transaction: each
        batch the previous one's status rows, then its accepted rows."""
        if not self.audit:
            return
        row = ("bench", "operator", "POST", "/v1/orders", "{}")
        for k in range(0, n, BATCH):
            reqs = [str(uuid.uuid4()) for _ in range(min(BATCH, n - k))]
            rows = [(r, "202") for r in self.status_rows] + [(r, None) for r in reqs]
            self.cur.execute("BEGIN")
            if self.audit == "row":
                for r, st in rows:
                    self.cur.execute("EXECUTE %s_audit_add (%%s, %%s, %%s, %%s, %%s, %%s, %%s, "
                                     "'127.0.0.1')" % self.schema, (r,) + row + (st,))
            else:
                def lit(vals):
                    return "{" + ",".join("NULL" if v is None else '"%s"' % v.replace(
                        "\\", "\\\\").replace('"', '\\"') for v in vals) + "}"
                cols = [[r for r, _ in rows]] + [[v] * len(rows) for v in row] + \
                    [[st for _, st in rows], ["127.0.0.1"] * len(rows)]
                self.cur.execute("EXECUTE %s_audit_rows (%s)" % (
                    self.schema, ", ".join(["%s"] * 8)), [lit(c) for c in cols])
            self.cur.execute("COMMIT")
            self.status_rows = reqs

    def _batches(self, items, stmt):
        """Run stmt for each item, BATCH per transaction (server-side loop)."""
        for k in range(0, len(items), BATCH):
            chunk = items[k:k + BATCH]
            self.cur.execute("BEGIN")
            for it in chunk:
                self.cur.execute(stmt, it)
            self.cur.execute("COMMIT")

    def place(self, n):
        items = []
        for i in range(n):
            oid = str(uuid.uuid4())
            self.placed.append(oid)
            items.append((oid, "k-" + oid, self.cards[i % 50]))
        self._batches(items, "SELECT * FROM od_order_place(%s, %s, %s, 'cleaning', "
                      "1800000000000000, 1800007200000000, 'bench', false, 'http', "
                      "gen_random_uuid(), " + PAYLOAD + ", NULL, NULL)")

    def _consume(self, producer, orders, stmt):
        """Apply one event of producer's log to each order, in log order."""
        items = []
        for oid in orders:
            self.seq[producer] += 1
            items.append((self.seq[producer], oid))
        self._batches(items, stmt)

    def funds_held(self):
        self._consume("billingd", self.placed,
                      "SELECT od_on_funds_held('billingd', %s, gen_random_uuid(), %s, 3000, "
                      "3000, 'released', 'held', gen_random_uuid(), " + PAYLOAD + ")")
        self.released += self.placed
        self.placed = []

    def assigned(self):
        self._consume("dispatchd", self.released,
                      "SELECT od_on_visit('dispatchd', %s, gen_random_uuid(), %s, "
                      "'VisitAssigned', 'assigned', 'to a caregiver', 'cg-1', 'v-1', 'p-1', "
                      "NULL, NULL, NULL, NULL)")
        self.released = []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", action="append", help="git revision of sql/ (repeatable; "
                    "'worktree' or none: the working tree)")
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions (5)")
    ap.add_argument("--orders", type=int, default=640, help="orders per repetition (640)")
    a = ap.parse_args()
    revs = a.rev or [None]

    pg = harness.PgCluster()
    pg.start()
    try:
        conn = psycopg2.connect(pg.conninfo("postgres"))
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("SET client_min_messages = warning")
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]

        def cpu():
            f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / TCK

        variants = []
        for i, rev in enumerate(revs):
            variants.append((rev or "worktree", Variant(cur, "v%d" % i, sql_files(rev),
                                                        audit_shape(rev))))
        steps = ("place", "audit", "funds_held", "assigned")
        res = {(name, s): [] for name, _ in variants for s in steps}
        for rep in range(a.reps + 1):          # the first is a warm-up
            for name, v in variants:
                cur.execute("SET search_path = %s" % v.schema)
                for s in steps:
                    t0 = cpu()
                    if s == "place":
                        v.place(a.orders)
                    elif s == "audit":
                        v.audit_rows(a.orders)
                    else:
                        getattr(v, s)()
                    if rep > 0:
                        res[(name, s)].append((cpu() - t0) / a.orders * 1e6)
        print("backend CPU per call, microseconds (median of %d x %d calls, batches of %d)"
              % (a.reps, a.orders, BATCH))
        print("%-12s" % "revision" + "".join("%12s" % s for s in steps) + "%12s" % "sum")
        for name, _ in variants:
            meds = [statistics.median(res[(name, s)]) for s in steps]
            print("%-12s" % name[:12] + "".join("%12.0f" % m for m in meds)
                  + "%12.0f" % sum(meds))
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
