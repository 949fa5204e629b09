"""Moving over: the old server's own `.env` starts the roles, and every start-up problem is one line and exit 2."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.integration.conftest import ROOT, wait_ready

pytestmark = pytest.mark.integration

# The old server's README example, as it gives it: a quoted, multi-line Python literal with account_type 1001.
OLD_README_TRADER_CONFIGS = """TRADER_CONFIGS="[
  {
    'account_id': '3880000xxxxxx',
    'account_type': 1001,
    'account_name': '账户1',
    'qmt_path': 'C:/迅投极速策略交易系统交易终端 华鑫证券QMT实盘/userdata_mini',
    'enabled': True
  }
]"
"""


def one_line_refusal(done: subprocess.CompletedProcess, *words: str) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert all(word in lines[0] for word in words), lines[0]
    return lines[0]


def test_the_old_readme_trader_configs_pasted_into_dotenv_starts(roles, http, role_env, tmp_path):
    (tmp_path / ".env").write_text(OLD_README_TRADER_CONFIGS, encoding="utf-8")
    del role_env["TRADER_CONFIGS"]  # the roles read it from .env in their working folder, as a user's would
    roles.start("api")
    roles.start("worker")
    health = wait_ready(http, roles)
    assert [a["account_id"] for a in health["accounts"]] == ["388*******xxx"]
    [account] = http.get("/qmt/trade/api/accounts").body["accounts"]
    assert (account["index"], account["account_id"], account["nick_name"], account["account_type"]) == (0, "3880000xxxxxx", "账户1", "STOCK")


def run_role(role_env, tmp_path, *command: str, **change: str) -> subprocess.CompletedProcess:
    env = {**role_env, **change}
    return subprocess.run([sys.executable, *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_a_port_in_use_is_one_line_and_exit_2(role_env, tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        one_line_refusal(run_role(role_env, tmp_path, "-m", "api", FLASK_PORT=port), "FLASK_PORT", port, "in use")
        one_line_refusal(run_role(role_env, tmp_path, str(ROOT / "run.py"), FLASK_PORT=port, REDIS_URL=""), "FLASK_PORT", port)


@pytest.mark.parametrize("role", ["api", "worker", "scheduler"])
def test_a_bad_account_entry_or_an_unreachable_redis_is_one_line_and_exit_2(role_env, tmp_path, role):
    bad = "[{'account_id': '1', 'account_type': 'FUTURES'}]"
    one_line_refusal(run_role(role_env, tmp_path, "-m", role, TRADER_CONFIGS=bad), "TRADER_CONFIGS entry 1 account_type", "STOCK", "CREDIT")
    one_line_refusal(run_role(role_env, tmp_path, "-m", role, REDIS_URL="redis://:secret@127.0.0.1:1/0"), "REDIS_URL", "does not answer")
    assert "secret" not in run_role(role_env, tmp_path, "-m", role, REDIS_URL="redis://:secret@127.0.0.1:1/0").stderr


def test_run_py_refuses_a_bad_account_entry_and_an_empty_account_list_for_qmt_in_one_line(role_env, tmp_path):
    embedded = {"REDIS_URL": ""}
    one_line_refusal(
        run_role(role_env, tmp_path, str(ROOT / "run.py"), TRADER_CONFIGS="[{'account_type': 2}]", **embedded), "TRADER_CONFIGS entry 1 account_id"
    )
    one_line_refusal(
        run_role(role_env, tmp_path, str(ROOT / "run.py"), TRADER_CONFIGS="[]", BROKER="qmt", **embedded), "TRADER_CONFIGS", "BROKER=qmt"
    )


@pytest.mark.parametrize("role", ["api", "worker", "scheduler"])
def test_a_var_dir_that_cannot_be_written_is_one_line_naming_it(role_env, tmp_path, role):
    """As root nothing is read-only by permission, so the folders here are ones no one can write: under a file, and in /proc."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    for var_dir in (str(blocker / "var"), "/proc/router-var"):
        one_line_refusal(run_role(role_env, tmp_path, "-m", role, VAR_DIR=var_dir), f"VAR_DIR={var_dir}", "make it writable")


