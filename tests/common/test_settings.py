"""Settings: the old server's keys and defaults, TRADER_CONFIGS in JSON or Python-literal form, clear start-up errors."""

from __future__ import annotations

import pytest

from common.config.settings import load_settings
from common.rules.exceptions import ConfigError

OLD_FORM = "[{'account_id': '8881234567', 'qmt_path': 'D:\\\\qmt\\\\userdata_mini', 'nick_name': '主账户', 'enabled': True}, {'account_id': 123, 'enabled': False}]"


def test_defaults_match_the_old_server():
    settings = load_settings(_env_file=None)
    assert settings.FLASK_PORT == 9091
    assert settings.API_SIGNATURE_TIMEOUT == 300
    assert settings.ORDER_TTL == 60
    assert settings.BROKER == "sim"
    assert settings.TRADER_CONFIGS == []


def test_trader_configs_json():
    settings = load_settings(_env_file=None, TRADER_CONFIGS='[{"account_id": "1", "nick_name": "a"}, {"account_id": "2", "enabled": false}]')
    assert [a.account_id for a in settings.TRADER_CONFIGS] == ["1", "2"]
    assert [a.account_id for a in settings.enabled_accounts] == ["1"]


def test_trader_configs_python_literal_form_of_the_old_server():
    settings = load_settings(_env_file=None, TRADER_CONFIGS=OLD_FORM)
    first, second = settings.TRADER_CONFIGS
    assert first.account_id == "8881234567" and first.qmt_path == "D:\\qmt\\userdata_mini" and first.nick_name == "主账户"
    assert second.account_id == "123" and second.enabled is False


def test_trader_configs_from_a_dotenv_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TRADER_CONFIGS", raising=False)
    env = tmp_path / ".env"
    env.write_text(f'TRADER_CONFIGS="{OLD_FORM}"\nFLASK_PORT=9999\nQMT_CLIENT_ACCOUNT=c\nQMT_CLIENT_SECRET=s\n', encoding="utf-8")
    settings = load_settings(_env_file=str(env))
    assert settings.FLASK_PORT == 9999
    assert settings.enabled_accounts[0].account_id == "8881234567"
    assert set(settings.clients) == {"c"}


def test_python_code_is_never_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, TRADER_CONFIGS=f"[__import__('pathlib').Path({str(marker)!r}).touch()]")
    assert "TRADER_CONFIGS" in caught.value.message
    assert not marker.exists()


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("[{'account_id': '1',", "TRADER_CONFIGS is neither JSON"),
        ("42", "TRADER_CONFIGS must be a list"),
        ('[{"nick_name": "no id"}]', "TRADER_CONFIGS entry 1 account_id: Field required"),
    ],
)
def test_malformed_trader_configs_stop_start_up_naming_the_key(raw, words):
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, TRADER_CONFIGS=raw)
    assert words in caught.value.message


def test_other_bad_values_name_their_key():
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, FLASK_PORT="ninety", BROKER="ib")
    assert "FLASK_PORT" in caught.value.message and "BROKER" in caught.value.message


def test_clients_from_legacy_pairs_and_api_clients():
    settings = load_settings(
        _env_file=None,
        QMT_CLIENT_ACCOUNT="qmt",
        QMT_CLIENT_SECRET="s1",
        OUTER_CLIENT_ACCOUNT="outer",
        OUTER_CLIENT_SECRET="s2",
        API_CLIENTS="[{'client_id': 'ro', 'secret': 's3', 'scopes': ['query']}]",
    )
    assert set(settings.clients) == {"qmt", "outer", "ro"}
    assert settings.clients["ro"].scopes == ("query",)
    assert "s1" not in repr(settings) and "s3" not in repr(settings)  # secrets never in logs


def test_a_client_without_a_secret_is_not_a_client():
    settings = load_settings(_env_file=None, QMT_CLIENT_ACCOUNT="qmt", QMT_CLIENT_SECRET="")
    assert settings.clients == {}


@pytest.mark.parametrize(
    "raw",
    [
        r"[{'account_id': '1', 'qmt_path': 'D:\qmt\userdata_mini'}]",
        r'[{"account_id": "1", "qmt_path": "D:\qmt\userdata_mini", "enabled": true}]',
    ],
)
def test_windows_paths_with_single_backslashes_are_read_as_written(raw):
    assert load_settings(_env_file=None, TRADER_CONFIGS=raw).TRADER_CONFIGS[0].qmt_path == r"D:\qmt\userdata_mini"


