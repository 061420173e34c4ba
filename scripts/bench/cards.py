"""How long card printing takes: a 1,000-card A4 PDF, and PNG faces one by one.

Run: ``.venv/bin/python scripts/bench/cards.py [--cards 1000] [--pngs 100] [--out sheet.pdf]``.
Prints figures only; no thresholds (machines differ, read the trend).
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from canteen.registry.card_render import CardFace, qr_matrix, render_png, render_sheet_pdf
from canteen.registry.cards import CardKeys, issue_token, new_card_number, verify_token

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗"
GIVEN = ["桂兰", "秀英", "玉珍", "建国", "淑芬", "德明", "凤英", "志强", "秀珍", "国华"]
COMMUNITIES = ["西湖区北山街道曙光新村社区", "拱墅区米市巷街道", "上城区湖滨街道东坡路社区", "滨江区长河街道"]


def make_faces(n: int, keys: CardKeys) -> list[CardFace]:
    """Realistic faces: elder ids in the tens of thousands, a few reissued cards."""
    rng = random.Random(2024)
    return [
        CardFace(
            display_name=rng.choice(SURNAMES) + rng.choice(GIVEN),
            community_name=rng.choice(COMMUNITIES),
            card_number=new_card_number(rng),
            token=issue_token(keys, 10_000 + i * 7, 1 + (i % 20 == 0)),
            hotline="0571-12345",
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cards", type=int, default=1000)
    parser.add_argument("--pngs", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None, help="also write the PDF here")
    args = parser.parse_args()

    keys = CardKeys.demo()
    t0 = time.perf_counter()
    faces = make_faces(args.cards, keys)
    t_tokens = time.perf_counter() - t0
    print(f"tokens:     {args.cards} issued in {t_tokens:.3f} s ({t_tokens / args.cards * 1e6:.0f} µs each)")

    t0 = time.perf_counter()
    for face in faces:
        verify_token(keys.public, face.token)
    t_verify = time.perf_counter() - t0
    print(f"verify:     {args.cards} in {t_verify:.3f} s ({t_verify / args.cards * 1e6:.0f} µs each)")

    sample = faces[: min(200, len(faces))]
    t0 = time.perf_counter()
    for face in sample:
        qr_matrix(face.token)
    t_qr = (time.perf_counter() - t0) / len(sample)
    print(f"QR encode:  {t_qr * 1e3:.2f} ms per code (error correction Q, best mask)")

    t0 = time.perf_counter()
    pdf = render_sheet_pdf(faces)
    t_pdf = time.perf_counter() - t0
    pages = -(-len(faces) // 10)
    print(
        f"PDF sheet:  {len(faces)} cards, {pages} pages, {len(pdf) / 1e6:.2f} MB in {t_pdf:.2f} s "
        f"({t_pdf / len(faces) * 1e3:.2f} ms per card)"
    )
    if args.out:
        args.out.write_bytes(pdf)
        print(f"            written to {args.out}")

    pngs = faces[: args.pngs]
    t0 = time.perf_counter()
    total = 0
    for face in pngs:
        total += len(render_png(face.token, face.card_number))
    t_png = time.perf_counter() - t0
    print(
        f"PNG faces:  {len(pngs)} at 300 dpi in {t_png:.2f} s "
        f"({t_png / len(pngs) * 1e3:.1f} ms each, {total / len(pngs) / 1e3:.0f} kB each)"
    )


if __name__ == "__main__":
    main()
