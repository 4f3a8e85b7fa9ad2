"""Bad frames on the WebSocket: each gets its error (or close code), the
connection or at least the server goes on, and nothing bad is stored."""

import time

import courier_wire as cw
from conftest import is_op, roundtrip_ping


def errors(seen):
    return [m for m in seen if isinstance(m, dict) and m.get("op") == "error"]


def open_pair(srv):
    a, b = srv.user(), srv.user()
    srv.befriend(a, b)
    return a, b


def test_malformed_json_is_bad_frame(srv):
    a, _ = open_pair(srv)
    c, _ = srv.session(a)
    for text in ["{not json", "", "[]", "42", '"op"', '{"op":', '{"op":"send"', "null",
                 '{"op":null}', '{"no_op":1}']:
        c.send_text(text)
        seen = roundtrip_ping(c)
        assert seen is not None, f"connection lost after {text!r}"
        errs = errors(seen)
        assert [e["code"] for e in errs] == ["bad_frame"], (text, seen)
    c.close()


def test_wrong_types_are_bad_frame(srv):
    a, b = open_pair(srv)
    c, _ = srv.session(a)
    frames = [
        {"op": 7},
        {"op": "send", "cid": 5, "to": b[0], "body": "x"},
        {"op": "send", "cid": "c1", "to": ["x"], "body": "x"},
        {"op": "send", "cid": "c2", "to": b[0], "body": {"text": "x"}},
        {"op": "send", "cid": "", "to": b[0], "body": "x"},
        {"op": "send", "cid": "c" * 65, "to": b[0], "body": "x"},
        {"op": "ack", "seq": "1"},
        {"op": "ack", "seq": -1},
        {"op": "ack", "seq": 1.5},
        {"op": "ack", "seq": 10 ** 30},
        {"op": "ack"},
        {"op": "read", "ids": "abc"},
        {"op": "read", "ids": [1, 2]},
        {"op": "read", "ids": []},
        {"op": "read", "ids": ["x" * 65]},
    ]
    for f in frames:
        c.send_json(f)
        seen = roundtrip_ping(c)
        assert seen is not None, f"connection lost after {f}"
        assert [e["code"] for e in errors(seen)] == ["bad_frame"], (f, seen)
    # A typed error about a send carries its cid when the cid was valid.
    c.send_json({"op": "send", "cid": "c2", "to": b[0], "body": 3})
    seen = roundtrip_ping(c)
    assert errors(seen)[0].get("cid") == "c2"
    c.close()


def test_unknown_op_is_unknown_op(srv):
    a, _ = open_pair(srv)
    c, _ = srv.session(a)
    c.send_json({"op": "delete_everything"})
    seen = roundtrip_ping(c)
    assert [e["code"] for e in errors(seen)] == ["unknown_op"]
    c.close()


def test_deeply_nested_json_is_refused(srv):
    a, _ = open_pair(srv)
    c, _ = srv.session(a)
    for depth in (17, 1000, 100000):
        c.send_text('{"op":"ping","x":' + "[" * depth + "]" * depth + "}")
        seen = roundtrip_ping(c, timeout=30)
        assert seen is not None
        errs = errors(seen)
        assert errs and errs[0]["code"] == "bad_frame" and "deeper" in errs[0]["message"], seen
    c.close()


def test_huge_json_under_the_frame_limit(srv):
    """A 250 KB frame of many small values: refused or answered, no crash."""
    a, b = open_pair(srv)
    c, _ = srv.session(a)
    c.send_text('{"op":"read","ids":[' + ",".join(['"x"'] * 60000) + "]}")
    c.send_text('{"op":"ping","pad":{' + ",".join(f'"k{i}":0' for i in range(20000)) + "}}")
    seen = roundtrip_ping(c, timeout=30)
    assert seen is not None
    codes = [e["code"] for e in errors(seen)]
    assert codes == ["too_large"], seen
    c.close()


