#!/usr/bin/python3
"""sqlcg_apply.py: instructions per applied event of the consumer side, in a
PostgreSQL backend under callgrind (as bench/sqlcg.py does for intake).

Per event, in saga order:
  funds_held  orderd's od_on_funds_held (billingd's FundsHeld: -> released)
  assigned    orderd's od_on_visit      (dispatchd's VisitAssigned)
  hold        billingd's bd_order_placed (orderd's OrderPlaced: a hold of
              3000 fen on a card, FundsHeld appended), as billingd calls it

Each variant (a git revision of sql/, or 'worktree') gets an orderd schema
and a billingd schema in one throwaway cluster, filled as bench/sqlcpu.py
does (50 elders and cards; billingd: the 50 cards issued) and warmed with
--warm orders through every step, then VACUUM ANALYZE. The cluster is
stopped and for each variant and script a copy of its data directory is
run by a single-user backend (fsync off) under callgrind, with statements as
plain SQL text in transactions of 32:
  orderd:   P = place n; F = P + funds_held of those n; A = F + assigned
            funds_held = (I(F) - I(P)) / n, assigned = (I(A) - I(F)) / n
  billingd: H(n) = n holds; hold = (I(H(n2)) - I(H(n1))) / (n2 - n1)
Start-up and parsing of the same text cancel out; what remains includes
the executor's work for the call's statement (as orderd's and billingd's
writers run them, prepared, the parse is not theirs: it is the same in
every variant).

    bench/sqlcg_apply.py --rev bench-base10 --rev HEAD --rev worktree

Needs valgrind and PostgreSQL 15.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sqlcpu  # noqa: E402
from sqlcpu import harness  # noqa: E402

BATCH = sqlcpu.BATCH
KEEP = os.environ.get("SQLCG_KEEP")   # a directory: keep the callgrind outputs there


def sql_files(rev, daemon):
    """The daemon's migrations (common and its own) in the order of
    sql/ORDER at rev; before sql/ORDER: common then the daemon's, sorted."""
    order = sqlcpu.git_text(rev, "sql/ORDER")
    if order is not None:
        names = ["sql/" + e for e in ("".join(ln.split("#", 1)[0].split())
                                      for ln in order.splitlines())
                 if e.startswith(("common/", daemon + "/"))]
    else:
        names = []
        for sub in ("common", daemon):
            ls = subprocess.run(["git", "-C", sqlcpu.ROOT, "ls-tree", "--name-only", rev,
                                 "sql/%s/" % sub], check=True, capture_output=True,
                                text=True).stdout.split()
            names += sorted(p for p in ls if p.endswith(".sql"))
    return [sqlcpu.git_text(rev, p) for p in names]


def funds_sql(seq, oid):
    return ("SELECT od_on_funds_held('billingd', %d, gen_random_uuid(), '%s', 3000, 3000, "
            "'released', 'held', gen_random_uuid(), %s);" % (seq, oid, sqlcpu.PAYLOAD))


def assigned_sql(seq, oid):
    return ("SELECT od_on_visit('dispatchd', %d, gen_random_uuid(), '%s', 'VisitAssigned', "
            "'assigned', 'to a caregiver', 'cg-1', 'v-1', 'p-1', NULL, NULL, NULL, NULL);"
            % (seq, oid))


def place_sql(card):
    oid = str(uuid.uuid4())
    return oid, ("SELECT * FROM od_order_place('%s', 'k-%s', '%s', 'cleaning', "
                 "1800000000000000, 1800007200000000, 'bench', false, 'http', "
                 "gen_random_uuid(), %s, NULL, NULL);" % (oid, oid, card, sqlcpu.PAYLOAD))


def hold_sql(seq, card):
    oid = str(uuid.uuid4())
    return ("SELECT * FROM bd_order_placed('orderd', %d, gen_random_uuid(), '%s', '%s', 1, "
            "'cleaning', false, 'held', NULL, 3000, 0, 3000, 0, NULL, 202612, "
            "gen_random_uuid(), '{card:%s:available,card:%s:held}', '{-3000,3000}', "
            "'FundsHeld', gen_random_uuid(), %s);"
            % (seq, oid, card, card, card, sqlcpu.PAYLOAD))


def batched(stmts):
    out = []
    for k in range(0, len(stmts), BATCH):
        out += ["BEGIN;"] + stmts[k:k + BATCH] + ["COMMIT;"]
    return "\n".join(out) + "\n"


