"""Checking the ops HTTP listen address before anything slow starts.

``mmbot run`` calls :func:`check_listen` right after reading its settings, before the
emulator loads recordings or instrument metadata is fetched: a malformed address, a
host that does not resolve or is not local to this machine, a port out of range or
already in use is one :class:`~bot.errors.InputError` (exit 2) naming where the address
came from (``--http`` or ``http.listen``). The check binds and closes a socket the way
the server will (``SO_REUSEADDR`` on POSIX, as aiohttp does); the server's own bind is
still checked when it starts (a port taken in between fails the same way).
"""

from __future__ import annotations

import errno
import os
import socket

from bot.errors import InputError

_MESSAGES = {
    errno.EADDRINUSE: "address already in use (another mmbot or program listens there); "
    "pick another port, 0 for any free port, or 'off'",
    errno.EADDRNOTAVAIL: "address not available on this machine",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
}


def parse_listen(text: str, where: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); InputError naming ``where`` otherwise."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit():
        raise InputError(f"{where}: expected HOST:PORT (e.g. 127.0.0.1:8080) or 'off', got {text!r}")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise InputError(f"{where}: port {port} is out of range (0-65535; 0 = any free port)")
    return host, port


def describe_bind_error(exc: OSError) -> str:
    return _MESSAGES.get(exc.errno or 0, exc.strerror or str(exc))


def check_listen(host: str, port: int, where: str) -> None:
    """Raise InputError unless ``host:port`` can be bound now (see the module doc)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InputError(f"{where}: cannot resolve host {host!r}: {exc.strerror}") from None
    for family, kind, proto, _name, address in infos:  # the server binds every one of them
        try:
            with socket.socket(family, kind, proto) as sock:
                if os.name == "posix":
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
        except OSError as exc:
            raise InputError(f"{where}: cannot listen on {host}:{port}: {describe_bind_error(exc)}") from None
