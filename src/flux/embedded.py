"""The embedded platform's state under $FLUX_HOME: one local Postgres server holding the
`flux_system` catalog and the shared database of cluster `local-1`, a secrets file, the
admin user and its API token (written to the CLI config on first start).

Layout:
    $FLUX_HOME/state.json          ports and generated secrets (mode 0600)
    $FLUX_HOME/pg/system/          the local Postgres data folder (0700, its OS account)
    $FLUX_HOME/pg/system.log       its server log (0600: it holds tenant SQL)
    $FLUX_HOME/pg/system.pgpass    its superuser's password (0600; `flux.postgres.cluster`)
    $FLUX_HOME/templates/          initdb templates (copied for every new cluster)
    $FLUX_HOME/run/                private unix-socket folders
    $FLUX_HOME/projects/           dedicated projects' folders
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from flux.catalog import clusters, tokens, users
from flux.catalog.db import Catalog
from flux.control.tokens import issue as issue_token
from flux.engines.v2_shared import POOL_LOGIN_ROLE, prepare_shared_database
from flux.jsonfile import read_json, write_private_json
from flux.postgres import Cluster, free_port, socket_dir_for
from flux.postgres.ports import port_is_free

CATALOG_DB = "flux_system"
SHARED_DB = "flux_shared"
LOCAL_CLUSTER_ID = "local-1"
ADMIN_EMAIL = "admin@localhost"


@dataclass
class EmbeddedState:
    home: Path
    cluster: Cluster
    pool_jwt_secret: str
    authenticator_password: str

    @property
    def templates(self) -> Path:
        return self.home / "templates"

    def catalog_conninfo(self) -> str:
        return self.cluster.socket_conninfo(dbname=CATALOG_DB)

    def shared_conninfo(self) -> str:
        return self.cluster.socket_conninfo(dbname=SHARED_DB)

    def pool_conninfo(self) -> str:
        return self.cluster.socket_conninfo(
            dbname=SHARED_DB, user=POOL_LOGIN_ROLE, password=self.authenticator_password
        )


def load_state(home: Path) -> EmbeddedState:
    """Read (or create) state.json and describe the local server; starts nothing."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    state_file = home / "state.json"
    state = read_json(state_file)
    changed = False
    port = state.get("pg_port")
    data_dir = home / "pg" / "system"
    cluster_probe = Cluster(data_dir, port or 0, socket_dir_for(data_dir, home / "run"))
    if not port or (not cluster_probe.running_pid() and not port_is_free(port)):
        state["pg_port"] = port = free_port()
        changed = True
    for key in ("pool_jwt_secret", "authenticator_password"):
        if not state.get(key):
            state[key] = secrets.token_urlsafe(48)
            changed = True
    if changed:
        write_private_json(state_file, state)
    cluster = Cluster(data_dir, port, socket_dir_for(data_dir, home / "run"))
    return EmbeddedState(home, cluster, state["pool_jwt_secret"], state["authenticator_password"])


def start_database(state: EmbeddedState) -> None:
    """Create (first run) and start the local server; create and migrate the databases."""
    state.cluster.create(state.templates)
    state.cluster.start()
    with psycopg.connect(state.cluster.socket_conninfo(), autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in (CATALOG_DB, SHARED_DB):
            if name not in existing:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(CATALOG_DB))
        )
    prepare_shared_database(
        state.shared_conninfo(),
        SHARED_DB,
        state.authenticator_password,
        pool_secret=state.pool_jwt_secret,
    )


def open_catalog(state: EmbeddedState) -> Catalog:
    catalog = Catalog(state.catalog_conninfo())
    catalog.migrate()
    with catalog.transaction() as conn:
        clusters.register_cluster(conn, LOCAL_CLUSTER_ID, state.shared_conninfo())
    return catalog


def ensure_admin_token(catalog: Catalog, existing_token: str | None) -> tuple[str, bool]:
    """The admin's API token: `existing_token` (the one stored in the CLI config) if it still
    verifies as the admin's, whatever ports it was saved with; else a new one (audited).

    Every start reuses the same token, so starts do not pile up valid tokens; old or leaked
    ones are listed and revoked with `flux token list|revoke`. Returns (token, minted_now)."""
    with catalog.transaction() as conn:
        admin = users.get_user_by_email(conn, ADMIN_EMAIL)
        if admin is None:
            admin = users.create_user(conn, ADMIN_EMAIL, None, is_admin=True)
        if existing_token:
            user = tokens.user_for_token(conn, existing_token)
            if user is not None and user.id == admin.id:
                return existing_token, False
        return issue_token(conn, admin.id, "flux up bootstrap")[0], True
