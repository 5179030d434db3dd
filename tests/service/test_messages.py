"""ISO 20022 messages over HTTP: every inbound type, idempotency, who may send what."""

from __future__ import annotations

import uuid
from decimal import Decimal

from lxml import etree

from samarkand.bench.iso import bulk_pacs008
from samarkand.hub.messages import return_uetr
from samarkand.service.server import open_service
from tests.iso20022.iso_builders import camt050, camt056, envelope, pacs004, pacs009
from tests.service.conftest import CREDITOR, DEBTOR, OTHER, signed_client

XML = "application/xml"


def _send(api, data: bytes, key: str = DEBTOR):
    return api.request("POST", "/v1/messages", key, data, content_type=XML)


def _texts(data: bytes, name: str) -> list[str]:
    root = etree.fromstring(data)
    return [e.text or "" for e in root.iter() if etree.QName(e).localname == name]


def _kind(data: bytes) -> str:
    """The message definition in the AppHdr of an answer (pacs.002.001.10, ...)."""
    return _texts(data, "MsgDefIdr")[0]


def _balance(api, bic: str, currency: str) -> str:
    accounts = api.request("GET", "/v1/accounts", bic).json()["accounts"]
    return {a["currency"]: a["balance"] for a in accounts}[currency]


def _mailbox(api, bic: str) -> list[dict]:
    return api.request("GET", "/v1/mailbox", bic).json()["messages"]


def _uetr() -> str:
    return str(uuid.uuid4())


def test_pacs009_settles_and_the_creditor_gets_its_camt054(api):
    uetr = _uetr()
    message = pacs009([(uetr, "1500.00", "CNY", DEBTOR + "XXX", CREDITOR + "XXX")])
    response = _send(api, message)
    assert response.status_code == 200
    assert _kind(response.content) == "pacs.002.001.10"
    assert _texts(response.content, "TxSts") == ["ACSC"]
    assert api.request("GET", f"/v1/payments/{uetr}", CREDITOR).json()["status"] == "settled"
    notices = [m for m in _mailbox(api, CREDITOR) if m["kind"] == "camt.054"]
    assert len(notices) == 1
    body = notices[0]["body"].encode()
    assert len(_texts(body, "Ntry")) == 1 and set(_texts(body, "Amt")) == {"1500.00"}
    assert set(_texts(body, "CdtDbtInd")) == {"CRDT"}
    assert [m["kind"] for m in _mailbox(api, DEBTOR)][:2] == ["pacs.002", "camt.054"]


def test_pacs008_camt054_lands_in_the_creditor_mailbox(api):
    message = bulk_pacs008(2, debtor=DEBTOR + "XXX", creditors=(CREDITOR + "XXX",),
                           first_uetr=40_000, msg_id="P8-054", settlement_date=None)  # fmt: skip
    assert _texts(_send(api, message).content, "TxSts") == ["ACSC", "ACSC"]
    [notice] = [m for m in _mailbox(api, CREDITOR) if m["kind"] == "camt.054"]
    assert len(_texts(notice["body"].encode(), "Ntry")) == 2
    assert not [m for m in _mailbox(api, OTHER) if m["kind"] == "camt.054"]


def test_camt050_moves_liquidity_into_the_hub(api):
    before = _balance(api, DEBTOR, "CNY")
    response = _send(api, camt050("250.00", "CNY", creditor=DEBTOR + "XXX", debtor=None))
    assert response.status_code == 200
    assert _kind(response.content) == "pacs.002.001.10"
    assert _texts(response.content, "TxSts") == ["ACSC"]
    after = _balance(api, DEBTOR, "CNY")
    assert float(after) - float(before) == 250.0
    # Draining another participant's account is refused by the hub's rule (AGNT).
    other = _send(api, camt050("1.00", "CNY", creditor=None, debtor=OTHER + "XXX",
                               msg_id="LQ-2"))  # fmt: skip
    assert _texts(other.content, "TxSts") == ["RJCT"] and "AGNT" in _texts(other.content, "Cd")


