"""What a hostile bank or a broken client sends, and what the service answers.

Every refusal is a 4xx with `{"error": {code, field, message}}` naming the field at fault,
and leaves the hub as it was: the command log, the balances, the queue and the mailboxes.
Most tests share one service (each uses fresh UETRs and MsgIds and compares the hub's state
before and after itself); those that change a setting or the pusher open their own.
"""

from __future__ import annotations

import json
import re
import time
import uuid
import warnings
from typing import Any

import pytest
from lxml import etree

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from samarkand.bench.iso import bulk_pacs008
from samarkand.service.auth import (
    KEY_HEADER,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_headers,
)
from samarkand.service.gate import BODY_BYTES_MAX
from samarkand.service.server import OPERATOR_ID, open_service
from samarkand.service.webhook import ATTEMPTS_MAX
from tests.iso20022.iso_builders import camt050, camt056, envelope, pacs004, pacs009
from tests.service.conftest import (
    CENTRAL_BANK_CN,
    CREDITOR,
    DEBTOR,
    OTHER,
    Signed,
    new_payment,
    wait_until,
)

XML = "application/xml"
CENTRAL_BANK_RU = "CBRFRUMM"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """One service for the tests that change nothing but their own payments."""
    service = open_service(str(tmp_path_factory.mktemp("hostile") / "hub.db"))
    with TestClient(service.app, raise_server_exceptions=False) as client:
        yield service, Signed(client, service.keyring)
    service.close()


@pytest.fixture
def api(hub):
    return hub[1]


@pytest.fixture
def own(service):
    """A service of the test's own, answering a server error as a 500 (not raising it)."""
    with TestClient(service.app, raise_server_exceptions=False) as client:
        yield Signed(client, service.keyring)


def _error(response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.content
    return response.json()["error"]


def _refused(response, status: int, code: str, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error = _error(response)
    assert (error["code"], error["field"]) == (code, field), error
    assert error["message"] and "Traceback" not in error["message"]
    return error


def _state(service, api, *bics: str) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    return {
        "commands": service.engine.durable.commands,
        "accounts": {b: api.request("GET", "/v1/accounts", b).json() for b in bics},
        # Sequences never repeat: (last, acked) changes with anything posted or acknowledged.
        "mailboxes": {b: api.request("GET", f"/v1/mailbox?after={2**62}", b).json() for b in bics},
        "queue": api.request("GET", "/v1/operator/queue", OPERATOR_ID).json(),
        "configuration": api.request("GET", "/v1/operator/configuration", OPERATOR_ID).json(),
    }


def _send(api, data: bytes, key: str = DEBTOR):
    return api.request("POST", "/v1/messages", key, data, content_type=XML)


def _texts(data: bytes, name: str) -> list[str]:
    root = etree.fromstring(data)
    return [e.text or "" for e in root.iter() if etree.QName(e).localname == name]


def _transfer(amount: str = "1.00", *, uetr: str | None = None, msg_id: str) -> bytes:
    """A pacs.009 of one CNY transfer from DEBTOR to CREDITOR."""
    return pacs009(
        [(uetr or str(uuid.uuid4()), amount, "CNY", DEBTOR + "XXX", CREDITOR + "XXX")],
        msg_id=msg_id,
    )


def _msg_id() -> str:
    return "H-" + uuid.uuid4().hex[:20]


def _untracked(api, uetr: str) -> bool:
    return api.request("GET", f"/v1/payments/{uetr}", DEBTOR).status_code == 404


# ------------------------------------------------------------------ ISO 20022: problems found


@pytest.mark.parametrize("amount", ["NaN", "sNaN", "1E5", "1e0", "1_000.00", "\u0661.00"])
@pytest.mark.parametrize("kind", ["pacs.009", "camt.050", "pacs.004"])
def test_an_amount_that_is_no_xs_decimal_refuses_a_model_checked_message(hub, kind, amount):
    # NaN made a 500 (a Decimal NaN compared with the minimum); 1E5, 1_000.00 and Arabic-
    # Indic digits were taken as amounts (1E5 settled 100,000 CNY). An XSD refuses them all.
    service, api = hub
    before = _state(service, api, DEBTOR, CREDITOR)
    if kind == "pacs.009":
        data = _transfer("7.77", msg_id=_msg_id())
    elif kind == "camt.050":
        data = camt050("7.77", "CNY", creditor=DEBTOR + "XXX", debtor=None, msg_id=_msg_id())
    else:
        data = pacs004([(str(uuid.uuid4()), "7.77", "CNY")], sender=None, msg_id=_msg_id())
    response = _send(api, data.replace(b">7.77<", f">{amount}<".encode()))
    assert response.status_code == 200, response.content
    assert _texts(response.content, "GrpSts") == ["RJCT"]
    assert _texts(response.content, "Cd") == ["CH16"]
    assert any("is not a valid Decimal" in t for t in _texts(response.content, "AddtlInf"))
    after = _state(service, api, DEBTOR, CREDITOR)
    after["mailboxes"][DEBTOR] = before["mailboxes"][DEBTOR]  # the sender gets its pacs.002
    assert after == before


@pytest.mark.parametrize("amount", ["+1.00", " 1.00 ", "1.", ".5", "0001.00"])
def test_every_xs_decimal_form_is_still_an_amount(api, amount):
    uetr = str(uuid.uuid4())
    data = _transfer("7.77", uetr=uetr, msg_id=_msg_id()).replace(b">7.77<", f">{amount}<".encode())
    response = _send(api, data)
    assert _texts(response.content, "TxSts") == ["ACSC"]
    tracked = api.request("GET", f"/v1/payments/{uetr}", DEBTOR).json()
    assert tracked["amount"] == ("0.50" if amount == ".5" else "1.00")


# ------------------------------------------------------------------ ISO 20022: already right


@pytest.mark.parametrize(
    "name, data",
    [
        ("billion laughs", b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">'
         b'<!ENTITY b "&a;&a;&a;&a;">]><Document>&b;</Document>'),
        ("external entity", b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM '
         b'"file:///etc/passwd">]><Document>&x;</Document>'),
        ("external entity in UTF-16", '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d '
         '[<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>'.encode("utf-16")),
    ],
)  # fmt: skip
def test_a_doctype_is_refused_before_it_is_expanded(hub, name, data):
    service, api = hub
    before = _state(service, api, DEBTOR)
    response = _send(api, data)
    error = _refused(response, 400, "invalid_message", "body")
    assert error["message"].startswith("FF01: a DOCTYPE is not allowed")
    assert b"root:" not in response.content
    assert _state(service, api, DEBTOR) == before


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("NUL byte", _transfer(msg_id="N-1").replace(b"N-1", b"N\x001"), "Char 0x0 out of"),
        ("invalid UTF-8", _transfer(msg_id="N-2").replace(b"N-2", b"N\xff2"), "Invalid bytes"),
        ("declared UTF-16, sent UTF-8",
         _transfer(msg_id="N-3").replace(b'encoding="UTF-8"', b'encoding="UTF-16"'),
         "not well-formed"),
        ("unknown encoding",
         _transfer(msg_id="N-4").replace(b'encoding="UTF-8"', b'encoding="X-NOPE"'),
         "Unsupported encoding"),
        ("nested 10,000 deep", b"<Document>" + b"<a>" * 10_000 + b"</a>" * 10_000
         + b"</Document>", "nested too deep"),
        ("empty", b"", "file is empty"),
    ],
)  # fmt: skip
def test_a_file_that_is_no_xml_message_is_400_ff01(hub, name, data, reason):
    service, api = hub
    before = _state(service, api, DEBTOR)
    error = _refused(_send(api, data), 400, "invalid_message", "body")
    assert error["message"].startswith("FF01") and reason in error["message"]
    assert _state(service, api, DEBTOR) == before


