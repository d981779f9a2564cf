"""The upstream client alone, A/B: `upstream.client = "native"` against `"aiohttp"` (issue 20).

One process sends N requests through one client (8 at a time, on uvloop) to a minimal keep-alive
server in a child process, and reads each answer to its end: a non-stream answer (one JSON body
with content-length) or a stream (chunked SSE, 12 events). Run it under callgrind twice with two
N and take the difference: instructions per request of the client's process, start-up removed,
independent of the machine's load:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python bench/upstream_client.py \
        native nonstream 2000           (bench/README.md, "Upstream client")

Without valgrind it prints the CPU time per request (load-sensitive, for a quick look).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import sys
import time

from torouter.upstreams.choice import ClientName, upstream_client

_BODY = b'{"id":"x","object":"chat.completion","choices":[],"usage":{"total_tokens":3}}'
_EVENT = b'data: {"id":"x","choices":[{"delta":{"content":"hi"}}]}\n\n'
_HEADERS = {
    "Authorization": "Bearer k",
    "Content-Type": "application/json",
    "Accept-Encoding": "identity",
    "x-request-id": "r",
}
_REQUEST = b'{"model":"m","messages":[{"role":"user","content":"hello"}]}'


def _answer(stream: bool) -> bytes:
    if not stream:
        return (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: u\r\n"
            b"content-length: %d\r\n\r\n" % len(_BODY) + _BODY
        )
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(_EVENT), _EVENT) for _ in range(12))
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )


def _serve(sock: socket.socket, stream: bool) -> None:
    answer = _answer(stream)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, sock=sock)
        await server.serve_forever()

    asyncio.run(main())


async def _run(name: ClientName, url: str, n: int) -> float:
    client = upstream_client(name)
    await client.start()
    sem = asyncio.Semaphore(8)

    async def one() -> None:
        async with sem:
            resp = await client.send(
                "POST", url, headers=_HEADERS, body=_REQUEST, connect_s=10, read_s=30, total_s=60
            )
            while await resp.read_chunk():
                pass
            resp.close()

    t0 = time.process_time()
    await asyncio.gather(*(one() for _ in range(n)))
    cpu = time.process_time() - t0
    await client.close()
    return cpu


def main() -> None:
    name, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    assert name in ("native", "aiohttp") and kind in ("nonstream", "stream")
    sock = socket.create_server(("127.0.0.1", 0))
    server = multiprocessing.get_context("fork").Process(
        target=_serve, args=(sock, kind == "stream"), daemon=True
    )
    server.start()
    import uvloop

    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/chat/completions"
    cpu = uvloop.run(_run(name, url, n))  # type: ignore[arg-type]
    server.kill()
    print(f"{name} {kind} n={n} cpu/req={cpu / n * 1e6:.1f} us")


if __name__ == "__main__":
    main()