def test_camt056_cancels_a_queued_payment_with_a_camt029(api):
    payment, queued = api.pay(amount="99999999999999.00")
    assert queued.json()["status"] == "ACSP"
    response = _send(api, camt056([payment["uetr"]], assigner=DEBTOR + "XXX"))
    assert response.status_code == 200
    assert _kind(response.content) == "camt.029.001.09"
    assert _texts(response.content, "TxCxlSts") == ["ACCR"]
    tracked = api.request("GET", f"/v1/payments/{payment['uetr']}", DEBTOR).json()
    assert tracked["status"] == "cancelled"
    assert "camt.029" in [m["kind"] for m in _mailbox(api, DEBTOR)]
    trail = api.request("GET", "/v1/operator/audit", "OPERATOR").json()["entries"]
    assert (trail[-1]["op"], trail[-1]["by"]) == ("cancel", DEBTOR)  # the message's sender


def test_pacs004_returns_a_settled_payment_to_its_debtor_agent(api):
    payment, _ = api.pay(amount="300.00")
    before = _balance(api, DEBTOR, "CNY")
    message = pacs004([(payment["uetr"], "300.00", "CNY")], sender=CREDITOR + "XXX")
    response = _send(api, message, CREDITOR)
    assert _texts(response.content, "TxSts") == ["ACSC"]
    assert float(_balance(api, DEBTOR, "CNY")) - float(before) == 300.0
    # The debtor agent cannot return its own payment: AGNT, nothing moves.
    again = pacs004([(payment["uetr"], "300.00", "CNY")], sender=DEBTOR + "XXX", msg_id="R2")
    assert _send(api, again, DEBTOR).status_code == 200
    assert float(_balance(api, DEBTOR, "CNY")) - float(before) == 300.0


def test_a_resent_message_gets_the_same_bytes_and_settles_once(api):
    uetr = _uetr()
    message = pacs009([(uetr, "700.00", "CNY", DEBTOR + "XXX", CREDITOR + "XXX")],
                      msg_id="FI-AGAIN")  # fmt: skip
    before = _balance(api, CREDITOR, "CNY")
    first = _send(api, message)
    mailbox = _mailbox(api, CREDITOR)
    again = _send(api, message)
    assert again.status_code == 200 and again.content == first.content
    assert float(_balance(api, CREDITOR, "CNY")) - float(before) == 700.0
    assert _mailbox(api, CREDITOR) == mailbox  # nothing posted twice
    # Another message under the same MsgId is refused as a duplication (AM05).
    other = pacs009([(_uetr(), "1.00", "CNY", DEBTOR + "XXX", CREDITOR + "XXX")],
                    msg_id="FI-AGAIN")  # fmt: skip
    refused = _send(api, other)
    assert _texts(refused.content, "GrpSts") == ["RJCT"] and "AM05" in _texts(refused.content, "Cd")


def test_a_message_resent_after_a_restart_is_answered_the_same(tmp_path):
    db = str(tmp_path / "hub.db")
    uetr = _uetr()
    message = pacs009([(uetr, "900.00", "CNY", DEBTOR + "XXX", CREDITOR + "XXX")],
                      msg_id="FI-RESTART")  # fmt: skip
    service = open_service(db)
    try:
        with signed_client(service) as api:
            before = _balance(api, CREDITOR, "CNY")
            first = _send(api, message)
            assert _texts(first.content, "TxSts") == ["ACSC"]
    finally:
        service.close()
    reopened = open_service(db)
    try:
        with signed_client(reopened) as api:
            again = _send(api, message)
            assert again.status_code == 200 and again.content == first.content
            assert float(_balance(api, CREDITOR, "CNY")) - float(before) == 900.0
    finally:
        reopened.close()


def test_another_participants_message_is_refused_before_the_hub(api):
    uetr = _uetr()
    document = pacs009([(uetr, "10.00", "CNY", DEBTOR + "XXX", CREDITOR + "XXX")],
                       msg_id="FI-THEIRS")  # fmt: skip
    wrapped = envelope(document, sender=DEBTOR + "XXX", message_id="pacs.009.001.08")
    refused = _send(api, wrapped, OTHER)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "AGNT"
    assert refused.json()["error"]["field"] == "/AppHdr/Fr"
    assert api.request("GET", f"/v1/payments/{uetr}", DEBTOR).status_code == 404
    # The sender's own message, then the same bytes from another: the recorded answer is
    # never handed to it.
    assert _texts(_send(api, wrapped, DEBTOR).content, "TxSts") == ["ACSC"]
    assert _send(api, wrapped, OTHER).status_code == 403
    # A cancellation assigned by another participant: refused, the payment stays queued.
    payment, _ = api.pay(amount="99999999999999.00")
    cancel = _send(api, camt056([payment["uetr"]], assigner=DEBTOR + "XXX"), OTHER)
    assert cancel.status_code == 403 and cancel.json()["error"]["field"].endswith("/Assgnr")
    tracked = api.request("GET", f"/v1/payments/{payment['uetr']}", DEBTOR).json()
    assert tracked["status"] == "queued"
    assert _mailbox(api, OTHER) == []