def test_env_example_lists_every_setting_and_nothing_else():
    from pathlib import Path

    from common.config.settings import Settings

    example = Path(__file__).resolve().parents[2] / ".env.example"
    listed = {line.split("=", 1)[0] for line in example.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")}
    assert listed == set(Settings.model_fields)
    settings = load_settings(_env_file=str(example))  # and the example itself is a valid configuration
    assert settings.FLASK_PORT == 9091 and settings.TRADER_CONFIGS == []


SENTINELS = {"REDIS_URL": "redis://:pw@router/3", "REDIS_SENTINELS": "127.0.0.1:17001, 127.0.0.1:17002", "REDIS_MASTER_NAME": "router"}


def test_sentinels_are_host_port_pairs_and_wait_for_one_replica_by_default():
    settings = load_settings(_env_file=None, **SENTINELS)
    assert settings.sentinel_addresses == [("127.0.0.1", 17001), ("127.0.0.1", 17002)]
    assert settings.REDIS_WAIT_REPLICAS == 1 and load_settings(_env_file=None, REDIS_URL="redis://x/0").REDIS_WAIT_REPLICAS == 0
    assert load_settings(_env_file=None, **{**SENTINELS, "REDIS_SENTINELS": "[::1]:26379"}).sentinel_addresses == [("::1", 26379)]
    assert load_settings(_env_file=None, **{**SENTINELS, "REDIS_SENTINELS": '["h1:26379", "h2:26379"]'}).sentinel_addresses == [
        ("h1", 26379),
        ("h2", 26379),
    ]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"REDIS_SENTINELS": "127.0.0.1"}, "REDIS_SENTINELS entry '127.0.0.1' is not host:port"),
        ({"REDIS_MASTER_NAME": ""}, "REDIS_MASTER_NAME is empty while REDIS_SENTINELS is set"),
        ({"REDIS_URL": ""}, "REDIS_SENTINELS is set but REDIS_URL is empty"),
        ({"REDIS_SENTINELS": "", "REDIS_URL": "redis://x/0"}, "REDIS_MASTER_NAME is set but REDIS_SENTINELS is empty"),
        ({"REDIS_WAIT_MS": "1800"}, "REDIS_WAIT_MS=1800 leaves no room inside REDIS_SOCKET_TIMEOUT=2 s"),
        ({"REDIS_SENTINELS": "", "REDIS_MASTER_NAME": "", "REDIS_URL": "", "REDIS_WAIT_REPLICAS": "1"}, "the embedded stand-in has none"),
        ({"REDIS_SENTINELS": "127.0.0.1:70000"}, "REDIS_SENTINELS entry '127.0.0.1:70000' is not host:port"),
        ({"REDIS_SENTINELS": "a:26379,b:26379,a:26379"}, "REDIS_SENTINELS names a:26379 twice"),
        ({"REDIS_MASTER_NAME": "my router"}, "REDIS_MASTER_NAME 'my router' has a space"),
        ({"REDIS_WAIT_REPLICAS": "-1"}, "REDIS_WAIT_REPLICAS"),
    ],
)
def test_a_sentinel_setting_that_does_not_fit_is_one_line_naming_the_key(change, words):
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, **{**SENTINELS, **change})
    assert words in caught.value.message and "\n" not in caught.value.message


def test_a_redis_or_a_sentinel_on_the_network_without_a_password_is_warned_at_start():
    """Whoever can write to the router's Redis can queue orders the worker sends; whoever can command a sentinel can name
    a Redis of theirs as the master. Off loopback without a password, each role says so at start, one line each."""
    from common.roles import open_to_the_network

    def told(**keys):
        return open_to_the_network(load_settings(_env_file=None, **keys))

    assert told(REDIS_URL="redis://127.0.0.1:6379/0") == []
    assert told(REDIS_URL="redis://:s3cret-long-password@10.0.0.5:6379/0") == []
    [plain] = told(REDIS_URL="redis://10.0.0.5:6379/0")
    assert "REDIS_URL has no password while Redis is on the network (10.0.0.5)" in plain and "requirepass" in plain
    sentinels = {"REDIS_SENTINELS": "10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379", "REDIS_MASTER_NAME": "router"}
    both = told(REDIS_URL="redis://router/0", **sentinels)
    assert [line.split(" ")[0] for line in both] == ["REDIS_SENTINEL_PASSWORD", "REDIS_URL"] and "(10.0.0.1)" in both[0]
    assert told(REDIS_URL="redis://:pw-long-enough-1@router/0", REDIS_SENTINEL_PASSWORD="another-long-one", **sentinels) == []
    assert told(REDIS_URL="redis://router/0", REDIS_SENTINELS="127.0.0.1:26379", REDIS_MASTER_NAME="router") == []
    assert all("\n" not in line for line in both + [plain])
