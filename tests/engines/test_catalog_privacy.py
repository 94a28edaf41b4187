"""Catalog confidentiality on a shared database (SPEC §11): tenant A's roles cannot read tenant
B's function bodies, view definitions, policy and other expressions through catalog tables,
system views or `pg_get_*`, at request time (A's runtime login) or push time (A's DDL role,
through the real push executor); A reads its own through `flux_meta`; the REST schema cache
still loads as the pool's platform role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from flux.engines.catalog_privacy import CATALOG_READER, hide_tenant_definitions
from flux.migrations import MigrationFile, PushTarget, push
from flux.rest.schema_cache import introspect

PASSWORD = "catalog-privacy-test"


@dataclass(frozen=True)
class T:
    short: str
    conninfo: str  # superuser

    @property
    def schema(self) -> str:
        return f"t_{self.short}_api"

    @property
    def role(self) -> str:
        return f"t_{self.short}_role"

    @property
    def ddl(self) -> str:
        return f"t_{self.short}_ddl"

    @property
    def secret(self) -> str:
        return f"S3CRET_{self.short}"

    def login(self) -> str:
        return make_conninfo(self.conninfo, user=self.role, password=PASSWORD)

    def target(self) -> PushTarget:
        return PushTarget("v2_shared", self.conninfo, self.schema, self.role, self.ddl, self.schema)


def _objects(t: T) -> str:
    """Every kind of definition, each carrying the tenant's secret literal."""
    s = t.secret
    return f"""
    CREATE TABLE notes (id int PRIMARY KEY, owner text, body text DEFAULT '{s}_default'
                        CHECK (body <> '{s}_check'));
    CREATE INDEX notes_expr ON notes ((body || '{s}_index')) WHERE body <> '{s}_predicate';
    ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own ON notes USING (owner = '{s}_policy') WITH CHECK (owner <> '{s}_wcheck');
    CREATE VIEW open_notes AS SELECT id, body, '{s}_view' AS tag FROM notes;
    CREATE RULE keep AS ON DELETE TO open_notes WHERE old.body = '{s}_rule' DO INSTEAD NOTHING;
    CREATE FUNCTION secret_fn(a text DEFAULT '{s}_argdefault') RETURNS text LANGUAGE sql
      AS $$ SELECT '{s}_function' $$;
    CREATE FUNCTION atomic_fn() RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT '{s}_atomic'; END;
    CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN new; END $$;
    CREATE TRIGGER t BEFORE INSERT ON notes FOR EACH ROW WHEN (new.body <> '{s}_when')
      EXECUTE FUNCTION trg('{s}_tgarg');
    CREATE DOMAIN code AS text DEFAULT '{s}_domdefault' CHECK (VALUE <> '{s}_domcheck');
    CREATE TABLE parts (k text) PARTITION BY LIST (k);
    CREATE TABLE parts_one PARTITION OF parts FOR VALUES IN ('{s}_bound');
    ALTER TABLE notes ADD COLUMN late text DEFAULT '{s}_missing';
    """


