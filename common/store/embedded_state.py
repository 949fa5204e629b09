"""What the embedded run (python run.py: one process, an in-process Redis stand-in) keeps across a restart.

Every second, and once more at a clean stop, every key of the stand-in is copied (DUMP with its time to live, in one
MULTI, so the copy is of one moment) into VAR_DIR/embedded-redis.snapshot, written to a temporary file and moved into
place, so a crash mid-write never leaves a broken one. At start the last snapshot is loaded back. A snapshot written by
a clean stop is exact; one written by the periodic copy may be up to a second old: an order job it shows still queued
may have been sent in that second, so each such job is marked `restored` and the worker looks for its tag at the
broker before sending it (worker.jobs), never sending it twice.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
import time
from pathlib import Path

import redis

from common.rules.exceptions import ConfigError
from common.rules.loose_types import RedisReply
from common.store import keys

log = logging.getLogger("router.embedded")
FILE = "embedded-redis.snapshot"
EVERY_SECONDS = 1.0
FORMAT = 1
# What belongs to the process, not to the state: its worker's lease and heartbeats, the scheduler's leadership, RQ's
# worker registrations. Restored, they would make the next run wait for a lease its dead predecessor holds.
PROCESS_KEYS = (
    f"{keys.PREFIX}:worker:",
    f"{keys.PREFIX}:scheduler:leader",
    f"{keys.PREFIX}:scheduler:heartbeat",
    f"{keys.PREFIX}:notify:consumer:",
    "rq:worker",
)


class Snapshots:
    """The stand-in's copies in VAR_DIR."""

    def __init__(self, connection: redis.Redis, var_dir: str):
        self.connection = connection
        self.path = Path(var_dir) / FILE
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def restore(self) -> str:
        """Load the last snapshot: "clean" (from a clean stop), "crash" (a periodic one), or "none" (there is none).
        ConfigError naming the file when it cannot be read."""
        if not self.path.exists():
            return "none"
        try:
            saved = pickle.loads(self.path.read_bytes())  # our own file in VAR_DIR, written by save()
            if saved.get("format") != FORMAT:
                raise ValueError(f"format {saved.get('format')!r}")
        except (OSError, ValueError, pickle.UnpicklingError, EOFError, AttributeError) as error:
            raise ConfigError(
                f"{self.path} (the embedded run's saved state) cannot be read ({error}): move it aside to start empty, or restore it from a backup"
            ) from None
        with self.connection.pipeline(transaction=True) as pipe:
            for key, ttl, dumped in saved["keys"]:
                pipe.restore(key, max(ttl, 0), dumped, replace=True)
            pipe.execute()
        kind = "clean" if saved.get("clean") else "crash"
        if kind == "crash":
            self._mark_restored_orders()
        log.info(
            "embedded state restored from %s (%d keys, %s)",
            self.path,
            len(saved["keys"]),
            "a clean stop" if kind == "clean" else "up to a second old",
        )
        return kind

    def save(self, clean: bool = False) -> None:
        """Copy every key now (one moment) into the snapshot file, atomically."""
        with self._lock:
            found: RedisReply = self.connection.keys("*")
            names = [name for name in found if not (name.decode() if isinstance(name, bytes) else str(name)).startswith(PROCESS_KEYS)]
            with self.connection.pipeline(transaction=True) as pipe:
                for name in names:
                    pipe.pttl(name)
                    pipe.dump(name)
                answers = pipe.execute()
            entries = [(name, answers[2 * i], answers[2 * i + 1]) for i, name in enumerate(names) if answers[2 * i + 1] is not None]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_bytes(pickle.dumps({"format": FORMAT, "clean": clean, "at": time.time(), "keys": entries}))
            os.replace(temporary, self.path)

    def start(self) -> None:
        """Save every EVERY_SECONDS in a thread of its own until `stop`."""
        self._thread = threading.Thread(target=self._run, name="embedded-snapshots", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """A clean stop: the periodic copies end and a last, exact one is written."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.save(clean=True)

    def _run(self) -> None:
        while not self._stop.wait(EVERY_SECONDS):
            try:
                self.save()
            except (OSError, redis.RedisError) as error:
                log.error("embedded state not saved to %s: %s", self.path, error)

    def _mark_restored_orders(self) -> None:
        """Order jobs the snapshot shows queued may have been sent after it: the worker checks their tags first."""
        import json

        queues: RedisReply = self.connection.smembers("rq:queues")
        for queue_key in queues:
            name = (queue_key.decode() if isinstance(queue_key, bytes) else str(queue_key)).removeprefix("rq:queue:")
            if name.split("@")[0] != keys.ORDER_QUEUE:
                continue
            waiting: RedisReply = self.connection.lrange(queue_key, 0, -1)
            for raw in waiting:
                job_key = f"rq:job:{raw.decode() if isinstance(raw, bytes) else raw}"
                meta: RedisReply = self.connection.hget(job_key, "meta")
                try:
                    found = json.loads(meta) if meta else {}
                except ValueError:
                    found = {}
                self.connection.hset(job_key, "meta", json.dumps({**found, "restored": True}))
