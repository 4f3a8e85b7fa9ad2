"""Abuse of the config file (--config) and of the admin address
(--admin-listen): README "Bad input and abuse" rows, over real processes and
sockets."""

import os
import stat
import subprocess

import courier_wire as cw


def start_with_config(binary, tmp_path, text=None, path=None, extra=()):
    """Runs courier-server with --config; (exit status, stderr). A config that
    is accepted starts a server, which is stopped at once."""
    if path is None:
        path = tmp_path / "courier.toml"
        path.write_text(text)
    r = subprocess.run([binary, "--config", str(path), "--listen", "127.0.0.1:0",
                        "--admin-listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "data"),
                        *extra],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stderr


def test_config_file_with_an_unknown_key_exits_2(server_binary, tmp_path):
    code, err = start_with_config(server_binary, tmp_path,
                                  'listen = "127.0.0.1:0"\nwindoww = 5\n')
    assert code == 2, err
    assert "courier.toml:2: unknown key \"windoww\"" in err, err
    # Keys the command line has but a file must not: config itself, help.
    for text in ('config = "other.toml"\n', "help = true\n", "[server]\nwindow = 5\n"):
        code, err = start_with_config(server_binary, tmp_path, text)
        assert code == 2, (text, err)


def test_config_file_with_a_bad_value_exits_2(server_binary, tmp_path):
    for text, word in (("window = 0\n", "window"), ('window = "many"\n', "window"),
                       ('log-level = "loud"\n', "log-level"), ("window = -1\n", "not a value"),
                       ('rate-limit = "five"\n', "--rate-limit must be N/SECONDS"),
                       ('data-dir = "unclosed\n', "not closed"), ("window = 1.5\n", "not a value"),
                       ('durability = "sometimes"\n', "durability")):
        code, err = start_with_config(server_binary, tmp_path, text)
        assert code == 2, (text, err)
        assert word in err, (text, err)


def test_config_file_that_cannot_be_read_exits_2(server_binary, tmp_path):
    code, err = start_with_config(server_binary, tmp_path, path=tmp_path / "missing.toml")
    assert code == 2 and "cannot read config file" in err, err
    code, err = start_with_config(server_binary, tmp_path, path=tmp_path)  # a directory
    assert code == 2 and "cannot read config file" in err, err
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\x00\xff\xfe" * 100)
    code, err = start_with_config(server_binary, tmp_path, path=binary)
    assert code == 2, err
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.toml"
        locked.write_text("window = 5\n")
        locked.chmod(0)
        code, err = start_with_config(server_binary, tmp_path, path=locked)
        assert code == 2 and "cannot read config file" in err, err


def admin_request(s, method, path, token=None, raw_auth=None, body=None):
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if raw_auth is not None:
        headers["Authorization"] = raw_auth
    return cw.http_request("127.0.0.1", s.server.admin_port, method, path, body, headers)


def admin_token_of(s):
    path = os.path.join(s.server.data_dir, "admin-token")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        return f.read().strip()


ADMIN_ROUTES = [("GET", "/admin/v1/users/alice/devices"),
                ("POST", "/admin/v1/users/alice/disable"),
                ("POST", "/admin/v1/users/alice/enable"),
                ("POST", "/admin/v1/users/alice/devices/d1/disconnect"),
                ("DELETE", "/admin/v1/users/alice?inbox=retain"),
                ("POST", "/admin/v1/users"),
                ("GET", "/admin/v1/nothing-here")]


def test_admin_api_without_a_token_is_401(make_server):
    s = make_server()
    alice = s.user("alice")
    for method, path in ADMIN_ROUTES:
        for auth in (None, "", "Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "bearer"):
            status, headers, body = admin_request(s, method, path, raw_auth=auth)
            assert status == 401, (method, path, auth, status, body)
            assert b'"unauthorized"' in body
    # Nothing happened to the user.
    st, doc = cw.http_json(s.host, s.port, "GET", "/v1/friends", token=alice[1])
    assert st == 200, doc


def test_admin_api_with_a_wrong_token_is_401(make_server):
    s = make_server()
    alice = s.user("alice")
    token = admin_token_of(s)
    wrong = [token[:-1], token + "x", token.upper() if token != token.upper() else token.lower(),
             "x" * 5000, alice[1], token[:32]]
    for method, path in ADMIN_ROUTES:
        for t in wrong:
            status, _, body = admin_request(s, method, path, token=t)
            assert status == 401, (method, path, t[:20], status, body)
    # The right token works (and the user was never disabled).
    status, _, body = admin_request(s, "GET", f"/admin/v1/users/{alice[0]}/devices", token=token)
    assert status == 200 and b'"disabled":false' in body, body


def test_admin_routes_on_the_public_port_are_404(make_server):
    s = make_server()
    alice = s.user("alice")
    token = admin_token_of(s)
    for method, path in ADMIN_ROUTES + [("GET", "/metrics"), ("GET", "/admin"),
                                        ("GET", "/admin/")]:
        status, _, body = cw.http_request(s.host, s.port, method, path, None,
                                          {"Authorization": f"Bearer {token}"})
        assert status == 404, (method, path, status, body)
    # A WebSocket upgrade on the admin address is 404 too.
    status, _, _ = cw.http_request("127.0.0.1", s.server.admin_port, "GET", "/v1/ws", None,
                                   {"Upgrade": "websocket", "Connection": "Upgrade",
                                    "Sec-WebSocket-Version": "13",
                                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert status == 404
    st, doc = cw.http_json(s.host, s.port, "GET", "/v1/friends", token=alice[1])
    assert st == 200, doc