def test_a_message_in_utf16_is_read_like_its_utf8(api):
    uetr = str(uuid.uuid4())
    text = _transfer("3.00", uetr=uetr, msg_id=_msg_id()).decode()
    response = _send(api, text.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"))
    assert _texts(response.content, "TxSts") == ["ACSC"]
    assert api.request("GET", f"/v1/payments/{uetr}", DEBTOR).json()["amount"] == "3.00"


def test_a_huge_attribute_is_refused_within_the_body_limit(hub):
    service, api = hub
    before = _state(service, api, DEBTOR)
    huge = b'<ns0:GrpHdr x="' + b"A" * 9_000_000 + b'">'
    data = _transfer(msg_id=_msg_id()).replace(b"<ns0:GrpHdr>", huge)
    assert len(data) > 9_000_000
    response = _send(api, data)
    assert response.status_code == 200 and _texts(response.content, "GrpSts") == ["RJCT"]
    assert _texts(response.content, "Cd") == ["CH16"]
    assert _texts(response.content, "AddtlInf") == ["Unknown attribute GroupHeader93:x"]
    assert len(response.content) < 20_000  # the attribute is not echoed
    after = _state(service, api, DEBTOR)
    after["mailboxes"] = before["mailboxes"]
    assert after == before


@pytest.mark.parametrize(
    "amount, uetr, currency, code",
    [
        ("1" * 30, None, "CNY", "CH16"),  # 30 digits: beyond totalDigits 18
        ("-5.00", None, "CNY", "CH16"),
        ("1.001", None, "CNY", "AM12"),  # CNY has two decimals
        ("1.00", None, "ZZZ", "AM11"),  # no ISO 4217 currency
        ("1.00", None, "JPY", "AM11"),  # a currency the hub does not carry
        ("1.00", "not-a-uuid", "CNY", "CH16"),
        ("1.00", "EB6305C9-1F7F-49DE-AED0-16487C27B42D", "CNY", "CH16"),  # uppercase
    ],
)
def test_bad_amounts_currencies_and_uetrs_in_a_message_carry_their_iso_code(
    hub, amount, uetr, currency, code
):
    service, api = hub
    before = _state(service, api, DEBTOR, CREDITOR)
    data = pacs009(
        [(uetr or str(uuid.uuid4()), amount, currency, DEBTOR + "XXX", CREDITOR + "XXX")],
        msg_id=_msg_id(),
    )
    response = _send(api, data)
    assert response.status_code == 200 and "RJCT" in _texts(response.content, "GrpSts") + \
        _texts(response.content, "TxSts")  # fmt: skip
    assert _texts(response.content, "Cd") == [code]
    after = _state(service, api, DEBTOR, CREDITOR)
    after["mailboxes"][DEBTOR] = before["mailboxes"][DEBTOR]
    assert after["commands"] - before["commands"] <= 1  # a refused payment's round
    after["commands"] = before["commands"]
    assert after == before


def test_a_uetr_twice_in_one_message_settles_once(api):
    uetr = str(uuid.uuid4())
    data = pacs009(
        [(uetr, "1.00", "CNY", DEBTOR + "XXX", CREDITOR + "XXX"),
         (uetr, "2.00", "CNY", DEBTOR + "XXX", CREDITOR + "XXX")], msg_id=_msg_id(),
    )  # fmt: skip
    response = _send(api, data)
    assert _texts(response.content, "TxSts") == ["ACSC", "RJCT"]
    assert _texts(response.content, "Cd") == ["DUPL"]
    assert api.request("GET", f"/v1/payments/{uetr}", DEBTOR).json()["amount"] == "1.00"


def test_a_msg_id_used_again_for_another_body_is_am05_and_pays_nothing(api):
    msg_id = _msg_id()
    data = _transfer(msg_id=msg_id)
    first = _send(api, data)
    assert _texts(first.content, "TxSts") == ["ACSC"]
    assert _send(api, data).content == first.content  # the same message: the same answer
    other = str(uuid.uuid4())
    again = _send(api, _transfer(uetr=other, msg_id=msg_id))
    assert _texts(again.content, "GrpSts") == ["RJCT"]
    assert _texts(again.content, "Cd") == ["AM05"]
    assert _untracked(api, other)


def test_another_senders_app_hdr_is_refused_before_the_hub(hub):
    service, api = hub
    before = _state(service, api, DEBTOR, OTHER)
    document = pacs009([(str(uuid.uuid4()), "1.00", "CNY", OTHER + "XXX", CREDITOR + "XXX")],
                       msg_id=_msg_id())  # fmt: skip
    data = envelope(document, sender=OTHER + "XXX", message_id="pacs.009.001.08")
    _refused(_send(api, data), 403, "AGNT", "/AppHdr/Fr")
    assert _state(service, api, DEBTOR, OTHER) == before


@pytest.mark.slow
def test_a_bulk_message_of_20000_transactions_under_the_limit_is_processed(api):
    data = bulk_pacs008(20_000, debtor=DEBTOR + "XXX", creditors=(CREDITOR + "XXX",),
                        first_uetr=7 << 40, msg_id=_msg_id(), settlement_date=None)  # fmt: skip
    data = re.sub(rb"<Nm>[^<]*</Nm>", b"<Nm>x</Nm>", data)
    assert 7 * 2**20 < len(data) < BODY_BYTES_MAX
    response = _send(api, data)
    assert response.status_code == 200
    assert _texts(response.content, "GrpSts") == ["ACSC"]
    assert len(_texts(response.content, "TxSts")) == 20_000


def test_a_message_over_the_body_limit_is_413_even_when_chunked(hub):
    service, api = hub
    before = _state(service, api, DEBTOR)
    chunk = b"<a>" + b"x" * (1 << 20) + b"</a>"
    headers = sign_headers(api.keys[DEBTOR], DEBTOR, "POST", "/v1/messages", b"")
    headers["content-type"] = XML
    response = api.client.post("/v1/messages", content=iter([chunk] * 11), headers=headers)
    _refused(response, 413, "body_too_large", "body")
    assert _state(service, api, DEBTOR) == before


# ------------------------------------------------------------------ JSON: problems found


def _raw_payment(uetr: str, *pairs: tuple[str, str]) -> bytes:
    fields = [("uetr", uetr), ("debtor_agent", DEBTOR), ("creditor_agent", CREDITOR),
              ("amount", "1.00"), ("currency", "CNY"), *pairs]  # fmt: skip
    return ("{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in fields) + "}").encode()


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/v1/payments", None, "amount"),
        ("/v1/payments", "debtor", "debtor_agent"),
        ("/v1/mailbox/ack", b'{"upto": 0, "upto": 1}', "upto"),
        ("/v1/fx/quotes", b'{"source": "CNY", "destination": "RUB", "send_amount": "1.00", '
         b'"ttl_seconds": 5, "source": "RUB"}', "source"),
    ],
)  # fmt: skip
def test_a_json_key_given_twice_is_refused_naming_it(hub, path, body, field):
    # The framework kept the last value: {"amount": "1.00", "amount": "2.00"} paid 2.00.
    service, api = hub
    before = _state(service, api, DEBTOR, CREDITOR, OTHER)
    uetr = str(uuid.uuid4())
    if body is None:
        body = _raw_payment(uetr, ("amount", "2.00"))
    elif body == "debtor":
        body = _raw_payment(uetr, ("debtor_agent", OTHER)).replace(
            f'"debtor_agent": "{DEBTOR}"'.encode(), f'"debtor_agent": "{OTHER}"'.encode(), 1
        ).replace(f'"debtor_agent": "{OTHER}"'.encode(), f'"debtor_agent": "{DEBTOR}"'.encode(),
                  1)  # fmt: skip
    response = api.request("POST", path, DEBTOR, body)
    error = _refused(response, 400, "malformed_json", field)
    assert "more than once" in error["message"]
    assert _untracked(api, uetr)
    assert _state(service, api, DEBTOR, CREDITOR, OTHER) == before


