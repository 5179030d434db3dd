"""The audit trail: who asked for each governance command, replayed from the log."""

from __future__ import annotations

from tests.service.conftest import CENTRAL_BANK_CN, DEBTOR, OTHER, served
from tests.service.test_keys import new_key

OPERATOR = "OPERATOR"


def _trail(api, key: str = OPERATOR, **query) -> dict:
    path = "/v1/operator/audit" + ("?" + "&".join(f"{k}={v}" for k, v in query.items())
                                   if query else "")  # fmt: skip
    response = api.request("GET", path, key)
    assert response.status_code == 200, response.text
    return response.json()


def _ok(response) -> bool:
    return response.status_code == 200


def _govern(api) -> str:
    """Governance of every kind of caller: the operator, a central bank, a participant."""
    assert _ok(api.request("POST", f"/v1/operator/participants/{OTHER}/suspend", OPERATOR))
    proposal = api.request("POST", "/v1/operator/admissions", OPERATOR, {
        "bic": "SMZZCN22", "name": "New bank", "country": "CN", "kind": "direct",
        "currency": "CNY",
    }).json()  # fmt: skip
    approve = f"/v1/operator/admissions/{proposal['id']}/approve"
    assert _ok(api.request("POST", approve, CENTRAL_BANK_CN))
    credit = {"bic": DEBTOR, "currency": "CNY", "limit": "5000.00"}
    assert _ok(api.request("PUT", "/v1/operator/credit", CENTRAL_BANK_CN, credit))
    payment, answer = api.pay(amount="99999999999999.00")  # too much: it waits in the queue
    assert answer.json()["status"] == "ACSP"
    assert _ok(api.request("POST", f"/v1/payments/{payment['uetr']}/cancel", DEBTOR))
    new, body = new_key(DEBTOR)
    assert _ok(api.request("PUT", "/v1/key", DEBTOR, body))
    api.keys[DEBTOR] = new
    return payment["uetr"]


EXPECTED = [
    ("set_status", OPERATOR),
    ("propose_admission", OPERATOR),
    ("approve_admission", CENTRAL_BANK_CN),
    ("set_credit", CENTRAL_BANK_CN),
    ("cancel", DEBTOR),
    ("set_key", DEBTOR),
]


def test_each_governance_command_names_who_asked_for_it(api):
    before = _trail(api)
    setup = [(e["op"], e["by"]) for e in before["entries"]]
    assert setup[:2] == [("configure", None), ("open_accounts", None)]  # no request asked
    assert before["entries"][0]["arguments"]["participants"] > 0  # counted, not listed
    cancelled = _govern(api)
    trail = _trail(api, CENTRAL_BANK_CN, after=before["next"])  # central banks see it too
    assert [(e["op"], e["by"]) for e in trail["entries"]] == EXPECTED
    # The payment as people and messages name it (it was shown as a 128-bit decimal).
    assert trail["entries"][4]["arguments"]["uetr"] == cancelled
    suspended = trail["entries"][0]
    assert suspended["arguments"] == {"bic": OTHER, "status": "suspended"}
    assert suspended["at"].endswith("Z")
    keyed = trail["entries"][-1]["arguments"]  # the public key, never the proof
    assert set(keyed) == {"key", "role", "public_key"} and keyed["key"] == DEBTOR
    sequences = [e["sequence"] for e in trail["entries"]]
    assert sequences == sorted(sequences) and trail["next"] == sequences[-1]
    # Paged: one at a time, then nothing after the last.
    page = _trail(api, after=before["next"], limit=1)
    assert [e["op"] for e in page["entries"]] == ["set_status"] and page["next"] == sequences[0]
    assert _trail(api, after=trail["next"]) == {"entries": [], "next": trail["next"]}
    assert api.request("GET", "/v1/operator/audit", DEBTOR).status_code == 403
    # A payment is no governance: the ones above are not in the trail.
    assert "submit" not in {e["op"] for e in _trail(api)["entries"]}


def test_the_audit_trail_outlives_a_restart(tmp_path):
    db = str(tmp_path / "hub.db")
    with served(db) as (_, api):
        _govern(api)
        trail = _trail(api)
    with served(db) as (_, api):
        assert _trail(api) == trail
        assert [(e["op"], e["by"]) for e in trail["entries"]][-len(EXPECTED) :] == EXPECTED
