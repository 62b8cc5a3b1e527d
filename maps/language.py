"""The languages a page can speak: one gettext catalogue each, read from the ``.po`` files in
``maps/locale/<code>/LC_MESSAGES/messages.po`` when first asked for and kept per language.

English is the language of the source, so it needs no catalogue; every other language is
the one ``.po`` file a contributor adds (see README, "Languages"). No compiled ``.mo`` file
is kept in the repository: Babel reads the ``.po`` file and compiles it in memory.

The language of the words being built is a context variable (:func:`speaking`): the service
sets it once per request, and the words of a map (:mod:`maps.words`, the legends) read it
through :func:`_`, so the maps need no language argument on every function.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

SOURCE_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).parent / "locale"
CATALOGUE = "LC_MESSAGES/messages.po"


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / CATALOGUE


@cache
def languages() -> tuple[str, ...]:
    """English first, then every language with a catalogue, by code."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/{CATALOGUE}"))
    return (SOURCE_LANGUAGE, *(code for code in found if code != SOURCE_LANGUAGE))


def own_name(language: str) -> str:
    """A language's name in itself, as a switch link shows it: each catalogue translates the
    source language's name into its own ("Français", "ᓀᐦᐃᔭᐍᐏᐣ")."""
    return translations(language).gettext(OWN_NAME)


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of one language (fuzzy entries left out: they show English)."""
    if language == SOURCE_LANGUAGE or language not in languages():
        return gettext.NullTranslations()
    with catalogue_path(language).open("rb") as po:
        catalogue = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled)


_SPEAKING: ContextVar[str] = ContextVar("speaking", default=SOURCE_LANGUAGE)


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Words built inside this block are in ``language``."""
    token = _SPEAKING.set(language if language in languages() else SOURCE_LANGUAGE)
    try:
        yield
    finally:
        _SPEAKING.reset(token)


def current_language() -> str:
    return _SPEAKING.get()


def _(message: str) -> str:
    """``message`` in the language being spoken."""
    return translations(_SPEAKING.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_SPEAKING.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for "mark, translate later")
    """Marks a message for extraction; it is translated where it is shown, with :func:`_`."""
    return message


# Translated as the name of the catalogue's own language: "Français" in French.
OWN_NAME = N_("English")
