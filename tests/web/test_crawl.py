"""The crawler: every page a person reaches by GET links, checked for what no person should see.

Signed in as each role of ``CRAWLS`` on the demo district (loaded once for the module), it walks
the same-origin GET links from the role's home page breadth first (bounded per role, and to a
few URLs per page shape so 300 elder profiles do not crowd out the rest) and fails on:

- visible raw codes: snake_case tokens (``not_home``), lowercase code tokens with digits
  (``age80``), or any enum value of the domain vocabulary (``dibao``, ``open``, ``city``,
  ``lunch`` …) on a Chinese page — text in ``<code>``, typed input values, URLs and e-mail
  addresses aside;
- ISO timestamps or UTC times (``2026-12-02T01:00``, ``+00:00``, ``UTC``);
- a linked page that answers with an error;
- a serious or critical axe-core violation;
- on elder pages (the elder's and the family member's crawl, at 360×740): a link or button
  under 60 px high, a radio or checkbox under 48 px.

Pages of other audiences' work still under way are listed once, in ``KNOWN_PENDING``, with the
issue text; their findings are printed, not failed. Keep that list short.
"""

from __future__ import annotations

import os
import re
import time
import typing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest

from tests.web.conftest import LiveServer, _in_thread, axe_violations, describe, serious, serving

playwright_api = pytest.importorskip("playwright.sync_api")

MAX_PAGES = 60  # per role
MAX_PER_SHAPE = 2  # /elders/17 and /elders/18 are one page shape
SKIP_PREFIXES = ("/static", "/logout", "/lang/", "/api/", "/schema", "/login")
SKIP_SUFFIXES = (".xlsx", ".csv", ".pdf", ".png", ".svg", ".json", ".zip")


def _staff_sign_in(username: str) -> Callable[[Any], None]:
    def go(page: Any) -> None:
        from canteen.demo.district import DEMO_PASSWORD

        page.goto("/login")
        page.fill("#username", username)
        page.fill("#password", DEMO_PASSWORD)
        page.press("#password", "Enter")
        page.wait_for_url(re.compile(r"/$"))

    return go


# The demo elder the elder and family crawls sign in as (found once the demo is loaded): the
# elder the demo family account orders for, with a card and the demo PIN.
DEMO_ELDER: dict[str, str] = {}


def _elder_form_sign_in(path: str, fields: Callable[[], dict[str, str]]) -> Callable[[Any], None]:
    """Sign in on an elder page's form (the fields are read when the crawl starts: the demo
    elder is only known once the demo is loaded)."""

    def go(page: Any) -> None:
        page.goto(path)
        for selector, value in fields().items():
            page.fill(selector, value)
        page.press(selector, "Enter")
        page.wait_for_url(re.compile(r"/elder$"))

    return go


def _elder_fields() -> dict[str, str]:
    from canteen.demo.elders import DEMO_PIN

    return {"#card_number": DEMO_ELDER["card_number"], "#pin": DEMO_PIN}


def _family_fields() -> dict[str, str]:
    from canteen.demo.orders import DEMO_FAMILY, DEMO_FAMILY_PASSWORD

    return {"#phone": DEMO_FAMILY["phone"], "#password": DEMO_FAMILY_PASSWORD}


_elder_sign_in = _elder_form_sign_in("/elder/sign-in", _elder_fields)
_family_sign_in = _elder_form_sign_in("/elder/family-sign-in", _family_fields)


async def _find_demo_elder() -> None:
    from canteen.demo.orders import DEMO_FAMILY
    from canteen.orders.tables import FamilyLink
    from canteen.registry.tables import Card

    link = (
        await FamilyLink.select(FamilyLink.elder)
        .where(FamilyLink.family.phone == DEMO_FAMILY["phone"])
        .first()
    )
    assert link is not None, "the demo has no family account"
    card = (
        await Card.select(Card.number)
        .where((Card.elder == link["elder"]) & Card.revoked_at.is_null())
        .first()
    )
    assert card is not None, "the demo family's elder has no card"
    DEMO_ELDER["card_number"] = str(card["number"])


