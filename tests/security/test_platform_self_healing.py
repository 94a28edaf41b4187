"""The platform heals itself: `kill -9` of the PostgreSQL that holds the catalog and the shared
database (one postmaster, started by `flux up`) is noticed and the server restarted; while it
is down Service URLs and the control API answer 503 with Retry-After at once; afterwards every
write that was acknowledged (2xx) is still there."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx

from flux.cli.user_config import config_path, load_user_config

SCHEMA = """
create table items (id bigint primary key);
alter table items enable row level security;
grant select, insert on items to authenticated;
create policy items_all on items to authenticated using (true) with check (true);
"""
RECOVERY_BUDGET = 15.0
FAST = 2.0  # an answer during the outage slower than this counts as a hang


def _postmaster_pid(platform) -> int:
    pidfile = platform.up.flux_home / "pg" / "system" / "postmaster.pid"
    return int(pidfile.read_text().splitlines()[0])


class Writer(threading.Thread):
    """Inserts rows 1, 2, 3, ... through the gateway; remembers which ones were acknowledged,
    and the status, latency and Retry-After of every refused one."""

    def __init__(self, platform, tenant) -> None:
        super().__init__(daemon=True)
        self.url = f"{tenant.url}/items"
        self.headers = {**tenant.headers(), "Prefer": "return=minimal"}
        self.acked: list[int] = []
        self.ack_times: list[float] = []
        self.refused: list[tuple[int, float, str | None]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as http:
            n = 0
            while not self.stop.is_set():
                n += 1
                started = time.monotonic()
                try:
                    res = http.post(self.url, json={"id": n}, headers=self.headers)
                except httpx.HTTPError:
                    continue
                took = time.monotonic() - started
                if 200 <= res.status_code < 300:
                    self.acked.append(n)
                    self.ack_times.append(time.monotonic())
                else:
                    self.refused.append((res.status_code, took, res.headers.get("retry-after")))
                time.sleep(0.01)


def test_kill_9_of_platform_postgres_heals_and_loses_no_acknowledged_write(platform):
    tenant = platform.create("heal")
    platform.push(tenant, SCHEMA)
    token = load_user_config(config_path(platform.up.home))["token"]
    control = httpx.Client(
        base_url=f"{platform.up.api_base}/cli/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    writer = Writer(platform, tenant)
    writer.start()
    try:
        deadline = time.monotonic() + 10
        while len(writer.acked) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(writer.acked) >= 20, writer.refused[:5]

        old_pid = _postmaster_pid(platform)
        os.kill(old_pid, signal.SIGKILL)
        killed_at = time.monotonic()

        # The control API during the outage: a quick 503 with Retry-After, not a 500 or a hang.
        started = time.monotonic()
        during = control.get("/list")
        took = time.monotonic() - started
        assert took < FAST, f"GET list took {took:.2f}s while the database was down"
        if during.status_code != 200:  # 200 only if the restart already finished
            assert during.status_code == 503, during.text
            assert during.headers.get("retry-after") and "error" in during.json()

        while time.monotonic() - killed_at < RECOVERY_BUDGET:
            if writer.ack_times and writer.ack_times[-1] > killed_at + 0.05:
                break
            time.sleep(0.05)
        recovered = [t for t in writer.ack_times if t > killed_at]
        assert recovered, f"no write succeeded within {RECOVERY_BUDGET}s: {writer.refused[-5:]}"
        print(f"gateway writes succeed again {recovered[0] - killed_at:.2f}s after kill -9")
        time.sleep(0.5)
    finally:
        writer.stop.set()
        writer.join(10)

    assert _postmaster_pid(platform) != old_pid
    for status, took, retry_after in writer.refused:
        assert status == 503, writer.refused
        assert took < FAST, f"a refused request took {took:.2f}s"
        assert retry_after, "a 503 without Retry-After"

    deadline = time.monotonic() + RECOVERY_BUDGET
    while time.monotonic() < deadline and control.get("/list").status_code != 200:
        time.sleep(0.2)
    listed = platform.ok("list", "--json")
    assert tenant.hash in listed
    control.close()

    stored: set[int] = set()
    offset = 0
    while True:
        page = platform.get(tenant, f"items?select=id&order=id&limit=500&offset={offset}")
        assert page.status_code == 200, page.text
        rows = page.json()
        stored.update(row["id"] for row in rows)
        if len(rows) < 500:
            break
        offset += 500
    lost = sorted(set(writer.acked) - stored)
    assert not lost, f"{len(lost)} acknowledged writes lost: {lost[:10]}"
