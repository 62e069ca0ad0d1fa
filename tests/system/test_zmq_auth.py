"""CURVE on every ZeroMQ socket (docs/SECURITY.md, "ZeroMQ"): a client with
no key, a client with a valid key nobody listed, and a fake producer bound
on a log port while its daemon is down each get nothing, change nothing,
and are counted in zmq_auth_rejected_total{socket,reason}."""

import time

import pytest

import harness

zmq = pytest.importorskip("zmq")

LOGS = ("orderd", "billingd", "dispatchd", "meald")


def _pb_str(field, text):
    b = text.encode()
    return bytes([(field << 3) | 2, len(b)]) + b


def fetch_request():
    """Envelope{type: "Fetch", payload: Fetch{max_events: 10, consumer: "probe"}},
    encoded by hand (proto/envelope.proto)."""
    fetch = b"\x10\x0a" + _pb_str(4, "probe")
    return _pb_str(1, "Fetch") + bytes([(7 << 3) | 2, len(fetch)]) + fetch


@pytest.fixture(scope="module")
def s(need_daemons, pg, db):
    sysm = harness.System(pg, db)
    try:
        sysm.start()
        yield sysm
    finally:
        sysm.cleanup()


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def rejected(s, daemon, socket, reason):
    return s.metrics(daemon).get(
        'zmq_auth_rejected_total{socket="%s",reason="%s"}' % (socket, reason), 0)


def got_reply(sock, timeout_ms):
    return bool(sock.poll(timeout_ms, zmq.POLLIN))


def test_listed_consumer_is_served(s, ctx):
    """The control: the same Fetch from a listed key gets its reply."""
    sock = s.zmq_socket(ctx, zmq.DEALER, "billingd", me="orderd")
    sock.connect(s.daemons["billingd"].log_endpoint)
    sock.send(fetch_request())
    assert got_reply(sock, 5000)


@pytest.mark.parametrize("producer", LOGS)
def test_no_curve_gets_nothing_from_a_log(s, ctx, producer):
    before = rejected(s, producer, "%s-log" % producer, "handshake")
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(s.daemons[producer].log_endpoint)
    sock.send(fetch_request())
    assert not got_reply(sock, 1000)
    harness.wait_until(lambda: rejected(s, producer, "%s-log" % producer, "handshake") > before,
                       timeout=5, what="%s-log counts the plaintext client" % producer)


@pytest.mark.parametrize("producer", LOGS)
def test_unlisted_key_gets_nothing_from_a_log(s, ctx, producer):
    """A fresh key pair, and the telephony key (listed for the intake only)."""
    for me in (None, "telephony"):
        before = rejected(s, producer, "%s-log" % producer, "key")
        sock = s.zmq_socket(ctx, zmq.DEALER, producer, me=me)
        sock.connect(s.daemons[producer].log_endpoint)
        sock.send(fetch_request())
        assert not got_reply(sock, 1000)
        harness.wait_until(lambda: rejected(s, producer, "%s-log" % producer, "key") > before,
                           timeout=5, what="%s-log counts key %s" % (producer, me))
        sock.close()


def place_order_request(card_id="00000000-0000-0000-0000-000000000000"):
    """Envelope{type: PlaceOrder, payload: a PlaceOrder that would be
    answered (with an error at worst) by a listed client."""
    po = _pb_str(1, "probe-key") + _pb_str(2, card_id)
    return _pb_str(1, "PlaceOrder") + _pb_str(2, "probe-1") + bytes([(7 << 3) | 2, len(po)]) + po


def test_intake_admits_only_telephony(s, ctx):
    ep = s.daemons["orderd"].intake_endpoint
    # Listed: an answer (whatever it says about this probe).
    ok = s.zmq_socket(ctx, zmq.DEALER, "orderd", me="telephony")
    ok.connect(ep)
    ok.send(place_order_request())
    assert got_reply(ok, 5000)
    placements = sum(v for k, v in s.metrics("orderd").items()
                     if k.startswith("orderd_placements_total"))
    # No CURVE.
    before = rejected(s, "orderd", "orderd-intake", "handshake")
    plain = ctx.socket(zmq.DEALER)
    plain.setsockopt(zmq.LINGER, 0)
    plain.connect(ep)
    plain.send(place_order_request())
    assert not got_reply(plain, 1000)
    harness.wait_until(lambda: rejected(s, "orderd", "orderd-intake", "handshake") > before,
                       timeout=5, what="intake counts the plaintext client")
    # A fresh key, and a daemon's key (listed on logs, not on the intake).
    for me in (None, "billingd"):
        before = rejected(s, "orderd", "orderd-intake", "key")
        sock = s.zmq_socket(ctx, zmq.DEALER, "orderd", me=me)
        sock.connect(ep)
        sock.send(place_order_request())
        assert not got_reply(sock, 1000)
        harness.wait_until(lambda: rejected(s, "orderd", "orderd-intake", "key") > before,
                           timeout=5, what="intake counts key %s" % me)
    # Nothing reached the order path.
    after = sum(v for k, v in s.metrics("orderd").items()
                if k.startswith("orderd_placements_total"))
    assert after == placements