@dataclass(frozen=True)
class Crawl:
    role: str
    sign_in: Callable[[Any], None]
    home: str = "/"
    # Elder pages: a 360×740 phone, and the tap-target rule (see ``tap_target_findings``).
    elder: bool = False

    @property
    def viewport(self) -> dict[str, int]:
        return {"width": 360, "height": 740} if self.elder else {"width": 1440, "height": 900}


# One line per audience.
CRAWLS: list[Crawl] = [
    Crawl("admin", _staff_sign_in("admin")),
    Crawl("official", _staff_sign_in("official")),
    Crawl("operator", _staff_sign_in("operator")),
    Crawl("cashier", _staff_sign_in("cashier")),
    Crawl("kitchen", _staff_sign_in("kitchen")),
    Crawl("courier", _staff_sign_in("courier")),
    Crawl("city official", _staff_sign_in("city")),
    Crawl("community worker", _staff_sign_in("community")),
    Crawl("volunteer", _staff_sign_in("volunteer")),
    Crawl("elder", _elder_sign_in, home="/elder", elder=True),
    Crawl("family", _family_sign_in, home="/elder", elder=True),
]

# Pages whose fixes are in another engineer's hands at the time of writing (issue #16): their
# findings are printed and do not fail. (path regex, what the issue says). Remove an entry as
# soon as its page is fixed.
KNOWN_PENDING: list[tuple[str, str]] = []


def _vocabulary() -> set[str]:
    """Every enum value a page could leak: the shared vocabulary and the schemas' closed sets."""
    from canteen.accounts import roles
    from canteen.core.categories import Category, DietTag, Mode, Slot
    from canteen.delivery import schemas as delivery_schemas
    from canteen.delivery import tables as delivery_tables
    from canteen.orders import schemas as order_schemas
    from canteen.orders import tables as order_tables
    from canteen.quality import schemas as quality_schemas
    from canteen.regions import schemas as region_schemas
    from canteen.registry import schemas as registry_schemas
    from canteen.subsidies import schemas as subsidy_schemas

    words: set[str] = set()
    for enum in (Category, DietTag, Slot, Mode):
        words |= {str(m.value) for m in enum}
    words |= set(delivery_tables.ROUND_STATUSES + delivery_tables.STOP_STATUSES)
    words |= set(delivery_tables.ALERT_KINDS + delivery_tables.ALERT_STATUSES)
    words |= set(order_tables.ORDER_STATUSES + order_tables.PAYMENT_STATUSES)
    literals: list[Any] = [
        region_schemas.SiteKind,
        region_schemas.PointType,
        region_schemas.SiteStatus,
        region_schemas.OperatorKind,
        registry_schemas.ElderStatus,
        registry_schemas.LivingSituation,
        subsidy_schemas.FundingSource,
        subsidy_schemas.TierKind,
        order_schemas.PaymentMethod,
    ]
    for lit in literals:
        words |= {str(v) for v in typing.get_args(lit)}
    for cls in (delivery_schemas, quality_schemas):
        for value in vars(cls).values():
            if typing.get_origin(value) is typing.Literal:
                words |= {str(v) for v in typing.get_args(value)}
    words |= {str(r) for r in getattr(roles, "ALL_ROLES", ())}
    words |= {"admin", "official", "operator", "cashier", "kitchen", "courier"}
    words |= {"cleared", "upheld", "draft", "approved", "submitted", "paid"}
    # The demo's usernames are role names ("admin", "cashier"): a username is what a person
    # types to sign in, shown as typed, so those words are not codes on the user pages.
    from canteen.demo.district import USERS

    usernames = {u for u, *_ in USERS}
    return {w for w in words if re.fullmatch(r"[a-z][a-z0-9_]*", w)} - usernames


SNAKE = re.compile(r"(?<![\w./@-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/@-])")
CODE_WITH_DIGITS = re.compile(r"(?<![\w./@-])[a-z]+[0-9]+(?![\w/@-])")
TIMESTAMPS = [
    re.compile(r"\d{4}-\d\d-\d\dT\d\d:"),
    re.compile(r"\d\d:\d\d(?::\d\d)?(?:\.\d+)?[+-]\d\d:\d\d"),
    re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+"),
    re.compile(r"\bUTC\b"),
]
URL_OR_MAIL = re.compile(r"https?://\S+|\S+@\S+\.\S+|(?<!\w)/[\w\-./?=&%]+")

