"""HTTP client of the control-plane API (`{api_base}/cli/v1/...`).

Turns every transport or API failure into a FluxError with a one-line message and a hint, so
commands never show tracebacks. With FLUX_DEBUG set it prints request/response details to
stderr with the bearer token and secret-bearing fields redacted.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from flux.cli.settings import CliSettings
from flux.errors import FluxError

TIMEOUT = httpx.Timeout(60.0, connect=5.0)
# backups, restores and dumps of large databases: the server bounds them itself
LONG_TIMEOUT = httpx.Timeout(6 * 3600.0, connect=5.0)
CHUNK = 1 << 20
REDACTED = "***"
_SECRET_KEYS = {"token", "jwtsecret", "password", "anonkey", "servicerolekey", "secret", "secrets"}


def _is_secret(key: str, item: Any) -> bool:
    if key.lower() == "url":  # connection URLs embed a password (user:pass@host)
        return isinstance(item, str) and "@" in item
    return key.lower() in _SECRET_KEYS


def redact(value: Any) -> Any:
    """A copy of a JSON value with secret-bearing fields replaced by '***'."""
    if isinstance(value, dict):
        return {
            key: REDACTED if _is_secret(key, item) else redact(item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


class ApiClient:
    """A synchronous client bound to one API base and token."""

    def __init__(
        self,
        settings: CliSettings,
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout = TIMEOUT,
    ) -> None:
        self.settings = settings
        headers = {"Accept": "application/json", "User-Agent": "flux-cli"}
        if settings.token:
            headers["Authorization"] = f"Bearer {settings.token}"
        self._http = httpx.Client(
            base_url=f"{settings.api_base}/cli/v1/",
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get(self, path: str) -> dict[str, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("POST", path, body)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request; the decoded JSON object on 2xx, a FluxError otherwise."""
        with self._transport_errors(method, path):
            if body is not None:
                self._debug(f"  body: {json.dumps(redact(body))}")
            response = self._http.request(method, path, json=body)
        return self._answer(response, f"{self.settings.api_base}/cli/v1/{path}")

    def upload(self, path: str, source: Path) -> dict[str, Any]:
        """POST a file's bytes (streamed) to `path`; the JSON answer."""

        def chunks() -> Iterator[bytes]:
            with open(source, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk

        headers = {"Content-Type": "application/octet-stream"}
        with self._transport_errors("POST", path):
            response = self._http.post(path, content=chunks(), headers=headers)
        return self._answer(response, f"{self.settings.api_base}/cli/v1/{path}")

    def download(self, path: str, target: Path) -> int:
        """GET `path` into `target` (created 0600, replaced only when complete); bytes."""
        partial = target.with_name(f".{target.name}.partial")
        with self._transport_errors("GET", path), self._http.stream("GET", path) as response:
            if response.status_code >= 400:
                response.read()
                self._answer(response, f"{self.settings.api_base}/cli/v1/{path}")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            size = 0
            try:
                with os.fdopen(fd, "wb") as handle:
                    for chunk in response.iter_bytes(CHUNK):
                        handle.write(chunk)
                        size += len(chunk)
                os.replace(partial, target)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        return size

    @contextmanager
    def _transport_errors(self, method: str, path: str) -> Iterator[None]:
        url = f"{self.settings.api_base}/cli/v1/{path}"
        self._debug(f"→ {method} {url}")
        for name, value in self._http.headers.items():
            shown = "Bearer ***" if name.lower() == "authorization" else value
            self._debug(f"  {name}: {shown}")
        try:
            yield
        except httpx.ConnectError as exc:
            raise FluxError(
                f"control plane not reachable at {self.settings.api_base}",
                code="unreachable",
                hint="start it with `flux up`",
            ) from exc
        except httpx.TimeoutException as exc:
            raise FluxError(
                f"control plane at {self.settings.api_base} did not answer in time",
                code="timeout",
                hint="check that `flux up` is healthy",
            ) from exc
        except httpx.HTTPError as exc:
            raise FluxError(
                f"request to {url} failed: {exc}", code="http_error", hint="check FLUX_API_BASE"
            ) from exc

    def _answer(self, response: httpx.Response, url: str) -> dict[str, Any]:
        """The decoded JSON object of a 2xx response, a FluxError otherwise."""
        payload = self._decode(response)
        self._debug(f"← {response.status_code} {json.dumps(redact(payload))}")
        if response.status_code == 401:
            raise FluxError(
                "invalid or missing API token",
                code="unauthorized",
                hint="run `flux login`",
                status=401,
            )
        if response.status_code >= 400:
            message = payload.get("error") if isinstance(payload, dict) else None
            hint = payload.get("hint") if isinstance(payload, dict) else None
            raise FluxError(
                str(message or f"HTTP {response.status_code} from {url}"),
                code="api_error",
                hint=hint,
                status=response.status_code,
            )
        if not isinstance(payload, dict):
            raise FluxError(
                f"unexpected response from {url} (not a JSON object)",
                code="bad_response",
                hint="is FLUX_API_BASE a Flux control plane?",
            )
        return payload

    def _decode(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            return None

    def _debug(self, line: str) -> None:
        if self.settings.debug:
            print(f"[flux debug] {line}", file=sys.stderr)
