"""Where a server listens, as a user types it: `--listen HOST:PORT`, `--port`, RW_*_HOST/PORT.

Parsed by argparse (a usage error, exit 2) and tried before the server starts, so a mistake is
one line naming the address, never a traceback from `int()` or the socket layer.
"""

from __future__ import annotations

import argparse
import errno
import socket

from remission_watch.problems import CannotRun


def port_number(value: str) -> int:
    """argparse type of a TCP port: 0 (any free port) to 65535."""
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (0-65535)") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0-65535)")
    return port


def listen_address(value: str) -> tuple[str, int]:
    """argparse type of `HOST:PORT` (an IPv6 host in brackets: `[::1]:8085`)."""
    host, colon, port = value.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8085, or 0.0.0.0:8085 in a container)"
        )
    return host, port_number(port)


def check_can_listen(host: str, port: int, settings: str) -> None:
    """`CannotRun` (one line) unless a server could listen on host:port now; `settings` names
    the options and variables that chose the address."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        raise CannotRun(
            f"cannot listen on {shown}: {host!r} is not a known host name or address; "
            f"see {settings}"
        ) from None
    family, kind, proto, _, address = found[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            probe.bind(address)
        except OSError as exc:
            why = (exc.strerror or type(exc).__name__).lower()
            if exc.errno == errno.EADDRINUSE:
                why += ": stop what uses it, or choose another port"
            elif exc.errno == errno.EADDRNOTAVAIL:
                why += ": it is not an address of this machine"
            raise CannotRun(f"cannot listen on {shown}: {why}; see {settings}") from None
