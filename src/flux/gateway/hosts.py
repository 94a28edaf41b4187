"""Pure host/path parsing: which project a request names, and the path left for the backend.

Accepted forms (SPEC §2, §8), any letter case, with or without port, with a trailing dot:
- canonical   `api--<slug>--<hash>.<base_domain>`
- legacy      `api.<slug>.<hash>.<base_domain>`
- path form   `<any gateway host>/api--<slug>--<hash>/...`
- custom domain: any other well-formed host outside the base domain, looked up by name.
A Supabase-style `/rest/v1` prefix is stripped from the remaining path. No I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flux.naming import is_valid_hash, is_valid_slug

_SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"
_HASH = r"[0-9a-f]{7}"
_CANONICAL_LABEL = re.compile(rf"api--({_SLUG})--({_HASH})")
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_SUPABASE_PREFIX = "/rest/v1"


@dataclass(frozen=True, slots=True)
class RouteKey:
    """How to find the project: by hash (+ the slug the URL carries) or by custom hostname."""

    hash: str | None = None
    slug: str | None = None
    hostname: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    key: RouteKey
    path: str  # what the backend sees, always starting with "/"
    prefix: str  # the part of the incoming path that was removed ("" when none)


def normalize_host(host: str) -> str | None:
    """Lower-case host name without port and trailing dot; None when malformed."""
    host = host.strip().lower()
    if host.startswith("["):  # IPv6 literal, optionally with port
        end = host.find("]")
        if end < 0:
            return None
        rest = host[end + 1 :]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            return None
        return host[: end + 1]
    name, sep, port = host.partition(":")
    if sep and not port.isdigit():
        return None
    if name.endswith("."):
        name = name[:-1]
    if not name or len(name) > 253:
        return None
    if _IPV4.fullmatch(name):
        return name
    if not all(_DNS_LABEL.fullmatch(label) for label in name.split(".")):
        return None
    return name


def _project_host(name: str, base_domain: str) -> RouteKey | None:
    """The key of a canonical or legacy project host; None when `name` is neither."""
    suffix = "." + base_domain
    if not name.endswith(suffix):
        return None
    labels = name[: -len(suffix)].split(".")
    if len(labels) == 1:
        match = _CANONICAL_LABEL.fullmatch(labels[0])
        if match and is_valid_slug(match.group(1)):
            return RouteKey(hash=match.group(2), slug=match.group(1))
        return None
    if len(labels) == 3 and labels[0] == "api":
        slug, hash_ = labels[1], labels[2]
        if is_valid_slug(slug) and is_valid_hash(hash_):
            return RouteKey(hash=hash_, slug=slug)
    return None


def _strip_supabase_prefix(path: str) -> tuple[str, str]:
    if path == _SUPABASE_PREFIX or path.startswith(_SUPABASE_PREFIX + "/"):
        return path[len(_SUPABASE_PREFIX) :] or "/", _SUPABASE_PREFIX
    return path, ""


def _path_form(path: str) -> tuple[RouteKey, str, str] | None:
    first, sep, rest = path[1:].partition("/")
    match = _CANONICAL_LABEL.fullmatch(first.lower())
    if not match or not is_valid_slug(match.group(1)):
        return None
    return RouteKey(hash=match.group(2), slug=match.group(1)), "/" + rest, "/" + first


def parse_route(host: str | None, path: str, base_domain: str) -> Route | None:
    """Map (Host header, request path) to a route key and the backend path; None = not a project."""
    base = base_domain.strip().lower().rstrip(".")
    name = normalize_host(host) if host else None
    if not path.startswith("/"):
        path = "/" + path
    key = _project_host(name, base) if name else None
    prefix = ""
    if key is None:
        found = _path_form(path)
        if found is not None:
            key, path, prefix = found
        elif (
            name is None
            or name == base
            or name.endswith("." + base)
            or name.startswith("[")
            or _IPV4.fullmatch(name)
            or "." not in name
        ):
            return None
        else:
            key = RouteKey(hostname=name)
    path, supabase = _strip_supabase_prefix(path)
    return Route(key=key, path=path, prefix=prefix + supabase)
