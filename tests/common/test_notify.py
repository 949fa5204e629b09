"""DingTalk notifications, posted to a loopback stand-in for the robot webhook."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from common import jobqueue
from common.notify import Notifier, signed_url
from tests.support import make_settings, order_payload, sim_prices_file, wait_until


class Robot:
    """Records what a DingTalk robot would receive."""

    def __init__(self):
        self.received: list[tuple[dict, dict]] = []
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                robot.received.append((dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query)), body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"errcode":0,"errmsg":"ok"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/robot/send"

    def texts(self) -> list[str]:
        return [body["text"]["content"] for _, body in self.received]


@pytest.fixture
def robot():
    robot = Robot()
    yield robot
    robot.server.shutdown()
    robot.server.server_close()


def test_messages_are_signed_and_carry_the_keyword(robot):
    notifier = Notifier(make_settings(DINGTALK_ACCESS_TOKEN="tok", DINGTALK_SECRET="SECabc", DINGTALK_KEYWORD="交易", DINGTALK_API_URL=robot.url))
    notifier.send("hello")
    notifier.close()
    [(query, body)] = robot.received
    assert query["access_token"] == "tok" and body == {"msgtype": "text", "text": {"content": "交易 [QMT router] hello"}}
    expected = base64.b64encode(hmac.new(b"SECabc", f"{query['timestamp']}\nSECabc".encode(), hashlib.sha256).digest()).decode()
    assert query["sign"] == expected and abs(int(query["timestamp"]) - time.time() * 1000) < 10_000


def test_no_token_no_messages_and_an_unreachable_robot_never_raises(robot):
    Notifier(make_settings(DINGTALK_API_URL=robot.url)).send("silent")
    broken = Notifier(make_settings(DINGTALK_ACCESS_TOKEN="t", DINGTALK_API_URL="http://127.0.0.1:1/robot/send"))
    broken.send("nobody listens")
    broken.close()
    assert robot.received == []


def test_at_most_20_a_minute_and_the_rest_are_counted(robot):
    notifier = Notifier(make_settings(DINGTALK_ACCESS_TOKEN="t", DINGTALK_API_URL=robot.url))
    for index in range(25):
        notifier.send(f"m{index}")
    notifier.close()
    assert len(robot.received) == 20


def test_signed_url_without_a_secret_has_only_the_token():
    assert signed_url("https://x/robot/send", "tok", "", 1) == "https://x/robot/send?access_token=tok"


def test_the_worker_notifies_fills_and_expiries_with_masked_accounts(robot, tmp_path, fake_redis):
    from worker.runner import serve

    settings = make_settings(
        SIM_DATA_DIR=str(tmp_path / "sim"),
        SIM_PRICES_FILE=sim_prices_file(tmp_path),
        DINGTALK_ACCESS_TOKEN="t",
        DINGTALK_API_URL=robot.url,
        TRADER_CONFIGS=[{"account_id": "8881234567"}],
    )
    filled = jobqueue.enqueue(fake_redis, order_payload(account_id="8881234567"), settings.JOB_TTL)
    expired = jobqueue.enqueue(fake_redis, order_payload(account_id="8881234567", deadline=time.time() - 1), settings.JOB_TTL)
    serve(settings, fake_redis, burst=True)
    assert wait_until(lambda: len(robot.received) >= 2, 5)
    texts = "\n".join(robot.texts())
    assert f"成交 filled: 888****567 buy 600000.SH 100 @ 10.0 (order 1, job {filled})" in texts
    assert "过期 expired, never sent" in texts and expired in texts
    assert "8881234567" not in texts
