"""A participant's own queue: listed in the order its settlement account tries it, and
reordered by the participant (or by the operator on its decision), which decides what its
liquidity pays first. Another's payment is invisible; the new order is logged, audited and
outlives a restart."""

from __future__ import annotations

import uuid
from decimal import Decimal

from tests.service.conftest import CREDITOR, DEBTOR, OTHER, served

OPERATOR = "OPERATOR"
HUGE = "99999999999999.00"  # beyond any development bank's liquidity


def _queue(api, key: str = DEBTOR, query: str = "") -> list[dict]:
    response = api.request("GET", f"/v1/queue{query}", key)
    assert response.status_code == 200, response.text
    return response.json()["queued"]


def _order(api, key: str = DEBTOR, query: str = "") -> list[tuple[str, int]]:
    return [(row["uetr"], row["place"]) for row in _queue(api, key, query)]


def _change(api, uetr: str, field: str, value: str, key: str = DEBTOR, *, operator=False):
    """Reorder (`field` "to") or reprioritise (`field` "priority") a queued payment."""
    method, action = {"to": ("POST", "reorder"), "priority": ("PUT", "priority")}[field]
    path = "/v1/operator/payments" if operator else "/v1/payments"
    return api.request(method, f"{path}/{uetr}/{action}", key, {field: value})


def _reorder(api, uetr: str, to: str, key: str = DEBTOR, *, operator=False):
    return _change(api, uetr, "to", to, key, operator=operator)


def _prioritise(api, uetr: str, priority: str, key: str = DEBTOR, *, operator=False):
    return _change(api, uetr, "priority", priority, key, operator=operator)


def _audited(api, op: str, argument: str) -> list[tuple[str, object]]:
    """Who asked for each `op` in the audit trail, and its `argument`."""
    audit = api.request("GET", "/v1/operator/audit?limit=1000", OPERATOR).json()["entries"]
    return [(entry["by"], entry["arguments"][argument]) for entry in audit if entry["op"] == op]


def _all_refused(cases: list) -> None:
    """Each (response, HTTP status, ISO code or None, field or None) as told."""
    for response, status, code, field in cases:
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert code is None or error["code"] == code, error
        assert field is None or error["field"] == field, error


def test_a_participant_reorders_its_queue_and_decides_what_settles_first(tmp_path):
    db = str(tmp_path / "hub.db")
    with served(db) as (service, api):
        huge, answer = api.pay(amount=HUGE)
        assert answer.json()["status"] == "ACSP"
        later, answer = api.pay(amount=HUGE, priority="normal")
        assert answer.json()["status"] == "ACSP"
        small, answer = api.pay(amount="1.00")  # it would fit, but waits behind the others
        assert answer.json()["status"] == "ACSP"
        rub, answer = api.pay(amount=HUGE, currency="RUB")
        assert answer.json()["status"] == "ACSP"
        ids = [p["uetr"] for p in (huge, later, small)]
        assert _order(api, query="?currency=CNY") == [(ids[0], 1), (ids[1], 2), (ids[2], 3)]
        rows = _queue(api)
        assert [row["currency"] for row in rows] == ["CNY", "CNY", "CNY", "RUB"]
        assert rows[0] == {
            "uetr": ids[0], "debtor_agent": DEBTOR, "creditor_agent": CREDITOR, "amount": HUGE,
            "currency": "CNY", "priority": "normal", "place": 1, "cross_currency": False,
            "received": rows[0]["received"],
        }  # fmt: skip
        assert _queue(api, OTHER) == []  # another bank sees none of them
        moved = _reorder(api, ids[1], "front")
        assert moved.status_code == 200, moved.text
        assert moved.json() == {
            "uetr": ids[1],
            "status": "queued",
            "priority": "normal",
            "place": 1,
        }
        assert _order(api, query="?currency=CNY") == [(ids[1], 1), (ids[0], 2), (ids[2], 3)]
        moved = _reorder(api, ids[1], "back").json()
        assert moved == {"uetr": ids[1], "status": "queued", "priority": "normal", "place": 3}
        # The small payment to the front: the head is tried again, and it fits.
        settled = _reorder(api, ids[2], "front").json()
        assert settled == {"uetr": ids[2], "status": "settled", "priority": "normal", "place": None}
        assert api.request("GET", f"/v1/payments/{ids[2]}", DEBTOR).json()["status"] == "settled"
        assert _order(api, query="?currency=CNY") == [(ids[0], 1), (ids[1], 2)]
        # The operator moves one on its own decision; the audit trail names who asked.
        by_operator = _reorder(api, ids[1], "front", OPERATOR, operator=True)
        assert by_operator.json() == {
            "uetr": ids[1],
            "status": "queued",
            "priority": "normal",
            "place": 1,
        }
        listed = api.request("GET", "/v1/operator/queue", OPERATOR).json()["queued"]
        assert [(row["uetr"], row["place"]) for row in listed if row["currency"] == "CNY"] == [
            (ids[1], 1), (ids[0], 2)
        ]  # fmt: skip
        assert _audited(api, "reorder", "to_front") == [
            (DEBTOR, True), (DEBTOR, False), (DEBTOR, True), (OPERATOR, True)
        ]  # fmt: skip
        order = _order(api)
    with served(db) as (_, api):
        assert _order(api) == order  # replayed from the log


