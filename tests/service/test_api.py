"""The routes: payments in JSON and ISO 20022, bad input, operator actions, admissions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from lxml import etree

from samarkand.bench.iso import bulk_pacs008
from samarkand.service.gate import BODY_BYTES_MAX
from tests.service.conftest import CENTRAL_BANK_CN, CREDITOR, DEBTOR, OTHER, wait_until

OPERATOR = "OPERATOR"
PACS002 = "{urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10}"


def _error(response) -> dict:
    body = response.json()
    assert set(body["error"]) >= {"code", "field", "message"}
    return body["error"]


def _balance(api, bic: str, currency: str) -> str:
    accounts = api.request("GET", "/v1/accounts", bic).json()["accounts"]
    return {a["currency"]: a["balance"] for a in accounts}[currency]


# ---------------------------------------------------------------------- payments


def test_json_payment_settles_and_moves_the_money(api):
    before = _balance(api, CREDITOR, "CNY")
    payment, response = api.pay(amount="250.50")
    assert response.json() == {"uetr": payment["uetr"], "status": "ACSC", "reason": None}
    assert _balance(api, CREDITOR, "CNY") != before
    track = api.request("GET", f"/v1/payments/{payment['uetr']}", CREDITOR).json()
    assert track["status"] == "settled" and track["amount"] == "250.50"
    assert [e["status"] for e in track["events"]] == ["received", "settled"]


def test_business_refusals_are_answered_rjct_with_the_iso_code(api):
    payment, first = api.pay()
    assert first.json()["status"] == "ACSC"
    _, again = api.pay(uetr=payment["uetr"])
    assert again.status_code == 200
    assert again.json()["status"] == "RJCT" and again.json()["reason"]["code"] == "DUPL"
    _, unknown = api.pay(creditor_agent="SMZZRU22")
    assert unknown.json()["reason"]["code"] == "CNOR"
    _, too_much = api.pay(amount="99999999999999.00")  # more than funded: waits in the queue
    assert too_much.json()["status"] == "ACSP"


def test_pacs008_message_is_answered_with_its_pacs002(api):
    message = bulk_pacs008(6, debtor="SMAACN22XXX", creditors=("SMAARU22XXX", "SMAAIN22XXX"),
                           first_uetr=10_000, settlement_date=None)  # fmt: skip
    response = api.request("POST", "/v1/messages", DEBTOR, message,
                           content_type="application/xml")  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    report = etree.fromstring(response.content)
    statuses = [e.text for e in report.iter(PACS002 + "TxSts")]
    assert statuses == ["ACSC"] * 6
    mailbox = api.request("GET", "/v1/mailbox", DEBTOR).json()["messages"]
    assert [m["kind"] for m in mailbox][:1] == ["pacs.002"]
    assert "pacs.002" in mailbox[0]["body"]


def test_pacs008_of_another_debtor_agent_is_rejected_agnt(api):
    message = bulk_pacs008(3, debtor="SMAACN22XXX", creditors=("SMAARU22XXX",),
                           first_uetr=20_000, settlement_date=None)  # fmt: skip
    response = api.request("POST", "/v1/messages", OTHER, message,
                           content_type="application/xml")  # fmt: skip
    assert response.status_code == 200
    report = etree.fromstring(response.content)
    assert [e.text for e in report.iter(PACS002 + "TxSts")] == ["RJCT"] * 3
    assert {e.text for e in report.iter(PACS002 + "Cd")} == {"AGNT"}
    for uetr in etree.fromstring(message).iter("{*}UETR"):
        assert api.request("GET", f"/v1/payments/{uetr.text}", DEBTOR).status_code == 404


# ---------------------------------------------------------------------- bad input


def test_malformed_xml_is_400_naming_the_problem(api):
    response = api.request("POST", "/v1/messages", DEBTOR, b"<Document><unclosed>",
                           content_type="application/xml")  # fmt: skip
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_message"


def test_wrong_content_types_are_415(api):
    response = api.request("POST", "/v1/messages", DEBTOR, b"{}", content_type="application/json")
    assert response.status_code == 415
    payment = {"uetr": str(uuid.uuid4())}
    response = api.request("POST", "/v1/payments", DEBTOR, payment, content_type="text/plain")
    assert response.status_code == 415
    assert _error(response)["field"] == "content-type"


def test_malformed_json_is_400_and_invalid_fields_422(api):
    response = api.request("POST", "/v1/payments", DEBTOR, b'{"uetr": ')
    assert response.status_code == 400 and _error(response)["code"] == "malformed_json"
    _, response = api.pay(amount="-5")
    assert response.status_code == 422 and _error(response)["field"] == "amount"
    _, response = api.pay(currency="XYZ")
    assert response.status_code == 422 and _error(response)["field"] == "currency"
    _, response = api.pay(amount="1.001")  # CNY has two decimals
    assert response.status_code == 422 and _error(response)["field"] == "amount"
    _, response = api.pay(uetr="not-a-uuid")
    assert response.status_code == 422 and _error(response)["field"] == "uetr"
    _, response = api.pay(surprise=1)
    assert response.status_code == 422 and _error(response)["field"] == "surprise"


def test_out_of_range_ids_and_unknown_routes_are_4xx(api):
    assert api.request("GET", "/v1/payments/12", DEBTOR).status_code == 422
    assert api.request("GET", "/v1/mailbox?after=-1", DEBTOR).status_code == 422
    assert api.request("GET", f"/v1/mailbox?after={2**70}", DEBTOR).status_code == 422
    response = api.request("POST", "/v1/operator/admissions/99999999999/approve", CENTRAL_BANK_CN)
    assert response.status_code == 422
    missing = api.request("GET", "/v1/nowhere", DEBTOR)
    assert missing.status_code == 404 and _error(missing)["code"] == "not_found"
    assert api.client.get("/nowhere").status_code == 404
    wrong_method = api.request("DELETE", "/v1/accounts", DEBTOR)
    assert wrong_method.status_code == 405 and _error(wrong_method)["code"] == "method_not_allowed"


def test_oversized_body_is_413_and_changes_nothing(api):
    big = b"<" + b"x" * BODY_BYTES_MAX + b"/>"
    response = api.request("POST", "/v1/messages", DEBTOR, big, content_type="application/xml")
    assert response.status_code == 413 and _error(response)["code"] == "body_too_large"
    commands = api.request("GET", "/v1/mailbox", DEBTOR).json()["last"]
    assert commands == 0


def test_ack_beyond_the_last_message_is_refused(api):
    api.pay()
    assert api.request("POST", "/v1/mailbox/ack", DEBTOR, {"upto": 5}).status_code == 409
    assert api.request("POST", "/v1/mailbox/ack", DEBTOR, {"upto": 1}).json() == {"acked": 1}
    assert api.request("GET", "/v1/mailbox", DEBTOR).json()["messages"] == []


# ---------------------------------------------------------------------- operator


def test_suspended_participant_cannot_pay_until_reinstated(api):
    path = f"/v1/operator/participants/{DEBTOR}"
    assert api.request("POST", path + "/suspend", OPERATOR).status_code == 200
    _, response = api.pay()
    assert response.json()["reason"]["code"] == "AG01"
    assert api.request("POST", path + "/unsuspend", OPERATOR).status_code == 200
    _, response = api.pay()
    assert response.json()["status"] == "ACSC"
    unknown = api.request("POST", "/v1/operator/participants/SMZZCN22/suspend", OPERATOR)
    assert unknown.status_code == 404


def test_a_central_bank_is_suspended_only_with_every_other_members_approval(api, service):
    path = f"/v1/operator/participants/{CENTRAL_BANK_CN}"
    directory = service.engine.durable.hub.directory
    proposed = api.request("POST", path + "/suspend", OPERATOR)
    assert proposed.status_code == 202
    change = proposed.json()["change"]
    others = sorted(p.bic for p in directory.central_bank_of.values() if p.bic != CENTRAL_BANK_CN)
    assert len(others) == 9 and change["needs"] == others and change["to"] == "suspended"
    assert directory.get(CENTRAL_BANK_CN).status.value == "active"  # not on the operator's word
    again = api.request("POST", path + "/unsuspend", OPERATOR)
    assert again.status_code == 409 and _error(again)["field"] == "bic"
    approve = f"/v1/operator/status-changes/{change['id']}/approve"
    assert api.request("POST", approve, OPERATOR).status_code == 403
    assert api.request("POST", approve, DEBTOR).status_code == 403
    assert api.request("POST", approve, CENTRAL_BANK_CN).status_code == 403  # not its own
    for bank in others[:-1]:
        assert api.request("POST", approve, bank).json()["status"] == "pending"
    assert api.request("POST", approve, others[0]).status_code == 409  # twice
    assert directory.get(CENTRAL_BANK_CN).status.value == "active"
    assert api.request("POST", approve, others[-1]).json()["status"] == "applied"
    assert directory.get(CENTRAL_BANK_CN).status.value == "suspended"
    assert api.request("POST", approve, others[-1]).status_code == 409  # applied already
    listed = api.request("GET", "/v1/operator/status-changes", others[0]).json()
    assert [(c["bic"], c["to"], c["status"]) for c in listed["status_changes"]] == [
        (CENTRAL_BANK_CN, "suspended", "applied")
    ]
    # Reinstated the same way.
    back = api.request("POST", path + "/unsuspend", OPERATOR).json()["change"]
    assert back["to"] == "active" and back["needs"] == others
    for bank in others:
        api.request("POST", f"/v1/operator/status-changes/{back['id']}/approve", bank)
    assert directory.get(CENTRAL_BANK_CN).status.value == "active"
    missing = api.request("POST", "/v1/operator/status-changes/99/approve", others[0])
    assert missing.status_code == 404 and _error(missing)["field"] == "proposal"


def test_queued_payment_is_listed_and_cancelled(api):
    payment, response = api.pay(amount="99999999999999.00")
    assert response.json()["status"] == "ACSP"
    queue = api.request("GET", "/v1/operator/queue", OPERATOR).json()["queued"]
    assert [q["uetr"] for q in queue] == [payment["uetr"]]
    cancelled = api.request("POST", f"/v1/operator/payments/{payment['uetr']}/cancel", OPERATOR)
    assert cancelled.status_code == 200
    again = api.request("POST", f"/v1/payments/{payment['uetr']}/cancel", DEBTOR)
    assert again.status_code == 409 and _error(again)["code"] == "ARDT"
    assert api.request("GET", "/v1/operator/queue", OPERATOR).json()["queued"] == []


def test_participant_cancels_its_own_queued_payment(api):
    payment, _ = api.pay(amount="99999999999999.00")
    assert api.request("POST", f"/v1/payments/{payment['uetr']}/cancel", DEBTOR).status_code == 200
    track = api.request("GET", f"/v1/payments/{payment['uetr']}", DEBTOR).json()
    assert track["status"] == "cancelled"


def test_new_country_needs_every_central_bank(api, service):
    proposal = api.request(
        "POST", "/v1/operator/admissions", OPERATOR,
        {"bic": "CBMNMNUB", "name": "Bank of Mongolia", "country": "MN",
         "kind": "central_bank", "currency": "MNT"},
    ).json()  # fmt: skip
    central_banks = proposal["needs"]
    assert len(central_banks) == 10 and proposal["status"] == "pending"
    approve = f"/v1/operator/admissions/{proposal['id']}/approve"
    assert api.request("POST", approve, OPERATOR).status_code == 403
    assert api.request("POST", approve, DEBTOR).status_code == 403
    for bank in central_banks[:-1]:
        assert api.request("POST", approve, bank).json()["status"] == "pending"
    assert api.request("POST", approve, central_banks[0]).status_code == 409  # twice
    directory = service.engine.durable.hub.directory
    assert directory.get("CBMNMNUB") is None
    done = api.request("POST", approve, central_banks[-1]).json()
    assert done["status"] == "admitted"
    assert directory.get("CBMNMNUB") is not None and "MNT" in directory.central_bank_of
    # Every direct bank now holds an MNT settlement account.
    accounts = api.request("GET", "/v1/accounts", DEBTOR).json()["accounts"]
    assert "MNT" in {a["currency"] for a in accounts}


def test_bank_of_a_member_needs_its_own_central_bank(api):
    proposal = api.request(
        "POST", "/v1/operator/admissions", OPERATOR,
        {"bic": "SMZZCN22", "name": "New bank", "country": "CN", "kind": "direct",
         "currency": "CNY"},
    ).json()  # fmt: skip
    assert proposal["needs"] == [CENTRAL_BANK_CN]
    approve = f"/v1/operator/admissions/{proposal['id']}/approve"
    assert api.request("POST", approve, "CBRFRUMM").status_code == 403
    assert api.request("POST", approve, CENTRAL_BANK_CN).json()["status"] == "admitted"
    _, response = api.pay(creditor_agent="SMZZCN22")
    assert response.json()["status"] in ("ACSC", "ACSP")


def test_admissions_survive_a_restart(tmp_path):
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from samarkand.service.server import open_service
    from samarkand.settlement.participants import ParticipantKind, ParticipantStatus

    public = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    db = str(tmp_path / "hub.db")
    service = open_service(db)
    result = service.engine.call(
        lambda e, now: e.durable.propose_admission(
            bic="SMZZCN22", name="New", country="CN", kind=ParticipantKind.DIRECT,
            currency="CNY", now=now, public_key=base64.b64encode(public).decode(),
        )
    ).result(10)  # fmt: skip
    service.engine.call(
        lambda e, now: e.durable.approve("admission", result["id"], CENTRAL_BANK_CN, now)
    ).result(10)
    service.engine.call(
        lambda e, now: e.durable.set_participant_status(OTHER, ParticipantStatus.SUSPENDED, now)
    ).result(10)
    change = service.engine.call(
        lambda e, now: e.durable.set_participant_status(
            CENTRAL_BANK_CN, ParticipantStatus.SUSPENDED, now
        )
    ).result(10)
    first = change["needs"][0]
    approval = service.engine.call(
        lambda e, now: e.durable.approve("status change", change["id"], first, now)
    )
    assert approval.result(10)["status"] == "pending"
    service.close()
    reopened = open_service(db)
    try:
        directory = reopened.engine.durable.hub.directory
        assert directory.get("SMZZCN22") is not None
        assert directory.get(OTHER).status.value == "suspended"
        assert reopened.engine.durable.proposals("admission")[0]["status"] == "admitted"
        (pending,) = reopened.engine.durable.proposals(
            "status change"
        )  # one approval of nine, kept
        assert pending["approved"] == [first] and pending["status"] == "pending"
        assert directory.get(CENTRAL_BANK_CN).status.value == "active"
        key = reopened.verifier.keys["SMZZCN22"]  # its key is accepted again after the restart
        assert key.public_key.public_bytes_raw() == public
    finally:
        reopened.close()


def test_end_of_day_and_open_day(api, service, tmp_path):
    import datetime as dt

    from samarkand.hub import snapshot
    from samarkand.hub.durable import SNAPSHOT_SUFFIX

    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    payment, _ = api.pay(amount="99999999999999.00")
    early = api.request("POST", "/v1/operator/open-day", OPERATOR, {"cut_off": tomorrow})
    assert early.status_code == 409
    assert api.request("POST", "/v1/operator/end-of-day", OPERATOR).json() == {"rejected": 1}
    track = api.request("GET", f"/v1/payments/{payment['uetr']}", DEBTOR).json()
    assert track["status"] == "rejected"
    far = api.request(
        "POST", "/v1/operator/open-day", OPERATOR, {"cut_off": "9999-01-01T18:00:00Z"}
    )
    assert far.status_code == 409 and "7 days ahead" in far.json()["error"]["message"]
    assert far.json()["error"]["field"] == "cut_off"
    unknown = {"cut_off": tomorrow, "resting": ["EUR"]}
    refused = api.request("POST", "/v1/operator/open-day", OPERATOR, unknown)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "resting"
    body = {"cut_off": tomorrow, "resting": ["RUB", "RUB"]}  # a holiday RUB's bank declared
    opened = api.request("POST", "/v1/operator/open-day", OPERATOR, body)
    assert opened.status_code == 200 and opened.json()["resting"] == ["RUB"]
    length = service.engine.durable._log.length
    path = tmp_path / f"hub.db{SNAPSHOT_SUFFIX}"

    def covers() -> int | None:  # the snapshot of the day, written in the background
        header = snapshot.header_of(path.read_bytes()) if path.exists() else None
        return None if header is None else header.log_length

    wait_until(lambda: (covers() or 0) >= length, "open-day's snapshot was never written")
    rub = api.pay(currency="RUB", amount="1.00")[1].json()
    assert rub["status"] == "RJCT" and rub["reason"]["code"] == "DT01"
    assert api.pay()[1].json()["status"] == "ACSC"
    past = api.request(
        "POST", "/v1/operator/open-day", OPERATOR, {"cut_off": "2001-01-01T18:00:00Z"}
    )
    assert past.status_code == 409


def test_liquidity_in_and_out_of_the_settlement_account(api):
    before = _balance(api, DEBTOR, "RUB")
    moved = api.request("POST", "/v1/liquidity", DEBTOR, {"currency": "RUB", "amount": "500.00"})
    assert moved.status_code == 200
    after = _balance(api, DEBTOR, "RUB")
    assert Decimal(after) - Decimal(before) == Decimal("500.00")
    drained = api.request(
        "POST", "/v1/liquidity", DEBTOR,
        {"currency": "RUB", "amount": "99999999999999.00", "direction": "out"},
    )  # fmt: skip
    assert drained.status_code == 409 and _error(drained)["code"] == "AM04"
    assert _balance(api, DEBTOR, "RUB") == after  # a refusal changes nothing
    operator = api.request("POST", "/v1/liquidity", OPERATOR, {"currency": "RUB", "amount": "1"})
    assert operator.status_code == 403


def test_statement_of_the_callers_own_account(api):
    payment, _ = api.pay(amount="75.25")
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    response = api.request("GET", f"/v1/statements/CNY?date={today}", CREDITOR)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    document = etree.fromstring(response.content)
    camt = "{urn:iso:std:iso:20022:tech:xsd:camt.053.001.08}"
    references = [e.text for e in document.iter(camt + "UETR")]
    assert payment["uetr"] in references
    # Another participant's statement holds none of this one's payments.
    other = etree.fromstring(api.request("GET", f"/v1/statements/CNY?date={today}", OTHER).content)
    assert payment["uetr"] not in [e.text for e in other.iter(camt + "UETR")]
    assert api.request("GET", "/v1/statements/XXX?date=2026-01-05", DEBTOR).status_code == 404
    assert api.request("GET", "/v1/statements/CNY?date=yesterday", DEBTOR).status_code == 422
    assert api.request("GET", "/v1/statements/CNY?date=0001-01-01", DEBTOR).status_code == 422
    assert api.request("GET", "/v1/statements/CNY?date=2026-01-05", OPERATOR).status_code == 403


def test_a_refused_statement_names_its_field_with_the_status_that_fits(api):
    """The status comes from the refusal (`errors.STATEMENT_STATUS`), the field from what it
    is about: a currency the caller holds no account in is 404 `currency`, a date out of
    range 422 `date`, an account holding more than camt.053's 18 digits 409 `account`."""
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    for path, status, field in (
        ("/v1/statements/XXX?date=2026-01-05", 404, "currency"),
        ("/v1/statements/CNY?date=0001-01-01", 422, "date"),
        ("/v1/statements/CNY?date=2262-04-11", 422, "date"),
    ):
        refused = api.request("GET", path, DEBTOR)
        assert (refused.status_code, _error(refused)["field"]) == (status, field), path
    huge = "10000000000000000.00"  # 10**18 minor units of CNY: 19 digits
    moved = api.request("POST", "/v1/liquidity", OTHER, {"currency": "CNY", "amount": huge})
    assert moved.status_code == 200
    refused = api.request("GET", f"/v1/statements/CNY?date={today}", OTHER)
    assert refused.status_code == 409, refused.text
    assert _error(refused)["field"] == "account" and "18 digits" in _error(refused)["message"]
    assert api.request("GET", f"/v1/statements/CNY?date={today}", DEBTOR).status_code == 200


