"""Admission limits: fixed-window rate limit, in-flight cap, status/maintenance, body size."""

from __future__ import annotations

import pytest

from flux.gateway.limits import InFlight, RateLimiter, check_body_size, check_state
from flux.gateway.redislink import RedisLink

pytestmark = pytest.mark.anyio
T0 = 1_700_000_000.0 - (1_700_000_000 % 60)  # start of a minute


async def test_fixed_window_counts_and_resets() -> None:
    limiter = RateLimiter()
    for _ in range(3):
        assert await limiter.check("p", 3, now=T0 + 1) is None
    reject = await limiter.check("p", 3, now=T0 + 15.5)
    assert reject is not None
    assert (reject.status, reject.error, reject.headers) == (
        429,
        "rate limit exceeded",
        {"Retry-After": "45"},
    )
    assert await limiter.check("other", 3, now=T0 + 16) is None
    assert await limiter.check("p", 3, now=T0 + 60) is None  # next window


async def test_retry_after_is_at_least_one_second() -> None:
    limiter = RateLimiter()
    await limiter.check("p", 1, now=T0 + 59.9)
    reject = await limiter.check("p", 1, now=T0 + 59.95)
    assert reject is not None and reject.headers["Retry-After"] == "1"


async def test_redis_counter_is_shared_between_limiters(redis_server) -> None:
    first, second = RedisLink(redis_server.url), RedisLink(redis_server.url)
    a, b = RateLimiter(first), RateLimiter(second)
    try:
        assert await a.check("p", 2, now=T0) is None
        assert await b.check("p", 2, now=T0) is None
        assert (await a.check("p", 2, now=T0)).status == 429
        assert (await b.check("p", 2, now=T0)).status == 429
    finally:
        await first.aclose()
        await second.aclose()


async def test_redis_down_falls_back_to_local_counting(redis_server) -> None:
    link = RedisLink(redis_server.url)
    limiter = RateLimiter(link)
    try:
        assert await limiter.check("p", 100, now=T0) is None
        redis_server.stop()
        for _ in range(5):
            assert await limiter.check("p", 100, now=T0) is None  # fail open
        assert not link.available
        assert (await RateLimiter(link).check("q", 0, now=T0)).status == 429  # local still limits
    finally:
        await link.aclose()


def test_in_flight_cap() -> None:
    cap = InFlight(2)
    assert cap.acquire("p") is None and cap.acquire("p") is None
    reject = cap.acquire("p")
    assert reject is not None and reject.status == 503 and reject.headers == {"Retry-After": "1"}
    assert cap.acquire("q") is None
    cap.release("p")
    assert cap.acquire("p") is None


@pytest.mark.parametrize(
    ("method", "status", "lifecycle", "maintenance", "expected"),
    [
        ("GET", "active", "active", False, None),
        ("POST", "active", "dormant", False, None),
        ("GET", "active", "active", True, None),
        ("HEAD", "active", "active", True, None),
        ("POST", "active", "active", True, "maintenance"),
        ("PATCH", "active", "active", True, "maintenance"),
        ("PUT", "active", "active", True, "maintenance"),
        ("DELETE", "active", "active", True, "maintenance"),
        ("GET", "suspended", "active", False, "project_suspended"),
        ("GET", "stopped", "active", False, "project_stopped"),
        ("GET", "active", "archived", False, "project_archived"),
    ],
)
def test_check_state(method, status, lifecycle, maintenance, expected) -> None:
    reject = check_state(method, status=status, lifecycle_state=lifecycle, maintenance=maintenance)
    if expected is None:
        assert reject is None
    else:
        assert reject is not None and reject.status == 503 and reject.reason == expected
        assert "Retry-After" in reject.headers


def test_body_size() -> None:
    assert check_body_size(None, 10) is None
    assert check_body_size("10", 10) is None
    assert check_body_size("11", 10).status == 413
    assert check_body_size("-1", 10).status == 400
    assert check_body_size("abc", 10).status == 400