def _settled_and_queued(api) -> tuple[dict, dict]:
    """One of DEBTOR's payments settled, then one queued (beyond its liquidity)."""
    settled, answer = api.pay()
    assert answer.json()["status"] == "ACSC"
    queued, answer = api.pay(amount=HUGE)
    assert answer.json()["status"] == "ACSP"
    return settled, queued


def test_reordering_refuses_what_is_not_the_callers_queued_payment(api):
    settled, queued = _settled_and_queued(api)
    before = _order(api)
    cases = [
        (_reorder(api, queued["uetr"], "front", OTHER), 404, "NOOR", "uetr"),  # another's
        (_reorder(api, str(uuid.uuid4()), "front"), 404, "NOOR", "uetr"),  # unknown
        (_reorder(api, settled["uetr"], "front"), 409, None, "uetr"),  # not queued
        (_reorder(api, queued["uetr"], "middle"), 422, None, "to"),
        (api.request("POST", f"/v1/payments/{queued['uetr']}/reorder", DEBTOR, {}), 422, None,
         "to"),
        (api.request("POST", "/v1/payments/not-a-uetr/reorder", DEBTOR, {"to": "front"}), 422,
         None, "uetr"),
        (_reorder(api, queued["uetr"], "front", OPERATOR), 403, None, None),  # not a bank's
        (api.request("GET", "/v1/queue?currency=EUR", DEBTOR), 422, "AM03", "currency"),
        (api.request("GET", "/v1/queue?currency=cny", DEBTOR), 422, None, "currency"),
        (api.request("GET", "/v1/queue?limit=0", DEBTOR), 422, None, "limit"),
    ]  # fmt: skip
    _all_refused(cases)
    assert _order(api) == before


def test_a_waiting_payment_changes_priority_and_an_urgent_one_is_tried_first(tmp_path):
    db = str(tmp_path / "hub.db")
    with served(db) as (_, api):
        first, _ = api.pay(amount=HUGE)
        second, _ = api.pay(amount=HUGE)
        small, answer = api.pay(amount="1.00")
        assert answer.json()["status"] == "ACSP"  # behind the others, though it would fit
        ids = [p["uetr"] for p in (first, second, small)]
        urgent = _prioritise(api, ids[1], "urgent")
        assert urgent.status_code == 200, urgent.text
        assert urgent.json() == {"uetr": ids[1], "status": "queued", "priority": "urgent",
                                 "place": 1}  # fmt: skip
        rows = _queue(api, query="?currency=CNY")
        assert [(r["uetr"], r["priority"], r["place"]) for r in rows] == [
            (ids[1], "urgent", 1), (ids[0], "normal", 1), (ids[2], "normal", 2)
        ]  # fmt: skip
        back = _prioritise(api, ids[1], "normal").json()  # to the back of the normal class
        assert back == {"uetr": ids[1], "status": "queued", "priority": "normal", "place": 3}
        # Urgent, the small payment is tried before the normal ones: it fits and settles.
        settled = _prioritise(api, ids[2], "urgent").json()
        assert settled == {"uetr": ids[2], "status": "settled", "priority": "urgent",
                           "place": None}  # fmt: skip
        track = api.request("GET", f"/v1/payments/{ids[2]}", DEBTOR).json()
        assert [e["detail"] for e in track["events"] if e["status"] == "queued"][-1] == (
            "priority urgent"
        )
        by_operator = _prioritise(api, ids[0], "urgent", OPERATOR, operator=True)
        assert by_operator.json()["place"] == 1
        assert _audited(api, "priority", "priority") == [
            (DEBTOR, "0"), (DEBTOR, "1"), (DEBTOR, "0"), (OPERATOR, "0")
        ]  # fmt: skip
        order = _queue(api)
    with served(db) as (_, api):
        assert _queue(api) == order  # replayed from the log


