"""One command for a fresh machine with only Python 3.11-3.13.

    python run.py            install into .venv, then run web + worker + scheduler in this process
                             (simulator broker and an in-process Redis stand-in unless .env says otherwise)
    python run.py test [...] install the test dependencies into .venv, run the checks of pyproject.toml (ruff lint and
                             format, import-linter, mypy), then pytest [...]
    python run.py test --rq-floor [...]  the RQ-facing tests (RQ_FACING_TESTS, or [...]) on the lowest RQ that
                             requirements.txt allows (rq>=X), installed beside .venv's own: both ends of the range are tested
    python run.py quickstart xtquant's official quick-start script against the simulator
    python run.py next-day [N] move the running simulator on N (default 1) trading days, through its web API
    python run.py chaos [...]  install the test dependencies, then run orders through faults for 10 minutes (tests/chaos);
                             --failover: through Redis Sentinel failovers instead (tests/chaos/failover.py)
    python run.py i18n [set MSGID TEXT]  merge the pages' strings into the message catalogue and compile it (api/catalogue.py)
    python run.py bench [...]  install the test dependencies, then measure the router beside a bare Flask + RQ app
                             (tests/bench/bench_router.py; a private redis-server, else database 14 of 127.0.0.1:6379)

Only the standard library is used until the virtual environment exists; then this script
re-runs itself inside it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for annotations only: until .venv exists this script runs on the standard library alone
    import threading

    from api.server import WebServer
    from common.config.settings import Settings

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
SUPPORTED = ((3, 11), (3, 13))


def _venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _inside_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _requirements_digest(requirements: Path) -> str:
    digest = hashlib.sha256()
    for name in ("requirements.txt", requirements.name):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _bootstrap(requirements: Path) -> None:
    """Create .venv and install `requirements` into it when they changed since the last install."""
    if not SUPPORTED[0] <= sys.version_info[:2] <= SUPPORTED[1]:
        sys.exit(f"run.py: Python {sys.version.split()[0]} is not supported; use 3.11, 3.12 or 3.13")
    if not _venv_python().exists():
        print(f"run.py: creating {VENV.name} with Python {sys.version.split()[0]} ...", flush=True)
        venv.create(VENV, with_pip=True)
    stamp = VENV / f".installed-{requirements.stem}"
    wanted = _requirements_digest(requirements)
    if stamp.exists() and stamp.read_text() == wanted:
        return
    print(f"run.py: installing {requirements.name} into {VENV.name} ...", flush=True)
    command = [str(_venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(requirements)]
    if subprocess.call(command, cwd=ROOT) != 0:
        sys.exit(f"run.py: installing {requirements.name} failed (see pip's message above)")
    stamp.write_text(wanted)
    if requirements.name != "requirements.txt":  # it includes requirements.txt (-r): that is installed too
        (VENV / ".installed-requirements").write_text(_requirements_digest(ROOT / "requirements.txt"))


def _bytecode_in_venv() -> None:
    """Bytecode of the checkout's modules goes inside .venv, for this run and every process it starts: the checkout keeps
    no __pycache__ folders (git status shows only .venv/ and var/ after the README's two commands)."""
    os.environ.setdefault("PYTHONPYCACHEPREFIX", str(VENV / "pycache"))
    sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]


def _reexec_in_venv() -> None:
    _bytecode_in_venv()
    args = [str(_venv_python()), str(Path(__file__).resolve()), *sys.argv[1:]]
    if os.name == "nt":  # Windows has no real exec: run the child and pass its exit code on
        sys.exit(subprocess.call(args))
    os.execv(args[0], args)


# -- the embedded single-process run (only inside .venv) -------------------------------------
CREDENTIALS_FILE = "embedded-credentials.env"  # in VAR_DIR
SIM_ACCOUNT = {"account_id": "SIM000001", "nick_name": "simulator", "qmt_path": ""}
# Shown on the routines API so a newcomer sees one; disabled until an admin enables it.
SAMPLE_ROUTINE = {"name": "nhg-sample", "kind": "nhg", "enabled": False, "time": "14:57", "accounts": "all", "reserve_amount": 10000}


def _saved_credentials(var_dir: str) -> dict[str, str]:
    """What an earlier embedded run generated and kept in VAR_DIR (nothing when it never ran)."""
    credentials = Path(var_dir) / CREDENTIALS_FILE
    saved: dict[str, str] = {}
    if credentials.exists():
        for line in credentials.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key and value:
                saved[key.strip()] = value.strip()
    return saved


