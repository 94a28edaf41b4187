"""The v1 dedicated engine: each project gets its own PostgreSQL cluster and REST process.

Per project (SPEC §6 "v1 dedicated"):
    $FLUX_HOME/projects/<hash>-<slug>/db            the cluster (`flux-<hash>-<slug>-db`), 0700
    $FLUX_HOME/projects/<hash>-<slug>/db.log        its server log (0600)
    $FLUX_HOME/projects/<hash>-<slug>/db.pgpass     its superuser's password (0600, Flux only)
    $FLUX_HOME/projects/<hash>-<slug>/api.log       the REST process (`flux-<hash>-<slug>-api`)
    $FLUX_HOME/projects/<hash>-<slug>/secrets.json  owner + authenticator passwords (0600)

`project.runner_data` (persisted in the catalog by the caller) holds what is not secret:
`{"dir", "pg_port", "api_port", "desired": "running"|"stopped", "db_pool",
"statement_timeout_ms", "max_rows"}` (the last three from the plan). The gateway routes to
`http://127.0.0.1:<api_port>`. Passwords stay in the project folder so they never travel with
the `Project` object and vanish with the data they protect.

Owners, not superusers (SPEC §11). The user's login is the role `owner`: it owns the database
and the schemas `api` and `auth`, has CREATEROLE, CREATEDB and BYPASSRLS, and can create
trusted extensions — what a Supabase project's `postgres` role can — but it is no superuser: no
server programs or files, no untrusted languages, no ALTER SYSTEM or superuser-only settings.
`flux push` and `flux doctor` connect as the owner too. The cluster's superuser (`postgres`,
password in `db.pgpass`) is Flux's alone, for the bootstrap. On PostgreSQL 15 and older
CREATEROLE may grant any non-superuser role, so the bootstrap marks the three predefined roles
that reach the server's files and programs (`pg_execute_server_program`,
`pg_read_server_files`, `pg_write_server_files`) as superuser roles, which only a superuser can
grant, and revokes any membership in them (PostgreSQL 16 requires ADMIN OPTION instead).

Extensions that are not trusted are created for the owner by
`SELECT flux.create_extension('<name>')`, a SECURITY DEFINER function owned by the superuser
that accepts only `ALLOWLISTED_EXTENSIONS` and installs them (with their dependencies) into the
schema `extensions`, which the owner cannot write: an extension script runs as superuser, so it
must not resolve names in a schema where the owner could plant objects.

Each cluster runs as an OS account of its own when Flux is root (`flux.postgres.osuser`).
Projects created by an older Flux (whose user held the superuser `postgres`) are moved to
this model on start: the owner role is created with the user's existing password, everything
the old superuser created in the user's schemas is handed to it, and the superuser gets a new
password that was never handed out.

DDL fires an event trigger that sends `NOTIFY pgrst, 'reload schema'`, so tables created with
psql show up in the API. Grants follow Supabase: the owner's tables, sequences and functions in
`api` get ALL for `anon`, `authenticated` and `service_role` through default privileges;
protection comes from RLS, and `flux push` audits exposed tables with RLS disabled (SPEC §7).
"""

from __future__ import annotations

import http.client
import logging
import os
import secrets
import shutil
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from flux.backups.spec import PROJECT_DB, DatabaseSpec
from flux.catalog.plans import Plan
from flux.catalog.projects import Project
from flux.engines.auth_sql import AUTH_SCHEMA_SQL, ensure_roles_sql
from flux.engines.base import TenantNames
from flux.engines.keys import project_keys
from flux.engines.runners import LocalRunner, ProcessSpec
from flux.errors import Conflict, FluxError
from flux.jsonfile import read_json, write_private_json
from flux.naming import resource_name
from flux.postgres import Cluster, free_port, socket_dir_for
from flux.postgres.osuser import dedicated_account
from flux.postgres.ports import port_is_free

log = logging.getLogger(__name__)

