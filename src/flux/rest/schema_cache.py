"""Per-schema introspection from pg_catalog and the bounded, non-blocking cache around it.

`introspect(conn, schema)` runs six set-based catalog queries in one pipelined round trip
and builds a `SchemaSnapshot`: relations (tables, views, columns, keys, what they accept),
relationships (many-to-one, one-to-many, one-to-one, many-to-many through junctions — also
through views, resolved via the views' target-list origins) and routines. A view's primary
key is its base table's when the view exposes all of its columns. `SchemaCache` loads
snapshots lazily per schema, keeps at most `max_schemas` (LRU), reloads in the background
while the old snapshot keeps serving, and refreshes for lookup misses: a request that missed
is answered from a snapshot whose catalog read began after the request arrived.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Literal

import psycopg

from flux.rest.similarity import closest

# a table name at least this similar to a missing one is offered as a hint, as PostgREST does
TABLE_HINT_SIMILARITY = 0.75

Cardinality = Literal["M2O", "O2M", "O2O", "M2M"]


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~2 µs per column at load
class Column:
    name: str
    type: str  # format_type(), e.g. "character varying(20)", "integer[]"
    nominal_type: str  # pg_type.typname, e.g. "varchar", "_int4"
    nullable: bool
    default: str | None
    max_length: int | None
    position: int
    description: str | None
    enum: tuple[str, ...] = ()
    # PostgREST's `data_type`: built-in types (and domains over them) without their modifier,
    # e.g. "character varying", "character[]"; other types as format_type() writes them.
    data_type: str = ""


@dataclass(slots=True)
class Relation:
    schema: str
    name: str
    kind: str  # pg_class.relkind
    description: str | None
    columns: dict[str, Column]
    pk: tuple[str, ...] = ()
    # What the relation accepts (pg_relation_is_updatable for views and foreign tables,
    # INSTEAD OF triggers included); tables always, materialized views never.
    insertable: bool = True
    updatable: bool = True
    deletable: bool = True

    @property
    def is_view(self) -> bool:
        return self.kind in ("v", "m")


@dataclass(frozen=True, slots=True)
class Junction:
    table: str
    constraint1: str
    constraint2: str
    source_columns: tuple[tuple[str, str], ...]  # (source column, junction column)
    target_columns: tuple[tuple[str, str], ...]  # (junction column, target column)


@dataclass(frozen=True, slots=True)
class Relationship:
    table: str
    foreign_table: str
    cardinality: Cardinality
    constraint: str
    columns: tuple[tuple[str, str], ...] = ()  # (table column, foreign table column)
    junction: Junction | None = None
    is_self: bool = False
    foreign_is_view: bool = False
    is_parent: bool = False  # one-to-one seen from the referenced side

    @property
    def to_one(self) -> bool:
        return self.cardinality in ("M2O", "O2O")


@dataclass(frozen=True, slots=True)
class RoutineParam:
    name: str
    type: str
    mode: str  # i, o, b, v, t
    has_default: bool


@dataclass(frozen=True, slots=True)
class Routine:
    schema: str
    name: str
    params: tuple[RoutineParam, ...]
    return_type: str
    returns_set: bool
    volatility: str  # i, s, v
    return_relation: str | None  # relation name when it returns a table type of this schema
    description: str | None


@dataclass(slots=True)
class SchemaSnapshot:
    schema: str
    relations: dict[str, Relation]
    relationships: dict[str, list[Relationship]]
    routines: dict[str, list[Routine]]
    loaded_at: float = field(default_factory=time.monotonic)  # when the catalog read began
    load_seconds: float = 0.0
    serial: int = field(default_factory=itertools.count(1).__next__)  # identity for caches

    def suggest_table(self, name: str) -> str | None:
        return closest(name, self.relations, TABLE_HINT_SIMILARITY)


# ----------------------------------------------------------------- catalog queries
_CLOSURE = """
WITH RECURSIVE closure(oid) AS (
  SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = %(schema)s AND c.relkind IN ('r','v','m','f','p')
  UNION
  SELECT d.refobjid FROM closure cl
  JOIN pg_rewrite r ON r.ev_class = cl.oid AND r.rulename = '_RETURN'
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
   AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> cl.oid
)
"""

_Q_RELATIONS = """
SELECT c.oid::int8, c.relname, c.relkind, cd.description,
       a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), t.typname, a.attnotnull,
       CASE
         WHEN a.attidentity = 'd' THEN (
           SELECT format('nextval(%%L)', d.objid::regclass) FROM pg_depend d
           WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
             AND d.refobjid = c.oid AND d.refobjsubid = a.attnum AND d.deptype = 'i')
         WHEN a.attgenerated = 's' THEN NULL
         ELSE pg_get_expr(ad.adbin, ad.adrelid)
       END,
       CASE WHEN a.atttypid IN (1042, 1043) AND a.atttypmod > 0 THEN a.atttypmod - 4 END,
       ad2.description,
       CASE WHEN t.typtype = 'e' THEN (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder)
                                        FROM pg_enum e WHERE e.enumtypid = t.oid) END,
       CASE WHEN t.typnamespace = 'pg_catalog'::regnamespace THEN format_type(a.atttypid, NULL)
            WHEN t.typtype = 'd' THEN (SELECT format_type(bt.oid, NULL) FROM pg_type bt
              WHERE bt.oid = t.typbasetype AND bt.typnamespace = 'pg_catalog'::regnamespace) END
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description cd ON cd.objoid = c.oid AND cd.classoid = 'pg_class'::regclass
     AND cd.objsubid = 0
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
LEFT JOIN pg_description ad2 ON ad2.objoid = c.oid AND ad2.classoid = 'pg_class'::regclass
     AND ad2.objsubid = a.attnum