def _generated_credentials(var_dir: str, needed: set[str]) -> dict[str, str]:
    """Secrets for the keys `needed` (left empty in .env), generated once and kept in VAR_DIR so clients keep working.
    Only those are kept: a key .env now sets is dropped from the file, and with none needed there is no file."""
    import secrets

    credentials = Path(var_dir) / CREDENTIALS_FILE
    saved = _saved_credentials(var_dir)
    makers = {
        "FLASK_SECRET_KEY": lambda: secrets.token_hex(32),
        "ADMIN_PASSWORD": lambda: secrets.token_urlsafe(12),
        "TRADER_PASSWORD": lambda: secrets.token_urlsafe(12),
        "QMT_CLIENT_ACCOUNT": lambda: "qmt-client",
        "QMT_CLIENT_SECRET": lambda: secrets.token_hex(24),
    }
    kept = {key: saved.get(key) or make() for key, make in makers.items() if key in needed}
    if not kept:
        credentials.unlink(missing_ok=True)
        return kept
    credentials.parent.mkdir(parents=True, exist_ok=True)
    credentials.write_text("".join(f"{k}={v}\n" for k, v in kept.items()), encoding="utf-8")
    if os.name != "nt":
        credentials.chmod(0o600)
    return kept


def embedded_settings() -> tuple[Settings, dict[str, object]]:
    """Settings from .env, with generated secrets for what it leaves empty and a simulator account."""
    from common.config.settings import load_settings

    configured = load_settings()
    overrides: dict[str, object] = {}
    needed = {
        key
        for key in ("FLASK_SECRET_KEY", "ADMIN_PASSWORD", "TRADER_PASSWORD", "QMT_CLIENT_ACCOUNT", "QMT_CLIENT_SECRET")
        if not getattr(configured, key)
    }
    overrides.update(_generated_credentials(configured.VAR_DIR, needed))
    if not configured.TRADER_CONFIGS and configured.BROKER == "sim":
        overrides["TRADER_CONFIGS"] = [SIM_ACCOUNT]
    if not configured.ROUTINES:
        overrides["ROUTINES"] = [SAMPLE_ROUTINE]
    return load_settings(**overrides), overrides


def _banner(settings: Settings, generated: dict[str, object], restored: str = "none") -> str:
    from api.server import browser_urls
    from common.store.embedded_state import FILE

    urls = browser_urls(settings.FLASK_HOST, settings.FLASK_PORT, "")
    if settings.REDIS_URL:
        state = f"in Redis at {settings.REDIS_URL.rsplit('@', 1)[-1]}"
    else:
        state = f"kept in {Path(settings.VAR_DIR) / FILE} (a copy every second and at a clean stop)"
        state += {"clean": "; restored from the last clean stop", "crash": "; restored from a copy up to a second old"}.get(restored, "")
    lines = [
        "",
        "QMT order router (embedded: web + worker + scheduler in one process)",
        *(f"  URL      {url}/qmt/trade/api/health" for url in urls),
        f"  pages    {urls[0]}/ (log in as admin or trader)",
        f"  broker   {settings.BROKER}; state {state}",
        f"  accounts {', '.join(a.account_id for a in settings.enabled_accounts)}",
    ]
    shown = {k: v for k, v in generated.items() if k in ("ADMIN_PASSWORD", "TRADER_PASSWORD", "QMT_CLIENT_ACCOUNT", "QMT_CLIENT_SECRET")}
    if shown:
        lines.append(f"  generated credentials (kept in {Path(settings.VAR_DIR) / CREDENTIALS_FILE}):")
        lines += [f"    {key}={value}" for key, value in shown.items()]
    lines.append("  stop with Ctrl-C")
    return "\n".join(lines) + "\n"


def embedded() -> int:
    """Web (waitress) and scheduler in threads, the worker loop in the main thread, one Redis connection pool."""
    import logging
    import threading

    from api import create_app
    from api import server as web_server
    from common.config import clock
    from common.config.logs import configure
    from common.roles import address_in_use, check_var_dir, refuse_start, role_redis
    from common.rules.exceptions import ConfigError
    from common.store.embedded_state import Snapshots
    from scheduler.service import run as run_scheduler
    from worker.runner import serve

    try:
        settings, generated = embedded_settings()
    except ConfigError as error:
        refuse_start("run.py", error.message)
    configure(settings, "embedded")
    clock.set_offset(settings.CLOCK_OFFSET_SECONDS)
    try:
        check_var_dir(settings)
    except ConfigError as error:
        refuse_start("run.py", error.message)
    connection = role_redis("run.py", settings)
    snapshots = None if settings.REDIS_URL else Snapshots(connection, settings.VAR_DIR)  # a real Redis keeps its own
    restored = "none"
    if snapshots is not None:
        try:
            restored = snapshots.restore()
        except ConfigError as error:
            refuse_start("run.py", error.message)
        snapshots.start()
    try:
        server = web_server.create(create_app(settings, connection), settings)
    except OSError as error:
        address_in_use("run.py", settings, error)
    stop = threading.Event()
    threads = [
        threading.Thread(target=_run_web, args=(server, stop), name="web", daemon=True),
        threading.Thread(target=run_scheduler, args=(settings, connection, stop), name="scheduler", daemon=True),
    ]
    for thread in threads:
        thread.start()
    print(_banner(settings, generated, restored), flush=True)
    try:
        serve(settings, connection)  # returns on Ctrl-C / SIGTERM (RQ's warm shutdown)
    except ConfigError as error:
        refuse_start("run.py", error.message)
    finally:
        stop.set()
        server.close()
        if snapshots is not None:
            snapshots.stop()  # the last copy, exact: the next start picks up where this one stopped
        logging.getLogger("run").info("stopped")
    return 0


