"""billingd's ledger SQL (sql/billingd/*.sql) on a real PostgreSQL, as the
billingd role: the database itself refuses an unbalanced transfer and a
negative balance, whoever writes (bd_post or a direct INSERT), and leaves
nothing behind when it does; the posting functions keep their statuses
(replays, unknown and closed holds) and the ledger check stays clean."""

import uuid

import psycopg2
import psycopg2.errors
import pytest


@pytest.fixture
def q(pg, fresh_db):
    conn = pg.connect(fresh_db, user="billingd")
    cur = conn.cursor()

    def run(sql, *args):
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None
    run.conn = conn
    # the next event of orderd's log (cc_consume takes them in order)
    run.seq = lambda: run("SELECT cc_position('orderd') + 1")[0][0]
    yield run
    conn.close()


def one(q, sql, *args):
    return q(sql, *args)[0][0]


def new_id():
    return str(uuid.uuid4())


def acc(card, kind):
    return "card:%s:%s" % (card, kind)


def balance(q, account):
    return one(q, "SELECT balance FROM accounts WHERE account = %s", account)


def counts(q):
    return q("SELECT (SELECT count(*) FROM transfers), (SELECT count(*) FROM postings), "
             "(SELECT count(*) FROM holds), (SELECT count(*) FROM events), "
             "(SELECT count(*) FROM inbox), (SELECT count(*) FROM accounts)")[0]


KINDS = ("unbalanced", "negative", "stale", "holds", "orphan_holds", "hold_amounts")


def ledger_report(q):
    """bd_ledger_check() as {kind: list}, and the number of transfers."""
    row = q("SELECT r_transfers, r_unbalanced, r_negative, r_stale, r_holds, "
            "r_orphan_holds, r_hold_amounts FROM bd_ledger_check()")[0]
    return row[0], dict(zip(KINDS, row[1:]))


def ledger_clean(q):
    n, found = ledger_report(q)
    assert all(v == [] for v in found.values()), found
    return n


def card(q, fen=0):
    c = new_id()
    assert one(q, "SELECT bd_card_issued('orderd', %s, %s, %s, 'e', 4, 'none', 80)",
               q.seq(), new_id(), c) == "applied"
    if fen:
        r = q("SELECT r_status FROM bd_topup(%s, %s, %s, %s, 'family', NULL, 0, %s, %s, "
              "%s, %s)", new_id(), new_id(), c, fen, fen, new_id(),
              ["source:family", acc(c, "available")], [-fen, fen])
        assert r == [("applied",)]
    return c


def placed(q, order, c, accounts, amounts, held, arrears=0, emergency=False, seq=None,
           event=None):
    return one(q, "SELECT bd_order_placed('orderd', %s, %s, %s, %s, 4, %s, %s, 'held', NULL, "
                  "%s, 0, %s, %s, NULL, 202611, %s, %s, %s, 'FundsHeld', %s, %s)",
               seq or q.seq(), event or new_id(), order, c,
               "emergency" if emergency else "bath", emergency, held, held, arrears, new_id(),
               accounts, amounts, new_id(), b"\x01")


def closed(q, order, state, held, accounts, amounts, provider=None, seq=None, event=None):
    return one(q, "SELECT bd_order_closed('orderd', %s, %s, %s, %s, NULL, %s, %s, %s, %s, %s, "
                  "%s, %s, 4, %s)",
               seq or q.seq(), event or new_id(), order, state, provider, held, new_id(),
               accounts, amounts, "HoldCaptured" if state == "captured" else "HoldReleased",
               new_id(), b"\x02")


def hold(q, c, fen):
    order = new_id()
    assert placed(q, order, c, [acc(c, "available"), acc(c, "held")], [-fen, fen],
                  fen) == "applied"
    return order


# ---- the database refuses unbalanced transfers ----------------------------------