WHERE n.nspname = %(schema)s AND c.relkind IN ('r','v','m','f','p')
ORDER BY c.oid, a.attnum
"""

# Bit mask of pg_relation_is_updatable: 8 insert, 4 update, 16 delete.
_Q_UPDATABLE = """
SELECT c.oid::int8, pg_relation_is_updatable(c.oid::regclass, true)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('v','m','f')
"""

_Q_FOREIGN_ATTS = (
    _CLOSURE
    + """
SELECT a.attrelid::int8, a.attnum, a.attname
FROM closure cl JOIN pg_class c ON c.oid = cl.oid
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname <> %(schema)s
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
"""
)

_Q_VIEWDEFS = (
    _CLOSURE
    + """
SELECT r.ev_class::int8, r.ev_action::text
FROM pg_rewrite r
WHERE r.rulename = '_RETURN' AND r.ev_class IN (SELECT oid FROM closure)
"""
)

_Q_CONSTRAINTS = (
    _CLOSURE
    + """
SELECT co.conname, co.contype, co.conrelid::int8, co.conkey::int2[], co.confrelid::int8,
       co.confkey::int2[]
FROM pg_constraint co
WHERE co.contype IN ('p','u','f') AND co.conrelid IN (SELECT oid FROM closure)
  AND (co.contype <> 'f' OR co.confrelid IN (SELECT oid FROM closure))
ORDER BY co.conname
"""
)

_Q_ROUTINES = """
SELECT p.proname,
       coalesce(p.proargnames, '{}'::text[]),
       coalesce(p.proargmodes::text[], array_fill('i'::text, ARRAY[p.pronargs::int])),
       ARRAY(SELECT format_type(x, NULL)
             FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY u(x, i)
             ORDER BY i),
       p.pronargs, p.pronargdefaults,
       format_type(p.prorettype, NULL), p.proretset, p.provolatile,
       CASE WHEN rn.nspname = %(schema)s THEN rc.relname END,
       d.description
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_type rt ON rt.oid = p.prorettype
LEFT JOIN pg_class rc ON rc.oid = rt.typrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
LEFT JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_proc'::regclass
WHERE n.nspname = %(schema)s AND p.prokind IN ('f', 'p')
ORDER BY p.proname, p.oid
"""


# ----------------------------------------------------------------- view column origins
def _tokens(text: str) -> Iterator[str]:
    """Tokens of a PostgreSQL node string (`nodeToString` output); escapes are resolved."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "(){}":
            yield ch
            i += 1
        else:
            buf = []
            while i < n and not text[i].isspace() and text[i] not in "(){}":
                if text[i] == "\\" and i + 1 < n:
                    buf.append(text[i + 1])
                    i += 2
                else:
                    buf.append(text[i])
                    i += 1
            yield "".join(buf)