class Billing:
    """billingd's schema: cards issued, holds placed."""

    def __init__(self, cur, schema, files):
        self.schema = schema
        cur.execute("DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s" % (schema, schema))
        cur.execute("SET search_path = %s" % schema)
        for role in (schema + "_rt", "billingd_rt"):
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            if not cur.fetchone():
                cur.execute('CREATE ROLE "%s" NOLOGIN' % role)
        for text in files:
            cur.execute(text)
        self.seq = 0
        self.cards = []
        for i in range(50):
            c = str(uuid.uuid4())
            self.seq += 1
            cur.execute("SELECT bd_card_issued('orderd', %s, gen_random_uuid(), %s, %s, 1, "
                        "'none', 80)", (self.seq, c, str(uuid.uuid4())))
            cur.execute("SELECT * FROM bd_topup(%s, gen_random_uuid(), %s, 100000000, 'family', "
                        "NULL, 0, 100000000, gen_random_uuid(), ARRAY['source:family', "
                        "'card:' || %s || ':available'], ARRAY[-100000000, 100000000]::bigint[])",
                        ("t-" + c, c, c))
            self.cards.append(c)
        self.cur = cur

    def holds(self, n):
        out = []
        for i in range(n):
            self.seq += 1
            out.append(hold_sql(self.seq, self.cards[i % 50]))
        return out


def instructions(datadir, schema, text, tmp):
    """Callgrind's instruction total of a single-user backend running text on a
    copy of datadir (the copy is thrown away: every script starts alike)."""
    run = os.path.join(tmp, "run")
    shutil.rmtree(run, ignore_errors=True)
    subprocess.run(harness._as_pg(["cp", "-a", datadir, run]), check=True)
    sql = os.path.join(tmp, "in.sql")
    with open(sql, "w") as f:
        f.write(text)
    out = os.path.join(tmp, "cg.out")
    cmd = harness._as_pg(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                          os.path.join(harness.PG_BIN, "postgres"), "--single",
                          "-D", run, "-c", "search_path=" + schema,
                          "-c", "fsync=off", "-c", "synchronous_commit=off",
                          "-c", "full_page_writes=off", "-c", "timezone=Asia/Shanghai",
                          "postgres"])
    with open(sql) as f:
        r = subprocess.run(cmd, stdin=f, capture_output=True, text=True, cwd=tmp)
    if "ERROR" in r.stdout:
        sys.exit("sqlcg_apply: %s: %s" % (schema, r.stdout[-1500:]))
    m = re.search(r"Collected : (\d+)", r.stderr)
    if not m:
        sys.exit("sqlcg_apply: no callgrind total: %s" % r.stderr[-1500:])
    if KEEP:
        shutil.copy(out, os.path.join(KEEP, "%s-%d.cg" % (schema, len(text))))
    os.unlink(out)
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", action="append", default=[],
                    help="git revision of sql/ ('worktree': the working tree); repeatable")
    ap.add_argument("--n", type=int, default=320, help="orders per orderd script (320)")
    ap.add_argument("--n1", type=int, default=64)
    ap.add_argument("--n2", type=int, default=640)
    ap.add_argument("--warm", type=int, default=2000)
    a = ap.parse_args()
    revs = a.rev or ["worktree"]

    built = []
    with sqlcpu.scratch_cluster("sqlcg-apply-") as (tmp, cur):
        conn = cur.connection
        base = os.path.join(tmp, "pg")
        for i, rev in enumerate(revs):
            o = sqlcpu.Variant(cur, "o%d" % i, sql_files(rev, "orderd"))
            o.place(a.warm)
            o.funds_held()
            o.assigned()
            b = Billing(cur, "b%d" % i, sql_files(rev, "billingd"))
            for k in range(0, a.warm, BATCH):
                cur.execute("BEGIN")
                for s in b.holds(min(BATCH, a.warm - k)):
                    cur.execute(s)
                cur.execute("COMMIT")
            built.append((rev, o, b))
        cur.execute("VACUUM ANALYZE")
        conn.close()
        datadir = os.path.join(base, "data")
        subprocess.run(harness._as_pg([os.path.join(harness.PG_BIN, "pg_ctl"), "-D", datadir,
                                       "-m", "fast", "-w", "stop"]),
                       stdout=subprocess.DEVNULL, check=True)
        print("instructions (callgrind Ir) per event, single-user backend; orderd %d orders, "
              "billingd %d - %d holds" % (a.n, a.n2, a.n1))
        for rev, o, b in built:
            placed, plc = [], []
            for i in range(a.n):
                oid, s = place_sql(o.cards[i % 50])
                placed.append(oid)
                plc.append(s)
            fh = [funds_sql(o.seq["billingd"] + 1 + i, x) for i, x in enumerate(placed)]
            asg = [assigned_sql(o.seq["dispatchd"] + 1 + i, x) for i, x in enumerate(placed)]
            ip = instructions(datadir, o.schema, batched(plc), tmp)
            iff = instructions(datadir, o.schema, batched(plc) + batched(fh), tmp)
            ia = instructions(datadir, o.schema, batched(plc) + batched(fh) + batched(asg), tmp)
            seq0 = b.seq
            h1 = instructions(datadir, b.schema, batched(b.holds(a.n1)), tmp)
            b.seq = seq0
            h2 = instructions(datadir, b.schema, batched(b.holds(a.n2)), tmp)
            print("%-16s funds_held %9.0f   assigned %9.0f   hold %9.0f"
                  % (rev[:16], (iff - ip) / a.n, (ia - iff) / a.n, (h2 - h1) / (a.n2 - a.n1)),
                  flush=True)


if __name__ == "__main__":
    main()
