"""Foundation benchmarks: v2 project creation latency, `flux list` with 500 projects, and
`flux up` cold start on existing state. Each figure comes with a same-run baseline.

    python bench/foundation_bench.py [--creates 100] [--projects 500]

Baselines: an authenticated no-op API call (GET auth/verify) for creation latency, and
`flux version` (interpreter + CLI start-up, no HTTP) for `flux list`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from benchlib import percentile

from flux.cli.user_config import config_path, load_user_config
from flux.devserver import FluxUp


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=100)
    parser.add_argument("--projects", type=int, default=500)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="flux-bench-"))
    platform = FluxUp(root)
    first_start = platform.start(timeout=60)
    token = load_user_config(config_path(platform.home))["token"]
    client = httpx.Client(
        base_url=f"{platform.api_base}/cli/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    try:
        for _ in range(20):
            client.get("/auth/verify")
        verify = [
            timed(lambda: client.get("/auth/verify").raise_for_status())
            for _ in range(args.creates)
        ]
        creates = [
            timed(
                lambda i=i: client.post("/create", json={"name": f"bench {i}"}).raise_for_status()
            )
            for i in range(args.creates)
        ]
        print(
            f"auth/verify baseline: p50 {statistics.median(verify):.1f} ms, "
            f"p95 {percentile(verify, 95):.1f} ms"
        )
        print(
            f"v2 create x{args.creates}: p50 {statistics.median(creates):.1f} ms, "
            f"p95 {percentile(creates, 95):.1f} ms, max {max(creates):.1f} ms "
            f"(p50 = {statistics.median(creates) / statistics.median(verify):.1f}x baseline)"
        )
        for i in range(args.creates, args.projects):
            client.post("/create", json={"name": f"bench {i}"}).raise_for_status()
        api_list = [timed(lambda: client.get("/list").raise_for_status()) for _ in range(5)]
        version = [timed(lambda: platform.cli("version")) for _ in range(3)]
        cli_list = []
        for _ in range(3):
            start = time.perf_counter()
            result = platform.cli("list")
            cli_list.append((time.perf_counter() - start) * 1000)
            assert result.returncode == 0 and result.stdout.count("bench-") >= args.projects
        print(
            f"GET list with {args.projects} projects: median {statistics.median(api_list):.1f} ms"
        )
        print(
            f"`flux list` with {args.projects} projects: median "
            f"{statistics.median(cli_list):.0f} ms (`flux version` baseline "
            f"{statistics.median(version):.0f} ms)"
        )
    finally:
        client.close()
        platform.stop()
    colds = []
    for _ in range(3):
        colds.append(platform.start(timeout=60))
        platform.stop()
    print(f"flux up first start (initdb + bootstrap): {first_start:.2f} s")
    print(
        f"flux up cold start, existing state ({args.projects} projects): "
        f"median {statistics.median(colds):.2f} s, max {max(colds):.2f} s"
    )


if __name__ == "__main__":
    main()