DATABASE = "postgres"
API_SCHEMA = "api"
AUTHENTICATOR = "authenticator"
OWNER = "owner"
# Not trusted by PostgreSQL, created on the owner's behalf by flux.create_extension(name).
# Left out on purpose: dblink, postgres_fdw (connections out of the cluster), file_fdw,
# adminpack, pageinspect, pg_surgery, xml2 (server files or raw pages), postgis_raster
# (out-of-database rasters read server files).
ALLOWLISTED_EXTENSIONS = (
    "address_standardizer",
    "address_standardizer_data_us",
    "amcheck",
    "autoinc",
    "bloom",
    "earthdistance",
    "insert_username",
    "intagg",
    "moddatetime",
    "pg_buffercache",
    "pg_stat_statements",
    "pgrowlocks",
    "pgstattuple",
    "postgis",
    "postgis_sfcgal",
    "postgis_tiger_geocoder",
    "postgis_topology",
)
# What the superuser's bootstrap session resolves names against: never a schema the owner
# can write (a schema named after the session user would otherwise come first).
_PINNED_PATH = "-c search_path=pg_catalog"
RUNNING, STOPPED, PARTIAL, MISSING, CORRUPTED = (
    "running",
    "stopped",
    "partial",
    "missing",
    "corrupted",
)
HIDDEN = "********"
RESTORE_PARALLELISM = 4  # projects started at once by `flux up` (each waits on its REST boot)
# `flux rest`, started so that its (slow) imports overlap the database's creation: it waits
# until the authenticator can log in (bounded), then serves.
REST_LAUNCHER = """
import os, time, psycopg
from flux.rest.server import main
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        psycopg.connect(os.environ["PGRST_DB_URI"], connect_timeout=2).close()
        break
    except psycopg.Error:
        time.sleep(0.02)
main()
"""
DEFAULT_REST_COMMAND = (sys.executable, "-c", REST_LAUNCHER)
# Small, predictable footprint: many dedicated clusters share one machine.
DEFAULT_PG_SETTINGS = {"max_connections": "40", "shared_buffers": "16MB"}

_ROLES = ensure_roles_sql(
    {
        OWNER: "LOGIN",
        AUTHENTICATOR: "LOGIN NOINHERIT",
        "anon": "NOLOGIN",
        "authenticated": "NOLOGIN",
        "service_role": "NOLOGIN BYPASSRLS",
    }
)

# As the superuser, search_path pinned to pg_catalog. Roles, the database's ownership, the
# server-access guard, and the platform's schemas `flux` (the push ledger, created by the
# owner's pushes, plus Flux's own functions) and `extensions`.
_BOOTSTRAP_PLATFORM = (
    _ROLES
    + f"""
ALTER ROLE {OWNER} LOGIN NOSUPERUSER CREATEROLE CREATEDB BYPASSRLS NOREPLICATION INHERIT;
ALTER ROLE {OWNER} SET search_path = "$user", public, extensions;
ALTER ROLE authenticator LOGIN NOINHERIT NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS;
ALTER ROLE anon NOLOGIN;
ALTER ROLE authenticated NOLOGIN;
ALTER ROLE service_role NOLOGIN BYPASSRLS;
GRANT anon, authenticated, service_role TO authenticator;
GRANT anon, authenticated, service_role TO {OWNER} WITH ADMIN OPTION;
ALTER DATABASE postgres OWNER TO {OWNER};

DO $$
DECLARE
  m record;
BEGIN
  FOR m IN
    SELECT g.rolname AS granted, u.rolname AS member, b.rolname AS grantor
      FROM pg_auth_members a
      JOIN pg_roles g ON g.oid = a.roleid
      JOIN pg_roles u ON u.oid = a.member
      JOIN pg_roles b ON b.oid = a.grantor
     WHERE g.rolname IN ('pg_execute_server_program', 'pg_read_server_files',
                         'pg_write_server_files')
  LOOP
    EXECUTE format('REVOKE %I FROM %I GRANTED BY %I', m.granted, m.member, m.grantor);
  END LOOP;
  IF current_setting('server_version_num')::int < 160000 THEN
    UPDATE pg_authid SET rolsuper = true
     WHERE rolname IN ('pg_execute_server_program', 'pg_read_server_files',
                       'pg_write_server_files')
       AND NOT rolsuper;
  END IF;
END $$;

CREATE SCHEMA IF NOT EXISTS flux;
ALTER SCHEMA flux OWNER TO postgres;
REVOKE ALL ON SCHEMA flux FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA flux TO {OWNER};
CREATE SCHEMA IF NOT EXISTS extensions;
ALTER SCHEMA extensions OWNER TO postgres;
REVOKE ALL ON SCHEMA extensions FROM PUBLIC;
GRANT USAGE ON SCHEMA extensions TO PUBLIC;
"""
)

