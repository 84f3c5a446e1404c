#!/usr/bin/env python3
"""An upstream that streams SSE as fast as it can, to measure swapd's relay and nothing else.

Speaks just enough of llama-server (tools/server/README.md): `GET /health` 200, and
`POST /v1/chat/completions` answering `max_tokens` `data: {chunk}` events plus `data: [DONE]` in
chunked transfer encoding, one event per write. Takes llama-server's `--port` and ignores the rest.
"""

import argparse
import asyncio
import json

CHUNK = b'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x"}}]}\n\n'


def framed(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while head := await reader.readuntil(b"\r\n\r\n"):
            lines = head.decode().split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if method == "GET" and path == "/health":
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n"
                )
                writer.write(b'{"status":"ok"}')
                await writer.drain()
                continue
            n = int(json.loads(body or b"{}").get("max_tokens", 16))
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            )
            framed_chunk = framed(CHUNK)
            for _ in range(n):
                writer.write(framed_chunk)
                await writer.drain()
            writer.write(framed(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args, _ = parser.parse_known_args()
    server = await asyncio.start_server(handle, args.host, args.port)
    print(f"instant upstream listening on {args.host}:{args.port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