def test_a_key_given_twice_inside_a_list_is_refused_too(hub):
    service, api = hub
    before = _state(service, api, DEBTOR)
    tier = ('{"sell": "CNY", "buy": "RUB", "min_amount": "1.00", "max_amount": "10.00", '
            '"rate": "12.5", "rate": "99.5", "liquidity": "100.00", '
            '"valid_until": "2099-01-01T00:00:00Z"}')  # fmt: skip
    response = api.request("POST", "/v1/fx/tiers", DEBTOR, f'{{"tiers": [{tier}]}}'.encode())
    _refused(response, 400, "malformed_json", "rate")
    assert _state(service, api, DEBTOR) == before


@pytest.mark.parametrize(
    "name, body, reason",
    [
        ("not UTF-8", b'{"uetr": "\xff\xfe"}'.replace(b"\\xff\\xfe", b"\xff\xfe"),
         "not UTF-8"),
        ("UTF-16", json.dumps(new_payment()).encode("utf-16"), "not UTF-8"),
        ("UTF-8 with a BOM", b"\xef\xbb\xbf" + json.dumps(new_payment()).encode(),
         "malformed JSON"),
        ("arrays 100,000 deep", b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
        ("objects 100,000 deep", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deep"),
        ("cut short", b'{"uetr": ', "malformed JSON"),
        ("NaN", json.dumps(new_payment(amount=float("nan"))).encode(), None),
        # Python's bound on an integer's digits raised past the gate: 500, text/plain.
        ("a number of 5,000 digits", b'{"upto": ' + b"1" * 5_000 + b"}", "4,300 digits"),
        ("a list of 4,301 digits", b"[" + b"9" * 4_301 + b"]", "4,300 digits"),
    ],
)  # fmt: skip
def test_a_body_that_is_no_utf8_json_text_is_400_naming_the_body(hub, name, body, reason):
    # Not UTF-8 or nested too deep was 400 with no field ("There was an error parsing the
    # body"); UTF-16 and a BOM were read as JSON by the full route and paid.
    service, api = hub
    before = _state(service, api, DEBTOR, CREDITOR)
    response = api.request("POST", "/v1/payments", DEBTOR, body)
    if reason is None:  # NaN is JSON to Python: the amount is refused for its type
        _refused(response, 422, "invalid", "amount")
    else:
        error = _refused(response, 400, "malformed_json", "body")
        assert reason in error["message"]
    assert _state(service, api, DEBTOR, CREDITOR) == before


@pytest.mark.parametrize(
    "uetr",
    [
        "urn:uuid:{u}",
        "{{{u}}}",
        "{hex}",
        "{upper}",
        "2b234444-eb09-11f1-be8f-02fc00000001",  # a version 1 UUID
        str(uuid.UUID(int=0)),
        " {u}",
    ],
)
def test_a_uetr_not_written_as_iso_20022_writes_it_is_refused(hub, uetr):
    # Each was taken (the nil UUID too): a payment no ISO 20022 message could name.
    service, api = hub
    before = _state(service, api, DEBTOR, CREDITOR)
    u = uuid.uuid4()
    text = uetr.format(u=u, hex=u.hex, upper=str(u).upper())
    _, response = api.pay(uetr=text)
    error = _refused(response, 422, "invalid", "uetr")
    assert "pattern" in error["message"]
    assert _untracked(api, str(u))
    assert _state(service, api, DEBTOR, CREDITOR) == before


@pytest.mark.parametrize("upto", [True, "1", 1.0])
def test_an_acknowledgement_takes_a_json_number_only(hub, upto):
    # `true` and "1" acknowledged (deleted) message 1.
    service, api = hub
    api.pay(amount="0.01")  # a status notice in DEBTOR's mailbox
    before = _state(service, api, DEBTOR)
    assert before["mailboxes"][DEBTOR]["last"] > before["mailboxes"][DEBTOR]["acked"]
    response = api.request("POST", "/v1/mailbox/ack", DEBTOR, {"upto": upto})
    _refused(response, 422, "invalid", "upto")
    assert _state(service, api, DEBTOR) == before


_TIER = {
    "sell": "CNY",
    "buy": "RUB",
    "min_amount": "1.00",
    "max_amount": "1000.00",
    "rate": "12.5",
    "liquidity": "100000.00",
    "valid_until": "2099-01-01T00:00:00Z",
}


def _quote(api) -> int:
    posted = api.request("POST", "/v1/fx/tiers", DEBTOR, {"tiers": [_TIER]})
    assert posted.json()["results"][0]["status"] == "posted"
    asked = {"source": "CNY", "destination": "RUB", "send_amount": "10.00"}
    quote = api.request("POST", "/v1/fx/quotes", DEBTOR, asked)
    assert quote.status_code == 200, quote.content
    return int(quote.json()["id"])


def test_a_quote_is_cited_by_a_json_number_only(hub):
    # "quote_id": true paid with quote 1.
    service, api = hub
    quote_id = _quote(api)
    before = _state(service, api, DEBTOR, CREDITOR)
    for cited in (True, str(quote_id), float(quote_id)):
        uetr = str(uuid.uuid4())
        payment = {"uetr": uetr, "debtor_agent": DEBTOR, "creditor_agent": CREDITOR,
                   "quote_id": cited}  # fmt: skip
        _refused(api.request("POST", "/v1/fx/payments", DEBTOR, payment), 422, "invalid",
                 "quote_id")  # fmt: skip
        assert _untracked(api, uetr)
    asked = {"source": "CNY", "destination": "RUB", "send_amount": "10.00", "ttl_seconds": True}
    _refused(api.request("POST", "/v1/fx/quotes", DEBTOR, asked), 422, "invalid", "ttl_seconds")
    assert _state(service, api, DEBTOR, CREDITOR) == before
    payment = {"uetr": str(uuid.uuid4()), "debtor_agent": DEBTOR, "creditor_agent": CREDITOR,
               "quote_id": quote_id}  # fmt: skip
    assert api.request("POST", "/v1/fx/payments", DEBTOR, payment).json()["status"] == "ACSC"


@pytest.mark.parametrize("form", [int, str, float, "day-first"])
def test_a_time_is_iso_8601_text_only(hub, form):
    # Unix seconds, as a number or in a string, were taken as a time (an hour ahead here:
    # a cut-off and a tier's end the hub would have taken).
    service, api = hub
    ahead = int(time.time()) + 3600
    moment = (
        time.strftime("%d/%m/%Y %H:%M", time.gmtime(ahead)) if form == "day-first" else form(ahead)
    )
    before = _state(service, api, DEBTOR)
    for method, path, key in (("POST", "/v1/operator/open-day", OPERATOR_ID),
                              ("PUT", "/v1/operator/cut-offs/CNY", OPERATOR_ID)):  # fmt: skip
        _refused(api.request(method, path, key, {"cut_off": moment}), 422, "invalid", "cut_off")
    archive = api.request("POST", "/v1/operator/archive", OPERATOR_ID, {"before": moment})
    _refused(archive, 422, "invalid", "before")
    tier = {"sell": "CNY", "buy": "RUB", "min_amount": "1.00", "max_amount": "1000.00",
            "rate": "12.5", "liquidity": "100000.00", "valid_until": moment}  # fmt: skip
    _refused(api.request("POST", "/v1/fx/tiers", DEBTOR, {"tiers": [tier]}), 422, "invalid",
             "tiers.0.valid_until")  # fmt: skip
    assert _state(service, api, DEBTOR) == before


def test_settings_take_json_numbers_and_booleans_only(hub):
    # "5", true and 5.0 set the queue limit; "yes" and 0 set a corridor.
    service, api = hub
    before = _state(service, api)
    for limit in ("5", True, 5.0):
        response = api.request("PUT", "/v1/operator/queue-limit", OPERATOR_ID, {"limit": limit})
        _refused(response, 422, "invalid", "limit")
    for allowed in ("yes", 0, "true", None):
        response = api.request("PUT", "/v1/operator/fx/corridors/CNY/RUB", OPERATOR_ID,
                               {"vehicle_allowed": allowed})  # fmt: skip
        _refused(response, 422, "invalid", "vehicle_allowed")
    assert _state(service, api) == before


# ------------------------------------------------------------------ JSON: already right


@pytest.mark.parametrize(
    "fields, field, code",
    [
        ({"amount": 100}, "amount", "invalid"),  # a number, not decimal text
        ({"amount": 2**64}, "amount", "invalid"),
        ({"amount": "9" * 40}, "amount", "invalid"),  # above what the ledger holds (AM02)
        ({"amount": "1e5"}, "amount", "invalid"),
        ({"amount": "-5.00"}, "amount", "invalid"),
        ({"amount": "1.001"}, "amount", "invalid"),  # CNY has two decimals (AM12)
        ({"currency": "ZZZ"}, "currency", "invalid"),  # no ISO 4217 code (AM11)
        ({"currency": "cny"}, "currency", "invalid"),
        ({"uetr": "a" * (9 << 20)}, "uetr", "invalid"),  # a 9 MiB string
        ({"debtor_agent": DEBTOR + "\u0000"}, "debtor_agent", "invalid"),
        ({"priority": "now"}, "priority", "invalid"),
        ({"method": 1}, "method", "invalid"),
        ({"creditor_agent": None}, "creditor_agent", "invalid"),
        ({"surprise": 1}, "surprise", "invalid"),
    ],
)
def test_every_field_of_a_payment_is_refused_by_name(hub, fields, field, code):
    service, api = hub
    before = _state(service, api, DEBTOR, CREDITOR)
    payment, response = api.pay(**fields)
    _refused(response, 422, code, field)
    assert _state(service, api, DEBTOR, CREDITOR) == before


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b'"x"', b"1"])
def test_an_empty_or_non_object_body_is_422_naming_the_body(hub, body):
    service, api = hub
    before = _state(service, api, DEBTOR)
    response = api.request("POST", "/v1/payments", DEBTOR, body)
    _refused(response, 422, "invalid", "body")
    assert _state(service, api, DEBTOR) == before


