"""Cross-currency routes: tiers, quotes, payments citing them, and every refusal's code."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from samarkand.service.server import open_service
from tests.iso20022.iso_builders import fx_pacs008
from tests.service.conftest import (
    CENTRAL_BANK_CN,
    CREDITOR,
    DEBTOR,
    OTHER,
    signed_client,
    wait_until,
)

PROVIDER = OTHER  # a Chinese direct bank with accounts in every currency of the hub
SECOND = "SMAAIN22"  # an Indian direct bank


def _until(hours: int = 2) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def _tier(sell: str, buy: str, rate: str, **fields) -> dict:
    return {
        "sell": sell, "buy": buy, "min_amount": "0.01", "max_amount": "1000000.00",
        "rate": rate, "liquidity": "50000000.00", "valid_until": _until(),
    } | fields  # fmt: skip


def _post(api, *tiers: dict, key: str = PROVIDER):
    return api.request("POST", "/v1/fx/tiers", key, {"tiers": list(tiers)})


def _quote(api, key: str = DEBTOR, **fields):
    body = {"source": "CNY", "destination": "RUB", "send_amount": "100.00"} | fields
    return api.request("POST", "/v1/fx/quotes", key, body)


def _pay(api, quote_id: int, key: str = DEBTOR, **fields):
    body = {"uetr": str(uuid.uuid4()), "debtor_agent": DEBTOR, "creditor_agent": CREDITOR,
            "quote_id": quote_id} | fields  # fmt: skip
    return body, api.request("POST", "/v1/fx/payments", key, body)


def _balances(api, bic: str) -> dict[str, str]:
    accounts = api.request("GET", "/v1/accounts", bic).json()["accounts"]
    return {a["currency"]: a["balance"] for a in accounts}


@pytest.fixture
def fx(api):
    assert _post(api, _tier("CNY", "RUB", "12.5")).json() == {
        "results": [{"status": "posted", "reason": None}]
    }
    return api


def test_a_quote_names_every_hop_and_a_payment_citing_it_settles(fx):
    quote = _quote(fx).json()
    assert quote["send_amount"] == "100.00" and quote["deliver_amount"] == "1250.00"
    assert quote["effective_rate"] == "12.5" and quote["id"] >= 1
    assert quote["hops"] == [
        {
            "provider": PROVIDER,
            "sell": "CNY",
            "buy": "RUB",
            "sell_amount": "100.00",
            "buy_amount": "1250.00",
            "rate": "12.5",
        }
    ]
    assert quote["expires"] > quote["created"]
    assert fx.request("GET", f"/v1/fx/quotes/{quote['id']}", DEBTOR).json() == quote
    before = _balances(fx, CREDITOR)["RUB"]
    payment, response = _pay(fx, quote["id"])
    assert response.json() == {"uetr": payment["uetr"], "status": "ACSC", "reason": None}
    assert float(_balances(fx, CREDITOR)["RUB"]) - float(before) == 1250.0
    tracked = fx.request("GET", f"/v1/payments/{payment['uetr']}", DEBTOR).json()
    assert tracked["status"] == "settled" and tracked["currency"] == "CNY"


def test_deliver_amount_quotes_the_amount_to_send(fx):
    quote = _quote(fx, send_amount=None, deliver_amount="2500.00").json()
    assert quote["deliver_amount"] == "2500.00" and quote["send_amount"] == "200.00"


def test_a_route_through_a_third_national_currency(fx):
    assert _post(fx, _tier("RUB", "INR", "1.28"), key=SECOND).json()["results"][0]["status"] == (
        "posted"
    )
    quote = _quote(fx, destination="INR").json()
    assert [(h["provider"], h["sell"], h["buy"]) for h in quote["hops"]] == [
        (PROVIDER, "CNY", "RUB"), (SECOND, "RUB", "INR"),
    ]  # fmt: skip
    assert quote["deliver_amount"] == "1600.00" and quote["effective_rate"] == "16"


def test_a_quote_used_twice_is_dupl_and_another_participants_is_agnt(fx):
    quote = _quote(fx).json()
    assert _pay(fx, quote["id"])[1].json()["status"] == "ACSC"
    _, again = _pay(fx, quote["id"])
    assert again.status_code == 200
    assert again.json()["status"] == "RJCT" and again.json()["reason"]["code"] == "DUPL"
    theirs = _quote(fx, key=SECOND).json()
    _, foreign = _pay(fx, theirs["id"])
    assert foreign.json()["reason"]["code"] == "AGNT"
    # ... and the quote stays the other participant's and unused: it pays with it.
    _, own = _pay(fx, theirs["id"], key=SECOND, debtor_agent=SECOND)
    assert own.json()["status"] == "ACSC"
    # A participant sees only its own quotes.
    assert fx.request("GET", f"/v1/fx/quotes/{quote['id']}", SECOND).status_code == 404
    unknown = _pay(fx, 99_999)[1].json()
    assert unknown["status"] == "RJCT" and unknown["reason"]["code"] == "CH16"


def test_unknown_pair_and_bad_quote_requests_are_refused_with_their_code(fx):
    no_route = _quote(fx, source="RUB", destination="CNY")  # nobody sells RUB for CNY
    assert no_route.status_code == 422 and no_route.json()["error"]["code"] == "AM03"
    same = _quote(fx, destination="CNY")
    assert same.json()["error"]["code"] == "AM03"
    foreign = _quote(fx, destination="EUR")  # not a currency of the hub
    assert foreign.json()["error"]["code"] == "AM03"
    too_big = _quote(fx, send_amount="2000000.00")  # beyond every tier's band
    assert too_big.json()["error"]["code"] == "AM02"
    both = _quote(fx, deliver_amount="1.00")
    assert both.status_code == 422 and "exactly one" in both.json()["error"]["message"]
    decimals = _quote(fx, send_amount="1.001")
    assert decimals.status_code == 422 and decimals.json()["error"]["field"] == "send_amount"
    # Quotes and tiers are participants' routes.
    assert _quote(fx, key=CENTRAL_BANK_CN).status_code == 403


def test_tier_refusals_carry_their_code(fx):
    results = _post(
        fx,
        _tier("CNY", "CNY", "1"),  # same currency
        _tier("CNY", "RUB", "12.5", min_amount="10.00", max_amount="1.00"),  # band inverted
        _tier("CNY", "RUB", "13"),  # replaces the first tier's rate
    ).json()["results"]
    assert [r["status"] for r in results] == ["RJCT", "RJCT", "posted"]
    assert [r["reason"]["code"] for r in results[:2]] == ["AM03", "CH16"]
    assert _quote(fx).json()["deliver_amount"] == "1300.00"
    bad_rate = _post(fx, _tier("CNY", "RUB", "1.12345678901"))
    assert bad_rate.status_code == 422 and bad_rate.json()["error"]["field"] == "tiers.0.rate"
    naive = _post(fx, _tier("CNY", "RUB", "1", valid_until="2030-01-01T00:00:00"))
    assert naive.status_code == 422 and naive.json()["error"]["field"] == "tiers.0.valid_until"
    by_central_bank = _post(fx, _tier("CNY", "RUB", "1"), key=CENTRAL_BANK_CN)
    assert by_central_bank.status_code == 403


def test_an_expired_quote_is_tm01_and_pays_nothing(tmp_path):
    offset = [0]
    service = open_service(str(tmp_path / "hub.db"), clock=lambda: time.time_ns() + offset[0])
    try:
        with signed_client(service) as api:
            assert _post(api, _tier("CNY", "RUB", "12.5")).status_code == 200
            quote = _quote(api, ttl_seconds=5).json()
            before = _balances(api, DEBTOR)
            offset[0] = 10 * 10**9  # ten seconds later on the hub's clock
            _, late = _pay(api, quote["id"])
            assert late.json()["status"] == "RJCT" and late.json()["reason"]["code"] == "TM01"
            assert _balances(api, DEBTOR) == before
    finally:
        service.close()


def test_a_queued_payment_whose_rates_end_is_rejected_by_the_hubs_clock(tmp_path):
    """Nothing is asked of the service meanwhile: its own clock rejects the payment when the
    quoted rates stop standing, and liquidity that comes later pays nothing at them."""
    offset = [0]
    service = open_service(str(tmp_path / "hub.db"), clock=lambda: time.time_ns() + offset[0])
    try:
        with signed_client(service) as api:
            valid_until = (datetime.now(UTC) + timedelta(seconds=60)).isoformat()
            posted = _post(api, _tier("CNY", "RUB", "12.5", valid_until=valid_until))
            assert posted.status_code == 200
            cny = _balances(api, DEBTOR)["CNY"]
            drained = {"currency": "CNY", "amount": cny, "direction": "out"}
            assert api.request("POST", "/v1/liquidity", DEBTOR, drained).status_code == 200
            quote = _quote(api).json()
            payment, answer = _pay(api, quote["id"])
            assert answer.json()["status"] == "ACSP"  # its CNY leg is not covered: queued
            queued = api.request("GET", "/v1/queue", DEBTOR).json()["queued"]
            rows = [(q["uetr"], q["currency"], q["place"], q["cross_currency"]) for q in queued]
            assert rows == [(payment["uetr"], "CNY", 1, True)]
            tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
            early = api.request("POST", "/v1/operator/open-day", "OPERATOR", {"cut_off": tomorrow})
            assert early.status_code == 409 and "still queued" in early.text  # not a 500
            track = f"/v1/payments/{payment['uetr']}"
            offset[0] = 120 * 10**9  # two minutes later on the hub's clock, no request
            wait_until(lambda: api.request("GET", track, DEBTOR).json()["status"] != "queued",
                       "the hub's clock never ran")  # fmt: skip
            last = api.request("GET", track, DEBTOR).json()["events"][-1]
            assert last["status"] == "rejected" and last["reason"]["code"] == "AB03"
            assert service.engine.stats.ticks >= 1
            rub = _balances(api, CREDITOR)["RUB"]
            funded = {"currency": "CNY", "amount": cny, "direction": "in"}
            assert api.request("POST", "/v1/liquidity", DEBTOR, funded).status_code == 200
            assert api.request("GET", track, DEBTOR).json()["status"] == "rejected"
            assert _balances(api, CREDITOR)["RUB"] == rub  # too late: nothing moved for it
    finally:
        service.close()


def test_quotes_and_payments_survive_a_restart(tmp_path):
    db = str(tmp_path / "hub.db")
    service = open_service(db)
    try:
        with signed_client(service) as api:
            _post(api, _tier("CNY", "RUB", "12.5"))
            used = _quote(api).json()
            assert _pay(api, used["id"])[1].json()["status"] == "ACSC"
            fresh = _quote(api).json()
    finally:
        service.close()
    reopened = open_service(db)
    try:
        with signed_client(reopened) as api:
            assert _pay(api, used["id"])[1].json()["reason"]["code"] == "DUPL"
            assert api.request("GET", f"/v1/fx/quotes/{fresh['id']}", DEBTOR).json() == fresh
            assert _pay(api, fresh["id"])[1].json()["status"] == "ACSC"
    finally:
        reopened.close()


def _fx_message(
    quote: dict, *, debtor: str = DEBTOR, msg_id: str = "FXM-1", rate: str | None = None
) -> bytes:
    transaction = {
        "uetr": str(uuid.uuid4()),
        "debtor": debtor + "XXX",
        "creditor": CREDITOR + "XXX",
        "settled": (quote["deliver_amount"], "RUB"),
        "instructed": (quote["send_amount"], "CNY"),
        "quote": f"/FXQT/{quote['id']}",
    } | ({} if rate is None else {"rate": rate})
    return fx_pacs008([transaction], msg_id=msg_id)


def _tx_statuses(response) -> list[tuple[str, str | None]]:
    root = etree.fromstring(response.content)
    out = []
    for status in root.iter("{*}TxInfAndSts"):
        code = status.find("{*}StsRsnInf/{*}Rsn/{*}Cd")
        out.append((status.findtext("{*}TxSts"), None if code is None else code.text))
    return out


def test_a_cross_currency_pacs008_over_http_redeems_the_senders_quote(fx):
    quote = _quote(fx).json()
    before = _balances(fx, CREDITOR)["RUB"]
    first = fx.request("POST", "/v1/messages", DEBTOR, _fx_message(quote),
                       content_type="application/xml")  # fmt: skip
    assert first.status_code == 200 and _tx_statuses(first) == [("ACSC", None)]
    assert float(_balances(fx, CREDITOR)["RUB"]) - float(before) == 1250.0
    # The same quote in a new message: used once already.
    again = fx.request("POST", "/v1/messages", DEBTOR, _fx_message(quote, msg_id="FXM-2"),
                       content_type="application/xml")  # fmt: skip
    assert _tx_statuses(again) == [("RJCT", "DUPL")]


def test_a_cross_currency_pacs008_for_another_debtor_agent_is_refused(fx):
    quote = _quote(fx).json()
    response = fx.request("POST", "/v1/messages", SECOND, _fx_message(quote),
                          content_type="application/xml")  # fmt: skip
    # SECOND sends it (no AppHdr): the debtor agent is not SECOND's, so it never reaches the hub.
    assert response.status_code == 200 and _tx_statuses(response) == [("RJCT", "AGNT")]
    # The quote was not burned: its owner can still use it.
    used = fx.request("POST", "/v1/messages", DEBTOR, _fx_message(quote, msg_id="FXM-3"),
                      content_type="application/xml")  # fmt: skip
    assert _tx_statuses(used) == [("ACSC", None)]


@pytest.mark.parametrize(
    ("rate", "send", "deliver", "effective"),
    [("3.2", "0.06", "0.19", "3.1666666667"),  # 19/6
     ("81.4", "0.03", "2.44", "81.333333333")],  # 244/3: 11 digits in all
)  # fmt: skip
def test_a_quotes_rate_is_the_xchg_rate_a_message_citing_it_may_give(
    api, rate, send, deliver, effective
):
    # The effective rate was cut, not rounded (3.1666666666: refused AM09 when copied into a
    # pacs.008), and one of 10 or more had 12 digits, too many for a BaseOneRate.
    assert _post(api, _tier("CNY", "RUB", rate)).json()["results"][0]["status"] == "posted"
    quote = _quote(api, send_amount=send).json()
    assert (quote["deliver_amount"], quote["effective_rate"]) == (deliver, effective)
    response = api.request(
        "POST", "/v1/messages", DEBTOR, _fx_message(quote, rate=effective),
        content_type="application/xml",
    )  # fmt: skip
    assert _tx_statuses(response) == [("ACSC", None)]


def test_a_statement_names_a_cross_currency_payments_legs_by_its_uetr(fx):
    # The legs were listed as "transfer N" in the camt.053, by their UETR in the camt.054.
    quote = _quote(fx).json()
    payment, answer = _pay(fx, quote["id"])
    assert answer.json()["status"] == "ACSC"
    today = time.strftime("%Y-%m-%d", time.gmtime())
    for bank, currency in (
        (DEBTOR, "CNY"),
        (CREDITOR, "RUB"),
        (PROVIDER, "CNY"),
        (PROVIDER, "RUB"),
    ):
        statement = fx.request("GET", f"/v1/statements/{currency}?date={today}", bank)
        assert statement.status_code == 200, statement.text
        uetrs = [e.text for e in etree.fromstring(statement.content).iter("{*}UETR")]
        assert payment["uetr"] in uetrs, (bank, currency)


def test_a_quote_never_routes_through_a_suspended_provider(fx):
    """A suspended provider's tiers stand (its suspension may be lifted), but a payment
    through it is refused AG01: a quote priced on them could never be paid, and, its rate
    being the best, kept every other provider's route on the pair from being quoted."""
    assert _post(fx, _tier("CNY", "RUB", "12.0"), key=SECOND).json()["results"][0]["status"] == (
        "posted"
    )
    assert _post(fx, _tier("CNY", "INR", "11.5")).json()["results"][0]["status"] == "posted"
    suspend = fx.request("POST", f"/v1/operator/participants/{PROVIDER}/suspend", "OPERATOR")
    assert suspend.status_code == 200, suspend.text
    quote = _quote(fx).json()
    assert [h["provider"] for h in quote["hops"]] == [SECOND]
    assert quote["deliver_amount"] == "1200.00"
    assert _pay(fx, quote["id"])[1].json()["status"] == "ACSC"
    # Its only provider suspended, a pair has no route; reinstated, it quotes again.
    only = _quote(fx, destination="INR")
    assert only.status_code == 422 and only.json()["error"]["code"] == "AM03"
    back = fx.request("POST", f"/v1/operator/participants/{PROVIDER}/unsuspend", "OPERATOR")
    assert back.status_code == 200, back.text
    assert [h["provider"] for h in _quote(fx).json()["hops"]] == [PROVIDER]
