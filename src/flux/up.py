"""`flux up`: the embedded platform on one machine (SPEC §1 "The embedded default").

Runs under the home's lock, taken with the ports checked by the `flux up` command before this
module is even imported (flux.cli.commands.platform). Starts the local Postgres server (catalog
+ shared cluster `local-1`), serves the control plane (and the gateway with its in-process REST
pool), then writes the admin token into the CLI config, and on Ctrl-C / SIGTERM stops every
server and child cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time

import uvicorn
from starlette.applications import Starlette

from flux.backups.artefacts import backups_root
from flux.catalog.projects import Project
from flux.catalog.tokens import preview
from flux.cli.user_config import config_path, load_user_config, update_user_config
from flux.config import Settings
from flux.control.app import build_control_app
from flux.control.backups import run_schedule as run_backup_schedule
from flux.control.context import ControlContext
from flux.control.db_access import sweep as sweep_db_access
from flux.control.lifecycle import restore_dedicated
from flux.control.limits import CallLimiter
from flux.embedded import (
    EmbeddedState,
    ensure_admin_token,
    load_state,
    open_catalog,
    start_database,
)
from flux.engines.runners.local import LocalRunner
from flux.engines.v1_dedicated import DedicatedEngine
from flux.engines.v2_shared import SharedEngine
from flux.errors import FluxError
from flux.gateway import ActivityRecorder
from flux.gateway.app import build_gateway_app
from flux.gateway.directory import Directory
from flux.migrations import PushLimits
from flux.platform_supervisor import PlatformSupervisor
from flux.rest.app import build_app
from flux.rest.config import RestConfig
from flux.rest.server import tune_garbage_collector

log = logging.getLogger(__name__)

SCHEMA_RELOAD_TIMEOUT = 10.0
BACKUP_SCHEDULE_CHECK = 60.0  # seconds between looks for projects due a scheduled backup
# The shared pool's connections, and how many of them one project may hold at once: a slow
# project gets 503s at its cap instead of starving the others.
POOL_CONNECTIONS = 20
PROJECT_IN_FLIGHT_CAP = 8
POOL_ACQUISITION_TIMEOUT = 5.0


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to `flux up` (several servers share it)."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def _server(app, host: str, port: int, *, lifespan: str = "off") -> _QuietServer:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan=lifespan,
        loop="uvloop",
        http="httptools",
    )
    return _QuietServer(config)


def _say(line: str = "") -> None:
    print(line, flush=True)


class Platform:
    """Everything `flux up` runs, built from settings; `run()` blocks until stopped."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state: EmbeddedState = load_state(settings.home)
        self.servers: list[_QuietServer] = []
        self.catalog = None
        self.runner = LocalRunner(self.state.home / "run" / "units")
        self.supervisor = PlatformSupervisor(self.state.home / "run" / "platform")
        self.dedicated = DedicatedEngine(self.state.home, self.state.templates, self.runner)

    def prepare(self) -> None:
        start_database(self.state)
        self.supervisor.supervise(self.state.cluster)
        self.catalog = open_catalog(self.state)

    def publish_admin_token(self) -> None:
        """Reuse the admin token stored in the CLI config when it still verifies here (else
        mint one) and point the CLI config at this platform. Runs once the servers listen, so
        a start that fails leaves the config as it was."""
        stored = load_user_config(config_path()).get("token")
        self.token, self.token_minted = ensure_admin_token(self.catalog, stored)
        update_user_config(
            config_path(),
            apiBase=self.settings.api_base,
            token=self.token,
            dashboardBase=self.settings.dashboard_base,
        )

    def context(self) -> ControlContext:
        s = self.settings
        return ControlContext(
            catalog=self.catalog,
            engines={
                "v2_shared": SharedEngine(
                    self.state.shared_conninfo(), pool_secret=self.state.pool_jwt_secret
                ),
                "v1_dedicated": self.dedicated,
            },
            base_domain=s.base_domain,
            gateway_host=s.host,
            gateway_port=s.gateway_port,
            scheme=s.scheme,
            push_limits=PushLimits(
                statement_timeout=s.push_statement_timeout, lock_timeout=s.push_lock_timeout
            ),
            call_limiter=CallLimiter(s.control_calls_per_user, s.control_calls_total),
            backups_root=backups_root(self.state.home),
            db_access_readwrite=s.db_access_allow_readwrite,
        )

    def data_path(self, ctx: ControlContext) -> tuple[Starlette, Starlette]:
        """The REST pool (pool mode, in process) and the gateway in front of it, wired to the
        control plane's change hooks (cache eviction, schema reload)."""
        s = self.settings
        pool_app = build_app(
            RestConfig(
                db_uri=self.state.pool_conninfo(),
                pool_mode=True,
                pool_jwt_secret=self.state.pool_jwt_secret,
                db_pool=POOL_CONNECTIONS,
                db_pool_acquisition_timeout=POOL_ACQUISITION_TIMEOUT,
            )
        )
        directory = Directory(
            self.state.catalog_conninfo(),
            redis_url=s.redis_url,
            redis_secret=self.state.pool_jwt_secret,
        )
        gateway_app = build_gateway_app(
            directory=directory,
            pool_app=pool_app,
            pool_jwt_secret=self.state.pool_jwt_secret,
            base_domain=s.base_domain,
            redis_url=s.redis_url,
            in_flight_cap=PROJECT_IN_FLIGHT_CAP,
            activity=ActivityRecorder(self.state.catalog_conninfo()),
        )
        loop = asyncio.get_running_loop()
        engine = pool_app.state.engine

        def reload_schema(project: Project) -> None:
            schema = ctx.engine_for(project.mode).names(project).schema
            future = asyncio.run_coroutine_threadsafe(engine.cache.reload_now(schema), loop)
            future.result(timeout=SCHEMA_RELOAD_TIMEOUT)

        ctx.on_project_changed.append(lambda project: directory.evict(hash=project.hash))
        ctx.on_domain_changed.append(lambda hostname: directory.evict(hostname=hostname))
        ctx.on_schema_changed.append(
            lambda project: reload_schema(project) if project.mode == "v2_shared" else None
        )
        return pool_app, gateway_app

    async def serve(self) -> None:
        ctx = self.context()
        s = self.settings
        _, gateway_app = self.data_path(ctx)  # the gateway's lifespan runs the pool's
        self.servers = [
            _server(build_control_app(ctx), s.host, s.api_port),
            _server(gateway_app, s.host, s.gateway_port, lifespan="on"),
        ]
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        await self._run_servers(ctx)

    async def _run_servers(self, ctx: ControlContext) -> None:
        s = self.settings
        tasks = [asyncio.create_task(server.serve()) for server in self.servers]
        while not all(server.started for server in self.servers):
            if any(task.done() for task in tasks):
                self.request_stop()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise FluxError(
                    "could not start the HTTP servers (is a port already in use?)",
                    hint=f"free ports {s.api_port}/{s.gateway_port} or pass "
                    "--api-port/--gateway-port",
                )
            await asyncio.sleep(0.02)
        self.publish_admin_token()
        self._banner()
        restoring = asyncio.create_task(self._restore_dedicated(ctx))
        housekeeping = asyncio.create_task(self._housekeeping(ctx))
        await asyncio.gather(*tasks)
        restoring.cancel()
        housekeeping.cancel()

    async def _housekeeping(self, ctx: ControlContext) -> None:
        """Periodic platform chores off the request path: expired database logins dropped
        (their sessions ended), scheduled backups taken."""
        next_schedule = 0.0
        while True:
            await asyncio.sleep(self.settings.housekeeping_seconds)
            try:
                await asyncio.to_thread(sweep_db_access, ctx)
            except Exception as exc:  # the next round tries again
                log.warning("database login sweep failed: %s", exc)
            if time.monotonic() >= next_schedule:
                next_schedule = time.monotonic() + BACKUP_SCHEDULE_CHECK
                try:
                    await asyncio.to_thread(run_backup_schedule, ctx)
                except Exception as exc:
                    log.warning("backup schedule round failed: %s", exc)

    async def _restore_dedicated(self, ctx: ControlContext) -> None:
        """Bring back the dedicated projects that were running when Flux last stopped."""
        outcome = await asyncio.to_thread(restore_dedicated, ctx)
        for project, error in outcome:
            if error:
                _say(f"  ! {project.slug} ({project.hash}) did not start: {error}")
        started = sum(1 for _, error in outcome if not error)
        if started:
            _say(f"Restored {started} dedicated project(s).")

    def request_stop(self) -> None:
        for server in self.servers:
            server.should_exit = True

    def shutdown(self) -> None:
        self.dedicated.shutdown()
        if self.catalog is not None:
            self.catalog.close()
        self.supervisor.shutdown()
        self.state.cluster.stop()  # when the start failed before supervision began

    def _banner(self) -> None:
        s = self.settings
        _say("Flux is up.")
        _say(f"  API base:      {s.api_base}")
        _say(f"  OpenAPI:       http://{s.host}:{s.api_port}/api/openapi.json")
        _say(
            f"  Gateway:       {s.scheme}://{s.host}:{s.gateway_port}  (Service URLs: "
            f"{s.scheme}://api--<slug>--<hash>.{s.base_domain}:{s.gateway_port})"
        )
        _say(f"  API token:     {self._token_line()}")
        _say(f"  State:         {s.home}")
        _say("Try: flux create my-app   ·   flux list   ·   Ctrl-C to stop")

    def _token_line(self) -> str:
        """The admin token in full only when just minted and stdout is a terminal (output
        redirected to a file or a log collector shows a preview and where the token is)."""
        where = config_path()
        if self.token_minted and sys.stdout.isatty():
            return f"{self.token}   (shown once; saved to {where})"
        status = "new; saved to" if self.token_minted else "in"
        return f"{preview(self.token)}   ({status} {where})"


def main(settings: Settings) -> int:
    """Run the platform until stopped; the caller holds the home's lock (flux.homelock) and
    has checked the ports (`flux up` in flux.cli.commands.platform)."""
    started = time.monotonic()
    tune_garbage_collector()  # the REST pool's hot path runs in this process
    platform = Platform(settings)
    try:
        platform.prepare()
        _say(f"Started the local PostgreSQL and catalog in {time.monotonic() - started:.2f}s")
        asyncio.run(platform.serve())
    except FluxError as err:
        print(f"error: {err.message}", file=sys.stderr)
        if err.hint:
            print(f"hint: {err.hint}", file=sys.stderr)
        return 1
    finally:
        platform.shutdown()
        _say("Flux stopped.")
    return 0