def view_column_origins(ev_action: str) -> dict[str, tuple[int, int]]:
    """Output column name → (origin relation oid, origin attnum) for the view's top query."""
    origins: dict[str, tuple[int, int]] = {}
    depth = 0
    in_target_list = False
    entry: dict[str, str] = {}
    pending_key: str | None = None
    for tok in _tokens(ev_action):
        if tok in "({":
            depth += 1
            if in_target_list and depth == 4:
                entry = {}
            pending_key = None
            continue
        if tok in ")}":
            depth -= 1
            if in_target_list and depth == 3 and entry:
                name, tbl, col = (
                    entry.get(":resname"),
                    entry.get(":resorigtbl"),
                    entry.get(":resorigcol"),
                )
                if name and tbl and col and tbl != "0" and entry.get(":resjunk") != "true":
                    origins.setdefault(name, (int(tbl), int(col)))
                entry = {}
            if in_target_list and depth == 2:
                break
            pending_key = None
            continue
        if depth == 2 and tok == ":targetList":
            in_target_list = True
            continue
        if in_target_list and depth == 4:
            if pending_key is not None:
                entry[pending_key] = tok
                pending_key = None
            elif tok.startswith(":"):
                pending_key = tok
    return origins


# ----------------------------------------------------------------- building the snapshot
@dataclass
class _Rep:
    """One way a base relation appears in the schema: itself, or a view over it."""

    name: str
    columns: dict[int, str]  # base attnum -> column name in the exposed relation
    is_view: bool


