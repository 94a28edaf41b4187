"""Shared fixtures: one real PostgreSQL cluster per test session, started through flux.postgres."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from flux.postgres import Cluster, free_port, socket_dir_for


@pytest.fixture(scope="session")
def pg_templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Templates shared by every cluster the suite creates (initdb runs once)."""
    shared = os.environ.get("FLUX_TEST_TEMPLATES")
    return Path(shared) if shared else tmp_path_factory.mktemp("templates")


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory, pg_templates: Path) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("pg")
    data = root / "main"
    cluster = Cluster(
        data,
        free_port(),
        socket_dir_for(data, root / "run"),
        # a login left half-way by a closing pool holds DROP DATABASE until it times out
        settings={"fsync": "off", "max_connections": "200", "authentication_timeout": "5s"},
    )
    cluster.create(pg_templates)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def fresh_db(pg_cluster: Cluster) -> Iterator[str]:
    """A new empty database on the session cluster; yields its superuser conninfo."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_cluster.socket_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_cluster.socket_conninfo(dbname=name)
    with psycopg.connect(pg_cluster.socket_conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory, pg_templates: Path):
    """The embedded platform's database side (catalog + shared DB) in a throwaway FLUX_HOME."""
    from flux.embedded import load_state, open_catalog, start_database

    home = tmp_path_factory.mktemp("fluxhome")
    (home / "templates").symlink_to(pg_templates, target_is_directory=True)
    state = load_state(home)
    start_database(state)
    catalog = open_catalog(state)
    yield state, catalog
    catalog.close()
    state.cluster.stop()


@pytest.fixture
def control(embedded):
    """A ControlContext on the embedded platform with the v2 engine."""
    from flux.control.context import ControlContext
    from flux.engines.v2_shared import SharedEngine

    state, catalog = embedded
    return ControlContext(
        catalog=catalog,
        engines={
            "v2_shared": SharedEngine(state.shared_conninfo(), pool_secret=state.pool_jwt_secret)
        },
    )
