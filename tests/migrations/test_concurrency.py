"""Concurrent pushes serialise on the project lock; killed pushes and lock waits are clean."""

from __future__ import annotations

import threading
import time

import psycopg
from mig_support import Tenant, files, scalar

from flux.migrations import PushLimits, PushReport, ledger, push
from flux.migrations.ledger_tables import ensure_ledger

SLOW = "create table slow (id int);\nselect pg_sleep(1.5);\n"


def in_thread(fn) -> tuple[threading.Thread, list]:
    out: list = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    return thread, out


def wait_for_backend(conninfo: str, pattern: str, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'flux push'"
                " AND state = 'active' AND query LIKE %s",
                (pattern,),
            ).fetchone()
            if row:
                return row[0]
            time.sleep(0.05)
    raise AssertionError(f"no active push matching {pattern!r}")


def test_two_pushes_at_once_are_serialised(tenant: Tenant) -> None:
    fs = files(f001_slow=SLOW)

    def go() -> PushReport:
        return push(tenant.target, fs, mode="versioned", applied_by="ci")

    first, out1 = in_thread(go)
    wait_for_backend(tenant.conninfo, "%flux_exec%")
    second, out2 = in_thread(go)
    first.join(20)
    second.join(20)
    summaries = sorted(r.lines[-1] for r in out1 + out2)
    assert summaries == ["Done. 0 applied, 1 skipped.", "Done. 1 applied, 0 skipped."]
    assert len(ledger(tenant.target)) == 1


def test_push_lock_wait_times_out_with_a_clear_message(tenant: Tenant) -> None:
    first, out1 = in_thread(
        lambda: push(tenant.target, files(f001_slow=SLOW), mode="versioned", applied_by="a")
    )
    wait_for_backend(tenant.conninfo, "%flux_exec%")
    report = push(
        tenant.target,
        files(f001_slow=SLOW),
        mode="versioned",
        applied_by="b",
        limits=PushLimits(push_lock_wait=0.2),
    )
    first.join(20)
    assert report.errors[0].code == "push_locked"
    assert report.lines == ["✗ another push to this project is in progress (waited 0.2s)"]
    assert out1[0].ok


def _push_against_a_locked_table(tenant: Tenant, sql: str, lock_timeout: float):
    """Push `sql` as 002.sql while another session holds table t exclusively (< 5 s)."""
    assert push(
        tenant.target, files(f001="create table t (id int);"), mode="versioned", applied_by="a"
    ).ok
    with psycopg.connect(tenant.conninfo) as holder:
        holder.execute(f"LOCK TABLE {tenant.schema}.t IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        report = push(
            tenant.target,
            files(f002=sql),
            mode="versioned",
            applied_by="a",
            limits=PushLimits(lock_timeout=lock_timeout),
        )
        assert time.monotonic() - started < 5
    return report


def test_lock_timeout_on_a_busy_table(tenant: Tenant) -> None:
    report = _push_against_a_locked_table(tenant, "alter table t add column x int;", 0.3)
    err = report.errors[0]
    assert err.sqlstate == "55P03" and "lock_timeout" in (err.hint or "")
    assert (err.file, err.line, err.column) == ("002.sql", 1, 1)


def test_statement_timeout(tenant: Tenant) -> None:
    report = push(
        tenant.target,
        files(f001="select pg_sleep(5);"),
        mode="versioned",
        applied_by="a",
        limits=PushLimits(statement_timeout=0.2),
    )
    assert report.errors[0].sqlstate == "57014"


def test_pushed_sql_cannot_raise_the_platform_statement_timeout(tenant: Tenant) -> None:
    sql = "set statement_timeout = 0;\ncreate table t (id int);\nselect pg_sleep(60);\n"
    started = time.monotonic()
    report = push(
        tenant.target,
        files(f001=sql),
        mode="versioned",
        applied_by="a",
        limits=PushLimits(statement_timeout=0.5),
    )
    assert time.monotonic() - started < 5  # the watchdog, 1 s grace after the maximum
    err = report.errors[0]
    assert (err.code, err.sqlstate, err.file, err.line) == ("push_timeout", "57014", "001.sql", 3)
    assert "platform maximum of 0.5s" in err.message
    assert scalar(tenant.conninfo, f"SELECT to_regclass('{tenant.schema}.t')") is None
    assert ledger(tenant.target) == []
    assert push(tenant.target, files(f001="select 1;"), mode="versioned", applied_by="a").ok


def test_pushed_sql_cannot_raise_the_platform_lock_timeout(tenant: Tenant) -> None:
    sql = "set lock_timeout = 0;\nalter table t add column x int;"
    report = _push_against_a_locked_table(tenant, sql, 0.5)
    err = report.errors[0]
    assert (err.code, err.line) == ("push_timeout", 2) and "waited for a lock" in err.message


def test_cancelled_push_stops_rolls_back_and_releases_the_lock(tenant: Tenant) -> None:
    cancelled = threading.Event()
    thread, out = in_thread(
        lambda: push(
            tenant.target,
            files(f001_slow="create table a (id int);\nselect pg_sleep(60);\n", f002="select 1;"),
            mode="versioned",
            applied_by="a",
            cancelled=cancelled,
        )
    )
    wait_for_backend(tenant.conninfo, "%flux_exec%")
    cancelled.set()
    started = time.monotonic()
    thread.join(10)
    assert time.monotonic() - started < 3
    report = out[0]
    assert report.errors[0].code == "push_cancelled"
    assert [f["status"] for f in report.to_json()["files"]] == ["failed", "not_run"]
    assert scalar(tenant.conninfo, f"SELECT to_regclass('{tenant.schema}.a')") is None
    assert push(tenant.target, files(f002="select 1;"), mode="versioned", applied_by="a").ok


def test_killed_push_leaves_no_partial_file(tenant: Tenant) -> None:
    sql = "create table a (id int);\nselect pg_sleep(30);\ncreate table b (id int);\n"
    thread, out = in_thread(
        lambda: push(
            tenant.target,
            files(f001_ok="select 1;", f002_killed=sql),
            mode="versioned",
            applied_by="a",
        )
    )
    pid = wait_for_backend(tenant.conninfo, "%flux_exec%")
    assert scalar(tenant.conninfo, "SELECT pg_terminate_backend(%s)", (pid,)) is True
    thread.join(20)
    report = out[0]
    assert not report.ok and report.errors[0].file == "002_killed.sql"
    assert report.errors[0].line == 2  # the statement that was running
    assert report.lines[-1] == "Failed. 1 applied, 0 skipped."
    assert scalar(tenant.conninfo, f"SELECT to_regclass('{tenant.schema}.a')") is None
    assert [r.version for r in ledger(tenant.target)] == ["001_ok.sql"]
    again = push(
        tenant.target,
        files(f001_ok="select 1;", f002_killed=sql.replace("30", "0")),
        mode="versioned",
        applied_by="a",
    )
    assert again.lines[-1] == "Done. 1 applied, 1 skipped."


def test_first_pushes_racing_create_the_ledger_once(shared_db: str) -> None:
    barrier = threading.Barrier(3)
    failures: list[BaseException] = []

    def create() -> None:
        try:
            with psycopg.connect(shared_db, autocommit=True) as conn:
                barrier.wait(5)
                ensure_ledger(conn)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=create) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert failures == []
    assert scalar(shared_db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'flux'") == 2