def test_unbalanced_post_is_refused_and_leaves_nothing(q):
    c = card(q, 1000)
    before = counts(q)
    with pytest.raises(psycopg2.errors.CheckViolation, match="unbalanced"):
        q("SELECT r_status FROM bd_topup('k1', %s, %s, 100, 'family', NULL, 0, 1100, %s, "
          "%s, %s)", new_id(), c, new_id(), ["source:family", acc(c, "available")], [-100, 99])
    with pytest.raises(psycopg2.errors.CheckViolation, match="unbalanced"):
        placed(q, new_id(), c, [acc(c, "available"), acc(c, "held")], [-500, 400], 500)
    assert counts(q) == before
    assert balance(q, acc(c, "available")) == 1000
    assert one(q, "SELECT count(*) FROM topups WHERE idempotency_key = 'k1'") == 0
    ledger_clean(q)


def test_direct_insert_of_unbalanced_postings_is_refused(q):
    """Not only bd_post: any INSERT into postings must balance each transfer
    within the statement (append-only postings: then every transfer always
    sums to zero)."""
    c = card(q, 1000)
    t = new_id()
    q("INSERT INTO transfers (transfer_id, kind, card_id) VALUES (%s, 'topup', %s)", t, c)
    with pytest.raises(psycopg2.errors.CheckViolation, match="unbalanced"):
        q("INSERT INTO postings VALUES (%s, 'source:family', -100), (%s, %s, 99)",
          t, t, acc(c, "available"))
    # half a transfer now and the other half later is refused too
    with pytest.raises(psycopg2.errors.CheckViolation, match="unbalanced"):
        q("INSERT INTO postings VALUES (%s, 'source:family', -100)", t)
    # two transfers in one statement: each must balance on its own
    t2 = new_id()
    q("INSERT INTO transfers (transfer_id, kind, card_id) VALUES (%s, 'topup', %s)", t2, c)
    with pytest.raises(psycopg2.errors.CheckViolation, match="unbalanced"):
        q("INSERT INTO postings VALUES (%s, 'source:family', -100), (%s, %s, 100), "
          "(%s, 'source:subsidy', -5)", t, t2, acc(c, "available"), t2)
    assert one(q, "SELECT count(*) FROM postings WHERE transfer_id IN (%s, %s)", t, t2) == 0
    # a balanced one in one statement is accepted (rolled back: balances not moved)
    q.conn.autocommit = False
    try:
        q("INSERT INTO postings VALUES (%s, 'source:family', -100), (%s, %s, 100)",
          t, t, acc(c, "available"))
        assert one(q, "SELECT sum(amount) FROM postings WHERE transfer_id = %s", t) == 0
    finally:
        q.conn.rollback()
        q.conn.autocommit = True
    # postings of unknown transfers or accounts: the foreign keys still refuse them
    nowhere = new_id()
    with pytest.raises(psycopg2.errors.ForeignKeyViolation):
        q("INSERT INTO postings VALUES (%s, 'source:family', -1), (%s, %s, 1)",
          nowhere, nowhere, acc(c, "available"))
    with pytest.raises(psycopg2.errors.ForeignKeyViolation):
        q("INSERT INTO postings VALUES (%s, 'source:family', -1), (%s, 'provider:nobody', 1)",
          t, t)
    ledger_clean(q)


def test_postings_and_transfers_stay_append_only(q):
    c = card(q, 1000)
    with pytest.raises(psycopg2.errors.RestrictViolation):
        q("UPDATE postings SET amount = amount * 2 WHERE account = %s", acc(c, "available"))
    with pytest.raises(psycopg2.errors.RestrictViolation):
        q("DELETE FROM transfers")
    ledger_clean(q)


# ---- the database refuses negative balances -------------------------------------

def test_hold_beyond_the_balance_is_refused_and_leaves_nothing(q):
    c = card(q, 100)
    before = counts(q)
    with pytest.raises(psycopg2.errors.CheckViolation, match="balance_sign"):
        placed(q, new_id(), c, [acc(c, "available"), acc(c, "held")], [-500, 500], 500)
    assert counts(q) == before                  # no hold, no event, event not consumed
    assert balance(q, acc(c, "available")) == 100
    assert balance(q, acc(c, "held")) == 0
    # a release of more than is held
    order = hold(q, c, 60)
    with pytest.raises(psycopg2.errors.CheckViolation, match="balance_sign"):
        closed(q, order, "released", 60, [acc(c, "held"), acc(c, "available")], [-61, 61])
    assert one(q, "SELECT state FROM holds WHERE order_id = %s", order) == "held"
    # a capture paying a provider a negative amount (its first posting opens it)
    with pytest.raises(psycopg2.errors.CheckViolation, match="balance_sign"):
        closed(q, order, "captured", 60, [acc(c, "held"), "provider:p1"], [60, -60],
               provider="p1")
    assert one(q, "SELECT count(*) FROM accounts WHERE account = 'provider:p1'") == 0
    ledger_clean(q)


