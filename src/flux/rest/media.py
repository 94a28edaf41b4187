"""Content negotiation: `Accept` entries → the one `Media` a response is produced in.

Mirrors PostgREST's MediaType/Negotiate: JSON (and `*/*`), `vnd.pgrst.object` (singular,
optionally `nulls=stripped`), `vnd.pgrst.array;nulls=stripped`, CSV, GeoJSON (with PostGIS),
`vnd.pgrst.plan[+json|+text]` (when `db-plan-enabled`), and for functions returning a scalar
of the right type `text/plain`, `text/xml` and `application/octet-stream`. Nothing producible
is 406 PGRST107.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flux.rest import grammar as g
from flux.rest.errors import media_type_error

Kind = Literal["json", "object", "csv", "geojson", "plan", "text", "xml", "octet", "openapi"]
PLAN_OPTIONS = ("analyze", "verbose", "settings", "buffers", "wal")
_MIME = {
    "json": "application/json",
    "csv": "text/csv",
    "geojson": "application/geo+json",
    "text": "text/plain",
    "xml": "text/xml",
    "octet": "application/octet-stream",
    "openapi": "application/openapi+json",
}


@dataclass(frozen=True, slots=True)
class Media:
    kind: Kind
    strip_nulls: bool = False
    plan_format: Literal["json", "text"] = "json"
    plan_options: tuple[str, ...] = ()
    plan_for: Media | None = None

    @property
    def mime(self) -> str:
        if self.kind == "object":
            base = "application/vnd.pgrst.object+json"
            return base + ";nulls=stripped" if self.strip_nulls else base
        if self.kind == "json" and self.strip_nulls:
            return "application/vnd.pgrst.array+json;nulls=stripped"
        if self.kind == "plan":
            assert self.plan_for is not None
            text = f'application/vnd.pgrst.plan+{self.plan_format}; for="{self.plan_for.mime}"'
            if self.plan_options:
                text += "; options=" + "|".join(self.plan_options)
            return text
        return _MIME[self.kind]

    @property
    def content_type(self) -> str:
        return self.mime if self.kind == "octet" else self.mime + "; charset=utf-8"

    @property
    def singular(self) -> bool:
        return self.kind == "object"


JSON = Media("json")


def _decode(m: g.MediaType) -> Media | None:
    """One Accept entry → Media (None for types PostgREST does not know)."""
    kind = f"{m.type}/{m.subtype}"
    stripped = m.params.get("nulls") == "stripped"
    if kind in ("application/json", "*/*"):
        return JSON
    if kind in ("application/vnd.pgrst.object+json", "application/vnd.pgrst.object"):
        return Media("object", stripped)
    if kind in ("application/vnd.pgrst.array+json", "application/vnd.pgrst.array"):
        return Media("json", stripped)
    if kind in ("application/vnd.pgrst.plan", "application/vnd.pgrst.plan+text"):
        return _plan("text", m)
    if kind == "application/vnd.pgrst.plan+json":
        return _plan("json", m)
    for name, mime in _MIME.items():
        if kind == mime:
            return Media(name)  # type: ignore[arg-type]
    return None


def _plan(fmt: Literal["json", "text"], m: g.MediaType) -> Media:
    target = JSON
    if "for" in m.params:
        parsed = g.parse_accept(m.params["for"])
        found = _decode(parsed[0]) if parsed else None
        target = found if found is not None and found.kind != "plan" else JSON
    opts = set(m.params.get("options", "").split("|"))
    return Media("plan", False, fmt, tuple(o for o in PLAN_OPTIONS if o in opts), target)


def negotiate(
    accept: tuple[g.MediaType, ...],
    *,
    plan_enabled: bool,
    geojson: bool = False,
    scalar: Kind | None = None,
) -> Media:
    """The first acceptable entry we can produce (`scalar`: text/xml/octet a function allows)."""
    producible: set[Kind] = {"json", "object", "csv"}
    if geojson:
        producible.add("geojson")
    if scalar is not None:
        producible.add(scalar)
    for entry in accept:
        media = _decode(entry)
        if media is None:
            if (entry.type, entry.subtype) == ("application", "*"):
                return JSON
            continue
        if media.kind == "plan":
            assert media.plan_for is not None
            if plan_enabled and media.plan_for.kind in producible:
                return media
            continue
        if media.kind in producible:
            return media
    raise media_type_error([f"{m.type}/{m.subtype}" for m in accept])
