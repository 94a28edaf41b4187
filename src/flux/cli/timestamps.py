"""Backup timestamps as the original Flux shows them: `unixMs · ISO UTC · human UTC · relative`."""

from __future__ import annotations

from datetime import UTC, datetime

_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def relative(moment: datetime, now: datetime) -> str:
    seconds = int((now - moment).total_seconds())
    if abs(seconds) < 1:
        return "just now"
    for unit, size in _UNITS:
        if abs(seconds) >= size:
            count = abs(seconds) // size
            text = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"{text} ago" if seconds > 0 else f"in {text}"
    return "just now"


def four_part(iso: str, now: datetime | None = None) -> str:
    moment = datetime.fromisoformat(iso).astimezone(UTC)
    now = now or datetime.now(UTC)
    unix_ms = int(moment.timestamp() * 1000)
    iso_utc = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    human = moment.strftime("%a %d %b %Y %H:%M:%S UTC")
    return f"{unix_ms} · {iso_utc} · {human} · {relative(moment, now)}"
