"""Sessions: requests signed with HMAC-SHA256 under a secret agreed once with the caller's key,
and each boundary such a request must not cross."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from samarkand.service.auth import (
    KEY_HEADER,
    NONCE_HEADER,
    SESSION_HEADER,
    SESSIONS_PER_KEY_MAX,
    SIGNATURE_HEADER,
    AuthError,
    ClientSession,
    KeyEntry,
    Role,
    SessionRefused,
    Verifier,
    accept_session,
    session_offer,
)
from samarkand.service.auth import sign_headers as signed
from tests.service.conftest import CREDITOR, DEBTOR, OTHER, new_payment
from tests.service.test_keys import OPERATOR, new_key


def _refused(response, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field
    return error["message"]


def _open(api, key: str = DEBTOR) -> ClientSession:
    private, body = session_offer()
    response = api.request("POST", "/v1/sessions", key, body)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["key_id"] == key and "secret" not in answer
    return accept_session(key, private, answer)


def _in(api, session: ClientSession, method: str, path: str, body=None, *, sign_body=None):
    data = b"" if body is None else json.dumps(body).encode()
    headers = session.headers(method, path, data if sign_body is None else sign_body)
    if body is not None:
        headers["content-type"] = "application/json"
    return api.client.request(method, path, content=data, headers=headers)


def test_a_payment_in_a_session_settles_and_reads_come_back(api):
    session = _open(api)
    payment = new_payment()
    response = _in(api, session, "POST", "/v1/payments", payment)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ACSC"
    tracked = _in(api, session, "GET", f"/v1/payments/{payment['uetr']}")
    assert tracked.json()["status"] == "settled"
    listed = _in(api, session, "GET", "/v1/sessions").json()["sessions"]
    assert [s["session"] for s in listed] == [session.session_id]


def test_a_tampered_body_or_a_wrong_secret_is_refused_and_changes_nothing(api):
    session = _open(api)
    payment = new_payment()
    signed_for = json.dumps(payment | {"amount": "1.00"}).encode()
    response = _in(api, session, "POST", "/v1/payments", payment, sign_body=signed_for)
    assert "session" in _refused(response, 401, SIGNATURE_HEADER)
    guessed = ClientSession(DEBTOR, session.session_id, bytes(32))
    _refused(_in(api, guessed, "POST", "/v1/payments", payment), 401, SIGNATURE_HEADER)
    assert api.request("GET", f"/v1/payments/{payment['uetr']}", DEBTOR).status_code == 404


def test_a_replayed_request_in_a_session_is_refused(api):
    session = _open(api)
    payment = new_payment()
    data = json.dumps(payment).encode()
    headers = session.headers("POST", "/v1/payments", data) | {"content-type": "application/json"}
    first = api.client.post("/v1/payments", content=data, headers=headers)
    assert first.json()["status"] == "ACSC"
    again = api.client.post("/v1/payments", content=data, headers=headers)
    assert "replay" in _refused(again, 401, NONCE_HEADER)


def test_a_session_is_its_key_ids_only(api):
    mine = _open(api, DEBTOR)
    # OTHER names DEBTOR's session with its own key id: refused, whatever it signs.
    as_other = ClientSession(OTHER, mine.session_id, mine.secret)
    _refused(_in(api, as_other, "GET", "/v1/accounts"), 401, SESSION_HEADER)
    # In its own session, DEBTOR still reads and pays for itself only.
    payment = new_payment(debtor_agent=CREDITOR, creditor_agent=DEBTOR, currency="RUB")
    response = _in(api, mine, "POST", "/v1/payments", payment)
    assert response.status_code == 403, response.text
    # Nor can another key id end it.
    other = _open(api, OTHER)
    _refused(_in(api, other, "DELETE", f"/v1/sessions/{mine.session_id}"), 404, "session_id")
    assert _in(api, mine, "GET", "/v1/accounts").status_code == 200


def test_an_ended_session_is_refused(api):
    session = _open(api)
    assert _in(api, session, "DELETE", f"/v1/sessions/{session.session_id}").status_code == 204
    _refused(_in(api, session, "GET", "/v1/accounts"), 401, SESSION_HEADER)
    unknown = ClientSession(DEBTOR, "A" * 22, bytes(32))
    _refused(_in(api, unknown, "GET", "/v1/accounts"), 401, SESSION_HEADER)
    malformed = ClientSession(DEBTOR, "not a session", bytes(32))
    assert "not a session id" in _refused(
        _in(api, malformed, "GET", "/v1/accounts"), 401, SESSION_HEADER
    )


def test_a_session_ends_when_its_key_is_replaced_or_revoked(api):
    session = _open(api)
    new, body = new_key(DEBTOR)
    assert api.request("PUT", "/v1/key", DEBTOR, body).status_code == 200
    _refused(_in(api, session, "GET", "/v1/accounts"), 401, SESSION_HEADER)
    api.keys[DEBTOR] = new
    again = _open(api)
    assert _in(api, again, "GET", "/v1/accounts").status_code == 200
    assert api.request("DELETE", f"/v1/operator/keys/{DEBTOR}", OPERATOR).status_code == 200
    assert "revoked" in _refused(_in(api, again, "GET", "/v1/accounts"), 401, KEY_HEADER)


def test_what_takes_the_key_itself_is_refused_in_a_session(api):
    session = _open(api)
    private, offer = session_offer()
    _refused(_in(api, session, "POST", "/v1/sessions", json.loads(offer)), 403, SESSION_HEADER)
    _, body = new_key(DEBTOR)
    _refused(_in(api, session, "PUT", "/v1/key", body), 403, SESSION_HEADER)
    operator = _open(api, OPERATOR)
    revoke = f"/v1/operator/keys/{OTHER}"
    _refused(_in(api, operator, "DELETE", revoke), 403, SESSION_HEADER)
    assert api.request("GET", "/v1/accounts", OTHER).status_code == 200  # not revoked


@pytest.mark.parametrize(
    ("public_key", "why"),
    [
        ("bm90IGEga2V5", "not a base64 X25519 public key"),
        ("not base64!", "not a base64 X25519 public key"),
        (base64.b64encode(bytes(32)).decode(), "not a usable X25519 public key"),  # low order
    ],
)
def test_an_unusable_offer_is_refused(api, public_key, why):
    response = api.request("POST", "/v1/sessions", DEBTOR, {"public_key": public_key})
    assert why in _refused(response, 422, "public_key")
    assert api.request("GET", "/v1/sessions", DEBTOR).json() == {"sessions": []}


def test_a_tampered_answer_gives_a_secret_the_hub_does_not_accept(api):
    private, body = session_offer()
    answer = api.request("POST", "/v1/sessions", DEBTOR, body).json()
    forged = X25519PrivateKey.generate().public_key().public_bytes_raw()
    session = accept_session(DEBTOR, private, answer | {"public_key": base64.b64encode(forged)})
    _refused(_in(api, session, "GET", "/v1/accounts"), 401, SIGNATURE_HEADER)
    honest = accept_session(DEBTOR, private, answer)
    assert _in(api, honest, "GET", "/v1/accounts").status_code == 200


def test_sessions_end_with_their_time_and_a_key_holds_a_bounded_number():
    clock = [1_000.0]
    verifier = Verifier([], clock=lambda: clock[0])
    key = Ed25519PrivateKey.generate()
    verifier.add(KeyEntry(DEBTOR, Role.PARTICIPANT, key.public_key()))
    verifier.session_s = 60
    offers = [session_offer() for _ in range(SESSIONS_PER_KEY_MAX + 1)]
    caller = verifier.verify(
        "GET", "/v1/sessions", signed(key, DEBTOR, "GET", "/v1/sessions", now_ms=1_000_000), b""
    )
    opened = [verifier.open_session(caller, json.loads(body)["public_key"]) for _, body in offers]
    kept = [s.session_id for s in verifier.sessions(DEBTOR)]
    assert kept == [s.session_id for s, _ in opened[1:]]  # the oldest ended for the newest
    latest, hub_public = opened[-1]
    client = accept_session(
        DEBTOR, offers[-1][0], {"session": latest.session_id, "public_key": hub_public}
    )
    headers = client.headers("GET", "/v1/accounts", now_ms=int(clock[0] * 1000) + 1)
    clock[0] += 1
    assert verifier.verify("GET", "/v1/accounts", headers, b"").session == latest.session_id
    clock[0] += 60  # past its end
    late = client.headers("GET", "/v1/accounts", now_ms=int(clock[0] * 1000))
    with pytest.raises(AuthError, match="no such open session"):
        verifier.verify("GET", "/v1/accounts", late, b"")
    assert verifier.sessions(DEBTOR) == []
    signed_too = signed(key, DEBTOR, "GET", "/v1/accounts", now_ms=int(clock[0] * 1000))
    assert verifier.verify("GET", "/v1/accounts", signed_too, b"").session is None


def test_a_session_is_bound_to_the_key_that_signed_its_opening():
    # Signed with a key replaced before the session was made, the opening made a session of
    # the new key: the old key's holder could then act under the new one.
    verifier = Verifier([], clock=lambda: 1_000.0)
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    verifier.add(KeyEntry(DEBTOR, Role.PARTICIPANT, old.public_key()))
    headers = signed(old, DEBTOR, "POST", "/v1/sessions", b"", now_ms=1_000_000)
    caller = verifier.verify("POST", "/v1/sessions", headers, b"")
    verifier.add(KeyEntry(DEBTOR, Role.PARTICIPANT, new.public_key()))  # replaced meanwhile
    _, offer = session_offer()
    with pytest.raises(SessionRefused, match="replaced or revoked meanwhile"):
        verifier.open_session(caller, json.loads(offer)["public_key"])
    assert verifier.sessions(DEBTOR) == []
