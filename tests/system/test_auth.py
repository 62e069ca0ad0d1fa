"""The embedded token issuer and accounts (orderd, docs/SECURITY.md "Tokens
and passwords"), with the four real daemons on a real PostgreSQL:

- login: good password; wrong password and unknown name get one answer;
  lockout after lockout-max failures and its end after lockout-window-s;
- refresh rotates; a replayed refresh token is refused and its family
  revoked; logout revokes a session;
- accounts: created by admin, caregivers by their own provider_admin only;
  nobody else; no self-registration;
- a disabled account: its login refused at once, its access token refused by
  orderd's route guard at once and by the other daemons' guards within
  revoke-refresh-s (1 s here; the AccountChanged event is sooner), also
  after a restart;
- one issuer: the tokens name iss urn:eldercare:orderd and aud eldercare
  (the daemons' defaults), signed with the key made before the daemons
  start (orderd's --issuer-key, its public half in every --jwks-file);
- passwords: changed by their holder (the current one verified, a wrong
  one counted toward the lockout) or reset by whoever may disable the
  account; either way every earlier token of the account is void;
- an expired access token (signed with the issuer key) is refused;
- the test passwords appear in no log.
"""

import base64
import json
import os
import time
import uuid

import pytest

import harness

LOCK_MAX = 3
LOCK_WINDOW_S = 4
REVOKE_REFRESH_S = 1
PROVIDER = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER_PROVIDER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
ADMIN_PW = "admin-Pw-" + uuid.uuid4().hex[:12]
PA_PW = "pa-Pw-" + uuid.uuid4().hex[:12]
SEED = [
    {"username": "admin1", "password": ADMIN_PW, "role": "admin", "scope": {}},
    {"username": "pa1", "password": PA_PW, "role": "provider_admin",
     "scope": {"provider_id": PROVIDER}},
]
SECRETS = [ADMIN_PW, PA_PW]


def secret(prefix):
    pw = "%s-%s" % (prefix, uuid.uuid4().hex[:16])
    SECRETS.append(pw)
    return pw