# Visible text of the page: text nodes (closed <details> and screen-reader-only text included:
# people read or hear them), the words on buttons and the hints people see (placeholder, title,
# aria-label, alt). Not: scripts, styles, <code>/<pre>/<kbd>, textareas and typed input values.
VISIBLE_TEXT_JS = """() => {
  const skip = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'CODE', 'PRE', 'KBD', 'TEXTAREA']);
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const text = node.nodeValue.trim();
    if (!text) continue;
    let inside = false;
    for (let e = node.parentElement; e; e = e.parentElement) {
      if (skip.has(e.tagName)) { inside = true; break; }
    }
    if (!inside) out.push(text);
  }
  for (const el of document.querySelectorAll('[placeholder], [title], [aria-label], img[alt]')) {
    for (const a of ['placeholder', 'title', 'aria-label', 'alt']) {
      if (el.getAttribute(a)) out.push(el.getAttribute(a));
    }
  }
  for (const el of document.querySelectorAll('input[type=submit], input[type=button]')) {
    if (el.value) out.push(el.value);
  }
  // Chart labels and legends are drawn on a canvas from this JSON: people read them too.
  for (const el of document.querySelectorAll('[data-chart]')) {
    try {
      const spec = JSON.parse(el.getAttribute('data-chart'));
      for (const l of spec.labels || []) out.push(String(l));
      for (const s of spec.series || []) out.push(String(s.label || ''));
    } catch (e) { out.push('unreadable chart data'); }
  }
  out.push(document.title);
  return out;
}"""


# Elder pages (the elder's and the family member's): every link and button at least 60 px high,
# radio and checkbox targets at least 48 px (DESIGN.md, "Elder pages"). Only what is on screen
# counts: the skip link parked off-screen and screen-reader-only text are not tap targets.
ELDER_TAP_PX = 60
ELDER_CHOICE_PX = 48
TAP_TARGETS_JS = """([tap, choice]) => {
  const out = [];
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    const st = getComputedStyle(el);
    return r.width > 1 && r.height > 1 && r.right > 0 && st.visibility !== 'hidden';
  };
  const name = (el) => (el.innerText || el.value || el.getAttribute('aria-label') || el.id || '')
    .trim().slice(0, 40);
  const taps = 'a[href], button, input[type=submit], input[type=button], select, summary';
  for (const el of document.querySelectorAll(taps)) {
    if (!shown(el)) continue;
    const h = Math.round(el.getBoundingClientRect().height);
    const what = `${el.tagName.toLowerCase()} ${JSON.stringify(name(el))}`;
    if (h < tap) out.push(`${what} is ${h} px high (< ${tap})`);
  }
  for (const el of document.querySelectorAll('input[type=radio], input[type=checkbox]')) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    const side = Math.round(Math.min(r.width, r.height));
    if (side < choice) out.push(`${el.type} ${JSON.stringify(el.value)} is ${side} px (< ${choice})`);
  }
  return out;
}"""


def tap_target_findings(page: Any) -> list[str]:
    """The elder-page tap-target rule: one line per target that is too small."""
    found: list[str] = page.evaluate(TAP_TARGETS_JS, [ELDER_TAP_PX, ELDER_CHOICE_PX])
    return found


def raw_text_findings(texts: Iterable[str], vocabulary: set[str]) -> list[str]:
    """What in these visible texts is a code or a machine time rather than words for people:
    one line per offending token, with how often it occurs and the first text it is in."""
    words = re.compile(
        r"(?<![A-Za-z0-9_./@-])("
        + "|".join(sorted(vocabulary, key=len, reverse=True))
        + r")(?![A-Za-z0-9_/@-])"
    )
    seen: dict[str, list[Any]] = {}  # finding → [count, first text]
    for text in texts:
        plain = URL_OR_MAIL.sub(" ", text)
        hits = set(SNAKE.findall(plain)) | set(CODE_WITH_DIGITS.findall(plain)) | set(words.findall(plain))
        keys = [f"raw code {hit!r}" for hit in sorted(hits)]
        keys += [f"machine time {m.group(0)!r}" for p in TIMESTAMPS if (m := p.search(text))]
        for key in keys:
            seen.setdefault(key, [0, text])[0] += 1
    return [f"{key} ×{n}, e.g. in {text[:120]!r}" for key, (n, text) in seen.items()]


