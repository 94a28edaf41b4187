"""PostgREST-compatible configuration: `PGRST_*` environment variables and a config file.

Owns the list of recognised keys, their defaults (PostgREST v14's), value parsing and the
report of unknown keys. Pool-mode keys (`pool-mode`, `pool-jwt-secret`, `pool-schema-cache-size`)
are Flux extensions, also readable as `FLUX_POOL_*`; so is `server-max-body-size` (413 above it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flux.errors import FluxError


class ConfigError(FluxError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, code="config_error", hint=hint, status=500)


TX_END_VALUES = ("commit", "commit-allow-override", "rollback", "rollback-allow-override")
OPENAPI_MODES = ("follow-privileges", "ignore-privileges", "disabled")


@dataclass(frozen=True)
class RestConfig:
    """Every setting the REST engine reads. Field names are the keys with `-` → `_`."""

    db_uri: str = "postgresql://"
    db_schemas: tuple[str, ...] = ("public",)
    db_anon_role: str | None = None
    jwt_secret: str | None = None
    jwt_secret_is_base64: bool = False
    jwt_aud: str | None = None
    jwt_role_claim_key: str = ".role"
    db_max_rows: int | None = None
    db_extra_search_path: tuple[str, ...] = ("public",)
    db_pre_request: str | None = None
    db_tx_end: str = "commit"
    db_prepared_statements: bool = True
    db_pool: int = 10
    db_pool_acquisition_timeout: float = 10.0
    db_channel: str = "pgrst"
    db_channel_enabled: bool = True
    server_host: str = "127.0.0.1"
    server_port: int = 3000
    server_timing_enabled: bool = False
    server_max_body_size: int = 10 * 1024 * 1024  # Flux extension: larger bodies are 413
    server_cors_allowed_origins: tuple[str, ...] = ()  # empty: any origin
    openapi_mode: str = "follow-privileges"
    openapi_security_active: bool = False
    openapi_server_proxy_uri: str | None = None
    db_root_spec: str | None = None
    admin_server_port: int | None = None
    db_aggregates_enabled: bool = False
    db_plan_enabled: bool = False
    client_error_verbosity: str = "verbose"
    log_level: str = "error"
    pool_mode: bool = False
    pool_jwt_secret: str | None = None
    pool_schema_cache_size: int = 1000
    app_settings: dict[str, str] = field(default_factory=dict)

    def with_(self, **changes: Any) -> RestConfig:
        return replace(self, **changes)


_KEYS = {f.name.replace("_", "-"): f for f in fields(RestConfig) if f.name != "app_settings"}
_LIST_KEYS = {"db-schemas", "db-extra-search-path", "server-cors-allowed-origins"}
_ENV_ALIASES = {
    "FLUX_POOL_MODE": "pool-mode",
    "FLUX_POOL_JWT_SECRET": "pool-jwt-secret",
    "FLUX_POOL_SCHEMA_CACHE_SIZE": "pool-schema-cache-size",
}


def _parse_bool(key: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "on", "yes", "1"):
        return True
    if value in ("false", "off", "no", "0"):
        return False
    raise ConfigError(f"invalid boolean for {key}: {raw!r}")


def _parse_value(key: str, raw: str) -> object:
    kind = _KEYS[key].type
    if key in _LIST_KEYS:
        return tuple(s.strip() for s in raw.split(",") if s.strip())
    if raw.strip() == "" and "None" in str(kind):
        return None  # an empty optional setting is unset, as PostgREST reads it
    if "bool" in str(kind):
        return _parse_bool(key, raw)
    if "int" in str(kind):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"invalid integer for {key}: {raw!r}") from None
    if "float" in str(kind):
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"invalid number for {key}: {raw!r}") from None
    return raw


_LINE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*=\s*(.*?)\s*$")


def parse_config_file(text: str) -> dict[str, str]:
    """`key = "value"` lines (numbers/booleans may be bare), `#` comments, blank lines."""
    result: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ConfigError(f"config file line {number}: expected key = value")
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace('\\"', '"')
        elif "#" in value:
            value = value.split("#", 1)[0].strip()
        result[key] = value
    return result


def env_to_key(name: str) -> str | None:
    """`PGRST_DB_URI` → `db-uri`; `PGRST_APP_SETTINGS_X` → `app.settings.x`; other → None."""
    if name in _ENV_ALIASES:
        return _ENV_ALIASES[name]
    if not name.startswith("PGRST_"):
        return None
    rest = name[len("PGRST_") :]
    if rest.startswith("APP_SETTINGS_"):
        return "app.settings." + rest[len("APP_SETTINGS_") :].lower()
    return rest.lower().replace("_", "-")


def build_config(values: Mapping[str, str]) -> tuple[RestConfig, list[str]]:
    """Turn raw key → string values into a RestConfig; returns it and the unknown keys."""
    kwargs: dict[str, object] = {}
    app_settings: dict[str, str] = {}
    unknown: list[str] = []
    for key, raw in values.items():
        if key.startswith("app.settings."):
            app_settings[key[len("app.settings.") :]] = raw
        elif key in _KEYS:
            kwargs[_KEYS[key].name] = _parse_value(key, raw)
        else:
            unknown.append(key)
    config = RestConfig(**kwargs, app_settings=app_settings)  # type: ignore[arg-type]
    validate(config)
    return config, sorted(unknown)


def validate(config: RestConfig) -> None:
    if config.db_tx_end not in TX_END_VALUES:
        raise ConfigError(f"db-tx-end must be one of {', '.join(TX_END_VALUES)}")
    if config.openapi_mode not in OPENAPI_MODES:
        raise ConfigError(f"openapi-mode must be one of {', '.join(OPENAPI_MODES)}")
    if config.db_pool < 1:
        raise ConfigError("db-pool must be at least 1")
    if config.openapi_server_proxy_uri and not _is_proxy_uri(config.openapi_server_proxy_uri):
        raise ConfigError(
            "Malformed proxy uri, a correct example: https://example.com:8443/basePath"
        )
    if not config.db_schemas and not config.pool_mode:
        raise ConfigError("db-schemas must name at least one schema")
    if config.pool_mode and not config.pool_jwt_secret:
        raise ConfigError(
            "pool mode needs pool-jwt-secret",
            hint="set PGRST_POOL_JWT_SECRET or FLUX_POOL_JWT_SECRET",
        )


def _is_proxy_uri(value: str) -> bool:
    """An http(s) URL with a host and, if any, a valid port (openapi-server-proxy-uri)."""
    uri = urlsplit(value)
    try:
        uri.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        return False
    return uri.scheme.lower() in ("http", "https") and bool(uri.hostname)


def load_config(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> tuple[RestConfig, list[str]]:
    """Config file values (if a path is given) overridden by environment variables."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        values.update(parse_config_file(text))
    for name, raw in env.items():
        key = env_to_key(name)
        if key is not None:
            values[key] = raw
    return build_config(values)
