"""Settings from the environment and `.env` (pydantic-settings); every key is in `.env.example`."""

from __future__ import annotations

import ast
import json
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from common.config import config_mistakes
from common.rules import event_kinds
from common.rules.call_time import CallTime
from common.rules.exceptions import ConfigError
from common.rules.loose_types import Json, RawInput
from common.rules.routines import Routine

SCOPES = ("trade", "cancel", "query", "admin")
TRADING_SCOPES = ("trade", "cancel", "query")
# What reaches DingTalk unless NOTIFY_EVENTS says otherwise: what someone must act on or will want to know at once.
# Not by default: risk refusals (the client got its 4xx; a runaway strategy would flood the group), jobs accepted and
# sent and the broker's intermediate order statuses (every order: its fill or rejection says how it ended), account
# statuses, config changes and fired routines (their outcome follows). They are all in GET /events.
DEFAULT_NOTIFY_EVENTS = (
    "order:rejected",  # 废单: the broker rejected an order
    "order_error",
    "trade",  # 成交: fills
    "job:rejected",
    "job:expired",
    "job:unknown",
    "job:not_submitted",
    "disconnected",
    "connected",
    "worker",  # up, and down (stopped, or its heartbeat went stale)
    "routine:done",
    "routine:no_op",
    "routine:failed",
    "routine:missed",
    "calendar",
    "kill_switch",
)


# account_type as written in TRADER_CONFIGS -> xtquant's name for it. 1001 is the old server's code for a
# stock account; 2 and 3 are xtconstant.SECURITY_ACCOUNT and CREDIT_ACCOUNT.
ACCOUNT_TYPES: dict[int | str, str] = {1001: "STOCK", 2: "STOCK", "STOCK": "STOCK", 3: "CREDIT", "CREDIT": "CREDIT"}


class AccountConfig(BaseModel):
    """One entry of TRADER_CONFIGS: a QMT account the worker trades."""

    model_config = ConfigDict(extra="forbid")

    account_id: str
    qmt_path: str = ""
    nick_name: str = ""  # the old server's entries call it account_name
    terminal: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,32}$")  # groups accounts into one QMT terminal (default: by qmt_path)
    enabled: bool = True
    account_type: Literal["STOCK", "CREDIT"] = "STOCK"
    session_id: int | None = None

    account_name: str = Field(default="", exclude=True)  # the old server's name for nick_name

    @field_validator("account_id", mode="before")
    @classmethod
    def _account_id_text(cls, value: RawInput) -> RawInput:
        text = str(value) if isinstance(value, int) else value
        if isinstance(text, str) and not text.strip():
            raise ValueError("account_id is empty: write the QMT account number (资金账号), e.g. '8881234567'")
        return text.strip() if isinstance(text, str) else text

    @field_validator("account_type", mode="before")
    @classmethod
    def _account_type(cls, value: RawInput) -> str:
        key = value.strip().upper() if isinstance(value, str) else value
        if isinstance(key, str) and key.isdigit():
            key = int(key)
        if isinstance(key, bool) or key not in ACCOUNT_TYPES:
            raise ValueError(f"account_type {value!r} is not one of 1001, 2 or STOCK (a stock account), 3 or CREDIT (a credit account)")
        return ACCOUNT_TYPES[key]

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, entry: RawInput) -> RawInput:
        if isinstance(entry, dict):
            known = list(cls.model_fields)
            for name in entry:
                if name not in known:
                    typo = config_mistakes.closest(str(name), known)
                    hint = f"did you mean {typo}?" if typo else f"the keys are {', '.join(known)}"
                    raise ValueError(f"{name!r} is not a key of an account: {hint}")
        if isinstance(entry, dict) and not entry.get("nick_name") and entry.get("account_name"):
            return {**entry, "nick_name": entry["account_name"]}
        return entry


