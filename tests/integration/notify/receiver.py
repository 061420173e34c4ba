"""A real HTTP receiver on loopback for the notification tests: an SMS gateway, a WeChat API
(token + template send) and a district webhook in one small server running in a thread.

``fail_first`` makes the first N requests for each recipient (SMS ``to``, WeChat ``touser``,
or the webhook's event id) answer 503, so a test sees the dispatcher retry."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    fail_first: int = 0
    seen: list[Seen] = field(default_factory=list)
    tries: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def successes(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path and s.status == 200]

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        if path == "/cgi-bin/token":
            ok = query.get("grant_type") == ["client_credential"] and query.get("appid") == ["wx-test"]
            if not ok or query.get("secret") != ["wx-secret"]:
                return 200, {"errcode": 40013, "errmsg": "invalid appid"}
            return 200, {"access_token": "TOKEN-1", "expires_in": 7200}
        doc = json.loads(body or b"{}")
        if path == "/cgi-bin/message/template/send":
            if query.get("access_token") != ["TOKEN-1"]:
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}
            key = "wechat:" + str(doc.get("touser"))
        elif path == "/sms":
            key = "sms:" + str(doc.get("to"))
        else:
            key = "hook:" + str(doc.get("event_id"))
        with self.lock:
            self.tries[key] += 1
            n = self.tries[key]
        if n <= self.fail_first:
            return 503, {"error": "busy"}
        return 200, {"errcode": 0, "msgid": n, "id": f"m{n}"}


def start(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            query = parse_qs(url.query)
            status, doc = receiver.answer(self.command, url.path, query, body)
            with receiver.lock:
                receiver.seen.append(
                    Seen(
                        self.command,
                        url.path,
                        query,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        status,
                    )
                )
            out = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = _handle

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