def test_a_payment_of_a_currency_the_hub_does_not_carry_changes_nothing(hub):
    service, api = hub
    before = _state(service, api, DEBTOR, CREDITOR)
    for currency in ("JPY", "XAU"):
        _refused(api.pay(currency=currency)[1], 422, "invalid", "currency")
    assert _state(service, api, DEBTOR, CREDITOR) == before


# ------------------------------------------------------------------ webhooks: problem found


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/\r\nX-Injected: 1", "http://127.0.0.1:9/\x00", "http://127.0.0.1:9/a b",
     "http://127.0.0.1:99999/", "http://127.0.0.1:0/", "http://127.0.0.1:-1/"],
)  # fmt: skip
def test_a_webhook_url_the_pusher_cannot_call_is_refused(hub, url):
    # Each was registered, and the first push to it killed the one pusher thread: no
    # participant was pushed to again, after a restart neither (the URL is kept).
    service, api = hub
    before = _state(service, api, DEBTOR)
    response = api.request("PUT", "/v1/mailbox/webhook", DEBTOR, {"url": url})
    _refused(response, 422, "invalid", "url")
    assert DEBTOR not in service.pusher.urls
    assert service.engine.call(lambda e, _now: e.mailbox.webhooks()).result() == {}
    assert _state(service, api, DEBTOR) == before


