"""System-test harness: a throwaway PostgreSQL 15 cluster and the four real
daemons as processes on free loopback ports.

Used by conftest.py (pytest fixtures) and from the command line:

    python3 tests/system/harness.py serve-pg   # prints a conninfo, runs until killed

What it does, in the spirit of PgBouncer's test/utils.py:
- PgCluster: `initdb --nosync --data-checksums` into a temp dir (owned by the
  system user `eldercare` when we are root: PostgreSQL refuses to run as
  root), fsync off, a random free port on 127.0.0.1, scram-sha-256 for every
  role (no trust: passwords generated per cluster into <base>/secrets, mode
  0600, as tools/lib.sh does into var/secrets; connections name a passfile),
  the roles and schemas of tools/pg_roles.sql, migrations (tools/migrate.sh)
  into a template database once; each test module gets `CREATE DATABASE ...
  TEMPLATE`. The daemons log in as their runtime roles <daemon>_rt
  (daemon_conninfo); the owners <daemon> are for migrations and tests.
- System: starts build/bin/{orderd,billingd,dispatchd,meald} with the flags of
  docs/ARCHITECTURE.md (only those each binary lists in --help), waits for
  /readyz, and offers http(), kill9(), restart(), wait_until(), sql().
- Tokens: each System makes orderd's issuer key (tools/tokens.py keygen) in
  <workdir>/issuer (orderd's --issuer-key; issuer_key_file) before any
  daemon starts, and hands every daemon its public JWKS <keydir>/jwks.json
  (--jwks-file): one issuer, as in `make run`. http() sends a bearer
  token: role=/scope= for a given caller, token= for a given token (None:
  none at all), and by default the natural caller of the route (auto_caller:
  a role the route's table admits, with the scope the request names), so
  tests about behaviour need not say who acts. The route tables come from
  each binary's --routes (route_table()), as in docs/API.md.
  The daemons refuse to run as root: when we are root they run as the system
  user $EC_DAEMON_USER (default eldercare; as_daemon_user()), which owns the
  System's work dir (pidfiles; the logs are opened by us and handed over).
"""

import json as jsonlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import http.client

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
PG_USER = os.environ.get("EC_PG_USER", "eldercare")
DAEMONS = ("orderd", "billingd", "dispatchd", "meald")
SUPERUSER = "postgres"
# Every role with a password (tools/lib.sh ec_pg_roles): the superuser, the
# owners (run migrations, own the schemas), the runtime roles (the daemons).
PG_ROLES = (SUPERUSER,) + DAEMONS + tuple(d + "_rt" for d in DAEMONS)
# Which logs each daemon reads (DESIGN.md section 1).
CONSUMES = {
    "orderd": ("billingd", "dispatchd", "meald"),
    "billingd": ("orderd", "dispatchd", "meald"),
    "dispatchd": ("orderd",),
    "meald": ("orderd",),
}
BIN_DIR = os.environ.get("EC_BIN_DIR", os.path.join(ROOT, "build", "bin"))
# Who the daemons run as when we are root (they exit 2 as uid 0).
DAEMON_USER = os.environ.get("EC_DAEMON_USER", "eldercare")
# CURVE key pairs a System makes in <workdir>/keys (tools/keygen.py): one per
# daemon and one for the telephony client of orderd's intake.
KEY_NAMES = DAEMONS + ("telephony",)
# Builtins every daemon answers without a token.
PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics")
# A dispatcher made by auto_caller sees districts 1..64 (the tests use few).
AUTO_DISTRICTS = list(range(1, 65))
AUTO = object()   # http(token=AUTO): the route's natural caller


def _tokens():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import tokens
    finally:
        sys.path.pop(0)
    return tokens


_routes_cache = {}


def route_table(name):
    """The daemon's route table ({"routes": [...]}) from `<binary> --routes`."""
    if name not in _routes_cache:
        out = subprocess.run([binary(name), "--routes"], stdout=subprocess.PIPE, check=True,
                             timeout=10).stdout
        _routes_cache[name] = jsonlib.loads(out)["routes"]
    return _routes_cache[name]


