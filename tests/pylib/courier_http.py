"""courier_http: one HTTP request to courier-server's API, with http.client.

Contract: request() opens a fresh connection, sends one request and returns
a Response (status, lower-cased headers, body bytes); it raises OSError or
http.client.HTTPException when the server does not answer. A `body` is sent
as JSON, `raw` as given (both with Content-Type application/json), `token`
(unless None) as "Authorization: Bearer". For bytes the tests must control one by one
(bad framing, half requests) use courier_wire.http_request instead.

Stdlib only; thread-safe (no shared state).
"""

import http.client
import json

HTTP_TIMEOUT = 30.0


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def doc(self):
        """The body as JSON; the raw bytes when it is not JSON, None when empty."""
        if not self.body:
            return None
        try:
            return self.json()
        except ValueError:
            return self.body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<HTTP {self.status} {self.body[:300]!r}>"


def request(host, port, method, path, body=None, token=None, raw=None, headers=None,
            ssl_context=None, timeout=HTTP_TIMEOUT):
    """One request on a fresh connection (HTTPS when `ssl_context` is given)."""
    if ssl_context is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl_context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
    if raw is not None:
        data = raw if isinstance(raw, bytes) else raw.encode()
    if data is not None:
        hdrs.setdefault("Content-Type", "application/json")
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload)
    finally:
        conn.close()