def test_a_stored_url_the_pusher_cannot_call_fails_its_pushes_not_the_pusher(service, own):
    pusher = service.pusher
    pusher.retry_s_first = pusher.retry_s_max = 0.001
    own.pay()  # a status notice for DEBTOR to push
    assert own.request("GET", "/v1/mailbox", DEBTOR).json()["messages"]  # written: no wake later
    pusher.urls[DEBTOR] = "http://127.0.0.1:9/\x00"  # as a store written before the check
    pusher.wake({DEBTOR})
    deadline = time.monotonic() + 10
    while pusher.failures < ATTEMPTS_MAX and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pusher.failures == ATTEMPTS_MAX
    assert pusher._thread.is_alive()
    assert own.request("GET", "/v1/mailbox", DEBTOR).json()["messages"]  # nothing lost


# ------------------------------------------------------------------ HTTP: problems found


@pytest.mark.parametrize("path", ["/v1/accounts/", "/v1/mailbox/", "/health/"])
def test_a_trailing_slash_is_no_route_not_a_redirect(api, path):
    # It was a 307 to a URL built from the request's Host header.
    response = api.request("GET", path, DEBTOR)
    assert "location" not in response.headers
    _refused(response, 404, "not_found", "path")


@pytest.mark.parametrize("header", [KEY_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER])
def test_a_signature_header_given_twice_is_refused(api, header):
    # The gate read the last, the framework the first: a request named two callers.
    signed = sign_headers(api.keys[DEBTOR], DEBTOR, "GET", "/v1/accounts")
    decoy = sign_headers(api.keys[OTHER], OTHER, "GET", "/v1/accounts")[header]
    headers = [(header, decoy)] + list(signed.items())  # the valid one last
    response = api.client.request("GET", "/v1/accounts", headers=headers)
    error = _refused(response, 401, "unauthenticated", header)
    assert "more than once" in error["message"]


def test_a_content_type_given_twice_is_refused(hub):
    service, api = hub
    before = _state(service, api, DEBTOR, CREDITOR)
    body = json.dumps(new_payment()).encode()
    signed = sign_headers(api.keys[DEBTOR], DEBTOR, "POST", "/v1/payments", body)
    headers = [("content-type", XML), ("content-type", "application/json"), *signed.items()]
    response = api.client.request("POST", "/v1/payments", content=body, headers=headers)
    _refused(response, 400, "bad_request", "content-type")
    assert _state(service, api, DEBTOR, CREDITOR) == before


@pytest.mark.parametrize(
    "headers, field",
    [({"content-encoding": "gzip"}, "content-encoding"),
     ({"content-encoding": "br, identity"}, "content-encoding"),
     ({"content-type": "application/json; charset=latin-1"}, "content-type"),
     ({"content-type": 'application/json; charset="utf-16"'}, "content-type")],
)  # fmt: skip
def test_a_body_in_another_encoding_or_charset_is_415_naming_the_header(hub, headers, field):
    # A plain body labelled gzip, or JSON labelled latin-1, was read as plain UTF-8 and paid.
    service, api = hub
    before = _state(service, api, DEBTOR, CREDITOR)
    response = api.request("POST", "/v1/payments", DEBTOR, new_payment(), headers=headers)
    _refused(response, 415, "unsupported_media_type", field)
    assert _state(service, api, DEBTOR, CREDITOR) == before


def test_a_utf8_charset_or_identity_encoding_is_taken(api):
    headers = {"content-type": "application/json; charset=UTF-8", "content-encoding": "identity"}
    response = api.request("POST", "/v1/payments", DEBTOR, new_payment(), headers=headers)
    assert response.status_code == 200, response.text


def test_refusals_by_role_route_and_method_name_what_is_at_fault(api):
    # Each had the field null.
    _refused(api.request("GET", "/v1/operator/queue", DEBTOR), 403, "forbidden", KEY_HEADER)
    _refused(api.request("GET", "/v1/accounts", OPERATOR_ID), 403, "forbidden", KEY_HEADER)
    payment = new_payment()
    response = api.request("POST", "/v1/payments", CENTRAL_BANK_CN, payment)
    _refused(response, 403, "forbidden", KEY_HEADER)
    _refused(api.request("GET", "/v1/nowhere", DEBTOR), 404, "not_found", "path")
    _refused(api.client.get("/nowhere"), 404, "not_found", "path")
    for method in ("PATCH", "DELETE", "PUT", "OPTIONS"):
        response = api.request(method, "/v1/accounts", DEBTOR)
        _refused(response, 405, "method_not_allowed", "method")


def test_a_body_that_stops_arriving_is_408_and_the_route_never_runs():
    # uvicorn waits for a body as long as the client keeps the connection: one that declares
    # 100 bytes and sends 10 held a connection (and a task) with no end.
    import asyncio

    from samarkand.service.auth import Verifier
    from samarkand.service.gate import Gate

    reached = []

    async def route(scope, receive, send):
        reached.append(scope["path"])

    gate = Gate(route, Verifier([]), body_read_s=0.2)

    chunks = [{"type": "http.request", "body": b"0123456789", "more_body": True}]

    async def dripping():
        if chunks:
            return chunks.pop()
        await asyncio.sleep(3600)

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def call():
        headers = [(b"content-length", b"100"), (b"content-type", b"application/json")]
        scope = {"type": "http", "method": "POST", "path": "/v1/payments", "headers": headers}
        started = time.monotonic()
        await gate(scope, dripping, send)
        return time.monotonic() - started

    took = asyncio.run(call())
    assert 0.15 < took < 5
    assert sent[0]["status"] == 408 and not reached
    error = json.loads(sent[1]["body"])["error"]
    assert (error["code"], error["field"]) == ("request_timeout", "body")


# ------------------------------------------------------------------ HTTP: already right


def _auth(api, **changes: str) -> dict[str, str]:
    headers = sign_headers(api.keys[DEBTOR], DEBTOR, "GET", "/v1/accounts")
    headers.update(changes)
    return headers


@pytest.mark.parametrize(
    "changes, field",
    [
        ({SIGNATURE_HEADER: "AAAA"}, SIGNATURE_HEADER),  # base64, but not 64 bytes
        ({SIGNATURE_HEADER: "!!!!"}, SIGNATURE_HEADER),
        ({SIGNATURE_HEADER: "A" * 100_000}, SIGNATURE_HEADER),
        ({KEY_HEADER: "A" * 10_000}, KEY_HEADER),
        ({KEY_HEADER: ""}, KEY_HEADER),
        ({TIMESTAMP_HEADER: "-1"}, TIMESTAMP_HEADER),
        ({TIMESTAMP_HEADER: "1e12"}, TIMESTAMP_HEADER),
        ({TIMESTAMP_HEADER: "9" * 200}, TIMESTAMP_HEADER),
        ({TIMESTAMP_HEADER: "0"}, TIMESTAMP_HEADER),
        ({TIMESTAMP_HEADER: "99999999999999"}, TIMESTAMP_HEADER),  # in the year 5138
        ({NONCE_HEADER: "x" * 65}, NONCE_HEADER),
    ],
)
def test_malformed_signature_headers_are_401_naming_the_header(api, changes, field):
    response = api.client.get("/v1/accounts", headers=_auth(api, **changes))
    _refused(response, 401, "unauthenticated", field)
    for value in changes.values():
        assert len(value) < 16 or value not in response.text  # what was sent is not echoed


