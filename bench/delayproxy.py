"""A TCP proxy that delays every byte by a fixed time in each direction: production's
round trip to Firestore in front of a local emulator.

`python -m bench.delayproxy --port P --target HOST:PORT --delay-ms D` forwards each chunk
`D` ms after it arrived, in order, in both directions (so a round trip costs 2·D).
Bandwidth is not limited; only latency is added, as a region's network would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    sender = asyncio.create_task(deliver())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((time.monotonic() + delay, data))
    except OSError:
        pass
    finally:
        queue.put_nowait((time.monotonic() + delay, b""))
        with contextlib.suppress(Exception):
            await sender


async def serve(port: int, target_host: str, target_port: int, delay: float) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            upstream_r, upstream_w = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(_pump(client_r, upstream_w, delay), _pump(upstream_r, client_w, delay))
        finally:
            for w in (client_w, upstream_w):
                with contextlib.suppress(Exception):
                    w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True, help="HOST:PORT")
    parser.add_argument("--delay-ms", type=float, required=True, help="added each way")
    args = parser.parse_args()
    host, port = args.target.rsplit(":", 1)
    asyncio.run(serve(args.port, host, int(port), args.delay_ms / 1000))


if __name__ == "__main__":
    main()
