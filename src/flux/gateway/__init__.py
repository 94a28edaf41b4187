"""The gateway (SPEC §8): public ingress for Service URLs.

Host/path → project (`hosts`, `directory`), admission limits (`limits`), project-JWT check
(`auth`), bridge JWT (`bridge`) into the in-process REST pool for v2, HTTP proxy (`proxy`) to
the project's REST process for v1, activity flush (`activity`). Start with
`build_gateway_app(directory=Directory(catalog_conninfo), pool_app=..., ...)`.
"""

from flux.gateway.activity import ActivityRecorder
from flux.gateway.app import build_gateway_app
from flux.gateway.directory import Directory, ProjectRoute

__all__ = ["ActivityRecorder", "Directory", "ProjectRoute", "build_gateway_app"]
