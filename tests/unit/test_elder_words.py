"""The elder pages' pure rules: fitting sets first, a failed delivery and a refund in words."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from canteen.core.categories import DietTag
from canteen.orders.services import sort_sets_for_diet
from canteen.web.elder import not_delivered_words, refund_words

TAGS = [t.value for t in DietTag]


@dataclass
class _Set:
    id: int
    sort_order: int
    diet_tags: list[str]


@dataclass
class _Order:
    total_due_fen: int
    payment: str
    payment_status: str


sets_st = st.lists(
    st.builds(_Set, st.integers(1, 10_000), st.integers(0, 5), st.lists(st.sampled_from(TAGS), unique=True)),
    max_size=8,
    unique_by=lambda s: s.id,
)


@given(sets_st, st.lists(st.sampled_from(TAGS), unique=True))
def test_fitting_sets_come_first_and_none_is_lost(sets: list[_Set], diet: list[str]) -> None:
    ranked = sort_sets_for_diet(sets, diet)
    assert sorted(s.id for s, _ in ranked) == sorted(s.id for s in sets)
    flags = [suits for _, suits in ranked]
    assert flags == sorted(flags, reverse=True)  # every fitting set before every other
    for s, suits in ranked:
        assert suits == set(diet).issubset(s.diet_tags)
    # among the others, the ones meeting more of the needs come first
    met = [len(set(diet) & set(s.diet_tags)) for s, suits in ranked if not suits]
    assert met == sorted(met, reverse=True)


@given(st.sampled_from(["not_home", "refused", "failed", "weird_code", ""]), st.text(max_size=30))
def test_a_failed_delivery_never_shows_its_code(code: str, note: str) -> None:
    for lang in ("zh-CN", "en"):
        words = not_delivered_words(f"{code}: {note}".strip(": "), lang)
        assert words
        # In English "refused" is also the word; a snake_case code is never one.
        if code and code not in note and (lang == "zh-CN" or "_" in code):
            assert code not in words


def test_refund_words_say_where_the_money_goes() -> None:
    assert refund_words(_Order(450, "balance", "paid"), "zh-CN") == "¥4.50 将退回您的余额。"
    assert (
        refund_words(_Order(450, "balance", "paid"), "zh-CN", done=True) == "订单已取消。¥4.50 已退回余额。"
    )
    assert "银行卡" in refund_words(_Order(450, "card", "paid"), "zh-CN")
    assert refund_words(_Order(450, "card", "pending"), "zh-CN") == "银行卡没有扣款。"
    assert "现金" in refund_words(_Order(450, "cash", "due_on_delivery"), "zh-CN")
    assert "不收费" in refund_words(_Order(0, "balance", "paid"), "zh-CN")
    assert refund_words(_Order(450, "balance", "paid"), "en") == "CN¥4.50 will go back to your balance."
