"""Statement and report exports: XLSX (openpyxl), PDF (reportlab; CID font STSong-Light) and CSV."""

from __future__ import annotations

import csv
import io

from canteen.accounting.schemas import SettlementView, SpendingReport, ViabilityReport
from canteen.core.money import yuan
from canteen.core.sheets import sheet_row

_HEAD = {
    "zh-CN": [
        "类型",
        "站点",
        "类别",
        "档次",
        "餐数",
        "餐费补贴(元)",
        "运营补贴(元)",
        "金额(元)",
        "餐次编号",
        "说明",
    ],
    "en": [
        "Kind",
        "Point",
        "Category",
        "Tier",
        "Meals",
        "Meal subsidy (yuan)",
        "Operating (yuan)",
        "Amount (yuan)",
        "Meal id",
        "Reason",
    ],
}


def _rows(view: SettlementView) -> list[list[object]]:
    return [
        [
            li.kind,
            li.site_name,
            li.category,
            li.tier,
            li.meals,
            yuan(li.subsidy_fen),
            yuan(li.operating_fen),
            yuan(li.amount_fen),
            li.meal_id or "",
            li.reason,
        ]
        for li in view.lines
    ]


def _title(view: SettlementView, lang: str) -> str:
    if lang.startswith("en"):
        return (
            f"Statement {view.id}: {view.operator_name}, {view.month}, "
            f"source {view.source}, state {view.state}"
        )
    return f"结算单 {view.id}：{view.operator_name}，{view.month}，资金来源 {view.source}，状态 {view.state}"


def _total(view: SettlementView, lang: str) -> str:
    if lang.startswith("en"):
        return f"Total {yuan(view.total_fen)} yuan (adjustments {yuan(view.adjustment_fen)})"
    return f"合计 {yuan(view.total_fen)} 元（调整 {yuan(view.adjustment_fen)}）"


def statement_csv(view: SettlementView, lang: str = "zh-CN") -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(_HEAD["en" if lang.startswith("en") else "zh-CN"])
    w.writerows(_rows(view))
    return buf.getvalue()


def statement_xlsx(view: SettlementView, lang: str = "zh-CN") -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = view.month
    ws.append(sheet_row([_title(view, lang)]))
    ws.append(_HEAD["en" if lang.startswith("en") else "zh-CN"])
    for row in _rows(view):
        ws.append(sheet_row(row))
    ws.append(sheet_row([_total(view, lang)]))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def statement_pdf(view: SettlementView, lang: str = "zh-CN") -> bytes:
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
    data: list[list[object]] = [list(_HEAD["en" if lang.startswith("en") else "zh-CN"]), *_rows(view)]
    table = Table([[Paragraph(str(c), style) for c in row] for row in data], repeatRows=1)
    table.setStyle(
        TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")])
    )
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), title=_title(view, lang))
    doc.build([Paragraph(_title(view, lang), head), table, Paragraph(_total(view, lang), style)])
    return out.getvalue()


def viability_csv(report: ViabilityReport, lang: str = "zh-CN") -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    en = lang.startswith("en")
    w.writerow(
        [
            "point",
            "grade",
            "meals",
            "meals_per_day",
            "utilisation",
            "cost_per_meal_yuan",
            "income_per_meal_yuan",
            "margin_yuan",
            "subsidy_dependence",
            "break_even_per_day",
            "reasons",
        ]
    )
    for p in report.points:
        w.writerow(
            [
                p.site_name,
                p.grade,
                p.meals,
                f"{p.meals_per_day:.1f}" if p.meals_per_day is not None else "",
                f"{p.utilisation:.3f}" if p.utilisation is not None else "",
                yuan(p.cost_per_meal_fen) if p.cost_per_meal_fen is not None else "",
                yuan(p.income_per_meal_fen) if p.income_per_meal_fen is not None else "",
                yuan(p.margin_fen),
                f"{p.subsidy_dependence:.3f}" if p.subsidy_dependence is not None else "",
                f"{p.break_even_meals_per_day:.0f}" if p.break_even_meals_per_day is not None else "",
                "; ".join(r.en if en else r.zh for r in p.reasons),
            ]
        )
    return buf.getvalue()


def viability_xlsx(report: ViabilityReport, lang: str = "zh-CN") -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in csv.reader(io.StringIO(viability_csv(report, lang))):
        ws.append(sheet_row(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def spending_csv(report: SpendingReport, lang: str = "zh-CN") -> str:
    """One row per funding source: budget, spent, share, then the twelve months (yuan)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "source",
            "budget_yuan",
            "spent_yuan",
            "share_of_budget",
            *[f"{report.year}-{m:02d}" for m in range(1, 13)],
        ]
    )
    for s in report.sources:
        w.writerow(
            [
                s.source,
                yuan(s.budget_fen) if s.budget_fen is not None else "",
                yuan(s.spent_fen),
                f"{s.share_of_budget:.3f}" if s.share_of_budget is not None else "",
                *[yuan(v) for v in s.by_month],
            ]
        )
    w.writerow([])
    w.writerow(["source", "category", "month", "yuan"])
    for c in report.cells:
        w.writerow([c.source, c.category, c.month, yuan(c.fen)])
    return buf.getvalue()


def spending_xlsx(report: SpendingReport, lang: str = "zh-CN") -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = str(report.year)
    for row in csv.reader(io.StringIO(spending_csv(report, lang))):
        ws.append(sheet_row(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