def test_raw_text_findings_catches_codes_and_times() -> None:
    vocab = {"dibao", "open", "lunch", "not_home"}
    assert raw_text_findings(["未送达: not_home: 家中无人"], vocab)
    assert raw_text_findings(["状态 open"], vocab)
    assert raw_text_findings(["age80 · senior60"], vocab)
    assert raw_text_findings(["截止 2026-12-02T01:00:00+00:00"], vocab)
    assert raw_text_findings(["送达 07:47 UTC"], vocab)
    clean = [
        "低保 · 午餐 · 2026-12-02 09:00",
        "见 https://example.org/a_b",
        "写信 li_ming@example.org",
        "/admin/sites",
    ]
    assert raw_text_findings(clean, vocab) == []


def _shape(path: str, query: str) -> str:
    """The page shape of a URL: numbers and dates in the path generalised, query keys only."""
    generic = re.sub(r"/\d{4}-\d\d(-\d\d)?(?=/|$)", "/{date}", path)
    generic = re.sub(r"/\d+(?=/|$)", "/{n}", generic)
    keys = sorted({k for k, _ in parse_qsl(query, keep_blank_values=True)})
    return generic + ("?" + "&".join(keys) if keys else "")


def _pending(path: str) -> str | None:
    for pattern, why in KNOWN_PENDING:
        if re.search(pattern, path):
            return why
    return None


@pytest.fixture(autouse=True)
def clean_state() -> Iterator[None]:
    """Overrides the per-test emptying: ``demo_server`` empties the tables once for the module."""
    yield


@pytest.fixture(scope="module")
def demo_server(schema: None) -> Iterator[LiveServer]:
    from canteen.core.cache import clear_all
    from canteen.demo.district import load_demo
    from tests.conftest import _flush_redis, _truncate

    _in_thread(_truncate)
    _in_thread(_flush_redis)
    clear_all()
    started = time.monotonic()
    _in_thread(load_demo)  # before the server starts: no pool of its loop is needed yet
    _in_thread(_find_demo_elder)
    print(f"\ndemo loaded in {time.monotonic() - started:.1f} s")
    clear_all()
    with serving() as server:
        yield server
    _in_thread(_truncate)
    clear_all()


@pytest.fixture(scope="module")
def vocabulary() -> set[str]:
    return _vocabulary()


def crawl(browser: Any, server: LiveServer, spec: Crawl, vocabulary: set[str]) -> tuple[list[str], list[str]]:
    """Visit the role's pages; return (failures, pending findings)."""
    context = browser.new_context(base_url=server.url, viewport=spec.viewport, locale="zh-CN")
    context.set_default_timeout(15_000)
    failures: list[str] = []
    pending: list[str] = []
    try:
        page = context.new_page()
        spec.sign_in(page)
        origin = urlsplit(server.url).netloc
        queue: deque[str] = deque([spec.home])
        seen: set[str] = {spec.home}
        shapes: dict[str, int] = {}
        visited = 0
        while queue and visited < MAX_PAGES:
            target = queue.popleft()
            parts = urlsplit(target)
            shape = _shape(parts.path, parts.query)
            if shapes.get(shape, 0) >= MAX_PER_SHAPE:
                continue
            shapes[shape] = shapes.get(shape, 0) + 1
            found: list[str] = []
            try:
                response = page.goto(target, wait_until="load")
            except playwright_api.Error as exc:
                if "Download is starting" not in str(exc):
                    found.append(f"did not load: {str(exc).splitlines()[0]}")
                response = None
            if response is not None:
                visited += 1
                kind = response.headers.get("content-type", "")
                if response.status >= 400:
                    found.append(f"HTTP {response.status}")
                elif kind.startswith("text/html"):
                    found += raw_text_findings(page.evaluate(VISIBLE_TEXT_JS), vocabulary)
                    found += [
                        f"axe: {line.strip()}"
                        for line in describe(serious(axe_violations(page))).splitlines()
                        if "(none)" not in line
                    ]
                    if spec.elder and urlsplit(page.url).path.startswith("/elder"):
                        found += [f"tap target: {line}" for line in tap_target_findings(page)]
                    for href in page.eval_on_selector_all(
                        "a[href]", "els => els.map(e => e.getAttribute('href'))"
                    ):
                        link = urljoin(server.url + parts.path, href.split("#", 1)[0])
                        lp = urlsplit(link)
                        if lp.netloc != origin or not lp.path:
                            continue
                        if lp.path.startswith(SKIP_PREFIXES) or lp.path.lower().endswith(SKIP_SUFFIXES):
                            continue
                        rel = lp.path + ("?" + lp.query if lp.query else "")
                        if rel not in seen:
                            seen.add(rel)
                            queue.append(rel)
            why = _pending(parts.path)
            for f in found:
                line = f"[{spec.role}] {target}: {f}"
                (pending if why else failures).append(line + (f"  (pending: {why})" if why else ""))
        print(f"\ncrawled {visited} page(s) as {spec.role}; {len(queue)} link(s) left unvisited")
    finally:
        context.close()
    return failures, pending