def test_a_healthy_start_says_starting_until_the_workers_first_heartbeat(roles, http, role_env):
    """Polled from the first answer on, /health never calls a healthy start broken: it says starting, with how long."""
    from tests.support import wait_until

    roles.start("api")

    def answers() -> bool:
        try:
            return http.get("/qmt/trade/api/health").status in (200, 503)
        except OSError:
            return False

    assert wait_until(answers, 30, 0.05), roles.log("api")  # the web first, as a service manager may start it
    roles.start("worker")
    seen: list[dict] = []

    def started() -> bool:
        try:
            body = http.get("/qmt/trade/api/health").body
        except OSError:
            return False
        seen.append(body)
        return body.get("ready") is True

    assert wait_until(started, 60, 0.05), seen[-1:] or roles.log("worker")
    before = [body for body in seen if not body["ready"]]
    assert before, "the worker was ready before the web answered once: nothing shows the start"
    assert all(body["state"] == "starting" and body["starting_for"] >= 0 for body in before if not body["worker"]["alive"]), before
    assert not any("no worker heartbeat" in reason for body in seen for reason in body["reasons"]), [b["reasons"] for b in seen]


def test_a_web_role_bound_to_every_address_names_an_address_a_browser_can_open(roles, role_env):
    from tests.support import wait_until

    role_env["FLASK_HOST"] = "0.0.0.0"
    roles.start("api")
    assert wait_until(lambda: "web listening on" in roles.log("api"), 30), roles.log("api")
    [line] = [line for line in roles.log("api").splitlines() if "web listening on" in line]
    assert f"http://127.0.0.1:{role_env['FLASK_PORT']}/" in line and "0.0.0.0" not in line, line


MISTAKES = [
    ({"TRADER_CONFIGS": "[{'account_id': '8881234567', 'enabled': true}]"}, ("TRADER_CONFIGS uses true as a bare word", "write True")),
    ({"TRADER_CONFIGS": "[{'account_id': ''}]"}, ("TRADER_CONFIGS entry 1 account_id", "account_id is empty")),
    ({"TRADER_CONFIGS": "[{'acount_id': '8881234567'}]"}, ("TRADER_CONFIGS entry 1", "'acount_id' is not a key", "did you mean account_id?")),
    ({"QMT_CLIENT_SECRET": "your_qmt_client_secret"}, ("QMT_CLIENT_SECRET is a placeholder", "set a value of your own")),
    ({"FLASK_SECRET_KEY": "change-me"}, ("FLASK_SECRET_KEY is a placeholder",)),
]


@pytest.mark.parametrize(
    ("change", "words"), MISTAKES, ids=["bare-true", "empty-account-id", "typo-key", "placeholder-client-secret", "placeholder-flask"]
)
def test_a_config_mistake_is_one_line_naming_the_key_and_the_fix(role_env, tmp_path, change, words):
    for role in ("api", "worker"):
        one_line_refusal(run_role(role_env, tmp_path, "-m", role, **change), *words)


def test_a_multi_line_value_without_quotes_in_dotenv_is_one_line(role_env, tmp_path):
    (tmp_path / ".env").write_text("TRADER_CONFIGS=[\n  {'account_id': '8881234567'}\n]\n", encoding="utf-8")
    env = {k: v for k, v in role_env.items() if k != "TRADER_CONFIGS"}
    done = subprocess.run([sys.executable, "-m", "api"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    one_line_refusal(done, "TRADER_CONFIGS in .env (line 1) goes on over several lines without quotes", "double quotes")
    assert "python-dotenv" not in done.stderr, done.stderr


def test_a_placeholder_dingtalk_token_turns_dingtalk_off_with_one_warning(roles, role_env):
    from tests.support import wait_until

    role_env["DINGTALK_ACCESS_TOKEN"] = "your_dingtalk_access_token"
    roles.start("scheduler")
    assert wait_until(lambda: "scheduler running" in roles.log("scheduler"), 30), roles.log("scheduler")
    warnings = [line for line in roles.log("scheduler").splitlines() if "DINGTALK_ACCESS_TOKEN" in line]
    assert len(warnings) == 1 and "is a placeholder" in warnings[0] and "DingTalk is off" in warnings[0], warnings


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (["tset"], "run.py: unknown command 'tset'"),
        (["next-day", "abc"], "run.py: next-day takes one whole number of trading days from 1 to 10, got 'abc'"),
        (["next-day", "-1"], "run.py: next-day takes one whole number of trading days from 1 to 10, got '-1'"),
        (["next-day", "1", "2"], "run.py: next-day takes one whole number"),
    ],
)
def test_a_run_py_misuse_is_exit_2_with_the_problem_then_the_usage(role_env, tmp_path, args, first_line):
    done = run_role(role_env, tmp_path, str(ROOT / "run.py"), *args)
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert lines[0].startswith(first_line) and "python run.py test" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_run_py_help_prints_the_usage_and_starts_nothing(role_env, tmp_path):
    for args in (["help"], ["--help"], ["next-day", "--help"]):
        done = run_role(role_env, tmp_path, str(ROOT / "run.py"), *args)
        assert done.returncode == 0 and "python run.py" in done.stdout and "listening" not in done.stdout + done.stderr, (args, done)
