"""Who is calling: Ed25519-signed requests.

Every request carries four headers:

    X-Samarkand-Key        key id: the participant's BIC, or an operator id
    X-Samarkand-Timestamp  Unix time in milliseconds
    X-Samarkand-Nonce      16..64 characters of [A-Za-z0-9_-], never reused within the window
    X-Samarkand-Signature  base64 Ed25519 signature of the canonical string

    canonical = METHOD \\n PATH?QUERY \\n TIMESTAMP \\n NONCE \\n hex(sha256(body))

A request is refused (401) when the key is unknown, the signature does not verify (the body,
path, method, timestamp or nonce was changed), the timestamp is outside the window, or the
nonce was already seen within the window (a replay). Nonces are kept for twice the window, so
a replayed request is refused for as long as its timestamp would pass; they are kept in
memory, so a request signed before the service started is refused too.

Keys live in a keyring file (JSON). Only public keys are read by the service; a development
keyring made by `samarkand serve --dev-keyring` also holds the private keys, for clients,
and is written with mode 0600. Neither private keys nor signatures are ever logged.

The hub signs what it sends on its own (webhook pushes) the same way, with a key of its own
kept apart from every keyring handed to clients (`own_key`).

Sessions. An Ed25519 check costs about 50 µs, most of what the service spends on a small
request besides HTTP itself. A caller that sends many may open a session instead, with one
request signed as above (`POST /v1/sessions`, its body an X25519 public key it made for the
session): the hub makes an X25519 key of its own, answers with its public half and a session
id, and both sides derive the session's secret from the X25519 exchange (HKDF-SHA256 over
the session id, the key id and both public keys). The secret never crosses the wire: whoever
only reads the traffic cannot derive it, and a tampered answer gives the client a secret the
hub does not have (its requests are then refused). Requests in the session carry a fifth
header, and the signature header holds an HMAC-SHA256 of the same canonical string under the
secret instead of an Ed25519 signature:

    X-Samarkand-Session    the session id

Everything else holds as for a signed request (the key id must be the session's, the
timestamp within the window, the nonce never seen). A session ends after `SESSION_S`, when
its caller closes it (`DELETE /v1/sessions/{id}`), when the key that opened it is replaced
or revoked, and when the service restarts (sessions live in memory); its requests are then
refused (401) and the caller opens another. A session cannot open a session: that takes the
key itself. Secrets are never logged nor shown.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import enum
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import nacl._sodium
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

# The key id that signed the request being served (set by the gate for the request's task):
# what a governance command logs as the one that asked for it.
SIGNER: ContextVar[str | None] = ContextVar("samarkand_signer", default=None)
KEY_HEADER = "x-samarkand-key"
TIMESTAMP_HEADER = "x-samarkand-timestamp"
NONCE_HEADER = "x-samarkand-nonce"
SIGNATURE_HEADER = "x-samarkand-signature"
SESSION_HEADER = "x-samarkand-session"
WINDOW_MS = 30_000
SESSION_S = 3_600  # a session's life from its opening
SESSIONS_PER_KEY_MAX = 64  # open at once for one key id; the oldest ends for a new one
SESSIONS_MAX = 100_000  # open at once in all
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # `secrets.token_urlsafe(16)`
_SESSION_INFO = b"samarkand session\n"
# Nonces remembered at most. A nonce is forgotten only once its request's timestamp can no
# longer pass; with this many still in the window, new requests are refused (a replay of a
# forgotten nonce would pass): some 16,000 requests a second for the whole window.
NONCES_MAX = 1_000_000
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TIMESTAMP = re.compile(r"[0-9]{1,15}")


class Role(enum.Enum):
    PARTICIPANT = "participant"
    CENTRAL_BANK = "central_bank"
    OPERATOR = "operator"
    HUB = "hub"  # the hub itself: signs its webhook pushes, never calls the hub


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: its key id (a BIC for participants) and role; `session`:
    the session its request came in (None: signed with its key); `key`: the raw public key
    that authenticated it (the session's, in a session)."""

    key_id: str
    role: Role
    session: str | None = None
    key: bytes = b""