def test_a_nonce_is_spent_on_every_path(api):
    nonce = "hostile-nonce-" + uuid.uuid4().hex[:16]
    first = sign_headers(api.keys[DEBTOR], DEBTOR, "GET", "/v1/accounts", nonce=nonce)
    assert api.client.get("/v1/accounts", headers=first).status_code == 200
    second = sign_headers(api.keys[DEBTOR], DEBTOR, "GET", "/v1/mailbox", nonce=nonce)
    _refused(api.client.get("/v1/mailbox", headers=second), 401, "unauthenticated", NONCE_HEADER)


@pytest.mark.parametrize(
    "query, field",
    [("after=-1", "after"), (f"after={2**70}", "after"), ("after=abc", "after"),
     ("limit=0", "limit"), (f"limit={10**30}", "limit"), ("limit=1001", "limit")],
)  # fmt: skip
def test_mailbox_cursors_out_of_range_are_422(api, query, field):
    _refused(api.request("GET", f"/v1/mailbox?{query}", DEBTOR), 422, "invalid", field)


@pytest.mark.parametrize(
    "path, field",
    [("/v1/mailbox?after=%2B1", "after"), ("/v1/mailbox?after=01", "after"),
     ("/v1/mailbox?after=%201", "after"), ("/v1/mailbox?limit=1_0", "limit"),
     ("/v1/mailbox?limit=1.0", "limit"), ("/v1/mailbox?limit=", "limit"),
     ("/v1/statements/CNY?date=2026-11-28T00:00:00", "date"),
     ("/v1/statements/CNY?date=1764288000", "date"),  # midnight of 2026-11-28, in seconds
     ("/v1/statements/CNY?date=20261128", "date")],
)  # fmt: skip
def test_query_numbers_and_days_are_taken_as_written_only(api, path, field):
    """A count is decimal digits and a day YYYY-MM-DD: not what the framework would also
    read as one (a sign, leading zeros, digit separators, a time, Unix seconds)."""
    _refused(api.request("GET", path, DEBTOR), 422, "invalid", field)


@pytest.mark.parametrize(
    "path, field",
    [("/v1/mailbox?after=0&after=5", "after"), ("/v1/mailbox?limit=5&after=0&limit=9", "limit"),
     ("/v1/statements/CNY?date=2026-11-28&date=2026-11-27", "date")],
)  # fmt: skip
def test_a_query_parameter_given_twice_is_refused_naming_it(api, path, field):
    _refused(api.request("GET", path, DEBTOR), 400, "bad_request", field)


@pytest.mark.parametrize(
    "method, path, field",
    [("GET", "/v1/mailbox?afer=5", "afer"), ("GET", "/v1/mailbox?after=0&cursor=2", "cursor"),
     ("GET", "/v1/accounts?currency=CNY", "currency"),
     ("POST", "/v1/payments?dry_run=1", "dry_run")],
)  # fmt: skip
def test_a_query_parameter_the_route_does_not_take_is_refused_naming_it(hub, method, path, field):
    """Not ignored: the request would be answered as if it had not been given."""
    service, api = hub
    before = _state(service, api, DEBTOR, CREDITOR)
    body = new_payment() if method == "POST" else None
    _refused(api.request(method, path, DEBTOR, body), 400, "bad_request", field)
    assert _state(service, api, DEBTOR, CREDITOR) == before


def test_query_numbers_and_days_as_written_are_taken(api):
    assert api.request("GET", "/v1/mailbox?after=0&limit=5", DEBTOR).status_code == 200
    assert api.request("GET", "/v1/mailbox?after=10&limit=1000", DEBTOR).status_code == 200
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert api.request("GET", f"/v1/statements/CNY?date={today}", DEBTOR).status_code == 200


@pytest.mark.parametrize(
    "path, field",
    [("/v1/payments/not-a-uuid", "uetr"), ("/v1/payments/" + "a" * 10_240, "uetr"),
     ("/v1/payments/%00", "uetr"), ("/v1/fx/quotes/0", "quote_id"),
     (f"/v1/fx/quotes/{10**30}", "quote_id"), ("/v1/statements/cny?date=2026-11-28", "currency"),
     ("/v1/statements/CNY?date=2026-02-30", "date"),
     ("/v1/statements/CNY?date=9999-12-31", "date")],
)  # fmt: skip
def test_path_ids_out_of_range_are_422_naming_them(api, path, field):
    _refused(api.request("GET", path, DEBTOR), 422, "invalid", field)


@pytest.mark.parametrize("form", ["{upper}", "{hex}", "urn:uuid:{u}"])
@pytest.mark.parametrize(
    "method, path",
    [("GET", "/v1/payments/{}"), ("POST", "/v1/payments/{}/reorder"),
     ("PUT", "/v1/payments/{}/priority"), ("POST", "/v1/operator/payments/{}/cancel")],
)  # fmt: skip
def test_a_path_uetr_not_written_as_iso_20022_writes_it_is_refused(
    service, own, form, method, path
):
    # Each form was taken in the path (a queued payment reordered by its UETR in capitals),
    # where the same text in a JSON payment is refused. (A service of its own: a payment left
    # queued in a shared one would have the hub's offsetting run in other tests.)
    api = own
    runs = service.engine.stats.offsetting_runs
    payment, queued = api.pay(amount="99999999999999.00")  # more than DEBTOR holds: queued
    assert queued.json()["status"] == "ACSP"
    # The queue changed: the hub's offsetting runs once (a logged command), then rests.
    wait_until(lambda: service.engine.stats.offsetting_runs > runs, "an offsetting run")
    u = uuid.UUID(payment["uetr"])
    target = path.format(form.format(u=u, hex=u.hex, upper=str(u).upper()))
    before = _state(service, api, DEBTOR, CREDITOR)
    key = OPERATOR_ID if "/operator/" in path else DEBTOR
    bodies = {"reorder": {"to": "front"}, "priority": {"priority": "urgent"}}
    body = next((b for name, b in bodies.items() if path.endswith(name)), None)
    error = _refused(api.request(method, target, key, body), 422, "invalid", "uetr")
    assert "version 4 UUID in lowercase" in error["message"]
    assert _state(service, api, DEBTOR, CREDITOR) == before