@pytest.fixture(scope="module")
def sysm(pg, db, need_daemons):
    work = harness.tempfile.mkdtemp(prefix="eldercare-auth-")
    seed = os.path.join(work, "seed.json")
    fd = os.open(seed, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(SEED, f)
    harness.give_to_daemon_user(work, tree=True)
    s = harness.System(pg, db, extra_args={
        "orderd": {"seed-accounts": seed, "lockout-max": str(LOCK_MAX),
                   "lockout-window-s": str(LOCK_WINDOW_S)},
        "dispatchd": {"revoke-refresh-s": str(REVOKE_REFRESH_S)},
        "meald": {"revoke-refresh-s": str(REVOKE_REFRESH_S)},
        "billingd": {"revoke-refresh-s": str(REVOKE_REFRESH_S)},
    })
    try:
        s.start()
        yield s
    finally:
        s.cleanup()
        harness.shutil.rmtree(work, ignore_errors=True)


def login(s, username, password):
    return s.http("POST", "orderd", "/v1/auth/login", token=None,
                  json={"username": username, "password": password})


def token(s, username, password):
    st, b = login(s, username, password)
    assert st == 200, (st, b)
    return b


def bearer(tok):
    return {"Authorization": "Bearer " + tok["access_token"]}


def claims(tok):
    p = tok["access_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def create(s, tok, username, password, role, scope=None):
    return s.http("POST", "orderd", "/v1/accounts", headers=bearer(tok),
                  json={"username": username, "password": password, "role": role,
                        "scope": scope or {}})


def test_login_ok(sysm):
    st, b = login(sysm, "Admin1", ADMIN_PW)     # names are not case-sensitive
    assert st == 200, b
    assert b["token_type"] == "Bearer" and b["expires_in"] == 900 and b["role"] == "admin"
    assert len(b["refresh_token"]) == 43
    c = claims(b)
    assert c["role"] == "admin" and c["gen"] == 0 and c["exp"] - c["iat"] == 900
    assert c["iss"] == "urn:eldercare:orderd" and c["aud"] == "eldercare"
    uuid.UUID(c["sub"])
    # One issuer: orderd signs with the key made before it started, whose
    # public half every daemon verifies with; orderd writes no JWKS.
    with open(sysm.jwks_file) as f:
        jwks = json.load(f)
    assert [k["kid"] for k in jwks["keys"]] == [sysm.issuer_key["kid"]]
    assert "d" not in jwks["keys"][0]
    head = json.loads(base64.urlsafe_b64decode(b["access_token"].split(".")[0] + "=="))
    assert head["kid"] == sysm.issuer_key["kid"]
    assert os.stat(sysm.issuer_key_file).st_mode & 0o077 == 0
    assert os.path.dirname(sysm.issuer_key_file) != sysm.keydir
    # Its access token is good on every daemon (a role each admits).
    assert sysm.http("GET", "billingd", "/v1/ledger/check", headers=bearer(b))[0] != 401


def test_wrong_password_and_unknown_name_look_the_same(sysm):
    st1, b1 = login(sysm, "admin1", "not-the-password")
    st2, b2 = login(sysm, "nobody-here", "not-the-password")
    assert st1 == st2 == 401
    assert b1 == b2 == {"error": "invalid_credentials", "field": None,
                        "message": "wrong username or password"}
    # Clear admin1's failure count for the tests that follow.
    token(sysm, "admin1", ADMIN_PW)


def test_lockout_and_its_end(sysm):
    pw = secret("op")
    tok = token(sysm, "admin1", ADMIN_PW)
    st, _ = create(sysm, tok, "lock.me", pw, "operator")
    assert st == 201
    for name in ("lock.me", "ghost.user"):        # unknown names lock alike
        for _ in range(LOCK_MAX):
            assert login(sysm, name, "wrong-password")[0] == 401
    st, b = login(sysm, "lock.me", pw)             # even the right password
    assert st == 429 and b["error"] == "too_many_attempts", b
    assert login(sysm, "ghost.user", "wrong-password")[0] == 429
    time.sleep(LOCK_WINDOW_S + 0.5)
    assert login(sysm, "lock.me", pw)[0] == 200


def test_refresh_rotates_and_replay_revokes_the_family(sysm):
    t0 = token(sysm, "admin1", ADMIN_PW)
    st, t1 = sysm.http("POST", "orderd", "/v1/auth/refresh", token=None,
                       json={"refresh_token": t0["refresh_token"]})
    assert st == 200, t1
    assert t1["refresh_token"] != t0["refresh_token"]
    assert t1["access_token"] != t0["access_token"] and t1["role"] == "admin"
    # The old one again: theft. Refused, and the new one dies with it.
    st, b = sysm.http("POST", "orderd", "/v1/auth/refresh", token=None,
                      json={"refresh_token": t0["refresh_token"]})
    assert st == 401 and b["error"] == "invalid_grant"
    st, b = sysm.http("POST", "orderd", "/v1/auth/refresh", token=None,
                      json={"refresh_token": t1["refresh_token"]})
    assert st == 401 and b["error"] == "invalid_grant"
    for bad in ("x" * 43, "short", ""):
        assert sysm.http("POST", "orderd", "/v1/auth/refresh", token=None,
                         json={"refresh_token": bad})[0] in (400, 401)
    assert "refresh_token_replayed" in sysm.daemons["orderd"].log_text()


def test_logout_revokes_the_session(sysm):
    t = token(sysm, "admin1", ADMIN_PW)
    st, b = sysm.http("POST", "orderd", "/v1/auth/logout", headers=bearer(t),
                      json={"refresh_token": t["refresh_token"]})
    assert st == 200 and b["revoked"] is True, b
    assert sysm.http("POST", "orderd", "/v1/auth/refresh", token=None,
                     json={"refresh_token": t["refresh_token"]})[0] == 401
    assert sysm.http("POST", "orderd", "/v1/auth/logout", token=None, json={})[0] == 401
    # A minted token names no account of the issuer: nothing to log out.
    st, b = sysm.http("POST", "orderd", "/v1/auth/logout", role="operator", json={})
    assert st == 403 and b["field"] == "sub", b


def test_who_creates_accounts(sysm):
    admin = token(sysm, "admin1", ADMIN_PW)
    pa = token(sysm, "pa1", PA_PW)
    cg = {"caregiver_id": str(uuid.uuid4()), "provider_id": PROVIDER}
    # provider_admin: caregivers of its own provider only
    st, b = create(sysm, pa, "cg.own", secret("cg"), "caregiver", cg)
    assert st == 201, b
    assert b["scope"] == cg and "password" not in b
    st, b = create(sysm, pa, "cg.other", secret("cg"), "caregiver",
                   dict(cg, provider_id=OTHER_PROVIDER))
    assert st == 403, b
    assert create(sysm, pa, "op.by.pa", secret("op"), "operator")[0] == 403
    assert create(sysm, pa, "admin.by.pa", secret("ad"), "admin")[0] == 403
    # admin: anyone; a duplicate name is refused
    st, b = create(sysm, admin, "disp1", secret("d"), "dispatcher", {"district_ids": [7]})
    assert st == 201, b
    assert create(sysm, admin, "DISP1", secret("d"), "dispatcher",
                  {"district_ids": [7]})[0] == 409
    # a role without its scope, a short password
    assert create(sysm, admin, "disp2", secret("d"), "dispatcher")[0] == 400
    assert create(sysm, admin, "op9", "short", "operator")[0] == 400
    # anyone else, or nobody: no
    op_pw = secret("op")
    assert create(sysm, admin, "op.one", op_pw, "operator")[0] == 201
    op = token(sysm, "op.one", op_pw)
    assert create(sysm, op, "op.two", secret("op"), "operator")[0] == 403
    assert sysm.http("POST", "orderd", "/v1/accounts", token=None,
                     json={"username": "self.made", "password": secret("x"),
                           "role": "admin"})[0] == 401
    # the list: admin only, no hashes
    st, b = sysm.http("GET", "orderd", "/v1/accounts", headers=bearer(admin))
    assert st == 200
    names = {a["username"] for a in b["accounts"]}
    assert {"admin1", "pa1", "cg.own", "disp1", "op.one"} <= names
    assert not any("hash" in k for a in b["accounts"] for k in a)
    assert sysm.http("GET", "orderd", "/v1/accounts", headers=bearer(pa))[0] == 403
    # provider_admin disables its own caregiver, not another provider's
    st, b = create(sysm, admin, "cg.else", secret("cg"), "caregiver",
                   dict(cg, provider_id=OTHER_PROVIDER))
    assert st == 201
    assert sysm.http("POST", "orderd", "/v1/accounts/%s/disable" % b["account_id"],
                     headers=bearer(pa))[0] == 404


def _refused_as_revoked(st, b):
    """The route guard's answer to a verified token of a disabled account."""
    return (st == 401 and b["error"] == "unauthorized" and b["field"] == "Authorization"
            and "revoked" in b["message"])


def _revoked_in(s, daemon, account_id):
    rows = s.sql(daemon, "SELECT gen, disabled FROM %s.account_gens WHERE account_id = %%s"
                 % daemon, (account_id,))
    return rows and rows[0][1] and s.metrics(daemon).get("revoke_disabled_accounts", 0) >= 1


def test_disabled_account_is_refused_everywhere(sysm):
    admin = token(sysm, "admin1", ADMIN_PW)
    pw = secret("pa")
    st, acct = create(sysm, admin, "pa.gone", pw, "provider_admin",
                      {"provider_id": OTHER_PROVIDER})
    assert st == 201
    victim = token(sysm, "pa.gone", pw)
    # The token works before, in orderd and in dispatchd; meald and billingd
    # have no route for its role (403, not 401) ...
    cg = {"caregiver_id": str(uuid.uuid4()), "provider_id": OTHER_PROVIDER}
    assert create(sysm, victim, "cg.of.gone", secret("cg"), "caregiver", cg)[0] == 201
    elsewhere = {"dispatchd": ("/v1/caregivers", 200), "meald": ("/v1/meal-points", 403),
                 "billingd": ("/v1/ledger/check", 403)}
    for d, (path, want) in elsewhere.items():
        st, b = sysm.http("GET", d, path, headers=bearer(victim))
        assert st == want, (d, st, b)
    st, b = sysm.http("POST", "orderd", "/v1/accounts/%s/disable" % acct["account_id"],
                      headers=bearer(admin))
    assert st == 200 and b["disabled"] is True and b["gen"] == 1, b
    # ... and not after, in orderd at once; nor its login, nor its refresh.
    st, b = create(sysm, victim, "cg.of.gone2", secret("cg"), "caregiver", cg)
    assert _refused_as_revoked(st, b), (st, b)
    assert login(sysm, "pa.gone", pw)[0] == 401
    assert sysm.http("POST", "orderd", "/v1/auth/refresh", token=None,
                     json={"refresh_token": victim["refresh_token"]})[0] == 401
    # The other daemons' guards refuse the same token within revoke-refresh-s
    # (the AccountChanged event itself arrives sooner), before any role check.
    t0 = time.monotonic()
    for d, (path, _) in elsewhere.items():
        def refused():
            st, b = sysm.http("GET", d, path, headers=bearer(victim))
            return _refused_as_revoked(st, b)
        harness.wait_until(refused, REVOKE_REFRESH_S + 0.5 - (time.monotonic() - t0),
                           0.05, what="%s refuses the disabled account's token" % d)
        assert _revoked_in(sysm, d, acct["account_id"])
    # Persisted: a restarted daemon loads it again.
    sysm.restart("dispatchd")
    harness.wait_until(lambda: sysm.metrics("dispatchd").get("revoke_disabled_accounts", 0) >= 1,
                       5.0, what="dispatchd reloads account_gens")


def change_password(s, tok, current, new):
    return s.http("POST", "orderd", "/v1/auth/password", headers=bearer(tok),
                  json={"current_password": current, "new_password": new})


def test_own_password_change(sysm):
    admin = token(sysm, "admin1", ADMIN_PW)
    pw = secret("op")
    st, acct = create(sysm, admin, "op.changes", pw, "operator")
    assert st == 201
    op = token(sysm, "op.changes", pw)
    assert sysm.http("GET", "orderd", "/v1/orders?state=placed", headers=bearer(op))[0] == 200
    # Bad bodies name their field and change nothing.
    for body, field in (({"new_password": secret("n")}, "current_password"),
                        ({"current_password": pw, "new_password": "short"}, "new_password"),
                        ({"current_password": pw, "new_password": pw}, "new_password"),
                        ({"current_password": pw, "new_password": secret("n"), "x": 1}, "x")):
        st, b = sysm.http("POST", "orderd", "/v1/auth/password", headers=bearer(op), json=body)
        assert st == 400 and b["field"] == field, (body, st, b)
    # A wrong current password: 403 naming it; it counts as a failed login.
    st, b = change_password(sysm, op, "not-" + pw, secret("n"))
    assert st == 403 and b["error"] == "invalid_credentials", b
    assert b["field"] == "current_password", b
    rows = sysm.sql("orderd", "SELECT failures FROM orderd.login_failures "
                    "WHERE who = orderd.od_who('op.changes')")
    assert rows and rows[0][0] == 1, rows
    new = secret("op-new")
    st, b = change_password(sysm, op, pw, new)
    assert st == 200 and b["password_changed"] is True and b["gen"] == 1, (st, b)
    assert b["account_id"] == acct["account_id"]
    # Every earlier token is void: the access token here at once, the
    # refresh token too; the old password no longer logs in, the new does.
    st, b = sysm.http("GET", "orderd", "/v1/orders?state=placed", headers=bearer(op))
    assert _refused_as_revoked(st, b), (st, b)
    assert sysm.http("POST", "orderd", "/v1/auth/refresh", token=None,
                     json={"refresh_token": op["refresh_token"]})[0] == 401
    assert login(sysm, "op.changes", pw)[0] == 401
    op2 = token(sysm, "op.changes", new)
    assert claims(op2)["gen"] == 1
    assert sysm.http("GET", "orderd", "/v1/orders?state=placed", headers=bearer(op2))[0] == 200
    stored = sysm.sql("orderd", "SELECT password_hash LIKE '$argon2id%%', "
                      "password_changed_at IS NOT NULL FROM orderd.accounts WHERE id = %s",
                      (acct["account_id"],))
    assert stored == [(True, True)], stored


def test_wrong_current_passwords_lock_the_change_out(sysm):
    admin = token(sysm, "admin1", ADMIN_PW)
    pw = secret("op")
    assert create(sysm, admin, "op.guessed", pw, "operator")[0] == 201
    op = token(sysm, "op.guessed", pw)
    # Someone holding the access token guesses: lockout-max wrong guesses,
    # then 429 even for the right one, as login does.
    for _ in range(LOCK_MAX):
        assert change_password(sysm, op, "guess-" + uuid.uuid4().hex, secret("n"))[0] == 403
    st, b = change_password(sysm, op, pw, secret("n"))
    assert st == 429 and b["error"] == "too_many_attempts", (st, b)
    assert login(sysm, "op.guessed", pw)[0] == 429
    time.sleep(LOCK_WINDOW_S + 0.5)
    assert change_password(sysm, op, pw, secret("n"))[0] == 200


def test_password_reset_by_admin_and_provider_admin(sysm):
    admin = token(sysm, "admin1", ADMIN_PW)
    pa = token(sysm, "pa1", PA_PW)
    pw = secret("cg")
    cg_scope = {"caregiver_id": str(uuid.uuid4()), "provider_id": PROVIDER}
    st, cg = create(sysm, pa, "cg.forgot", pw, "caregiver", cg_scope)
    assert st == 201
    other_pw = secret("cg")
    st, other = create(sysm, admin, "cg.other.prov", other_pw, "caregiver",
                       {"caregiver_id": str(uuid.uuid4()), "provider_id": OTHER_PROVIDER})
    assert st == 201
    old = token(sysm, "cg.forgot", pw)

    def reset(tok, account_id, body):
        return sysm.http("POST", "orderd", "/v1/accounts/%s/password" % account_id,
                         headers=bearer(tok), json=body)
    # A reset carries no current password; a short one is refused.
    assert reset(pa, cg["account_id"], {"new_password": "short"})[1]["field"] == "new_password"
    st, b = reset(pa, cg["account_id"], {"current_password": pw, "new_password": secret("n")})
    assert st == 400 and b["field"] == "current_password", b
    # Another provider's caregiver is unknown to this provider_admin.
    st, b = reset(pa, other["account_id"], {"new_password": secret("n")})
    assert st == 404 and b["field"] == "id", b
    assert login(sysm, "cg.other.prov", other_pw)[0] == 200
    new = secret("cg-new")
    st, b = reset(pa, cg["account_id"], {"new_password": new})
    assert st == 200 and b["password_changed"] is True and b["gen"] == 1, (st, b)
    assert login(sysm, "cg.forgot", pw)[0] == 401
    assert token(sysm, "cg.forgot", new)
    # (logout with no body is a 400 for a good token of any role)
    st, b = sysm.http("POST", "orderd", "/v1/auth/logout", headers=bearer(old), json={})
    assert _refused_as_revoked(st, b), (st, b)
    # The admin resets anyone's; the other daemons learn the new gen.
    new2 = secret("cg-new2")
    assert reset(admin, other["account_id"], {"new_password": new2})[0] == 200
    assert token(sysm, "cg.other.prov", new2)
    harness.wait_until(lambda: (sysm.sql("dispatchd", "SELECT gen FROM dispatchd.account_gens "
                                         "WHERE account_id = %s", (other["account_id"],))
                                or [(0,)])[0][0] == 1,
                       5.0, what="dispatchd learns the reset's gen")


def _b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def test_expired_access_token_is_refused(sysm):
    nacl_signing = pytest.importorskip("nacl.signing")
    t = token(sysm, "admin1", ADMIN_PW)
    c = claims(t)
    with open(sysm.issuer_key_file) as f:
        jwk = json.load(f)
    d = jwk["d"]
    key = nacl_signing.SigningKey(base64.urlsafe_b64decode(d + "=" * (-len(d) % 4)))
    now = int(time.time())

    def signed(**over):
        body = dict(c, **over)
        head = _b64(json.dumps({"alg": "EdDSA", "typ": "JWT", "kid": jwk["kid"]}).encode())
        pay = _b64(json.dumps(body).encode())
        sig = key.sign(("%s.%s" % (head, pay)).encode()).signature
        return {"access_token": "%s.%s.%s" % (head, pay, _b64(sig))}

    ok = signed(exp=now + 300)
    assert sysm.http("GET", "orderd", "/v1/accounts", headers=bearer(ok))[0] == 200
    st, b = sysm.http("GET", "orderd", "/v1/accounts", headers=bearer(signed(exp=now - 120)))
    assert st == 401 and b["error"] == "unauthorized" and b["field"] == "Authorization", b
    assert "(exp)" in b["message"], b
    st, b = sysm.http("GET", "orderd", "/v1/accounts", headers=bearer(signed(aud="other")))
    assert st == 401 and "(aud)" in b["message"], b


def test_no_passwords_or_tokens_in_logs(sysm):
    t = token(sysm, "admin1", ADMIN_PW)
    text = "\n".join(sysm.daemons[n].log_text() for n in harness.DAEMONS)
    for pw in SECRETS:
        assert pw not in text
    assert t["refresh_token"] not in text and t["access_token"] not in text
    assert "$argon2" not in text
    for name in ("admin1", "lock.me", "ghost.user", "pa.gone", "op.changes", "cg.forgot"):
        assert '"%s"' % name not in text
