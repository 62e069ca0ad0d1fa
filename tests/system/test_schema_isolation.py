"""Each daemon's role touches only its own schema (DESIGN.md §2)."""

import psycopg2
import pytest

import harness

TABLES = {"orderd": "orders", "billingd": "holds", "dispatchd": "visits", "meald": "meals"}


@pytest.mark.parametrize("role", harness.DAEMONS)
def test_role_cannot_touch_other_schemas(pg, db, role):
    for other, table in TABLES.items():
        if other == role:
            rows = pg.execute("SELECT count(*) FROM %s.%s" % (other, table), dbname=db,
                              user=role)
            assert rows[0][0] >= 0
            continue
        for sql in ("SELECT count(*) FROM %s.%s" % (other, table),
                    "CREATE TABLE %s.intruder (x int)" % other,
                    "SELECT %s.cc_position('x')" % other):
            with pytest.raises(psycopg2.Error) as e:
                pg.execute(sql, dbname=db, user=role)
            assert e.value.pgcode == "42501", (role, sql, e.value.pgcode)  # insufficient_privilege
    with pytest.raises(psycopg2.Error):
        pg.execute("CREATE TABLE public.intruder (x int)", dbname=db, user=role)
