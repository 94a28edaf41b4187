"""Fixtures for migrations tests: a hardened shared database, v2 tenants, a v1 database."""

from __future__ import annotations

import psycopg
import pytest
from mig_support import AUTH_SQL, V1_SQL, Tenant, provision

from flux.migrations import PushTarget


@pytest.fixture
def shared_db(fresh_db: str) -> str:
    """A shared database hardened like a v2 cluster database."""
    dbname = psycopg.conninfo.conninfo_to_dict(fresh_db)["dbname"]
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(f'REVOKE ALL ON DATABASE "{dbname}" FROM PUBLIC')
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(AUTH_SQL)
    return fresh_db


@pytest.fixture
def tenant(shared_db: str) -> Tenant:
    return provision(shared_db)


@pytest.fixture
def tenant_b(shared_db: str) -> Tenant:
    return provision(shared_db)


@pytest.fixture
def v1_target(fresh_db: str) -> PushTarget:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(V1_SQL)
    return PushTarget("v1_dedicated", fresh_db, "api", None, None, "api")
