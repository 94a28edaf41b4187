"""JWT authentication: Authorization header → (role, claims), with PostgREST's errors.

Single mode verifies against `jwt-secret` (HMAC secret, JWK or JWKS; optionally base64),
checks exp/nbf/iat with a 30 s skew allowance and `jwt-aud`, and takes the role from the
`jwt-role-claim-key` path. Pool mode verifies the gateway's bridge JWT (HS256, pool secret,
aud "flux-pool") and derives the tenant schema from its role.

Claims are parsed strictly (`parse_claims`): a JSON object, no NaN/Infinity or numbers that
overflow to them, no lone surrogates, bounded nesting. Anything else is PGRST303 "Parsing claims
failed" rather than a value that breaks later (a claim PostgreSQL cannot store, a time claim that
never compares as expired, a serialisation that recurses too deep).

Verified tokens are remembered per authenticator (bounded LRU keyed by the raw token, so an
authenticator bound to another secret never sees them); exp/nbf/iat are re-checked on every
use, so a cached token expires exactly like a fresh one.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

from flux.rest.errors import (
    ApiError,
    jwt_claims_error,
    jwt_decode_error,
    jwt_secret_missing,
    jwt_token_required,
)
from flux.rest.limits import LIMITS_CLAIM, RequestLimits
from flux.rest.lru import LRU

SKEW_SECONDS = 30
VERIFIED_TOKENS = 1000  # verified tokens remembered per authenticator
Clock = Callable[[], float]  # wall-clock seconds, time.time() unless a test fixes it
POOL_AUDIENCE = "flux-pool"
MAX_CLAIMS_DEPTH = 64  # nesting of objects/arrays in a claims set; real tokens use a handful
_POOL_ROLE = re.compile(r"^t_([0-9a-f]{12})_role$")
_HMAC = ("HS256", "HS384", "HS512")
_ASYMMETRIC = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


@dataclass(frozen=True, slots=True)
class AuthResult:
    role: str
    claims: dict[str, Any]  # shared by every request with the same token: read only
    authenticated: bool
    claims_json: str  # `request.jwt.claims`, serialised once
    schema: str | None = None  # pool mode: the tenant schema
    limits: RequestLimits = RequestLimits()  # pool mode: the tenant's plan

    @classmethod
    def of(
        cls,
        role: str,
        claims: dict[str, Any],
        authenticated: bool,
        schema: str | None = None,
        limits: RequestLimits = RequestLimits(),
    ) -> AuthResult:
        text = json.dumps(claims, ensure_ascii=False, separators=(",", ":"))
        return cls(role, claims, authenticated, text, schema, limits)


class _VerifiedTokens:
    """Raw token → its AuthResult, for tokens that passed every check; time claims re-checked."""

    __slots__ = ("_audience", "_clock", "_lru")

    def __init__(self, audience: str | None, clock: Clock) -> None:
        self._audience = audience
        self._clock = clock
        self._lru: LRU[str, AuthResult] = LRU(VERIFIED_TOKENS)

    def lookup(self, token: str) -> AuthResult | None:
        result = self._lru.get(token)
        if result is not None:
            check_claims(result.claims, self._audience, self._clock())
        return result

    def remember(self, token: str, result: AuthResult) -> AuthResult:
        self._lru.put(token, result)
        return result


# ----------------------------------------------------------------- role claim key path
_PATH_STEP = re.compile(r'\.(?:"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_$@\-]+))|\[(\d+)\]')


def parse_claim_path(path: str) -> tuple[str | int, ...]:
    """`.role`, `.realm_access.roles[0]`, `."https://x.com/role"` → keys and indexes."""
    steps: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = _PATH_STEP.match(path, pos)
        if not match:
            raise ValueError(f"invalid jwt-role-claim-key: {path!r}")
        quoted, bare, index = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(bare if bare is not None else re.sub(r"\\(.)", r"\1", quoted))
        pos = match.end()
    if not steps:
        raise ValueError(f"invalid jwt-role-claim-key: {path!r}")
    return tuple(steps)


def claim_at(claims: Any, path: tuple[str | int, ...]) -> Any:
    value = claims
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return None
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return None
            value = value[step]
    return value


# ----------------------------------------------------------------- keys
@dataclass(frozen=True, slots=True)
class _Key:
    key: Any
    algorithms: tuple[str, ...]
    kid: str | None


def load_keys(secret: str, is_base64: bool = False) -> tuple[_Key, ...]:
    """An HMAC secret, a JWK or a JWKS (JSON) → verification keys."""
    raw: bytes
    if is_base64:
        try:
            raw = base64.b64decode(
                secret + "=" * (-len(secret) % 4),
                altchars=b"-_" if "-" in secret or "_" in secret else None,
            )
        except (binascii.Error, ValueError):
            raise ValueError("jwt-secret is not valid base64") from None
    else:
        raw = secret.encode()
    stripped = raw.strip()
    if stripped.startswith(b"{"):
        try:
            doc = json.loads(stripped)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            jwks = doc["keys"] if isinstance(doc.get("keys"), list) else [doc]
            return tuple(_jwk(entry) for entry in jwks if isinstance(entry, dict))
    return (_Key(raw, _HMAC, None),)


def _jwk(entry: dict[str, Any]) -> _Key:
    algorithms = get_default_algorithms()
    kty = entry.get("kty")
    alg = entry.get("alg")
    if kty == "oct":
        key = algorithms["HS256"].from_jwk(json.dumps(entry))
        return _Key(key, (alg,) if alg else _HMAC, entry.get("kid"))
    family = {"RSA": "RS256", "EC": "ES256", "OKP": "EdDSA"}.get(str(kty))
    if family is None:
        raise ValueError(f"unsupported JWK key type {kty!r}")
    key = algorithms[family].from_jwk(json.dumps(entry))
    if alg:
        allowed: tuple[str, ...] = (alg,)
    elif kty == "RSA":
        allowed = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
    elif kty == "EC":
        allowed = ("ES256", "ES384", "ES512")
    else:
        allowed = ("EdDSA",)
    return _Key(key, allowed, entry.get("kid"))


# ----------------------------------------------------------------- verification
def _bearer_token(authorization: str | None) -> str | None:
    """The token of a `Bearer` Authorization header; None when absent or another scheme."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def _decode_verified(token: str, keys: tuple[_Key, ...]) -> dict[str, Any]:
    if token == "":
        raise jwt_decode_error("Empty JWT is sent in Authorization header")
    parts = token.split(".")
    if len(parts) != 3:
        raise jwt_decode_error(f"Expected 3 parts in JWT; got {len(parts)}")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise jwt_decode_error("JWT couldn't be decoded") from None
    alg = header.get("alg")
    if alg not in _HMAC + _ASYMMETRIC:
        raise jwt_decode_error(
            "Wrong or unsupported encoding algorithm", f"Unsupported algorithm: {alg}"
        )
    kid = header.get("kid")
    candidates = [k for k in keys if alg in k.algorithms and (kid is None or k.kid in (None, kid))]
    if not candidates:
        raise jwt_decode_error(
            "No suitable key or wrong key type", "None of the keys was able to decode the JWT"
        )
    for key in candidates:
        try:
            payload = jwt.api_jws.decode(token, key.key, algorithms=[alg])
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            raise jwt_decode_error("JWT couldn't be decoded") from None
        claims = parse_claims(payload)
        if claims is None:
            raise jwt_claims_error("Parsing claims failed")
        return claims
    raise jwt_decode_error("JWT cryptographic operation failed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf
        raise ValueError("number out of range")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _well_formed(value: Any) -> bool:
    """Nesting within MAX_CLAIMS_DEPTH and every string encodable (no lone surrogates)."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode()
                except UnicodeEncodeError:
                    return False
        elif isinstance(item, dict | list):
            if depth >= MAX_CLAIMS_DEPTH:
                return False
            children = [*item, *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return True


def parse_claims(payload: bytes | str) -> dict[str, Any] | None:
    """A JWT payload as a claims object, or None when it is not strictly valid JSON of one."""
    try:
        claims = json.loads(payload, parse_float=_finite_float, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(claims, dict) or not _well_formed(claims):
        return None
    return claims


def is_numeric_date(value: Any) -> bool:
    """RFC 7519 NumericDate: a JSON number (bool is not one; floats are finite once parsed)."""
    return type(value) is int or type(value) is float


def check_claims(claims: dict[str, Any], audience: str | None, now: float | None = None) -> None:
    """exp / nbf / iat / aud checks with PostgREST's messages and skew allowance."""
    now = time.time() if now is None else now
    for name in ("exp", "nbf", "iat"):  # present means a number: `"exp": null` is refused
        if name in claims and not is_numeric_date(claims[name]):
            raise jwt_claims_error(f"The JWT '{name}' claim must be a number")
    if claims.get("exp") is not None and now - SKEW_SECONDS >= claims["exp"]:
        raise jwt_claims_error("JWT expired")
    if claims.get("nbf") is not None and now + SKEW_SECONDS < claims["nbf"]:
        raise jwt_claims_error("JWT not yet valid")
    if claims.get("iat") is not None and now + SKEW_SECONDS < claims["iat"]:
        raise jwt_claims_error("JWT issued at future")
    aud = claims.get("aud")
    if aud is not None:
        if isinstance(aud, str):
            auds = [aud]
        elif isinstance(aud, list) and all(isinstance(a, str) for a in aud):
            auds = aud
        else:
            raise jwt_claims_error("The JWT 'aud' claim must be a string or an array of strings")
        if audience is not None and auds and audience not in auds:  # [] names no audience
            raise jwt_claims_error("JWT not in audience")


class Authenticator:
    """Single-mode authentication as PostgREST does it."""

    def __init__(
        self,
        secret: str | None,
        *,
        is_base64: bool = False,
        audience: str | None = None,
        role_claim_key: str = ".role",
        anon_role: str | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._keys = load_keys(secret, is_base64) if secret else None
        self._audience = audience
        self._role_path = parse_claim_path(role_claim_key)
        self._anon = anon_role
        self._anonymous = (
            AuthResult.of(anon_role, {"role": anon_role}, False) if anon_role is not None else None
        )
        self._clock = clock
        self._verified = _VerifiedTokens(audience, clock)

    def authenticate(self, authorization: str | None) -> AuthResult:
        token = _bearer_token(authorization)
        if token is None:
            if self._anonymous is None:
                raise jwt_token_required()
            return self._anonymous
        if self._keys is None:
            raise jwt_secret_missing()
        cached = self._verified.lookup(token)
        if cached is not None:
            return cached
        claims = _decode_verified(token, self._keys)
        check_claims(claims, self._audience, self._clock())
        role = claim_at(claims, self._role_path)
        if not (isinstance(role, str) and role):
            if self._anon is None:
                raise jwt_token_required()
            role = self._anon
        # as PostgREST: a token whose role is the anonymous one is not authenticated (a
        # permission error is then 401, not 403)
        return self._verified.remember(token, AuthResult.of(role, claims, role != self._anon))


class PoolAuthenticator:
    """Pool mode: only the gateway's bridge JWT is accepted; it names role and tenant."""

    def __init__(self, pool_secret: str, clock: Clock = time.time) -> None:
        self._keys = (_Key(pool_secret.encode(), ("HS256",), None),)
        self._clock = clock
        self._verified = _VerifiedTokens(POOL_AUDIENCE, clock)

    def authenticate(self, authorization: str | None) -> AuthResult:
        token = _bearer_token(authorization)
        if token is None:
            raise jwt_decode_error("A bridge JWT is required in pool mode")
        cached = self._verified.lookup(token)
        if cached is not None:
            return cached
        if token.count(".") == 2:
            try:
                alg = jwt.get_unverified_header(token).get("alg")
            except jwt.PyJWTError:
                alg = None
            if alg != "HS256":
                raise jwt_decode_error("Wrong or unsupported encoding algorithm")
        claims = _decode_verified(token, self._keys)
        if claims.get("exp") is None:
            raise bridge_error("The bridge JWT must expire")
        if claims.get("aud") != POOL_AUDIENCE:
            raise jwt_claims_error("JWT not in audience")
        check_claims(claims, POOL_AUDIENCE, self._clock())
        role = claims.get("role")
        match = _POOL_ROLE.match(role) if isinstance(role, str) else None
        if match is None or not isinstance(role, str):
            raise bridge_error("The bridge JWT role is not a tenant role")
        try:
            tenant = uuid.UUID(str(claims.get("tenant_id")))
        except ValueError:
            raise bridge_error("The bridge JWT tenant_id is not a UUID") from None
        shortid = match.group(1)
        if tenant.hex[:12] != shortid:
            raise bridge_error("The bridge JWT role does not belong to its tenant")
        limits = RequestLimits.from_claim(claims.get(LIMITS_CLAIM))
        visible = {key: value for key, value in claims.items() if key != LIMITS_CLAIM}
        result = AuthResult.of(role, visible, True, f"t_{shortid}_api", limits)
        return self._verified.remember(token, result)


def bridge_error(message: str) -> ApiError:
    return jwt_decode_error(message)
