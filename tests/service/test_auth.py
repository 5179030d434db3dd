"""Each boundary of who may do what, proved by a request that crosses it."""

from __future__ import annotations

import base64
import json
import os
import stat
import time

import pytest

from samarkand.bench.iso import bulk_pacs008
from samarkand.service.auth import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AuthError,
    sign_headers,
)
from samarkand.service.gate import VERIFY_INLINE_BYTES_MAX
from tests.service.conftest import CENTRAL_BANK_CN, CREDITOR, DEBTOR, OTHER, new_payment


def _error(response) -> dict:
    return response.json()["error"]


def test_a_signed_request_passes(api):
    _, response = api.pay()
    assert response.status_code == 200
    assert response.json()["status"] == "ACSC"


def test_unsigned_request_is_refused(api):
    response = api.client.get("/v1/accounts")
    assert response.status_code == 401
    assert _error(response)["field"] == "x-samarkand-key"


def test_unknown_key_is_refused(api):
    headers = sign_headers(api.keys[DEBTOR], "SMZZCN22", "GET", "/v1/accounts")
    response = api.client.get("/v1/accounts", headers=headers)
    assert response.status_code == 401
    assert _error(response)["message"] == "unknown key id"


def test_key_of_another_participant_does_not_verify(api):
    # Signed with OTHER's private key but claiming to be DEBTOR.
    headers = sign_headers(api.keys[OTHER], DEBTOR, "GET", "/v1/accounts")
    response = api.client.get("/v1/accounts", headers=headers)
    assert response.status_code == 401
    assert _error(response)["field"] == SIGNATURE_HEADER


def test_bad_signature_is_refused(api):
    headers = sign_headers(api.keys[DEBTOR], DEBTOR, "GET", "/v1/accounts")
    raw = bytearray(base64.b64decode(headers[SIGNATURE_HEADER]))
    raw[0] ^= 1
    headers[SIGNATURE_HEADER] = base64.b64encode(bytes(raw)).decode()
    response = api.client.get("/v1/accounts", headers=headers)
    assert response.status_code == 401
    assert _error(response)["field"] == SIGNATURE_HEADER


def test_tampered_body_is_refused_and_changes_nothing(api):
    payment = new_payment()
    signed_for = json.dumps(payment | {"amount": "1.00"}).encode()
    response = api.request("POST", "/v1/payments", DEBTOR, payment, sign_body=signed_for)
    assert response.status_code == 401
    assert _error(response)["field"] == SIGNATURE_HEADER
    track = api.request("GET", f"/v1/payments/{payment['uetr']}", DEBTOR)
    assert track.status_code == 404


def test_tampered_path_is_refused(api):
    headers = sign_headers(api.keys[DEBTOR], DEBTOR, "GET", "/v1/accounts")
    response = api.client.get("/v1/mailbox", headers=headers)
    assert response.status_code == 401


def test_replayed_nonce_is_refused(api):
    headers = sign_headers(api.keys[DEBTOR], DEBTOR, "GET", "/v1/accounts")
    assert api.client.get("/v1/accounts", headers=headers).status_code == 200
    again = api.client.get("/v1/accounts", headers=headers)
    assert again.status_code == 401
    assert _error(again)["field"] == NONCE_HEADER
    assert "replay" in _error(again)["message"]


def test_expired_and_future_timestamps_are_refused(api):
    for skew_ms in (-31_000, 31_000):
        now_ms = int(time.time() * 1000) + skew_ms
        headers = sign_headers(api.keys[DEBTOR], DEBTOR, "GET", "/v1/accounts", now_ms=now_ms)
        response = api.client.get("/v1/accounts", headers=headers)
        assert response.status_code == 401
        assert _error(response)["field"] == TIMESTAMP_HEADER


def test_malformed_auth_headers_are_refused(api):
    headers = sign_headers(api.keys[DEBTOR], DEBTOR, "GET", "/v1/accounts", nonce="short")
    assert api.client.get("/v1/accounts", headers=headers).status_code == 401
    headers = sign_headers(api.keys[DEBTOR], DEBTOR, "GET", "/v1/accounts")
    headers[TIMESTAMP_HEADER] = "yesterday"
    assert api.client.get("/v1/accounts", headers=headers).status_code == 401
    headers = sign_headers(api.keys[DEBTOR], DEBTOR, "GET", "/v1/accounts")
    headers[SIGNATURE_HEADER] = "not base64 !"
    assert api.client.get("/v1/accounts", headers=headers).status_code == 401


