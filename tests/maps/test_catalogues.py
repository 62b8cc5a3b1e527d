"""The catalogues: every message a person reads (extracted from the source tree as
``make messages`` extracts it) has a French translation that is not fuzzy and keeps the
English message's placeholders; every ``.po`` file parses."""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from maps.language import LOCALE_DIR, catalogue_path, languages, translations

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)s")
Message = str | tuple[str, ...]


def mapping() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """babel.cfg as Babel reads it: (pattern, method) pairs and each pattern's options."""
    config = configparser.RawConfigParser()
    config.read(ROOT / "babel.cfg")
    method_map, options_map = [], {}
    for section in config.sections():
        method, pattern = (part.strip() for part in section.split(":", 1))
        method_map.append((pattern, method))
        options_map[pattern] = dict(config.items(section))
    return method_map, options_map


def source_messages(root: Path = ROOT) -> dict[Message, str]:
    """Every message of the tree under ``root``, with where it was found."""
    method_map, options_map = mapping()
    found: dict[Message, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        root, method_map, options_map
    ):
        found.setdefault(message, f"{filename}:{lineno}")
    return found


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def texts(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def problems(messages: dict[Message, str], catalogue: Catalog) -> list[str]:
    """What is wrong with ``catalogue`` for these messages, one line per message."""
    out = []
    for message, where in messages.items():
        key = texts(message)[0]
        entry = catalogue.get(key)
        shown = texts(entry.string or "") if entry is not None else []
        if not shown or not all(shown):
            out.append(f"untranslated: {key!r} ({where})")
        elif entry is not None and entry.fuzzy:
            out.append(f"fuzzy: {key!r} ({where})")
        else:
            wanted = placeholders(key)
            out.extend(
                f"placeholders differ: {key!r} ({where}): {text!r}"
                for text in shown
                if placeholders(text) != wanted
            )
    return out


def french() -> Catalog:
    with catalogue_path("fr").open("rb") as po:
        return read_po(po, locale="fr")


def test_english_and_french_are_offered() -> None:
    assert languages()[:1] == ("en",)
    assert "fr" in languages()


def test_the_french_catalogue_translates_every_message_of_the_source() -> None:
    messages = source_messages()
    assert len(messages) > 100  # the extraction found the tree's words, not nothing
    assert problems(messages, french()) == []


def test_an_untranslated_message_fails_the_check_and_is_named() -> None:
    messages = {**source_messages(), "zq a new sentence nobody translated": "x.py:1"}
    assert problems(messages, french()) == [
        "untranslated: 'zq a new sentence nobody translated' (x.py:1)"
    ]


def test_a_fuzzy_or_misplaced_placeholder_translation_fails_the_check() -> None:
    catalogue = Catalog(locale="fr")
    catalogue.add("Hello {name}", "Bonjour {nom}")
    catalogue.add("Old", "Vieux", flags=["fuzzy"])
    catalogue.add("%(days)s days", "%(days)s jours")
    catalogue.add(("{n} stop", "{n} stops"), ("{n} arrêt", "arrêts"))
    found = problems(
        {"Hello {name}": "a", "Old": "b", "%(days)s days": "c", ("{n} stop", "{n} stops"): "d"},
        catalogue,
    )
    assert found == [
        "placeholders differ: 'Hello {name}' (a): 'Bonjour {nom}'",
        "fuzzy: 'Old' (b)",
        "placeholders differ: '{n} stop' (d): 'arrêts'",
    ]


def test_n_markers_in_any_module_are_extracted(tmp_path: Path) -> None:
    """A later module (the report page's words) needs no change to the mapping."""
    module = tmp_path / "geo_service" / "web" / "report_words.py"
    module.parent.mkdir(parents=True)
    module.write_text('from maps.language import N_\nSEEN = N_("zq needles here")\n')
    template = tmp_path / "geo_service" / "web" / "templates" / "report.html"
    template.parent.mkdir()
    template.write_text('<p>{{ _("zq send") }}</p>{% trans %}zq one\n  line{% endtrans %}')
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "legend.py").write_text('from maps.language import _\nx = _("zq map")\n')
    assert set(source_messages(tmp_path)) == {"zq needles here", "zq send", "zq one line", "zq map"}


@pytest.mark.parametrize("po", sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")), ids=str)
def test_every_catalogue_parses_and_compiles(po: Path) -> None:
    language = po.parent.parent.name
    with po.open("rb") as file:
        catalogue = read_po(file, locale=language)
    assert len(catalogue) > 0
    words: Any = translations(language)
    translated = next(m for m in catalogue if m.id and m.string and not m.fuzzy)
    key = translated.id[0] if isinstance(translated.id, tuple) else translated.id
    shown = translated.string[0] if isinstance(translated.string, tuple) else translated.string
    assert words.gettext(key) == shown
