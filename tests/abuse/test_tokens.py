"""Tokens: only an unexpired HS256 token signed with the server's key gets in,
and it only ever speaks for its own subject."""

import time

import courier_wire as cw
from conftest import PASSWORD, b64url, is_op, jwt_secret_of, mint


def hello_close_code(srv, token, device="d1"):
    c = srv.ws()
    c.send_json({"op": "hello", "token": token, "device": device})
    m, seen = c.recv_until(lambda m: is_op("welcome")(m) or isinstance(m, tuple))
    if is_op("welcome")(m):
        c.close()
        return "welcome"
    return c.close_code


def http_code(srv, token):
    st, _, _ = srv.http("GET", "/v1/friends", token=token)
    return st


def test_real_login_token_is_accepted(srv):
    """The positive control: /v1/login's token works on both doors."""
    name, _ = srv.user()
    st, doc = cw.http_json(srv.host, srv.port, "POST", "/v1/login",
                           {"user": name, "password": PASSWORD})
    assert st == 200
    assert hello_close_code(srv, doc["token"]) == "welcome"
    assert http_code(srv, doc["token"]) == 200
    st, doc = cw.http_json(srv.host, srv.port, "POST", "/v1/login",
                           {"user": name, "password": PASSWORD + "x"})
    assert st == 401 and doc["error"] == "unauthorized"


def test_forged_signature_is_refused(srv):
    name, token = srv.user()
    head, claims, sig = token.split(".")
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    other, _ = srv.user()
    # The victim's name in the claims, signature of the attacker's token.
    stolen = b64url('{"sub":"%s","iat":1,"exp":%d}' % (other, int(time.time()) + 3600))
    for bad in [f"{head}.{claims}.{flipped}", f"{head}.{stolen}.{sig}",
                f"{head}.{claims}.", f"{head}.{claims}", "", "x" * 5000, "a.b.c",
                token + ".extra", token.replace(".", "..", 1)]:
        assert hello_close_code(srv, bad) == 4401, bad[:60]
        assert http_code(srv, bad) == 401, bad[:60]


def test_expired_token_is_refused(srv):
    name, _ = srv.user()
    key = jwt_secret_of(srv)
    now = int(time.time())
    expired = mint(key, {"alg": "HS256", "typ": "JWT"}, {"sub": name, "iat": now - 7200,
                                                         "exp": now - 1})
    assert hello_close_code(srv, expired) == 4401
    assert http_code(srv, expired) == 401
    for exp in ["9999999999", None, -1]:
        claims = {"sub": name, "iat": now}
        if exp is not None:
            claims["exp"] = exp
        t = mint(key, {"alg": "HS256", "typ": "JWT"}, claims)
        assert hello_close_code(srv, t) == 4401, claims
    valid = mint(key, {"alg": "HS256", "typ": "JWT"}, {"sub": name, "iat": now, "exp": now + 60})
    assert hello_close_code(srv, valid) == "welcome"


def test_alg_none_and_other_algorithms_are_refused(srv):
    name, _ = srv.user()
    key = jwt_secret_of(srv)
    now = int(time.time())
    claims = {"sub": name, "iat": now, "exp": now + 3600}
    for header in [{"alg": "none", "typ": "JWT"}, {"alg": "None"}, {"alg": "NONE"},
                   {"alg": "hs256"}, {"alg": "HS512"}, {"alg": "RS256"}, {"typ": "JWT"},
                   {"alg": ["HS256"]}, {"alg": "HS256 "}]:
        for sig in [b"", None]:
            t = mint(key, header, claims, signature=sig)
            assert hello_close_code(srv, t) == 4401, header
            assert http_code(srv, t) == 401, header


def test_wrong_key_is_refused(srv):
    name, _ = srv.user()
    now = int(time.time())
    claims = {"sub": name, "iat": now, "exp": now + 3600}
    key = jwt_secret_of(srv)
    for wrong in [b"k" * 48, key[:-1] + bytes([key[-1] ^ 1]), b"", key + b"x"]:
        t = mint(wrong, {"alg": "HS256", "typ": "JWT"}, claims)
        assert hello_close_code(srv, t) == 4401
        assert http_code(srv, t) == 401


def test_bad_subject_is_refused(srv):
    key = jwt_secret_of(srv)
    now = int(time.time())
    for sub in ["../admin", "", "a" * 65, 42, None, "bad name"]:
        t = mint(key, {"alg": "HS256", "typ": "JWT"}, {"sub": sub, "iat": now, "exp": now + 60})
        assert hello_close_code(srv, t) == 4401, sub


def test_token_used_with_another_users_device_name(srv):
    """Alice's token with Bob's device name is Alice's device of that name:
    Bob's session stays up and Alice never sees Bob's inbox."""
    alice, bob, carol = srv.user(), srv.user(), srv.user()
    for x, y in [(alice, carol), (bob, carol)]:
        st, _ = cw.http_json(srv.host, srv.port, "POST", "/v1/friends/request", {"user": y[0]},
                             token=x[1])
        assert st == 200
        st, _ = cw.http_json(srv.host, srv.port, "POST", "/v1/friends/accept", {"user": x[0]},
                             token=y[1])
        assert st == 200
    cc, _ = srv.session(carol)
    cc.send_json({"op": "send", "cid": "to-bob", "to": bob[0], "body": "for bob only"})
    assert cc.recv_until(is_op("sent"))[0] is not None
    cb, wb = srv.session(bob, device="bobs-phone")
    assert wb["user"] == bob[0] and wb["head"] == 1
    c = srv.ws()
    c.send_json({"op": "hello", "token": alice[1], "device": "bobs-phone", "user": bob[0]})
    w, seen = c.recv_until(lambda m: is_op("synced")(m) or isinstance(m, tuple))
    welcome = [m for m in seen if is_op("welcome")(m)][0]
    assert welcome["user"] == alice[0] and welcome["head"] == 0
    assert not any(is_op("msg")(m) for m in seen)
    # Bob's connection was not replaced (no 4409): it still answers.
    cb.send_json({"op": "ping"})
    pong, seen = cb.recv_until(lambda m: m == {"op": "pong"} or isinstance(m, tuple))
    assert pong == {"op": "pong"}, seen
    for x in (c, cb, cc):
        x.close()


def test_http_requires_the_bearer_token(srv):
    for hdr in [None, "Bearer", "Bearer ", "Basic abc", "bearer", "Token x"]:
        headers = {"Authorization": hdr} if hdr is not None else None
        st, _, body = srv.http("GET", "/v1/friends", headers=headers)
        assert st == 401, (hdr, body)
        st, _, body = srv.http("POST", "/v1/friends/request", body={"user": "x"},
                               headers=headers)
        assert st == 401, (hdr, body)
