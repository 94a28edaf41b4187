"""Prometheus metrics of one REST engine instance (own registry, so instances never clash)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class _PoolCollector(Collector):
    def __init__(self, stats: Callable[[], dict[str, int]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self._stats()
        size = stats.get("pool_size", 0)
        available = stats.get("pool_available", 0)
        yield GaugeMetricFamily(
            "flux_rest_pool_connections_in_use",
            "Connections lent to requests",
            value=max(size - available, 0),
        )
        yield GaugeMetricFamily(
            "flux_rest_pool_connections_available", "Idle connections in the pool", value=available
        )
        yield GaugeMetricFamily(
            "flux_rest_pool_requests_waiting",
            "Requests waiting for a connection",
            value=stats.get("requests_waiting", 0),
        )


class Metrics:
    def __init__(self, pool_stats: Callable[[], dict[str, int]]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "flux_rest_requests", "HTTP requests by status", ["status"], registry=self.registry
        )
        self.latency = Histogram(
            "flux_rest_request_seconds",
            "Request latency",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.schema_loads = Counter(
            "flux_rest_schema_cache_loads", "Schema cache loads", registry=self.registry
        )
        self.schema_load_seconds = Histogram(
            "flux_rest_schema_cache_load_seconds",
            "Schema cache load durations",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0),
        )
        self.registry.register(_PoolCollector(pool_stats))

    def observe_request(self, status: int, seconds: float) -> None:
        self.requests.labels(str(status)).inc()
        self.latency.observe(seconds)

    def observe_schema_load(self, schema: str, seconds: float) -> None:
        self.schema_loads.inc()
        self.schema_load_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
