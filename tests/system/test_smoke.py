"""Smoke: the four daemons start against a migrated database and answer
/healthz, /readyz and /metrics."""

import pytest

import harness


@pytest.mark.parametrize("daemon", harness.DAEMONS)
def test_health_ready_metrics(system, daemon):
    st, _ = system.http("GET", daemon, "/healthz")
    assert st == 200, "%s /healthz -> %s" % (daemon, st)
    st, _ = system.http("GET", daemon, "/readyz")
    assert st == 200, "%s /readyz -> %s" % (daemon, st)
    st, text = system.http("GET", daemon, "/metrics")
    assert st == 200, "%s /metrics -> %s" % (daemon, st)
    assert isinstance(text, str) and "# TYPE" in text, \
        "%s /metrics is not Prometheus text: %r" % (daemon, str(text)[:200])


def test_unknown_path_is_json_404(system):
    for d in harness.DAEMONS:
        st, body = system.http("GET", d, "/no/such/path")
        assert st == 404, (d, st, body)
        assert isinstance(body, dict), (d, body)