def test_a_statement_is_written_out_off_the_hubs_thread(api, monkeypatch):
    """The hub's thread only takes the statement's rows (column work); the camt.053 of
    thousands of postings is written on another thread, while payments go on."""
    import threading

    from samarkand.hub import statements

    written_on: list[str] = []
    render = statements.render_statement

    def recorded(rows):
        written_on.append(threading.current_thread().name)
        return render(rows)

    monkeypatch.setattr(statements, "render_statement", recorded)
    api.pay(amount="12.00")
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    response = api.request("GET", f"/v1/statements/CNY?date={today}", CREDITOR)
    assert response.status_code == 200
    assert len(written_on) == 1 and written_on[0] != "samarkand-hub", written_on


def test_an_admitted_bank_signs_with_the_key_of_its_admission(api, service):
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    bad = api.request(
        "POST", "/v1/operator/admissions", OPERATOR,
        {"bic": "SMZYCN22", "name": "Z", "country": "CN", "kind": "direct", "currency": "CNY",
         "public_key": "bm90IGEga2V5"},
    )  # fmt: skip
    assert bad.status_code == 422 and _error(bad)["field"] == "public_key"
    proposal = api.request(
        "POST", "/v1/operator/admissions", OPERATOR,
        {"bic": "SMZYCN22", "name": "Z", "country": "CN", "kind": "direct", "currency": "CNY",
         "public_key": public},
    ).json()  # fmt: skip
    api.keys["SMZYCN22"] = key
    assert api.request("GET", "/v1/accounts", "SMZYCN22").status_code == 401  # not yet
    api.request("POST", f"/v1/operator/admissions/{proposal['id']}/approve", CENTRAL_BANK_CN)
    accounts = api.request("GET", "/v1/accounts", "SMZYCN22")
    assert accounts.status_code == 200
    assert {a["currency"] for a in accounts.json()["accounts"]} >= {"CNY", "RUB"}


