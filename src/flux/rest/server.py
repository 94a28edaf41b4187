"""Start-up for `flux rest`: read PostgREST-style config, report unknown keys, run uvicorn.

`main()` reads `PGRST_*` variables (and a config file given as the first argument or in
`PGRST_CONFIG_FILE`), `serve(config)` runs the API (and the admin server when
`admin-server-port` is set) on uvloop + httptools until interrupted.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from typing import Any

import uvicorn
import uvloop

from flux.rest.app import build_admin_app, build_app
from flux.rest.config import ConfigError, RestConfig, load_config

_LOG_LEVELS = {
    "crit": "critical",
    "error": "error",
    "warn": "warning",
    "info": "info",
    "debug": "debug",
}


def _host(value: str) -> str:
    """PostgREST's special hosts: `!4`/`*4`/`*` → all IPv4, `!6`/`*6` → all IPv6."""
    return {"!4": "0.0.0.0", "*4": "0.0.0.0", "*": "0.0.0.0", "!6": "::", "*6": "::"}.get(
        value, value
    )


def _uvicorn_config(app: Any, host: str, port: int, level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level=level,
        access_log=level == "debug",
        lifespan="on",
    )


async def _serve(config: RestConfig) -> None:
    app = build_app(config)
    level = _LOG_LEVELS.get(config.log_level, "error")
    servers = [
        uvicorn.Server(_uvicorn_config(app, _host(config.server_host), config.server_port, level))
    ]
    if config.admin_server_port is not None:
        admin = build_admin_app(app.state.engine)
        servers.append(
            uvicorn.Server(
                _uvicorn_config(admin, _host(config.server_host), config.admin_server_port, level)
            )
        )
        servers[-1].config.lifespan = "off"
    await asyncio.gather(*(s.serve() for s in servers))


def serve(config: RestConfig) -> None:
    """Run the REST server (and the admin server) on uvloop until interrupted.

    `uvicorn.Server.serve()` runs on whatever loop it is awaited in (its `loop="uvloop"`
    setting only takes effect inside `Server.run()`), so the uvloop loop is created here.
    """
    tune_garbage_collector()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(config))


def tune_garbage_collector() -> None:
    """Fewer, cheaper collections on the hot path: start-up objects (modules, config, routes)
    are moved out of the collector's sight, and young-generation collections run less often,
    which trims tail latency without unbounded growth (reference counting frees almost all
    request garbage; the cyclic collector still runs)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def main(argv: list[str] | None = None) -> None:
    """Entry point of `flux rest [config-file]`."""
    args = sys.argv[1:] if argv is None else argv
    path = args[0] if args else os.environ.get("PGRST_CONFIG_FILE")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        config, unknown = load_config(path)
    except ConfigError as exc:
        print(f"flux rest: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""), file=sys.stderr)
        raise SystemExit(1) from None
    for key in unknown:
        print(f"flux rest: unknown configuration key ignored: {key}", file=sys.stderr)
    print(
        f"flux rest: listening on {config.server_host}:{config.server_port}, schemas "
        f"{', '.join(config.db_schemas) if not config.pool_mode else '(pool mode)'}",
        file=sys.stderr,
    )
    serve(config)


if __name__ == "__main__":
    main()