def match_route(name, method, path):
    """(route, captures) of the table route serving method path, or (None, {})."""
    segs = path.split("?", 1)[0].strip("/").split("/")
    best, best_caps, best_lit = None, {}, -1
    for r in route_table(name):
        if r["method"] != method and not (method == "HEAD" and r["method"] == "GET"):
            continue
        pat = r["pattern"].strip("/").split("/")
        if len(pat) != len(segs):
            continue
        caps, lit, ok = {}, 0, True
        for p, v in zip(pat, segs):
            if p.startswith("{") and p.endswith("}"):
                if not v:
                    ok = False
                caps[p[1:-1]] = v
            elif p == v:
                lit += 1
            else:
                ok = False
        if ok and lit > best_lit:
            best, best_caps, best_lit = r, caps, lit
    return best, best_caps

_used_ports = set()


def all_day_shift(now=None):
    """(shift_start, shift_end) of a 24 h shift for test caregivers that
    takes every visit a test places at any hour it runs: visits within six
    hours of now, and fixed ones tomorrow morning (09:00-13:00). It starts
    at 04:00 from 05:00 to 18:00, else at 16:00; "00:00"-"23:59" cannot
    take a bath booked at 22:30."""
    import datetime
    t = now or datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8)))
    start = "04:00" if 5 <= t.hour < 18 else "16:00"
    return start, start


def free_port():
    """A loopback TCP port nobody listens on now (and we did not hand out)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _used_ports:
            _used_ports.add(port)
            return port
    raise RuntimeError("no free port")


def wait_until(pred, timeout=10.0, interval=0.05, what=None):
    """Poll pred() until it returns a truthy value; return that value.
    Raises AssertionError naming `what` (or pred) after timeout seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # the condition may not be checkable yet
            last_exc = e
        if time.monotonic() >= deadline:
            if callable(what):
                what = what()
            msg = "timed out after %.1fs waiting for %s" % (
                timeout, what or getattr(pred, "__name__", "condition"))
            if last_exc is not None:
                msg += " (last error: %r)" % (last_exc,)
            raise AssertionError(msg)
        time.sleep(interval)


def make_keys(keydir, names=KEY_NAMES):
    """tools/keygen.py's pairs in keydir (0700): {name: public key}; and
    orderd's personal-data keys pii.key, pii-index.key and the address
    transit keys dispatchd-address.key, meald-address.key (the defaults)."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import keygen
    finally:
        sys.path.pop(0)
    pubs = keygen.ensure_keys(keydir, names)
    for n in keygen.SECRET_KEYS:
        keygen.ensure_secret(keydir, n)
    return pubs


def curve_socket(ctx, kind, keydir, server, me):
    """A pyzmq socket of kind that talks CURVE to `server` (whose public key
    is keydir/<server>.pub) as `me` (keydir/<me>.key; None: a fresh pair
    nobody lists). Connect it yourself."""
    import zmq
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    with open(os.path.join(keydir, server + ".pub")) as f:
        sock.curve_serverkey = f.read().strip().encode()
    if me is None:
        public, secret = zmq.curve_keypair()
    else:
        with open(os.path.join(keydir, me + ".key")) as f:
            secret = f.read().strip().encode()
        public = zmq.curve_public(secret)
    sock.curve_publickey = public
    sock.curve_secretkey = secret
    return sock


def _uuid_or_random(v):
    """v when it is a UUID (any case), else a fresh one: a scope claim must
    be a UUID, and a caller with a random one is simply nobody's."""
    import uuid as uuidlib
    try:
        return str(uuidlib.UUID(str(v)))
    except (ValueError, TypeError):
        return str(uuidlib.uuid4())


def is_root():
    return os.geteuid() == 0


def ensure_pg_user():
    """The non-root user that runs PostgreSQL when we are root."""
    try:
        return pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                        PG_USER], check=True)
        return pwd.getpwnam(PG_USER)


def daemon_user():
    """The passwd entry the daemons run as when we are root (created as a
    system user if missing), or None when we are not root."""
    if not is_root():
        return None
    try:
        return pwd.getpwnam(DAEMON_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                        DAEMON_USER], check=True)
        return pwd.getpwnam(DAEMON_USER)


