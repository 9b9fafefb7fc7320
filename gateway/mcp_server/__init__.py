"""The Model Context Protocol server at ``/mcp`` (Streamable HTTP), for agents: Claude Desktop, Cursor, Claude
Code, Open WebUI's tools. Built with the official SDK (``mcp`` 2.x): its session manager runs inside the gateway's
lifespan, and the route sits behind the gateway's own middleware (API keys, request log, metrics).

Stateless: every POST stands alone (no session to pin to one replica behind a load balancer), and answers as an
event stream so per-page progress reaches the client while a long document is read.
"""

from __future__ import annotations

from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route

from gateway.config import Settings
from gateway.mcp_server.answers import GatewayAnswers
from gateway.mcp_server.tools import build_mcp_server

PATH = "/mcp"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def mcp_route(settings: Settings) -> tuple[Route, StreamableHTTPSessionManager]:
    """The ``/mcp`` route and the session manager the app's lifespan must run."""
    server = build_mcp_server(GatewayAnswers())
    server.streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=True,
        max_request_body_size=int(settings.media.max_body_mb * 2**20),  # a document as base64 fits, as in chat
        transport_security=transport_security(settings),
    )
    return Route(PATH, StreamableHTTPASGIApp(server.session_manager)), server.session_manager


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """DNS-rebinding protection while the server listens on loopback only: a web page the user visits must not
    reach it under another name (a reverse proxy's name is added with --mcp-allowed-hosts). On any other address
    the names it is reached by are the operator's to choose (and API keys guard it), so the check is off."""
    if settings.host not in LOOPBACK_HOSTS:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    names = [f"[{host}]" if ":" in host else host for host in (*LOOPBACK_HOSTS, *settings.mcp_allowed_hosts)]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[pattern for name in names for pattern in (name, f"{name}:*")],
        allowed_origins=[
            *(
                pattern
                for name in names
                for scheme in ("http", "https")
                for pattern in (f"{scheme}://{name}", f"{scheme}://{name}:*")
            ),
            *settings.cors_origins,
        ],
    )
