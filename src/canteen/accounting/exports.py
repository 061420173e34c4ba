"""Statement and report exports: XLSX (openpyxl), PDF (reportlab; CID font STSong-Light) and CSV.

Every cell goes through ``canteen.core.sheets``: amounts are ``Money`` (numbers formatted 0.00 in
XLSX, "-3.50" in CSV), headers are gettext msgids in the caller's language, and codes (line kinds,
states, funding sources, categories) are written as the labels the pages show.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from canteen import i18n
from canteen.accounting.schemas import SettlementView, SpendingReport, ViabilityReport
from canteen.core.categories import category_label
from canteen.core.sheets import Money, append_row, header_row, money, write_csv
from canteen.subsidies.schemas import FUNDING_SOURCE_LABELS

STATEMENT_HEADERS = (
    "Line type",
    "Meal point",
    "Category",
    "Tier",
    "Meals",
    "Meal subsidy (yuan)",
    "Operating subsidy (yuan)",
    "Amount (yuan)",
    "Meal id",
    "Reason",
    "Month",
)
VIABILITY_HEADERS = (
    "Meal point",
    "Grade",
    "Meals",
    "Meals per day",
    "Utilisation",
    "Cost per meal (yuan)",
    "Income per meal (yuan)",
    "Margin (yuan)",
    "Subsidy dependence",
    "Break-even meals per day",
    "Reasons",
    "Quarter",
    "Survey answers",
    "Satisfaction (1–5)",
    "Taste",
    "Quantity",
    "Hygiene",
    "Service",
    "Price",
    "Complaints filed",
    "Complaints not yet answered",
    "Mean days to reply",
)
SPENDING_HEADERS = ("Funding source", "Budget (yuan)", "Spent (yuan)", "Share of budget")
SPENDING_CELL_HEADERS = ("Funding source", "Category", "Month", "Spent (yuan)")


def source_label(code: str, lang: str = "zh-CN") -> str:
    """A funding source as people read it ("city" → "市级"); unknown codes as themselves."""
    label = FUNDING_SOURCE_LABELS.get(code)
    return code if label is None else label[1 if i18n.normalise(lang) == "en" else 0]


def report_category_label(code: str, lang: str = "zh-CN") -> str:
    """An elder category of a report, including the "none" and "operating" buckets."""
    if code == "none":
        return i18n.gettext(lang, "No category")
    if code == "operating":
        return i18n.gettext(lang, "Operating subsidy")
    return category_label(code, i18n.normalise(lang)) if code else ""


def _xlsx(sheets: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> bytes:
    # openpyxl is imported when a workbook is made (≈0.5 s at start otherwise).
    from openpyxl import Workbook

    wb = Workbook()
    first = wb.active
    assert first is not None
    for n, (title, rows) in enumerate(sheets):
        ws = first if n == 0 else wb.create_sheet()
        ws.title = title[:31]
        for row in rows:
            append_row(ws, row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# ------------------------------------------------------------------------- statements


def _rows(view: SettlementView, lang: str) -> list[list[Any]]:
    return [
        [
            i18n.gettext(lang, li.kind),
            li.site_name,
            report_category_label(li.category, lang),
            li.tier,
            li.meals,
            Money(li.subsidy_fen),
            Money(li.operating_fen),
            Money(li.amount_fen),
            li.meal_id or "",
            li.reason,
            li.month,
        ]
        for li in view.lines
    ]


def _total_row(view: SettlementView, lang: str) -> list[Any]:
    """Column sums of the lines; the amount column adds up to the statement's total."""
    lines = view.lines
    return [
        i18n.gettext(lang, "Total"),
        "",
        "",
        "",
        sum(li.meals for li in lines),
        Money(sum(li.subsidy_fen for li in lines)),
        Money(sum(li.operating_fen for li in lines)),
        Money(view.total_fen),
        "",
        "",
        "",
    ]


def _title(view: SettlementView, lang: str) -> str:
    return i18n.gettext(
        lang,
        "Statement {id}: {operator}, {month}, funding source {source}, state {state}",
        id=view.id,
        operator=view.operator_name,
        month=view.month if view.until == view.month else f"{view.month}–{view.until}",
        source=source_label(view.source, lang),
        state=i18n.gettext(lang, view.state),
    )


def _total(view: SettlementView, lang: str) -> str:
    return i18n.gettext(
        lang,
        "Total {total} yuan (adjustments {adjustments})",
        total=str(Money(view.total_fen)),
        adjustments=str(Money(view.adjustment_fen)),
    )


def statement_csv(view: SettlementView, lang: str = "zh-CN") -> bytes:
    return write_csv(STATEMENT_HEADERS, [*_rows(view, lang), _total_row(view, lang)], lang=lang)