def test_log_lines_carry_no_key(s):
    """Rejections are logged with a short fingerprint, never a key."""
    lines = [l for l in s.daemons["orderd"].log_lines() if l.get("event") == "zmq_auth_rejected"]
    assert lines
    keys = set()
    for name in harness.KEY_NAMES:
        for ext in ("pub", "key"):
            with open("%s/%s.%s" % (s.keydir, name, ext)) as f:
                keys.add(f.read().strip())
    text = s.daemons["orderd"].log_text()
    assert not any(k in text for k in keys)
    assert all(len(l.get("key", "")) <= 8 for l in lines)


@pytest.mark.parametrize("fake_curve", [True, False], ids=["fresh-key", "no-curve"])
def test_fake_producer_feeds_nothing(s, ctx, fake_curve):
    """billingd down, a fake ROUTER on its log port (a fresh key pair, or no
    CURVE at all): orderd, its consumer, never completes a handshake with it,
    so the fake never even sees a Fetch; orderd's position and state stay as
    they were, and orderd counts the failed handshakes."""
    bd = s.daemons["billingd"]
    applied = 'consumer_events_applied_total{consumer="orderd",log="billingd"}'
    m0 = s.metrics("orderd")
    pos0 = s.sql("orderd", "SELECT cc_position('billingd')")[0][0]
    orders0 = s.sql("postgres", "SELECT count(*) FROM orderd.orders")[0][0]
    before = rejected(s, "orderd", "orderd-from-billingd", "handshake")
    bd.stop()
    fake = ctx.socket(zmq.ROUTER)
    fake.setsockopt(zmq.LINGER, 0)
    if fake_curve:
        public, secret = zmq.curve_keypair()
        fake.curve_server = True
        fake.curve_secretkey = secret
        fake.curve_publickey = public
    try:
        harness.wait_until(lambda: fake.bind(bd.log_endpoint) or True, timeout=5,
                           what="bind billingd's log port")
        deadline = time.monotonic() + 3
        received = 0
        while time.monotonic() < deadline:
            if fake.poll(100, zmq.POLLIN):
                fake.recv_multipart()
                received += 1
        assert received == 0
        harness.wait_until(
            lambda: rejected(s, "orderd", "orderd-from-billingd", "handshake") > before,
            timeout=5, what="orderd counts the fake producer")
        m1 = s.metrics("orderd")
        assert m1.get(applied, 0) == m0.get(applied, 0)
        assert s.sql("orderd", "SELECT cc_position('billingd')")[0][0] == pos0
        assert s.sql("postgres", "SELECT count(*) FROM orderd.orders")[0][0] == orders0
    finally:
        fake.close()
        bd.start()
        s.wait_ready("billingd")
    # The real producer is served again.
    harness.wait_until(lambda: s.http("GET", "orderd", "/readyz")[0] == 200, timeout=15,
                       what="orderd ready again")


@pytest.mark.parametrize("case", ["loose-mode", "missing", "missing-producer-key"])
def test_daemon_refuses_bad_keys(need_daemons, tmp_path, case):
    """A secret key others may read, or a missing key, stops start-up with
    exit 2 (configuration: restarting cannot help), before any socket."""
    import os
    import subprocess
    keydir = str(tmp_path / "keys")
    harness.make_keys(keydir)
    if case == "loose-mode":
        os.chmod(os.path.join(keydir, "orderd.key"), 0o644)
    elif case == "missing":
        os.unlink(os.path.join(keydir, "orderd.key"))
    else:
        os.unlink(os.path.join(keydir, "billingd.pub"))
    # As root the daemon must run as the daemon user, whose keys they are.
    harness.give_to_daemon_user(str(tmp_path))
    harness.give_to_daemon_user(keydir, tree=True)
    r = subprocess.run([harness.binary("orderd"), "--curve-keys-dir=" + keydir,
                        "--http-port=0", "--log-endpoint=tcp://127.0.0.1:0",
                        "--intake-endpoint=", "--db=host=127.0.0.1 port=1 dbname=x"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20,
                       **harness.as_daemon_user())
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 2, out
    assert "curve" in out
    with open(os.path.join(keydir, "orderd.pub")) as f:
        assert f.read().strip() not in out
