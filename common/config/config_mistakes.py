"""The configuration mistakes people make, each told in one line naming the key, what is wrong and the fix.

Used by common.config.settings (parsing TRADER_CONFIGS and the other list keys, the entries' keys) and common.roles (what
may not start a real deployment): bare words like `true` in the Python form, a value that spans several lines of
`.env` without quotes, a key misspelt in an entry, and placeholder secrets copied from an example file.
"""

from __future__ import annotations

import ast
import difflib
import re
from pathlib import Path

PLACEHOLDER_WORDS = ("your", "change", "replace", "placeholder", "example", "xxxx", "todo", "fill")
PLACEHOLDER_VALUES = {"secret", "password", "passwd", "token", "key", "123456", "12345678", "admin", "test"}


def bare_words(text: str) -> list[str]:
    """The bare names (true, false, null, ...) in a value that is otherwise a Python literal: what literal_eval refuses."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return []
    return sorted({node.id for node in ast.walk(tree) if isinstance(node, ast.Name)})


def literal_advice(key: str, text: str) -> str | None:
    """One line for a value that uses JSON's words in the Python form (or any other bare word); None otherwise."""
    words = bare_words(text)
    if not words:
        return None
    shown = ", ".join(words)
    return (
        f"{key} uses {shown} as a bare word: in the Python form (single quotes) write True, False, None; "
        "in JSON (double quotes everywhere) write true, false, null; quote any other text"
    )


def unquoted_multiline(env_file: Path) -> str | None:
    """One line for a `.env` value that opens a list or object and goes on past its line without quotes (python-dotenv
    reads only its first line and warns about the rest); None when there is none."""
    try:
        lines = env_file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for number, line in enumerate(lines, start=1):
        match = re.match(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", line)
        if not match:
            continue
        key, value = match.groups()
        if value[:1] in ("[", "{") and _depth(value) > 0:
            return (
                f"{key} in {env_file} (line {number}) goes on over several lines without quotes: put the whole value in "
                f'double quotes ({key}="[ ... ]", inner strings in single quotes), or write it on one line'
            )
    return None


def _depth(text: str) -> int:
    """Brackets and braces opened and not closed in `text`, outside quotes."""
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
    return depth


def closest(unknown: str, known: list[str]) -> str | None:
    """The known key an unknown one is most likely a typo of, if any is close."""
    found = difflib.get_close_matches(unknown, known, n=1, cutoff=0.75)
    return found[0] if found else None


def is_placeholder(value: str) -> bool:
    """A value copied from an example rather than chosen: `your_secret`, `change-me`, `<token>`, `xxxxxx`, `secret`."""
    text = value.strip().lower()
    if not text:
        return False
    if text in PLACEHOLDER_VALUES or (text.startswith("<") and text.endswith(">")) or set(text) <= set("x*.-_"):
        return True
    return any(word in text for word in PLACEHOLDER_WORDS)
