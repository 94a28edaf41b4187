"""A throwaway `flux up` in a subprocess with its own HOME, FLUX_HOME and ports, plus the real
`flux` CLI against it. Used by the end-to-end tests and the benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from flux.postgres import free_port

FLUX = [sys.executable, "-c", "from flux.cli.app import main; main()"]


class FluxUp:
    """One `flux up` process with its own HOME, FLUX_HOME and ports."""

    def __init__(self, root: Path, templates: Path | None = None) -> None:
        self.root = root
        self.home = root / "user"
        self.flux_home = root / "state"
        self.home.mkdir(exist_ok=True)
        self.flux_home.mkdir(exist_ok=True)
        if templates is not None and not (self.flux_home / "templates").exists():
            (self.flux_home / "templates").symlink_to(templates, target_is_directory=True)
        self.api_port = free_port()
        self.gateway_port = free_port()
        self.proc: subprocess.Popen | None = None
        self.output = root / "up.log"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLUX_", "PGRST_"))}
        env.update(
            HOME=str(self.home),
            FLUX_HOME=str(self.flux_home),
            FLUX_API_PORT=str(self.api_port),
            FLUX_GATEWAY_PORT=str(self.gateway_port),
            NO_COLOR="1",
            COLUMNS="200",
            TERM="dumb",
        )
        return env

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api"

    def start(self, timeout: float = 30.0) -> float:
        started = time.monotonic()
        with open(self.output, "ab") as log:
            self.proc = subprocess.Popen(
                FLUX + ["up"], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root
            )
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"flux up exited early:\n{self.output.read_text()}")
            if "Flux is up." in self.output.read_text():
                try:
                    httpx.get(f"{self.api_base}/openapi.json", timeout=1).raise_for_status()
                    return time.monotonic() - started
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"flux up did not start:\n{self.output.read_text()}")

    def stop(self, sig: int = signal.SIGINT) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self.proc = None
        return code

    def cli(
        self, *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            FLUX + list(args),
            env={**self.env, **(env or {})},
            cwd=cwd or self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def postgres_pids(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-f", str(self.flux_home)], capture_output=True, text=True
        ).stdout
        return [int(p) for p in out.split()]