def test_arrears_may_only_go_negative(q):
    c = card(q, 100)
    order = new_id()
    assert placed(q, order, c, [acc(c, "available"), acc(c, "arrears"), acc(c, "held")],
                  [-100, -400, 500], 500, arrears=400, emergency=True) == "applied"
    assert balance(q, acc(c, "arrears")) == -400
    # paying back more than the debt would make arrears positive
    with pytest.raises(psycopg2.errors.CheckViolation, match="balance_sign"):
        q("SELECT r_status FROM bd_topup('k2', %s, %s, 500, 'family', NULL, 500, 0, %s, "
          "%s, %s)", new_id(), c, new_id(), ["source:family", acc(c, "arrears")], [-500, 500])
    assert balance(q, acc(c, "arrears")) == -400
    ledger_clean(q)


# ---- bd_post's accounts -------------------------------------------------------

def test_provider_account_opened_on_first_capture_then_added_to(q):
    c = card(q, 10_000)
    provider = "provider:" + new_id()
    for n in (1, 2):
        order = hold(q, c, 3000)
        assert closed(q, order, "captured", 3000, [acc(c, "held"), provider], [-3000, 3000],
                      provider=provider[9:]) == "applied"
        assert q("SELECT kind, balance FROM accounts WHERE account = %s", provider) == [
            ("provider_payable", 3000 * n)]
    assert balance(q, acc(c, "held")) == 0
    assert balance(q, acc(c, "available")) == 4000
    assert ledger_clean(q) == 5                 # top-up, two holds, two captures


def test_missing_card_account_or_bad_arrays_are_errors(q):
    c = card(q, 1000)
    stranger = new_id()
    before = counts(q)
    with pytest.raises(psycopg2.errors.RaiseException, match="no account"):
        placed(q, new_id(), c, [acc(c, "available"), acc(stranger, "held")], [-5, 5], 5)
    with pytest.raises(psycopg2.errors.RaiseException, match="accounts but"):
        placed(q, new_id(), c, [acc(c, "available"), acc(c, "held")], [-5, 5, 0], 5)
    with pytest.raises(psycopg2.Error):                 # unknown kind of account
        placed(q, new_id(), c, [acc(c, "available"), "nonsense"], [-5, 5], 5)
    assert counts(q) == before
    ledger_clean(q)


def test_zero_amounts_are_skipped(q):
    c = card(q, 1000)
    order = hold(q, c, 300)
    assert closed(q, order, "released", 300,
                  [acc(c, "held"), acc(c, "arrears"), acc(c, "available")], [-300, 0, 300]) \
        == "applied"
    t = one(q, "SELECT transfer_id FROM transfers WHERE order_id = %s AND kind = 'release'",
            order)
    assert sorted(q("SELECT account, amount FROM postings WHERE transfer_id = %s", t)) == sorted(
        [(acc(c, "held"), -300), (acc(c, "available"), 300)])
    ledger_clean(q)


# ---- statuses -----------------------------------------------------------------

def test_closed_statuses_and_replays(q):
    c = card(q, 1000)
    args = [acc(c, "held"), acc(c, "available")], [-200, 200]
    assert closed(q, new_id(), "released", 200, *args) == "unknown_order"
    order = hold(q, c, 200)
    seq, event = q.seq(), new_id()
    assert closed(q, order, "released", 200, *args, seq=seq, event=event) == "applied"
    assert closed(q, order, "released", 200, *args, seq=seq, event=event) == "duplicate"
    assert closed(q, order, "captured", 200, *args) == "not_held"
    assert one(q, "SELECT state FROM holds WHERE order_id = %s", order) == "released"
    assert one(q, "SELECT count(*) FROM transfers WHERE order_id = %s", order) == 2
    # the daemon's view of the hold must match the store's
    order = hold(q, c, 100)
    with pytest.raises(psycopg2.errors.RaiseException, match="store holds"):
        closed(q, order, "released", 99, [acc(c, "held"), acc(c, "available")], [-99, 99])
    assert one(q, "SELECT state FROM holds WHERE order_id = %s", order) == "held"
    # the same order placed again by another event
    assert placed(q, order, c, [acc(c, "available"), acc(c, "held")], [-100, 100],
                  100) == "exists"
    assert balance(q, acc(c, "available")) == 900
    ledger_clean(q)