class ApiClient(BaseModel):
    """A signing client: its secret, and what it may do (scopes) on which accounts (indexes)."""

    client_id: str
    secret: str = Field(repr=False)
    scopes: tuple[str, ...] = SCOPES
    accounts: tuple[int, ...] | None = None  # None: every enabled account
    default_wait: float = Field(default=0.0, ge=0, le=30)  # seconds an order answer waits for the broker's verdict; 0: 202 at once
    old_protocol: bool = False  # answers as the old server did: a verdict not in by the wait is a failure saying "not yet known"

    def may(self, scope: str) -> bool:
        return scope in self.scopes

    def may_trade_account(self, index: int) -> bool:
        return self.accounts is None or index in self.accounts


def _parse_once(text: str) -> Json:
    try:
        return json.loads(text)
    except json.JSONDecodeError as json_error:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError) as literal_error:
            raise ValueError(
                f"neither JSON ({json_error.msg} at position {json_error.pos}) "
                f"nor a Python literal ({literal_error.__class__.__name__}: {literal_error})"
            ) from None


def parse_literal(raw: RawInput, key: str) -> Json:
    """Parse a JSON or Python-literal value (single quotes, True/None) safely; never `eval`.

    A Windows path written with single backslashes (`D:\\qmt\\userdata`) is read as written.
    """
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if not text:
        return []
    try:
        return _parse_once(text)
    except ValueError as first_error:
        if "\\" in text:
            try:
                return _parse_once(text.replace("\\", "\\\\"))  # backslashes as written (Windows paths)
            except ValueError:
                pass
        raise ConfigError(config_mistakes.literal_advice(key, text) or f"{key} is {first_error}") from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True)

    # Web (the old server's keys)
    FLASK_SECRET_KEY: str = Field(default="", repr=False)
    FLASK_DEBUG: bool = False
    FLASK_HOST: str = "127.0.0.1"
    FLASK_PORT: int = 9091
    ADMIN_PASSWORD: str = Field(default="", repr=False)
    TRADER_PASSWORD: str = Field(default="", repr=False)
    SESSION_COOKIE_SECURE: bool = False  # the login cookie is sent only over https
    SESSION_HOURS: float = Field(default=12, gt=0, le=24 * 30)  # a login lasts this long; a password change ends it sooner
    TRUSTED_PROXIES: int = Field(default=0, ge=0)  # reverse proxies in front of the web role whose X-Forwarded-For is believed

    # Signing clients
    API_SIGNATURE_TIMEOUT: int = Field(default=300, gt=0)
    QMT_CLIENT_ACCOUNT: str = ""
    QMT_CLIENT_SECRET: str = Field(default="", repr=False)
    OUTER_CLIENT_ACCOUNT: str = ""
    OUTER_CLIENT_SECRET: str = Field(default="", repr=False)
    # seconds an old client's order answer waits for the broker's verdict: the old SDKs cannot poll a job; 0: 202 at once
    QMT_CLIENT_DEFAULT_WAIT: float = Field(default=10.0, ge=0, le=30)
    OUTER_CLIENT_DEFAULT_WAIT: float = Field(default=10.0, ge=0, le=30)
    LOGIN_CLIENT_DEFAULT_WAIT: float = Field(default=10.0, ge=0, le=30)  # the same for a script logged in by /login (not a page)
    API_CLIENTS: Annotated[list[ApiClient], NoDecode] = Field(default_factory=list, repr=False)

    # Accounts
    TRADER_CONFIGS: Annotated[list[AccountConfig], NoDecode] = Field(default_factory=list)

    # Notifications
    DINGTALK_ACCESS_TOKEN: str = Field(default="", repr=False)
    DINGTALK_SECRET: str = Field(default="", repr=False)
    DINGTALK_KEYWORD: str = ""
    DINGTALK_API_URL: str = "https://oapi.dingtalk.com/robot/send"
    # which events of the stream become DingTalk messages: kinds (common.store.events), or kind:state for one state of a kind
    NOTIFY_EVENTS: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_NOTIFY_EVENTS))

    # Infrastructure
    REDIS_URL: str = ""  # empty: the embedded in-process stand-in (python run.py only)
    # Redis Sentinel (common.store.sentinel): the sentinels' host:port list and the master name they watch; REDIS_URL then
    # gives only the password and database number, the master's address comes from the sentinels (and follows a failover)
    REDIS_SENTINELS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    REDIS_MASTER_NAME: str = ""
    REDIS_SENTINEL_PASSWORD: str = Field(default="", repr=False)  # the sentinels' own requirepass, when they have one
    # replicas that must hold a job (and the worker's lease) before the router says it exists: WAIT <n> <REDIS_WAIT_MS>
    # (common.store.replication); default 1 with REDIS_SENTINELS, else 0 (no wait)
    REDIS_WAIT_REPLICAS: int | None = Field(default=None, ge=0, le=5)
    REDIS_WAIT_MS: int = Field(default=500, ge=10, le=10_000)  # how long a write waits for them before it is "unknown"
    # seconds a Redis command may go unanswered (a frozen server) before the web, the scheduler and the worker's writes give up
    REDIS_SOCKET_TIMEOUT: float = Field(default=2.0, ge=1, le=60)  # ≥ 1: waits block in 0.5 s reads
    # seconds the worker's blocking dequeue (BLPOP) waits for a job before looking again; its socket timeout is this
    # plus REDIS_SOCKET_TIMEOUT, so a frozen Redis is noticed within their sum
    WORKER_DEQUEUE_BLOCK: int = Field(default=5, ge=1, le=300)
    BROKER: Literal["sim", "qmt"] = "sim"
    ORDER_TTL: int = Field(default=60, gt=0)  # seconds an order may wait in the queue before it expires
    QUERY_TIMEOUT: float = Field(default=5.0, gt=0, le=30)  # seconds the web waits for a query job
    JOB_TTL: int = Field(default=86_400, ge=86_400)  # seconds a finished order, cancel or day-roll job stays readable
    QUERY_RESULT_TTL: int = Field(default=60, gt=0)  # seconds a finished query job (accounts, orders, ...) stays readable: its answer was given
    QUERY_RATE_PER_CLIENT: int = Field(default=20, ge=0)  # new query jobs a client may queue per second (logged-in pages share one); 0: no cap
    BROKER_CALL_TIMEOUT: float = Field(default=10.0, gt=0)  # seconds one broker call may take
    # order sends a terminal may have outstanding (xtquant's order_stock_async, answered by callback); 1: each order
    # waits for the broker's answer before the next is taken, as order_stock does
    BROKER_IN_FLIGHT: int = Field(default=32, ge=1, le=256)
    # percent a limit price may lie from the latest quote before the worker refuses it (a fat finger); 0: off
    MAX_PRICE_DEVIATION_PCT: float = Field(default=5.0, ge=0, le=100)
    VAR_DIR: str = "var"  # run-time files: the embedded run's generated credentials, and the defaults below
    SIM_DATA_DIR: str = ""  # the simulator's userdata directory (default: VAR_DIR/sim)
    SIM_STARTING_CASH: float = Field(default=1_000_000.0, ge=0)
    SIM_PRICES_FILE: str = ""  # JSON {"600000.SH": 10.5, ...}: the simulator's prices for those codes (others: seeded)
    LOG_LEVEL: str = "INFO"

    # Hostile and slow clients (the web role)
    MAX_BODY_BYTES: int = Field(default=64 * 1024, ge=1024)  # a request body over this many bytes is refused with 413 before it is read
    # Answers that hold a server thread while they wait (?wait=, Prefer: wait): the web has 32 threads, so some always stay free
    WAIT_SLOTS: int = Field(default=20, ge=0, le=28)  # in each web process
    WAIT_SLOTS_PER_CLIENT: int = Field(default=8, ge=0)  # per client id, in each web process
    AUDIT_LOG_FILE: str | None = None  # the audit trail's rotating file (default: VAR_DIR/audit.log; "": Redis stream only)

    # Scheduled routines and the trading calendar (common.rules.routines, common.rules.calendar)
    ROUTINES: Annotated[list[Routine], NoDecode] = Field(default_factory=list)  # seeds Redis while it holds none
    ROUTINE_GRACE_SECONDS: int = Field(default=300, ge=0, le=3600)  # a routine missed by less fires late, once
    CALENDAR_HOLIDAYS: Annotated[list[date], NoDecode] = Field(default_factory=list)  # never sessions
    CALENDAR_SESSIONS: Annotated[list[date], NoDecode] = Field(default_factory=list)  # always sessions (weekdays only)
    CALENDAR_WEEKDAYS_UNTIL: date | None = None  # past the data, weekdays up to this date are sessions
    SIM_EXCHANGE_HOURS: bool = False  # the simulator keeps the exchanges' hours (no fills at night, no cancels in auctions)
    # What a terminal costs (the simulator only): ms per broker call, "50" or "p50=40,p99=120" (log-normal); 0: no time
    SIM_CALL_MS: str = "0"
    SIM_CALL_CONCURRENCY: int = Field(default=1, ge=1, le=256)  # calls the simulated terminal works on at once; more wait their turn
    SIM_PUSH_MS: int = Field(default=0, ge=0, le=10_000)  # order/trade pushes batched every this many ms, in order; 0: at once
    WORKER_LEASE_SECONDS: int = Field(default=10, ge=3, le=300)  # a standby worker takes over this long after the active one fell silent
    CLOCK_OFFSET_SECONDS: float = 0.0  # tests and rehearsals only: shifts every role's clock; all roles must agree

    # Fees (fractions of the traded amount; yuan for the minimum): sizing leaves room for them, the simulator charges them
    FEE_COMMISSION_RATE: float = Field(default=0.00025, ge=0, lt=0.01)
    FEE_COMMISSION_MIN: float = Field(default=5.0, ge=0)
    FEE_STAMP_DUTY_RATE: float = Field(default=0.0005, ge=0, lt=0.01)  # sells only
    FEE_TRANSFER_RATE: float = Field(default=0.00001, ge=0, lt=0.01)

    @field_validator("TRADER_CONFIGS", "API_CLIENTS", "ROUTINES", mode="before")
    @classmethod
    def _parse_lists(cls, raw: RawInput, info: ValidationInfo) -> RawInput:
        """JSON or the old server's Python-literal form; TRADER_CONFIGS may also be a single account."""
        value = parse_literal(raw, info.field_name or "")
        if isinstance(value, dict) and info.field_name == "TRADER_CONFIGS":
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{info.field_name} must be a list, got {type(value).__name__}")
        return list(value)

    @field_validator("ROUTINES")
    @classmethod
    def _unique_routine_names(cls, routines: list[Routine]) -> list[Routine]:
        names = [routine.name for routine in routines]
        if len(set(names)) != len(names):
            raise ValueError(f"two routines named {sorted({n for n in names if names.count(n) > 1})}: names are unique")
        return routines

    @field_validator("CALENDAR_HOLIDAYS", "CALENDAR_SESSIONS", mode="before")
    @classmethod
    def _parse_days(cls, raw: RawInput, info: ValidationInfo) -> RawInput:
        if isinstance(raw, str) and raw.strip() and not raw.strip().startswith("["):
            return [part.strip() for part in raw.split(",") if part.strip()]  # 2027-01-01,2027-02-16
        return parse_literal(raw, info.field_name or "")

    @field_validator("REDIS_SENTINELS", mode="before")
    @classmethod
    def _parse_sentinels(cls, raw: RawInput) -> RawInput:
        if isinstance(raw, str) and not (raw.strip().startswith("[") and raw.strip().endswith("]")):  # [::1]:26379 is an address
            return [part.strip() for part in raw.split(",") if part.strip()]  # 10.0.0.1:26379,10.0.0.2:26379
        return parse_literal(raw, "REDIS_SENTINELS")

    @field_validator("REDIS_SENTINELS")
    @classmethod
    def _sentinel_addresses(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            host, _, port = entry.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(
                    f"REDIS_SENTINELS entry {entry!r} is not host:port: write the sentinels comma-separated, "
                    "e.g. REDIS_SENTINELS=10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379"
                )
        twice = sorted({entry for entry in entries if entries.count(entry) > 1})
        if twice:
            raise ConfigError(f"REDIS_SENTINELS names {', '.join(twice)} twice: list each sentinel once (three, one on each machine)")
        return entries

    @model_validator(mode="after")
    def _redis_topology(self) -> Settings:
        """REDIS_SENTINELS, REDIS_MASTER_NAME, REDIS_URL and the replica wait fit together; each misfit is one line."""
        if self.REDIS_SENTINELS and not self.REDIS_MASTER_NAME:
            raise ConfigError(
                "REDIS_MASTER_NAME is empty while REDIS_SENTINELS is set: write the name the sentinels monitor "
                "(the <name> of 'sentinel monitor <name> ...' in deploy/sentinel.conf), e.g. REDIS_MASTER_NAME=router"
            )
        if any(char.isspace() for char in self.REDIS_MASTER_NAME):
            raise ConfigError(
                f"REDIS_MASTER_NAME {self.REDIS_MASTER_NAME!r} has a space: write the name as the sentinels' 'sentinel monitor' line has it"
            )
        if self.REDIS_MASTER_NAME and not self.REDIS_SENTINELS:
            raise ConfigError(
                "REDIS_MASTER_NAME is set but REDIS_SENTINELS is empty: list the sentinels (host:port, comma-separated), or clear REDIS_MASTER_NAME"
            )
        if self.REDIS_SENTINELS and not self.REDIS_URL:
            raise ConfigError(
                f"REDIS_SENTINELS is set but REDIS_URL is empty: set REDIS_URL=redis://[:password@]{self.REDIS_MASTER_NAME}/0 "
                "(with sentinels only its password and database number are used; the master's address comes from the sentinels)"
            )
        if self.REDIS_WAIT_REPLICAS is None:
            self.REDIS_WAIT_REPLICAS = 1 if self.REDIS_SENTINELS else 0
        if self.REDIS_WAIT_REPLICAS and not self.REDIS_URL:
            raise ConfigError(
                f"REDIS_WAIT_REPLICAS={self.REDIS_WAIT_REPLICAS} needs a Redis with replicas, and the embedded stand-in has none: "
                "set REDIS_URL (and REDIS_SENTINELS), or REDIS_WAIT_REPLICAS=0"
            )
        if self.REDIS_WAIT_REPLICAS and self.REDIS_WAIT_MS + 500 > self.REDIS_SOCKET_TIMEOUT * 1000:
            raise ConfigError(
                f"REDIS_WAIT_MS={self.REDIS_WAIT_MS} leaves no room inside REDIS_SOCKET_TIMEOUT={self.REDIS_SOCKET_TIMEOUT:g} s "
                "(the wait must end at least 500 ms before the socket gives up): lower REDIS_WAIT_MS or raise REDIS_SOCKET_TIMEOUT"
            )
        return self

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """REDIS_SENTINELS as (host, port) pairs; empty without Sentinel."""
        return [(entry.rpartition(":")[0].strip("[]"), int(entry.rpartition(":")[2])) for entry in self.REDIS_SENTINELS]

    @field_validator("SIM_CALL_MS", mode="before")
    @classmethod
    def _call_time(cls, raw: RawInput) -> str:
        return str(CallTime.parse(raw if isinstance(raw, (str, int, float)) else str(raw)))  # ValueError: says what to write

    @field_validator("CALENDAR_WEEKDAYS_UNTIL", "REDIS_WAIT_REPLICAS", mode="before")
    @classmethod
    def _empty_is_none(cls, raw: RawInput) -> RawInput:
        return None if isinstance(raw, str) and not raw.strip() else raw

    @field_validator("CALENDAR_SESSIONS")
    @classmethod
    def _sessions_on_weekdays(cls, days: list[date]) -> list[date]:
        weekend = [d.isoformat() for d in days if d.weekday() >= 5]
        if weekend:
            raise ValueError(f"{', '.join(weekend)} fall on a weekend: make-up working Saturdays are never trading sessions")
        return days

    @field_validator("NOTIFY_EVENTS", mode="before")
    @classmethod
    def _parse_notify_events(cls, raw: RawInput) -> RawInput:
        if isinstance(raw, str) and not raw.strip().startswith("["):
            return [part.strip() for part in raw.split(",") if part.strip()]  # trade,order:rejected,worker:down
        return parse_literal(raw, "NOTIFY_EVENTS")

    @field_validator("NOTIFY_EVENTS")
    @classmethod
    def _known_kinds(cls, selectors: list[str]) -> list[str]:
        unknown = [s for s in selectors if s.partition(":")[0] not in event_kinds.KINDS]
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not an event kind (one of {', '.join(sorted(event_kinds.KINDS))}, optionally :state)")
        return selectors

    @model_validator(mode="after")
    def _run_time_files(self) -> Settings:
        """Run-time files default to VAR_DIR, so one setting moves them all (tests: a temporary folder)."""
        if not self.SIM_DATA_DIR:
            self.SIM_DATA_DIR = str(Path(self.VAR_DIR) / "sim")
        if self.AUDIT_LOG_FILE is None:
            self.AUDIT_LOG_FILE = str(Path(self.VAR_DIR) / "audit.log")
        return self

    @model_validator(mode="after")
    def _accounts_for_qmt(self) -> Settings:
        if self.BROKER == "qmt" and not self.enabled_accounts:
            raise ConfigError("TRADER_CONFIGS has no enabled account, and BROKER=qmt needs one: add your QMT account(s) to TRADER_CONFIGS")
        return self

    @property
    def enabled_accounts(self) -> list[AccountConfig]:
        """Enabled accounts in TRADER_CONFIGS order; `trader_index` is a position in this list."""
        return [account for account in self.TRADER_CONFIGS if account.enabled]

    @property
    def clients(self) -> dict[str, ApiClient]:
        """Every signing client by id: the two legacy pairs, then API_CLIENTS."""
        found: dict[str, ApiClient] = {}
        legacy = (
            (self.QMT_CLIENT_ACCOUNT, self.QMT_CLIENT_SECRET, self.QMT_CLIENT_DEFAULT_WAIT),
            (self.OUTER_CLIENT_ACCOUNT, self.OUTER_CLIENT_SECRET, self.OUTER_CLIENT_DEFAULT_WAIT),
        )
        for client_id, secret, wait in legacy:
            if client_id and secret:  # the old server's clients trade, cancel and query; admin is for logins and API_CLIENTS
                found[client_id] = ApiClient(client_id=client_id, secret=secret, scopes=TRADING_SCOPES, default_wait=wait, old_protocol=True)
        for client in self.API_CLIENTS:
            found[client.client_id] = client
        return found


def load_settings(**overrides: RawInput) -> Settings:
    """Settings from the environment, `.env` and `overrides`; a malformed value raises ConfigError naming the key."""
    env_file = overrides.get("_env_file", ".env")
    if env_file and Path(env_file).is_file():
        problem = config_mistakes.unquoted_multiline(Path(env_file))
        if problem:
            raise ConfigError(problem)
    try:
        return Settings(**overrides)
    except ConfigError:
        raise
    except ValidationError as error:
        problems = "; ".join(f"{_where(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in error.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None


def _where(location: tuple) -> str:
    """A key a person can find in .env: `TRADER_CONFIGS entry 2 account_type` (entries counted from 1, as written)."""
    if len(location) >= 2 and isinstance(location[1], int):
        rest = ".".join(str(p) for p in location[2:])
        return f"{location[0]} entry {location[1] + 1}" + (f" {rest}" if rest else "")
    return ".".join(str(p) for p in location) or "settings"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()
