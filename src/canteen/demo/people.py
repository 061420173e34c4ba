"""Realistic, deterministic elders for demos, tests and benchmarks.

Everyone here is invented, but looks like a register in Hangzhou's Gongshu
district: common Zhejiang surnames, given names of the 1930s–1960s, ID numbers
with region code 330105 and valid check characters, addresses on real-sounding
roads, and the shares of categories a community worker would recognise
(a few % 特困, ~8% 低保, ~10% 失能/半失能, ~15% living alone …).

Everything is drawn from ``random.Random(seed)``: the same seed and ``today``
always give the same people, so tests can name them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from typing import NamedTuple

from canteen.core.categories import Category, DietTag
from canteen.registry.importing import (
    CategoryClaim,
    Cell,
    ElderDraft,
    Gender,
    LivingSituation,
    export_rows,
    write_xlsx,
)
from canteen.registry.national_id import make_national_id

GONGSHU_REGION = "330105"


class DemoCommunity(NamedTuple):
    """A community with the centre its elders' homes scatter around."""

    id: int
    name: str
    street: str
    lat: float
    lon: float
    roads: tuple[str, ...]


# Plausible communities of Gongshu district (coordinates near the real streets;
# ids are placeholders the demo loader replaces with database ids).
GONGSHU_COMMUNITIES: tuple[DemoCommunity, ...] = (
    DemoCommunity(1, "和睦新村社区", "和睦街道", 30.3105, 120.1360, ("和睦路", "台州路", "登云路")),
    DemoCommunity(2, "大关西苑社区", "大关街道", 30.3075, 120.1495, ("大关路", "上塘路", "东新路")),
    DemoCommunity(3, "小河佳苑社区", "小河街道", 30.3030, 120.1400, ("小河路", "湖州街", "长征桥路")),
    DemoCommunity(4, "米市巷社区", "米市巷街道", 30.2900, 120.1590, ("米市巷", "环城北路", "中山北路")),
    DemoCommunity(5, "卖鱼桥社区", "湖墅街道", 30.2975, 120.1430, ("湖墅南路", "卖鱼桥", "文晖路")),
    DemoCommunity(6, "拱宸桥社区", "拱宸桥街道", 30.3230, 120.1410, ("丽水路", "台州路", "桥弄街")),
    DemoCommunity(7, "祥符桥社区", "祥符街道", 30.3260, 120.1250, ("祥园路", "花园岗街", "莫干山路")),
    DemoCommunity(8, "半山社区", "半山街道", 30.3550, 120.1950, ("半山路", "石塘路", "康桥路")),
)

# (character, weight): roughly the national ranking, tilted to Zhejiang names
# (沈, 钱, 俞, 金, 方, 施 are commoner in Hangzhou than nationally).
_SURNAMES = (
    ("王", 72), ("李", 55), ("张", 60), ("陈", 70), ("刘", 35), ("杨", 30), ("黄", 25), ("赵", 20),
    ("吴", 40), ("周", 38), ("徐", 36), ("孙", 22), ("朱", 28), ("胡", 26), ("沈", 24), ("钱", 18),
    ("俞", 12), ("金", 20), ("方", 16), ("施", 10), ("蒋", 14), ("郑", 16), ("何", 14), ("高", 12),
    ("林", 14), ("陆", 12), ("顾", 9), ("许", 12), ("潘", 10), ("叶", 14), ("楼", 5), ("童", 5),
)  # fmt: skip
_MALE_GIVEN = (
    "建国", "国强", "志明", "德明", "文华", "根宝", "海明", "永福", "金根", "伟民", "建华", "国庆",
    "家福", "长林", "荣生", "明德", "和平", "卫东", "宝林", "福根", "忠", "明", "华", "强", "军",
)  # fmt: skip
_FEMALE_GIVEN = (
    "秀英", "桂英", "玉兰", "凤英", "秀兰", "美华", "月娥", "金凤", "彩娥", "淑珍", "雅琴", "丽华",
    "素珍", "爱华", "菊英", "美娟", "阿娣", "杏娟", "惠芳", "红", "英", "芳", "萍", "敏", "珍",
)  # fmt: skip
_CHILD_GIVEN = ("伟", "敏", "磊", "静", "军", "丽", "勇", "艳", "强", "芳", "杰", "燕", "斌", "婷", "涛")
_MOBILE_PREFIXES = ("133", "135", "136", "137", "138", "139", "150", "151", "152", "158", "159",
                    "180", "182", "187", "188", "189", "177", "199")  # fmt: skip