def test_dns_payment_settles_when_the_operator_closes_the_window(api):
    payment, answer = api.pay(method="dns")
    assert answer.json()["status"] == "ACSP"
    closed = api.request("POST", "/v1/operator/windows/CNY/close", OPERATOR)
    assert closed.json() == {"settled": 1, "defaulted_accounts": []}
    track = api.request("GET", f"/v1/payments/{payment['uetr']}", DEBTOR).json()
    assert track["status"] == "settled"
    unknown = api.request("POST", "/v1/operator/windows/USD/close", OPERATOR)
    assert unknown.status_code == 422 and _error(unknown)["code"] == "AM03"
    assert api.request("POST", "/v1/operator/windows/CNY/close", DEBTOR).status_code == 403


def test_a_broken_store_answers_503_not_500(api, service):
    from samarkand.store import StoreError

    def broken(payments, now):
        raise StoreError("disk full at /secret/path")

    service.engine.durable.submit = broken  # the next durable command fails
    _, response = api.pay()
    assert response.status_code == 503
    assert "/secret/path" not in response.text  # the store's details stay in the hub
    assert _error(response)["code"] == "unavailable"


@pytest.mark.parametrize(
    ("bic", "country", "field", "words"),
    [("SMZYCN22XXX", "CN", "bic", "pattern"), ("SMZYCN22ABC", "CN", "bic", "pattern"),
     ("SMZYRU22", "CN", "country", "SMZYRU22 is a BIC of RU, not of CN"),
     # Taken, then admitted with the NUL in its name, shown and carried on.
     ("SMZYCN22", "CN", "name", "pattern"),
     # A currency the hub cannot carry was 409 naming the BIC.
     ("SMZYJP22", "JP", "currency", "JPY is not one the hub can carry")],
)  # fmt: skip
def test_an_admission_names_an_institution_of_its_country(api, bic, country, field, words):
    # An 11-character BIC was proposed and admitted, and then matched no message: every
    # message names the participant by its 8 characters.
    before = api.request("GET", "/v1/operator/admissions", OPERATOR).json()
    currency = "JPY" if country == "JP" else "CNY"
    name = "Z\u0000" if field == "name" else "Z"
    refused = api.request(
        "POST", "/v1/operator/admissions", OPERATOR,
        {"bic": bic, "name": name, "country": country, "kind": "direct", "currency": currency},
    )  # fmt: skip
    assert refused.status_code == 422
    assert _error(refused)["field"] == field and words in _error(refused)["message"]
    assert api.request("GET", "/v1/operator/admissions", OPERATOR).json() == before


