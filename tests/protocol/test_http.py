"""docs/PROTOCOL.md, HTTP: register, login, friends, healthz, metrics, the page."""

import http.client
import re

import pytest

import courier_proto as cp


def assert_error_body(r, status):
    assert r.status == status, r
    body = r.json()
    assert isinstance(body.get("error"), str) and body["error"], r
    assert isinstance(body.get("message"), str) and body["message"], r
    return body


# -- register


def test_register_answers_201_with_the_user(server):
    name = cp.unique_name("reg")
    r = server.register(name)
    assert r.status == 201, r
    assert r.json()["user"] == name


def test_register_taken_name_is_409(server):
    name = cp.unique_name("taken")
    assert server.register(name).status == 201
    assert_error_body(server.register(name, "another password"), 409)


@pytest.mark.parametrize("name", ["", "a" * 65, "has space", "sl/ash", "caf\u00e9",
                                  "semi;colon", "new\nline"])
def test_register_bad_name_is_400(server, name):
    assert_error_body(server.register(name), 400)


def test_register_name_of_64_allowed_chars_is_accepted(server):
    name = (cp.unique_name("A.b-c_") + "x" * 64)[:64]
    r = server.register(name)
    assert r.status == 201, r
    assert r.json()["user"] == name


def test_register_password_under_8_bytes_is_400(server):
    assert_error_body(server.register(cp.unique_name("pw"), "1234567"), 400)


def test_register_password_of_8_bytes_is_accepted(server):
    name = cp.unique_name("pw")
    assert server.register(name, "12345678").status == 201
    assert server.login(name, "12345678").status == 200


@pytest.mark.parametrize("raw", ["not json", "[]", '{"user":"x"}', '{"password":"12345678"}',
                                 '{"user":5,"password":"12345678"}', ""])
def test_register_malformed_body_is_400(server, raw):
    assert_error_body(server.http("POST", "/v1/register", raw=raw), 400)


# -- login


def test_login_answers_token_and_expiry_in_ms(server):
    name = cp.unique_name("login")
    assert server.register(name).status == 201
    before = cp.now_ms()
    r = server.login(name)
    assert r.status == 200, r
    body = r.json()
    assert isinstance(body["token"], str) and body["token"].count(".") == 2
    assert isinstance(body["expires_at"], int)
    # unix milliseconds, in the future (a token that expires at once is useless)
    assert body["expires_at"] > before + 60_000
    assert body["expires_at"] < before + 400 * 24 * 3600 * 1000
    header, claims = cp.jwt_parts(body["token"])
    assert header["alg"] == "HS256"
    assert claims["sub"] == name


def test_login_wrong_password_is_401(server):
    name = cp.unique_name("login")
    assert server.register(name).status == 201
    assert_error_body(server.login(name, "wrong password"), 401)


def test_login_unknown_user_is_401(server):
    assert_error_body(server.login(cp.unique_name("nobody")), 401)


# -- friends


def test_friend_request_and_accept_make_friends(server):
    a, b = server.new_users("fa", "fb")
    r = server.http("POST", "/v1/friends/request", {"user": b.name}, token=a.token)
    assert r.status == 200, r
    assert server.friends(a) == [] and server.friends(b) == []
    r = server.http("POST", "/v1/friends/accept", {"user": a.name}, token=b.token)
    assert r.status == 200, r
    assert server.friends(a) == [b.name]
    assert server.friends(b) == [a.name]


def test_crossed_requests_make_the_friendship(server):
    a, b = server.new_users("fa", "fb")
    assert server.http("POST", "/v1/friends/request", {"user": b.name},
                       token=a.token).status == 200
    assert server.http("POST", "/v1/friends/request", {"user": a.name},
                       token=b.token).status == 200
    assert server.friends(a) == [b.name]
    assert server.friends(b) == [a.name]


def test_accept_without_request_is_404(server):
    a, b = server.new_users("fa", "fb")
    assert_error_body(server.http("POST", "/v1/friends/accept", {"user": a.name},
                                  token=b.token), 404)
    # The requester cannot accept their own request either.
    assert server.http("POST", "/v1/friends/request", {"user": b.name},
                       token=a.token).status == 200
    assert_error_body(server.http("POST", "/v1/friends/accept", {"user": b.name},
                                  token=a.token), 404)
    assert server.friends(a) == []


def test_friends_lists_every_friend(server):
    a, *others = server.new_users("many", "f", "f", "f")
    for o in others:
        server.befriend(a, o)
    assert sorted(server.friends(a)) == sorted(o.name for o in others)


