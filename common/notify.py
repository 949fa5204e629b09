"""DingTalk robot notifications: fills, rejections, expiries, disconnects. Never blocks, never raises.

Messages are posted from a background thread, signed as DingTalk's "加签" security setting asks
(HMAC-SHA256 of "timestamp\\nsecret", base64), carry the robot's keyword, and are held to the
robot's limit of 20 a minute (the rest are counted and reported in the next message).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import urllib.parse
import urllib.request
from collections import deque

from common.settings import Settings

log = logging.getLogger("router.notify")
PER_MINUTE = 20  # DingTalk's limit per robot
PREFIX = "[QMT router]"


def signed_url(base_url: str, access_token: str, secret: str, now_ms: int) -> str:
    """The robot's webhook URL, with timestamp and sign when a secret is set."""
    query = {"access_token": access_token}
    if secret:
        digest = hmac.new(secret.encode(), f"{now_ms}\n{secret}".encode(), hashlib.sha256).digest()
        query.update(timestamp=str(now_ms), sign=base64.b64encode(digest).decode())
    return f"{base_url}?{urllib.parse.urlencode(query)}"


class Notifier:
    """Posts text messages to the DingTalk robot of the settings; does nothing when no access token is set."""

    def __init__(self, settings: Settings):
        self._token = settings.DINGTALK_ACCESS_TOKEN
        self._secret = settings.DINGTALK_SECRET
        self._keyword = settings.DINGTALK_KEYWORD
        self._url = settings.DINGTALK_API_URL
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=1000)
        self._sent: deque[float] = deque()
        self._suppressed = 0
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._token)

    def send(self, text: str) -> None:
        """Queue one message; returns at once."""
        if not self.enabled:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="dingtalk", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait(text)
        except queue.Full:
            self._suppressed += 1

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to `timeout` seconds), then stop."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            text = self._queue.get()
            if text is None:
                return
            now = time.monotonic()
            while self._sent and now - self._sent[0] > 60:
                self._sent.popleft()
            if len(self._sent) >= PER_MINUTE:
                self._suppressed += 1
                continue
            if self._suppressed:
                text += f"\n({self._suppressed} earlier message(s) were not sent: DingTalk allows {PER_MINUTE} a minute)"
                self._suppressed = 0
            self._sent.append(now)
            self._post(text)

    def _post(self, text: str) -> None:
        content = f"{PREFIX} {text}"
        if self._keyword and self._keyword not in content:
            content = f"{self._keyword} {content}"
        body = json.dumps({"msgtype": "text", "text": {"content": content}}, ensure_ascii=False).encode()
        url = signed_url(self._url, self._token, self._secret, int(time.time() * 1000))
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                reply = json.loads(answer.read() or b"{}")
            if reply.get("errcode", 0) != 0:
                log.warning("DingTalk refused a message: %s %s", reply.get("errcode"), reply.get("errmsg"))
        except (OSError, ValueError) as error:
            log.warning("DingTalk message not sent: %s", error.__class__.__name__)
