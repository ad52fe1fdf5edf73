"""The MLLP listener: persistent connections, many messages per connection, frames split across
reads or several in one read, optional TLS; each message is answered in order, after Kafka.

Framing is done here on bytes (not with python-hl7's MLLP reader, which decodes with one fixed
character set before the message's own MSH-18 can be read).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from pathlib import Path

from ingest.hl7_intake import Hl7Intake
from ingest.hl7_wire import END_BLOCK, START_BLOCK, frame

log = logging.getLogger("ingest.mllp")
_TRAILER = END_BLOCK + b"\r"


class MllpServer:
    def __init__(self, intake: Hl7Intake, max_bytes: int, idle_seconds: float = 600.0) -> None:
        self.intake, self.max_bytes, self.idle_seconds = intake, max_bytes, idle_seconds
        self.server: asyncio.Server | None = None
        self.messages = 0

    async def start(
        self, host: str, port: int, tls: ssl.SSLContext | None = None
    ) -> tuple[str, int]:
        self.server = await asyncio.start_server(self._connection, host, port, ssl=tls)
        address = self.server.sockets[0].getsockname()
        log.info("MLLP listening on %s:%s%s", address[0], address[1], " (TLS)" if tls else "")
        return str(address[0]), int(address[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        buffer = bytearray()
        try:
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), self.idle_seconds)
                if not chunk:
                    return
                buffer += chunk
                if not await self._frames(buffer, writer):
                    return
        except (TimeoutError, ConnectionError, ssl.SSLError) as exc:
            log.info("MLLP connection from %s closed: %s", peer, type(exc).__name__)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _frames(self, buffer: bytearray, writer: asyncio.StreamWriter) -> bool:
        """Answer every complete frame in `buffer`; False when the connection must close."""
        while True:
            start = buffer.find(START_BLOCK)
            if start == -1:
                buffer.clear()  # bytes between frames are not a message
                return True
            end = buffer.find(_TRAILER, start)
            if end == -1:
                if len(buffer) - start > self.max_bytes:
                    log.warning("MLLP frame over %d bytes without an end: closing", self.max_bytes)
                    return False
                del buffer[:start]
                return True
            payload = bytes(buffer[start + 1 : end])
            del buffer[: end + len(_TRAILER)]
            outcome = await self.intake.handle(payload)
            self.messages += 1
            if outcome.ack is not None:
                writer.write(frame(outcome.ack))
                await writer.drain()


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
