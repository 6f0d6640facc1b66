"""Business API keys: issued once, stored as their SHA-256, presented as a bearer token, revoked by prefix.

A key is 32 random bytes (`ck_` + 43 URL-safe characters, 256 bits): guessing one is hopeless, so
a plain fast hash is the right way to store it (a slow, salted hash protects short secrets people
choose, such as PINs, from a leaked database; a random 256-bit key needs no such help), and the
hash is the document's id, so checking a key is one read. The key itself is shown once, when it
is issued; `prefix` (its first characters) tells keys apart in care's listings and revocations.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from google.cloud import firestore
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from functions.credits.documents import API_KEYS, to_document

KEY_MARK = "ck_"  # names the kind of secret in logs and leak scanners, as Stripe's sk_ does
PREFIX_LENGTH = len(KEY_MARK) + 8  # shown to people; 48 random bits: prefixes of one account's keys differ
_MAX_PRESENTED = 200  # a presented token longer than this is no key of ours


class ApiKey(BaseModel):
    """A stored key: whose it is and whether it still opens the API (never the key itself)."""

    model_config = ConfigDict(extra="forbid")

    account_id: str
    prefix: str
    created_at: AwareDatetime
    created_by: str | None = Field(default=None, max_length=120)
    revoked_at: AwareDatetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret` is given to its holder once and kept nowhere."""

    secret: str
    record: ApiKey


def new_secret() -> str:
    return KEY_MARK + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The key's document id: SHA-256 of the key, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def prefix_of(secret: str) -> str:
    return secret[:PREFIX_LENGTH]


def bearer_token(authorization: str | None) -> str | None:
    """The key in an `Authorization: Bearer <key>` header; None when absent or of another scheme."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > _MAX_PRESENTED:
        return None
    return token


def issue(db: firestore.Client, account_id: str, *, now: datetime, by: str | None = None) -> IssuedKey:
    """A new key for `account_id`, stored hashed."""
    secret = new_secret()
    record = ApiKey(account_id=account_id, prefix=prefix_of(secret), created_at=now, created_by=by)
    db.collection(API_KEYS).document(digest(secret)).create(to_document(record))
    return IssuedKey(secret, record)


def authenticate(db: firestore.Client, presented: str | None) -> ApiKey | None:
    """The key's record when `presented` is a key we issued and did not revoke; else None."""
    if not presented:
        return None
    hashed = digest(presented)
    snapshot = db.collection(API_KEYS).document(hashed).get()
    # The lookup is by hash, so the comparison below is belt and braces against a mistaken id.
    if not snapshot.exists or not hmac.compare_digest(snapshot.id, hashed):
        return None
    key = ApiKey.model_validate(snapshot.to_dict())
    return key if key.active else None


def keys_of(db: firestore.Client, account_id: str) -> list[ApiKey]:
    """Every key of an account, revoked ones too, oldest first."""
    query = db.collection(API_KEYS).where(filter=firestore.FieldFilter("account_id", "==", account_id))
    return sorted((ApiKey.model_validate(doc.to_dict()) for doc in query.stream()), key=lambda key: key.created_at)


def revoke(db: firestore.Client, account_id: str, prefix: str, *, now: datetime) -> list[ApiKey]:
    """Revoke `account_id`'s live keys starting with `prefix` (at least the mark and 8 characters); what was revoked.

    Prefixes are only unique within an account (48 bits): another account's key with the same prefix is left alone.
    """
    if len(prefix) < PREFIX_LENGTH:
        raise ValueError(f"give the key's prefix as care lists it ({PREFIX_LENGTH} characters, e.g. ck_AbCd1234)")
    query = db.collection(API_KEYS).where(filter=firestore.FieldFilter("prefix", "==", prefix[:PREFIX_LENGTH]))
    revoked = []
    for snapshot in query.stream():
        key = ApiKey.model_validate(snapshot.to_dict())
        if key.active and key.account_id == account_id:
            snapshot.reference.update({"revoked_at": now})
            revoked.append(key.model_copy(update={"revoked_at": now}))
    return revoked
