"""A local HTTP server that answers the Twilio REST paths the official library calls, with Twilio's JSON.

Reached through the channel connection's host override (``"host": "http://127.0.0.1:<port>"``), so the
adapter under test runs the real ``twilio`` client, the real requests stack and real sockets. It answers:

* ``GET  /2010-04-01/Accounts/{sid}.json`` -- the account (the adapter's credential check);
* ``POST /2010-04-01/Accounts/{sid}/Messages.json`` and ``Calls.json`` -- create, as Twilio does (``SM``/``CA``
  SIDs, status ``queued``), or refuse with Twilio's error bodies (``{"code", "message", "more_info", "status"}``):
  20003 (bad credentials), 21211 (invalid To), 21602 (no Body), 21205 (no Url/Twiml), 20429 (429), 20500 (500);
* ``GET  .../Messages.json`` and ``Calls.json`` with ``To``/``From``/``PageSize`` -- the list pages, newest first.

``script[number]`` (or ``script["messages:<number>"]`` / ``script["calls:<number>"]``) says what happens to
each request for that recipient, in turn (the last one repeats):
``ok``, ``429``, ``500``, ``21211``, ``slow:<seconds>`` (created, then the answer comes late), ``drop``
(created, then the connection is closed without an answer).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections import defaultdict
from email.utils import format_datetime
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
E164 = re.compile(r"^(whatsapp:)?\+[1-9][0-9]{6,14}$")
ERRORS = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "An internal server error has occurred"),
    21205: (400, "Url parameter is required."),
    21211: (400, "Invalid 'To' Phone Number: {to}"),
    21602: (400, "Message body is required."),
}


def _now() -> str:
    return format_datetime(datetime.now(timezone.utc), usegmt=False).replace("-0000", "+0000")


class TwilioPeer:
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.lock = threading.Lock()
        self.script: dict[str, list[str]] = {}
        self.seen: dict[str, int] = defaultdict(int)
        self.messages: list[dict] = []  # what was created, in order (each a Twilio resource)
        self.calls: list[dict] = []
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, form)
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                peer.handle(self, "GET")

            def do_POST(self):
                peer.handle(self, "POST")

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default 5 drops connections of a client sending in parallel

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="twilio-peer", daemon=True)

    # -- lifecycle ----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> TwilioPeer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what the tests read ------------------------------------------------------------------------------
    def created_for(self, to: str) -> list[dict]:
        return [m for m in self.messages + self.calls if m["to"] == to]

    # -- HTTP ---------------------------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        form = {k: v if len(v) > 1 else v[0] for k, v in parse_qs(h.rfile.read(length).decode()).items()}
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append((method, parts.path, form))
        if not self._authorised(h.headers.get("Authorization")):
            return self._error(h, 20003)
        base = f"/2010-04-01/Accounts/{self.account_sid}"
        if method == "GET" and parts.path == f"{base}.json":
            return self._json(h, 200, {"sid": self.account_sid, "friendly_name": "Test account", "status": "active",
                                       "type": "Full", "date_created": _now(), "uri": f"{base}.json"})
        kind = {f"{base}/Messages.json": "messages", f"{base}/Calls.json": "calls"}.get(parts.path)
        if kind is None:
            return self._error(h, 20404)
        if method == "GET":
            return self._list(h, kind, query, parts.path)
        return self._create(h, kind, form, base)

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header[len("Basic "):] == expected

    def _next(self, to: str, kind: str) -> str:
        number = to.removeprefix("whatsapp:")
        key = f"{kind}:{number}" if f"{kind}:{number}" in self.script else number
        with self.lock:
            steps = self.script.get(key, ["ok"])
            i = self.seen[key]
            self.seen[key] += 1
        return steps[min(i, len(steps) - 1)]

    def _create(self, h: BaseHTTPRequestHandler, kind: str, form: dict, base: str) -> None:
        to = form.get("To", "")
        if not E164.match(to):
            return self._error(h, 21211, to=to)
        if kind == "messages" and not form.get("Body"):
            return self._error(h, 21602)
        if kind == "calls" and not (form.get("Twiml") or form.get("Url")):
            return self._error(h, 21205)
        step = self._next(to, kind)
        if step in ("429", "500", "21211"):
            return self._error(h, {"429": 20429, "500": 20500, "21211": 21211}[step], to=to)
        prefix = "SM" if kind == "messages" else "CA"
        sid = prefix + uuid.uuid4().hex
        resource = {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "sid": sid, "to": to,
            "from": form.get("From"), "status": "queued", "direction": "outbound-api", "date_created": _now(),
            "date_updated": _now(), "price": None, "price_unit": "USD",
            "uri": f"{base}/{'Messages' if kind == 'messages' else 'Calls'}/{sid}.json",
        }
        if kind == "messages":
            resource.update({"body": form.get("Body"), "num_segments": "1", "num_media": "0", "error_code": None,
                             "error_message": None, "date_sent": None, "messaging_service_sid": None,
                             "subresource_uris": {"media": f"{base}/Messages/{sid}/Media.json"}})
        else:
            resource.update({"start_time": None, "end_time": None, "duration": None, "parent_call_sid": None,
                             "to_formatted": to, "from_formatted": form.get("From"), "answered_by": None,
                             "forwarded_from": None, "caller_name": None, "queue_time": "0",
                             "subresource_uris": {"recordings": f"{base}/Calls/{sid}/Recordings.json"}})
        extra = {"_form": form}  # what was posted (Twiml, StatusCallback, ...), for the tests
        with self.lock:
            (self.messages if kind == "messages" else self.calls).append({**resource, **extra})
        if step.startswith("slow:"):
            time.sleep(float(step.split(":", 1)[1]))
        if step == "drop":
            h.close_connection = True
            h.connection.shutdown(2)
            return None
        return self._json(h, 201, resource)

    def _list(self, h: BaseHTTPRequestHandler, kind: str, query: dict, path: str) -> None:
        with self.lock:
            items = [dict(r) for r in (self.messages if kind == "messages" else self.calls)]
        items = [{k: v for k, v in r.items() if k != "_form"} for r in reversed(items)
                 if ("To" not in query or r["to"] == query["To"]) and ("From" not in query or r["from"] == query["From"])]
        size = int(query.get("PageSize", 50))
        page = items[:size]
        self._json(h, 200, {kind: page, "end": max(len(page) - 1, 0), "first_page_uri": f"{path}?PageSize={size}&Page=0",
                            "next_page_uri": None, "page": 0, "page_size": size, "previous_page_uri": None, "start": 0,
                            "uri": f"{path}?PageSize={size}&Page=0"})

    def _error(self, h: BaseHTTPRequestHandler, code: int, **fmt) -> None:
        status, message = ERRORS[code]
        self._json(h, status, {"code": code, "message": message.format(**fmt), "status": status,
                               "more_info": f"https://www.twilio.com/docs/errors/{code}"})

    def _json(self, h: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            pass