def _build(
    schema: str,
    rows_rel: list,
    rows_atts: list,
    rows_views: list,
    rows_cons: list,
    rows_routines: list,
    rows_updatable: list,
) -> SchemaSnapshot:
    relations: dict[str, Relation] = {}
    oid_name: dict[int, str] = {}
    attnames: dict[int, dict[int, str]] = {}
    for (
        oid,
        relname,
        kind,
        descr,
        attnum,
        attname,
        typ,
        typname,
        notnull,
        default,
        maxlen,
        cdescr,
        enum,
        data_type,
    ) in rows_rel:
        rel = relations.get(relname)
        if rel is None:
            rel = relations[relname] = Relation(schema, relname, kind, descr, {})
            oid_name[oid] = relname
            attnames[oid] = {}
        if attname is not None:
            rel.columns[attname] = Column(
                attname,
                typ,
                typname,
                not notnull,
                default,
                maxlen,
                attnum,
                cdescr,
                tuple(enum or ()),
                data_type or typ,
            )
            attnames[oid][attnum] = attname
    for relid, attnum, attname in rows_atts:
        attnames.setdefault(relid, {})[attnum] = attname
    for oid, mask in rows_updatable:
        rel = relations[oid_name[oid]]
        rel.insertable, rel.updatable, rel.deletable = (
            bool(mask & 8),
            bool(mask & 4),
            bool(mask & 16),
        )

    # View columns resolved down to base relation columns (following chains of views).
    view_origins = {oid: view_column_origins(action) for oid, action in rows_views}

    def base_of(oid: int, attnum: int, hops: int = 0) -> tuple[int, int] | None:
        if oid not in view_origins:
            return (oid, attnum)
        name = attnames.get(oid, {}).get(attnum)
        nxt = view_origins[oid].get(name) if name else None
        if nxt is None or hops > 32:
            return None
        return base_of(nxt[0], nxt[1], hops + 1)

    reps: dict[int, list[_Rep]] = {}
    for oid, name in oid_name.items():
        if oid in view_origins:
            by_base: dict[int, dict[int, str]] = {}
            for col, (orig_oid, orig_att) in view_origins[oid].items():
                base = base_of(orig_oid, orig_att)
                if base is not None:
                    by_base.setdefault(base[0], {}).setdefault(base[1], col)
            for base_oid, base_cols in by_base.items():
                reps.setdefault(base_oid, []).append(_Rep(name, base_cols, True))
        else:
            reps.setdefault(oid, []).insert(0, _Rep(name, dict(attnames[oid]), False))

    keys: dict[int, list[frozenset[int]]] = {}
    pks: dict[int, tuple[int, ...]] = {}
    fks: list[tuple[str, int, tuple[int, ...], int, tuple[int, ...]]] = []
    for conname, contype, conrelid, conkey, confrelid, confkey in rows_cons:
        if contype in ("p", "u"):
            keys.setdefault(conrelid, []).append(frozenset(conkey))
            if contype == "p":
                pks[conrelid] = tuple(conkey)
        else:
            fks.append((conname, conrelid, tuple(conkey), confrelid, tuple(confkey)))
    for oid, name in oid_name.items():
        if oid in pks:
            relations[name].pk = tuple(attnames[oid][k] for k in pks[oid])
    for base_oid, base_reps in reps.items():
        key = pks.get(base_oid)
        for rep in base_reps:
            if key and rep.is_view and all(k in rep.columns for k in key):
                relations[rep.name].pk += tuple(rep.columns[k] for k in key)

    relationships: dict[str, list[Relationship]] = {}
    # junction candidates: junction rep name -> list of (constraint, target rep, columns, base oid)
    to_one_from: dict[tuple[str, int], list[tuple[Relationship, frozenset[int]]]] = {}

    def add(rel: Relationship) -> None:
        relationships.setdefault(rel.table, []).append(rel)

    for conname, t_oid, t_keys, r_oid, r_keys in fks:
        o2o = frozenset(t_keys) in keys.get(t_oid, [])
        for src in reps.get(t_oid, []):
            if not all(k in src.columns for k in t_keys):
                continue
            for tgt in reps.get(r_oid, []):
                if not all(k in tgt.columns for k in r_keys):
                    continue
                cols = tuple(
                    (src.columns[a], tgt.columns[b]) for a, b in zip(t_keys, r_keys, strict=True)
                )
                is_self = src.name == tgt.name
                forward = Relationship(
                    src.name,
                    tgt.name,
                    "O2O" if o2o else "M2O",
                    conname,
                    cols,
                    is_self=is_self,
                    foreign_is_view=tgt.is_view,
                )
                backward = Relationship(
                    tgt.name,
                    src.name,
                    "O2O" if o2o else "O2M",
                    conname,
                    tuple((b, a) for a, b in cols),
                    is_self=is_self,
                    foreign_is_view=src.is_view,
                    is_parent=o2o,
                )
                add(forward)
                add(backward)
                to_one_from.setdefault((src.name, t_oid), []).append((forward, frozenset(t_keys)))

    for (junction, j_oid), outgoing in to_one_from.items():
        for rel1, keys1 in outgoing:
            for rel2, keys2 in outgoing:
                if rel1.constraint == rel2.constraint:
                    continue
                if not any((keys1 | keys2) <= key for key in keys.get(j_oid, [])):
                    continue
                jun = Junction(
                    junction,
                    rel1.constraint,
                    rel2.constraint,
                    tuple((b, a) for a, b in rel1.columns),
                    rel2.columns,
                )
                add(
                    Relationship(
                        rel1.foreign_table,
                        rel2.foreign_table,
                        "M2M",
                        rel1.constraint,
                        junction=jun,
                        is_self=rel1.foreign_table == rel2.foreign_table,
                        foreign_is_view=relations[rel2.foreign_table].is_view,
                    )
                )

    routines: dict[str, list[Routine]] = {}
    for (
        name,
        argnames,
        argmodes,
        argtypes,
        nargs,
        ndefaults,
        rettype,
        retset,
        volatility,
        retrel,
        descr,
    ) in rows_routines:
        params = []
        in_index = 0
        for i, typ in enumerate(argtypes):
            mode = argmodes[i] if i < len(argmodes) else "i"
            pname = argnames[i] if i < len(argnames) else ""
            has_default = False
            if mode in ("i", "b", "v"):
                has_default = in_index >= nargs - ndefaults
                in_index += 1
            params.append(RoutineParam(pname, typ, mode, has_default))
        routines.setdefault(name, []).append(
            Routine(schema, name, tuple(params), rettype, retset, volatility, retrel, descr)
        )
    return SchemaSnapshot(schema, relations, relationships, routines)


async def introspect(conn: psycopg.AsyncConnection, schema: str) -> SchemaSnapshot:
    """Load one schema's snapshot: six catalog queries pipelined in one round trip."""
    started = time.perf_counter()
    args = {"schema": schema}
    async with conn.pipeline():
        curs = [
            await conn.execute(q, args, prepare=False)
            for q in (
                _Q_RELATIONS,
                _Q_FOREIGN_ATTS,
                _Q_VIEWDEFS,
                _Q_CONSTRAINTS,
                _Q_ROUTINES,
                _Q_UPDATABLE,
            )
        ]
    rows = [await c.fetchall() for c in curs]
    snapshot = _build(schema, *rows)
    snapshot.load_seconds = time.perf_counter() - started
    return snapshot


