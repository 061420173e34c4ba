"""UI text through gettext catalogs (babel): msgids in English, zh-CN the default language.

Catalogs are read from the .po files at start (babel's reader), so there is no
compile step to forget; tests check that every msgid used by a template has a
zh-CN translation.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"
LOCALE_DIR = Path(__file__).parent / "locales"


@lru_cache(maxsize=4)
def _catalog(lang: str) -> dict[str, str]:
    folder = {"zh-CN": "zh_CN", "en": "en"}[lang]
    path = LOCALE_DIR / folder / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        catalog = read_po(fh)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}


def gettext(lang: str, msgid: str, **params: object) -> str:
    text = _catalog(normalise(lang)).get(msgid, msgid)
    return text.format(**params) if params else text


def normalise(lang: str | None) -> str:
    if not lang:
        return DEFAULT_LANG
    return "en" if lang.lower().startswith("en") else "zh-CN"


def pick(accept_language: str | None, cookie: str | None = None) -> str:
    """The user's language: an explicit choice (cookie) beats the browser's Accept-Language."""
    if cookie in LANGS:
        return str(cookie)
    if not accept_language:
        return DEFAULT_LANG
    best, best_q = DEFAULT_LANG, -1.0
    for part in accept_language.split(","):
        piece = part.strip()
        if not piece:
            continue
        tag, _, q = piece.partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        tag = tag.strip().lower()
        lang = "en" if tag.startswith("en") else "zh-CN" if tag.startswith("zh") else None
        if lang and weight > best_q:
            best, best_q = lang, weight
    return best
