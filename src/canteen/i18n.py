"""UI text through gettext catalogs (babel): msgids in English, zh-CN the default language.

Catalogs are read from the .po files at start (babel's reader), so there is no
compile step to forget; tests check that every msgid used by a template or Python has a
zh-CN and an en entry (both catalogs hold the same msgids). Error messages are msgids
``error.<code>`` (see ``canteen.core.errors``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.core import negotiate_locale
from babel.messages.pofile import read_po

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"
LOCALE_DIR = Path(__file__).parent / "locales"
FOLDERS = {"zh-CN": "zh_CN", "en": "en"}  # catalog folder of each UI language


@lru_cache(maxsize=4)
def _catalog(lang: str) -> dict[str, str]:
    path = LOCALE_DIR / FOLDERS[lang] / "LC_MESSAGES" / "messages.po"
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


def _weighted(accept_language: str) -> list[str]:
    """The language ranges of an Accept-Language header, best first (RFC 9110 q-values).

    Ranges with q=0 (or an unreadable q) are not acceptable and left out; equal weights
    keep the header's order.
    """
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        if not tag:
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        if weight > 0:  # also drops NaN
            ranked.append((-weight, index, tag.replace("_", "-")))
    return [tag for _, _, tag in sorted(ranked)]


# What babel may negotiate to, and the UI language each stands for: any zh-* falls back to
# its language part "zh" (negotiate_locale's own rule), and so does any en-*.
_NEGOTIABLE = {"zh-cn": "zh-CN", "zh": "zh-CN", "en": "en"}


def pick(accept_language: str | None, cookie: str | None = None) -> str:
    """The user's language: an explicit choice (cookie) beats the browser's Accept-Language.

    Negotiation is babel's: the header's ranges in q order, each matched exactly or by its
    language part (zh-TW → zh) against the languages we have; nothing usable means zh-CN.
    """
    if cookie in LANGS:
        return str(cookie)
    if not accept_language:
        return DEFAULT_LANG
    found = negotiate_locale(_weighted(accept_language), list(_NEGOTIABLE), sep="-", aliases={})
    return _NEGOTIABLE.get(found.lower(), DEFAULT_LANG) if found else DEFAULT_LANG