def _provision(conn: psycopg.Connection, t: T) -> None:
    dbname = conn.info.dbname
    conn.execute(f"""
        CREATE ROLE {t.role} LOGIN NOINHERIT PASSWORD '{PASSWORD}';
        CREATE ROLE {t.ddl} NOLOGIN;
        GRANT CONNECT ON DATABASE "{dbname}" TO {t.role};
        CREATE SCHEMA {t.schema} AUTHORIZATION {t.ddl};
        GRANT USAGE ON SCHEMA {t.schema} TO {t.role};
        ALTER DEFAULT PRIVILEGES FOR ROLE {t.ddl} IN SCHEMA {t.schema}
          GRANT SELECT ON TABLES TO {t.role};
        ALTER DEFAULT PRIVILEGES FOR ROLE {t.ddl} IN SCHEMA {t.schema}
          GRANT EXECUTE ON FUNCTIONS TO {t.role};
        ALTER DEFAULT PRIVILEGES FOR ROLE {t.ddl} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
    """)
    with conn.transaction():
        conn.execute(f"SET LOCAL ROLE {t.ddl}")
        conn.execute(f"SET LOCAL search_path TO {t.schema}")
        conn.execute(_objects(t))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def reader() -> str:
    """A platform reader role of this test (the pool's is `flux_authenticator`)."""
    return f"cp_reader_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def shared(fresh_db: str, reader: str):
    dbname = psycopg.conninfo.conninfo_to_dict(fresh_db)["dbname"]
    a, b = (T(uuid.uuid4().hex[:12], fresh_db) for _ in range(2))
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(f'REVOKE ALL ON DATABASE "{dbname}" FROM PUBLIC')
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        conn.execute(f"CREATE ROLE {reader} LOGIN NOINHERIT PASSWORD '{PASSWORD}'")
        conn.execute(f'GRANT CONNECT ON DATABASE "{dbname}" TO {reader}')
        hide_tenant_definitions(conn, (reader,))
        hide_tenant_definitions(conn, (reader,))  # idempotent
        for t in (a, b):
            _provision(conn, t)
    yield a, b
    with psycopg.connect(make_conninfo(fresh_db, dbname="postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        for t in (a, b):
            conn.execute(f"DROP ROLE IF EXISTS {t.role}, {t.ddl}")
        conn.execute(f"DROP ROLE IF EXISTS {reader}")


ATTACKS = [
    "SELECT prosrc FROM pg_proc",
    "SELECT prosqlbody::text, proargdefaults::text, proconfig FROM pg_proc",
    "SELECT p::text FROM pg_proc p",
    "SELECT * FROM pg_proc",
    "SELECT prosrc::int FROM pg_proc WHERE proname = 'secret_fn'",
    "SELECT pg_get_functiondef(oid) FROM pg_proc WHERE proname = 'secret_fn'",
    "SELECT pg_get_function_arguments(oid) FROM pg_proc WHERE proname = 'secret_fn'",
    "SELECT pg_get_function_arg_default(oid, 1) FROM pg_proc WHERE proname = 'secret_fn'",
    "SELECT pg_get_function_sqlbody(oid) FROM pg_proc WHERE proname = 'atomic_fn'",
    "SELECT definition FROM pg_views",
    "SELECT definition FROM pg_matviews",
    "SELECT definition FROM pg_rules",
    "SELECT indexdef FROM pg_indexes",
    "SELECT qual, with_check FROM pg_policies",
    "SELECT pg_get_viewdef(oid) FROM pg_class WHERE relname = 'open_notes'",
    "SELECT pg_get_viewdef(oid, true) FROM pg_class WHERE relname = 'open_notes'",
    "SELECT pg_get_viewdef('{b}.open_notes')",
    "SELECT ev_action::text, ev_qual::text FROM pg_rewrite",
    "SELECT pg_get_ruledef(oid) FROM pg_rewrite WHERE rulename = 'keep'",
    "SELECT polqual::text, polwithcheck::text FROM pg_policy",
    "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy",
    "SELECT adbin::text FROM pg_attrdef",
    "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef",
    "SELECT conbin::text FROM pg_constraint",
    "SELECT pg_get_constraintdef(oid) FROM pg_constraint",
    "SELECT tgqual::text, tgargs FROM pg_trigger",
    "SELECT pg_get_triggerdef(oid) FROM pg_trigger",
    "SELECT indexprs::text, indpred::text FROM pg_index",
    "SELECT pg_get_indexdef(indexrelid) FROM pg_index",
    "SELECT typdefault, typdefaultbin::text FROM pg_type",
    "SELECT relpartbound::text FROM pg_class",
    "SELECT pg_get_partition_constraintdef(oid) FROM pg_class WHERE relname = 'parts_one'",
    "SELECT attmissingval::text FROM pg_attribute",
    "SELECT * FROM information_schema.domains",
    "SELECT routine_definition FROM information_schema.routines",
    "SELECT view_definition FROM information_schema.views",
    "SELECT check_clause FROM information_schema.check_constraints",
    "SELECT action_condition, action_statement FROM information_schema.triggers",
    "SELECT column_default FROM information_schema.columns",
    "SELECT parameter_default FROM information_schema.parameters",
    "SELECT most_common_vals::text FROM pg_stats",
    "SELECT flux_meta.function_source(oid) FROM pg_proc",
    "SELECT flux_meta.function_definition(oid) FROM pg_proc WHERE prokind <> 'a'",
    "SELECT flux_meta.view_definition(oid) FROM pg_class",
    "SELECT flux_meta.policies(oid)::text FROM pg_class",
    "SELECT flux_meta.definitions(oid)::text FROM pg_class",
    "DO $$ BEGIN RAISE EXCEPTION '%', (SELECT string_agg(prosrc, ',') FROM pg_proc); END $$",
    "SET ROLE {brole}",
]


def _attempt(conninfo: str, role: str | None, query: str) -> str:
    """What a query shows the attacker: its rows, or its error with every field."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if role:
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
        try:
            return repr(conn.execute(query).fetchall())
        except psycopg.Error as exc:
            d = exc.diag
            return " ".join(str(x) for x in (exc, d.message_detail, d.message_hint, d.context) if x)


def test_other_tenants_definitions_are_unreadable_from_every_path(shared) -> None:
    a, b = shared
    leaks = []
    for query in ATTACKS:
        q = query.format(b=b.schema, brole=b.role)
        for who, conninfo, role in (
            ("runtime login", a.login(), None),
            ("ddl role", a.conninfo, a.ddl),
        ):
            shown = _attempt(conninfo, role, q)
            if b.secret in shown:
                leaks.append(f"{who}: {q}\n    {shown[:300]}")
    assert not leaks, "\n".join(leaks)


def test_direct_catalog_reads_are_refused_not_silently_empty(shared) -> None:
    a, _ = shared
    with psycopg.connect(a.login(), autocommit=True) as conn:
        for query in ("SELECT prosrc FROM pg_proc", "SELECT definition FROM pg_views"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(query)
        # names stay visible (SPEC §11: not promised on v2)
        names = {r[0] for r in conn.execute("SELECT proname FROM pg_proc").fetchall()}
        assert "secret_fn" in names
        # the usual introspection idioms keep working
        assert conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = %s"
            " AND table_name = 'notes' AND column_name = 'body'",
            (a.schema,),
        ).fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM pg_class").fetchone()[0] > 0


@pytest.mark.parametrize("as_ddl", [False, True], ids=["runtime", "ddl"])
def test_own_definitions_are_readable_through_flux_meta(shared, as_ddl: bool) -> None:
    a, b = shared
    s = a.secret
    conninfo, role = (a.conninfo, a.ddl) if as_ddl else (a.login(), None)
    with psycopg.connect(a.conninfo) as conn:
        b_functions = [
            r[0]
            for r in conn.execute(
                "SELECT oid FROM pg_proc WHERE pronamespace = %s::regnamespace", (b.schema,)
            )
        ]
    assert len(b_functions) == 3
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if role:
            conn.execute(f"SET ROLE {role}")

        def one(query: str, *params):
            return conn.execute(query, params).fetchone()[0]

        assert one("SELECT flux_meta.caller_schema()") == a.schema
        fn = f"{a.schema}.secret_fn(text)"
        assert one("SELECT flux_meta.function_source(%s)", fn) == f" SELECT '{s}_function' "
        assert f"{s}_atomic" in one(
            "SELECT flux_meta.function_source(%s)", f"{a.schema}.atomic_fn()"
        )
        definition = one("SELECT flux_meta.function_definition(%s)", fn)
        assert f"DEFAULT '{s}_argdefault'" in definition and f"{s}_function" in definition
        assert f"'{s}_view'" in one(
            "SELECT flux_meta.view_definition(%s)", f"{a.schema}.open_notes"
        )
        policies = conn.execute("SELECT * FROM flux_meta.policies()").fetchall()
        assert [(p[1], p[2], p[5], p[6]) for p in policies] == [
            ("own", "ALL", f"(owner = '{s}_policy'::text)", f"(owner <> '{s}_wcheck'::text)")
        ]
        kinds = {
            (kind, name): text
            for _, kind, name, text in conn.execute(
                "SELECT * FROM flux_meta.definitions()"
            ).fetchall()
        }
        for key, expected in {
            ("default", "body"): f"{s}_default",
            ("constraint", "notes_body_check"): f"{s}_check",
            ("index", "notes_expr"): f"{s}_predicate",
            ("trigger", "t"): f"{s}_tgarg",
            ("rule", "keep"): f"{s}_rule",
            ("policy", "own"): f"{s}_wcheck",
            ("view", "open_notes"): f"{s}_view",
            ("partition key", "parts"): "LIST (k)",
        }.items():
            assert expected in kinds[key], key
        # and nothing of B's, even asked by oid
        for fn_oid in b_functions:
            assert one("SELECT flux_meta.function_source(%s::oid)", fn_oid) is None
            assert one("SELECT flux_meta.function_definition(%s::oid)", fn_oid) is None
        rows = conn.execute(
            "SELECT flux_meta.view_definition(c.oid) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
            (b.schema,),
        ).fetchall()
        assert rows and all(r[0] is None for r in rows)


def test_platform_roles_are_not_tenants(shared) -> None:
    a, _ = shared
    with psycopg.connect(a.conninfo, autocommit=True) as conn:
        fn = f"{a.schema}.secret_fn(text)"
        assert conn.execute("SELECT flux_meta.caller_schema()").fetchone()[0] is None
        assert conn.execute("SELECT flux_meta.function_source(%s)", (fn,)).fetchone()[0] is None
        owner = conn.execute(
            "SELECT DISTINCT proowner::regrole::text FROM pg_proc"
            " WHERE pronamespace = 'flux_meta'::regnamespace AND prosecdef"
        ).fetchall()
        assert owner == [(CATALOG_READER,)]


@pytest.mark.anyio
async def test_schema_cache_loads_as_the_pool_platform_role(shared, reader: str) -> None:
    a, _ = shared
    with psycopg.connect(a.conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute(f"SET LOCAL ROLE {a.ddl}")
        conn.execute(f"SET LOCAL search_path TO {a.schema}")
        conn.execute(
            "CREATE TABLE authors (id int PRIMARY KEY, name text DEFAULT 'anon');"
            "CREATE TABLE books (id int PRIMARY KEY, author_id int REFERENCES authors);"
            "CREATE VIEW book_view AS SELECT id, author_id AS writer FROM books;"
        )
    login = make_conninfo(a.conninfo, user=reader, password=PASSWORD)
    async with await psycopg.AsyncConnection.connect(login, autocommit=True) as conn:
        snap = await introspect(conn, a.schema)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute("SELECT prosrc FROM pg_proc")
    assert snap.relations["authors"].columns["name"].default == "'anon'::text"
    assert snap.relations["notes"].columns["body"].default.startswith(f"'{a.secret}")
    assert snap.relations["book_view"].is_view
    through_view = [
        r for r in snap.relationships.get("book_view", []) if r.foreign_table == "authors"
    ]
    assert through_view and through_view[0].columns == (("writer", "id"),)


def test_push_time_reads_and_errors_do_not_print_other_tenants_code(shared) -> None:
    a, b = shared
    attacks = {
        "cast": "SELECT prosrc::int FROM pg_catalog.pg_proc WHERE proname = 'secret_fn';",
        "raise": "DO $$ BEGIN RAISE EXCEPTION '%', (SELECT string_agg(prosrc, ',')"
        " FROM pg_catalog.pg_proc); END $$;",
        "viewdef": "DO $$ BEGIN RAISE EXCEPTION '%', (SELECT string_agg(definition, ',')"
        " FROM pg_catalog.pg_views); END $$;",
        "policy": "CREATE TABLE leak AS SELECT qual FROM pg_catalog.pg_policies;",
        "meta": "DO $$ BEGIN RAISE EXCEPTION '%', (SELECT string_agg("
        "flux_meta.function_source(oid), ',') FROM pg_catalog.pg_proc); END $$;",
    }
    for name, text in attacks.items():
        report = push(
            a.target(), [MigrationFile.from_text(f"{name}.sql", text)], mode="raw", applied_by="a"
        )
        shown = repr(report.errors) + "\n".join(report.lines)
        assert b.secret not in shown, (name, shown)
        assert not report.ok, name
    # An ordinary push still runs (the executor's wrapper check reads no hidden column) and
    # may read the tenant's own definitions through flux_meta.
    own = (
        "CREATE TABLE mine AS SELECT flux_meta.function_source("
        f"'{a.schema}.secret_fn(text)'::regprocedure) AS body;"
    )
    report = push(a.target(), [MigrationFile.from_text("own.sql", own)], mode="raw", applied_by="a")
    assert report.ok, report.lines
    with psycopg.connect(a.conninfo) as conn:
        body = conn.execute(f"SELECT body FROM {a.schema}.mine").fetchone()[0]
    assert body == f" SELECT '{a.secret}_function' "


def test_prepare_shared_database_applies_it(embedded) -> None:
    state, _ = embedded
    with psycopg.connect(state.shared_conninfo(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT has_column_privilege('public', 'pg_catalog.pg_proc', 'prosrc', 'SELECT'),"
            " has_column_privilege('public', 'pg_catalog.pg_proc', 'proname', 'SELECT'),"
            " has_function_privilege('public', 'pg_catalog.pg_get_viewdef(oid)', 'EXECUTE'),"
            " has_table_privilege('public', 'pg_catalog.pg_policies', 'SELECT'),"
            " has_column_privilege('flux_authenticator', 'pg_catalog.pg_rewrite', 'ev_action',"
            " 'SELECT'),"
            " to_regprocedure('flux_meta.function_source(regprocedure)') IS NOT NULL"
        ).fetchone()
    assert row == (False, True, False, False, True, True)
