"""Process-wide settings read from the environment (pydantic-settings).

`FLUX_HOME` holds all embedded state; ports and the base domain decide the URLs Flux prints.
The `push_*` and `control_*` settings bound the control plane: the longest a pushed statement
may run or wait for a lock (enforced from outside the session, so pushed SQL cannot raise
them), and how many mutating calls one user, and all users together, may have in flight.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    return Path.home() / ".local" / "share" / "flux"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLUX_", extra="ignore")

    home: Path = Field(default_factory=default_home)
    host: str = "127.0.0.1"
    api_port: int = 8080
    gateway_port: int = 8000
    base_domain: str = "localhost"
    scheme: str = "http"
    redis_url: str | None = None
    push_statement_timeout: float = Field(default=300.0, gt=0)  # seconds
    push_lock_timeout: float = Field(default=30.0, gt=0)  # seconds
    control_calls_per_user: int = Field(default=4, ge=1)
    control_calls_total: int = Field(default=32, ge=1)
    # `flux db --read-write` on v2 projects (FLUX_DB_ACCESS_ALLOW_READWRITE=1)
    db_access_allow_readwrite: bool = False
    # how often `flux up` drops expired database logins and checks backup schedules
    housekeeping_seconds: float = Field(default=5.0, gt=0)

    @property
    def api_base(self) -> str:
        return f"http://{self.host}:{self.api_port}/api"

    @property
    def dashboard_base(self) -> str:
        return f"http://{self.host}:{self.api_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
