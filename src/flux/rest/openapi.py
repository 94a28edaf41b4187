"""OpenAPI 2.0 (Swagger) document for one schema, listing what the role may read.

Built from the schema snapshot plus the list of relations the current role can SELECT
(queried inside the request transaction, so privileges follow the role as PostgREST does
with openapi-mode=follow-privileges).
"""

from __future__ import annotations

from typing import Any

from flux.rest.schema_cache import Column, Relation, SchemaSnapshot
from flux.rest.sql import Statement

VERSION = "14.0 (flux)"

_MEDIA = [
    "application/json",
    "application/vnd.pgrst.object+json;nulls=stripped",
    "application/vnd.pgrst.object+json",
    "text/csv",
]


def readable_relations_statement(schema: str, follow_privileges: bool) -> Statement:
    check = "AND has_table_privilege(c.oid, 'SELECT')" if follow_privileges else ""
    return Statement(
        "SELECT coalesce(json_agg(c.relname ORDER BY c.relname), '[]')::text FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = %s AND c.relkind IN ('r','v','m','f','p') {check}",
        [schema],
    )


def _property(col: Column, is_pk: bool, fk_note: str | None) -> dict[str, Any]:
    prop: dict[str, Any] = {}
    notes = []
    if col.description:
        notes.append(col.description)
    if is_pk:
        notes.append("Note:\nThis is a Primary Key.<pk/>")
    if fk_note:
        notes.append(fk_note)
    if col.default is not None:
        prop["default"] = col.default
    if notes:
        prop["description"] = "\n\n".join(notes)
    if col.enum:
        prop["enum"] = list(col.enum)
    prop["format"] = col.type
    if col.max_length is not None:
        prop["maxLength"] = col.max_length
    kind = _swagger_type(col)
    if kind == "array":
        prop["items"] = {"type": _swagger_type_name(col.nominal_type.lstrip("_"))}
    if kind is not None:
        prop["type"] = kind
    return prop


def _swagger_type_name(typname: str) -> str:
    if typname in ("int2", "int4", "int8", "integer", "bigint", "smallint"):
        return "integer"
    if typname in ("numeric", "float4", "float8", "money"):
        return "number"
    if typname == "bool":
        return "boolean"
    return "string"


def _swagger_type(col: Column) -> str | None:
    if col.type.endswith("[]"):
        return "array"
    if col.nominal_type in ("json", "jsonb"):
        return None
    return _swagger_type_name(col.nominal_type)


def _definition(snapshot: SchemaSnapshot, rel: Relation) -> dict[str, Any]:
    fk_notes: dict[str, str] = {}
    for link in snapshot.relationships.get(rel.name, []):
        if link.cardinality == "M2O" and len(link.columns) == 1:
            src, tgt = link.columns[0]
            fk_notes[src] = (
                f"Note:\nThis is a Foreign Key to `{link.foreign_table}.{tgt}`."
                f"<fk table='{link.foreign_table}' column='{tgt}'/>"
            )
    required = [c.name for c in rel.columns.values() if not c.nullable and c.default is None]
    out: dict[str, Any] = {}
    if rel.description:
        out["description"] = rel.description
    if required:
        out["required"] = required
    out["properties"] = {
        c.name: _property(c, c.name in rel.pk, fk_notes.get(c.name)) for c in rel.columns.values()
    }
    out["type"] = "object"
    return out


def _path(rel: Relation) -> dict[str, Any]:
    params = [{"$ref": f"#/parameters/rowFilter.{rel.name}.{c}"} for c in rel.columns]
    params += [
        {"$ref": f"#/parameters/{p}"}
        for p in ("select", "order", "range", "rangeUnit", "offset", "limit", "preferCount")
    ]
    get = {
        "parameters": params,
        "responses": {
            "200": {
                "description": "OK",
                "schema": {"items": {"$ref": f"#/definitions/{rel.name}"}, "type": "array"},
            },
            "206": {"description": "Partial Content"},
        },
        "tags": [rel.name],
    }
    if rel.description:
        get["summary"] = rel.description.split("\n", 1)[0]
    return {"get": get}


def document(snapshot: SchemaSnapshot, readable: list[str], host: str) -> dict[str, Any]:
    rels = [snapshot.relations[n] for n in readable if n in snapshot.relations]
    parameters: dict[str, Any] = {
        "preferCount": {
            "name": "Prefer",
            "description": "Preference",
            "required": False,
            "in": "header",
            "type": "string",
            "enum": ["count=none"],
        },
        "select": {
            "name": "select",
            "description": "Filtering Columns",
            "required": False,
            "in": "query",
            "type": "string",
        },
        "order": {
            "name": "order",
            "description": "Ordering",
            "required": False,
            "in": "query",
            "type": "string",
        },
        "range": {
            "name": "Range",
            "description": "Limiting and Pagination",
            "required": False,
            "in": "header",
            "type": "string",
        },
        "rangeUnit": {
            "name": "Range-Unit",
            "description": "Limiting and Pagination",
            "required": False,
            "default": "items",
            "in": "header",
            "type": "string",
        },
        "offset": {
            "name": "offset",
            "description": "Limiting and Pagination",
            "required": False,
            "in": "query",
            "type": "string",
        },
        "limit": {
            "name": "limit",
            "description": "Limiting and Pagination",
            "required": False,
            "in": "query",
            "type": "string",
        },
    }
    for rel in rels:
        for col in rel.columns.values():
            parameters[f"rowFilter.{rel.name}.{col.name}"] = {
                "name": col.name,
                "required": False,
                "format": col.type,
                "in": "query",
                "type": "string",
            }
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "produces": ["application/openapi+json", "application/json"],
                "responses": {"200": {"description": "OK"}},
                "summary": "OpenAPI description (this document)",
                "tags": ["Introspection"],
            }
        }
    }
    for rel in rels:
        paths[f"/{rel.name}"] = _path(rel)
    return {
        "swagger": "2.0",
        "info": {"description": "", "title": "PostgREST API", "version": VERSION},
        "host": host,
        "basePath": "/",
        "schemes": ["http"],
        "consumes": _MEDIA,
        "produces": _MEDIA,
        "paths": paths,
        "definitions": {rel.name: _definition(snapshot, rel) for rel in rels},
        "parameters": parameters,
        "externalDocs": {
            "description": "PostgREST Documentation",
            "url": "https://postgrest.org/en/v14/references/api.html",
        },
    }
