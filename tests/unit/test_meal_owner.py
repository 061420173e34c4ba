"""``canteen.meals`` is the one writer of a meal and its rollups (issue #10, DESIGN.md "Who owns
what"): no module outside src/canteen/meals/ may insert into, update or delete from the
``Meal``, ``DailyRollup`` or ``MonthlyRollup`` tables, construct their rows, or write them
in raw SQL. Everyone else calls the owner's services; reading (``select``, ``count``,
``exists``, a raw ``SELECT`` for a report) stays open. Migrations are the schema's history,
not writers, and are skipped.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "canteen"
OWNER = SRC / "meals"
TABLES = {"Meal", "DailyRollup", "MonthlyRollup"}
WRITES = {"insert", "update", "delete"}  # .raw(...) is judged by its SQL (SQL_WRITE)
SQL_WRITE = re.compile(
    r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+[\"`]?(meal|daily_rollup|monthly_rollup)[\"`]?(\s|\(|$)",
    re.IGNORECASE,
)


def _names(node: ast.AST, aliases: set[str]) -> str | None:
    """The table a node names: ``Meal``, an alias of it, or ``anything.Meal``."""
    if isinstance(node, ast.Name) and (node.id in TABLES or node.id in aliases):
        return node.id
    if isinstance(node, ast.Attribute) and node.attr in TABLES:
        return node.attr
    return None


def _offences(path: Path) -> list[str]:
    return _offences_in(path.read_text(encoding="utf-8"), str(path.relative_to(SRC.parent.parent)))


def _offences_in(text: str, rel: str) -> list[str]:
    tree = ast.parse(text, filename=rel)
    aliases = {
        a.asname
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom)
        for a in n.names
        if a.name in TABLES and a.asname
    }
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            table = _names(f, aliases)
            if table is not None:
                out.append(f"{rel}:{node.lineno}: {table}(...) builds a row")
            elif isinstance(f, ast.Attribute) and f.attr in WRITES:
                table = _names(f.value, aliases)
                if table is not None:
                    out.append(f"{rel}:{node.lineno}: {table}.{f.attr}(...)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL_WRITE.search(node.value):
            out.append(f"{rel}:{node.lineno}: raw SQL writes {SQL_WRITE.search(node.value).group(2)}")  # type: ignore[union-attr]
    return out


def _modules() -> list[Path]:
    return sorted(
        p for p in SRC.rglob("*.py") if OWNER not in p.parents and "piccolo_migrations" not in p.parts
    )


def test_the_scan_sees_the_source_tree() -> None:
    assert (SRC / "app.py").is_file()
    assert len(_modules()) > 50


def test_scan_catches_every_way_of_writing() -> None:
    sample = (
        "from canteen.meals.tables import Meal as M, DailyRollup\n"
        "async def f():\n"
        "    await M.insert(M(site=1))\n"
        "    await canteen.meals.tables.Meal.update({}).where(x)\n"
        "    await DailyRollup.delete().where(y)\n"
        "    await MonthlyRollup.raw('SELECT 1')\n"
        "    await Meal.select().where(z)\n"
        "    await Order.raw('UPDATE meal SET voided_at = NULL')\n"
    )
    found = _offences_in(sample, "sample.py")
    # insert, M(...), update, delete, and the raw UPDATE; a select and a raw SELECT are reads
    assert len(found) == 5, found


def test_only_canteen_meals_writes_meals_and_rollups() -> None:
    offences = [o for p in _modules() for o in _offences(p)]
    assert offences == [], "writes to meals or rollups outside canteen.meals:\n  " + "\n  ".join(offences)