def test_invalid_utf8_text_frame_closes_1007(srv):
    a, b = open_pair(srv)
    c, _ = srv.session(a)
    c.send_raw(cw.encode_frame(cw.OP_TEXT, b'{"op":"send","cid":"u1","to":"' + b[0].encode() +
                               b'","body":"\xff\xfe\xc0\xaf"}'))
    assert c.wait_closed() == 1007
    assert srv.healthy_roundtrip()


def test_lone_surrogate_escape_is_bad_frame(srv):
    """Regression: "\\udc00" decoded to bytes ED B0 80 (not UTF-8) and was
    stored; every later delivery broke the recipient's connection."""
    a, b = open_pair(srv)
    ca, _ = srv.session(a)
    cb, _ = srv.session(b)
    for escaped in ["A\\udc00B", "\\udfff", "\\ud800", "\\ud800\\u0041"]:
        ca.send_text('{"op":"send","cid":"s1","to":"%s","body":"%s"}' % (b[0], escaped))
        seen = roundtrip_ping(ca)
        assert [e["code"] for e in errors(seen)] == ["bad_frame"], (escaped, seen)
    ca.send_text('{"op":"send","cid":"s2","to":"%s","body":"ok \\ud83d\\ude00"}' % b[0])
    sent, _ = ca.recv_until(is_op("sent"))
    assert sent is not None
    msg, _ = cb.recv_until(is_op("msg"))
    assert msg["body"] == "ok \U0001F600" and msg["seq"] == 1
    ca.close()
    cb.close()


def test_oversized_frame_closes_1009(srv):
    a, _ = open_pair(srv)
    c, _ = srv.session(a)
    c.send_raw(cw.encode_frame(cw.OP_TEXT, b"[" + b" " * (300 * 1024) + b"]"))
    assert c.wait_closed() == 1009
    # A header that announces 2^62 bytes: what follows counts against the
    # limit as it arrives; nothing is allocated for the announced length.
    c, _ = srv.session(a, device="d2")
    c.send_raw(cw.encode_frame(cw.OP_TEXT, b"x" * (300 * 1024), length_override=1 << 62))
    assert c.wait_closed() == 1009
    # Fragments that add up past the limit count as one message.
    c, _ = srv.session(a, device="d3")
    for i in range(40):
        c.send_raw(cw.encode_frame(cw.OP_TEXT if i == 0 else cw.OP_CONT, b" " * 10000,
                                   fin=False))
    assert c.wait_closed() == 1009
    assert srv.healthy_roundtrip()


def test_announced_huge_frame_is_refused_at_its_header(make_server):
    """The header alone says the frame is over the limit: 1009 at once,
    without waiting for (or allocating) the announced bytes; a peer that
    then neither sends them nor answers the close is dropped."""
    s = make_server("--idle-timeout-ms", "1500")
    a = s.user()
    c, _ = s.session(a)
    c.send_raw(cw.encode_frame(cw.OP_TEXT, b"x", length_override=1 << 62))
    assert c.wait_closed(timeout=30) == 1009
    assert s.healthy_roundtrip()


def test_oversized_body_is_too_large(srv):
    a, b = open_pair(srv)
    c, _ = srv.session(a)
    c.send_json({"op": "send", "cid": "big", "to": b[0], "body": "x" * (64 * 1024 + 1)})
    seen = roundtrip_ping(c)
    errs = errors(seen)
    assert [(e["code"], e.get("cid")) for e in errs] == [("too_large", "big")]
    c.send_json({"op": "send", "cid": "edge", "to": b[0], "body": "x" * (64 * 1024)})
    sent, _ = c.recv_until(is_op("sent"))
    assert sent is not None and sent["cid"] == "edge"
    c.close()


def test_unmasked_and_binary_frames(srv):
    a, _ = open_pair(srv)
    c, _ = srv.session(a)
    c.send_raw(cw.encode_frame(cw.OP_TEXT, b'{"op":"ping"}', mask=False))
    assert c.wait_closed() not in ("open",)
    c, _ = srv.session(a, device="d2")
    c.send_raw(cw.encode_frame(cw.OP_BINARY, b'{"op":"ping"}'))
    seen = roundtrip_ping(c)
    assert seen is None or [e["code"] for e in errors(seen)] in ([], ["bad_frame"])
    assert srv.healthy_roundtrip()


