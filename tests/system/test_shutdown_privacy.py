"""Clean stop under valgrind (no leaks on the shutdown path) and no personal
data in any daemon's log, even at debug level."""

import os
import shutil
import signal
import subprocess
import uuid

import pytest

import harness
from test_journeys import at, id_number, post

VALGRIND = shutil.which("valgrind")


def _start_under_valgrind(d, vlog):
    logf = open(d.logpath, "ab")
    argv = [VALGRIND, "--quiet", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite", "--error-exitcode=99", "--log-file=%s" % vlog] \
        + d.argv()
    # As the harness does: never as root (the daemon would refuse), and
    # valgrind writes its report into the work dir that user owns.
    d.proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, cwd=d.system.workdir,
                              **harness.as_daemon_user())
    logf.close()


@pytest.mark.skipif(VALGRIND is None, reason="valgrind is not installed")
def test_sigterm_under_valgrind_exits_clean(need_daemons, pg, fresh_db):
    s = harness.System(pg, fresh_db, log_level="info")
    try:
        s.start()
        # All four at once (a minute saved on two cores): each stops cleanly
        # first, then runs under valgrind beside the others, serves some
        # traffic so the stop has state to free, and stops on SIGTERM.
        vlogs = {}
        for name in harness.DAEMONS:
            d = s.daemons[name]
            assert d.stop() == 0, "%s did not stop cleanly on SIGTERM:\n%s" % (
                name, d.log_text()[-3000:])
        for name in harness.DAEMONS:
            vlogs[name] = os.path.join(s.workdir, "%s.valgrind" % name)
            _start_under_valgrind(s.daemons[name], vlogs[name])
        for name in harness.DAEMONS:
            s.wait_ready(name, timeout=180)
        for name in harness.DAEMONS:
            for path in ("/healthz", "/metrics", "/no/such/path"):
                s.http("GET", name, path, timeout=30)
        for name in harness.DAEMONS:
            s.daemons[name].proc.send_signal(signal.SIGTERM)
        for name in harness.DAEMONS:
            d = s.daemons[name]
            rc = d.proc.wait(timeout=180)
            with open(vlogs[name], errors="replace") as f:
                report = f.read()
            assert rc == 0, "%s under valgrind exited %s:\n%s\n%s" % (
                name, rc, report[-4000:], d.log_text()[-2000:])
    finally:
        s.cleanup()


def test_no_personal_data_in_logs(need_daemons, pg, fresh_db):
    s = harness.System(pg, fresh_db, log_level="debug")
    try:
        s.start()
        name = "隐私测试%s" % uuid.uuid4().hex[:6]
        phone = "139%08d" % (uuid.uuid4().int % 10 ** 8)
        idn = id_number("19350707")
        address = "隐私路%d号" % (uuid.uuid4().int % 1000)
        elder = post(s, "orderd", "/v1/elders", {
            "name": name, "id_number": idn, "phone": phone, "address": address,
            "district_id": 1, "lat": 30.123456, "lon": 120.654321, "birth_date": "1935-07-07",
            "ability_level": "severe", "household": "dibao", "living": "alone"})["elder_id"]
        st, found = s.http("GET", "orderd", "/v1/elders?phone=%s" % phone)
        assert st == 200
        card = post(s, "orderd", "/v1/cards", {"elder_id": elder})["card_id"]
        harness.wait_until(lambda: s.http("GET", "billingd", "/v1/cards/%s/balance" % card)[0]
                           == 200, timeout=15)
        post(s, "orderd", "/v1/orders", {"card_id": card, "service": "bath",
                                         "window_start": at(1, 9), "window_end": at(1, 11),
                                         "notes": "notes-secret"},
             key=str(uuid.uuid4()))
        # A rejected request with personal data in it must not echo it either.
        s.http("POST", "orderd", "/v1/elders", json={"name": name, "phone": phone,
                                                     "id_number": "bad" + idn})
        s.http("POST", "dispatchd", "/v1/caregivers", json={
            "name": name, "provider_id": "p", "district_id": 1, "lat": 30.123456,
            "lon": 120.654321, "skills": ["bath"], "level": 2, "first_aid": True,
            "shift_start": "00:00", "shift_end": "23:59"})
        s.stop()
        for d, text in s.logs(tail=100000).items():
            for secret in (name, phone, idn, address, "30.123456", "120.654321",
                           "notes-secret"):
                assert secret not in text, "%s logged personal data %r" % (d, secret)
    finally:
        s.cleanup()