_ALLERGIES = ("海鲜", "花生", "牛奶", "鸡蛋", "芒果", "青霉素")
_DIET_NOTES = ("不吃辣", "不吃香菜", "不吃葱蒜", "牙口不好，菜要切碎")


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, int]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _age(rng: random.Random) -> int:
    # A triangle from 60 to 100 peaking at 72 puts about two thirds of people
    # between 65 and 85, as in a community register; a few reach 95+.
    return min(100, int(rng.triangular(60, 101, 72)))


def _birth_date(rng: random.Random, today: date, age: int) -> date:
    latest = _years_before(today, age)  # the last birthday giving this age
    return latest - timedelta(days=rng.randrange(365))


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _mobile(rng: random.Random) -> str:
    return rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _phone(rng: random.Random) -> str | None:
    r = rng.random()
    if r < 0.12:
        return None  # many of the oldest have no phone of their own
    if r < 0.25:
        return f"0571-8{rng.randrange(10**7):07d}"
    return _mobile(rng)


def _address(rng: random.Random, community: DemoCommunity) -> str:
    road = rng.choice(community.roads)
    return (
        f"{road}{rng.randint(1, 400)}号{rng.randint(1, 24)}幢"
        f"{rng.randint(1, 1 + rng.choice((6, 6, 6, 18)))}0{rng.randint(1, 4)}室"
    )


def _categories(rng: random.Random, today: date, living: LivingSituation) -> tuple[CategoryClaim, ...]:
    def evidence_until() -> date:
        # Means-tested and assessed categories are reviewed yearly; about one
        # in ten has lapsed and waits for renewal.
        if rng.random() < 0.1:
            return today - timedelta(days=rng.randint(1, 200))
        return today + timedelta(days=rng.randint(30, 700))

    codes: dict[str, date | None] = {}
    r = rng.random()
    if r < 0.03:
        codes[Category.TEKUN.value] = evidence_until()
    elif r < 0.11:
        codes[Category.DIBAO.value] = evidence_until()
    elif r < 0.16:
        codes[Category.LOW_INCOME.value] = evidence_until()
    r = rng.random()
    if r < 0.04:
        codes[Category.DISABLED.value] = evidence_until()
    elif r < 0.10:
        codes[Category.SEMI_DISABLED.value] = evidence_until()
    if rng.random() < 0.03:
        codes[Category.SEVERE_DISABILITY.value] = evidence_until()
    if living == "alone":
        codes[Category.LIVING_ALONE.value] = None
    elif living == "with_spouse" and rng.random() < 0.3:
        codes[Category.EMPTY_NEST.value] = None
    if rng.random() < 0.01:
        codes[Category.FAMILY_PLANNING_SPECIAL.value] = None
    if rng.random() < 0.02:
        codes[Category.VETERAN.value] = None
    return tuple(CategoryClaim(code=c, valid_until=codes[c]) for c in sorted(codes))


def _diet(rng: random.Random, disabled: bool) -> tuple[str, ...]:
    tags = set()
    if rng.random() < 0.25:
        tags.add(DietTag.LOW_SALT.value)
    if rng.random() < 0.12:
        tags.add(DietTag.LOW_SUGAR.value)
    if rng.random() < (0.35 if disabled else 0.06):
        tags.add(DietTag.SOFT.value)
    if rng.random() < 0.01:
        tags.add(DietTag.NO_PORK.value)
    if rng.random() < 0.02:
        tags.add(DietTag.VEGETARIAN.value)
    return tuple(sorted(tags))


def make_people(
    n: int,
    communities: Sequence[DemoCommunity] = GONGSHU_COMMUNITIES,
    *,
    seed: int,
    today: date,
    region: str = GONGSHU_REGION,
) -> list[ElderDraft]:
    """``n`` invented elders spread over ``communities``; the same seed gives the same people.

    ID numbers are unique within the result (``region``, 330105 by default, valid checksums);
    ages 60–100 on ``today``.
    """
    rng = random.Random(seed)
    used_ids: set[str] = set()
    people: list[ElderDraft] = []
    for _ in range(n):
        community = rng.choice(communities)
        gender: Gender = "male" if rng.random() < 0.45 else "female"  # women outlive men
        surname = _weighted(rng, _SURNAMES)
        given = rng.choice(_MALE_GIVEN if gender == "male" else _FEMALE_GIVEN)
        birth = _birth_date(rng, today, _age(rng))
        seq = rng.randrange(500) * 2 + (1 if gender == "male" else 0)
        national_id = make_national_id(region, birth, seq)
        while national_id in used_ids:
            seq = (seq + 2) % 1000
            national_id = make_national_id(region, birth, seq)
        used_ids.add(national_id)
        r = rng.random()
        living: LivingSituation = (
            "alone" if r < 0.15 else "with_spouse" if r < 0.60 else "with_children" if r < 0.90 else "other"
        )
        categories = _categories(rng, today, living)
        disabled = any(c.code in {"disabled", "semi_disabled", "severe_disability"} for c in categories)
        has_contact = rng.random() < 0.85
        people.append(
            ElderDraft(
                name=surname + given,
                gender=gender,
                birth_date=birth,
                national_id=national_id,
                community_id=community.id,
                phone=_phone(rng),
                address=_address(rng, community),
                living_situation=living,
                categories=categories,
                diet=_diet(rng, disabled),
                diet_note=rng.choice(_DIET_NOTES) if rng.random() < 0.03 else None,
                allergies=rng.choice(_ALLERGIES) if rng.random() < 0.03 else None,
                emergency_name=(surname + rng.choice(_CHILD_GIVEN)) if has_contact else None,
                emergency_phone=_mobile(rng) if has_contact else None,
                lat=round(community.lat + rng.gauss(0, 0.003), 6),
                lon=round(community.lon + rng.gauss(0, 0.0035), 6),
            )
        )
    return people


