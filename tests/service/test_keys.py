"""Keys over their life: replaced by their holder, revoked by the operator, set again by the
central bank of the bank's country, and all of it kept across a restart."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from samarkand.service.auth import (
    KEY_HEADER,
    SIGNATURE_HEADER,
    load_private_keys,
    possession_text,
    public_key_text,
    sign_headers,
)
from tests.service.conftest import CENTRAL_BANK_CN, DEBTOR, OTHER, served

OPERATOR = "OPERATOR"


def new_key(key_id: str, *, signer: Ed25519PrivateKey | None = None):
    """A new private key and the body that sets it for `key_id` (its proof signed by
    `signer`, by default the new key itself)."""
    private = Ed25519PrivateKey.generate()
    text = public_key_text(private)
    proof = (signer or private).sign(possession_text(key_id, text))
    return private, {"public_key": text, "proof": base64.b64encode(proof).decode()}


def _refused(response, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field
    return error["message"]


def test_a_participant_replaces_its_own_key(api):
    old = api.keys[DEBTOR]
    new, body = new_key(DEBTOR)
    _, wrong_proof = new_key(DEBTOR, signer=Ed25519PrivateKey.generate())
    wrong_proof["public_key"] = body["public_key"]
    _refused(api.request("PUT", "/v1/key", DEBTOR, wrong_proof), 422, "proof")
    _, for_another = new_key(OTHER)  # a proof made for another key id proves nothing here
    _refused(api.request("PUT", "/v1/key", DEBTOR, for_another | {"public_key":
             body["public_key"]}), 422, "proof")  # fmt: skip
    not_a_key = {"public_key": "bm90IGEga2V5", "proof": body["proof"]}
    _refused(api.request("PUT", "/v1/key", DEBTOR, not_a_key), 422, "public_key")
    _, response = api.pay()
    assert response.json()["status"] == "ACSC"  # nothing changed so far

    assert api.request("PUT", "/v1/key", DEBTOR, body).json() == {
        "key_id": DEBTOR, "status": "active",
    }  # fmt: skip
    _, response = api.pay()  # still signed with the old key
    _refused(response, 401, SIGNATURE_HEADER)
    api.keys[DEBTOR] = new
    _, response = api.pay()
    assert response.json()["status"] == "ACSC"
    _refused(api.request("PUT", "/v1/key", DEBTOR, body), 409, "public_key")  # the same again
    assert old is not new


def test_the_operator_revokes_and_the_central_bank_of_its_country_sets_anew_key(api):
    path = f"/v1/operator/keys/{DEBTOR}"
    _refused(api.request("DELETE", path, DEBTOR), 403, KEY_HEADER)  # the operator's route
    assert api.request("DELETE", path, OPERATOR).json() == {"key_id": DEBTOR, "status": "revoked"}
    _, response = api.pay()
    assert "revoked" in _refused(response, 401, KEY_HEADER)
    assert "revoked" in _refused(api.request("DELETE", path, OPERATOR), 404, "bic")
    _refused(api.request("DELETE", "/v1/operator/keys/SMZZCN22", OPERATOR), 404, "bic")
    _refused(api.request("DELETE", f"/v1/operator/keys/{OTHER}", CENTRAL_BANK_CN), 403, "bic")

    new, body = new_key(DEBTOR)
    _refused(api.request("PUT", path, OPERATOR, body), 403, "bic")  # it cannot sign as a bank
    _refused(api.request("PUT", path, "CBRFRUMM", body), 403, "bic")  # not its country's bank
    _refused(api.request("PUT", f"/v1/operator/keys/{CENTRAL_BANK_CN}", CENTRAL_BANK_CN, body),
             403, "bic")  # its own: PUT /v1/key  # fmt: skip
    assert api.request("PUT", path, CENTRAL_BANK_CN, body).json()["status"] == "active"
    api.keys[DEBTOR] = new
    _, response = api.pay()
    assert response.json()["status"] == "ACSC"


def test_a_central_banks_key_is_revoked_and_set_only_with_every_other_members_approval(tmp_path):
    db = str(tmp_path / "hub.db")
    path = f"/v1/operator/keys/{CENTRAL_BANK_CN}"
    with served(db) as (_, api):
        proposed = api.request("DELETE", path, OPERATOR)
        assert proposed.status_code == 202 and proposed.json()["status"] == "pending"
        change = proposed.json()["change"]
        needs = change["needs"]
        assert change["to"] == "revoked" and change["approved"] == []
        assert CENTRAL_BANK_CN not in needs and "CBRFRUMM" in needs and len(needs) >= 2
        _refused(api.request("DELETE", path, "CBRFRUMM"), 409, "bic")  # one change at a time
        approve = f"/v1/operator/key-changes/{change['id']}/approve"
        _refused(api.request("POST", approve, CENTRAL_BANK_CN), 403, "proposal")  # the holder
        _refused(api.request("GET", "/v1/operator/key-changes", DEBTOR), 403, KEY_HEADER)
        for central_bank in needs:
            listed = api.request("GET", "/v1/operator/key-changes", CENTRAL_BANK_CN)
            assert listed.status_code == 200  # the holder signs until the last approval
            assert listed.json()["key_changes"][0]["status"] == "pending"
            approved = api.request("POST", approve, central_bank)
            assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "applied"
        _refused(api.request("POST", approve, needs[0]), 409, "proposal")
        revoked = api.request("GET", "/v1/operator/key-changes", CENTRAL_BANK_CN)
        assert "revoked" in _refused(revoked, 401, KEY_HEADER)

        new, body = new_key(CENTRAL_BANK_CN)
        _refused(api.request("PUT", path, "CBRFRUMM", body | {"proof": body["proof"][::-1]}),
                 422, "proof")  # fmt: skip
        set_anew = api.request("PUT", path, "CBRFRUMM", body)  # a proposing bank approves
        assert set_anew.status_code == 202
        change = set_anew.json()["change"]
        assert change["to"] == "set" and change["approved"] == ["CBRFRUMM"]
        for central_bank in [b for b in needs if b != "CBRFRUMM"]:
            answer = api.request(
                "POST", f"/v1/operator/key-changes/{change['id']}/approve", central_bank
            )
            assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "applied"
        api.keys[CENTRAL_BANK_CN] = new
        assert api.request("GET", "/v1/operator/key-changes", CENTRAL_BANK_CN).status_code == 200
        operator = api.request("DELETE", f"/v1/operator/keys/{OPERATOR}", "CBRFRUMM")
        assert operator.status_code == 202  # the operator's key: every member's central bank
        assert operator.json()["change"]["needs"] == sorted([*needs, CENTRAL_BANK_CN])
        _refused(api.request("DELETE", f"/v1/operator/keys/{OPERATOR}", OPERATOR), 403, "bic")
        again = api.request("DELETE", f"/v1/operator/keys/{OPERATOR}", CENTRAL_BANK_CN)
        _refused(again, 409, "bic")  # one change of a key at a time
    with served(db) as (reopened, api):
        assert reopened.verifier.keys[CENTRAL_BANK_CN].public_key == new.public_key()
        api.keys[CENTRAL_BANK_CN] = new
        listed = api.request("GET", "/v1/operator/key-changes", CENTRAL_BANK_CN).json()
        assert [c["status"] for c in listed["key_changes"]] == ["applied", "applied", "pending"]
        audit = api.request("GET", "/v1/operator/audit", OPERATOR).json()["entries"]
        assert ("propose_key", "CBRFRUMM") in {(e["op"], e["by"]) for e in audit}
        assert all("proof" not in json.dumps(e["arguments"]) for e in audit)


def test_key_changes_survive_a_restart(tmp_path):
    db = str(tmp_path / "hub.db")
    with served(db) as (_, api):
        new, body = new_key(DEBTOR)
        assert api.request("PUT", "/v1/key", DEBTOR, body).status_code == 200
        assert api.request("DELETE", f"/v1/operator/keys/{OTHER}", OPERATOR).status_code == 200
    with served(db) as (reopened, api):
        assert reopened.verifier.keys[DEBTOR].public_key == new.public_key()
        assert OTHER not in reopened.verifier.keys and OTHER in reopened.verifier.revoked
        _, response = api.pay()  # the keyring's old key no longer signs for DEBTOR
        _refused(response, 401, SIGNATURE_HEADER)
        api.keys[DEBTOR] = new
        _, response = api.pay()
        assert response.json()["status"] == "ACSC"


def test_a_key_made_by_samarkand_new_key_is_set_and_then_signs(api, tmp_path):
    out = tmp_path / "new-key.json"
    command = [sys.executable, "-m", "samarkand", "new-key", "--id", DEBTOR, "--out", str(out)]
    made = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    body = json.loads(made.stdout)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    private = load_private_keys(out)[DEBTOR]
    assert public_key_text(private) == body["public_key"]
    assert api.request("PUT", "/v1/key", DEBTOR, body).status_code == 200
    api.keys[DEBTOR] = private
    _, response = api.pay()
    assert response.json()["status"] == "ACSC"
    again = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "never replaces" in again.stderr
    assert "Traceback" not in again.stderr
    assert load_private_keys(out)[DEBTOR].private_bytes_raw() == private.private_bytes_raw()


def test_of_two_key_changes_signed_with_one_key_at_once_only_the_first_is_made(service):
    # Both were made: the second with a key the first had replaced, and the first's caller
    # was told "active" for a key that never worked.
    import asyncio

    import httpx

    keys = load_private_keys(service.keyring)
    first, first_body = new_key(DEBTOR)
    second, second_body = new_key(DEBTOR)

    async def both() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:

            async def put(body: dict) -> httpx.Response:
                data = json.dumps(body).encode()
                headers = sign_headers(keys[DEBTOR], DEBTOR, "PUT", "/v1/key", data)
                headers["content-type"] = "application/json"
                return await client.put("/v1/key", content=data, headers=headers)

            return list(await asyncio.gather(put(first_body), put(second_body)))

    answers = asyncio.run(both())
    assert sorted(a.status_code for a in answers) == [200, 401], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 401)
    assert refused.json()["error"]["field"] == SIGNATURE_HEADER
    # Refused where the change is made, or at the gate if the first was made before the
    # second's signature was checked: either way, not made.
    message = refused.json()["error"]["message"]
    assert "replaced or revoked meanwhile" in message or "does not match" in message
    made = first if answers[0].status_code == 200 else second
    assert service.verifier.keys[DEBTOR].public_key.public_bytes_raw() == (
        made.public_key().public_bytes_raw()
    )
    logged = service.engine.call(lambda e, _now: e.durable.keys()).result()
    assert logged[DEBTOR][1] == public_key_text(made)  # one change logged: the first
