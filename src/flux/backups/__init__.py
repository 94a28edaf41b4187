"""Backups of project databases (SPEC §10, issue 13): dump, validate, restore-verify, restore,
offsite copies, schedule and retention.

This package knows PostgreSQL tools and files, not engines: the control plane describes a
project's database as a `flux.backups.spec.DatabaseSpec` (where to dump from as the platform,
which login restores with the tenant's own rights, which schemas belong to the project), and
the functions here act on that. Module map:

    tools.py      pg_dump / pg_restore / psql, passwords through a private password file
    artefacts.py  where artefacts live (0600 files, sha256)
    toc.py        an archive's table of contents: reading it, choosing what may be restored
    spec.py       DatabaseSpec: a project's database as the backup code sees it
    dump.py       a consistent dump plus its metadata (row counts, ledger, grants)
    script.py     the SQL Flux wraps around a restore (clearing, grants, checks)
    restore.py    running a restore in one transaction as the tenant's own login
    verify.py     trust states: validate an artefact, restore it into a disposable database
    offsite.py    copies to an S3-compatible store or a second directory
"""