def test_ack_beyond_head_is_bad_seq(srv):
    a, b = open_pair(srv)
    ca, _ = srv.session(a)
    cb, _ = srv.session(b)
    ca.send_json({"op": "send", "cid": "m1", "to": b[0], "body": "one"})
    msg, _ = cb.recv_until(is_op("msg"))
    cb.send_json({"op": "ack", "seq": 2})
    err, _ = cb.recv_until(is_op("error"))
    assert err["code"] == "bad_seq"
    cb.send_json({"op": "ack", "seq": 2 ** 64 - 1})
    err, _ = cb.recv_until(is_op("error"))
    assert err["code"] == "bad_seq"
    cb.close()
    cb, w = srv.session(b)
    assert w["cursor"] == 0 and w["head"] == 1
    ca.close()
    cb.close()


def test_ack_backwards_is_ignored(srv):
    a, b = open_pair(srv)
    ca, _ = srv.session(a)
    cb, _ = srv.session(b)
    for i in range(3):
        ca.send_json({"op": "send", "cid": f"m{i}", "to": b[0], "body": str(i)})
    m, _ = cb.recv_until(lambda m: isinstance(m, dict) and m.get("seq") == 3)
    assert m is not None
    cb.send_json({"op": "ack", "seq": 3})
    cb.send_json({"op": "ack", "seq": 1})
    cb.send_json({"op": "ack", "seq": 0})
    seen = roundtrip_ping(cb)
    assert errors(seen) == []
    time.sleep(0.5)
    cb.close()

    def cursor():
        c, w = srv.session(b)
        c.close()
        return w["cursor"]
    from conftest import wait_for
    assert wait_for(lambda: cursor() == 3, timeout=10)
    ca.close()


def test_from_field_cannot_change_the_sender(srv):
    a, b = open_pair(srv)
    c_user = srv.user()
    srv.befriend(c_user, b)
    ca, _ = srv.session(a)
    cb, _ = srv.session(b)
    ca.send_json({"op": "send", "cid": "f1", "to": b[0], "body": "who am i",
                  "from": c_user[0], "user": c_user[0], "sender": c_user[0]})
    msg, _ = cb.recv_until(is_op("msg"))
    assert msg["from"] == a[0]
    cb.close()
    ca.close()


def test_frames_before_hello_close_4401(make_server):
    s = make_server("--hello-timeout-ms", "500")
    a = s.user()
    for first in [{"op": "send", "cid": "x", "to": a[0], "body": "z"}, {"op": "ping"},
                  {"op": "ack", "seq": 1}]:
        c = s.ws()
        c.send_json(first)
        assert c.wait_closed() == 4401
    c = s.ws()          # nothing at all: the hello timeout
    assert c.wait_closed() == 4401
    c = s.ws()
    c.send_json({"op": "hello", "token": a[1], "device": "../../etc"})
    assert c.wait_closed() == 4401
    assert s.healthy_roundtrip()


def test_second_hello_is_refused(srv):
    a, b = open_pair(srv)
    c, _ = srv.session(a)
    c.send_json({"op": "hello", "token": b[1], "device": "d9"})
    seen = roundtrip_ping(c)
    assert [e["code"] for e in errors(seen)] == ["bad_frame"]
    c.send_json({"op": "send", "cid": "after", "to": b[0], "body": "x"})
    cb, _ = srv.session(b)
    msg, _ = cb.recv_until(is_op("msg"))
    assert msg["from"] == a[0]
    c.close()
    cb.close()


def test_sending_to_strangers_and_unknown_users(srv):
    a, _ = open_pair(srv)
    stranger = srv.user()
    c, _ = srv.session(a)
    for to, code in [(stranger[0], "not_friends"), ("nobody-at-all", "unknown_user"),
                     ("../etc", "unknown_user"), ("", "unknown_user")]:
        c.send_json({"op": "send", "cid": f"s-{len(to)}", "to": to, "body": "x"})
        err, seen = c.recv_until(is_op("error"))
        assert err is not None and err["code"] == code and err["cid"] == f"s-{len(to)}", seen
    c.close()