@pytest.mark.parametrize(
    ("bic", "country", "words"),
    [("OPERATOR", "AT", "the key id of a caller that is no participant"),
     ("SMRKUZ2T", "UZ", "the hub's own BIC")],
)  # fmt: skip
def test_an_admission_cannot_take_the_operators_key_id_or_the_hubs_bic(api, bic, country, words):
    # OPERATOR (a valid BIC) was admitted as a EUR central bank: a member whose approval the
    # operator's key can never give, so every later all-member proposal stayed pending.
    before = api.request("GET", "/v1/operator/admissions", OPERATOR).json()
    refused = api.request(
        "POST", "/v1/operator/admissions", OPERATOR,
        {"bic": bic, "name": "Z", "country": country, "kind": "central_bank", "currency": "EUR"},
    )  # fmt: skip
    assert refused.status_code == 409, refused.text
    assert _error(refused)["field"] == "bic" and words in _error(refused)["message"]
    assert api.request("GET", "/v1/operator/admissions", OPERATOR).json() == before


def test_a_gridlock_is_resolved_by_offsetting_while_the_service_runs(api, service):
    """Three banks with nothing in CNY pay round a ring: each payment waits for the one
    before it. The hub's thread runs the liquidity-saving mechanisms on the changed queues,
    so all three settle during the day, with no request and no end of day."""
    ring = [DEBTOR, OTHER, CREDITOR]
    for bank in ring:
        drained = {"currency": "CNY", "amount": _balance(api, bank, "CNY"), "direction": "out"}
        assert api.request("POST", "/v1/liquidity", bank, drained).status_code == 200
    paths = []
    for debtor, creditor in zip(ring, ring[1:] + ring[:1], strict=True):
        payment, answer = api.pay(debtor, amount="100.00", debtor_agent=debtor,
                                  creditor_agent=creditor)  # fmt: skip
        assert answer.json()["status"] == "ACSP"  # nothing to pay it with
        paths.append((debtor, f"/v1/payments/{payment['uetr']}"))
    wait_until(
        lambda: (
            {api.request("GET", path, key).json()["status"] for key, path in paths} == {"settled"}
        ),
        "the gridlock was never resolved",
    )
    assert service.engine.stats.offsetting_runs >= 1
    assert {_balance(api, bank, "CNY") for bank in ring} == {"0.00"}


def test_the_non_fifo_search_joins_a_liquidity_saving_run_when_its_time_has_come(api, service):
    engine = service.engine
    settlement = engine.durable.hub.engine
    engine.non_fifo_every_ns = 0  # its time is every run's
    searched = settlement.stats.lsm_runs
    _, answer = api.pay(amount="99999999999999.00")  # beyond the debtor's liquidity: queued
    assert answer.json()["status"] == "ACSP"
    wait_until(lambda: engine.stats.non_fifo_runs >= 1, "no run with the non-FIFO search")
    assert settlement.stats.lsm_runs - searched == 2  # the FIFO search, then the non-FIFO
    status = api.request("GET", "/v1/operator/status", OPERATOR).json()["engine"]
    assert status["non_fifo_runs"] == 1 and status["offsetting_runs"] >= 1
