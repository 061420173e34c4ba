"""The hot path's statements are written once with ``:name`` parameters and compiled for both
engines (``canteen.meals.hotpath._sql``): asyncpg's numbered ``$n`` (a name used twice is one
parameter) and Piccolo's positional ``{}`` (one value per use, in order)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from canteen.meals import hotpath
from canteen.meals.hotpath import _PG_WRITE, _READS, _sql


def test_names_compile_to_numbers_and_to_positions() -> None:
    sql = _sql("SELECT :a, CAST(:b AS int), :a::text, 'x:y', NULL::meal")
    assert sql.pg == "SELECT $1, CAST($2 AS int), $1::text, 'x:y', NULL::meal"
    assert sql.pg_names == ("a", "b")
    assert sql.lite == "SELECT {}, CAST({} AS int), {}::text, 'x:y', NULL::meal"
    assert sql.lite_names == ("a", "b", "a")


@given(st.lists(st.sampled_from(["day", "slot", "elder", "n"]), min_size=1, max_size=12))
def test_every_use_gets_its_value(names: list[str]) -> None:
    sql = _sql(" ".join(f":{n}" for n in names))
    assert sql.lite_names == tuple(names)
    assert sorted(sql.pg_names) == sorted(set(names)) and len(sql.pg_names) == len(set(names))


def test_the_statements_name_what_the_callers_pass() -> None:
    read = {"card_elder", "card_serial", "card_number", "elder_id", "day", "slot", "month_start"}
    for sql in _READS.values():
        assert set(sql.pg_names) <= read | {"idem_scope", "idem_key"}
        assert set(sql.pg_names) == set(sql.lite_names)
    assert "canteen_refuse('sold_out')" in _PG_WRITE.pg and "$" in _PG_WRITE.pg


def test_usage_fills_every_field_the_rules_know() -> None:
    read = hotpath.CounterRead(
        card=None,
        elder=None,
        categories=[],
        balance_fen=0,
        slot_meals=2,
        day_meals=3,
        month_subsidy_fen=1200,
        month_meals=9,
        stored=None,
    )
    usage = hotpath.usage_of(read)
    values = {"slot_meals_today": 2, "day_meals_today": 3, "month_subsidy_fen": 1200, "month_meals": 9}
    for name in usage.__struct_fields__:
        assert getattr(usage, name) == values[name]