# Objects an older Flux's user created as the superuser (their schemas, tables, views,
# sequences, routines, types, the push ledger) become the owner's. Extension members and
# Flux's own objects in `flux` stay with the superuser; a sequence follows its table.
_HAND_OVER_TO_OWNER = f"""
DO $$
DECLARE
  o record;
  user_schemas oid[];
BEGIN
  SELECT array_agg(n.oid) INTO user_schemas FROM pg_namespace n
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'flux', 'extensions')
     AND n.nspname !~ '^pg_(toast_)?temp_';
  FOR o IN SELECT n.nspname FROM pg_namespace n
            WHERE n.oid = ANY (user_schemas) AND n.nspowner = 10
  LOOP
    EXECUTE format('ALTER SCHEMA %I OWNER TO {OWNER}', o.nspname);
  END LOOP;
  FOR o IN SELECT c.oid::regclass AS rel FROM pg_class c
            WHERE c.relowner = 10 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
              AND (c.relnamespace = ANY (user_schemas)
                   OR c.oid = ANY (ARRAY[to_regclass('flux.flux_migrations'),
                                        to_regclass('flux.flux_repeatable_scripts')]::oid[]))
              AND NOT EXISTS (SELECT 1 FROM pg_depend d
                               WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                 AND (d.deptype = 'e' OR (c.relkind = 'S'
                                      AND d.refclassid = 'pg_class'::regclass
                                      AND d.deptype IN ('a', 'i'))))
  LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO {OWNER}', o.rel);
  END LOOP;
  FOR o IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
            WHERE p.proowner = 10 AND p.pronamespace = ANY (user_schemas)
              AND NOT EXISTS (SELECT 1 FROM pg_depend d
                               WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                                 AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO {OWNER}', o.fn);
  END LOOP;
  FOR o IN SELECT t.oid::regtype AS typ, t.typtype FROM pg_type t
            WHERE t.typowner = 10 AND t.typnamespace = ANY (user_schemas)
              AND t.typtype IN ('e', 'd', 'r', 'c') AND t.typelem = 0
              AND (t.typrelid = 0
                   OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
              AND NOT EXISTS (SELECT 1 FROM pg_depend d
                               WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                                 AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO {OWNER}',
                   CASE o.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, o.typ);
  END LOOP;
END $$;
"""

# As the owner (SET ROLE): what the user owns and may change.
_BOOTSTRAP_OWNED = (
    AUTH_SCHEMA_SQL
    + f"""
CREATE SCHEMA IF NOT EXISTS api;
GRANT USAGE ON SCHEMA api TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER} IN SCHEMA api
  GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER} IN SCHEMA api
  GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER} IN SCHEMA api
  GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA auth TO anon, authenticated, service_role;
"""
)

# As the superuser again: Flux's functions in `flux` (the owner may use, not change them).
_BOOTSTRAP_FUNCTIONS = f"""
-- DDL from psql (not only `flux push`) reaches the REST schema cache, as PostgREST documents.
CREATE OR REPLACE FUNCTION flux.notify_schema_reload() RETURNS event_trigger
  LANGUAGE plpgsql SET search_path = pg_catalog AS $f$
BEGIN
  NOTIFY pgrst, 'reload schema';
END
$f$;
ALTER FUNCTION flux.notify_schema_reload() OWNER TO postgres;
REVOKE ALL ON FUNCTION flux.notify_schema_reload() FROM PUBLIC;
DROP EVENT TRIGGER IF EXISTS flux_schema_reload_ddl;
DROP EVENT TRIGGER IF EXISTS flux_schema_reload_drop;
CREATE EVENT TRIGGER flux_schema_reload_ddl ON ddl_command_end
  EXECUTE FUNCTION flux.notify_schema_reload();
CREATE EVENT TRIGGER flux_schema_reload_drop ON sql_drop
  EXECUTE FUNCTION flux.notify_schema_reload();

CREATE OR REPLACE FUNCTION flux.create_extension(name text) RETURNS text
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
  allowed text[] := ARRAY[{", ".join(f"'{name}'" for name in ALLOWLISTED_EXTENSIONS)}];
BEGIN
  IF name IS NULL OR NOT name = ANY (allowed) THEN
    RAISE EXCEPTION 'extension "%" is not on the Flux allowlist', name
      USING ERRCODE = '42501',
            HINT = 'trusted extensions: CREATE EXTENSION as the owner; allowlisted: '
                   || array_to_string(allowed, ', ');
  END IF;
  EXECUTE format('CREATE EXTENSION IF NOT EXISTS %I SCHEMA extensions CASCADE', name);
  RETURN name;
END
$f$;
ALTER FUNCTION flux.create_extension(text) OWNER TO postgres;
REVOKE ALL ON FUNCTION flux.create_extension(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flux.create_extension(text) TO {OWNER};
"""

