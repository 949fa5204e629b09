"""The message catalogue's upkeep: find every translatable string, merge them into the .po, compile the .mo.

Strings are found where they are written: `_("…")` in templates and Python, `t("…")` in the pages' JavaScript
(babel's own extractors). `python run.py i18n` merges what is new into each language's messages.po (translations
already there are kept), writes messages.mo, and lists what still has no translation; `python run.py i18n set
"msgid" "译文"` sets one, `python run.py i18n add file.json` many. A lock file keeps two runs from writing the catalogue at once. tests/api/test_i18n.py fails
while a string has no translation or the .mo is older than the .po.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from filelock import FileLock

HERE = Path(__file__).resolve().parent
TRANSLATIONS = HERE / "translations"
LANGS = ("zh",)  # English is the msgids themselves
PLACEHOLDER = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)s")
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "t": None}


def javascript_messages(static: Path) -> Iterator[tuple[str, str]]:
    """(msgid, where) for every t("…") in the pages' JavaScript."""
    for path in sorted(static.glob("*.js")):
        with path.open("rb") as source:
            for line, message, _comments, _context in extract("javascript", source, {"t": None}):
                if isinstance(message, str):
                    yield message, f"{path.name}:{line}"


def found_messages() -> dict[str, list[str]]:
    """msgid -> where it is used, over the templates, the Python of api/ and the JavaScript."""
    found: dict[str, list[str]] = {}

    def add(message: object, where: str) -> None:
        if isinstance(message, str) and message:
            found.setdefault(message, []).append(where)

    for path in sorted((HERE / "templates").glob("*.html")):
        with path.open("rb") as source:
            for line, message, _comments, _context in extract("jinja2.ext:babel_extract", source, KEYWORDS, options={"trimmed": "true"}):
                add(message, f"templates/{path.name}:{line}")
    for path in sorted(HERE.glob("*.py")):
        with path.open("rb") as source:
            for line, message, _comments, _context in extract("python", source, KEYWORDS):
                add(message, f"{path.name}:{line}")
    for message, where in javascript_messages(HERE / "static"):
        add(message, where)
    return found


def po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def load(lang: str) -> Catalog:
    path = po_path(lang)
    if not path.is_file():
        return Catalog(locale=lang, project="qmt-router")
    with path.open("rb") as source:
        return read_po(source, locale=lang)


def compiled(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def _save(lang: str, catalog: Catalog) -> None:
    path = po_path(lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.BytesIO()
    write_po(out, catalog, width=0, omit_header=False, sort_output=True, ignore_obsolete=True, include_lineno=False)
    path.write_bytes(out.getvalue())
    path.with_suffix(".mo").write_bytes(compiled(catalog))


def problems(lang: str, catalog: Catalog, found: dict[str, list[str]]) -> list[str]:
    """What is wrong with a language's catalogue: a string with no translation, a placeholder lost in translation."""
    wrong = []
    for msgid, where in sorted(found.items()):
        entry = catalog.get(msgid)
        if entry is None or not entry.string:
            wrong.append(f"{lang}: no translation of {msgid!r} ({where[0]})")
        elif sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(str(entry.string))):
            wrong.append(f"{lang}: the translation of {msgid!r} does not keep its placeholders: {entry.string!r}")
    return wrong


def update() -> list[str]:
    """Merge the strings found into every language's catalogue, compile it; what still needs a translation."""
    found = found_messages()
    wrong = []
    with FileLock(str(TRANSLATIONS / ".lock")):
        for lang in LANGS:
            catalog = load(lang)
            for msgid, where in found.items():
                entry = catalog.get(msgid)
                locations = [(file, int(line)) for file, _, line in (place.rpartition(":") for place in where)]
                if entry is None:
                    catalog.add(msgid, "", locations=locations)
                else:
                    entry.locations = locations
            for msgid in [str(m.id) for m in catalog if m.id and m.id not in found]:
                catalog.delete(msgid)  # nothing uses it any more
            _save(lang, catalog)
            wrong += problems(lang, catalog, found)
    return wrong


def set_translations(lang: str, translations: dict[str, str]) -> None:
    """Set translations (msgid -> text) and compile."""
    with FileLock(str(TRANSLATIONS / ".lock")):
        catalog = load(lang)
        for msgid, translation in translations.items():
            entry = catalog.get(msgid)
            if entry is None:
                catalog.add(msgid, translation)
            else:
                entry.string = translation
                entry.flags.discard("fuzzy")
        _save(lang, catalog)


def main(argv: list[str]) -> int:
    """`run.py i18n` merges and compiles; `run.py i18n set MSGID TRANSLATION` sets one; `run.py i18n add FILE.json`
    sets many ({"msgid": "译文", ...}); each then merges and compiles."""
    if argv[:1] == ["set"] and len(argv) == 3:
        set_translations(LANGS[0], {argv[1]: argv[2]})
    elif argv[:1] == ["add"] and len(argv) == 2:
        set_translations(LANGS[0], json.loads(Path(argv[1]).read_text(encoding="utf-8")))
    elif argv:
        print('usage: run.py i18n | run.py i18n set "English msgid" "译文" | run.py i18n add translations.json')
        return 2
    wrong = update()
    for line in wrong:
        print(line)
    print(f"catalogue: {len(found_messages())} strings; {len(wrong)} need a translation" if wrong else "catalogue: every string is translated")
    return 1 if wrong else 0