def test_a_bare_document_is_the_callers_own_message(api):
    """Without an AppHdr the caller is the sender: two participants may use one MsgId."""
    mine = pacs009([(_uetr(), "5.00", "CNY", DEBTOR + "XXX", CREDITOR + "XXX")], msg_id="SAME")
    theirs = pacs009([(_uetr(), "5.00", "CNY", OTHER + "XXX", CREDITOR + "XXX")], msg_id="SAME")
    assert _texts(_send(api, mine, DEBTOR).content, "TxSts") == ["ACSC"]
    assert _texts(_send(api, theirs, OTHER).content, "TxSts") == ["ACSC"]
    # A transaction whose debtor agent is another's is refused (AGNT), never reaching the hub.
    foreign = pacs009([(_uetr(), "5.00", "CNY", OTHER + "XXX", CREDITOR + "XXX")], msg_id="F")
    answer = _send(api, foreign, DEBTOR).content
    assert _texts(answer, "TxSts") == ["RJCT"] and "AGNT" in _texts(answer, "Cd")


def _camt054_uetrs(api, bic: str) -> list[list[str]]:
    """The UETRs of each camt.054 in `bic`'s mailbox, message by message."""
    return [
        _texts(m["body"].encode(), "UETR") for m in _mailbox(api, bic) if m["kind"] == "camt.054"
    ]


def test_a_participant_may_have_a_camt054_for_every_settlement(api, service):
    """By default a camt.054 comes only for what settles while an ISO 20022 message is
    processed; a participant that asks has one for every settlement of its accounts (a JSON
    payment here), once per settlement, also after a restart of the service."""
    setting = api.request("GET", "/v1/mailbox/camt054", CREDITOR)
    assert setting.status_code == 200 and setting.json() == {"every_settlement": False}
    first, answer = api.pay(amount="12.34")
    assert answer.json()["status"] == "ACSC"
    assert _camt054_uetrs(api, CREDITOR) == []
    put = api.request("PUT", "/v1/mailbox/camt054", CREDITOR, {"every_settlement": True})
    assert put.status_code == 200 and put.json() == {"every_settlement": True}
    second, answer = api.pay(amount="56.78")
    assert answer.json()["status"] == "ACSC"
    [credited] = _camt054_uetrs(api, CREDITOR)
    assert credited == [second["uetr"]]
    [notice] = [m for m in _mailbox(api, CREDITOR) if m["kind"] == "camt.054"]
    body = notice["body"].encode()
    assert set(_texts(body, "CdtDbtInd")) == {"CRDT"} and "56.78" in _texts(body, "Amt")
    assert _kind(body) == "camt.054.001.08"
    assert _camt054_uetrs(api, DEBTOR) == []  # the debtor did not ask
    # A message's settlements: its own camt.054, not a second one.
    message = bulk_pacs008(2, debtor=DEBTOR + "XXX", creditors=(CREDITOR + "XXX",),
                           first_uetr=90_000, msg_id="ALL-054", settlement_date=None)  # fmt: skip
    assert _texts(_send(api, message).content, "TxSts") == ["ACSC", "ACSC"]
    named = [u for uetrs in _camt054_uetrs(api, CREDITOR) for u in uetrs]
    assert len(named) == 3 and len(set(named)) == 3
    # Asked once, kept: the setting and the camt.054s are the same after a restart.
    db = service.engine.durable.durable_ledger.store.path
    off = api.request("PUT", "/v1/mailbox/camt054", DEBTOR, {"every_settlement": False})
    assert off.json() == {"every_settlement": False}
    service.close()
    reopened = open_service(db)
    try:
        with signed_client(reopened) as again:
            got = again.request("GET", "/v1/mailbox/camt054", CREDITOR).json()
            assert got == {"every_settlement": True}
            third, _ = again.pay()
            assert [third["uetr"]] in _camt054_uetrs(again, CREDITOR)
            assert len(_camt054_uetrs(again, CREDITOR)) == 3
    finally:
        reopened.close()