def test_friend_request_to_unknown_user_is_an_error(server):
    a = server.new_user("fa")
    r = server.http("POST", "/v1/friends/request", {"user": cp.unique_name("ghost")},
                    token=a.token)
    assert 400 <= r.status < 500, r
    assert_error_body(r, r.status)


@pytest.mark.parametrize("method,path,body", [
    ("POST", "/v1/friends/request", {"user": "someone"}),
    ("POST", "/v1/friends/accept", {"user": "someone"}),
    ("GET", "/v1/friends", None),
])
def test_friend_endpoints_need_a_valid_bearer_token(server, jwt_secret, method, path, body):
    u = server.new_user("auth")
    body_err = assert_error_body(server.http(method, path, body), 401)
    assert body_err["error"] == "unauthorized"
    assert_error_body(server.http(method, path, body, token="not.a.token"), 401)
    # Signed with another key.
    header, claims = cp.jwt_parts(u.token)
    forged = cp.jwt_sign(b"k" * 32, header, claims)
    assert_error_body(server.http(method, path, body, token=forged), 401)
    # Expired, signed with the right key.
    claims = dict(claims, exp=int(cp.now_ms() / 1000) - 3600)
    expired = cp.jwt_sign(jwt_secret[1], header, claims)
    assert_error_body(server.http(method, path, body, token=expired), 401)


# -- healthz, metrics, the page, errors


def test_healthz_is_200(server):
    r = server.http("GET", "/healthz")
    assert r.status == 200, r


def parse_prometheus(text):
    """{metric name: [(labels, value)]}; fails on a line the format does not allow."""
    samples = {}
    line_re = re.compile(
        r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?'
        r' ([-+]?(?:[0-9.eE+-]+|NaN|Inf))( -?[0-9]+)?$')
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* ", line) or \
                not re.match(r"^# (HELP|TYPE)", line), f"bad comment line {line!r}"
            if line.startswith("# TYPE"):
                assert line.split()[3] in ("counter", "gauge", "histogram", "summary",
                                           "untyped"), line
            continue
        m = line_re.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        samples.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
    return samples


def test_metrics_is_prometheus_text_with_the_promised_series(server, pair):
    alice, bob = pair
    # /metrics lives on the admin address; the public port keeps /healthz only.
    assert server.http("GET", "/metrics").status == 404
    r = server.admin_http("GET", "/metrics", token="")
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
    before = parse_prometheus(r.text)
    assert before, "no samples"
    names = " ".join(before)
    for word in ("connection", "send", "deliver", "ack", "queue"):
        assert word in names, f"no metric about {word!r} in {sorted(before)}"
    assert re.search(r"latenc|_seconds|_duration", names), \
        f"no latency metric in {sorted(before)}"

    def total(samples, word):
        return sum(v for n, vals in samples.items() if word in n and "error" not in n
                   and "dup" not in n for _, v in vals if not n.endswith("_bucket"))

    with server.connect(alice, "m1") as a:
        sent = a.message(bob.name, "count me")
        assert sent["op"] == "sent", sent
    after = parse_prometheus(server.admin_http("GET", "/metrics", token="").text)
    assert total(after, "send") > total(before, "send"), \
        "the send counters did not grow after a send"


def test_root_serves_the_html_page(server):
    r = server.http("GET", "/")
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("text/html"), r.headers
    assert re.search(r"<!doctype html|<html", r.text, re.I), r.text[:200]


def test_unknown_path_is_404_with_error_body(server):
    assert_error_body(server.http("GET", "/v1/no-such-thing"), 404)


def test_oversized_http_body_is_refused_and_the_server_lives_on(server):
    big = '{"user":"' + "x" * (1024 * 1024) + '","password":"12345678"}'
    try:
        r = server.http("POST", "/v1/register", raw=big)
        assert 400 <= r.status < 500, r
    except (ConnectionResetError, BrokenPipeError):
        pass  # refused before the whole body was written: fine too
    assert server.http("GET", "/healthz").status == 200


def test_keep_alive_and_wrong_method(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=cp.HTTP_TIMEOUT)
    try:
        for _ in range(3):  # one connection, several requests (as browsers do)
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            assert r.status == 200
            r.read()
    finally:
        conn.close()
    r = server.http("GET", "/v1/register")
    assert r.status in (404, 405), r
    assert_error_body(r, r.status)