@pytest.mark.parametrize(
    "method, path, key, body, status, field",
    [("PUT", "/v1/operator/credit", CENTRAL_BANK_CN,
      {"bic": DEBTOR, "currency": "RUB", "limit": "5.00"}, 403, "currency"),
     ("PUT", "/v1/operator/credit", CENTRAL_BANK_CN,
      {"bic": "ZZZZZZZZ", "currency": "CNY", "limit": "5.00"}, 422, "bic"),
     ("POST", "/v1/liquidity", DEBTOR,
      {"currency": "USD", "amount": "5.00", "direction": "in"}, 422, "currency"),
     ("POST", "/v1/fx/tiers", DEBTOR, {"tiers": [_TIER | {"buy": "JPY"}]}, 422, "tiers.0.buy"),
     ("POST", "/v1/fx/tiers", DEBTOR,
      {"tiers": [_TIER, _TIER | {"sell": "XXX"}]}, 422, "tiers.1.sell"),
     ("PUT", "/v1/operator/fx/corridors/CNY/XXX", OPERATOR_ID,
      {"vehicle_allowed": True}, 422, "destination"),
     ("PUT", "/v1/operator/fx/corridors/XXX/CNY", OPERATOR_ID,
      {"vehicle_allowed": True}, 422, "source")],
)  # fmt: skip
def test_a_refusal_names_the_field_at_fault(hub, method, path, key, body, status, field):
    # Each named another field: `limit` for the central bank's wrong currency and an unknown
    # bank, `amount` for a currency the hub does not settle, `currency` for a tier's or a
    # corridor's.
    service, api = hub
    before = _state(service, api, DEBTOR)
    response = api.request(method, path, key, body)
    assert response.status_code == status, response.text
    assert _error(response)["field"] == field, response.text
    assert _state(service, api, DEBTOR) == before


@pytest.mark.parametrize(
    "method, path, body",
    [("POST", "/v1/payments/{}/cancel", None), ("POST", "/v1/payments/{}/reorder", {"to": "front"}),
     ("PUT", "/v1/payments/{}/priority", {"priority": "urgent"}),
     ("POST", "/v1/operator/payments/{}/cancel", None)],
)  # fmt: skip
def test_a_refused_change_of_a_payment_is_neither_logged_nor_audited(service, own, method, path,
                                                                    body):  # fmt: skip
    # Each was logged before the hub refused it, and read in the audit trail as if done.
    payment, settled = own.pay()
    assert settled.json()["status"] == "ACSC"
    other, _ = own.pay(OTHER, debtor_agent=OTHER)
    audit = own.request("GET", "/v1/operator/audit", OPERATOR_ID).json()
    before = _state(service, own, DEBTOR, OTHER)
    key = OPERATOR_ID if "/operator/" in path else DEBTOR
    refused = own.request(method, path.format(payment["uetr"]), key, body)
    assert refused.status_code == 409 and _error(refused)["code"] == "PTNA", refused.text
    if key == DEBTOR:  # another's payment: as if there were none
        response = own.request(method, path.format(other["uetr"]), DEBTOR, body)
        assert response.status_code == 404 and _error(response)["code"] == "NOOR"
    assert _state(service, own, DEBTOR, OTHER) == before
    assert own.request("GET", "/v1/operator/audit", OPERATOR_ID).json() == audit


def test_an_encoded_slash_in_a_path_id_is_no_route(api):
    _refused(api.request("GET", "/v1/payments/..%2f..%2fhealth", DEBTOR), 404, "not_found", "path")


# ------------------------------------------------------------------ other participants


def test_a_message_cannot_move_another_participants_liquidity(hub):
    service, api = hub
    before = _state(service, api, OTHER)
    for creditor, debtor in ((OTHER + "XXX", None), (None, OTHER + "XXX")):
        data = camt050("5.00", "CNY", creditor=creditor, debtor=debtor, msg_id=_msg_id())
        response = _send(api, data)
        assert _texts(response.content, "TxSts") == ["RJCT"]
        assert _texts(response.content, "Cd") == ["AGNT"]
    assert _state(service, api, OTHER)["accounts"] == before["accounts"]


def test_a_message_cannot_cancel_or_return_another_participants_payment(hub):
    service, api = hub
    payment, queued = api.pay(OTHER, debtor_agent=OTHER, amount="99999999999999.00")
    assert queued.json()["status"] == "ACSP"
    cancel = _send(api, camt056([payment["uetr"]], assigner=DEBTOR + "XXX", msg_id=_msg_id()))
    assert _texts(cancel.content, "Conf") == ["RJCR"]
    # Answered as for a UETR never received: another bank's payment does not show.
    unknown = _send(api, camt056([str(uuid.uuid4())], assigner=DEBTOR + "XXX", msg_id=_msg_id()))
    assert _texts(cancel.content, "Cd") == _texts(unknown.content, "Cd") == ["NOOR"]
    assert _texts(cancel.content, "AddtlInf") == _texts(unknown.content, "AddtlInf")
    assert api.request("GET", f"/v1/payments/{payment['uetr']}", OTHER).json()["status"] == (
        "queued"
    )
    settled, answer = api.pay(OTHER, debtor_agent=OTHER, creditor_agent=CREDITOR,
                              currency="RUB", amount="10.00")  # fmt: skip
    assert answer.json()["status"] == "ACSC"
    before = _state(service, api, OTHER, CREDITOR)
    returned = _send(api, pacs004([(settled["uetr"], "10.00", "RUB")], sender=None,
                                  msg_id=_msg_id()))  # fmt: skip
    assert _texts(returned.content, "TxSts") == ["RJCT"]
    assert _texts(returned.content, "Cd") == ["NOOR"]  # its currency and amount stay hidden
    after = _state(service, api, OTHER, CREDITOR)
    assert after["accounts"] == before["accounts"]
    assert api.request("POST", f"/v1/payments/{payment['uetr']}/cancel", OTHER).status_code == 200


