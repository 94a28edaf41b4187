"""`/rpc/<fn>` → CallPlan: overload resolution, argument passing and the result read.

PostgREST's findProc and callPlan: a function matches when its required parameters are
all given and every given key is a parameter; otherwise a function with one unnamed
json/jsonb (or, for raw bodies, text/xml/bytea) parameter takes the whole body. No match is
404 PGRST202, several are 300 PGRST203. Set- and table-returning results get the read
machinery (filters, order, limit/offset, `select=`, embeds when the result is a table type).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass

from flux.rest import grammar as g
from flux.rest.errors import ApiError
from flux.rest.media import Kind as MediaKind
from flux.rest.payload import Payload
from flux.rest.plan import ReadNode, build_tree, cap_embeds, place_params, root_range
from flux.rest.request import ApiRequest
from flux.rest.schema_cache import Column, Relation, Routine, RoutineParam, SchemaSnapshot

SOURCE = "pgrst_source"
_RAW_PARAM_TYPE = {"text/plain": "text", "text/xml": "xml", "application/octet-stream": "bytea"}
_SCALAR_MEDIA: dict[str, MediaKind] = {
    "text": "text",
    "character varying": "text",
    "character": "text",
    "xml": "xml",
    "bytea": "octet",
}


@dataclass(slots=True)
class CallPlan:
    schema: str
    routine: Routine
    args: tuple[RoutineParam, ...]  # named arguments passed (empty for positional/none)
    positional: RoutineParam | None  # the single parameter that takes the whole body
    payload: Payload
    read: ReadNode  # the read over pgrst_source (filters/select only for composite results)
    read_only: bool
    count: str | None

    @property
    def scalar(self) -> bool:
        return is_scalar(self.routine)

    @property
    def returns_void(self) -> bool:
        return self.routine.return_type == "void" and not self.routine.returns_set

    @property
    def single(self) -> bool:
        """One value (scalar or composite), not a set: the body is that value, not an array."""
        return not self.routine.returns_set


def in_params(routine: Routine) -> tuple[RoutineParam, ...]:
    return tuple(p for p in routine.params if p.mode in ("i", "b", "v"))


def out_params(routine: Routine) -> tuple[RoutineParam, ...]:
    return tuple(p for p in routine.params if p.mode in ("o", "b", "t"))


def is_scalar(routine: Routine) -> bool:
    return routine.return_relation is None and routine.return_type not in ("record", "void")


def scalar_media(routine: Routine) -> MediaKind | None:
    """text/plain, text/xml or octet-stream when the function returns such a scalar."""
    if not is_scalar(routine):
        return None
    base = routine.return_type.split("(", 1)[0].strip()
    return _SCALAR_MEDIA.get(base)


def _signature(routine: Routine) -> str:
    params = ", ".join(f"{p.name} => {p.type}" for p in in_params(routine))
    return f"{routine.schema}.{routine.name}({params})"


def _not_found(
    snapshot: SchemaSnapshot, name: str, keys: list[str], media: str, post: bool
) -> ApiError:
    func = f"{snapshot.schema}.{name}"
    raw_only = post and media in _RAW_PARAM_TYPE
    prms = ", ".join(keys)
    fmt_msg = " without parameters" if not keys else f"({prms})"
    message = f"Could not find the function {func}{'' if raw_only else fmt_msg} in the schema cache"
    plural = "s " if len(keys) > 1 else " "
    searched = " without parameters" if not keys else f" with parameter{plural}{prms}"
    if post and media in _RAW_PARAM_TYPE:
        searched = f" with a single unnamed {_RAW_PARAM_TYPE[media]} parameter"
    elif post and media == "application/json":
        searched += " or with a single unnamed json/jsonb parameter"
    details = f"Searched for the function {func}{searched}, but no matches were found in the schema cache."
    hint = None
    if not raw_only:
        overloads = snapshot.routines.get(name, [])
        if overloads:
            options = [
                "(" + ", ".join(sorted(p.name for p in in_params(r))) + ")" for r in overloads
            ]
            found = difflib.get_close_matches("(" + ", ".join(keys) + ")", options, n=1, cutoff=0.3)
            if found:
                hint = f"Perhaps you meant to call the function {func}{found[0]}"
        else:
            found = difflib.get_close_matches(name, sorted(snapshot.routines), n=1, cutoff=0.6)
            if found:
                hint = f"Perhaps you meant to call the function {snapshot.schema}.{found[0]}"
    return ApiError(404, "PGRST202", message, details, hint)


def _ambiguous(routines: list[Routine]) -> ApiError:
    return ApiError(
        300,
        "PGRST203",
        "Could not choose the best candidate function between: "
        + ", ".join(_signature(r) for r in routines),
        None,
        "Try renaming the parameters or the function itself in the database so function "
        "overloading can be resolved",
    )


def find_routine(
    snapshot: SchemaSnapshot,
    name: str,
    keys: tuple[str, ...],
    *,
    single_object: bool,
    media: str,
    post: bool,
) -> tuple[Routine, bool]:
    """The routine to call and whether it takes the whole body as its one parameter."""
    key_set = set(keys)
    matching: list[Routine] = []
    single: list[Routine] = []
    for routine in snapshot.routines.get(name, []):
        params = in_params(routine)
        first = params[0].type if params else None
        if single_object:
            matched = len(params) == 1 and first in ("json", "jsonb")
        elif not params:
            matched = not keys and not (post and media in _RAW_PARAM_TYPE)
        else:
            required = {p.name for p in params if not p.has_default}
            matched = required <= key_set <= {p.name for p in params}
        if matched:
            matching.append(routine)
        elif len(params) == 1 and post:
            wanted = _RAW_PARAM_TYPE.get(media)
            ok = first in ("json", "jsonb") if media == "application/json" else first == wanted
            if ok:
                single.append(routine)
    if len(matching) == 1:
        return matching[0], single_object
    if matching:
        raise _ambiguous(matching)
    if len(single) == 1:
        return single[0], True
    if single:
        raise _ambiguous(single)
    raise _not_found(snapshot, name, sorted(keys), media, post)


def _result_relation(snapshot: SchemaSnapshot, routine: Routine) -> Relation:
    """The relation a composite result is read as (a synthetic one for RETURNS TABLE)."""
    if routine.return_relation is not None and routine.return_relation in snapshot.relations:
        return snapshot.relations[routine.return_relation]
    columns = {
        p.name: Column(p.name, p.type, p.type, True, None, None, i, None)
        for i, p in enumerate(out_params(routine), 1)
    }
    return Relation(snapshot.schema, routine.name, "f", None, columns)


def args_json(pairs: list[tuple[str, str]], variadic: set[str]) -> str:
    """GET arguments as one JSON object; repeated keys (and variadic ones) become arrays."""
    args: dict[str, object] = {}
    for key, value in pairs:
        if key in args:
            prev = args[key]
            args[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            args[key] = [value] if key in variadic else value
    return json.dumps(args, ensure_ascii=False, separators=(",", ":"))


def plan_call(
    request: ApiRequest,
    snapshot: SchemaSnapshot,
    payload: Payload | None,
    *,
    aggregates_enabled: bool,
    max_rows: int | None,
) -> CallPlan:
    assert request.resource is not None
    post = request.method == "POST"
    q = request.query
    if post:
        assert payload is not None
        keys = payload.keys
        media = payload.media
    else:
        keys = tuple(dict.fromkeys(k for k, _ in q.rpc_args))
        media = "application/json"
    routine, whole_body = find_routine(
        snapshot,
        request.resource,
        keys,
        single_object=request.preferences.params == "single-object",
        media=media,
        post=post,
    )
    params = in_params(routine)
    if not post:
        variadic = {p.name for p in params if p.mode == "v"}
        payload = Payload(args_json(q.rpc_args, variadic), keys, True)
    assert payload is not None
    positional = params[0] if whole_body else None
    args = () if whole_body else tuple(p for p in params if p.name in set(keys))
    if is_scalar(routine) or routine.return_type == "void":
        scalar = Relation(snapshot.schema, routine.name, "f", None, {})
        read = build_tree(snapshot, scalar, (g.SelectStar(),), aggregates_enabled=False)
        read.source = SOURCE
    else:
        relation = _result_relation(snapshot, routine)
        read = build_tree(
            snapshot, relation, q.select, aggregates_enabled=aggregates_enabled, source=SOURCE
        )
        place_params(read, request, include_root=True)
    read.offset, read.limit = root_range(q.offset.get(()), q.limit.get(()), request.range, max_rows)
    cap_embeds(read, max_rows)
    read_only = not post or routine.volatility != "v"
    return CallPlan(
        snapshot.schema,
        routine,
        args,
        positional,
        payload,
        read,
        read_only,
        request.preferences.count,
    )
