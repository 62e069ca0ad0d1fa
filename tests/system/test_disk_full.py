"""Disk full on the database volume (issue 11, "Durability proven").

A durable PostgreSQL cluster (fsync, synchronous_commit, full_page_writes
on) lives on a small volume of its own: a loop-mounted ext4 image, or a
tmpfs when loop devices are unavailable. While orders flow the volume is
filled to the last byte by a file of ours; PostgreSQL can no longer extend
tables or write WAL. Clients see errors (5xx, or no answer), never a false
acknowledgement. Then the file is removed; if PostgreSQL stopped (a WAL
write that fails is a PANIC), it is started again as its supervisor would.
Afterwards every acknowledged order is present exactly once and final,
money reconciles (reconcile.py) and pg_amcheck finds nothing corrupted.

Needs root (mount); skipped with the reason otherwise.
DISKFULL_ORDERS / DISKFULL_SECONDS set the load and how long the disk stays
full (make soak: tests/soak.sh runs it larger)."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

import harness
from test_pg_crash import amcheck

sys.path.insert(0, os.path.join(harness.ROOT, "tests"))
import soak  # noqa: E402

VOLUME_MB = 200


class _Args:
    orders = int(os.environ.get("DISKFULL_ORDERS", "120"))
    rounds = 0
    concurrency = 8
    elders = 20
    caregivers = 40
    kill_every = 0.0
    timeout = 240 + orders // 5     # make soak runs more orders
    place_seconds = None


def _run(argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


class Volume:
    """A small filesystem mounted at <top>/mnt: ext4 on a loop device if we
    can, else tmpfs. kind says which."""

    def __init__(self, mb):
        self.top = tempfile.mkdtemp(prefix="eldercare-diskfull-", dir="/var/tmp")
        self.mnt = os.path.join(self.top, "mnt")
        os.mkdir(self.mnt)
        self.loop = None
        self.kind = None
        img = os.path.join(self.top, "disk.img")
        why = []
        with open(img, "wb") as f:
            f.truncate(mb << 20)
        r = _run(["losetup", "--find", "--show", img])
        if r.returncode == 0:
            self.loop = r.stdout.decode().strip()
            r = _run(["mkfs.ext4", "-q", "-m", "0", self.loop])
            if r.returncode == 0:
                r = _run(["mount", self.loop, self.mnt])
                if r.returncode == 0:
                    self.kind = "ext4 on %s" % self.loop
        if self.kind is None:
            why.append(r.stdout.decode(errors="replace").strip())
            if self.loop:
                _run(["losetup", "-d", self.loop])
                self.loop = None
            os.unlink(img)
            r = _run(["mount", "-t", "tmpfs", "-o", "size=%dm" % mb, "tmpfs", self.mnt])
            if r.returncode == 0:
                self.kind = "tmpfs"
            else:
                why.append(r.stdout.decode(errors="replace").strip())
                shutil.rmtree(self.top, ignore_errors=True)
                raise RuntimeError("; ".join(why))
        self.filler = os.path.join(self.mnt, "filler")

    def fill(self):
        """Write zeros until the volume refuses (ENOSPC); returns MB written."""
        n = 0
        chunk = b"\0" * (1 << 20)
        with open(self.filler, "ab", buffering=0) as f:
            while True:
                try:
                    f.write(chunk)
                    n += 1
                except OSError:
                    break
            # The last partial megabyte too.
            for size in (65536, 4096, 512, 1):
                while True:
                    try:
                        f.write(b"\0" * size)
                    except OSError:
                        break
            try:
                os.fsync(f.fileno())
            except OSError:
                pass
        return n

    def free(self):
        os.unlink(self.filler)

    def avail_bytes(self):
        st = os.statvfs(self.mnt)
        return st.f_bavail * st.f_frsize

    def close(self):
        _run(["umount", "-l", self.mnt])
        if self.loop:
            _run(["losetup", "-d", self.loop])
        shutil.rmtree(self.top, ignore_errors=True)


def test_disk_full_on_database_volume(need_daemons):
    if not harness.is_root():
        pytest.skip("disk-full test needs root to mount a small volume")
    try:
        vol = Volume(VOLUME_MB)
    except RuntimeError as e:
        pytest.skip("cannot mount a small volume: %s" % e)
    pg = None
    s = None
    try:
        base = os.path.join(vol.mnt, "pg")
        os.mkdir(base)
        for d in (vol.top, vol.mnt):
            os.chmod(d, 0o755)    # PostgreSQL runs as its own user
        pg = harness.PgCluster(base=base, durable=True)
        pg.durable_opts = "-c shared_buffers=16MB -c min_wal_size=32MB -c max_wal_size=64MB"
        pg.start()
        pg.create_db("diskfull")
        pg.migrate("diskfull")
        events = {}

        def fill():
            events["filled_mb"] = vol.fill()
            events["avail_after_fill"] = vol.avail_bytes()
            time.sleep(float(os.environ.get("DISKFULL_SECONDS", "8")))
            events["pg_died"] = pg.postmaster_pid() is None or not os.path.exists(
                "/proc/%d" % pg.postmaster_pid())

        def space_returns():
            t0 = time.monotonic()
            vol.free()
            if pg.postmaster_pid() is None or not os.path.exists(
                    "/proc/%d" % pg.postmaster_pid()):
                pg.restart()
            else:
                # A postmaster that crash-restarted may be stuck in recovery
                # for want of space it now has: wait until it takes connections.
                harness.wait_until(lambda: pg.execute("SELECT 1"), 60, 0.5,
                                   what="PostgreSQL back after the disk was freed")
            events["resume_s"] = time.monotonic() - t0
        faults = [(3.0, fill, "fill the database volume"),
                  (0.0, space_returns, "space returns")]
        args = _Args()
        args.place_seconds = 3.0 + float(os.environ.get("DISKFULL_SECONDS", "8")) + 8.0
        s = harness.System(pg, "diskfull", log_level="info").start()
        run = soak.Soak(s, args, faults=faults, supervise=True)
        run.name = "disk-full"
        ok = run.run()
        failed = [c for c in run.checks if not c[1]]
        s.stop()
        intact, out = amcheck(pg, "diskfull")
        errors = sum(v for k, v in run.statuses.items() if k == "no_answer" or (
            isinstance(k, int) and k >= 500))
        print("FIGURE disk-full volume: %s %d MB, filled %s MB (%s bytes left), postgres "
              "stopped: %s, resumed %.1f s after space returned, client errors while full: %d, "
              "pg_amcheck %s" % (vol.kind, VOLUME_MB, events.get("filled_mb"),
                                 events.get("avail_after_fill"), events.get("pg_died"),
                                 events.get("resume_s", -1), errors,
                                 "clean" if intact else "FAILED"), flush=True)
        assert ok, "disk-full checks failed:\n" + "\n".join(
            "%s: %s" % (name, detail) for name, _, detail in failed)
        assert intact, out[-3000:]
        assert errors > 0, "the full disk was never felt: %s" % run.statuses
        assert run.faults_done == ["fill the database volume", "space returns"]
    finally:
        if s is not None:
            s.cleanup()
        if pg is not None:
            pg.stop()
        vol.close()
