"""The chaos stack on Redis Sentinel: a master and a replica (or more) with AOF and three sentinels (redis-server
--sentinel), on free loopback ports in 17000-17999, made from deploy/redis.conf, deploy/redis-replica.conf and
deploy/sentinel.conf (addresses and ports changed only: every LAN address of those files becomes a loopback one, so no
server of a test ever reaches past loopback), with the roles connecting through the sentinels (REDIS_SENTINELS)."""

from __future__ import annotations

import random
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import redis

from tests.chaos.stack import ROOT, Stack
from tests.support import wait_until

MASTER_NAME = "router"
PASSWORD = "sentinel-stack-password-0123"  # also keeps sentinels of other runs on these ports from commanding ours
DOWN_AFTER_MS = 1000  # the test's down-after-milliseconds (deploy/sentinel.conf says 5000 for a LAN)


def loopback_port(taken: set[int]) -> int:
    """A free loopback port in 17000-17999, not in `taken`."""
    for port in random.sample(range(17000, 18000), 1000):
        if port in taken:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise RuntimeError("no free loopback port in 17000-17999")


class SentinelStack(Stack):
    """Stack with Redis as a master, a replica and three sentinels; `servers` by port, the master's first."""

    def __init__(self, folder: Path, clock_offset: float, wait_ms: int = 500, replicas: int = 1, **kwargs: float) -> None:
        super().__init__(folder, clock_offset, **kwargs)
        taken: set[int] = set()
        self.master_port = loopback_port(taken)
        self.replica_ports = [loopback_port(taken) for _ in range(replicas)]
        self.replica_port = self.replica_ports[0]
        self.sentinel_ports = [loopback_port(taken) for _ in range(3)]
        self.servers: dict[int, subprocess.Popen] = {}
        self.env.update(
            REDIS_URL=f"redis://:{PASSWORD}@{MASTER_NAME}/0",
            REDIS_SENTINELS=",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports),
            REDIS_MASTER_NAME=MASTER_NAME,
            REDIS_WAIT_MS=str(wait_ms),
        )

    def start_redis(self, empty: bool = False) -> None:
        self.start_server(self.master_port)
        for port in self.replica_ports:
            self.start_server(port, replica_of=self.master_port)
        for port in self.sentinel_ports:
            self._start_sentinel(port)
        replicas = len(self.replica_ports)
        if not wait_until(lambda: self.replicas_of(self.master_port) == replicas and self.sentinels_agree(self.master_port), 30, 0.1):
            raise RuntimeError(f"the sentinel set did not come up; logs in {self.folder}")

    def start_server(self, port: int, replica_of: int | None = None) -> None:
        """A Redis server from deploy/ (the replica's file when `replica_of`), its data in a folder of its own."""
        folder = self.folder / f"redis-{port}"
        folder.mkdir(parents=True, exist_ok=True)
        source = "redis-replica.conf" if replica_of else "redis.conf"
        config = folder / source  # a copy: Sentinel rewrites a server's file (CONFIG REWRITE) when it makes it a replica
        config.write_text(_on_loopback((ROOT / "deploy" / source).read_text(encoding="utf-8"), replica_of or self.master_port), encoding="utf-8")
        command = [_binary(), str(config), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder)]
        command += ["--requirepass", PASSWORD, "--masterauth", PASSWORD]
        command += ["--replicaof", "127.0.0.1", str(replica_of)] if replica_of else []
        with open(folder / "redis.log", "ab") as log:  # the child keeps its own copy
            self.servers[port] = subprocess.Popen(command, stdout=log)
        if not wait_until(lambda: _answers(port), 15):
            raise RuntimeError(f"redis-server on {port} did not start")

    def _start_sentinel(self, port: int) -> None:
        folder = self.folder / f"sentinel-{port}"
        folder.mkdir(parents=True, exist_ok=True)
        text = (ROOT / "deploy" / "sentinel.conf").read_text(encoding="utf-8")
        text = text.replace("bind 127.0.0.1 -::1 192.168.1.12", "bind 127.0.0.1").replace("port 26379", f"port {port}")
        text = text.replace("sentinel monitor router 192.168.1.10 6379 2", f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 2")
        text = text.replace(f"down-after-milliseconds {MASTER_NAME} 5000", f"down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}")
        text = text.replace("dir ./", f"dir {folder}").replace(
            "# sentinel auth-pass router a-long-random-password", f"sentinel auth-pass {MASTER_NAME} {PASSWORD}"
        )
        config = folder / "sentinel.conf"
        config.write_text(_on_loopback(text, self.master_port), encoding="utf-8")
        with open(folder / "sentinel.log", "ab") as log:  # the child keeps its own copy
            self.servers[port] = subprocess.Popen([_binary(), str(config), "--sentinel"], stdout=log)
        if not wait_until(lambda: _answers(port, None), 15):
            raise RuntimeError(f"sentinel on {port} did not start")

    def master_named(self) -> int | None:
        """The master's port as the first sentinel that answers names it."""
        for port in self.sentinel_ports:
            try:
                with redis.Redis(port=port, socket_timeout=0.5) as client:
                    host_port = client.sentinel_get_master_addr_by_name(MASTER_NAME)
                return int(host_port[1]) if host_port else None
            except redis.RedisError:
                continue
        return None

    def sentinels_agree(self, port: int) -> bool:
        answers = []
        for sentinel in self.sentinel_ports:
            try:
                with redis.Redis(port=sentinel, socket_timeout=0.5) as client:
                    answers.append(client.sentinel_get_master_addr_by_name(MASTER_NAME))
            except redis.RedisError:
                return False
        return all(answer and int(answer[1]) == port for answer in answers)

    def replicas_of(self, port: int) -> int:
        try:
            with redis.Redis(port=port, password=PASSWORD, socket_timeout=0.5) as client:
                return int(client.info("replication").get("connected_slaves", 0))
        except redis.RedisError:
            return -1

    def in_sync(self, port: int, master: int) -> bool:
        """Is the server on `port` a replica of `master` with its link up (the data sent: WAIT can count it)?"""
        try:
            with redis.Redis(port=port, password=PASSWORD, socket_timeout=0.5) as client:
                found = client.info("replication")
        except redis.RedisError:
            return False
        return found.get("role") == "slave" and found.get("master_port") == master and found.get("master_link_status") == "up"

    def role_of(self, port: int) -> str:
        try:
            with redis.Redis(port=port, password=PASSWORD, socket_timeout=0.5) as client:
                return str(client.info("replication").get("role"))
        except redis.RedisError:
            return "down"

    def kill_server(self, port: int) -> None:
        process = self.servers.pop(port)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def kill_redis(self) -> None:
        for port in list(self.servers):
            self.kill_server(port)

    def stop(self) -> None:
        super().stop()
        self.kill_redis()

    def redis_answers(self) -> bool:
        port = self.master_named()
        return port is not None and _answers(port)


def _on_loopback(text: str, master_port: int) -> str:
    """A deploy file's text for a server or sentinel of this stack: comments dropped, `bind` loopback only, `replicaof`
    the stack's master; a LAN address left anywhere is an error (a replica started again from its own file would
    otherwise try the deploy file's master on the network)."""
    text = "".join(line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("#"))
    text = re.sub(r"^bind .*$", "bind 127.0.0.1", text, flags=re.M)
    text = re.sub(r"^replicaof .*$", f"replicaof 127.0.0.1 {master_port}", text, flags=re.M)
    found = re.search(r"\b(?:192\.168|10)\.\d+\.\d+(?:\.\d+)?\b", text)
    if found:
        raise AssertionError(f"a deploy file names {found.group()}, which this stack does not replace with a loopback address")
    return text


def _binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("redis-server is needed (apt-get install redis-server)")
    return found


def _answers(port: int, password: str | None = PASSWORD) -> bool:
    try:
        with redis.Redis(port=port, password=password, socket_connect_timeout=0.5) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False