class AuthError(Exception):
    """A request refused on its credentials: `field` names the header (or field) at fault;
    `status` is the HTTP status, 401 for a request that does not prove who sent it."""

    def __init__(self, field: str, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


# A signature and a public key as libsodium takes them (crypto_sign_BYTES, _PUBLICKEYBYTES).
SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32


def _detached_check() -> Callable[..., int] | None:
    """libsodium's ``crypto_sign_verify_detached(signature, message, length, key)`` (0: the
    signature holds) called through ``ctypes.PyDLL``, so with the GIL held; None when neither
    the libsodium PyNaCl carries nor the system's exports it (PyNaCl's own check then runs).

    PyNaCl's calls give the GIL up for the check's 50 µs or so, and the thread that made one
    then waits for it again behind the hub's thread: on the event loop, where every small
    request's signature is checked, that wait cost more than the check. Held, the loop goes
    straight on (single payments: about a sixth more per second, p99 a quarter lower)."""
    for path in (nacl._sodium.__file__, ctypes.util.find_library("sodium")):
        if not path:
            continue
        try:
            library = ctypes.PyDLL(path)
            check = library.crypto_sign_verify_detached
        except (OSError, AttributeError):
            continue
        if library.sodium_init() < 0:  # 1 when already done (by PyNaCl for its own copy)
            continue
        check.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_char_p)
        check.restype = ctypes.c_int
        return check
    return None


_DETACHED_CHECK = _detached_check()


