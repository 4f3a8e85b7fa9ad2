"""Bad HTTP requests: clear 4xx answers, no file outside the web page ever
served, the server keeps answering."""

import json
import socket

import courier_wire as cw
from conftest import PASSWORD


def post(srv, path, raw, token=None):
    hdrs = {"Authorization": f"Bearer {token}"} if token else None
    st, _, body = srv.http("POST", path, raw, headers=hdrs)
    return st, (json.loads(body) if body else None)


def test_malformed_json_bodies_are_400(srv):
    for raw in [b"{", b"", b"[]", b"null", b'"user"', b"{'user':'x'}", b"\xff\xfe",
                b'{"user":"x","password":"y"']:
        for path in ["/v1/register", "/v1/login"]:
            st, doc = post(srv, path, raw)
            assert st == 400 and doc["error"] == "bad_request", (path, raw, st, doc)
    # A name that is not UTF-8 once decoded is no name: refused, never stored.
    raw = b'{"user":"a\\udc00b","password":"abcdefghij"}'
    assert post(srv, "/v1/register", raw)[0] == 400
    assert post(srv, "/v1/login", raw)[0] == 401


def test_wrong_types_in_bodies_are_400(srv):
    _, token = srv.user()
    for body in [{"user": 1, "password": "abcdefghij"}, {"user": "x", "password": 123456789},
                 {"user": ["x"], "password": "abcdefghij"}, {"user": None, "password": None},
                 {"password": "abcdefghij"}, {"user": "okname"}]:
        for path in ["/v1/register", "/v1/login"]:
            st, doc = post(srv, path, json.dumps(body))
            assert st == 400, (path, body, st, doc)
    for body in [{"user": 5}, {}, {"user": {"$ne": ""}}, {"user": "../x"}, {"user": ""}]:
        for path in ["/v1/friends/request", "/v1/friends/accept"]:
            st, doc = post(srv, path, json.dumps(body), token=token)
            assert st == 400, (path, body, st, doc)


def test_bad_names_and_passwords_are_400(srv):
    for user, pw in [("a" * 65, PASSWORD), ("bad name", PASSWORD), ("", PASSWORD),
                     ("ok-name", "short"), ("ok-name", "x" * 1025), ("dots/../x", PASSWORD),
                     ("nul\u0000x", PASSWORD), ("é", PASSWORD)]:
        st, doc = post(srv, "/v1/register", json.dumps({"user": user, "password": pw}))
        assert st == 400, (user, st, doc)


def test_deeply_nested_and_huge_bodies(srv):
    st, doc = post(srv, "/v1/login", b'{"user":' + b"[" * 30000 + b"]" * 30000 + b"}")
    assert st == 400
    st, _, body = srv.http("POST", "/v1/register", b'{"user":"' + b"x" * (70 * 1024) + b'"}')
    assert st == 413, body
    # A Content-Length far past the limit is refused before the body comes.
    with socket.create_connection((srv.host, srv.port), timeout=30) as s:
        s.sendall(b"POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 99999999999\r\n\r\n{")
        st, _, _ = cw.read_http_response(s)
        assert st == 413


def test_path_tricks_never_leave_the_routes(srv):
    paths = ["/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/%2E%2E%2Fetc%2Fpasswd",
             "/..%2f..%2fetc%2fpasswd", "/v1/../v1/friends", "//etc/passwd",
             "/index.html/../../../etc/passwd", "/%00", "/static/..\\..\\etc\\passwd",
             "/.%2e/.%2e/etc/passwd", "/v1/register/../login", "/v1/ws/../friends",
             "/%c0%ae%c0%ae/etc/passwd", "/" + "a" * 2000]
    for p in paths:
        st, _, body = srv.http("GET", p)
        assert st in (400, 404, 414), (p, st, body[:100])
        assert b"root:" not in body and b"[Unit]" not in body
    st, _, body = srv.http("GET", "/" + "a" * 20000)
    assert st in (400, 414, 431), st
    st, _, body = srv.http("GET", "/")
    assert st == 200 and b"<html" in body.lower()


def test_bad_methods_and_request_lines(srv):
    st, h, _ = srv.http("DELETE", "/v1/friends")
    assert st == 405 and "allow" in h
    st, _, _ = srv.http("GET", "/v1/register")
    assert st == 405
    for raw in [b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40]:
        with socket.create_connection((srv.host, srv.port), timeout=30) as s:
            s.sendall(raw)
            try:
                st, _, _ = cw.read_http_response(s)
                assert 400 <= st < 600
            except (cw.WireError, OSError):
                pass    # closed without an answer is fine too
    assert srv.healthy_roundtrip()


def test_friend_requests_to_self_and_unknown(srv):
    me, token = srv.user()
    st, doc = post(srv, "/v1/friends/request", json.dumps({"user": me}), token=token)
    assert st == 400
    st, doc = post(srv, "/v1/friends/request", json.dumps({"user": "nobody-here"}), token=token)
    assert st == 404
    st, doc = post(srv, "/v1/friends/accept", json.dumps({"user": "nobody-here"}), token=token)
    assert st == 404