def test_the_camt054_setting_takes_a_json_boolean_only(api):
    for value in ("true", 1, None):
        refused = api.request("PUT", "/v1/mailbox/camt054", CREDITOR, {"every_settlement": value})
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "every_settlement"
    assert api.request("GET", "/v1/mailbox/camt054", CREDITOR).json() == {"every_settlement": False}


def test_a_queued_payment_released_later_brings_its_camt054_to_who_asked(api):
    """A payment queued for want of liquidity settles in a later round (the debtor moves
    liquidity in): the creditor that asked for every settlement has its camt.054 then."""
    setting = {"every_settlement": True}
    assert api.request("PUT", "/v1/mailbox/camt054", CREDITOR, setting).status_code == 200
    balance = Decimal(_balance(api, DEBTOR, "CNY"))
    queued, answer = api.pay(amount=f"{balance + 1:.2f}")
    assert answer.json()["status"] == "ACSP"
    assert _camt054_uetrs(api, CREDITOR) == []
    moved = api.request("POST", "/v1/liquidity", DEBTOR, {"currency": "CNY", "amount": "5.00"})
    assert moved.status_code == 200
    assert api.request("GET", f"/v1/payments/{queued['uetr']}", DEBTOR).json()["status"] == (
        "settled"
    )
    assert _camt054_uetrs(api, CREDITOR) == [[queued["uetr"]]]


def _updates(api, bic: str) -> list[bytes]:
    """The pacs.002 status updates in `bic`'s mailbox (told from a message's own answer by
    their MsgId, SMKU…)."""
    reports = [m["body"].encode() for m in _mailbox(api, bic) if m["kind"] == "pacs.002"]
    return [body for body in reports if _texts(body, "MsgId")[0].startswith("SMKU")]


def test_a_queued_transaction_is_told_again_once_final(api, service):
    """A pacs.009 transaction answered ACSP (queued for want of liquidity) gets a second
    pacs.002 to its sender once it settles, naming the original MsgId and UETR; one still
    queued when the day closes gets RJCT with the reason. The promise outlives a restart."""
    balance = Decimal(_balance(api, DEBTOR, "CNY"))
    first, second = _uetr(), _uetr()
    message = pacs009([(first, f"{balance + 1:.2f}", "CNY", DEBTOR + "XXX", CREDITOR + "XXX")],
                      msg_id="QUEUED-1")  # fmt: skip
    assert _texts(_send(api, message).content, "TxSts") == ["ACSP"]
    assert _updates(api, DEBTOR) == []
    db = service.engine.durable.durable_ledger.store.path
    service.close()
    reopened = open_service(db)
    try:
        with signed_client(reopened) as again:
            moved = again.request("POST", "/v1/liquidity", DEBTOR,
                                  {"currency": "CNY", "amount": "5.00"})  # fmt: skip
            assert moved.status_code == 200
            [update] = _updates(again, DEBTOR)
            assert _kind(update) == "pacs.002.001.10"
            assert _texts(update, "OrgnlMsgId") == ["QUEUED-1"]
            assert _texts(update, "OrgnlUETR") == [first]
            assert _texts(update, "TxSts") == ["ACSC"] and _texts(update, "GrpSts") == ["ACSC"]
            # Another, still queued at the end of the day: RJCT with the reason.
            balance = Decimal(_balance(again, DEBTOR, "CNY"))
            late = pacs009([(second, f"{balance + 1:.2f}", "CNY", DEBTOR + "XXX",
                             CREDITOR + "XXX")], msg_id="QUEUED-2")  # fmt: skip
            assert _texts(_send(again, late).content, "TxSts") == ["ACSP"]
            closed = again.request("POST", "/v1/operator/end-of-day", "OPERATOR")
            assert closed.status_code == 200
            updates = _updates(again, DEBTOR)
            assert len(updates) == 2
            assert _texts(updates[1], "OrgnlUETR") == [second]
            assert _texts(updates[1], "TxSts") == ["RJCT"]
            assert _texts(updates[1], "Cd") == ["AB03"]
    finally:
        reopened.close()