@pytest.mark.parametrize("spec", CRAWLS, ids=[c.role for c in CRAWLS])
def test_every_page_in_words(
    browser: Any, demo_server: LiveServer, spec: Crawl, vocabulary: set[str]
) -> None:
    started = time.monotonic()
    failures, pending = crawl(browser, demo_server, spec, vocabulary)
    print(f"{spec.role}: {time.monotonic() - started:.1f} s")
    if pending:
        print("known pending:\n" + "\n".join(pending))
    assert not failures, f"{len(failures)} finding(s):\n" + "\n".join(failures)


def test_public_page_fits_a_phone(browser: Any, demo_server: LiveServer) -> None:
    """360 px wide: the page never scrolls sideways (the table scrolls inside its own region)."""
    from canteen.demo.district import DISTRICT

    context = browser.new_context(
        base_url=demo_server.url, viewport={"width": 360, "height": 740}, locale="zh-CN"
    )
    try:
        page = context.new_page()
        page.goto(f"/public/districts/{DISTRICT['code']}")
        page.wait_for_function("() => !!window.Chart && Chart.getChart('chart-public-meals') !== undefined")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the public page is {width} px wide on a 360 px phone"
        assert not serious(axe_violations(page))
    finally:
        context.close()


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.mark.skipif(
    not os.environ.get("CANTEEN_SCREENSHOTS"), reason="set CANTEEN_SCREENSHOTS=1 to refresh docs/"
)
def test_official_screenshot_for_the_readme(browser: Any, demo_server: LiveServer) -> None:
    """The README's official screenshot: the demo's district dashboard at 1440×900 (viewport only)."""
    context = browser.new_context(
        base_url=demo_server.url, viewport={"width": 1440, "height": 900}, locale="zh-CN"
    )
    try:
        page = context.new_page()
        _staff_sign_in("official")(page)
        page.goto("/official/dashboard")
        page.wait_for_function("() => !!window.Chart && Chart.getChart('chart-meals') !== undefined")
        page.wait_for_timeout(500)  # Chart.js animates the first draw
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "official.png"))
        assert (SCREENSHOTS / "official.png").stat().st_size < 150_000
    finally:
        context.close()


@pytest.mark.skipif(
    not os.environ.get("CANTEEN_SCREENSHOTS"), reason="set CANTEEN_SCREENSHOTS=1 to refresh docs/"
)
def test_elder_screenshot_for_the_readme(browser: Any, demo_server: LiveServer) -> None:
    """The README's elder screenshot: a demo elder's home at 360×740 (what is ordered, when it
    comes, the balance, what can still be ordered), viewport only."""
    context = browser.new_context(
        base_url=demo_server.url, viewport={"width": 360, "height": 740}, locale="zh-CN"
    )
    try:
        page = context.new_page()
        _elder_sign_in(page)
        playwright_api.expect(page.locator("#balance")).to_be_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "elder.png"))
        assert (SCREENSHOTS / "elder.png").stat().st_size < 150_000
        assert not tap_target_findings(page)
    finally:
        context.close()
