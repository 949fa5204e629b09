"""The DingTalk robot's webhook: one signed markdown message per call, accepted or NotificationFailed.

Signing follows the robot's "加签" security setting: HMAC-SHA256 of "timestamp\\nsecret", base64, as the
`timestamp` and `sign` query parameters. The robot's keyword (its other security setting) is put in the
title and the text. Only scheduler.notifier posts, from the scheduler role: never from the worker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request

from common.config.config_mistakes import is_placeholder
from common.config.settings import Settings
from common.rules.exceptions import NotificationFailed

POST_TIMEOUT = 5.0  # seconds for DingTalk to take the connection and answer each read; it normally answers in well under one
log = logging.getLogger("scheduler.dingtalk")
PREFIX = "QMT router"


def signed_url(base_url: str, access_token: str, secret: str, now_ms: int) -> str:
    """The robot's webhook URL, with timestamp and sign when a secret is set."""
    query = {"access_token": access_token}
    if secret:
        digest = hmac.new(secret.encode(), f"{now_ms}\n{secret}".encode(), hashlib.sha256).digest()
        query.update(timestamp=str(now_ms), sign=base64.b64encode(digest).decode())
    return f"{base_url}?{urllib.parse.urlencode(query)}"


class Robot:
    """The robot of the settings; `enabled` only with an access token."""

    def __init__(self, settings: Settings, timeout: float = POST_TIMEOUT):
        self._token = settings.DINGTALK_ACCESS_TOKEN
        if is_placeholder(self._token):  # copied from an example: it would be refused and retried forever
            log.warning("DINGTALK_ACCESS_TOKEN is a placeholder (%r): DingTalk is off; set the robot's access token to turn it on", self._token)
            self._token = ""
        self._secret = settings.DINGTALK_SECRET
        self.keyword = settings.DINGTALK_KEYWORD
        self._url = settings.DINGTALK_API_URL
        self._timeout = timeout

    @property
    def enabled(self) -> bool:
        return bool(self._token)

    def post(self, title: str, text: str) -> None:
        """Send one markdown message; returns once DingTalk accepted it (errcode 0), else raises NotificationFailed."""
        title = f"{self.keyword} {PREFIX}: {title}" if self.keyword and self.keyword not in title else f"{PREFIX}: {title}"
        if self.keyword and self.keyword not in text:
            text = f"{self.keyword}\n\n{text}"
        body = json.dumps({"msgtype": "markdown", "markdown": {"title": title, "text": text}}, ensure_ascii=False).encode()
        url = signed_url(self._url, self._token, self._secret, int(time.time() * 1000))
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json; charset=utf-8"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as answer:
                reply = json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise NotificationFailed(f"HTTP {error.code}") from None
        except (OSError, ValueError) as error:  # refused, timed out, reset, or an answer that is not JSON
            raise NotificationFailed(error.__class__.__name__) from None
        if not isinstance(reply, dict) or reply.get("errcode", -1) != 0:
            detail = reply if not isinstance(reply, dict) else f"{reply.get('errcode')} {reply.get('errmsg', '')}"
            raise NotificationFailed(f"errcode {detail}")
