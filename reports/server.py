"""Serving the dashboard: one `Dashboard` per browser session, bound to loopback unless told otherwise.

The Bokeh server checks the websocket's Origin header against `websocket_origin`; it is set to exactly the
address being served, so a page on another origin cannot drive a user's local dashboard.
"""
from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

log = logging.getLogger(__name__)

MAX_RUN_PARAM = 128     # run ids are short; anything longer is not one


def allowed_origins(address: str, port: int, extra: list[str] | None = None) -> list[str]:
    """Origins the websocket accepts: the served address (and `localhost` for a loopback address)."""
    origins = [f"{address}:{port}"]
    try:
        if ipaddress.ip_address(address).is_loopback:
            origins.append(f"localhost:{port}")
    except ValueError:          # a host name, not an address
        if address == "localhost":
            origins.append(f"127.0.0.1:{port}")
    return origins + list(extra or [])


def requested_run() -> str | None:
    """The `?run=` URL parameter, only if it looks like text a run id could be (checked against the store by
    the dashboard before use)."""
    import panel as pn

    values = pn.state.session_args.get("run") if pn.state.session_args else None
    if not values:
        return None
    raw = values[0]
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    except UnicodeDecodeError:
        return "(undecodable)"
    return text[:MAX_RUN_PARAM]


def session_app(db: str | Path, lock_timeout_s: float, refresh_s: float):
    """Build one session's page."""
    from harness.reports.dashboard import Dashboard

    app = Dashboard(str(db), lock_timeout_s=lock_timeout_s, run=requested_run())
    app.start_polling(refresh_s)
    return app.__panel__()


def serve(db: str | Path, port: int = 5006, address: str = "127.0.0.1", show: bool = True,
          lock_timeout_s: float = 2.0, refresh_s: float = 5.0, allow_origin: list[str] | None = None):
    """Serve until interrupted."""
    import panel as pn

    pn.extension("tabulator", notifications=False)
    origins = allowed_origins(address, port, allow_origin)
    log.info("serving %s on http://%s:%s (websocket origins %s)", db, address, port, origins)
    return pn.serve({"/": lambda: session_app(db, lock_timeout_s, refresh_s)}, port=port, address=address,
                    websocket_origin=origins, show=show, title="harness dashboard", start=True, verbose=False,
                    admin=False)
