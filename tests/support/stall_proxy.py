"""A TCP proxy that can stall: bytes stop flowing both ways (connections stay open) until
`resume()`. Put in front of the Firestore emulator, it reproduces a database that hangs
mid-turn, which a stopped emulator (connection refused, fast UNAVAILABLE) does not.
`resume(drop=True)` ends the stall by closing the stalled connections, so nothing sent
during the stall ever arrives (the requests were lost; clients reconnect).

Runs its own event loop in a thread so that sync and async tests can drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class StallProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._flowing = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._generation = 0
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> StallProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stall(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def resume(self, drop: bool = False) -> None:
        def go() -> None:
            if drop:
                self._generation += 1
                for writer in self._writers:
                    writer.close()
                self._writers.clear()
            self._flowing.set()

        self._loop.call_soon_threadsafe(go)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers += [writer, up_writer]
        generation = self._generation
        await asyncio.gather(
            self._pipe(reader, up_writer, generation), self._pipe(up_reader, writer, generation)
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, generation: int
    ) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()  # a stall holds the bytes...
                if generation != self._generation:
                    return  # ...and `resume(drop=True)` loses them
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
