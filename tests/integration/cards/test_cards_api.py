"""Cards over HTTP: issue, faces that scan back, sheets, verify, revoke, scope."""

from __future__ import annotations

import io
from typing import Any

import pypdfium2
import zxingcpp
from PIL import Image

from canteen.core.tables import AuditEntry
from canteen.registry.cards import parse_card_number
from canteen.registry.tables import Card
from tests.integration.cards.elders import add_elder


def _decode(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image)]


def _issue(client: Any, headers: dict[str, str], elder_id: int, reason: str = "first") -> dict[str, Any]:
    r = client.post(f"/api/v1/elders/{elder_id}/cards", json={"reason": reason}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def _sheet(client: Any, finish_job: Any, headers: dict[str, str], body: dict[str, Any]) -> bytes:
    """Queue a card sheet (202), follow the run to its end, download the PDF."""
    r = client.post("/api/v1/cards/sheet.pdf", json=body, headers=headers)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/api/v1/jobs/{r.json()['id']}"
    done = finish_job(r, headers)
    assert done["status"] == "done", done
    assert done["download_url"] == f"/api/v1/jobs/{done['id']}/download"
    pdf = client.get(done["download_url"], headers=headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    return pdf.content


def test_png_scans_back_to_a_token_that_verifies(client, run, world, login) -> None:
    elder = run(lambda: add_elder(district=world.district_x, community=world.community_x))
    h = login("official_x")
    issued = _issue(client, h, elder)
    assert issued["serial"] == 1 and len(issued["number"]) == 10

    r = client.get(f"/api/v1/elders/{elder}/card.png", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    texts = _decode(Image.open(io.BytesIO(r.content)))
    assert texts == [issued["token"]]

    v = client.post("/api/v1/cards/verify", json={"card": texts[0]}, headers=login("cashier_c"))
    assert v.status_code == 200, v.text
    assert v.json()["elder_id"] == elder and v.json()["card_id"] == issued["card_id"]
    assert v.json()["number"] == issued["number"]

    svg = client.get(f"/api/v1/elders/{elder}/card.svg", headers=h)
    assert svg.status_code == 200 and svg.text.startswith("<?xml") and issued["number"] in svg.text


def test_pdf_sheet_for_a_community_issues_missing_cards_and_scans(
    client, run, world, login, finish_job
) -> None:
    names = ["王秀英", "李建华", "张桂兰"]
    elders = [
        run(lambda n=n: add_elder(district=world.district_x, community=world.community_x, name=n))
        for n in names
    ]
    h = login("official_x")
    first = _issue(client, h, elders[0])

    pdf = pypdfium2.PdfDocument(_sheet(client, finish_job, h, {"community_id": world.community_x}))
    assert len(pdf) == 1
    bitmap = pdf[0].render(scale=300 / 72).to_pil()
    tokens = set(_decode(bitmap))
    assert len(tokens) == 3
    assert first["token"] in tokens  # a held card is reprinted, not replaced
    for token in tokens:
        v = client.post("/api/v1/cards/verify", json={"card": token}, headers=h)
        assert v.status_code == 200, v.text
    assert sorted(v.json()["elder_id"] for v in [
        client.post("/api/v1/cards/verify", json={"card": t}, headers=h) for t in tokens
    ]) == sorted(elders)  # fmt: skip

    batch = run(
        lambda: (
            AuditEntry.select(AuditEntry.after)
            .where(AuditEntry.action == "card.issue_batch")
            .output(load_json=True)
        )
    )
    assert len(batch) == 1 and batch[0]["after"]["count"] == 2
    live = run(lambda: Card.count().where(Card.revoked_at.is_null()))
    assert live == 3


def test_sheet_by_elder_ids_and_empty_sheet(client, run, world, login, finish_job) -> None:
    elder = run(lambda: add_elder(district=world.district_x, community=world.community_x))
    h = login("admin")
    pdf = pypdfium2.PdfDocument(_sheet(client, finish_job, h, {"elder_ids": [elder]}))
    assert len(pdf) == 1
    r = client.post("/api/v1/cards/sheet.pdf", json={}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "card_sheet_empty"


def test_reissue_revokes_old_token_and_tamper_is_invalid(client, run, world, login) -> None:
    elder = run(lambda: add_elder(district=world.district_x, community=world.community_x))
    h = login("official_x")
    old = _issue(client, h, elder)
    new = _issue(client, h, elder, reason="lost")
    assert new["serial"] == 2 and new["revoked_card_id"] == old["card_id"]

    r = client.post("/api/v1/cards/verify", json={"card": old["token"]}, headers=h)
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "card_revoked" and body["detail"]["reason"] == "lost"
    assert body["detail"]["card_id"] == old["card_id"]

    # The old printed number is revoked too.
    r = client.post("/api/v1/cards/verify", json={"card": old["number"]}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "card_revoked"

    token = new["token"]
    i = len(token) // 2
    tampered = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    r = client.post("/api/v1/cards/verify", json={"card": tampered}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == "invalid_card"

    r = client.post("/api/v1/cards/verify", json={"card": token}, headers=h)
    assert r.status_code == 200 and r.json()["card_id"] == new["card_id"]


def test_typed_card_number_resolves(client, run, world, login) -> None:
    elder = run(lambda: add_elder(district=world.district_x, community=world.community_x))
    h = login("official_x")
    issued = _issue(client, h, elder)
    typed = issued["number"].replace("-", " ").lower()
    r = client.post("/api/v1/cards/verify", json={"card": typed}, headers=login("cashier_a"))
    assert r.status_code == 200, r.text
    assert r.json()["elder_id"] == elder

    canonical = parse_card_number(issued["number"])
    wrong = canonical[:-1] + ("2" if canonical[-1] != "2" else "3")
    r = client.post("/api/v1/cards/verify", json={"card": wrong}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == "invalid_card_number"


def test_revoke_endpoint_and_idempotent_issue(client, run, world, login) -> None:
    elder = run(lambda: add_elder(district=world.district_x, community=world.community_x))
    h = login("official_x")
    key = {"Idempotency-Key": "issue-card-0001"}
    a = client.post(f"/api/v1/elders/{elder}/cards", json={"reason": "first"}, headers=h | key)
    b = client.post(f"/api/v1/elders/{elder}/cards", json={"reason": "first"}, headers=h | key)
    assert a.status_code == 201 and b.status_code == 201 and a.json() == b.json()
    assert run(lambda: Card.count().where(Card.elder == elder)) == 1

    r = client.post(f"/api/v1/cards/{a.json()['card_id']}/revoke", json={"reason": "moved away"}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["revoked_at"] is not None
    r = client.get(f"/api/v1/elders/{elder}/card.png", headers=h)
    assert r.status_code == 404 and r.json()["code"] == "card_none"
    actions = run(lambda: AuditEntry.select(AuditEntry.action).where(AuditEntry.target_type == "card"))
    assert {x["action"] for x in actions} == {"card.issue", "card.revoke"}


def test_scope_other_district_official_and_cashier(client, run, world, login) -> None:
    elder = run(lambda: add_elder(district=world.district_x, community=world.community_x))
    own = _issue(client, login("official_x"), elder)
    hy = login("official_y")
    r = client.post(f"/api/v1/elders/{elder}/cards", json={"reason": "lost"}, headers=hy)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert client.get(f"/api/v1/elders/{elder}/card.png", headers=hy).status_code == 404
    r = client.post(f"/api/v1/cards/{own['card_id']}/revoke", json={"reason": "x"}, headers=hy)
    assert r.status_code == 404
    r = client.post("/api/v1/cards/sheet.pdf", json={"community_id": world.community_x}, headers=hy)
    assert r.status_code == 404
    r = client.post(f"/api/v1/elders/{elder}/cards", json={"reason": "lost"}, headers=login("cashier_a"))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    # The card still works everywhere, and the other district's official changed nothing.
    assert client.post("/api/v1/cards/verify", json={"card": own["token"]}, headers=hy).status_code == 200


def test_public_key_needs_login(client, world, login) -> None:
    assert client.get("/api/v1/cards/public-key").status_code == 401
    r = client.get("/api/v1/cards/public-key", headers=login("cashier_a"))
    assert r.status_code == 200 and r.json()["pem"].startswith("-----BEGIN PUBLIC KEY-----")
