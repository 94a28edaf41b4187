"""Sealed values for the shared Redis cache: routes carry a project's JWT secret, so what the
gateway writes to Redis is encrypted and authenticated (AES-256-GCM) with a key derived from
a secret every gateway process of the deployment already shares (the pool secret).

Each value is bound to its Redis key (associated data), so an entry copied under another key
does not open. Anything that does not open — another deployment's key, a tampered or foreign
value — reads as a cache miss, never as an error.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_KEY_LABEL = b"flux gateway redis cache v1\x00"
_NONCE_BYTES = 12


class Sealer:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a non-empty secret is required to seal cache entries")
        self._aead = AESGCM(hashlib.sha256(_KEY_LABEL + secret.encode()).digest())

    def seal(self, key: str, plaintext: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), key.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, key: str, token: str) -> str | None:
        """The plaintext, or None when `token` was not sealed for `key` with this secret."""
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
            opened = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], key.encode())
            return opened.decode()
        except (InvalidTag, ValueError):  # binascii and Unicode errors are ValueErrors
            return None