def test_a_priority_change_refuses_what_is_not_the_callers_waiting_payment(api):
    settled, queued = _settled_and_queued(api)
    dns, answer = api.pay(method="dns")
    assert answer.json()["status"] == "ACSP"
    before = _queue(api)
    cases = [
        (_prioritise(api, queued["uetr"], "urgent", OTHER), 404, "NOOR", "uetr"),
        (_prioritise(api, str(uuid.uuid4()), "urgent"), 404, "NOOR", "uetr"),
        (_prioritise(api, settled["uetr"], "urgent"), 409, None, "uetr"),
        (_prioritise(api, dns["uetr"], "urgent"), 409, "NARR", "uetr"),  # no priority in DNS
        (_prioritise(api, queued["uetr"], "high"), 422, None, "priority"),
        (_prioritise(api, queued["uetr"], "urgent", OPERATOR), 403, None, None),
    ]  # fmt: skip
    _all_refused(cases)
    assert _queue(api) == before


def test_the_liquidity_view_shows_who_is_short_and_by_how_much(api):
    first, _ = api.pay(amount=HUGE)
    second, _ = api.pay(amount="1.00")  # queued behind the first
    view = api.request("GET", "/v1/operator/liquidity/CNY", OPERATOR)
    assert view.status_code == 200, view.text
    body = view.json()
    accounts = {a["currency"]: a for a in api.request("GET", "/v1/accounts", DEBTOR).json()[
        "accounts"]}  # fmt: skip
    available = Decimal(accounts["CNY"]["available"])
    queued_value = Decimal(HUGE) + Decimal("1.00")
    assert body["queued"] == 2 and Decimal(body["queued_value"]) == queued_value
    assert body["participants"][0] == {
        "bic": DEBTOR, "balance": accounts["CNY"]["balance"],
        "credit_line": accounts["CNY"]["credit_limit"], "available": accounts["CNY"]["available"],
        "queued": 2, "queued_value": f"{queued_value:.2f}",
        "shortfall": f"{queued_value - available:.2f}",
    }  # fmt: skip
    assert Decimal(body["shortfall"]) == queued_value - available
    assert len(body["participants"]) == 1  # only those with payments queued
    # Its currency's central bank sees it too, another's not; a bank not at all.
    assert api.request("GET", "/v1/operator/liquidity/CNY", "PBOCCNBJ").json() == body
    _all_refused([
        (api.request("GET", "/v1/operator/liquidity/CNY", "CBRFRUMM"), 403, "AGNT", "currency"),
        (api.request("GET", "/v1/operator/liquidity/CNY", DEBTOR), 403, None, None),
        (api.request("GET", "/v1/operator/liquidity/EUR", OPERATOR), 422, "AM03", "currency"),
        (api.request("GET", "/v1/operator/liquidity/cny", OPERATOR), 422, None, "currency"),
        (api.request("GET", "/v1/operator/liquidity/CNY?limit=0", OPERATOR), 422, None, "limit"),
    ])  # fmt: skip
    # Moving the small payment first settles it: the view follows.
    assert _reorder(api, second["uetr"], "front").json()["status"] == "settled"
    after = api.request("GET", "/v1/operator/liquidity/CNY", OPERATOR).json()
    assert after["queued"] == 1 and Decimal(after["queued_value"]) == Decimal(HUGE)


def test_a_queue_is_read_in_pages(api):
    for _ in range(5):
        api.pay(amount=HUGE)
    assert len(_queue(api)) == 5
    for path, key in (("/v1/queue", DEBTOR), ("/v1/operator/queue", OPERATOR)):
        pages, offset = [], 0
        while offset is not None:
            page = api.request("GET", f"{path}?limit=2&offset={offset}", key).json()
            pages.append(len(page["queued"]))
            everything = api.request("GET", path, key).json()["queued"]
            assert page["queued"] == everything[offset : offset + 2]
            offset = page["next_offset"]
        assert pages == [2, 2, 1]
    _all_refused([
        (api.request("GET", "/v1/queue?offset=-1", DEBTOR), 422, None, "offset"),
        (api.request("GET", "/v1/operator/queue?offset=x", OPERATOR), 422, None, "offset"),
    ])  # fmt: skip
    beyond = api.request("GET", "/v1/queue?offset=99", DEBTOR).json()
    assert beyond == {"queued": [], "next_offset": None}
