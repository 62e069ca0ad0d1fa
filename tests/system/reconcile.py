#!/usr/bin/python3
"""Cross-daemon money reconciliation (issue 11, "Checks that can fail").

After a crash, fault or soak run, with the daemons quiet, every order must
agree across the four schemas:

- billed in orderd <=> captured in billingd, and its charge in orderd (the
  card's part, charged_fen) = the capture's debit of the card's held
  account in billingd = the hold's held_fen; and the work was done: a
  completed visit in dispatchd (a delivered meal in meald) and billingd's
  delivery record of it;
- a completed visit or delivered meal belongs to an order that is
  completed or billed (work done is paid for);
- a hold is 'held' only for an order that is still open in orderd; a final
  order that was not billed has no capture; every hold and every capture
  names an order orderd knows (no hold without an order);
- each order has at most one hold, one capture and one release transfer, and
  never both a capture and a release;
- orderd's held_fen = billingd's held_fen for the same order;
- the ledger: every transfer sums to zero, no account of a sign-constrained
  kind has the wrong sign, every stored balance = the sum of its postings,
  each card's held account = the sum of its open holds (bd_ledger_check).

Everything is read in one REPEATABLE READ snapshot (all schemas live in one
database), so the check sees one instant. reconcile() returns a Report:
problems (kind, order or account, detail) and figures; fen_lost sums the
money the problems leave unaccounted for (0 when clean).

    tests/system/reconcile.py CONNINFO     # prints the report; exit 1 on problems

tests/system/test_reconcile.py shows each kind catching a planted violation.
"""

import json
import sys

FINAL_UNBILLED = ("denied", "cancelled", "failed")
OPEN = ("placed", "funds_held", "released", "assigned", "in_progress", "completed")


class Report:
    def __init__(self):
        self.problems = []      # (kind, subject, detail)
        self.figures = {}
        self.fen_lost = 0

    def add(self, kind, subject, detail, fen=0):
        self.problems.append((kind, str(subject), detail))
        self.fen_lost += abs(int(fen or 0))

    @property
    def ok(self):
        return not self.problems

    def kinds(self):
        return sorted({p[0] for p in self.problems})

    def summary(self):
        f = dict(self.figures, fen_lost=self.fen_lost, problems=len(self.problems))
        return " ".join("%s=%s" % kv for kv in f.items())

    def __str__(self):
        lines = [self.summary()]
        for kind, subject, detail in self.problems[:50]:
            lines.append("  %s %s: %s" % (kind, subject, detail))
        if len(self.problems) > 50:
            lines.append("  ... %d more" % (len(self.problems) - 50))
        return "\n".join(lines)


def _rows(cur, q):
    cur.execute(q)
    return cur.fetchall()


def reconcile_conn(conn):
    """Reconcile the database behind psycopg2 connection conn (a superuser,
    or a role that reads all four schemas). Leaves conn as it found it."""
    r = Report()
    old_auto = conn.autocommit
    conn.autocommit = False
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    try:
        with conn.cursor() as cur:
            _check(cur, r)
    finally:
        conn.rollback()
        conn.set_session(isolation_level="DEFAULT", readonly=False)
        conn.autocommit = old_auto
    return r


def reconcile(pg, dbname):
    """Reconcile database dbname of harness.PgCluster pg (as its superuser)."""
    c = pg.connect(dbname)
    try:
        return reconcile_conn(c)
    finally:
        c.close()


