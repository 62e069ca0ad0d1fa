"""Hardening (docs/SECURITY.md, "Hardening").

The binaries are built hardened, checked the way checksec does, from
readelf's and nm's view of each build/bin/*:

- PIE: ELF type DYN with the PIE flag (the load address is randomised);
- full RELRO: a GNU_RELRO segment and BIND_NOW (the GOT is read-only once
  the dynamic linker has resolved everything at start);
- stack protector: __stack_chk_fail is imported (-fstack-protector-strong);
- FORTIFY: glibc's checked variants (__*_chk) are imported
  (-D_FORTIFY_SOURCE=2). As with checksec's "Fortified n/m", a plain import
  next to them is not a failure: the compiler keeps the plain call where it
  cannot know the destination's size (a pointer parameter).

The daemons never run as root: they refuse uid 0, and the harness runs them
as the daemon user. The systemd units are sandboxed: `systemd-analyze
security --offline=true` rates each below 5.0 ('OK' or better).
"""

import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

import harness

BIN = os.path.join(harness.ROOT, "build", "bin")
READELF = shutil.which("readelf")
NM = shutil.which("nm")

def _binaries():
    if not os.path.isdir(BIN):
        return []
    return sorted(os.path.join(BIN, f) for f in os.listdir(BIN)
                  if os.access(os.path.join(BIN, f), os.X_OK))


def _run(argv):
    r = subprocess.run(argv, capture_output=True, text=True, check=True)
    return r.stdout


def _dynsyms(path):
    """Undefined dynamic symbols (imports), versions stripped."""
    out = set()
    for line in _run([NM, "-D", "--undefined-only", path]).splitlines():
        name = line.split()[-1]
        out.add(name.split("@", 1)[0])
    return out


pytestmark = pytest.mark.skipif(READELF is None or NM is None,
                                reason="binutils (readelf, nm) not installed")


def test_every_daemon_and_tool_is_built():
    names = {os.path.basename(b) for b in _binaries()}
    missing = [d for d in harness.DAEMONS if d not in names]
    if missing:
        pytest.skip("not built yet: %s (run make all)" % ", ".join(missing))


@pytest.mark.parametrize("path", _binaries(), ids=os.path.basename)
def test_pie(path):
    hdr = _run([READELF, "-hW", path])
    assert re.search(r"Type:\s+DYN\b", hdr), "%s is not position-independent:\n%s" % (path, hdr)
    dyn = _run([READELF, "-dW", path])
    assert re.search(r"FLAGS_1\).*\bPIE\b", dyn), "%s: no PIE flag:\n%s" % (path, dyn)


@pytest.mark.parametrize("path", _binaries(), ids=os.path.basename)
def test_full_relro(path):
    segs = _run([READELF, "-lW", path])
    assert re.search(r"^\s*GNU_RELRO\b", segs, re.M), "%s: no GNU_RELRO segment" % path
    dyn = _run([READELF, "-dW", path])
    assert re.search(r"\(BIND_NOW\)", dyn) or re.search(r"FLAGS\).*\bBIND_NOW\b", dyn) \
        or re.search(r"FLAGS_1\).*\bNOW\b", dyn), \
        "%s: partial RELRO only (no BIND_NOW):\n%s" % (path, dyn)


@pytest.mark.parametrize("path", _binaries(), ids=os.path.basename)
def test_stack_protector(path):
    assert "__stack_chk_fail" in _dynsyms(path), \
        "%s: no __stack_chk_fail (built without -fstack-protector-strong?)" % path


@pytest.mark.parametrize("path", _binaries(), ids=os.path.basename)
def test_fortify(path):
    syms = _dynsyms(path)
    checked = sorted(s for s in syms if re.fullmatch(r"__\w+_chk", s) and s != "__stack_chk_fail")
    assert checked, "%s: no __*_chk import (built without -D_FORTIFY_SOURCE=2?)" % path


# -- never root ----------------------------------------------------------------

