"""RQ's insides are known to one module, common.store.rq_model: no other module of the roles or of common uses RQ's private
names or overrides RQ's methods, and the worker's timer death penalty is its own, not patched into RQ for every process."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import fakeredis
from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.registry import BaseRegistry, FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.results import Result
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty, UnixSignalDeathPenalty
from rq.worker import BaseWorker

from common.store import rq_model

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "common", "scheduler", "worker")
MODEL = "common.store.rq_model"
RQ_CLASSES = (Job, Queue, BaseWorker, BaseRegistry, Result, Execution)
RQ_MODULES = ("rq.job", "rq.queue", "rq.registry", "rq.results", "rq.executions", "rq.worker.base", "rq.utils", "rq.timeouts")
ALLOWED_OVERRIDES = {"__init__", "job_class"}  # a constructor that passes RQ's arguments on, and RQ's documented job class


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def rq_private_names() -> set[str]:
    """The private names of RQ's job, queue, worker, registry, result and execution: on the classes, on instances and in
    their modules."""
    connection = fakeredis.FakeRedis(server=fakeredis.FakeServer(version=(7, 0)))
    queue = Queue("probe", connection=connection, serializer=JSONSerializer)
    objects: list[object] = [
        queue,
        Job.create("builtins.print", connection=connection),
        SimpleWorker([queue], connection=connection),
        StartedJobRegistry("probe", connection=connection),
    ]
    names = {name for cls in (*RQ_CLASSES, SimpleWorker) for name in dir(cls) if _private(name)}
    names |= {name for module in RQ_MODULES for name in dir(importlib.import_module(module)) if _private(name)}
    return names | {name for thing in objects for name in vars(thing) if _private(name)}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = path
    return found


def _rq_subclasses(module_name: str, tree: ast.Module) -> set[str]:
    """The names of the classes `module_name` defines that derive from one of RQ's (imported only when it names rq)."""
    if not any(isinstance(node, ast.ClassDef) for node in ast.walk(tree)):
        return set()
    module = importlib.import_module(module_name)
    return {name for name, cls in vars(module).items() if inspect.isclass(cls) and cls.__module__ == module_name and issubclass(cls, RQ_CLASSES)}


def test_no_module_but_the_model_uses_rqs_private_names():
    private = rq_private_names()
    assert {"_job_stack", "_execute", "_status", "_result", "_prepare_for_queue", "_handle_success"} <= private
    found = []
    for name, path in _modules().items():
        if name == MODEL:
            continue
        text = path.read_text(encoding="utf-8")
        if "rq" not in text:
            continue
        tree = ast.parse(text)
        rq_classes = _rq_subclasses(name, tree) if "from rq" in text or "rq_model" in text else set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rq":
                found += [f"{name}: from {node.module} import {alias.name}" for alias in node.names if alias.name.startswith("_")]
            if isinstance(node, ast.ClassDef) and node.name in rq_classes:
                found += [f"{name}.{node.name}: self.{n.attr}" for n in ast.walk(node) if isinstance(n, ast.Attribute) and n.attr in private]
            elif isinstance(node, ast.Attribute) and node.attr in private and not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                found.append(f"{name}:{node.lineno}: .{node.attr}")
    assert not found, f"RQ's private names outside {MODEL}: {found}"


def test_no_class_outside_the_model_overrides_rqs_methods():
    overrides = []
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        if name == MODEL or ("from rq" not in text and "rq_model" not in text):
            continue
        module = importlib.import_module(name)
        for cls in vars(module).values():
            if not (inspect.isclass(cls) and cls.__module__ == name and issubclass(cls, RQ_CLASSES)):
                continue
            rq_base = next(base for base in cls.__mro__ if base.__module__.split(".")[0] == "rq")
            for attribute in vars(cls):
                if attribute.startswith("__") and attribute.endswith("__") and attribute != "__init__":
                    continue
                if hasattr(rq_base, attribute) and attribute not in ALLOWED_OVERRIDES:
                    overrides.append(f"{name}.{cls.__name__}.{attribute}")
    assert not overrides, f"RQ's methods overridden outside {MODEL} (use its hooks): {overrides}"


def test_the_timer_death_penalty_is_the_workers_own_not_rqs_default(fake_redis):
    importlib.import_module("worker.runner")  # importing the worker must not change RQ for anyone else

    queue = Queue("order", connection=fake_redis, serializer=JSONSerializer)
    lean = rq_model.LeanWorker([queue], connection=fake_redis, serializer=JSONSerializer, name="probe")
    assert lean.death_penalty_class is TimerDeathPenalty
    assert StartedJobRegistry.death_penalty_class is UnixSignalDeathPenalty  # RQ's own default, untouched
    assert StartedJobRegistry("order", connection=fake_redis).death_penalty_class is UnixSignalDeathPenalty

    # the worker's abandoned-job cleanup still runs, on the timer's registry: an expired started job ends failed
    job = queue.enqueue_call("builtins.print", job_id="abandoned", result_ttl=60)
    started = StartedJobRegistry("order", connection=fake_redis, serializer=JSONSerializer)
    fake_redis.lrem(queue.key, 0, job.id)
    fake_redis.zadd(started.key, {f"{job.id}:deadbeef": 1})
    lean.clean_registries()
    assert job.id in FailedJobRegistry("order", connection=fake_redis, serializer=JSONSerializer).get_job_ids()
    assert not fake_redis.zcard(started.key)
    assert rq_model.TimerStartedJobRegistry.death_penalty_class is TimerDeathPenalty
    assert FinishedJobRegistry("order", connection=fake_redis).count == 0


def test_a_lost_redis_is_asked_again_every_second_not_after_rqs_doubling_wait(fake_redis, monkeypatch):
    """RQ waits 1 s after a failed dequeue, doubling to 60 s: after a minute's outage the worker would sleep up to a minute
    more once Redis is back, and a failover noticed meanwhile could not stop it. The model's worker asks once a second."""
    import redis
    from rq.worker import base

    worker = rq_model.LeanWorker([Queue("probe", connection=fake_redis, serializer=JSONSerializer)], connection=fake_redis, serializer=JSONSerializer)
    failures = iter(range(6))

    def dequeue_any(*_args, **_kwargs):
        if next(failures, None) is not None:
            raise redis.ConnectionError("Redis is away")
        return None

    waits: list[float] = []
    monkeypatch.setattr(worker.queue_class, "dequeue_any", staticmethod(dequeue_any))
    monkeypatch.setattr(base.time, "sleep", waits.append)
    assert worker.dequeue_job_and_maintain_ttl(timeout=1) is None
    assert waits == [1.0] * 6  # RQ's own would be 1, 2, 4, 8, 16, 32
