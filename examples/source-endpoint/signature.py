"""Data Source request signatures (datasource.md §1.3).

Standard Webhooks "v1" layout, but keyed with the *raw* API key bytes: the
signed string is ``<webhook-id>.<webhook-timestamp>.<raw body>`` and the MAC is
HMAC-SHA256 over it, sent as ``v1,<standard base64>``.  An off-the-shelf
Standard Webhooks library base64-decodes a ``whsec_`` secret first, so it
would not interoperate; that is why this module exists instead of a dependency.

The verifier runs its checks in the exact order of the §1.3 table, so the
first failing check decides the error code (a request with an old timestamp
and no signature reports ``source_timestamp_expired``).  Timestamps must be
plain decimal digits: every real signer emits those, and accepting only them
lets the header text be used verbatim in the signed string.
"""

import base64
import hashlib
import hmac
import math
import re
import time

DEFAULT_TOLERANCE_MS = 300_000
_DIGITS = re.compile(r"[0-9]+")


class SignatureError(Exception):
    """A request that fails verification; ``code`` is the wire error code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def sign(key, message_id, timestamp, body):
    """Returns the ``webhook-signature`` value for ``body`` (bytes or str)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    signed = f"{message_id}.{timestamp}.".encode("utf-8") + body
    mac = hmac.new(key.encode("utf-8"), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def signed_headers(key, message_id, body, timestamp=None):
    """The three ``webhook-*`` headers for one request (timestamp defaults to now)."""
    if timestamp is None:
        timestamp = int(time.time())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, message_id, timestamp, body),
    }


def presented_v1_values(header):
    """The non-empty ``v1`` values of a signature header (several during key rotation)."""
    values = []
    for token in (header or "").split():
        scheme, comma, value = token.partition(",")
        if comma and scheme == "v1" and value:
            values.append(value)
    return values


def verify(headers, body, key, now=None, tolerance_ms=DEFAULT_TOLERANCE_MS):
    """Checks a request; raises SignatureError with the §1.3 code of the first failed check.

    ``headers`` is any mapping whose ``get`` is case-insensitive (or already lower-case keys).
    Returns ``(message_id, signed_at)`` on success.
    """
    message_id = headers.get("webhook-id") or ""
    if not message_id:
        raise SignatureError("source_id_missing", "webhook-id header is missing")
    timestamp_text = headers.get("webhook-timestamp") or ""
    if not timestamp_text:
        raise SignatureError("source_timestamp_missing", "webhook-timestamp header is missing")
    if not _DIGITS.fullmatch(timestamp_text):
        raise SignatureError("source_timestamp_invalid", "webhook-timestamp is not a decimal integer")
    timestamp = int(timestamp_text)
    now_s = int(time.time()) if now is None else int(now)
    if abs(now_s - timestamp) > math.ceil(tolerance_ms / 1000):
        raise SignatureError("source_timestamp_expired", "webhook-timestamp is outside the tolerance window")
    presented = presented_v1_values(headers.get("webhook-signature"))
    if not presented:
        raise SignatureError("source_signature_missing", "webhook-signature has no v1 value")
    expected = sign(key, message_id, timestamp_text, body)[3:]
    # Compare against every value without stopping early, so timing does not reveal which matched.
    matched = False
    for value in presented:
        matched |= hmac.compare_digest(expected.encode("ascii"), value.encode("utf-8", "replace"))
    if not matched:
        raise SignatureError("source_signature_invalid", "webhook-signature does not match")
    return message_id, timestamp