def statement_xlsx(view: SettlementView, lang: str = "zh-CN") -> bytes:
    rows = [[_title(view, lang)], header_row(STATEMENT_HEADERS, lang), *_rows(view, lang)]
    return _xlsx(
        [
            (
                view.month if view.until == view.month else f"{view.month}–{view.until}",
                [*rows, _total_row(view, lang)],
            )
        ]
    )


def statement_pdf(view: SettlementView, lang: str = "zh-CN") -> bytes:
    # reportlab is imported when a PDF is made (≈0.4 s at start otherwise).
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    styles = getSampleStyleSheet()
    style = styles["Normal"].clone("cn", fontName="STSong-Light", fontSize=9, leading=12)
    head = styles["Title"].clone("cnt", fontName="STSong-Light", fontSize=13)
    data: list[list[Any]] = [header_row(STATEMENT_HEADERS, lang), *_rows(view, lang)]
    table = Table([[Paragraph(str(c), style) for c in row] for row in data], repeatRows=1)
    table.setStyle(
        TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")])
    )
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), title=_title(view, lang))
    doc.build([Paragraph(_title(view, lang), head), table, Paragraph(_total(view, lang), style)])
    return out.getvalue()


# ------------------------------------------------------------------------- viability


def _viability_rows(report: ViabilityReport, lang: str) -> list[list[Any]]:
    en = i18n.normalise(lang) == "en"

    def ratio(value: float | None, digits: int) -> float | None:
        return None if value is None else round(value, digits)

    return [
        [
            p.site_name,
            p.grade,
            p.meals,
            ratio(p.meals_per_day, 1),
            ratio(p.utilisation, 3),
            money(p.cost_per_meal_fen),
            money(p.income_per_meal_fen),
            Money(p.margin_fen),
            ratio(p.subsidy_dependence, 3),
            None if p.break_even_meals_per_day is None else round(p.break_even_meals_per_day),
            "; ".join(r.en if en else r.zh for r in p.reasons),
            *_quality_cells(p),
        ]
        for p in report.points
    ]


def _quality_cells(p: Any) -> list[Any]:
    """The quarter's survey and complaints, as numbers (blank where there is nothing to average)."""
    q = p.quality
    if q is None:
        return [None] * 11
    dims = ("taste", "quantity", "hygiene", "service", "price")
    return [
        q.quarter,
        q.survey_n,
        q.survey_mean,
        *[q.dimension_means.get(d) for d in dims],
        q.complaints_filed,
        q.complaints_open,
        q.mean_days_to_reply,
    ]


def viability_csv(report: ViabilityReport, lang: str = "zh-CN") -> bytes:
    return write_csv(VIABILITY_HEADERS, _viability_rows(report, lang), lang=lang)


def viability_xlsx(report: ViabilityReport, lang: str = "zh-CN") -> bytes:
    rows = [header_row(VIABILITY_HEADERS, lang), *_viability_rows(report, lang)]
    return _xlsx([(report.month, rows)])


# ------------------------------------------------------------------------- spending


def _spending_headers(report: SpendingReport) -> list[str]:
    return [*SPENDING_HEADERS, *[f"{report.year}-{m:02d}" for m in range(1, 13)]]


def _spending_rows(report: SpendingReport, lang: str) -> list[list[Any]]:
    return [
        [
            source_label(s.source, lang),
            money(s.budget_fen),
            Money(s.spent_fen),
            None if s.share_of_budget is None else round(s.share_of_budget, 3),
            *[Money(v) for v in s.by_month],
        ]
        for s in report.sources
    ]


def _spending_cells(report: SpendingReport, lang: str) -> list[list[Any]]:
    return [
        [source_label(c.source, lang), report_category_label(c.category, lang), c.month, Money(c.fen)]
        for c in report.cells
    ]


def spending_csv(report: SpendingReport, lang: str = "zh-CN") -> bytes:
    """One row per funding source: budget, spent, share, then the twelve months (yuan);
    after a blank line, the spending by source, category and month."""
    rows = [
        *_spending_rows(report, lang),
        [],
        header_row(SPENDING_CELL_HEADERS, lang),
        *_spending_cells(report, lang),
    ]
    return write_csv(_spending_headers(report), rows, lang=lang)


def spending_xlsx(report: SpendingReport, lang: str = "zh-CN") -> bytes:
    """The same two tables as ``spending_csv``, one sheet each."""
    by_source = [header_row(_spending_headers(report), lang), *_spending_rows(report, lang)]
    by_category = [header_row(SPENDING_CELL_HEADERS, lang), *_spending_cells(report, lang)]
    return _xlsx([(str(report.year), by_source), (i18n.gettext(lang, "By category"), by_category)])