def test_a_queued_transaction_cancelled_is_told_again_rjct_with_a_reason(api):
    """A queued pacs.009 transaction cancelled (by the sender's JSON route, by the operator,
    by a camt.056) is told again RJCT with a reason, as one the day closed on (AB03) is, and
    as the resend of an interrupted message reports a cancelled one: never a bare RJCT."""
    balance = Decimal(_balance(api, DEBTOR, "CNY"))
    uetrs = [_uetr() for _ in range(3)]
    too_much = f"{balance + 1:.2f}"
    message = pacs009([(u, too_much, "CNY", DEBTOR + "XXX", CREDITOR + "XXX") for u in uetrs],
                      msg_id="QUEUED-X")  # fmt: skip
    assert _texts(_send(api, message).content, "TxSts") == ["ACSP"] * 3
    mine = api.request("POST", f"/v1/payments/{uetrs[0]}/cancel", DEBTOR)
    operators = api.request("POST", f"/v1/operator/payments/{uetrs[1]}/cancel", "OPERATOR")
    assert (mine.status_code, operators.status_code) == (200, 200)
    cancel = camt056([uetrs[2]], assigner=DEBTOR + "XXX", msg_id="CXL-Q")
    assert _texts(_send(api, cancel).content, "TxCxlSts") == ["ACCR"]
    updates = _updates(api, DEBTOR)
    assert [_texts(u, "OrgnlUETR") for u in updates] == [[u] for u in uetrs]
    for update in updates:
        assert _texts(update, "TxSts") == ["RJCT"]
        assert _texts(update, "Cd") == ["NARR"]
        [text] = _texts(update, "AddtlInf")
        assert text.startswith("payment is cancelled: cancelled by ")


def test_a_payment_whose_return_was_cancelled_unsettled_may_be_returned_again(api):
    """A return cancelled while queued leaves the payment to be returned again (the next
    attempt's UETR); before, every later return was DUPL and the money could not go back."""
    payment, _ = api.pay(amount="300.00")
    drained = {"currency": "CNY", "amount": _balance(api, CREDITOR, "CNY"), "direction": "out"}
    assert api.request("POST", "/v1/liquidity", CREDITOR, drained).status_code == 200
    first = pacs004([(payment["uetr"], "300.00", "CNY")], sender=CREDITOR + "XXX", msg_id="R1")
    assert _texts(_send(api, first, CREDITOR).content, "TxSts") == ["ACSP"]  # queued
    returned = str(uuid.UUID(int=return_uetr(uuid.UUID(payment["uetr"]).int)))
    cancel = camt056([returned], assigner=CREDITOR + "XXX", msg_id="C1")
    assert _texts(_send(api, cancel, CREDITOR).content, "TxCxlSts") == ["ACCR"]
    funded = drained | {"direction": "in"}
    assert api.request("POST", "/v1/liquidity", CREDITOR, funded).status_code == 200
    before = _balance(api, DEBTOR, "CNY")
    again = pacs004([(payment["uetr"], "300.00", "CNY")], sender=CREDITOR + "XXX", msg_id="R2")
    answer = _send(api, again, CREDITOR).content
    assert (_texts(answer, "TxSts"), _texts(answer, "Cd")) == (["ACSC"], [])
    assert Decimal(_balance(api, DEBTOR, "CNY")) - Decimal(before) == 300


def test_a_payment_under_the_uetr_a_return_would_take_does_not_block_the_return(api):
    """A payment sent first under the UETR a return would take (anyone knowing the original's
    can) is passed over: the return takes the next attempt's."""
    payment, _ = api.pay(amount="300.00")
    taken = str(uuid.UUID(int=return_uetr(uuid.UUID(payment["uetr"]).int)))
    assert api.pay(amount="0.01", uetr=taken)[1].json()["status"] == "ACSC"
    before = _balance(api, DEBTOR, "CNY")
    back = pacs004([(payment["uetr"], "300.00", "CNY")], sender=CREDITOR + "XXX", msg_id="R1")
    answer = _send(api, back, CREDITOR).content
    assert (_texts(answer, "TxSts"), _texts(answer, "Cd")) == (["ACSC"], [])
    assert Decimal(_balance(api, DEBTOR, "CNY")) - Decimal(before) == 300