def _run_web(server: WebServer, stopping: threading.Event) -> None:
    """The web server's loop; at the stop its sockets are closed under its select, which ends it without a traceback."""
    try:
        server.run()
    except (OSError, ValueError):
        if not stopping.is_set():
            raise


def next_day(argv: list[str]) -> int:
    """Log in to the running router as admin and move its simulator on; prints the new day. Exit 2 on any problem."""
    import http.cookiejar
    import json
    import urllib.error
    import urllib.request

    from common.config.settings import load_settings
    from common.roles import refuse_start
    from common.rules.exceptions import ConfigError

    days = int(argv[0]) if argv else 1  # checked to be 1-10 before anything ran (_check_arguments)
    try:
        settings = load_settings()
    except ConfigError as error:
        refuse_start("next-day", error.message)
    password = settings.ADMIN_PASSWORD or _saved_credentials(settings.VAR_DIR).get("ADMIN_PASSWORD", "")
    host = "127.0.0.1" if settings.FLASK_HOST in ("0.0.0.0", "::", "") else settings.FLASK_HOST
    base = f"http://{host}:{settings.FLASK_PORT}"
    # It logs in over the same plain http, so a Secure cookie (SESSION_COOKIE_SECURE) must still go back to the router.
    cookies = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(secure_protocols=("https", "wss", "http")))
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))

    def post(path: str, body: dict, **headers: str) -> dict:
        request = urllib.request.Request(
            base + path, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json", **headers}
        )
        try:
            with opener.open(request, timeout=40) as answer:
                found: dict = json.loads(answer.read())  # the router answers a JSON object
                return found
        except urllib.error.HTTPError as error:
            refuse_start("next-day", f"{path} answered {error.code}: {json.loads(error.read() or b'{}').get('error', '')}")
        except OSError as error:
            refuse_start("next-day", f"no router answers at {base} (FLASK_HOST/FLASK_PORT): {error}; start it with `python run.py`")

    post("/login", {"username": "admin", "password": password})
    answer = post("/qmt/trade/api/sim/next_day", {"days": days}, Prefer="wait=30")
    [result] = answer.get("results") or [{}]
    if result.get("status") != "success":
        refuse_start("next-day", f"the simulator did not move on: {result.get('error') or answer}")
    print(f"the simulator is now on {result['result']['day']}")
    return 0


CHECKS = (
    ("ruff lint", ["-m", "ruff", "check", "--no-cache", "."]),
    ("ruff format", ["-m", "ruff", "format", "--check", "--no-cache", "."]),
    ("import contracts", ["-c", "import sys; from importlinter.cli import lint_imports_command; lint_imports_command(['--no-cache', '--no-logo'])"]),
    ("mypy", ["-m", "mypy", "--no-incremental", "--cache-dir", os.devnull]),
)


def checks() -> int:
    """The checks of pyproject.toml, in order; the first that fails ends the run with its name."""
    for name, args in CHECKS:
        if subprocess.call([sys.executable, *args], cwd=ROOT) != 0:
            print(f"run.py: the {name} check failed (see above); the tests did not run", file=sys.stderr)
            return 1
    return 0


# The tests that pin the router to RQ's model (common.store.rq_model): run on both ends of requirements.txt's RQ range.
RQ_FACING_TESTS = (
    "tests/worker/test_rq_equivalence.py",
    "tests/common/test_rq_model.py",
    "tests/common/test_jobqueue.py",
    "tests/worker/test_recovery.py",
    "tests/worker/test_jobs_any_broker.py",
    "tests/integration/test_windows_compat.py",  # the worker with no fork and no SIGALRM: the timer death penalty's path
)