@pytest.mark.parametrize(
    "method, path, body",
    [("GET", "/v1/operator/participants", None), ("GET", "/v1/operator/queue", None),
     ("POST", f"/v1/operator/participants/{OTHER}/suspend", None),
     ("POST", "/v1/operator/payments/eb6305c9-1f7f-49de-aed0-16487c27b42d/cancel", None),
     ("POST", "/v1/operator/payments/eb6305c9-1f7f-49de-aed0-16487c27b42d/reorder",
      {"to": "front"}),
     ("PUT", "/v1/operator/payments/eb6305c9-1f7f-49de-aed0-16487c27b42d/priority",
      {"priority": "urgent"}),
     ("POST", "/v1/operator/windows/CNY/close", None), ("POST", "/v1/operator/end-of-day", None),
     ("POST", "/v1/operator/open-day", {"cut_off": "2030-01-01T00:00:00Z"}),
     ("POST", "/v1/operator/archive", {}),
     ("GET", "/v1/operator/configuration", None),
     ("PUT", "/v1/operator/queue-limit", {"limit": 1}),
     ("GET", "/v1/operator/calendar", None), ("DELETE", "/v1/operator/calendar", None),
     ("GET", "/v1/operator/liquidity/CNY", None),
     ("PUT", "/v1/operator/calendar",
      {"opens": "08:00", "cut_off": "18:00", "time_zone": "UTC"}),
     ("PUT", f"/v1/operator/fx/providers/{DEBTOR}", {"pairs": None}),
     ("DELETE", f"/v1/operator/fx/providers/{OTHER}", None),
     ("PUT", "/v1/operator/fx/corridors/CNY/RUB", {"vehicle_allowed": True}),
     ("PUT", "/v1/operator/cut-offs/CNY", {"cut_off": "2030-01-01T00:00:00Z"}),
     ("PUT", "/v1/operator/credit", {"bic": DEBTOR, "currency": "CNY", "limit": "5.00"}),
     ("POST", "/v1/operator/admissions/1/approve", None),
     ("GET", "/v1/operator/status-changes", None),
     ("POST", "/v1/operator/status-changes/1/approve", None),
     ("DELETE", f"/v1/operator/keys/{OTHER}", None),
     ("PUT", f"/v1/operator/keys/{OTHER}", {"public_key": "AAAA", "proof": "AAAA"}),
     ("DELETE", f"/v1/operator/keys/{CENTRAL_BANK_RU}", None),
     ("DELETE", f"/v1/operator/keys/{OPERATOR_ID}", None),
     ("GET", "/v1/operator/key-changes", None),
     ("POST", "/v1/operator/key-changes/1/approve", None)],
)  # fmt: skip
def test_a_participant_key_opens_no_operator_or_central_bank_route(hub, method, path, body):
    service, api = hub
    before = _state(service, api, DEBTOR, OTHER)
    _refused(api.request(method, path, DEBTOR, body), 403, "forbidden", KEY_HEADER)
    assert _state(service, api, DEBTOR, OTHER) == before


def test_a_central_bank_acts_for_its_own_currency_and_country_only(service, own):
    before = _state(service, own, DEBTOR)
    credit = {"bic": DEBTOR, "currency": "CNY", "limit": "5.00"}
    _refused(own.request("PUT", "/v1/operator/credit", CENTRAL_BANK_RU, credit), 403, "AGNT",
             "currency")  # fmt: skip
    admission = {"bic": "HSTLCN22", "name": "Hostile", "country": "CN", "kind": "direct",
                 "currency": "CNY"}  # fmt: skip
    proposed = own.request("POST", "/v1/operator/admissions", OPERATOR_ID, admission).json()
    response = own.request("POST", f"/v1/operator/admissions/{proposed['id']}/approve",
                           CENTRAL_BANK_RU)  # fmt: skip
    assert response.status_code == 403 and _error(response)["field"] == "proposal"
    listed = own.request("GET", "/v1/operator/admissions", OPERATOR_ID).json()["admissions"]
    assert [a["approved"] for a in listed] == [[]]
    after = _state(service, own, DEBTOR)
    assert after["accounts"] == before["accounts"]


def test_a_signer_with_too_many_requests_under_way_gets_429_and_the_others_go_on(service, own):
    """One bank flooding the service: beyond its requests under way it is answered 429 at
    once, while another bank's requests still reach the hub; once its requests are
    answered it may send again."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    service.app.in_flight_max = 2
    held = threading.Event()
    blocking = service.engine.call(lambda _engine, _now: held.wait(30))  # the hub is busy
    with ThreadPoolExecutor(4) as pool:
        waiting = [pool.submit(own.pay) for _ in range(2)]  # DEBTOR's two, queued
        deadline = time.monotonic() + 10
        while service.app._in_flight.get(DEBTOR, 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = own.request("GET", "/v1/accounts", DEBTOR)
        other = pool.submit(own.request, "GET", "/v1/accounts", CREDITOR)  # queued too
        time.sleep(0.2)
        # Not refused: waiting for the hub like DEBTOR's two (if not, say what it got).
        assert not other.done(), (other.result().status_code, other.result().text[:300])
        held.set()
        blocking.result(30)
        answers = [w.result(30)[1] for w in waiting]
        assert other.result(30).status_code == 200
    error = _refused(refused, 429, "too_many_requests", KEY_HEADER)
    assert DEBTOR in error["message"]
    assert [a.status_code for a in answers] == [200, 200]
    assert service.app._in_flight == {}  # every request counted out
    assert own.request("GET", "/v1/accounts", DEBTOR).status_code == 200


# 10**18 CNY less a fen: the largest amount an ISO 20022 message can carry, and the API.
LARGEST_AMOUNT = "999999999999999999.99"


@pytest.mark.parametrize(
    ("method", "path", "key", "body", "field"),
    [
        ("POST", "/v1/payments", DEBTOR, new_payment(amount="1000000000000000000.00"), "amount"),
        ("POST", "/v1/liquidity", DEBTOR,
         {"currency": "CNY", "amount": "1" + "0" * 18, "direction": "in"}, "amount"),
        ("PUT", "/v1/operator/credit", CENTRAL_BANK_CN,
         {"bic": OTHER, "currency": "CNY", "limit": "3402823669209384634633746074317682114.55"},
         "limit"),
        ("POST", "/v1/fx/quotes", DEBTOR,
         {"source": "CNY", "destination": "RUB", "send_amount": "12345678901234567890"},
         "send_amount"),
    ],
)  # fmt: skip
def test_an_amount_of_18_digits_or_more_before_the_point_is_am02(hub, method, path, key, body,
                                                                 field):  # fmt: skip
    _, api = hub
    answer = api.request(method, path, key, body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == field and "(AM02)" in error["message"], error


def test_the_largest_amounts_pay_back_and_forth_without_overflowing_the_ledger(own):
    """Two amounts near the ledger's 128-bit bound overflowed an account's credits posted: the
    engine settled the payment back, the ledger refused it (a 500, a payment reported settled
    that never posted). At the API's bound they settle like any other."""

    def balances() -> dict[str, int]:
        return {
            bic: next(int(a["balance"].replace(".", ""))
                      for a in own.request("GET", "/v1/accounts", bic).json()["accounts"]
                      if a["currency"] == "CNY")
            for bic in (DEBTOR, CREDITOR)
        }  # fmt: skip

    liquidity = {"currency": "CNY", "amount": LARGEST_AMOUNT, "direction": "in"}
    assert own.request("POST", "/v1/liquidity", DEBTOR, liquidity).status_code == 200
    before = balances()
    for key, debtor, creditor in ((DEBTOR, DEBTOR, CREDITOR), (CREDITOR, CREDITOR, DEBTOR)):
        payment, answer = own.pay(key=key, debtor_agent=debtor, creditor_agent=creditor,
                                  amount=LARGEST_AMOUNT)  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "ACSC", answer.text
        tracked = own.request("GET", f"/v1/payments/{payment['uetr']}", key).json()
        assert tracked["status"] == "settled"
    assert balances() == before