# ----------------------------------------------------------------- the cache
Connector = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection]]
LoadObserver = Callable[[str, float], None]


class SchemaCache:
    """Snapshots per schema: lazy, LRU-bounded, reloaded in the background, single-flight."""

    def __init__(
        self,
        connect: Connector,
        max_schemas: int = 1000,
        on_load: LoadObserver | None = None,
    ) -> None:
        self._connect = connect
        self._max = max_schemas
        self._on_load = on_load
        self._snapshots: OrderedDict[str, SchemaSnapshot] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[SchemaSnapshot]] = {}
        self._started_at: dict[str, float] = {}  # when each in-flight load began
        self._background: set[asyncio.Task[object]] = set()

    def __len__(self) -> int:
        return len(self._snapshots)

    def cached(self, schema: str) -> SchemaSnapshot | None:
        return self._snapshots.get(schema)

    async def get(self, schema: str) -> SchemaSnapshot:
        """The schema's snapshot, loading it on first use (concurrent callers share one load)."""
        snap = self._snapshots.get(schema)
        if snap is not None:
            self._snapshots.move_to_end(schema)
            return snap
        return await self._load(schema)

    async def refresh(self, schema: str, since: float) -> SchemaSnapshot:
        """After a lookup miss by a request that arrived at `since` (time.monotonic()): a
        snapshot whose catalog read began at or after `since` is fresh enough for it; an
        in-flight load that began then is shared; an older one is waited out, then a new load
        starts (shared by every miss that arrived before it began)."""
        while True:
            snap = self._snapshots.get(schema)
            if snap is not None and snap.loaded_at >= since:
                return snap
            task = self._inflight.get(schema)
            if task is None or task.done():
                return await asyncio.shield(self._start(schema))
            if self._started_at[schema] >= since:
                return await asyncio.shield(task)
            await asyncio.gather(asyncio.shield(task), return_exceptions=True)

    def _start(self, schema: str) -> asyncio.Task[SchemaSnapshot]:
        now = time.monotonic()
        task = asyncio.ensure_future(self._fetch(schema, now))
        self._inflight[schema] = task
        self._started_at[schema] = now
        task.add_done_callback(lambda done: self._forget(schema, done))
        return task

    def _forget(self, schema: str, task: asyncio.Task[SchemaSnapshot]) -> None:
        if self._inflight.get(schema) is task:
            del self._inflight[schema]
            del self._started_at[schema]
        if not task.cancelled():
            task.exception()  # a failed load is reported to its awaiters; retrieve to silence

    def reload(self, schema: str | None = None) -> None:
        """Schedule a background reload (all cached schemas when None); stale data keeps serving."""
        targets = [schema] if schema is not None else list(self._snapshots)
        for name in targets:
            if name not in self._snapshots:
                continue
            task = asyncio.ensure_future(self._load(name, force=True))
            self._background.add(task)
            task.add_done_callback(self._finish_background)

    def _finish_background(self, task: asyncio.Task[object]) -> None:
        self._background.discard(task)
        if not task.cancelled():
            task.exception()  # a failed reload keeps the stale snapshot; retrieve to silence

    async def reload_now(self, schema: str | None = None) -> None:
        """Reload and wait (for callers that need the new snapshot before continuing)."""
        targets = [schema] if schema is not None else list(self._snapshots)
        for name in targets:
            await self._load(name, force=True)

    async def _load(self, schema: str, force: bool = False) -> SchemaSnapshot:
        task = self._inflight.get(schema)
        if task is not None and not force:
            return await asyncio.shield(task)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        return await asyncio.shield(self._start(schema))

    async def _fetch(self, schema: str, started: float) -> SchemaSnapshot:
        async with self._connect() as conn:
            snap = await introspect(conn, schema)
        snap.loaded_at = started  # when the catalog read began: what it can have missed
        self._snapshots[schema] = snap
        self._snapshots.move_to_end(schema)
        while len(self._snapshots) > self._max:
            self._snapshots.popitem(last=False)
        if self._on_load is not None:
            self._on_load(schema, snap.load_seconds)
        return snap

    async def aclose(self) -> None:
        for task in list(self._background) + list(self._inflight.values()):
            task.cancel()
        await asyncio.gather(*self._background, *self._inflight.values(), return_exceptions=True)
