"""The web server the web role and the embedded run listen with: waitress, with limits that keep slow and hostile
clients from taking it down.

Waitress holds at most `connection_limit` sockets; 520 idle sockets from one address (slowloris) once left none for
anyone else. So besides the limits of `options` (threads, sockets, idle time, header and body sizes), one address may
hold at most MAX_CONNECTIONS_PER_ADDRESS sockets: past that, a new one is closed at once, and every other client still
connects. Behind a reverse proxy every client has the proxy's address, so there (TRUSTED_PROXIES set) the proxy must
limit per client instead (docs/internals.md, "The web server").
"""

from __future__ import annotations

import logging
import socket
from collections import Counter
from typing import Any, Protocol

from flask import Flask
from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer

from common.config.settings import Settings
from common.rules.loose_types import JsonObject

log = logging.getLogger("web")
THREADS = 32  # requests served at once; answers that wait (?wait=, Prefer: wait, queries) take at most WAIT_SLOTS of them
CONNECTION_LIMIT = 500  # open sockets (waitress: 100): 120 slow senders must not lock clients out; under Windows' 512 for select()
CHANNEL_TIMEOUT = 30  # seconds a socket may stay silent mid-request or idle between requests (waitress: 120); a wait is not silence
CLEANUP_INTERVAL = 10  # seconds between waitress's sweeps for sockets past CHANNEL_TIMEOUT (waitress: 30)
MAX_HEADER_BYTES = 64 * 1024  # request line and headers (waitress: 256 KB); signed requests need about 1 KB
MAX_CONNECTIONS_PER_ADDRESS = 200  # sockets one client address may hold open (a strategy uses a few); the other 300 stay for others


def options(settings: Settings) -> JsonObject:
    """Waitress's limits, for `python -m api` and the embedded run alike."""
    return {
        "threads": THREADS,
        "connection_limit": CONNECTION_LIMIT,
        "channel_timeout": CHANNEL_TIMEOUT,
        "cleanup_interval": CLEANUP_INTERVAL,
        "max_request_header_size": MAX_HEADER_BYTES,
        # waitress refuses a body of this size or more with 413 before reading it (chunked bodies too): the limit is inclusive in Flask
        "max_request_body_size": settings.MAX_BODY_BYTES + 1,
        "ident": "qmt-router",
        # with TRUSTED_PROXIES, waitress must pass X-Forwarded-For on for ProxyFix to read it (it drops it by default)
        "clear_untrusted_proxy_headers": not settings.TRUSTED_PROXIES,
    }


class PerAddressChannel(HTTPChannel):
    """A connection that counts against its address's share of sockets, and is closed at once past it."""

    open_by_address: Counter[str] = Counter()  # the server's asyncore loop is one thread: no lock needed
    limit = MAX_CONNECTIONS_PER_ADDRESS

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:  # Any: waitress is untyped; `map` is its name
        super().__init__(server, sock, addr, adj, map=map)
        self._address = str(addr[0]) if isinstance(addr, tuple) and addr else str(addr)
        self.open_by_address[self._address] += 1
        self._counted = True
        if self.open_by_address[self._address] > self.limit:
            if self.open_by_address[self._address] == self.limit + 1:
                log.warning("%s holds %d connections, the most one address may: refusing more", self._address, self.limit)
            self.will_close = True
            self.close()

    def del_channel(self, map: Any = None) -> None:  # Any: waitress is untyped; `map` is its name
        if getattr(self, "_counted", False):
            self._counted = False
            self.open_by_address[self._address] -= 1
            if self.open_by_address[self._address] <= 0:
                del self.open_by_address[self._address]
        super().del_channel(map)


def browser_urls(host: str, port: int, path: str = "/") -> list[str]:
    """The addresses a browser can open for a server bound to `host`: bound to every address (0.0.0.0, ::, empty),
    127.0.0.1 and this machine's LAN addresses (from its host name; nothing is sent anywhere), never 0.0.0.0 itself."""
    if host not in ("0.0.0.0", "::", ""):
        return [f"http://{host}:{port}{path}"]
    found = ["127.0.0.1"]
    try:
        for *_, address in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            ip = str(address[0])
            if not ip.startswith("127.") and ip not in found:
                found.append(ip)
    except OSError:
        pass
    return [f"http://{ip}:{port}{path}" for ip in found]


class WebServer(Protocol):
    """What the roles use of waitress's server (waitress is untyped)."""

    def run(self) -> None: ...  # serve until closed
    def close(self) -> None: ...


def create(app: Flask, settings: Settings) -> WebServer:
    """The server for `app` at FLASK_HOST:FLASK_PORT (OSError when the address is taken); not yet running."""
    server: WebServer = create_server(app, host=settings.FLASK_HOST, port=settings.FLASK_PORT, **options(settings))
    if not settings.TRUSTED_PROXIES:  # behind a proxy every client shares its address: the proxy limits per client
        listeners = (
            [server] if isinstance(server, BaseWSGIServer) else [s for s in getattr(server, "map", {}).values() if isinstance(s, BaseWSGIServer)]
        )
        for listener in listeners:
            listener.channel_class = PerAddressChannel
    return server
