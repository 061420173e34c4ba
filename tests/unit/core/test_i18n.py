"""One way to translate: every text shown to people comes from the two gettext catalogs.

The catalogs are complete and agree (same msgids), every error code has words in both,
every msgid the templates and Python ask for exists, and Accept-Language negotiation
never fails.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import Environment
from jinja2.ext import extract_from_ast

import canteen
from canteen import i18n
from canteen.app import create_app
from canteen.core.errors import ERRORS, DomainError, error_msgid

PACKAGE = Path(canteen.__file__).parent
TEMPLATES = PACKAGE / "web" / "templates"
CATALOGS = {
    lang: i18n.LOCALE_DIR / folder / "LC_MESSAGES" / "messages.po" for lang, folder in i18n.FOLDERS.items()
}
# Python callables whose first string argument is a msgid: the template helper ``_`` and
# local ``t(msgid)`` wrappers over ``i18n.gettext``; ``gettext(lang, msgid)`` takes it second.
_FIRST_ARG = {"_", "t", "N_"}


def _entries(lang: str) -> dict[str, str]:
    with CATALOGS[lang].open("rb") as fh:
        catalog = read_po(fh)
    return {str(m.id): str(m.string) for m in catalog if m.id}


@pytest.fixture(scope="module", autouse=True)
def _all_codes_registered() -> None:
    """Importing the app imports every domain, so ERRORS holds every registered code."""
    create_app()


def test_the_catalogs_parse_without_duplicates_or_fuzzy_entries() -> None:
    for path in CATALOGS.values():
        ids = re.findall(r'^msgid "(.*)"$', path.read_text(encoding="utf-8"), flags=re.M)
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        assert not dupes, (path, dupes)
        with path.open("rb") as fh:
            assert not [m.id for m in read_po(fh) if m.id and m.fuzzy], path


def test_both_catalogs_have_the_same_msgids_all_translated() -> None:
    zh, en = _entries("zh-CN"), _entries("en")
    assert sorted(set(zh) - set(en)) == [], "msgids missing from the en catalog"
    assert sorted(set(en) - set(zh)) == [], "msgids missing from the zh_CN catalog"
    assert [k for k, v in zh.items() if not v.strip()] == []
    assert [k for k, v in en.items() if not v.strip()] == []


def test_placeholders_agree_between_languages() -> None:
    zh, en = _entries("zh-CN"), _entries("en")
    names = re.compile(r"\{(\w+)\}")
    wrong = {k: (zh[k], en[k]) for k in zh if set(names.findall(zh[k])) != set(names.findall(en[k]))}
    assert wrong == {}


def test_every_registered_error_code_has_words_in_both_languages() -> None:
    assert len(ERRORS) > 50  # the domains really registered their codes
    zh, en = _entries("zh-CN"), _entries("en")
    for code in ERRORS:
        msgid = error_msgid(code)
        assert zh.get(msgid, "").strip(), f"{msgid} has no zh_CN msgstr"
        assert en.get(msgid, "").strip(), f"{msgid} has no en msgstr"
        for lang in i18n.LANGS:
            text = DomainError(code).message(lang)
            assert text and text != msgid, (code, lang)
    assert DomainError("not_found").message("zh-CN") == "找不到该记录。"
    assert DomainError("not_found").message("en") == "Not found."
    assert DomainError("not_found").message("en-GB") == "Not found."


def test_no_error_msgid_without_a_registered_code() -> None:
    """A leftover ``error.<code>`` is text nobody can see: it usually means a renamed code."""
    stale = [
        k for k in _entries("zh-CN") if k.startswith("error.") and k.removeprefix("error.") not in ERRORS
    ]
    assert stale == []


def test_register_no_longer_takes_texts() -> None:
    """Texts live in the catalogs: no ``register(code, status, zh, en)`` is left in the source."""
    four = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "register"
            ):
                if len(node.args) > 2 and all(isinstance(a, ast.Constant) for a in node.args[:2]):
                    four.append(f"{path}:{node.lineno}")
    assert four == []


def _template_msgids() -> dict[str, str]:
    env = Environment(autoescape=True, extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])
    found: dict[str, str] = {}
    for path in sorted(TEMPLATES.rglob("*.html")):
        tree = env.parse(path.read_text(encoding="utf-8"))
        for lineno, _func, message in extract_from_ast(
            tree, gettext_functions=("_", "gettext"), babel_style=True
        ):
            first = message[0] if isinstance(message, tuple) and message else message
            if isinstance(first, str):
                found.setdefault(first, f"{path.relative_to(PACKAGE)}:{lineno}")
    return found


def _python_msgids() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            index = 1 if name == "gettext" else 0 if name in _FIRST_ARG else None
            if index is None or len(node.args) <= index:
                continue
            arg = node.args[index]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.setdefault(arg.value, f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return found


def test_every_template_msgid_is_in_both_catalogs() -> None:
    used = _template_msgids()
    assert len(used) > 300  # the extractor really read the templates
    for lang in i18n.LANGS:
        have = _entries(lang)
        missing = {m: where for m, where in used.items() if m not in have}
        assert missing == {}, f"{lang}: {missing}"


def test_every_python_msgid_is_in_both_catalogs() -> None:
    used = _python_msgids()
    assert "Meals" in used  # the dashboard's chart labels
    for lang in i18n.LANGS:
        have = _entries(lang)
        missing = {m: where for m, where in used.items() if m not in have}
        assert missing == {}, f"{lang}: {missing}"


@pytest.mark.parametrize(
    ("header", "cookie", "expected"),
    [
        (None, None, "zh-CN"),
        ("", None, "zh-CN"),
        ("en", None, "en"),
        ("EN", None, "en"),
        ("en-US,en;q=0.9", None, "en"),
        ("en-GB", None, "en"),
        ("zh-TW", None, "zh-CN"),
        ("zh-Hant-HK", None, "zh-CN"),
        ("zh_CN", None, "zh-CN"),
        ("fr-FR, en;q=0.5", None, "en"),
        ("fr-FR, de", None, "zh-CN"),
        ("en;q=0.2, zh;q=0.8", None, "zh-CN"),
        ("zh;q=0.3, en-AU;q=0.7", None, "en"),
        ("en;q=0", None, "zh-CN"),
        ("en; q=0.5", None, "en"),
        ("en;q=oops", None, "zh-CN"),
        ("*", None, "zh-CN"),
        (";;;,,,", None, "zh-CN"),
        ("en", "zh-CN", "zh-CN"),
        ("zh-CN", "en", "en"),
        ("en", "klingon", "en"),
    ],
)
def test_pick_language(header: str | None, cookie: str | None, expected: str) -> None:
    assert i18n.pick(header, cookie) == expected


@given(st.text(), st.one_of(st.none(), st.text()))
def test_pick_never_raises_and_always_gives_a_language(header: str, cookie: str | None) -> None:
    assert i18n.pick(header, cookie) in i18n.LANGS


_TAG = st.sampled_from(["en", "en-US", "zh", "zh-CN", "zh-TW", "fr", "de-DE", "*", "ja"])
_Q = st.one_of(st.none(), st.floats(min_value=0, max_value=1, allow_nan=False).map(lambda q: round(q, 3)))


@given(st.lists(st.tuples(_TAG, _Q), max_size=6))
def test_pick_follows_the_highest_weighted_language_we_have(ranges: list[tuple[str, float | None]]) -> None:
    header = ", ".join(tag if q is None else f"{tag};q={q}" for tag, q in ranges)
    ours = [
        (1.0 if q is None else q, -i, "en" if tag.startswith("en") else "zh-CN")
        for i, (tag, q) in enumerate(ranges)
        if tag.startswith(("en", "zh")) and (q is None or q > 0)
    ]
    expected = max(ours)[2] if ours else "zh-CN"
    assert i18n.pick(header) == expected