def _status_ids(pid):
    """(uids, gids, groups) of a process: real, effective, saved, fs."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                out[k] = [int(x) for x in v.split()]
    return out["Uid"], out["Gid"], out["Groups"]


@pytest.mark.skipif(not harness.is_root(), reason="only root can show a daemon refusing root")
@pytest.mark.parametrize("name", harness.DAEMONS)
def test_daemon_refuses_to_run_as_root(need_daemons, name):
    # Before anything else: a bad flag is not even looked at.
    for argv in ([harness.binary(name)], [harness.binary(name), "--no-such-flag=1"]):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                           stdin=subprocess.DEVNULL, cwd="/")
        assert r.returncode == 2, (argv, r.returncode, r.stderr)
        assert "refusing to run as root" in r.stderr, r.stderr
        assert "no-such-flag" not in r.stderr, r.stderr
    # --help still answers (supervisors read the flags from it).
    r = subprocess.run([harness.binary(name), "--help"], capture_output=True, text=True,
                       timeout=20, stdin=subprocess.DEVNULL, cwd="/")
    assert r.returncode == 0 and "--http-port" in r.stdout, r.stderr


def test_harness_runs_every_daemon_unprivileged(system):
    if harness.is_root():
        pw = harness.daemon_user()
        uid, gid = pw.pw_uid, pw.pw_gid
    else:
        uid, gid = os.getuid(), os.getgid()
    for name in harness.DAEMONS:
        d = system.daemons[name]
        uids, gids, groups = _status_ids(d.proc.pid)
        assert uids == [uid] * 4, (name, uids, uid)
        assert gids == [gid] * 4, (name, gids, gid)
        assert 0 not in uids + gids + groups, (name, uids, gids, groups)
        # The pidfile it wrote itself names it, and its log is being written.
        with open(d.pidfile) as f:
            assert int(f.read()) == d.proc.pid
        assert '"process_up"' in d.log_text()


# -- systemd units ---------------------------------------------------------------

UNITS = sorted(glob.glob(os.path.join(harness.ROOT, "deploy", "systemd", "*.service")))
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
# Exposure is 0..10; systemd calls < 1 SAFE, < 5 OK, then MEDIUM and worse.
GOOD_LEVELS = ("PERFECT", "SAFE", "OK")


def _skip(reason):
    print("SKIP: %s" % reason, file=sys.stderr)
    pytest.skip(reason)


def _analyze_offline():
    if SYSTEMD_ANALYZE is None:
        _skip("systemd-analyze is not installed")
    r = subprocess.run([SYSTEMD_ANALYZE, "security", "--help"], capture_output=True, text=True)
    if "--offline" not in r.stdout:
        _skip("this systemd-analyze has no --offline (systemd >= 250 needed)")
    return SYSTEMD_ANALYZE


def test_every_daemon_has_a_unit():
    names = {os.path.basename(u)[:-len(".service")] for u in UNITS}
    assert names == set(harness.DAEMONS), names


@pytest.mark.parametrize("unit", UNITS, ids=os.path.basename)
def test_unit_sandbox_exposure_below_5(unit):
    sa = _analyze_offline()
    r = subprocess.run([sa, "security", "--offline=true", "--no-pager", unit],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+) ([A-Z]+)", r.stdout)
    assert m, "no exposure level in:\n%s\n%s" % (r.stdout[-3000:], r.stderr[-2000:])
    score, level = float(m.group(1)), m.group(2)
    print("%s: %.1f %s" % (os.path.basename(unit), score, level))
    bad = [line.strip() for line in r.stdout.splitlines() if line.lstrip().startswith("\u2717")]
    assert score < 5.0 and level in GOOD_LEVELS, \
        "%s: exposure %.1f %s; open items:\n%s" % (unit, score, level, "\n".join(bad))


@pytest.mark.parametrize("unit", UNITS, ids=os.path.basename)
def test_unit_keeps_its_life_cycle(unit):
    """The sandbox did not cost the runtime's contract with systemd."""
    with open(unit) as f:
        lines = {line.strip() for line in f if line.strip() and not line.startswith("#")}
    for want in ("Type=notify", "TimeoutStopSec=10", "RestartPreventExitStatus=2",
                 "User=eldercare", "NoNewPrivileges=yes", "CapabilityBoundingSet=",
                 "ProtectSystem=strict", "IPAddressDeny=any", "IPAddressAllow=localhost",
                 "UMask=0077"):
        assert want in lines, (unit, want)
    assert any(line.startswith("WatchdogSec=") for line in lines), unit


# -- docker compose ----------------------------------------------------------------

COMPOSE_FILE = os.path.join(harness.ROOT, "docker-compose.yml")


def _compose_services():
    """The services of docker-compose.yml as docker-compose resolves them
    (anchors merged), or as YAML says if docker-compose is missing."""
    dc = shutil.which("docker-compose")
    if dc:
        r = subprocess.run([dc, "-f", COMPOSE_FILE, "config"], capture_output=True,
                           text=True, timeout=60, cwd=harness.ROOT)
        assert r.returncode == 0, r.stderr
        text = r.stdout
    else:
        with open(COMPOSE_FILE) as f:
            text = f.read()
    try:
        import yaml
    except ImportError:
        _skip("python3-yaml is not installed")
    return yaml.safe_load(text)["services"]


def _published(port):
    """(host_ip, published) of a compose port, short or long syntax."""
    if isinstance(port, dict):
        return port.get("host_ip") or "", str(port.get("published") or "")
    parts = str(port).split("/")[0].rsplit(":", 2)
    if len(parts) == 3:
        return parts[0], parts[1]
    if len(parts) == 2:
        return "", parts[0]
    return "", ""   # container port only: published on a random port of every address


def test_compose_publishes_on_loopback_only():
    for name, svc in _compose_services().items():
        for port in svc.get("ports") or []:
            ip, _ = _published(port)
            assert ip in ("127.0.0.1", "::1", "[::1]"), \
                "%s publishes %r beyond loopback" % (name, port)
        assert svc.get("network_mode") != "host", name


def test_compose_daemons_unprivileged():
    svcs = _compose_services()
    for name in harness.DAEMONS:
        svc = svcs[name]
        assert svc.get("cap_drop") == ["ALL"], (name, svc.get("cap_drop"))
        assert "no-new-privileges:true" in (svc.get("security_opt") or []), name
        assert not svc.get("privileged"), name
        if svc.get("user") == "root":
            # Only to hand over the passfile, then setpriv drops to eldercare
            # (the uid change clears the few capabilities added for that).
            entry = " ".join(svc.get("entrypoint") or [])
            assert "exec setpriv --reuid=eldercare --regid=eldercare" in entry, name
            assert set(svc.get("cap_add") or []) <= {"CHOWN", "DAC_READ_SEARCH", "SETUID",
                                                     "SETGID"}, name
        else:
            assert svc.get("user") in (None, "eldercare"), name
            assert not svc.get("cap_add"), name
