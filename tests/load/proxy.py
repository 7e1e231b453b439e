"""A TCP fault proxy between the engine and PostgreSQL, in the spirit of toxiproxy's `timeout` toxic.

While healthy it forwards bytes both ways. `blackhole()` makes it stop forwarding and keep every
socket open: the peer neither answers nor hangs up, the case a refused connection does not cover
(a network partition, a dead host behind a load balancer). `heal()` forwards again, and closes the
connections that were black-holed, as a partition that ends usually does.
"""

from __future__ import annotations

import asyncio
import contextlib


class FaultProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = 0
        self._open = asyncio.Event()  # set: forwarding; clear: black-holed
        self._open.set()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def blackhole(self) -> None:
        self._open.clear()

    def heal(self) -> None:
        self._open.set()
        for writer in list(self._writers):
            writer.close()

    async def close(self) -> None:
        self.heal()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._writers.add(client_writer)
        try:
            await self._open.wait()  # a new connection during the partition: accepted, never answered
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            self._writers.discard(client_writer)
            return
        self._writers.add(server_writer)
        await asyncio.gather(
            self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer), return_exceptions=True
        )
        for writer in (client_writer, server_writer):
            self._writers.discard(writer)
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                await self._open.wait()
                if writer.is_closing():
                    return
                writer.write(data)
                await writer.drain()
        writer.close()
