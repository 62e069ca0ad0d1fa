#!/usr/bin/python3
"""sqlcg.py: instructions per call of od_order_place and per order of the
audit rows, in a PostgreSQL backend under callgrind.

bench/sqlcpu.py reads the backend's CPU time, which moves with the load of a
shared machine by tens of per cent; instruction counts do not. Each variant
(a git revision of sql/, optionally with extra SQL run after its
migrations) gets its own schema in one throwaway cluster, filled as sqlcpu.py
does (50 elders and cards) plus --warm orders and their audit rows, then
VACUUM ANALYZE. The cluster is stopped and, for each variant, a single-user
backend (`postgres --single`, fsync off) runs under
`valgrind --tool=callgrind` three scripts of placements in transactions of
32 (as orderd's writer batches):
  N1 placements, N2 placements, N2 placements each batch followed by its
  audit rows (one cc_audit_rows INSERT of 64 rows: the previous batch's
  status rows and its own accepted rows, as sqlcpu.py).
  place = (I(N2) - I(N1)) / (N2 - N1)      (start-up and parsing cancel out)
  audit = (I(N2 + audit) - I(N2)) / N2
Placements are sent as plain SQL text (each one parsed, as sqlcpu.py's).

    bench/sqlcg.py --rev bench-base10 --rev HEAD
    bench/sqlcg.py --rev HEAD --var 'nogin=HEAD:DROP INDEX audit_ids'
    bench/sqlcg.py --rev HEAD --rev worktree

A run takes about 90 s per variant (N2 = 960; with 320 the audit figure
wanders by +-5k: B-tree page splits of 640 rows are lumpy). Needs valgrind and
PostgreSQL 15.
"""
import argparse
import os
import re
import subprocess
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sqlcpu  # noqa: E402
from sqlcpu import harness  # noqa: E402


def script(v, n, audit):
    out = []
    for k in range(0, n, sqlcpu.BATCH):
        m = min(sqlcpu.BATCH, n - k)
        out.append("BEGIN;")
        for i in range(k, k + m):
            oid = str(uuid.uuid4())
            out.append("SELECT * FROM od_order_place('%s', 'k-%s', '%s', 'cleaning', "
                       "1800000000000000, 1800007200000000, 'bench', false, 'http', "
                       "gen_random_uuid(), %s, NULL, NULL);"
                       % (oid, oid, v.cards[i % 50], sqlcpu.PAYLOAD))
        if audit:
            req = ",".join('"%s"' % uuid.uuid4() for _ in range(2 * m))

            def col(x):
                return "'{" + ",".join([x] * (2 * m)) + "}'::text[]"
            st = "'{" + ",".join(["202"] * m + ["NULL"] * m) + "}'::text[]"
            out.append(sqlcpu.AUDIT_ROWS.replace("$1::text[]", "'{%s}'::text[]" % req)
                       .replace("$2::text[]", col('"bench"'))
                       .replace("$3::text[]", col('"operator"'))
                       .replace("$4::text[]", col('"POST"'))
                       .replace("$5::text[]", col('"/v1/orders"'))
                       .replace("$6::text[]", col('"{}"'))
                       .replace("$7::text[]", st)
                       .replace("$8::text[]", col('"127.0.0.1"')) + ";")
        out.append("COMMIT;")
    return "\n".join(out) + "\n"


def instructions(base, schema, text, tmp):
    sql = os.path.join(tmp, "in.sql")
    with open(sql, "w") as f:
        f.write(text)
    out = os.path.join(tmp, "cg.out")
    cmd = harness._as_pg(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                          os.path.join(harness.PG_BIN, "postgres"), "--single",
                          "-D", os.path.join(base, "data"), "-c", "search_path=" + schema,
                          "-c", "fsync=off", "-c", "synchronous_commit=off",
                          "-c", "full_page_writes=off", "-c", "timezone=Asia/Shanghai",
                          "postgres"])
    with open(sql) as f:
        r = subprocess.run(cmd, stdin=f, capture_output=True, text=True, cwd=tmp)
    if "ERROR" in r.stdout:
        sys.exit("sqlcg: %s: %s" % (schema, r.stdout[-1500:]))
    m = re.search(r"Collected : (\d+)", r.stderr)
    if not m:
        sys.exit("sqlcg: no callgrind total: %s" % r.stderr[-1500:])
    os.unlink(out)
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", action="append", default=[],
                    help="git revision of sql/ ('worktree': the working tree); repeatable")
    ap.add_argument("--var", action="append", default=[],
                    help="LABEL=REV:SQL, a revision with SQL run after its migrations")
    ap.add_argument("--n1", type=int, default=64)
    ap.add_argument("--n2", type=int, default=960)
    ap.add_argument("--warm", type=int, default=2000, help="orders placed before (2000)")
    a = ap.parse_args()
    variants = [(r, r, "") for r in a.rev]
    for v in a.var:
        label, rest = v.split("=", 1)
        rev, sql = rest.split(":", 1)
        variants.append((label, rev, sql))
    if not variants:
        variants = [("worktree", "worktree", "")]

    built = []
    with sqlcpu.scratch_cluster("sqlcg-") as (tmp, cur):
        conn = cur.connection
        base = os.path.join(tmp, "pg")
        for i, (label, rev, sql) in enumerate(variants):
            files = sqlcpu.sql_files(None if rev == "worktree" else rev)
            v = sqlcpu.Variant(cur, "v%d" % i, files + ([sql] if sql else []),
                               sqlcpu.audit_shape(rev))
            v.place(a.warm)
            v.audit_rows(a.warm)
            built.append((label, v))
        cur.execute("VACUUM ANALYZE")
        conn.close()
        subprocess.run(harness._as_pg([os.path.join(harness.PG_BIN, "pg_ctl"), "-D",
                                       os.path.join(base, "data"), "-m", "fast", "-w",
                                       "stop"]), stdout=subprocess.DEVNULL, check=True)
        print("instructions (callgrind Ir), single-user backend: place per call "
              "(%d - %d calls), audit rows per order" % (a.n2, a.n1))
        for label, v in built:
            i1 = instructions(base, v.schema, script(v, a.n1, False), tmp)
            i2 = instructions(base, v.schema, script(v, a.n2, False), tmp)
            line = "%-16s place %9.0f" % (label[:16], (i2 - i1) / (a.n2 - a.n1))
            if v.audit:
                i3 = instructions(base, v.schema, script(v, a.n2, True), tmp)
                line += "   audit %9.0f" % ((i3 - i2) / a.n2)
            print(line, flush=True)


if __name__ == "__main__":
    main()