def signature_holds(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s Ed25519 signature of ``message`` (libsodium's
    check, with the GIL held where it can be: see ``_detached_check``)."""
    if len(signature) != SIGNATURE_BYTES or len(public_key) != PUBLIC_KEY_BYTES:
        return False
    if _DETACHED_CHECK is not None:
        return _DETACHED_CHECK(signature, message, len(message), public_key) == 0
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class KeyEntry:
    key_id: str
    role: Role
    public_key: Ed25519PublicKey


def canonical(method: str, target: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The bytes a request's signature covers."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{target}\n{timestamp}\n{nonce}\n{digest}".encode()


def sign_headers(
    private_key: Ed25519PrivateKey,
    key_id: str,
    method: str,
    target: str,
    body: bytes = b"",
    *,
    now_ms: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four auth headers for one request (client side)."""
    timestamp = str(int(time.time() * 1000) if now_ms is None else now_ms)
    nonce = nonce or secrets.token_urlsafe(18)
    signature = private_key.sign(canonical(method, target, timestamp, nonce, body))
    return {
        KEY_HEADER: key_id,
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: base64.b64encode(signature).decode(),
    }


# ---------------------------------------------------------------------- sessions


@dataclass(frozen=True, slots=True)
class Session:
    """An open session, as the hub keeps it."""

    session_id: str
    key_id: str
    opened_by: bytes  # the raw Ed25519 key that opened it: replaced, the session ends
    mac: hmac.HMAC  # HMAC-SHA256 keyed with the session's secret (`keyed_mac`)
    expires_ms: int


class SessionRefused(AuthError):
    """A session that is not opened: the HTTP status, the field at fault and why."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(field, message, status=status)


def session_secret(
    shared: bytes, session_id: str, key_id: str, client_public: bytes, hub_public: bytes
) -> bytes:
    """The session's HMAC key: HKDF-SHA256 of the X25519 shared secret, bound to the session
    id, the key id and both public keys (each side computes it from its own private key)."""
    info = _SESSION_INFO + key_id.encode() + b"\n" + client_public + hub_public
    return HKDF(algorithm=SHA256(), length=32, salt=session_id.encode(), info=info).derive(shared)


def session_mac(keyed: hmac.HMAC, message: bytes) -> bytes:
    """The signature of a request in a session: HMAC-SHA256 of its canonical string, from
    the session's keyed HMAC (`keyed_mac`). A copy of it is updated here with the GIL held:
    `hmac.digest` gives the GIL up for every message, however short, and the event loop
    then waits to win it back (as with the signature check: `_detached_check`)."""
    mac = keyed.copy()
    mac.update(message)
    return mac.digest()


def keyed_mac(secret: bytes) -> hmac.HMAC:
    """HMAC-SHA256 keyed with a session's secret, before any message: copied per request."""
    return hmac.new(secret, digestmod=hashlib.sha256)


def _x25519_raw(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True, slots=True)
class ClientSession:
    """A caller's side of a session: the five headers of each request in it."""

    key_id: str
    session_id: str
    secret: bytes
    mac: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mac", keyed_mac(self.secret))

    def headers(
        self, method: str, target: str, body: bytes = b"", *, now_ms: int | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:  # fmt: skip
        timestamp = str(int(time.time() * 1000) if now_ms is None else now_ms)
        nonce = nonce or secrets.token_urlsafe(18)
        mac = session_mac(self.mac, canonical(method, target, timestamp, nonce, body))
        return {
            KEY_HEADER: self.key_id,
            TIMESTAMP_HEADER: timestamp,
            NONCE_HEADER: nonce,
            SIGNATURE_HEADER: base64.b64encode(mac).decode(),
            SESSION_HEADER: self.session_id,
        }


def session_offer() -> tuple[X25519PrivateKey, bytes]:
    """A caller's new X25519 key for a session, and the body of its `POST /v1/sessions`."""
    private = X25519PrivateKey.generate()
    public = base64.b64encode(_x25519_raw(private)).decode()
    return private, json.dumps({"public_key": public}).encode()


def accept_session(key_id: str, private: X25519PrivateKey, answer: Mapping) -> ClientSession:
    """The caller's session from the hub's answer to its offer (`session_offer`); ValueError
    for an answer that holds no usable key."""
    hub_public = base64.b64decode(answer["public_key"], validate=True)
    shared = private.exchange(X25519PublicKey.from_public_bytes(hub_public))
    session_id = str(answer["session"])
    secret = session_secret(shared, session_id, key_id, _x25519_raw(private), hub_public)
    return ClientSession(key_id, session_id, secret)


class Verifier:
    """Checks signed requests against a keyring and remembers nonces within the window;
    keeps the open sessions."""

    def __init__(
        self, keys: Iterable[KeyEntry], *, window_ms: int = WINDOW_MS, clock=time.time
    ) -> None:
        self.keys = {k.key_id: k for k in keys}
        self.window_ms = window_ms
        self._clock = clock
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._lock = threading.Lock()
        # Each key's 32 bytes, as libsodium checks them, with the entry they are of: a key set
        # anew meanwhile (on another thread) is never checked against the bytes of the old.
        self._raw: dict[str, tuple[KeyEntry, bytes]] = {}
        self.revoked: set[str] = set()  # key ids whose key was revoked: told so, not "unknown"
        # Nonces live in memory: a request signed before this process started could be
        # replayed after a restart, so such requests are refused (the client signs again).
        self.started_ms = int(clock() * 1000)
        # Open sessions by id, in the order opened (so by expiry), and each key id's.
        self._sessions: dict[str, Session] = {}
        self._sessions_of: dict[str, dict[str, None]] = {}
        self.session_s = SESSION_S

    def add(self, entry: KeyEntry) -> None:
        """Accept a key from now on (a participant admitted while the hub runs, or a key
        set in place of the one its key id had: the sessions it opened end)."""
        self.keys[entry.key_id] = entry
        self._raw.pop(entry.key_id, None)
        self.revoked.discard(entry.key_id)
        self._end_sessions(entry.key_id)

    def revoke(self, key_id: str) -> None:
        """Refuse `key_id`'s requests from now on, until a new key is set for it (its
        sessions end)."""
        self.keys.pop(key_id, None)
        self._raw.pop(key_id, None)
        self.revoked.add(key_id)
        self._end_sessions(key_id)

    def _public(self, key_id: str, entry: KeyEntry) -> bytes:
        cached = self._raw.get(key_id)
        if cached is None or cached[0] is not entry:
            cached = self._raw[key_id] = (entry, entry.public_key.public_bytes_raw())
        return cached[1]

    def still_holds(self, principal: Principal) -> bool:
        """The key that authenticated `principal`'s request is still its key id's: not
        replaced nor revoked since (a change of keys checks this where changes are made one
        at a time, so of two changes signed with one key, only the first is made)."""
        entry = self.keys.get(principal.key_id)
        return entry is not None and self._public(principal.key_id, entry) == principal.key

    # ------------------------------------------------------------------ sessions

    def open_session(self, caller: Principal, client_public: str) -> tuple[Session, str]:
        """A new session for `caller` (authenticated with its key just now) from its X25519
        public key (base64): the session and the hub's public key (base64), for the answer.
        The session is bound to the key that signed the request: one replaced meanwhile
        opens nothing. The key id's oldest session ends if it has `SESSIONS_PER_KEY_MAX`."""
        key_id = caller.key_id
        if not self.still_holds(caller):  # replaced or revoked since the request's check
            raise SessionRefused(
                401, SIGNATURE_HEADER,
                "the key that signed this request was replaced or revoked meanwhile",
            )  # fmt: skip
        try:
            raw = base64.b64decode(client_public, validate=True)
            peer = X25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise SessionRefused(
                422, "public_key", "not a base64 X25519 public key (32 bytes)"
            ) from None
        private = X25519PrivateKey.generate()
        try:
            shared = private.exchange(peer)
        except ValueError:  # a low-order point: the shared secret would be all zeros
            raise SessionRefused(422, "public_key", "not a usable X25519 public key") from None
        hub_public = _x25519_raw(private)
        session_id = secrets.token_urlsafe(16)
        now_ms = int(self._clock() * 1000)
        session = Session(
            session_id, key_id, caller.key,
            keyed_mac(session_secret(shared, session_id, key_id, raw, hub_public)),
            now_ms + 1000 * self.session_s,
        )  # fmt: skip
        with self._lock:
            self._expire_sessions(now_ms)
            mine = self._sessions_of.setdefault(key_id, {})
            if len(mine) >= SESSIONS_PER_KEY_MAX:
                oldest = next(iter(mine))
                del mine[oldest], self._sessions[oldest]
            if len(self._sessions) >= SESSIONS_MAX:
                raise SessionRefused(
                    429, KEY_HEADER, f"{SESSIONS_MAX:,} sessions are open: try again later"
                )
            mine[session_id] = None
            self._sessions[session_id] = session
        return session, base64.b64encode(hub_public).decode()

    def close_session(self, key_id: str, session_id: str) -> bool:
        """End `key_id`'s session `session_id`; False when it has no such open session."""
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or session.key_id != key_id:
                return False
            del self._sessions[session_id], self._sessions_of[key_id][session_id]
            return True

    def sessions(self, key_id: str) -> list[Session]:
        """`key_id`'s open sessions, the oldest first."""
        now_ms = int(self._clock() * 1000)
        with self._lock:
            found = [self._sessions[s] for s in self._sessions_of.get(key_id, ())]
        return [s for s in found if s.expires_ms > now_ms]

    def _end_sessions(self, key_id: str) -> None:
        with self._lock:
            for session_id in self._sessions_of.pop(key_id, {}):
                del self._sessions[session_id]

    def _expire_sessions(self, now_ms: int) -> None:
        """Forget the sessions that have ended (with the lock held): opened in order of
        expiry, so the ended ones are at the front."""
        sessions = self._sessions
        while sessions:
            session = next(iter(sessions.values()))
            if session.expires_ms > now_ms:
                return
            del sessions[session.session_id], self._sessions_of[session.key_id][session.session_id]

    def _session(self, session_id: str, key_id: str, public: bytes, now_ms: int) -> Session:
        """The open session a request names, checked against its key id and key."""
        if not _SESSION_ID.fullmatch(session_id):
            raise AuthError(SESSION_HEADER, "not a session id")
        session = self._sessions.get(session_id)
        if session is None or session.expires_ms <= now_ms:
            raise AuthError(
                SESSION_HEADER,
                "no such open session (ended, closed, or the hub restarted): open a new one",
            )
        if session.key_id != key_id:
            raise AuthError(SESSION_HEADER, "not a session of this key id")
        if session.opened_by != public:  # the key was replaced since (and its sessions ended)
            raise AuthError(SESSION_HEADER, "the key that opened this session was replaced")
        return session

    def verify(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Principal:
        key_id = headers.get(KEY_HEADER)
        timestamp = headers.get(TIMESTAMP_HEADER)
        nonce = headers.get(NONCE_HEADER)
        signature = headers.get(SIGNATURE_HEADER)
        session_id = headers.get(SESSION_HEADER)
        for name, value in (
            (KEY_HEADER, key_id),
            (TIMESTAMP_HEADER, timestamp),
            (NONCE_HEADER, nonce),
            (SIGNATURE_HEADER, signature),
        ):
            if not value:
                raise AuthError(name, f"header {name} is missing")
        assert key_id and timestamp and nonce and signature
        entry = self.keys.get(key_id)
        if entry is None:
            if key_id in self.revoked:
                raise AuthError(KEY_HEADER, "this key id's key is revoked: a new one must be set")
            raise AuthError(KEY_HEADER, "unknown key id")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise AuthError(TIMESTAMP_HEADER, "timestamp must be Unix time in milliseconds")
        if not _NONCE.fullmatch(nonce):
            raise AuthError(NONCE_HEADER, "nonce must be 16 to 64 characters of [A-Za-z0-9_-]")
        now_ms = int(self._clock() * 1000)
        sent_ms = int(timestamp)
        if abs(now_ms - sent_ms) > self.window_ms:
            raise AuthError(
                TIMESTAMP_HEADER,
                f"timestamp is more than {self.window_ms // 1000} s from the hub's clock",
            )
        if sent_ms < self.started_ms:
            raise AuthError(TIMESTAMP_HEADER, "signed before the hub started: sign it again")
        try:
            raw = base64.b64decode(signature, validate=True)
        except ValueError:
            raise AuthError(SIGNATURE_HEADER, "signature is not base64") from None
        public = self._public(key_id, entry)
        message = canonical(method, target, timestamp, nonce, body)
        if session_id is not None:
            session = self._session(session_id, key_id, public, now_ms)
            if not hmac.compare_digest(session_mac(session.mac, message), raw):
                raise AuthError(
                    SIGNATURE_HEADER, "signature does not match the request and the session"
                )
        # libsodium's check: about twice as fast as OpenSSL's through `cryptography`.
        elif not signature_holds(public, message, raw):
            raise AuthError(SIGNATURE_HEADER, "signature does not match the request and the key")
        self._remember(key_id, nonce, now_ms)
        return Principal(key_id, entry.role, session_id, public)

    def _remember(self, key_id: str, nonce: str, now_ms: int) -> None:
        with self._lock:
            seen = self._seen
            # Expire what is older than twice the window: its timestamp no longer passes.
            horizon = now_ms - 2 * self.window_ms
            while seen and next(iter(seen.values())) < horizon:
                seen.popitem(last=False)
            if (key_id, nonce) in seen:
                raise AuthError(NONCE_HEADER, "nonce already used: the request is a replay")
            if len(seen) >= NONCES_MAX:
                raise AuthError(
                    NONCE_HEADER,
                    f"more than {NONCES_MAX:,} requests within the replay window: send again "
                    "shortly",
                )
            seen[(key_id, nonce)] = now_ms


# ---------------------------------------------------------------------- keyring files


def admitted_key(view: dict) -> KeyEntry | None:
    """The key an admitted participant signs with, from an admission's view."""
    if view.get("status") != "admitted" or not view.get("public_key"):
        return None
    role = Role.CENTRAL_BANK if view["kind"] == "central_bank" else Role.PARTICIPANT
    raw = base64.b64decode(view["public_key"])
    return KeyEntry(view["bic"], role, Ed25519PublicKey.from_public_bytes(raw))


def possession_text(key_id: str, public_key: str) -> bytes:
    """What a new key signs to prove its holder has it, when it is set for `key_id`."""
    return f"samarkand key\n{key_id}\n{public_key}".encode()


def proves_possession(key_id: str, public_key: str, proof: str) -> bool:
    """Whether `proof` (base64) is `public_key`'s signature of `possession_text`."""
    try:
        raw_key = base64.b64decode(public_key, validate=True)
        raw_proof = base64.b64decode(proof, validate=True)
    except ValueError:
        return False
    return signature_holds(raw_key, possession_text(key_id, public_key), raw_proof)


def parse_public_key(text: str) -> str:
    """Check a base64 raw Ed25519 public key (32 bytes); return it as given."""
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except ValueError:
        raise ValueError("not a base64 Ed25519 public key (32 bytes)") from None
    return text


def _public_bytes(key: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def _private_bytes(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(raw).decode()


class KeyringError(ValueError):
    """A keyring file that cannot be read."""


def load_keys(path: str | os.PathLike[str]) -> list[KeyEntry]:
    """The public keys of a keyring file."""
    try:
        document = json.loads(Path(path).read_text())
        entries = []
        for item in document["keys"]:
            raw = base64.b64decode(item["public_key"], validate=True)
            entries.append(
                KeyEntry(item["id"], Role(item["role"]), Ed25519PublicKey.from_public_bytes(raw))
            )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise KeyringError(f"{path}: not a keyring ({type(error).__name__})") from None
    return entries


def load_private_keys(path: str | os.PathLike[str]) -> dict[str, Ed25519PrivateKey]:
    """Key id -> private key, from a development keyring (client side)."""
    document = json.loads(Path(path).read_text())
    return {
        item["id"]: Ed25519PrivateKey.from_private_bytes(base64.b64decode(item["private_key"]))
        for item in document["keys"]
        if "private_key" in item
    }


def public_key_text(key: Ed25519PrivateKey) -> str:
    """The base64 raw public key of `key`, as keyrings and admissions carry it."""
    return _public_bytes(key.public_key())


def public_key_of(text: str) -> Ed25519PublicKey:
    """The key of a base64 raw Ed25519 public key (ValueError when it is none)."""
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(parse_public_key(text)))


def own_key(path: str | os.PathLike[str], key_id: str, role: Role) -> Ed25519PrivateKey:
    """The private key `key_id` of the keyring at `path`, which holds the signer's own key
    only; a missing file is made with a new key (mode 0600), so the key, and what a receiver
    was told of it, lasts across restarts."""
    if not Path(path).exists():
        return write_dev_keyring(path, [(key_id, role)])[key_id]
    try:
        return load_private_keys(path)[key_id]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise KeyringError(f"{path}: no private key {key_id} ({type(error).__name__})") from None


def write_dev_keyring(
    path: str | os.PathLike[str], identities: Iterable[tuple[str, Role]]
) -> dict[str, Ed25519PrivateKey]:
    """Make a key pair for each (id, role) and write them all, mode 0600, to `path`."""
    keys: dict[str, Ed25519PrivateKey] = {}
    items = []
    for key_id, role in identities:
        private = Ed25519PrivateKey.generate()
        keys[key_id] = private
        items.append(
            {
                "id": key_id,
                "role": role.value,
                "public_key": _public_bytes(private.public_key()),
                "private_key": _private_bytes(private),
            }
        )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump({"keys": items}, handle, indent=1)
    return keys