def as_daemon_user():
    """subprocess.Popen/run keyword arguments that start a daemon binary as
    DAEMON_USER when we are root (uid, gid and its own groups only: none of
    root's), {} otherwise. For tests that start a daemon themselves."""
    pw = daemon_user()
    if pw is None:
        return {}
    return {"user": pw.pw_uid, "group": pw.pw_gid,
            "extra_groups": os.getgrouplist(pw.pw_name, pw.pw_gid)}


def give_to_daemon_user(path, tree=False):
    """chown a directory we made (and with tree, what is in it) to
    DAEMON_USER (when root), so that a daemon can write its pidfile (and
    valgrind its report) there, or read its keys."""
    pw = daemon_user()
    if pw is not None:
        os.chown(path, pw.pw_uid, pw.pw_gid)
        for name in os.listdir(path) if tree else ():
            os.chown(os.path.join(path, name), pw.pw_uid, pw.pw_gid)


def _as_pg(cmd):
    if is_root():
        return ["runuser", "-u", PG_USER, "--"] + cmd
    return cmd


class PgCluster:
    """A throwaway PostgreSQL 15 cluster. start() then stop()."""

    def __init__(self, base=None, durable=False):
        """durable=True keeps fsync, synchronous_commit and full_page_writes
        on, as production runs (benchmarks, the crash, soak and fault tests:
        conftest's durable_pg); other tests run with them off."""
        self.durable = durable
        # Durable clusters only (a small disk wants smaller values).
        self.durable_opts = "-c shared_buffers=256MB -c max_wal_size=2GB"
        self.base = base
        self.port = None
        self.datadir = None
        self.sockdir = None
        self.logfile = None
        self.secrets = None
        self._own_base = base is None

    # -- secrets ------------------------------------------------------------
    def _make_secrets(self):
        """A password per role in <base>/secrets/pg-<role>.pw, its .pgpass
        line in pgpass-<role>, and the superuser's and owners' lines in
        pgpass (PGPASSFILE of migrate.sh): directory 0700, files 0600."""
        import secrets as secretslib
        import string
        self.secrets = os.path.join(self.base, "secrets")
        os.makedirs(self.secrets, mode=0o700, exist_ok=True)
        os.chmod(self.secrets, 0o700)
        alphabet = string.ascii_letters + string.digits
        tools_lines = []
        for role in PG_ROLES:
            pw = "".join(secretslib.choice(alphabet) for _ in range(32))
            line = "*:*:*:%s:%s\n" % (role, pw)
            for name, text in (("pg-%s.pw" % role, pw + "\n"), ("pgpass-%s" % role, line)):
                fd = os.open(os.path.join(self.secrets, name),
                             os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(text)
            if not role.endswith("_rt"):
                tools_lines.append(line)
        fd = os.open(self.passfile(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(tools_lines))
        # As root the daemons run as the daemon user: each runtime role's
        # passfile becomes that user's, and the directory only traversable
        # (0711: no listing); the owners' and superuser's files stay root's.
        pw = daemon_user()
        if pw is not None:
            os.chmod(self.secrets, 0o711)
            for role in PG_ROLES:
                if role.endswith("_rt"):
                    os.chown(self.passfile(role), pw.pw_uid, pw.pw_gid)

    def password(self, role):
        with open(os.path.join(self.secrets, "pg-%s.pw" % role)) as f:
            return f.read().strip()

    def passfile(self, role=None):
        """The .pgpass file of one role, or the tools' one (superuser, owners)."""
        return os.path.join(self.secrets, "pgpass-%s" % role if role else "pgpass")

    def _set_passwords(self):
        """Create the roles that are missing and give every role its password
        (the server keeps a SCRAM-SHA-256 verifier)."""
        c = self.connect()
        try:
            with c.cursor() as cur:
                cur.execute("SET password_encryption = 'scram-sha-256'")
                for role in PG_ROLES:
                    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                    if not cur.fetchone():
                        cur.execute('CREATE ROLE "%s" LOGIN' % role)
                    cur.execute('ALTER ROLE "%s" PASSWORD %%s' % role, (self.password(role),))
        finally:
            c.close()

    def start(self):
        if self.base is None:
            # A durable cluster must sit on a real disk, never a tmpfs /tmp.
            self.base = tempfile.mkdtemp(prefix="eldercare-pg-",
                                         dir="/var/tmp" if self.durable else "/tmp")
        os.chmod(self.base, 0o755)
        self.datadir = os.path.join(self.base, "data")
        self.sockdir = self.base
        self.logfile = os.path.join(self.base, "postgres.log")
        self._make_secrets()
        pwfile = os.path.join(self.base, "initdb.pw")
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.password(SUPERUSER) + "\n")
        if is_root():
            pw = ensure_pg_user()
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)  # initdb runs as that user
        env = dict(os.environ, LC_ALL="C")
        try:
            subprocess.run(_as_pg([os.path.join(PG_BIN, "initdb"), "--nosync", "-D", self.datadir,
                                   "-U", SUPERUSER, "-E", "UTF8", "--locale=C",
                                   "--data-checksums", "--auth=scram-sha-256",
                                   "--pwfile=" + pwfile, "--no-instructions"]),
                           check=True, stdout=subprocess.DEVNULL, cwd="/", env=env)
        finally:
            os.unlink(pwfile)
        # Only loopback, only with a password (as tools/pg.sh writes it).
        subprocess.run(_as_pg(["tee", os.path.join(self.datadir, "pg_hba.conf")]),
                       input=b"local all all scram-sha-256\n"
                             b"host  all all 127.0.0.1/32 scram-sha-256\n",
                       check=True, stdout=subprocess.DEVNULL, cwd="/")
        last = None
        for _ in range(5):
            self.port = free_port()
            r = self._pg_ctl_start()
            if r.returncode == 0:
                self._set_passwords()
                return self
            last = r.stderr.decode(errors="replace") + self.log_tail()
        raise RuntimeError("PostgreSQL did not start: %s" % last)

    def _pg_ctl_start(self, timeout=60):
        opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 "
                "-c timezone=Asia/Shanghai -c max_connections=200 "
                "-c log_min_messages=warning" % (self.port, self.sockdir))
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        else:
            opts += " " + self.durable_opts
        return subprocess.run(_as_pg([os.path.join(PG_BIN, "pg_ctl"), "-D", self.datadir,
                                      "-l", self.logfile, "-o", opts, "-w", "-t", str(timeout),
                                      "start"]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              cwd="/", env=dict(os.environ, LC_ALL="C"))

    # -- faults (tests/system/test_pg_crash.py, test_disk_full.py) ----------
    def postmaster_pid(self):
        """The postmaster's pid (first line of postmaster.pid), or None."""
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def crash(self, how="immediate"):
        """Stop the server as a crash would: "immediate" (pg_ctl stop -m
        immediate: no shutdown checkpoint) or "kill9" (SIGKILL to the
        postmaster; its backends notice and exit). Both need crash recovery
        at the next start."""
        if how == "immediate":
            subprocess.run(_as_pg([os.path.join(PG_BIN, "pg_ctl"), "-D", self.datadir,
                                   "-m", "immediate", "-w", "stop"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
            return
        pid = self.postmaster_pid()
        if pid is None:
            raise RuntimeError("no postmaster.pid in %s" % self.datadir)
        os.kill(pid, signal.SIGKILL)
        # Orphaned backends finish their statement and exit when they see
        # the postmaster gone; the next start waits for them (the shared
        # memory segment must be free).
        wait_until(lambda: not os.path.exists("/proc/%d" % pid), 10, what="postmaster exit")

    def restart(self, timeout=120):
        """Start the server again on the same data directory and port (crash
        recovery runs first). Raises with the log tail if it does not come up."""
        deadline = time.monotonic() + timeout
        while True:
            r = self._pg_ctl_start(timeout=max(5, int(deadline - time.monotonic())))
            if r.returncode == 0:
                return self
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not restart: %s%s" % (
                    r.stderr.decode(errors="replace"), self.log_tail()))
            time.sleep(0.5)   # killed backends may still hold shared memory

    def log_tail(self, n=40):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.datadir and os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
            subprocess.run(_as_pg([os.path.join(PG_BIN, "pg_ctl"), "-D", self.datadir,
                                   "-m", "immediate", "-w", "stop"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
        if self._own_base and self.base:
            shutil.rmtree(self.base, ignore_errors=True)

    # -- connections --------------------------------------------------------
    def conninfo(self, dbname="postgres", user="postgres"):
        """libpq conninfo of a role; its password comes from its own passfile."""
        return "host=127.0.0.1 port=%d dbname=%s user=%s passfile=%s" % (
            self.port, dbname, user, self.passfile(user))

    def daemon_conninfo(self, dbname, daemon):
        """What a daemon logs in with: its runtime role, never the owner or
        the superuser."""
        return self.conninfo(dbname, daemon + "_rt")

    def connect(self, dbname="postgres", user="postgres", autocommit=True):
        import psycopg2
        c = psycopg2.connect(self.conninfo(dbname, user))
        c.autocommit = autocommit
        return c

    def execute(self, sql, dbname="postgres", user="postgres", params=None):
        c = self.connect(dbname, user)
        try:
            with c.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else None
        finally:
            c.close()

    # -- databases ----------------------------------------------------------
    def create_db(self, name, template=None):
        """CREATE DATABASE name [TEMPLATE t], then the roles and schemas."""
        q = 'CREATE DATABASE "%s"' % name
        if template:
            q += ' TEMPLATE "%s"' % template
        self.execute(q)
        with open(os.path.join(ROOT, "tools", "pg_roles.sql")) as f:
            self.execute(f.read(), dbname=name)
        return name

    def drop_db(self, name):
        self.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)

    def run_migrate(self, name, upto=None, root=ROOT):
        """Run <root>/tools/migrate.sh on database `name`, only sql/ORDER's
        first `upto` entries (a number or an entry name) if given.
        Returns (exit code, its output)."""
        env = dict(os.environ, PGPORT=str(self.port), PGHOST="127.0.0.1",
                   PGPASSFILE=self.passfile(), EC_SECRETS=self.secrets)
        argv = [os.path.join(str(root), "tools", "migrate.sh")]
        if upto is not None:
            argv.append("--upto=%s" % upto)
        r = subprocess.run(argv + [name], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return r.returncode, r.stdout.decode(errors="replace")

    def migrate(self, name, upto=None, root=ROOT):
        """tools/migrate.sh into database `name` (see run_migrate); raises
        with its output on failure, else returns the output."""
        rc, out = self.run_migrate(name, upto, root)
        if rc != 0:
            raise RuntimeError("migrate.sh %s failed:\n%s" % (name, out))
        return out


def manifest(root=ROOT):
    """The entries of <root>/sql/ORDER, in apply order (as tools/migrate.sh
    reads it: '#' starts a comment, blank lines are skipped)."""
    out = []
    with open(os.path.join(str(root), "sql", "ORDER")) as f:
        for line in f:
            line = "".join(line.split("#", 1)[0].split())
            if line:
                out.append(line)
    return out


def binary(name):
    return os.path.join(BIN_DIR, name)


def missing_binaries():
    return [d for d in DAEMONS if not os.access(binary(d), os.X_OK)]


_help_cache = {}


def daemon_flags(name):
    """The set of --flags a daemon lists in its --help (empty if it has none)."""
    if name not in _help_cache:
        flags = set()
        try:
            r = subprocess.run([binary(name), "--help"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=10)
            import re
            flags = set(re.findall(r"--([a-z][a-z0-9-]*)", r.stdout.decode(errors="replace")))
        except (OSError, subprocess.TimeoutExpired):
            pass
        _help_cache[name] = flags
    return _help_cache[name]


class Daemon:
    def __init__(self, name, system):
        self.name = name
        self.system = system
        self.http_port = free_port()
        self.log_port = free_port()
        self.intake_port = free_port() if name == "orderd" else None
        self.proc = None
        self.logpath = os.path.join(system.workdir, "%s.log" % name)
        self.pidfile = os.path.join(system.workdir, "%s.pid" % name)
        self.starts = 0

    @property
    def log_endpoint(self):
        return "tcp://127.0.0.1:%d" % self.log_port

    @property
    def intake_endpoint(self):
        return "tcp://127.0.0.1:%d" % self.intake_port if self.intake_port else None

    def argv(self):
        s = self.system
        known = daemon_flags(self.name)
        want = [
            ("db", s.pg.daemon_conninfo(s.dbname, self.name)),
            ("http-addr", "127.0.0.1"),
            ("http-port", str(self.http_port)),
            ("log-endpoint", self.log_endpoint),
            ("log-level", s.log_level),
            ("pidfile", self.pidfile),
            ("curve-keys-dir", s.keydir),
            ("jwks-file", s.jwks_file),
        ]
        if self.name == "orderd":
            want.append(("issuer-key", s.issuer_key_file))
        for producer in CONSUMES[self.name]:
            want.append(("%s-log" % producer, s.daemons[producer].log_endpoint))
        if self.intake_port:
            for flag in sorted(known):
                if "intake" in flag and ("endpoint" in flag or "addr" in flag):
                    want.append((flag, self.intake_endpoint))
                    break
        if self.name == "dispatchd":
            # Offers at once, as the tests of other things expect of a
            # visit booked for tomorrow; the offer horizon (docs/DISPATCH.md
            # "Planned, then offered") is tested with extra_args
            # {"dispatchd": {"offer-ahead-h": None}} (None: the daemon's default).
            want.append(("offer-ahead-h", "0"))
        flags = dict(want)
        flags.update(s.extra_args.get(self.name, {}))
        argv = [binary(self.name)]
        for flag, value in flags.items():
            if value is None:
                continue
            # Pass a flag only if the daemon defines it (or we cannot tell).
            if not known or flag in known:
                argv.append("--%s=%s" % (flag, value))
        return argv

    def start(self):
        self.starts += 1
        logf = open(self.logpath, "ab")
        logf.write(("--- start %d: %s\n" % (self.starts, " ".join(self.argv()))).encode())
        logf.flush()
        env = dict(os.environ)
        # Config from the environment would override nothing we pass as a
        # flag, but keep stray settings out of tests.
        for k in list(env):
            if k.startswith(self.name.upper() + "_"):
                del env[k]
        env.update(self.system.extra_env.get(self.name, {}))
        try:
            self.proc = subprocess.Popen(self.argv(), stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env,
                                         cwd=self.system.workdir, **as_daemon_user())
        except PermissionError as e:
            raise RuntimeError("%s: cannot run %s as %s (is every directory above it "
                               "searchable by that user?)" % (e, binary(self.name),
                                                              DAEMON_USER)) from e
        finally:
            logf.close()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, timeout=10.0, signalled=False):
        """SIGTERM (unless signalled already: a second SIGTERM means "exit
        now" to a daemon), wait, SIGKILL after timeout. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if not signalled:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_text(self):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_lines(self):
        """The JSON log lines (parsed) this daemon wrote, all starts."""
        out = []
        for line in self.log_text().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(jsonlib.loads(line))
                except ValueError:
                    pass
        return out


class System:
    """The four daemons on one database of a PgCluster."""

    def __init__(self, pg, dbname, workdir=None, extra_args=None, log_level="debug",
                 names=DAEMONS, extra_env=None):
        """extra_args: {daemon: {flag: value}} added to (and overriding) the
        flags; extra_env: {daemon: {VAR: value}} added to its environment
        (e.g. LD_PRELOAD of libfaketime, test_clock_step.py)."""
        self.pg = pg
        self.dbname = dbname
        self.workdir = workdir or tempfile.mkdtemp(prefix="eldercare-sys-")
        self.keydir = os.path.join(self.workdir, "keys")
        make_keys(self.keydir)
        tokens = _tokens()
        self.jwks_file = os.path.join(self.keydir, tokens.JWKS_FILE)
        self.issuer_key_file = tokens.ensure_issuer(os.path.join(self.workdir, "issuer"),
                                                    self.jwks_file)
        self.issuer_key = tokens.load_key(self.issuer_key_file)
        # The daemons run as the daemon user when we are root: their secret
        # keys must be theirs (cc_curve refuses another owner's key).
        give_to_daemon_user(self.keydir, tree=True)
        give_to_daemon_user(os.path.dirname(self.issuer_key_file), tree=True)
        give_to_daemon_user(self.workdir)
        self.extra_args = extra_args or {}
        self.extra_env = extra_env or {}
        self.log_level = log_level
        self.daemons = {}
        for n in DAEMONS:
            self.daemons[n] = Daemon(n, self)
        self.names = tuple(names)

    # -- life cycle ---------------------------------------------------------
    def start(self, timeout=30.0):
        """Start the daemons and wait for /readyz. A port picked free may be
        taken by someone else's outgoing connection before the daemon binds
        it: then every daemon gets new ports and the start is tried again."""
        for attempt in range(3):
            for n in self.names:
                self.daemons[n].start()
            try:
                for n in self.names:
                    self.wait_ready(n, timeout)
                return self
            except AssertionError:
                lost = [n for n in self.names if "_bind_failed" in self.daemons[n].log_text()]
                if not lost or attempt == 2:
                    raise
                self.stop()
                for n in DAEMONS:
                    d = self.daemons[n]
                    d.http_port, d.log_port = free_port(), free_port()
                    if d.intake_port:
                        d.intake_port = free_port()
        return self

    def wait_ready(self, name, timeout=30.0):
        d = self.daemons[name]

        def ready():
            if not d.alive():
                raise AssertionError("%s exited with %s before /readyz:\n%s" % (
                    name, d.proc.returncode if d.proc else None, d.log_text()[-4000:]))
            try:
                st, _ = self.http("GET", name, "/readyz", timeout=2)
                return st == 200
            except OSError:
                return False
        try:
            wait_until(ready, timeout, 0.05, what="%s /readyz" % name)
        except AssertionError as e:
            if d.alive():
                raise AssertionError("%s\n--- %s log:\n%s" % (e, name, d.log_text()[-4000:]))
            raise

    def stop(self, timeout=10.0):
        """SIGTERM all, wait; returns {name: exit code}."""
        for n in self.names:
            self.daemons[n].signal(signal.SIGTERM)
        return {n: self.daemons[n].stop(timeout, signalled=True) for n in self.names}

    def kill9(self, name):
        self.daemons[name].kill9()

    def restart(self, name, timeout=30.0):
        """Stop (kill -9 if it will not stop) and start again on the same ports."""
        d = self.daemons[name]
        if d.alive():
            d.stop()
        d.start()
        self.wait_ready(name, timeout)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- helpers ------------------------------------------------------------
    def url(self, name, path=""):
        return "http://127.0.0.1:%d%s" % (self.daemons[name].http_port, path)

    def token(self, role, scope=None, **kw):
        """A bearer token for role with scope claims (tools/tokens.py), signed
        by this System's issuer; kw: ttl, sub, iss, aud, now."""
        tokens = _tokens()
        return tokens.sign(self.issuer_key, tokens.claims_for(role, scope, **kw))

    def auto_caller(self, method, daemon, path, json=None):
        """(role, scope) of the natural caller of a route: a role its table
        admits, unscoped roles first, a scoped one with the scope the request
        names (the caregiver_id of a visit step, the meal point of a path or
        of the meal). None for builtins; admin where no route matches (the
        daemon answers 404/405 before looking at the token)."""
        if path.split("?", 1)[0] in PUBLIC_PATHS:
            return None
        route, caps = match_route(daemon, method, path)
        if route is None:
            return "admin", None
        roles = route["roles"]
        if not roles:          # CC_ROUTE_PUBLIC: login, refresh
            return None
        for r in ("operator", "admin", "auditor", "service"):
            if r in roles:
                return r, None
        if "dispatcher" in roles:
            return "dispatcher", {"district_ids": AUTO_DISTRICTS}
        if "caregiver" in roles:
            cg = caps.get("caregiver_id")
            if cg is None and isinstance(json, dict) and isinstance(json.get("caregiver_id"), str):
                cg = json["caregiver_id"]
            return "caregiver", {"caregiver_id": _uuid_or_random(cg)}
        if "meal_point" in roles:
            point = caps.get("id")
            if point is None and "order_id" in caps:
                st, meal = self.http("GET", daemon, "/v1/meals/%s" % caps["order_id"],
                                     role="operator")
                point = meal.get("meal_point_id") if st == 200 else None
            return "meal_point", {"meal_point_id": _uuid_or_random(point)}
        if "provider_admin" in roles:
            prov = json.get("provider_id") if isinstance(json, dict) else None
            return "provider_admin", {"provider_id": _uuid_or_random(prov)}
        return roles[0], None

    def http(self, method, daemon, path, json=None, headers=None, timeout=10, body=None,
             role=None, scope=None, token=AUTO):
        """One HTTP request. Returns (status, parsed JSON or text or None).
        Caller: role (with scope claims) mints a token for it; token= sends
        that token (None: no Authorization header); otherwise the route's
        natural caller (auto_caller). A write gets Content-Type
        application/json unless headers name one."""
        h = dict(headers or {})
        data = body
        if json is not None:
            data = jsonlib.dumps(json).encode()
        if method in ("POST", "PUT", "PATCH", "DELETE") and not any(
                k.lower() == "content-type" for k in h):
            h["Content-Type"] = "application/json"
        if isinstance(data, str):
            data = data.encode()
        if not any(k.lower() == "authorization" for k in h):
            if role is not None:
                token = self.token(role, scope)
            elif token is AUTO:
                who = self.auto_caller(method, daemon, path, json)
                token = self.token(*who) if who else None
            if token is not None:
                h["Authorization"] = "Bearer " + token
        conn = http.client.HTTPConnection("127.0.0.1", self.daemons[daemon].http_port,
                                          timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            status = r.status
            self.last_headers = dict(r.getheaders())
        finally:
            conn.close()
        if not raw:
            return status, None
        try:
            return status, jsonlib.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def zmq_socket(self, ctx, kind, server, me="telephony"):
        """A CURVE client socket (curve_socket) with this system's keys."""
        return curve_socket(ctx, kind, self.keydir, server, me)

    def sql(self, who, query, params=None):
        """Run query as a daemon's role ("orderd", ...) or as the superuser
        ("postgres"/"superuser"). Returns rows (list of tuples) or None."""
        user = "postgres" if who in ("postgres", "superuser", None) else who
        return self.pg.execute(query, dbname=self.dbname, user=user, params=params)

    def logs(self, tail=200):
        """name -> the last `tail` lines of its captured stderr."""
        out = {}
        for n in self.names:
            lines = self.daemons[n].log_text().splitlines()
            out[n] = "\n".join(lines[-tail:])
        return out

    def metrics(self, daemon):
        """Prometheus text of /metrics parsed to {sample name with labels: float}."""
        st, text = self.http("GET", daemon, "/metrics")
        assert st == 200, (st, text)
        out = {}
        for line in str(text).splitlines():
            if not line or line.startswith("#"):
                continue
            try:
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
            except ValueError:
                continue
        return out


def _serve_pg():
    """Start a cluster with a migrated database cc_test; print its superuser
    conninfo on one line; run until SIGTERM/SIGINT or stdin closes."""
    pg = PgCluster().start()
    stop = {"now": False}

    def on_sig(*_):
        stop["now"] = True
    signal.signal(signal.SIGTERM, on_sig)
    signal.signal(signal.SIGINT, on_sig)
    try:
        pg.create_db("cc_test")
        try:
            pg.migrate("cc_test")
        except RuntimeError as e:
            print(str(e), file=sys.stderr)
        print(pg.conninfo("cc_test"), flush=True)
        sys.stdout.close()
        while not stop["now"]:
            time.sleep(0.2)
    finally:
        pg.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve-pg":
        _serve_pg()
    else:
        print(__doc__)
        sys.exit(2)