def test_cannot_pay_from_another_participants_account(api):
    _, response = api.pay(key=OTHER)  # OTHER sends a payment whose debtor is DEBTOR
    assert response.status_code == 403
    assert _error(response)["field"] == "debtor_agent"


def test_cannot_read_another_participants_payment(api):
    payment, response = api.pay()
    assert response.status_code == 200
    path = f"/v1/payments/{payment['uetr']}"
    assert api.request("GET", path, DEBTOR).status_code == 200
    assert api.request("GET", path, CREDITOR).status_code == 200
    hidden = api.request("GET", path, OTHER)
    assert hidden.status_code == 404  # the same answer as for a payment that does not exist
    assert _error(hidden)["code"] == "NOOR"


def test_cannot_cancel_another_participants_payment(api):
    payment, _ = api.pay()
    response = api.request("POST", f"/v1/payments/{payment['uetr']}/cancel", OTHER)
    assert response.status_code == 404


def test_accounts_are_only_the_callers_own(api):
    mine = api.request("GET", "/v1/accounts", DEBTOR).json()["accounts"]
    theirs = api.request("GET", "/v1/accounts", OTHER).json()["accounts"]
    assert mine and theirs
    assert not {a["account"] for a in mine} & {a["account"] for a in theirs}


def test_mailbox_is_only_the_callers_own(api):
    api.pay()
    assert api.request("GET", "/v1/mailbox", DEBTOR).json()["messages"]
    assert api.request("GET", "/v1/mailbox", OTHER).json()["messages"] == []
    # Acknowledging in OTHER's mailbox cannot reach DEBTOR's messages.
    assert api.request("POST", "/v1/mailbox/ack", OTHER, {"upto": 1}).status_code == 409
    assert len(api.request("GET", "/v1/mailbox", DEBTOR).json()["messages"]) == 1


def test_operator_routes_need_the_operator_role(api):
    for method, path, body in (
        ("GET", "/v1/operator/queue", None),
        ("POST", f"/v1/operator/participants/{OTHER}/suspend", None),
        ("POST", "/v1/operator/end-of-day", None),
    ):
        for key in (DEBTOR, CENTRAL_BANK_CN):
            response = api.request(method, path, key, body)
            assert response.status_code == 403, (path, key)
        assert api.request(method, path, "OPERATOR", body).status_code == 200


def test_credit_is_set_only_by_the_currencys_central_bank(api):
    body = {"bic": DEBTOR, "currency": "CNY", "limit": "5000.00"}
    assert api.request("PUT", "/v1/operator/credit", DEBTOR, body).status_code == 403
    assert api.request("PUT", "/v1/operator/credit", "OPERATOR", body).status_code == 403
    russian = api.request("PUT", "/v1/operator/credit", "CBRFRUMM", body)
    assert russian.status_code == 403
    assert russian.json()["error"]["code"] == "AGNT"
    assert api.request("PUT", "/v1/operator/credit", CENTRAL_BANK_CN, body).status_code == 200
    accounts = api.request("GET", "/v1/accounts", DEBTOR).json()["accounts"]
    assert {a["currency"]: a["credit_limit"] for a in accounts}["CNY"] == "5000.00"


def test_dev_keyring_is_private(service):
    assert stat.S_IMODE(os.stat(service.keyring).st_mode) == 0o600