def _check(cur, r):
    orders = {str(oid): (state, service, charged, held)
              for oid, state, service, charged, held in _rows(
                  cur, "SELECT id, state, service, charged_fen, held_fen FROM orderd.orders")}
    holds = {str(oid): (state, held, price, subsidy, card)
             for oid, state, held, price, subsidy, card in _rows(
                 cur, "SELECT order_id, state, held_fen, price_fen, subsidy_fen, card_id "
                      "FROM billingd.holds")}
    # Transfers per order and kind, with the capture's debit of the card's
    # held account (the card's part paid to the provider).
    transfers = {}
    for oid, kind, n, card_part in _rows(cur, """
            SELECT t.order_id, t.kind, count(DISTINCT t.transfer_id),
                   coalesce(-sum(p.amount) FILTER (WHERE a.kind = 'card_held'), 0)
              FROM billingd.transfers t
              LEFT JOIN billingd.postings p USING (transfer_id)
              LEFT JOIN billingd.accounts a USING (account)
             WHERE t.order_id IS NOT NULL
             GROUP BY t.order_id, t.kind"""):
        transfers.setdefault(str(oid), {})[kind] = (n, int(card_part))
    visits_done = {}
    for oid, n in _rows(cur, "SELECT order_id, count(*) FROM dispatchd.visits "
                             "WHERE state = 'completed' GROUP BY order_id"):
        visits_done[str(oid).lower()] = n
    meals = {str(oid): status for oid, status in _rows(
        cur, "SELECT order_id, status FROM meald.meals")}
    deliveries = {str(oid): producer for oid, producer in _rows(
        cur, "SELECT order_id, producer FROM billingd.deliveries")}

    charged_total = captured_total = 0
    for oid, (state, service, charged, held) in orders.items():
        h = holds.get(oid)
        t = transfers.get(oid, {})
        cap = t.get("capture")
        for kind, (n, _) in t.items():
            if n > 1:
                r.add("transfer_repeated", oid, "%d %s transfers" % (n, kind))
        if cap and "release" in t:
            r.add("captured_and_released", oid, "both a capture and a release")
        done = (meals.get(oid) == "delivered") if service == "meal" else oid in visits_done
        if state == "billed":
            charged_total += charged or 0
            if cap is None or h is None or h[0] != "captured":
                r.add("billed_not_captured", oid, "orderd billed %s fen; billingd hold %s" % (
                    charged, h[0] if h else "missing"), fen=charged)
            else:
                captured_total += cap[1]
                if not (charged == cap[1] == h[1]):
                    r.add("charge_mismatch", oid,
                          "orderd charged %s fen, billingd captured %d from the card, "
                          "hold of %d" % (charged, cap[1], h[1]),
                          fen=(charged or 0) - cap[1])
            if not done:
                r.add("billed_without_work", oid, "billed %s but no %s" % (
                    service, "delivered meal" if service == "meal" else "completed visit"),
                    fen=charged)
            if oid not in deliveries:
                r.add("billed_without_delivery_record", oid,
                      "billingd has no delivery record", fen=charged)
        else:
            if cap is not None:
                r.add("captured_not_billed", oid, "billingd captured %d fen, orderd %s" % (
                    cap[1], state), fen=cap[1])
            if h is not None and h[0] == "held" and state not in OPEN:
                r.add("hold_outlived_order", oid, "%d fen still held, order %s" % (h[1], state),
                      fen=h[1])
            if done and state not in ("completed",):
                r.add("work_not_billed", oid, "%s done, order %s" % (service, state))
        if h is not None and held is not None and h[0] != "denied" and held != h[1]:
            r.add("held_mismatch", oid, "orderd held_fen %s, billingd %d" % (held, h[1]),
                  fen=held - h[1])
    for oid, h in holds.items():
        if oid not in orders:
            r.add("hold_without_order", oid, "billingd hold %s of %d fen" % (h[0], h[1]),
                  fen=h[1] if h[0] in ("held", "captured") else 0)
    for oid in transfers:
        if oid not in orders and oid not in holds:
            r.add("transfer_without_order", oid, "transfers %s" % sorted(transfers[oid]))
    for oid in visits_done:
        if oid not in orders:
            r.add("work_without_order", oid, "completed visit")
    for oid, status in meals.items():
        if status == "delivered" and oid not in orders:
            r.add("work_without_order", oid, "delivered meal")

    # billingd's own check (its SQL names its tables unqualified).
    cur.execute("SET LOCAL search_path = billingd")
    (ntransfers, unbalanced, negative, stale, hold_sums), = _rows(
        cur, "SELECT r_transfers, r_unbalanced, r_negative, r_stale, r_holds "
             "FROM billingd.bd_ledger_check()")
    for kind, items in (("ledger_unbalanced", unbalanced), ("ledger_negative", negative),
                        ("ledger_stale_balance", stale), ("ledger_holds_mismatch", hold_sums)):
        if isinstance(items, str):
            items = json.loads(items)
        for it in items or ():
            fen = it.get("sum_fen") or (it.get("stored_fen", 0) - it.get("postings_fen", 0)) or (
                it.get("open_holds_fen", 0) - it.get("held_account_fen", 0))
            r.add(kind, it.get("transfer_id") or it.get("account") or it.get("card_id"),
                  json.dumps(it, sort_keys=True), fen=fen)
    (total,), = _rows(cur, "SELECT coalesce(sum(amount), 0) FROM billingd.postings")
    if total != 0:
        r.add("ledger_not_zero_sum", "ledger", "postings sum to %d fen" % total, fen=total)

    states = {}
    for state, *_ in orders.values():
        states[state] = states.get(state, 0) + 1
    r.figures.update(orders=len(orders), billed=states.get("billed", 0),
                     open=sum(states.get(s, 0) for s in OPEN),
                     charged_fen=charged_total, captured_card_fen=captured_total,
                     transfers=ntransfers)
    return r


def acknowledged_present_once(pg, dbname, acked):
    """acked: {Idempotency-Key: order_id the client was told}. Returns
    (present_once, problems): an acknowledged order counts when orderd holds
    exactly one order under its key, with the id the client was given (a
    lost and re-created order would have another id), and billingd decided
    on it once (one hold row; a hold transfer at most once)."""
    # Orders a client placed (HTTP, the ZeroMQ intake); those orderd makes
    # itself (source 'mandated': the duties' generator, docs/DUTIES.md) were
    # never a client's to acknowledge.
    rows = pg.execute("SELECT idem_key, id::text FROM orderd.orders "
                      "WHERE source IN ('http', 'zmq')", dbname=dbname)
    by_key = {}
    for key, oid in rows:
        by_key.setdefault(key, []).append(oid)
    problems = []
    ok = 0
    for key, oid in acked.items():
        got = by_key.get(key, [])
        if got == [oid]:
            ok += 1
        else:
            problems.append("key %s: acknowledged %s, stored %s" % (key, oid, got))
    extra = set(by_key) - set(acked)
    for key in sorted(extra)[:20]:
        problems.append("order %s stored under key %s never acknowledged" % (by_key[key], key))
    return ok, problems


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    import psycopg2
    c = psycopg2.connect(argv[1])
    try:
        r = reconcile_conn(c)
    finally:
        c.close()
    print(r)
    return 0 if r.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
