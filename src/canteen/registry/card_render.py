"""Card faces as PNG and SVG, and A4 print sheets as PDF.

The QR code is always built the same way (``qr_matrix``): error correction Q
(survives scratches and a thumb over a quarter of the code, where L did not in
our trials), alphanumeric mode (tokens are uppercase base32), the standard
4-module quiet zone, and the encoder's own best-mask choice. Choosing the mask
is ~85% of the encoding time (8 ms per code); a fixed mask would be 8x faster
but can leave finder-like patterns that slow cheap scanners down. Cards are
printed once and scanned daily for years, so readability wins.

Physical sizes: a card is ID-1, 85.6 x 54 mm. A version-7 code is 45 modules +
8 of quiet zone = 53; printed 36-38 mm wide that is ~0.7 mm per module,
above the 0.5 mm floor for reliable reading by a USB scanner or tablet camera.

The PDF draws each code as vector rectangles written straight into the page
content stream (one ``re`` per horizontal run of dark modules): no image
encoding, crisp at any printer resolution, and ~1 ms per card.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from xml.sax.saxutils import escape

import msgspec
import qrcode
import qrcode.util
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_Q
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from canteen.registry.cards import format_card_number

CARD_WIDTH_MM = 85.6
CARD_HEIGHT_MM = 54.0
QR_BORDER = 4  # modules of quiet zone, the standard's minimum
MAX_QR_VERSION = 7
MIN_MODULE_MM = 0.5

# Sheet layout: 2 x 5 ID-1 cards butted together, so one guillotine cut serves
# two cards and the A4 margins (19.4 mm sides, 13.5 mm top and bottom) keep
# the crop marks clear of most printers' unprintable edge. No gutter: with
# gutters five rows would not fit on A4 with room for the marks.
SHEET_COLUMNS = 2
SHEET_ROWS = 5
CARDS_PER_PAGE = SHEET_COLUMNS * SHEET_ROWS

CJK_FONT = "STSong-Light"  # reportlab's built-in CID font: no font file to ship or embed
NUMBER_FONT = "Courier-Bold"  # monospaced, so 8/B, 2/Z and 5/S keep distinct widths and shapes


class CardFace(msgspec.Struct, frozen=True):
    """What one printed card shows. ``hotline`` is the phone number, printed as 服务热线 <hotline>.

    ``card_number`` may be canonical (``K7M4QXP9``) or formatted; it is
    validated and printed as ``K7M-4QXP-9``.
    """

    display_name: str
    community_name: str
    card_number: str
    token: str
    hotline: str


def qr_matrix(token: str) -> list[list[bool]]:
    """The QR modules for ``token`` (True = dark), quiet zone included, at error correction Q.

    Raises ``ValueError`` for a token that is not QR-alphanumeric or would not
    fit version 7 (a programming error: ``issue_token`` never makes one).
    """
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_Q, border=QR_BORDER)
    # optimize=0: one segment whose mode is chosen from the whole text, i.e.
    # alphanumeric for a token; chunking could only add segment headers.
    qr.add_data(token, optimize=0)
    qr.make(fit=True)
    if qr.data_list[0].mode != qrcode.util.MODE_ALPHA_NUM:
        raise ValueError("card tokens must be QR-alphanumeric (uppercase base32)")
    if qr.version > MAX_QR_VERSION:
        raise ValueError(f"token needs QR version {qr.version} > {MAX_QR_VERSION} at level Q")
    return qr.get_matrix()


def _dark_runs(matrix: Sequence[Sequence[bool]]) -> list[tuple[int, int, int]]:
    """Horizontal runs of dark modules as (row, start column, length)."""
    runs = []
    for r, row in enumerate(matrix):
        c = 0
        n = len(row)
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                runs.append((r, start, c - start))
            else:
                c += 1
    return runs


# ---------------------------------------------------------------------------
# PNG
# ---------------------------------------------------------------------------


def _px(value_mm: float, dpi: int) -> int:
    return round(value_mm * dpi / 25.4)


@lru_cache(maxsize=16)
def _png_font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled scalable font (no font file of ours); the card number is ASCII.
    return ImageFont.load_default(size=size_px)


def render_png(token: str, card_number: str, *, dpi: int = 300, qr_mm: float = 36.0) -> bytes:
    """One card face (85.6 x 54 mm at ``dpi``) with the QR centred and the card number under it.

    The module size is a whole number of pixels (no resampling blur) and never
    below 0.5 mm; at 300 dpi and the default 36 mm the code is 424 px, 8 px =
    0.68 mm per module. The PNG records its dpi so it prints at card size.
    """
    matrix = qr_matrix(token)
    modules = len(matrix)
    module_px = max(math.ceil(MIN_MODULE_MM * dpi / 25.4), int(qr_mm * dpi / 25.4 / modules))
    qr_px = module_px * modules
    width, height = _px(CARD_WIDTH_MM, dpi), _px(CARD_HEIGHT_MM, dpi)

    # One byte per module, scaled up with NEAREST: far faster than drawing squares.
    small = Image.frombytes(
        "L", (modules, modules), bytes(0 if cell else 255 for row in matrix for cell in row)
    )
    code = small.resize((qr_px, qr_px), Image.Resampling.NEAREST)

    card = Image.new("L", (width, height), 255)
    text_px = _px(4.2, dpi)
    gap = _px(1.0, dpi)
    top = max(0, (height - qr_px - gap - text_px) // 2)
    card.paste(code, ((width - qr_px) // 2, top))

    draw = ImageDraw.Draw(card)
    label = format_card_number(card_number)
    draw.text(
        (width / 2, top + qr_px + gap),
        label,
        fill=0,
        font=_png_font(text_px),
        anchor="mt",
    )
    out = io.BytesIO()
    card.save(out, format="PNG", dpi=(dpi, dpi))
    return out.getvalue()


# ---------------------------------------------------------------------------
# SVG
# ---------------------------------------------------------------------------


def render_svg(token: str, card_number: str, *, qr_mm: float = 36.0) -> str:
    """One card face as SVG in millimetres (viewBox 0 0 85.6 54): the QR and the card number.

    The code is one ``<path>`` of horizontal runs, drawn with
    ``shape-rendering="crispEdges"`` so browsers do not anti-alias module edges.
    """
    matrix = qr_matrix(token)
    modules = len(matrix)
    module = max(MIN_MODULE_MM, qr_mm / modules)
    size = module * modules
    text_mm = 4.2
    gap = 1.0
    x0 = (CARD_WIDTH_MM - size) / 2
    y0 = max(0.0, (CARD_HEIGHT_MM - size - gap - text_mm) / 2)
    path = "".join(f"M{c} {r}h{n}v1h-{n}z" for r, c, n in _dark_runs(matrix))
    label = escape(format_card_number(card_number))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CARD_WIDTH_MM}mm" height="{CARD_HEIGHT_MM}mm" '
        f'viewBox="0 0 {CARD_WIDTH_MM} {CARD_HEIGHT_MM}">'
        f"<title>{label}</title>"
        f'<rect width="{CARD_WIDTH_MM}" height="{CARD_HEIGHT_MM}" fill="#fff"/>'
        f'<g transform="translate({x0:.3f} {y0:.3f}) scale({module:.4f})">'
        f'<path d="{path}" fill="#000" shape-rendering="crispEdges"/></g>'
        f'<text x="{CARD_WIDTH_MM / 2}" y="{y0 + size + gap + text_mm * 0.8:.2f}" '
        f'font-family="DejaVu Sans Mono, Consolas, monospace" font-weight="bold" '
        f'font-size="{text_mm}" text-anchor="middle" fill="#000">{label}</text>'
        "</svg>\n"
    )


# ---------------------------------------------------------------------------
# PDF sheet
# ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _register_cjk_font() -> str:
    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def _fit_text(text: str, font: str, size: float, min_size: float, max_width: float) -> tuple[str, float]:
    """Shrink to fit ``max_width``, down to ``min_size``; then cut and end with an ellipsis."""
    width = pdfmetrics.stringWidth(text, font, size)
    if width <= max_width:
        return text, size
    size = max(min_size, size * max_width / width)
    if pdfmetrics.stringWidth(text, font, size) <= max_width:
        return text, size
    while text and pdfmetrics.stringWidth(text + "…", font, size) > max_width:
        text = text[:-1]
    return text + "…", size


def _qr_operators(matrix: Sequence[Sequence[bool]], x: float, y_top: float, module: float) -> str:
    # One transformation puts module (col, row) at (x + col*m, y_top - row*m);
    # rectangles are then small integers, which keeps the stream short.
    ops = [f"q 0 g {module:.4f} 0 0 {-module:.4f} {x:.3f} {y_top:.3f} cm"]
    ops.extend(f"{c} {r} {n} 1 re" for r, c, n in _dark_runs(matrix))
    ops.append("f Q")
    return "\n".join(ops)


def _draw_card(canvas: Canvas, face: CardFace, x: float, y: float) -> None:
    w, h = CARD_WIDTH_MM * mm, CARD_HEIGHT_MM * mm
    font = _register_cjk_font()

    # QR on the right, quiet zone included in its 38 mm; the number under it.
    qr_size = 38 * mm
    matrix = qr_matrix(face.token)
    module = qr_size / len(matrix)
    qr_x = x + w - qr_size - 1.5 * mm
    qr_top = y + h - 2 * mm
    canvas.addLiteral(_qr_operators(matrix, qr_x, qr_top, module))
    canvas.setFont(NUMBER_FONT, 12)
    number = format_card_number(face.card_number)
    canvas.drawCentredString(qr_x + qr_size / 2, qr_top - qr_size - 3.5 * mm, number)

    # Left column: what the card is, whose it is, where to call.
    left = x + 5 * mm
    text_width = qr_x - left - 1 * mm
    canvas.setFont(font, 9)
    canvas.drawString(left, y + h - 8 * mm, "长者助餐卡")
    canvas.setLineWidth(0.4)
    canvas.line(left, y + h - 9.8 * mm, left + text_width, y + h - 9.8 * mm)

    name, size = _fit_text(face.display_name, font, 18, 11, text_width)
    canvas.setFont(font, size)
    canvas.drawString(left, y + h - 19 * mm, name)
    community, size = _fit_text(face.community_name, font, 9, 6.5, text_width)
    canvas.setFont(font, size)
    canvas.drawString(left, y + h - 25.5 * mm, community)

    canvas.setFont(font, 8)
    canvas.drawString(left, y + 9 * mm, f"服务热线 {face.hotline}")
    canvas.setFont(font, 6.5)
    canvas.drawString(left, y + 5 * mm, "拾到请交还社区或拨打热线")


def _draw_crop_marks(canvas: Canvas, x0: float, y0: float) -> None:
    # Marks only in the margins, on the lines of every cut, 2 mm off the
    # cards so a slightly misaligned cut does not leave ink on a card.
    w, h = CARD_WIDTH_MM * mm, CARD_HEIGHT_MM * mm
    x1, y1 = x0 + SHEET_COLUMNS * w, y0 + SHEET_ROWS * h
    offset, length = 2 * mm, 5 * mm
    canvas.setLineWidth(0.25)
    for i in range(SHEET_COLUMNS + 1):
        x = x0 + i * w
        canvas.line(x, y0 - offset, x, y0 - offset - length)
        canvas.line(x, y1 + offset, x, y1 + offset + length)
    for j in range(SHEET_ROWS + 1):
        y = y0 + j * h
        canvas.line(x0 - offset, y, x0 - offset - length, y)
        canvas.line(x1 + offset, y, x1 + offset + length, y)


def render_sheet_pdf(
    cards: Sequence[CardFace],
    *,
    title: str = "长者助餐卡",
    on_page: Callable[[int, int], None] | None = None,
) -> bytes:
    """An A4 PDF of card faces, 10 per page (2 x 5, 85.6 x 54 mm), with crop marks.

    Cards fill each page left to right, top to bottom, in the order given (sort
    by community before calling so a community's cards come out together).
    Chinese text uses reportlab's built-in ``STSong-Light``, which viewers and
    printers substitute from their own CJK fonts: nothing is embedded. Raises
    ``invalid_card_number`` if a face carries a malformed card number. ``on_page(done, pages)``
    is called after each page (a job's progress).
    """
    page_w, page_h = A4
    w, h = CARD_WIDTH_MM * mm, CARD_HEIGHT_MM * mm
    x0 = (page_w - SHEET_COLUMNS * w) / 2
    y0 = (page_h - SHEET_ROWS * h) / 2
    font = _register_cjk_font()
    pages = max(1, math.ceil(len(cards) / CARDS_PER_PAGE))

    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator("Canteen")
    for page in range(pages):
        chunk = cards[page * CARDS_PER_PAGE : (page + 1) * CARDS_PER_PAGE]
        for i, face in enumerate(chunk):
            col, row = i % SHEET_COLUMNS, i // SHEET_COLUMNS
            _draw_card(canvas, face, x0 + col * w, y0 + (SHEET_ROWS - 1 - row) * h)
        _draw_crop_marks(canvas, x0, y0)
        canvas.setFont(font, 6.5)
        canvas.drawCentredString(page_w / 2 - w / 2, 4 * mm, f"{title}  第 {page + 1}/{pages} 页")
        canvas.showPage()
        if on_page is not None:
            on_page(page + 1, pages)
    canvas.save()
    return out.getvalue()
