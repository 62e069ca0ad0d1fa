"""pytest fixtures for the system tests (see harness.py).

    pg       session: a throwaway PostgreSQL 15 cluster with a migrated
             template database (eldercare_tpl)
    durable_pg   session: the same run as production (fsync,
             synchronous_commit, full_page_writes on): crash and fault tests
    durable_db   test: a fresh database on durable_pg
    db       module: a fresh database made from the template; its name
    fresh_db     test: the same, for one test
    empty_db     test: roles and schemas only, no migration applied
    system   module: the four real daemons on free ports, ready (/readyz)
    need_daemons   skips the test (with the reason) if a binary is missing

A test that needs its own daemon flags starts a System itself:

    def test_x(pg, fresh_db):
        s = harness.System(pg, fresh_db, extra_args={"dispatchd": {"accept-timeout-s": "1"}})
        s.start(); ...; s.cleanup()

On a test failure the tail of each daemon's captured stderr is added to the
report.
"""

import itertools
import os
import re

import pytest

import harness

_db_counter = itertools.count(1)


@pytest.fixture(scope="session")
def pg():
    cluster = harness.PgCluster().start()
    try:
        cluster.create_db("eldercare_tpl")
        cluster.migrate("eldercare_tpl")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def durable_pg():
    """A cluster run as production runs it (fsync, synchronous_commit,
    full_page_writes on), for the crash and fault tests; same template."""
    cluster = harness.PgCluster(durable=True).start()
    try:
        cluster.create_db("eldercare_tpl")
        cluster.migrate("eldercare_tpl")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def durable_db(durable_pg, request):
    """A database of its own for one test on durable_pg."""
    name = _new_db(durable_pg, request.node.name)
    yield name
    durable_pg.drop_db(name)


def _new_db(pg, hint, template="eldercare_tpl"):
    name = "t%d_%s" % (next(_db_counter), re.sub(r"[^a-z0-9_]", "_", hint.lower())[:40])
    pg.create_db(name, template=template)
    return name


@pytest.fixture(scope="module")
def db(pg, request):
    name = _new_db(pg, request.module.__name__.rsplit(".", 1)[-1])
    yield name
    pg.drop_db(name)


@pytest.fixture
def fresh_db(pg, request):
    """A database of its own for one test."""
    name = _new_db(pg, request.node.name)
    yield name
    pg.drop_db(name)


@pytest.fixture
def empty_db(pg, request):
    """A database of its own for one test, with the roles and schemas but no
    migration applied (fresh_db is a copy of the migrated template)."""
    name = _new_db(pg, request.node.name, template=None)
    yield name
    pg.drop_db(name)


@pytest.fixture(scope="session")
def need_daemons():
    missing = harness.missing_binaries()
    if missing:
        pytest.skip("daemon binaries not built yet: %s" % ", ".join(
            os.path.relpath(harness.binary(m), harness.ROOT) for m in missing))


@pytest.fixture(scope="module")
def system(need_daemons, pg, db):
    s = harness.System(pg, db)
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    systems = []
    s = item.funcargs.get("system") if hasattr(item, "funcargs") else None
    if s is not None:
        systems.append(s)
    for v in (getattr(item, "funcargs", None) or {}).values():
        if isinstance(v, harness.System) and v not in systems:
            systems.append(v)
    for s in systems:
        for name, text in s.logs(tail=80).items():
            rep.sections.append(("%s stderr (last 80 lines)" % name, text))
