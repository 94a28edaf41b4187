"""Runners decide where a dedicated project's processes run; `local` = this host."""

from flux.engines.runners.local import LocalRunner, ProcessInfo, ProcessSpec, RunnerError

__all__ = ["LocalRunner", "ProcessInfo", "ProcessSpec", "RunnerError"]