# A disposable database (restore checks) with the platform's schemas of a project database.
_DISPOSABLE_DATABASE = f"""
CREATE SCHEMA flux AUTHORIZATION postgres;
REVOKE ALL ON SCHEMA flux FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA flux TO {OWNER};
CREATE SCHEMA extensions AUTHORIZATION postgres;
REVOKE ALL ON SCHEMA extensions FROM PUBLIC;
GRANT USAGE ON SCHEMA extensions TO PUBLIC;
"""

_SECRET_KEYS = {"owner_password", "authenticator_password"}
_LEGACY_OWNER_KEY = "superuser_password"  # an older Flux handed the superuser out under it


class ProvisionFailed(FluxError):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, code="provision_failed", hint=hint, status=500)


@dataclass(frozen=True)
class _Layout:
    """Where one project lives on disk and what its processes are called."""

    root: Path
    resource: str

    @property
    def db(self) -> Path:
        return self.root / "db"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def api_log(self) -> Path:
        return self.root / "api.log"

    @property
    def db_unit(self) -> str:
        return f"{self.resource}-db"

    @property
    def api_unit(self) -> str:
        return f"{self.resource}-api"


def _http_answers(port: int) -> bool:
    """True once the REST process answers `GET /` with anything but a server error."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        conn.request("GET", "/")
        return conn.getresponse().status < 500
    except OSError:
        return False
    finally:
        conn.close()


class DedicatedEngine:
    """v1_dedicated on this host, processes supervised by `runner`."""

    mode = "v1_dedicated"

    def __init__(
        self,
        home: Path,
        templates: Path,
        runner: LocalRunner,
        rest_command: list[str] | None = None,
        *,
        pg_settings: dict[str, str] | None = None,
        ready_timeout: float = 20.0,
    ) -> None:
        self.home = home
        self.templates = templates
        self.runner = runner
        self.rest_command = list(rest_command or DEFAULT_REST_COMMAND)
        self.pg_settings = {**DEFAULT_PG_SETTINGS, **(pg_settings or {})}
        self.ready_timeout = ready_timeout
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # ------------------------------------------------------------------ Engine protocol
    def names(self, project: Project) -> TenantNames:
        return TenantNames(API_SCHEMA, None, None)

    def admin_conninfo(self, project: Project) -> str:
        """The owner's conninfo: pushes and doctor run as the user's own role, never as the
        superuser (pushed SQL is the user's)."""
        password = self._required_secrets(project)["owner_password"]
        return self._cluster(project).socket_conninfo(DATABASE, OWNER, password)

    def provision(self, project: Project, plan: Plan) -> None:
        """Create cluster + bootstrap + REST process; on failure undo everything and say why.

        Sets `project.runner_data`; the caller persists it with the catalog row."""
        dir_name = f"{project.hash}-{project.slug}"
        root = self.home / "projects" / dir_name
        if root.exists():
            raise Conflict(
                f"the folder {root} already exists", hint="remove it, or pick another project"
            )
        pg_port = free_port()
        api_port = free_port()
        while api_port == pg_port:
            api_port = free_port()
        project.runner_data = {
            "dir": dir_name,
            "pg_port": pg_port,
            "api_port": api_port,
            "desired": RUNNING,
            "db_pool": plan.connection_limit,
            "statement_timeout_ms": plan.statement_timeout_ms,
            "max_rows": plan.max_rows,
        }
        with self._lock(project):
            try:
                root.mkdir(parents=True, mode=0o700)
                self._new_secrets(project)
                self._start_api(project, wait=False)  # boots while the database is created
                self._cluster(project).create(self.templates)
                self._run(project, bootstrap=True)
            except BaseException as exc:
                self._teardown(project)
                if not isinstance(exc, Exception):
                    raise
                why = exc.message if isinstance(exc, FluxError) else str(exc)
                hint = exc.hint if isinstance(exc, FluxError) else None
                raise ProvisionFailed(
                    f"could not create dedicated project {project.slug!r}: {why}"
                    " (rolled back: processes stopped, folder removed)",
                    hint=hint,
                ) from None

    def delete(self, project: Project) -> None:
        """Stop both processes, remove the folder and the socket folder. Idempotent."""
        with self._lock(project):
            self._teardown(project)

    def backup_spec(self, project: Project) -> DatabaseSpec:
        """The whole database: dumped by the superuser, restored by the owner."""
        if self.status(project) != RUNNING:
            raise Conflict(
                f"the database of {project.slug!r} is not running",
                hint="start it first: `flux start`",
            )
        return DatabaseSpec(
            kind=PROJECT_DB,
            platform_conninfo=self._cluster(project).socket_conninfo(DATABASE),
            schema=API_SCHEMA,
            ledger_key=API_SCHEMA,
            disposable_sql=_DISPOSABLE_DATABASE,
            owner_conninfo=self.admin_conninfo(project),
            disposable_owner=OWNER,
        )

    def credentials(self, project: Project) -> dict:
        data = project.runner_data
        password = self._secrets(project).get("owner_password")
        cluster = self._cluster(project)
        return {
            "mode": self.mode,
            "jwtSecret": project.jwt_secret,
            **project_keys(project.jwt_secret, project.created_at),
            "postgres": {
                "url": cluster.tcp_url(DATABASE, OWNER, password) if password else None,
                "user": OWNER,
                "password": password,
                "host": cluster.host,
                "port": data.get("pg_port"),
                "database": DATABASE,
            },
        }

    # ------------------------------------------------------------------ lifecycle
    def api_url(self, project: Project) -> str:
        """Where the project's REST process listens (the gateway's upstream)."""
        return f"http://127.0.0.1:{project.runner_data.get('api_port')}"

    def status(self, project: Project) -> str:
        """running | stopped | partial | missing | corrupted (from disk and the runner)."""
        layout = self._layout(project)
        disk = self._cluster(project).status()
        if not layout.root.exists() or disk == "missing":
            return MISSING
        if disk == "corrupted":
            return CORRUPTED
        db_up = disk == "running"
        api_up = self.runner.state(layout.api_unit) == "running"
        if db_up and api_up:
            return RUNNING
        return PARTIAL if db_up or api_up else STOPPED

    def start(self, project: Project) -> None:
        """Start both processes (fixing ports taken by others); desired state = running."""
        with self._lock(project):
            state = self.status(project)
            if state in (MISSING, CORRUPTED):
                raise Conflict(
                    f"project {project.slug!r} is {state}",
                    hint="run `flux repair`" if state == MISSING else "restore it from a backup",
                )
            self._run(project, bootstrap=self._adopt_legacy_secrets(project))
            project.runner_data["desired"] = RUNNING

    def stop(self, project: Project) -> None:
        """Stop both processes cleanly; desired state = stopped (stays down across restarts)."""
        with self._lock(project):
            self._halt(project)
            project.runner_data["desired"] = STOPPED

    def repair(self, project: Project) -> list[str]:
        """Recreate what is missing, re-run the bootstrap, fix ports, start. Returns what it did."""
        with self._lock(project):
            data = project.runner_data
            data.setdefault("dir", f"{project.hash}-{project.slug}")
            for key in ("pg_port", "api_port"):
                data[key] = data.get(key) or free_port()
            layout = self._layout(project)
            cluster = self._cluster(project)
            state = cluster.status()
            if state == "corrupted":
                raise Conflict(
                    f"the data folder of {project.slug!r} is corrupted ({layout.db})",
                    hint="restore it from a backup, or `flux nuke` it",
                )
            done: list[str] = []
            layout.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._adopt_legacy_secrets(project)
            if state == "missing" or not set(self._secrets(project)) >= _SECRET_KEYS:
                self._new_secrets(project)
                done.append("generated new database passwords")
            if state == "missing":
                cluster.create(self.templates)
                done.append("recreated the database cluster (the data folder was missing)")
            done += self._run(project, bootstrap=True)
            done.append("re-ran the bootstrap and started the database and REST processes")
            project.runner_data["desired"] = RUNNING
            return done

    def after_secret_rotation(self, project: Project) -> None:
        """The JWT secret changed: restart the REST process with it (keys re-derive)."""
        with self._lock(project):
            if project.runner_data.get("desired") == RUNNING:
                self._start_api(project)

    def env(self, project: Project) -> dict[str, str]:
        """The REST process environment (PGRST_*), secrets hidden."""
        return self._rest_env(project, None)

    def restore_running(
        self, projects: Iterable[Project], parallel: int = RESTORE_PARALLELISM
    ) -> list[tuple[Project, str | None]]:
        """`flux up` restart: start the projects whose desired state is running (`parallel`
        at a time); stop what an earlier, killed supervisor may have left running of the others.

        Returns (project, error message or None) for each one it started, in input order; the
        caller persists `runner_data` (ports may have moved)."""
        mine = [p for p in projects if p.mode == self.mode]
        wanted = [p for p in mine if p.runner_data.get("desired") == RUNNING]
        for project in mine:
            if project.runner_data.get("desired") != RUNNING:
                with self._lock(project):
                    self._halt(project)
        if not wanted:
            return []
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="flux-restore") as pool:
            return list(pool.map(self._restore_one, wanted))

    def _restore_one(self, project: Project) -> tuple[Project, str | None]:
        try:
            self.start(project)
        except Exception as exc:
            message = exc.message if isinstance(exc, FluxError) else str(exc)
            log.warning("could not restart %s: %s", project.slug, message)
            return project, message
        return project, None

    def shutdown(self) -> None:
        """Stop every process of every project (the platform is stopping)."""
        self.runner.shutdown()

    # ------------------------------------------------------------------ internals
    def _lock(self, project: Project) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(str(project.tenant_id), threading.Lock())

    def _layout(self, project: Project) -> _Layout:
        dir_name = project.runner_data.get("dir") or f"{project.hash}-{project.slug}"
        return _Layout(self.home / "projects" / dir_name, resource_name(*dir_name.split("-", 1)))

    def _cluster(self, project: Project) -> Cluster:
        db = self._layout(project).db
        return Cluster(
            db,
            int(project.runner_data.get("pg_port") or 0),
            socket_dir_for(db, self.home / "run"),
            settings=self.pg_settings,
            os_account=dedicated_account(project.hash, self.home),
        )

    def _secrets(self, project: Project) -> dict:
        return read_json(self._layout(project).secrets_file)

    def _required_secrets(self, project: Project) -> dict:
        secrets_ = self._secrets(project)
        if not set(secrets_) >= _SECRET_KEYS:
            raise Conflict(
                f"the database passwords of {project.slug!r} are missing",
                hint="run `flux repair` to set new ones",
            )
        return secrets_

    def _new_secrets(self, project: Project) -> None:
        write_private_json(
            self._layout(project).secrets_file,
            {
                "owner_password": secrets.token_urlsafe(24),
                "authenticator_password": secrets.token_urlsafe(24),
            },
        )

    def _adopt_legacy_secrets(self, project: Project) -> bool:
        """A project of an older Flux keeps its user's password, now for the owner role (the
        superuser it belonged to gets a new one on start). True when the project still has to
        be moved to the owner model, i.e. bootstrapped."""
        stored = self._secrets(project)
        if _LEGACY_OWNER_KEY not in stored:
            return False
        stored.setdefault("owner_password", stored[_LEGACY_OWNER_KEY])
        del stored[_LEGACY_OWNER_KEY]
        write_private_json(self._layout(project).secrets_file, stored)
        log.warning("moving %s to a non-superuser owner role", project.slug)
        return True

    def _run(self, project: Project, *, bootstrap: bool) -> list[str]:
        """Database up (+ bootstrap), then the REST process; returns port moves made."""
        moved = []
        data = project.runner_data
        cluster = self._cluster(project)
        if cluster.running_pid() is None and not port_is_free(data["pg_port"]):
            data["pg_port"] = free_port()
            moved.append(f"moved the database to port {data['pg_port']}")
            cluster = self._cluster(project)
        self.runner.start_cluster(self._layout(project).db_unit, cluster)
        if bootstrap:
            self._bootstrap(project, cluster)
        api_unit = self._layout(project).api_unit
        api_state = self.runner.state(api_unit)
        if api_state not in ("running", "starting") and not port_is_free(data["api_port"]):
            data["api_port"] = free_port()
            moved.append(f"moved the REST process to port {data['api_port']}")
        self._start_api(project)
        return moved

    def _bootstrap(self, project: Project, cluster: Cluster) -> None:
        """Roles, schemas and Flux's functions, in one transaction as the superuser (the
        user's objects under SET ROLE owner, so the owner owns them)."""
        secrets_ = self._required_secrets(project)
        timeout = sql.Literal(f"{int(project.runner_data.get('statement_timeout_ms', 0))}ms")
        conninfo = make_conninfo(cluster.socket_conninfo(dbname=DATABASE), options=_PINNED_PATH)
        with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
            conn.execute(_BOOTSTRAP_PLATFORM)
            conn.execute(_HAND_OVER_TO_OWNER)
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(OWNER)))
            conn.execute(_BOOTSTRAP_OWNED)
            conn.execute("RESET ROLE")
            conn.execute(_BOOTSTRAP_FUNCTIONS)
            for role, key in ((OWNER, "owner_password"), (AUTHENTICATOR, "authenticator_password")):
                # the verifier is computed here: the clear password never reaches the server
                verifier = conn.pgconn.encrypt_password(
                    secrets_[key].encode(), role.encode(), b"scram-sha-256"
                )
                conn.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(verifier.decode())
                    )
                )
            for role in ("anon", "authenticated", AUTHENTICATOR):
                conn.execute(
                    sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(
                        sql.Identifier(role), timeout
                    )
                )

    def _rest_env(self, project: Project, authenticator_password: str | None) -> dict[str, str]:
        """PGRST_* for the REST process; with no password, the shown form (secrets hidden)."""
        data = project.runner_data
        cluster = self._cluster(project)
        if authenticator_password is None:
            db_uri = (
                f"postgresql://{AUTHENTICATOR}:{HIDDEN}@{cluster.host}:{cluster.port}/{DATABASE}"
            )
        else:
            db_uri = cluster.tcp_url(DATABASE, AUTHENTICATOR, authenticator_password)
        return {
            "PGRST_DB_URI": db_uri,
            "PGRST_DB_SCHEMAS": API_SCHEMA,
            "PGRST_DB_ANON_ROLE": "anon",
            "PGRST_JWT_SECRET": HIDDEN if authenticator_password is None else project.jwt_secret,
            "PGRST_DB_POOL": str(data.get("db_pool", 10)),
            "PGRST_SERVER_HOST": "127.0.0.1",
            "PGRST_SERVER_PORT": str(data["api_port"]),
            **({"PGRST_DB_MAX_ROWS": str(data["max_rows"])} if data.get("max_rows") else {}),
        }

    def _start_api(self, project: Project, *, wait: bool = True) -> None:
        layout = self._layout(project)
        password = self._required_secrets(project)["authenticator_password"]
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(("PGRST_", "FLUX_", "PG"))
        }
        port = int(project.runner_data["api_port"])
        spec = ProcessSpec(
            argv=self.rest_command,
            env={**inherited, **self._rest_env(project, password)},
            cwd=layout.root,
            log_file=layout.api_log,
            ready=lambda: _http_answers(port),
            ready_timeout=self.ready_timeout,
        )
        self.runner.start_process(layout.api_unit, spec, wait=wait)

    def _halt(self, project: Project) -> None:
        layout = self._layout(project)
        self.runner.stop(layout.api_unit)
        self.runner.stop(layout.db_unit)
        self._cluster(project).stop()  # also a postmaster left by an earlier supervisor

    def _teardown(self, project: Project) -> None:
        layout = self._layout(project)
        self.runner.forget(layout.api_unit)
        self.runner.forget(layout.db_unit)
        self._cluster(project).destroy()  # also its socket folder and OS account
        shutil.rmtree(layout.root, ignore_errors=True)