def rq_floor() -> str:
    """The lowest RQ version requirements.txt allows (its `rq>=X,<Y` line)."""
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        name, _, bounds = line.partition(">=")
        if name.strip().lower() == "rq" and bounds:
            return bounds.split(",")[0].strip()
    sys.exit("run.py: requirements.txt has no `rq>=X,<Y` line, so there is no lower bound to test")


def rq_floor_tests(argv: list[str]) -> int:
    """Run the RQ-facing tests with RQ's lower bound installed in .venv/rq-<version> (only RQ itself: its dependencies are
    .venv's) ahead of .venv's own RQ on the path, after checking that it is the one imported."""
    floor = rq_floor()
    target = VENV / f"rq-{floor}"
    if not (target / "rq").is_dir():
        print(f"run.py: installing rq=={floor} (requirements.txt's lower bound) into {target.relative_to(ROOT)} ...", flush=True)
        command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps", "--target", str(target), f"rq=={floor}"]
        if subprocess.call(command, cwd=ROOT) != 0:
            sys.exit(f"run.py: installing rq=={floor} failed (see pip's message above)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH", "")) if p)}
    imported = subprocess.run([sys.executable, "-c", "import rq; print(rq.__version__)"], env=env, cwd=ROOT, capture_output=True, text=True)
    if imported.stdout.strip() != floor:
        sys.exit(f"run.py: expected rq {floor} from {target}, imported {imported.stdout.strip() or imported.stderr.strip()}")
    print(f"run.py: the RQ-facing tests on rq {floor}, the lower bound of requirements.txt", flush=True)
    return subprocess.call([sys.executable, "-m", "pytest", *(argv or RQ_FACING_TESTS)], env=env, cwd=ROOT)


COMMANDS = ("test", "bench", "chaos", "quickstart", "next-day", "i18n")
NEXT_DAY_MAX = 10  # trading days one next-day may move (the route's own limit)


def _usage_error(problem: str) -> None:
    """One line saying what is wrong, the usage, and exit status 2 (before anything is installed)."""
    print(f"run.py: {problem}\n{__doc__.strip()}", file=sys.stderr)
    sys.exit(2)


def _check_arguments(argv: list[str]) -> None:
    """Refuse a misuse before anything runs: an unknown command, a next-day count that is not 1-10; answer --help."""
    if not argv:
        return
    command = argv[0]
    if command in ("-h", "--help", "help"):
        print(__doc__.strip())
        sys.exit(0)
    if command not in COMMANDS:
        _usage_error(f"unknown command {command!r}: the commands are {', '.join(COMMANDS)} (none: run the router)")
    if command == "next-day":
        rest = argv[1:]
        if rest[:1] in (["-h"], ["--help"]):
            print("python run.py next-day [N]: move the running simulator on N trading days (1-10, default 1)")
            sys.exit(0)
        if len(rest) > 1 or (rest and not (rest[0].isdigit() and 1 <= int(rest[0]) <= NEXT_DAY_MAX)):
            _usage_error(f"next-day takes one whole number of trading days from 1 to {NEXT_DAY_MAX}, got {' '.join(rest)!r}")
    if command == "quickstart" and argv[1:]:
        _usage_error(f"quickstart takes no arguments, got {' '.join(argv[1:])!r}")


def main() -> int:
    _check_arguments(sys.argv[1:])
    testing = sys.argv[1:2] in (["test"], ["bench"], ["chaos"])
    _bootstrap(ROOT / ("requirements-dev.txt" if testing else "requirements.txt"))
    if not _inside_venv():
        _reexec_in_venv()
    _bytecode_in_venv()
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:2] == ["chaos"]:
        from tests.chaos.run_chaos import main as chaos

        return chaos(sys.argv[2:])
    if sys.argv[1:2] == ["bench"]:
        from tests.bench.bench_router import main as bench

        return bench(sys.argv[2:])
    if sys.argv[1:3] == ["test", "--rq-floor"]:
        return rq_floor_tests(sys.argv[3:])
    if testing:
        from tests.browser.locate import find_browser, how_to_install

        if find_browser() is None:  # one line before the run, not a failure per page test after it
            print(f"run.py: no Chromium, Chrome or Edge found, so the browser tests (tests/browser) will fail: {how_to_install()}", flush=True)
        return checks() or subprocess.call([sys.executable, "-m", "pytest", *sys.argv[2:]], cwd=ROOT)
    if sys.argv[1:2] == ["next-day"]:
        return next_day(sys.argv[2:])
    if sys.argv[1:2] == ["i18n"]:
        from api.catalogue import main as catalogue

        return catalogue(sys.argv[2:])
    if sys.argv[1:2] == ["quickstart"]:
        from worker.sim.quickstart import main as quickstart

        return quickstart()
    return embedded()


if __name__ == "__main__":
    sys.exit(main())
