"""v2 shared provisioning against a real cluster: exact grants of SPEC §6 and isolation."""

import psycopg
import pytest

from flux.catalog import users
from flux.control import projects as svc
from flux.naming import shortid


@pytest.fixture
def owner(control):
    import uuid

    with control.catalog.transaction() as conn:
        return users.create_user(conn, f"{uuid.uuid4().hex[:8]}@test", None)


def _shared(embedded):
    state, _ = embedded
    return psycopg.connect(state.shared_conninfo(), autocommit=True)


def test_provision_creates_schema_roles_and_exact_grants(control, owner, embedded):
    project, secrets_ = svc.create_project(control, owner, "Grants Check")
    s = shortid(project.tenant_id)
    assert len(secrets_["jwtSecret"]) >= 43  # ≥ 32 bytes of entropy, url-safe base64
    with _shared(embedded) as conn:
        rows = conn.execute(
            "SELECT rolname, rolcanlogin, rolinherit, rolsuper, rolconnlimit FROM pg_roles"
            " WHERE rolname LIKE %s",
            (f"t_{s}_%",),
        ).fetchall()
        roles = {row[0]: tuple(row[1:]) for row in rows}
        assert roles == {
            f"t_{s}_role": (True, False, False, 5),  # the login of its pool connections
            f"t_{s}_ddl": (False, True, False, -1),
        }
        owner_of = conn.execute(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = %s", (f"t_{s}_api",)
        ).fetchone()[0]
        assert owner_of == f"t_{s}_ddl"
        acl = conn.execute(
            "SELECT nspacl::text FROM pg_namespace WHERE nspname = %s", (f"t_{s}_api",)
        ).fetchone()[0]
        assert f"t_{s}_role=U/t_{s}_ddl" in acl
        assert "=U/" not in acl.replace(f"t_{s}_role=U/", "")  # nothing to PUBLIC
        members = conn.execute(
            "SELECT r.rolname, m.rolname FROM pg_auth_members am JOIN pg_roles r"
            " ON r.oid = am.roleid JOIN pg_roles m ON m.oid = am.member"
            " WHERE r.rolname LIKE %s ORDER BY 1",
            (f"t_{s}_%",),
        ).fetchall()
        # the runtime role is a member of nothing and nothing but the tenant logs in as it
        assert members == [(f"t_{s}_ddl", "flux_migrator")]
        verifier = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (f"t_{s}_role",)
        ).fetchone()[0]
        assert verifier.startswith("SCRAM-SHA-256$4096:")
        settings = conn.execute(
            "SELECT unnest(setconfig) FROM pg_db_role_setting WHERE setrole = %s::regrole",
            (f"t_{s}_role",),
        ).fetchall()
        assert {row[0] for row in settings} == {
            "statement_timeout=5000ms",
            f"search_path=t_{s}_api",
            "client_connection_check_interval=1s",
        }
        defaults = conn.execute(
            "SELECT defaclobjtype, defaclacl::text FROM pg_default_acl d"
            " JOIN pg_namespace n ON n.oid = d.defaclnamespace WHERE n.nspname = %s"
            " ORDER BY 1",
            (f"t_{s}_api",),
        ).fetchall()
        assert defaults == [
            ("f", f"{{t_{s}_role=X/t_{s}_ddl}}"),
            ("r", f"{{t_{s}_role=r/t_{s}_ddl}}"),
        ]


def test_tenant_roles_cannot_cross_schemas_and_auth_helpers_work(control, owner, embedded):
    a, _ = svc.create_project(control, owner, "tenant a")
    b, _ = svc.create_project(control, owner, "tenant b")
    sa, sb = shortid(a.tenant_id), shortid(b.tenant_id)
    with _shared(embedded) as conn:
        conn.execute(
            f"SET ROLE t_{sb}_ddl; CREATE TABLE t_{sb}_api.secret_notes (x int);"
            f" INSERT INTO t_{sb}_api.secret_notes VALUES (1); RESET ROLE"
        )
        for role in (f"t_{sa}_role", f"t_{sa}_ddl"):
            with conn.transaction():
                conn.execute(f"SET LOCAL ROLE {role}")
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(f"SELECT * FROM t_{sb}_api.secret_notes")
                raise psycopg.Rollback()
        with conn.transaction():
            conn.execute(f"SET LOCAL ROLE t_{sa}_ddl")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE TABLE public.sneaky (x int)")
            raise psycopg.Rollback()
        with conn.transaction():
            conn.execute(f"SET LOCAL ROLE t_{sa}_role")
            conn.execute("SELECT set_config('request.jwt.claims', '{\"sub\": \"u-1\"}', true)")
            assert conn.execute("SELECT auth.uid(), auth.jwt()->>'sub'").fetchone() == (
                "u-1",
                "u-1",
            )
            raise psycopg.Rollback()


def test_delete_drops_schema_roles_and_catalog_row(control, owner, embedded):
    project, _ = svc.create_project(control, owner, "short lived")
    s = shortid(project.tenant_id)
    svc.delete_project(control, owner, project)
    with _shared(embedded) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM pg_roles WHERE rolname LIKE %s", (f"t_{s}_%",)
            ).fetchone()[0]
            == 0
        )
        assert conn.execute("SELECT to_regnamespace(%s)", (f"t_{s}_api",)).fetchone()[0] is None
    with control.catalog.connection() as conn:
        assert (
            conn.execute(
                "SELECT count(*) AS n FROM projects WHERE tenant_id = %s", (project.tenant_id,)
            ).fetchone()["n"]
            == 0
        )
        actions = [
            r["action"]
            for r in conn.execute(
                "SELECT action FROM audit_log WHERE tenant_id = %s ORDER BY id",
                (project.tenant_id,),
            )
        ]
        assert actions == ["project.create", "project.delete"]


def test_failed_provision_leaves_nothing(control, owner, embedded):
    """A role name collision makes the engine fail: no catalog row, no schema, no roles."""
    import uuid
    from unittest import mock

    tid = uuid.uuid4()
    s = shortid(tid)
    with _shared(embedded) as conn:
        conn.execute(f"CREATE ROLE t_{s}_ddl NOLOGIN")  # collides with the 2nd CREATE ROLE
    with (
        mock.patch("flux.control.projects.new_tenant_id", return_value=tid),
        pytest.raises(psycopg.errors.DuplicateObject),
    ):
        svc.create_project(control, owner, "doomed")
    with _shared(embedded) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM pg_roles WHERE rolname = %s", (f"t_{s}_role",)
            ).fetchone()[0]
            == 0
        )
        conn.execute(f"DROP ROLE t_{s}_ddl")
    with control.catalog.connection() as conn:
        assert (
            conn.execute(
                "SELECT count(*) AS n FROM projects WHERE tenant_id = %s", (tid,)
            ).fetchone()["n"]
            == 0
        )
