"""Names for what has no tighter static type, each saying why. The project spells `Any` here, and elsewhere only
where a library's own signature forces it, with a comment on that line saying which."""

from __future__ import annotations

from typing import Any

Json = Any  # a decoded JSON document (str, number, bool, null, list or object, nested): narrowed where it is read
JsonObject = dict[str, Any]  # a JSON object: its values are any JSON
RedisReply = Any  # redis-py types a sync client's reply as ResponseT (a union with Awaitable): read as the command answers
RawInput = Any  # what a pydantic "before" validator or a parser is handed: whatever the environment or the body held
RedisPipeline = Any  # redis-py's Pipeline, whose stubs leave the commands' replies untyped
RedisArg = str | bytes | int | float  # a value redis-py sends as one argument of a command or script
