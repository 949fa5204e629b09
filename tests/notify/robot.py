"""A local HTTP server standing in for the DingTalk robot webhook: it checks every message's signature and keyword.

It can hang (hold each request without answering, then drop it unrecorded, as a request lost in a
DingTalk outage) or fail (HTTP 500, or errcode != 0). Only messages it accepted are in `accepted`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "robot-token"
SECRET = "SEC0123456789abcdef"
KEYWORD = "交易"


@dataclass
class Message:
    at: float  # when it was accepted (unix seconds)
    title: str
    text: str


@dataclass
class StandInRobot:
    """Runs until `close`; `url` is its webhook."""

    accepted: list[Message] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why a message broke the robot's rules (signature, keyword, format)
    lost: int = 0  # requests that hung or failed
    held: int = 0  # requests hanging now
    mode: str = "healthy"  # healthy, hang, http_error, errcode
    hang_until: float = 0.0

    def __post_init__(self):
        self._lock = threading.Lock()
        self._released = threading.Event()
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                robot._handle(self)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that gave up on a hanging request

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/robot/send"

    def hang_for(self, seconds: float) -> None:
        """Hold every request for up to `seconds` from now without answering, then drop it (not accepted)."""
        self._released.clear()
        self.hang_until = time.time() + seconds
        self.mode = "hang"

    def heal(self) -> None:
        """Answer again from now on; the requests a hang still holds are dropped (not accepted), as when it ends."""
        self.mode = "healthy"
        self._released.set()

    @property
    def hanging(self) -> bool:
        """Is a hang still on: has DingTalk answered nothing since `hang_for`?"""
        return self.mode == "hang" and time.time() < self.hang_until

    def close(self) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()

    def texts(self) -> list[str]:
        with self._lock:
            return [message.text for message in self.accepted]

    def per_minute(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        with self._lock:
            for message in self.accepted:
                counts[int(message.at // 60)] = counts.get(int(message.at // 60), 0) + 1
        return counts

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        if self.mode == "hang" and time.time() < self.hang_until:
            with self._lock:
                self.held += 1
            self._released.wait(self.hang_until - time.time())
            with self._lock:
                self.held -= 1
                self.lost += 1
            request.close_connection = True
            return  # no answer at all: the connection just closes
        if self.mode == "http_error":
            with self._lock:
                self.lost += 1
            return self._answer(request, 500, {})
        body = request.rfile.read(int(request.headers["Content-Length"]))
        problem = self._check(request.path, body)
        if problem:
            with self._lock:
                self.refused.append(problem)
            return self._answer(request, 200, {"errcode": 310000, "errmsg": problem})
        if self.mode == "errcode":
            with self._lock:
                self.lost += 1
            return self._answer(request, 200, {"errcode": 130101, "errmsg": "send too fast"})
        markdown = json.loads(body)["markdown"]
        with self._lock:
            self.accepted.append(Message(time.time(), markdown["title"], markdown["text"]))
        self._answer(request, 200, {"errcode": 0, "errmsg": "ok"})

    @staticmethod
    def _check(path: str, body: bytes) -> str:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(path).query))
        if query.get("access_token") != TOKEN:
            return "token"
        stamp = query.get("timestamp", "")
        if not stamp.isdigit() or abs(int(stamp) - time.time() * 1000) > 3_600_000:
            return "timestamp"
        expected = base64.b64encode(hmac.new(SECRET.encode(), f"{stamp}\n{SECRET}".encode(), hashlib.sha256).digest()).decode()
        if query.get("sign") != expected:
            return "sign"
        message = json.loads(body)
        if message.get("msgtype") != "markdown" or not {"title", "text"} <= set(message.get("markdown", {})):
            return "format"
        if KEYWORD not in message["markdown"]["text"] or KEYWORD not in message["markdown"]["title"]:
            return "keyword"
        return ""

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, reply: dict) -> None:
        data = json.dumps(reply).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


def robot_settings(robot: StandInRobot) -> dict[str, str]:
    """The settings that point a role at the stand-in."""
    return {"DINGTALK_ACCESS_TOKEN": TOKEN, "DINGTALK_SECRET": SECRET, "DINGTALK_KEYWORD": KEYWORD, "DINGTALK_API_URL": robot.url}