# ---- the check catches each kind of planted violation ---------------------------
# The database refuses these from bd_post and from plain INSERTs (above), so
# each is planted past the guards: as the superuser with triggers off
# (session_replication_role = replica), or by the owner where no guard
# stands (accounts.balance and holds are not append-only). Each test shows
# the check names the violation by its kind, and only the kinds it implies.

@pytest.fixture
def su(pg, fresh_db):
    """Superuser connection on the same database, triggers off, billingd first."""
    conn = pg.connect(fresh_db)
    cur = conn.cursor()
    cur.execute("SET search_path = billingd")
    cur.execute("SET session_replication_role = replica")

    def run(sql, *args):
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None
    yield run
    conn.close()


def a_busy_ledger(q):
    """Cards with top-ups, open, captured and released holds and an emergency
    with arrears: everything the check must find consistent."""
    c = card(q, 10_000)
    open_order = hold(q, c, 2000)
    done = hold(q, c, 3000)
    assert closed(q, done, "captured", 3000, [acc(c, "held"), "provider:p9"], [-3000, 3000],
                  provider="p9") == "applied"
    gone = hold(q, c, 1000)
    assert closed(q, gone, "released", 1000, [acc(c, "held"), acc(c, "available")],
                  [-1000, 1000]) == "applied"
    poor = card(q, 100)
    assert placed(q, new_id(), poor, [acc(poor, "available"), acc(poor, "arrears"),
                                      acc(poor, "held")], [-100, -400, 500], 500, arrears=400,
                  emergency=True) == "applied"
    assert ledger_clean(q) == 8
    return c, open_order, done


def kinds_found(q):
    return {k for k, v in ledger_report(q)[1].items() if v}


def test_check_of_a_busy_ledger_reports_nothing(q):
    a_busy_ledger(q)


def test_check_catches_a_planted_unbalanced_transfer(q, su):
    c, _, _ = a_busy_ledger(q)
    t = new_id()
    su("INSERT INTO transfers (transfer_id, kind, card_id) VALUES (%s, 'topup', %s)", t, c)
    su("INSERT INTO postings VALUES (%s, 'source:family', -700), (%s, %s, 650)",
       t, t, acc(c, "available"))
    _, found = ledger_report(q)
    assert found["unbalanced"] == [{"transfer_id": t, "sum_fen": -50}]
    # the postings moved two accounts that accounts.balance never heard of
    assert kinds_found(q) == {"unbalanced", "stale"}


def test_check_catches_a_planted_negative_balance(q, su):
    c, _, _ = a_busy_ledger(q)
    # A balanced transfer that overdraws the card. The balance_sign CHECK
    # keeps the stored balance from following (a CHECK is not a trigger), so
    # the stored balances are stale too.
    t = new_id()
    su("INSERT INTO transfers (transfer_id, kind, card_id) VALUES (%s, 'topup', %s)", t, c)
    su("INSERT INTO postings VALUES (%s, %s, -9000), (%s, 'provider:p9', 9000)",
       t, acc(c, "available"), t)
    # 10000 - 2000 - 3000 = 5000 on the card: 9000 out leaves -4000
    _, found = ledger_report(q)
    assert found["negative"] == [{"account": acc(c, "available"), "kind": "card_available",
                                  "balance_fen": -4000}], found
    assert kinds_found(q) == {"negative", "stale"}
    # accounts that may be negative (external sources, the subsidy fund,
    # arrears) are not reported: the planted provider:p9 went up, and
    # source:family has been negative all along
    assert all(n["kind"] not in ("source_family", "subsidy_fund", "card_arrears")
               for n in found["negative"])