def test_secrets_never_reach_the_log(api, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    headers = sign_headers(api.keys[DEBTOR], DEBTOR, "GET", "/v1/accounts")
    api.client.get("/v1/accounts", headers=headers)
    api.client.get("/v1/accounts", headers=headers)  # a replay, refused
    text = caplog.text
    assert headers[SIGNATURE_HEADER] not in text
    private = api.keys[DEBTOR].private_bytes_raw()
    assert base64.b64encode(private).decode() not in text


def test_a_request_signed_before_a_restart_cannot_be_replayed_after_it(api, service):
    from samarkand.service.auth import Verifier

    headers = sign_headers(api.keys[DEBTOR], DEBTOR, "GET", "/v1/accounts")
    assert api.client.get("/v1/accounts", headers=headers).status_code == 200
    # A new process: its nonce memory is empty, so it refuses what was signed before it.
    later = time.time() + 1
    restarted = Verifier(service.verifier.keys.values(), clock=lambda: later)
    lowered = {k.lower(): v for k, v in headers.items()}
    with pytest.raises(AuthError) as refused:
        restarted.verify("GET", "/v1/accounts", lowered, b"")
    assert refused.value.field == TIMESTAMP_HEADER


def test_a_large_body_is_checked_on_a_thread_like_a_small_one(api):
    """Bodies over 16 KiB are hashed and checked on a verification thread: a good signature
    passes, a changed byte fails the same way."""
    data = bulk_pacs008(
        100, debtor=DEBTOR + "XXX", creditors=(CREDITOR + "XXX",), first_uetr=7 << 40,
        msg_id="LARGE-1", settlement_date=None,
    )  # fmt: skip
    assert len(data) > VERIFY_INLINE_BYTES_MAX
    tampered = data.replace(b"<MsgId>LARGE-1</MsgId>", b"<MsgId>LARGE-2</MsgId>")
    headers = sign_headers(api.keys[DEBTOR], DEBTOR, "POST", "/v1/messages", data)
    headers["content-type"] = "application/xml"
    refused = api.client.post("/v1/messages", content=tampered, headers=headers)
    assert refused.status_code == 401
    assert _error(refused)["field"] == SIGNATURE_HEADER
    headers = sign_headers(api.keys[DEBTOR], DEBTOR, "POST", "/v1/messages", data)
    headers["content-type"] = "application/xml"
    accepted = api.client.post("/v1/messages", content=data, headers=headers)
    assert accepted.status_code == 200
    assert accepted.content.count(b"<TxSts>ACSC</TxSts>") == 100


def test_a_full_nonce_memory_refuses_requests_rather_than_forget_a_live_nonce(
    api, service, monkeypatch
):
    """Nonces are forgotten only once their requests' timestamps can no longer pass: with
    the memory full of live ones, a new request is refused, and a replay of every request
    it holds still is; once the window has passed, requests are taken again."""
    from samarkand.service import auth
    from samarkand.service.auth import Verifier

    monkeypatch.setattr(auth, "NONCES_MAX", 3)
    now = [time.time()]
    verifier = Verifier(service.verifier.keys.values(), clock=lambda: now[0])

    def signed_now() -> dict[str, str]:
        headers = sign_headers(api.keys[DEBTOR], DEBTOR, "GET", "/v1/accounts",
                               now_ms=int(now[0] * 1000))  # fmt: skip
        return {k.lower(): v for k, v in headers.items()}

    signed = [signed_now() for _ in range(3)]
    for headers in signed:
        verifier.verify("GET", "/v1/accounts", headers, b"")
    with pytest.raises(AuthError, match="within the replay window") as full:
        verifier.verify("GET", "/v1/accounts", signed_now(), b"")
    assert full.value.field == NONCE_HEADER
    for headers in signed:
        with pytest.raises(AuthError, match="replay"):
            verifier.verify("GET", "/v1/accounts", headers, b"")
    now[0] += 2 * verifier.window_ms / 1000 + 1  # the three can no longer pass: forgotten
    later = signed_now()
    assert verifier.verify("GET", "/v1/accounts", later, b"").key_id == DEBTOR


@pytest.mark.parametrize("held", [True, False], ids=["gil-held", "pynacl"])
def test_the_signature_check_agrees_with_pynacl_and_refuses_what_it_cannot_read(held, monkeypatch):
    """`signature_holds` (libsodium called with the GIL held, or PyNaCl's own check when no
    libsodium exports the call) passes exactly the signatures PyNaCl passes: a changed
    message, key or signature byte fails, and a signature or key of the wrong length is
    refused before libsodium reads past it."""
    import ctypes

    from nacl.signing import SigningKey

    from samarkand.service import auth

    check = auth._DETACHED_CHECK
    assert check is not None  # this install's libsodium exports the call
    assert check._flags_ & ctypes._FUNCFLAG_PYTHONAPI  # a PyDLL's: called with the GIL held
    if not held:
        monkeypatch.setattr(auth, "_DETACHED_CHECK", None)
    signer = SigningKey(bytes(range(32)))
    public = bytes(signer.verify_key)
    other = bytes(SigningKey(bytes(range(1, 33))).verify_key)
    message = b"POST\n/v1/payments\n1764300000000\nnonce-0123456789ab\n" + b"0" * 64
    signature = signer.sign(message).signature
    assert auth.signature_holds(public, message, signature)
    assert not auth.signature_holds(public, message + b"x", signature)
    assert not auth.signature_holds(other, message, signature)
    for at in (0, 31, 63):
        changed = bytearray(signature)
        changed[at] ^= 1
        assert not auth.signature_holds(public, message, bytes(changed))
    assert not auth.signature_holds(public, message, signature[:63])
    assert not auth.signature_holds(public, message, signature + b"\0")
    assert not auth.signature_holds(public[:31], message, signature)
    assert not auth.signature_holds(b"", message, b"")
