"""The operator's settings over HTTP: the register of FX providers, vehicle corridors, one
currency's cut-off, the queue limit and the configuration view. Operator role only; every
bad input a 4xx naming the field, changing nothing; the settings survive a restart."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from samarkand.service.server import open_service
from tests.service.conftest import (
    CENTRAL_BANK_CN,
    CREDITOR,
    DEBTOR,
    OTHER,
    served,
    signed_client,
    wait_until,
)

OPERATOR = "OPERATOR"
PROVIDER = OTHER  # a Chinese direct bank: on the dev hub's register, like every direct bank
SECOND = "SMAAIN22"  # an Indian direct bank

SETTINGS = [
    ("PUT", f"/v1/operator/fx/providers/{PROVIDER}", {"pairs": ["CNY/RUB"]}),
    ("DELETE", f"/v1/operator/fx/providers/{PROVIDER}", None),
    ("PUT", "/v1/operator/fx/corridors/CNY/RUB", {"vehicle_allowed": True}),
    ("PUT", "/v1/operator/cut-offs/CNY", {"cut_off": "2099-01-01T00:00:00Z"}),
    ("PUT", "/v1/operator/queue-limit", {"limit": 5}),
    ("GET", "/v1/operator/configuration", None),
]


def _until(hours: int = 2) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def _tier(sell: str, buy: str, rate: str) -> dict:
    return {
        "sell": sell, "buy": buy, "min_amount": "0.01", "max_amount": "1000000.00",
        "rate": rate, "liquidity": "50000000.00", "valid_until": _until(),
    }  # fmt: skip


def _post(api, *tiers: dict, key: str = PROVIDER) -> list:
    response = api.request("POST", "/v1/fx/tiers", key, {"tiers": list(tiers)})
    assert response.status_code == 200
    return [r["reason"]["code"] if r["reason"] else r["status"] for r in response.json()["results"]]


def _quote(api, source: str = "CNY", destination: str = "RUB"):
    body = {"source": source, "destination": destination, "send_amount": "100.00"}
    return api.request("POST", "/v1/fx/quotes", DEBTOR, body)


def _configuration(api) -> dict:
    response = api.request("GET", "/v1/operator/configuration", OPERATOR)
    assert response.status_code == 200
    return response.json()


def _provider(api, bic: str) -> dict | None:
    found = [p for p in _configuration(api)["fx"]["providers"] if p["bic"] == bic]
    return found[0] if found else None


@pytest.mark.parametrize("key", [DEBTOR, CENTRAL_BANK_CN])
def test_every_settings_route_needs_the_operator(api, key):
    before = _configuration(api)
    for method, path, body in SETTINGS:
        response = api.request(method, path, key, body)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["code"] == "forbidden"
    assert _configuration(api) == before


def test_the_dev_hub_has_a_register_with_every_direct_bank(api):
    fx = _configuration(api)["fx"]
    assert fx["provider_policy"] == "register"
    assert {p["bic"] for p in fx["providers"]} >= {DEBTOR, CREDITOR, PROVIDER, SECOND}
    assert all(p["pairs"] is None and p["tiers"] == 0 for p in fx["providers"])
    assert CENTRAL_BANK_CN not in {p["bic"] for p in fx["providers"]}
    assert fx["vehicle_currencies"] == ["EUR", "USD"] and fx["vehicle_corridors"] == []


def test_deregistered_provider_loses_its_tiers_and_its_quotes_still_bind(api):
    assert _post(api, _tier("CNY", "RUB", "12.5")) == ["posted"]
    assert _provider(api, PROVIDER)["tiers"] == 1
    issued = _quote(api).json()
    gone = api.request("DELETE", f"/v1/operator/fx/providers/{PROVIDER}", OPERATOR)
    assert gone.json() == {"bic": PROVIDER, "withdrawn_tiers": 1}
    assert _provider(api, PROVIDER) is None
    assert _quote(api).json()["error"]["code"] == "AM03"  # no route any more
    assert _post(api, _tier("CNY", "RUB", "12.5")) == ["AG01"]
    # The quote issued before binds a payment until it expires.
    body = {"uetr": str(uuid.uuid4()), "debtor_agent": DEBTOR, "creditor_agent": CREDITOR,
            "quote_id": issued["id"]}  # fmt: skip
    paid = api.request("POST", "/v1/fx/payments", DEBTOR, body)
    assert paid.json()["status"] == "ACSC"
    again = api.request("DELETE", f"/v1/operator/fx/providers/{PROVIDER}", OPERATOR)
    assert again.status_code == 404 and again.json()["error"]["field"] == "bic"


def test_a_provider_registered_on_a_pair_posts_on_that_pair_both_ways_only(api):
    assert _post(api, _tier("CNY", "INR", "11.9"), _tier("CNY", "RUB", "12.5")) == ["posted"] * 2
    registered = api.request(
        "PUT", f"/v1/operator/fx/providers/{PROVIDER}", OPERATOR, {"pairs": ["RUB/CNY"]}
    )
    assert registered.json() == {"bic": PROVIDER, "pairs": ["CNY/RUB"], "withdrawn_tiers": 1}
    assert _provider(api, PROVIDER) == {"bic": PROVIDER, "pairs": ["CNY/RUB"], "tiers": 1}
    assert _post(api, _tier("RUB", "CNY", "0.08"), _tier("CNY", "INR", "11.9")) == [
        "posted",
        "AG01",
    ]
    assert _quote(api, destination="INR").json()["error"]["code"] == "AM03"


def test_register_refusals_name_the_field_and_change_nothing(api):
    before = _configuration(api)
    path = f"/v1/operator/fx/providers/{PROVIDER}"
    cases = [
        ("/v1/operator/fx/providers/SMZZCN22", {"pairs": None}, 404, "not_found", "bic"),
        (f"/v1/operator/fx/providers/{CENTRAL_BANK_CN}", {}, 422, "AG01", "bic"),
        (path, {"pairs": ["CNY/CNY"]}, 422, "AM03", "pairs"),
        (path, {"pairs": ["CNY/EUR"]}, 422, "AM03", "pairs"),
        (path, {"pairs": ["CNYRUB"]}, 422, "invalid", "pairs.0"),
        (path, {"pairs": []}, 422, "invalid", "pairs"),
        (path, {"pairs": None, "extra": 1}, 422, "invalid", "extra"),
    ]
    for route, body, status, code, field in cases:
        response = api.request("PUT", route, OPERATOR, body)
        assert response.status_code == status, (body, response.text)
        assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (
            code,
            field,
        )
    assert _configuration(api) == before


def test_a_corridor_is_allowed_and_forbidden_again(api):
    path = "/v1/operator/fx/corridors/CNY/RUB"
    allowed = api.request("PUT", path, OPERATOR, {"vehicle_allowed": True}).json()
    assert allowed == {"source": "CNY", "destination": "RUB", "vehicle_allowed": True,
                       "changed": True}  # fmt: skip
    again = api.request("PUT", path, OPERATOR, {"vehicle_allowed": True}).json()
    assert again["changed"] is False
    assert _configuration(api)["fx"]["vehicle_corridors"] == [
        {"source": "CNY", "destination": "RUB"}
    ]
    api.request("PUT", path, OPERATOR, {"vehicle_allowed": False})
    assert _configuration(api)["fx"]["vehicle_corridors"] == []
    for bad, field in (
        ("CNY/EUR", "destination"),
        ("EUR/CNY", "source"),
        ("CNY/CNY", "destination"),
    ):
        refused = api.request(
            "PUT", f"/v1/operator/fx/corridors/{bad}", OPERATOR, {"vehicle_allowed": True}
        )
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "AM03"
        assert refused.json()["error"]["field"] == field
    missing = api.request("PUT", path, OPERATOR, {})
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "vehicle_allowed"


def test_a_cut_off_moved_earlier_refuses_later_payments_tm01(tmp_path):
    offset = [0]
    service = open_service(str(tmp_path / "hub.db"), clock=lambda: time.time_ns() + offset[0])
    try:
        with signed_client(service) as api:
            cut_off = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
            moved = api.request(
                "PUT", "/v1/operator/cut-offs/CNY", OPERATOR, {"cut_off": cut_off.isoformat()}
            )
            shown_as = cut_off.strftime("%Y-%m-%dT%H:%M:%SZ")
            assert moved.json() == {"currency": "CNY", "cut_off": shown_as}
            shown = {c["currency"]: c["cut_off"] for c in _configuration(api)["currencies"]}
            assert shown["CNY"] == moved.json()["cut_off"] and shown["RUB"] != shown["CNY"]
            assert api.pay()[1].json()["status"] == "ACSC"
            offset[0] = 2 * 60 * 10**9  # two minutes later on the hub's clock
            late = api.pay()[1].json()
            assert late["status"] == "RJCT" and late["reason"]["code"] == "TM01"
            rub = api.pay(amount="1.00", currency="RUB")[1].json()
            assert rub["status"] == "ACSC"
    finally:
        service.close()


def test_a_currencys_day_closes_at_its_cut_off_on_the_hubs_clock_and_outlives_a_restart(
    tmp_path,
):
    offset = [0]
    db = str(tmp_path / "hub.db")
    clock = lambda: time.time_ns() + offset[0]  # noqa: E731
    with served(db, clock=clock) as (service, api):
        cut_off = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
        body = {"cut_off": cut_off.isoformat()}
        assert api.request("PUT", "/v1/operator/cut-offs/CNY", OPERATOR, body).status_code == 200
        payment, answer = api.pay(amount="99999999999999.00")  # beyond the debtor's liquidity
        assert answer.json()["status"] == "ACSP"
        path = f"/v1/payments/{payment['uetr']}"
        rub, answer = api.pay(amount="99999999999999.00", currency="RUB")
        assert answer.json()["status"] == "ACSP"
        offset[0] = 2 * 60 * 10**9  # past the cut-off on the hub's clock; nothing is asked
        wait_until(lambda: api.request("GET", path, DEBTOR).json()["status"] != "queued",
                   "the day of CNY never closed at its cut-off")  # fmt: skip
        track = api.request("GET", path, DEBTOR).json()
        assert track["status"] == "rejected" and track["events"][-1]["reason"]["code"] == "AB03"
        rub_path = f"/v1/payments/{rub['uetr']}"
        assert api.request("GET", rub_path, DEBTOR).json()["status"] == "queued"  # RUB goes on
        closed = {c["currency"]: c["day_closed"] for c in _configuration(api)["currencies"]}
        assert closed["CNY"] is True and closed["RUB"] is False
        status = api.request("GET", "/v1/operator/status", OPERATOR).json()
        assert status["engine"]["day_closes"] == 1
        audit = api.request("GET", "/v1/operator/audit", OPERATOR).json()["entries"]
        closes = [e for e in audit if e["op"] == "close_currency"]
        assert [(e["arguments"]["currency"], e["by"]) for e in closes] == [("CNY", None)]
        late = api.pay()[1].json()
        assert late["status"] == "RJCT" and late["reason"]["code"] == "TM01"
    with served(db, clock=clock) as (reopened, api):
        assert reopened.engine.durable.hub.engine.closed == {"CNY"}  # replayed, not again
        assert reopened.engine.stats.day_closes == 0
        assert api.request("GET", rub_path, DEBTOR).json()["status"] == "queued"


def test_cut_off_refusals(api):
    before = _configuration(api)
    now = datetime.now(UTC)
    cases = [
        ("CNY", {"cut_off": (now - timedelta(minutes=1)).isoformat()}, 409, "cut_off"),
        ("CNY", {"cut_off": (now + timedelta(hours=25)).isoformat()}, 409, "cut_off"),
        ("CNY", {"cut_off": "2099-01-01T00:00:00"}, 422, "cut_off"),  # no zone
        ("EUR", {"cut_off": (now + timedelta(hours=1)).isoformat()}, 422, "currency"),
        ("CNY", {"cut_off": "noon"}, 422, "cut_off"),
    ]
    for currency, body, status, field in cases:
        response = api.request("PUT", f"/v1/operator/cut-offs/{currency}", OPERATOR, body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["field"] == field
    assert _configuration(api) == before


def test_the_queue_limit_is_set_and_bounded(api):
    assert _configuration(api)["queue_limit"] == 1_000_000
    for bad in (0, -1, 10**12, "many"):
        response = api.request("PUT", "/v1/operator/queue-limit", OPERATOR, {"limit": bad})
        assert response.status_code == 422 and response.json()["error"]["field"] == "limit"
    assert api.request("PUT", "/v1/operator/queue-limit", OPERATOR, {"limit": 3}).json() == {
        "limit": 3
    }
    assert _configuration(api)["queue_limit"] == 3


def test_the_settings_survive_a_restart(tmp_path):
    db = str(tmp_path / "hub.db")
    cut_off = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    service = open_service(db)
    try:
        with signed_client(service) as api:
            assert _post(api, _tier("CNY", "RUB", "12.5"), key=SECOND) == ["posted"]
            changes = [
                ("DELETE", f"/v1/operator/fx/providers/{PROVIDER}", None),
                ("PUT", f"/v1/operator/fx/providers/{SECOND}", {"pairs": ["INR/RUB"]}),
                ("PUT", "/v1/operator/fx/corridors/RUB/CNY", {"vehicle_allowed": True}),
                ("PUT", "/v1/operator/cut-offs/INR", {"cut_off": cut_off}),
                ("PUT", "/v1/operator/queue-limit", {"limit": 42}),
            ]
            for method, path, body in changes:
                assert api.request(method, path, OPERATOR, body).status_code == 200, path
            before = _configuration(api)
    finally:
        service.close()
    reopened = open_service(db)
    try:
        with signed_client(reopened) as api:
            after = _configuration(api)
            assert after == before
            assert after["queue_limit"] == 42
            assert _provider(api, PROVIDER) is None
            assert _provider(api, SECOND) == {"bic": SECOND, "pairs": ["INR/RUB"], "tiers": 0}
            assert _post(api, _tier("CNY", "RUB", "12.5")) == ["AG01"]
    finally:
        reopened.close()


def test_a_store_configured_before_the_register_stays_open(tmp_path):
    from samarkand.hub.durable import DurableHub
    from samarkand.service.server import DEV_DIRECT_BANKS, NS_PER_HOUR
    from samarkand.sim.day import DayConfig, build_directory

    db = str(tmp_path / "hub.db")
    now = time.time_ns()
    directory = build_directory(DayConfig(direct_banks=DEV_DIRECT_BANKS, indirect_per_direct=0))
    with DurableHub.open(db) as hub:  # configured as every hub was before the register
        hub.configure(directory, cut_off_ns=dict.fromkeys(directory.ledgers, now + NS_PER_HOUR))
        hub.open_accounts(now)
    service = open_service(db)
    try:
        with signed_client(service) as api:
            fx = _configuration(api)["fx"]
            assert fx["provider_policy"] == "open" and fx["providers"] == []
            assert _post(api, _tier("CNY", "RUB", "12.5")) == ["posted"]
            assert _post(api, _tier("RUB", "CNY", "0.08"), key=SECOND) == ["posted"]
            for method in ("PUT", "DELETE"):
                body = {"pairs": None} if method == "PUT" else None
                response = api.request(method, f"/v1/operator/fx/providers/{PROVIDER}", OPERATOR,
                                       body)  # fmt: skip
                assert response.status_code == 409, response.text
                assert "without a register" in response.json()["error"]["message"]
            assert _quote(api).json()["deliver_amount"] == "1250.00"
    finally:
        service.close()


def test_status_counts_what_the_hub_and_the_mailboxes_hold(api):
    """`GET /v1/operator/status`: counted when asked, so each count follows what was done."""
    before = api.request("GET", "/v1/operator/status", OPERATOR).json()
    assert before["hub"]["queued"] == {} and before["hub"]["payments"] == {}
    _, settled = api.pay()
    queued, waiting = api.pay(amount="99999999999999.00")  # beyond the debtor's liquidity
    assert (settled.json()["status"], waiting.json()["status"]) == ("ACSC", "ACSP")
    status = api.request("GET", "/v1/operator/status", OPERATOR)
    assert status.status_code == 200
    after = status.json()
    assert after["hub"]["payments"] == {"queued": 1, "settled": 1}
    assert after["hub"]["queued"] == {"CNY": 1}
    # Two submits, and a run of the liquidity-saving mechanisms on the queue that changed.
    assert after["engine"]["offsetting_runs"] == before["engine"]["offsetting_runs"] + 1
    assert after["hub"]["commands"] == before["hub"]["commands"] + 3
    assert after["engine"]["payment_requests"] == before["engine"]["payment_requests"] + 2
    assert after["engine"]["submit_commands"] == before["engine"]["submit_commands"] + 2
    assert (after["engine"]["hub_broken"], after["engine"]["hub_reopened"]) == (False, 0)
    assert after["engine"]["under_way"] == 0  # no message taken in turns is under way
    # The debtor was told of both (settled, queued), the creditor of the settled one.
    waiting_before = before["mailboxes"]["unacknowledged"]
    assert after["mailboxes"]["unacknowledged"][DEBTOR] == waiting_before.get(DEBTOR, 0) + 2
    assert after["mailboxes"]["unacknowledged"][CREDITOR] == waiting_before.get(CREDITOR, 0) + 1
    read = api.request("GET", "/v1/mailbox", CREDITOR).json()
    api.request("POST", "/v1/mailbox/ack", CREDITOR, {"upto": read["last"]})
    later = api.request("GET", "/v1/operator/status", OPERATOR).json()
    assert CREDITOR not in later["mailboxes"]["unacknowledged"]
    cancelled = api.request("POST", f"/v1/payments/{queued['uetr']}/cancel", DEBTOR)
    assert cancelled.status_code == 200
    last = api.request("GET", "/v1/operator/status", OPERATOR).json()
    assert last["hub"]["payments"] == {"cancelled": 1, "settled": 1}
    assert last["hub"]["queued"] == {}
    for key in (DEBTOR, CENTRAL_BANK_CN):
        refused = api.request("GET", "/v1/operator/status", key)
        assert refused.status_code == 403