class ImportWorkbook(NamedTuple):
    """A generated upload and which of its rows were broken on purpose (row number → how)."""

    data: bytes
    bad_rows: dict[int, str]


BAD_KINDS = (
    "checksum",
    "unknown_community",
    "missing_name",
    "future_birth_date",
    "bad_phone",
    "unknown_category",
)


def make_import_workbook(
    n_rows: int,
    n_bad: int,
    *,
    seed: int,
    communities: Sequence[DemoCommunity] = GONGSHU_COMMUNITIES,
    today: date | None = None,
) -> ImportWorkbook:
    """An XLSX like a community worker's (Chinese headers, header on row 1), ``n_bad`` rows broken.

    The breakages cycle through ``BAD_KINDS`` (wrong check character, unknown
    community, missing name, birth date in the future, bad phone, unknown
    category), each making exactly its row fail. The good rows mix real date
    cells with text dates and separators the way hand-kept sheets do.
    """
    if not 0 <= n_bad <= n_rows:
        raise ValueError("n_bad must be between 0 and n_rows")
    day = today or date.today()
    rng = random.Random(seed ^ 0x5EED)
    people = make_people(n_rows, communities, seed=seed, today=day)
    headers, rows = export_rows(people, community_names={c.id: c.name for c in communities})
    col = {h: i for i, h in enumerate(headers)}

    for row in rows:
        # Hand-kept sheets: some dates typed as text, some lists with "，".
        if rng.random() < 0.2 and isinstance(row[col["出生日期"]], date):
            b = row[col["出生日期"]]
            assert isinstance(b, date)
            row[col["出生日期"]] = f"{b.year}年{b.month}月{b.day}日"
        cats = row[col["类别"]]
        if isinstance(cats, str) and rng.random() < 0.3:
            row[col["类别"]] = cats.replace("、", "，")

    bad_positions = sorted(rng.sample(range(n_rows), n_bad))
    bad_rows: dict[int, str] = {}
    for k, pos in enumerate(bad_positions):
        kind = BAD_KINDS[k % len(BAD_KINDS)]
        _break(rows[pos], col, kind, rng, day)
        bad_rows[pos + 2] = kind  # header on row 1, first data row is row 2
    return ImportWorkbook(write_xlsx(headers, rows, sheet_title="助餐老人登记表"), bad_rows)


def _break(row: list[Cell], col: dict[str, int], kind: str, rng: random.Random, today: date) -> None:
    if kind == "checksum":
        number = str(row[col["身份证号"]])
        wrong = rng.choice([c for c in "0123456789X" if c != number[-1]])
        row[col["身份证号"]] = number[:-1] + wrong
    elif kind == "unknown_community":
        row[col["社区"]] = rng.choice(("幸福里社区", "阳光花园社区", "东风村"))
    elif kind == "missing_name":
        row[col["姓名"]] = None
    elif kind == "future_birth_date":
        born = date(today.year + rng.randint(1, 5), rng.randint(1, 12), rng.randint(1, 28))
        row[col["身份证号"]] = make_national_id(GONGSHU_REGION, born, rng.randrange(1000))
        row[col["出生日期"]] = born
    elif kind == "bad_phone":
        row[col["联系电话"]] = rng.choice(("1381234567", "12345", "138-1234-56789", "电话待补"))
    elif kind == "unknown_category":
        row[col["类别"]] = rng.choice(("困难老人", "低保、贫困户", "残疾人"))
    else:  # pragma: no cover - BAD_KINDS is closed
        raise ValueError(kind)