def test_check_catches_a_planted_positive_arrears_and_negative_payable(q, su):
    c, _, _ = a_busy_ledger(q)
    t = new_id()
    su("INSERT INTO transfers (transfer_id, kind, card_id) VALUES (%s, 'topup', %s)", t, c)
    su("INSERT INTO postings VALUES (%s, %s, 50), (%s, 'provider:p9', -3050)"
       ", (%s, 'source:family', 3000)", t, acc(c, "arrears"), t, t)
    _, found = ledger_report(q)
    assert sorted((n["account"], n["balance_fen"]) for n in found["negative"]) == [
        (acc(c, "arrears"), 50), ("provider:p9", -50)]


def test_check_catches_a_planted_stale_balance(q):
    c, _, _ = a_busy_ledger(q)
    # no trigger guards accounts.balance: the owner can plant this directly
    q("UPDATE accounts SET balance = balance + 1 WHERE account = %s", acc(c, "available"))
    _, found = ledger_report(q)
    assert found["stale"] == [{"account": acc(c, "available"), "stored_fen": 5001,
                               "postings_fen": 5000}]
    assert kinds_found(q) == {"stale"}


def test_check_catches_money_held_for_an_order_billingd_never_opened(q, su):
    c, _, _ = a_busy_ledger(q)
    ghost, t = new_id(), new_id()
    su("INSERT INTO transfers (transfer_id, kind, card_id, order_id) "
       "VALUES (%s, 'hold', %s, %s)", t, c, ghost)
    su("INSERT INTO postings VALUES (%s, %s, -400), (%s, %s, 400)",
       t, acc(c, "available"), t, acc(c, "held"))
    su("UPDATE accounts SET balance = balance + v FROM (VALUES (%s, -400), (%s, 400)) x (a, v) "
       "WHERE account = a", acc(c, "available"), acc(c, "held"))
    _, found = ledger_report(q)
    assert found["orphan_holds"] == [{"order_id": ghost, "card_id": c, "held_fen": 400,
                                      "hold_state": None}]
    assert kinds_found(q) == {"orphan_holds", "holds"}


def test_check_catches_money_held_for_a_closed_order(q):
    c, open_order, done = a_busy_ledger(q)
    # the hold says captured, but no capture transfer took the money out
    q("UPDATE holds SET state = 'captured' WHERE order_id = %s", open_order)
    _, found = ledger_report(q)
    assert found["orphan_holds"] == [{"order_id": open_order, "card_id": c, "held_fen": 2000,
                                      "hold_state": "captured"}]
    assert kinds_found(q) == {"orphan_holds", "holds"}


def test_check_per_order_sees_what_per_card_sums_hide(q, su):
    """Two plants that cancel out in the card's sums: money held for an
    order billingd never opened, and an open hold raised by as much. The
    per-card comparison sees nothing; the per-order lists see both."""
    c, open_order, _ = a_busy_ledger(q)
    ghost, t = new_id(), new_id()
    su("INSERT INTO transfers (transfer_id, kind, card_id, order_id) "
       "VALUES (%s, 'hold', %s, %s)", t, c, ghost)
    su("INSERT INTO postings VALUES (%s, %s, -300), (%s, %s, 300)",
       t, acc(c, "available"), t, acc(c, "held"))
    su("UPDATE accounts SET balance = balance + v FROM (VALUES (%s, -300), (%s, 300)) x (a, v) "
       "WHERE account = a", acc(c, "available"), acc(c, "held"))
    q("UPDATE holds SET held_fen = held_fen + 300, price_fen = price_fen + 300 "
      "WHERE order_id = %s", open_order)
    _, found = ledger_report(q)
    assert found["holds"] == []
    assert found["orphan_holds"] == [{"order_id": ghost, "card_id": c, "held_fen": 300,
                                      "hold_state": None}]
    assert found["hold_amounts"] == [{"order_id": open_order, "card_id": c, "hold_fen": 2300,
                                      "held_account_fen": 2000}]
    assert kinds_found(q) == {"orphan_holds", "hold_amounts"}
