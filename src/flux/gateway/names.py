"""Tenant naming derived from a tenant_id (SPEC §2): shortid, v2 runtime role, v2 API schema."""

from __future__ import annotations


def shortid(tenant_id: str) -> str:
    """First 12 hex chars of the tenant_id without hyphens, lower case."""
    return tenant_id.replace("-", "").lower()[:12]


def tenant_role(tenant_id: str) -> str:
    return f"t_{shortid(tenant_id)}_role"


def tenant_schema(tenant_id: str) -> str:
    return f"t_{shortid(tenant_id)}_api"
