"""Loopback feed farm for bench_farm.py: one asyncio HTTP/1.1 server on 127.0.0.1, in its own process (so its
CPU is not charged to the client), serving ``/feed/<i>.xml`` for i < feeds with keep-alive and gzip.

Feed ``i`` is of one kind, fixed by ``i % 20``: 1 in 20 slow (answers after a delay), 1 in 20 failing (500, or a
connection reset), 2 in 20 changed every round (a new item on top, a new ETag), the rest unchanged (304 to an
``If-None-Match`` carrying its ETag). A client without the ETag (feedparser's own fetch) always gets the body.

Run alone to poke at it: .venv/bin/python bench/farm_server.py [--feeds 2000] [--port 8765]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import multiprocessing
import os
import random
import re
import socket
import struct
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from multiprocessing.connection import Connection
from pathlib import Path

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
CORPUS = SHARED / "corpora" / "fastfeedparser-feeds" / "benchmark_data"
KINDS = ("unchanged", "slow", "fail", "changed")
_FIRST_ENTRY = re.compile(rb"<(item|entry)[\s>]")
_WORDS = tuple(f"{a}{b}{c}" for a in ("ka", "lo", "mi", "ne", "pu", "ri", "so", "tu") for b in "aeiou"
               for c in "lmnrst")


def kind_of(i: int) -> str:
    """The fixed kind of feed ``i``: 5 % slow, 5 % failing, 10 % changed, 80 % unchanged."""
    remainder = i % 20
    if remainder == 0:
        return "slow"
    if remainder == 1:
        return "fail"
    return "changed" if remainder in (2, 3) else "unchanged"


def etag(i: int, round_no: int) -> str:
    """The ETag feed ``i`` carries in round ``round_no`` (only changed feeds move with the round)."""
    return f'"f{i}-r{round_no if kind_of(i) == "changed" else 0}"'


def load_bodies(corpus: Path = CORPUS) -> list[bytes]:
    """The real feeds of the corpus, gunzipped (empty when the corpus is absent)."""
    return [gzip.decompress(p.read_bytes()) for p in sorted(corpus.glob("*.gz"))]


def generated_body(n: int, items: int = 20, words: int = 120) -> bytes:
    """A plain RSS 2.0 feed of made-up prose (``items`` entries of ``words`` words, each with the word
    "bulletin" for a watch to match), the fallback when the corpus is absent."""
    rng = random.Random(n)
    entries = "".join(_item(f"gen-{n}-{k}", rng, words=words) for k in range(items))
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Generated {n}</title>'
            f"<link>http://127.0.0.1/gen/{n}</link><description>farm</description>{entries}</channel></rss>\n"
            ).encode()


def _item(guid: str, rng: random.Random, atom: bool = False, words: int = 120) -> str:
    title = " ".join(rng.choice(_WORDS) for _ in range(8)).capitalize()
    text = "bulletin " + " ".join(rng.choice(_WORDS) for _ in range(words))
    if atom:
        return (f"<entry><title>{title}</title><id>urn:farm:{guid}</id><link href='http://127.0.0.1/{guid}'/>"
                f"<updated>{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}</updated>"
                f"<summary>{text}</summary></entry>")
    return (f"<item><title>{title}</title><guid isPermaLink='false'>{guid}</guid><link>http://127.0.0.1/{guid}</link>"
            f"<pubDate>{time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}</pubDate>"
            f"<description>{text}</description></item>")


def with_new_item(body: bytes, i: int, round_no: int) -> bytes:
    """``body`` with one new entry before its first one (a generated feed when it has none)."""
    found = _FIRST_ENTRY.search(body)
    if found is None:
        return generated_body(10_000 + i)
    rng = random.Random(f"{i}-{round_no}")
    entry = _item(f"farm-{i}-{round_no}", rng, atom=found.group(1) == b"entry").encode()
    return body[: found.start()] + entry + body[found.start():]


def content_type(body: bytes) -> str:
    """No charset parameter, so the XML declaration decides the encoding (as many real servers do)."""
    return "application/atom+xml" if b"<feed" in body[:2000] else "application/rss+xml"


@dataclass
class Farm:
    """What every path answers; ``set_round`` moves the changed feeds on (new item, new ETag)."""

    bodies: list[bytes]
    feeds: int
    slow: float
    round_no: int = 0
    gz: list[bytes] = field(default_factory=list)
    changed: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    requests: int = 0
    distinct: bool = False  # feed i serves body i (mod the bodies), else a random one
    served: dict[int, float] = field(default_factory=dict)  # changed feed -> wall time its new body was sent

    def __post_init__(self) -> None:
        self.gz = [gzip.compress(b, 5) for b in self.bodies]
        self.set_round(0)

    def body_index(self, i: int) -> int:
        return i % len(self.bodies) if self.distinct else random.Random(i).randrange(len(self.bodies))

    def set_round(self, round_no: int) -> None:
        self.round_no = round_no
        self.changed, self.served = {}, {}
        for i in range(self.feeds):
            if kind_of(i) == "changed":
                plain = with_new_item(self.bodies[self.body_index(i)], i, round_no)
                self.changed[i] = (plain, gzip.compress(plain, 5))

    def body(self, i: int, gzipped: bool) -> bytes:
        if i in self.changed:
            return self.changed[i][gzipped]
        return (self.gz if gzipped else self.bodies)[self.body_index(i)]


def _response(status: int, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _feed_number(path: str, feeds: int) -> int | None:
    if not (path.startswith("/feed/") and path.endswith(".xml")):
        return None
    number = path[6:-4]
    return int(number) if number.isdigit() and int(number) < feeds else None


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashing server would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def answer(farm: Farm, path: str, headers: dict[str, str], writer: asyncio.StreamWriter) -> bool:
    """Write the reply for one GET; False when the connection was reset instead."""
    farm.requests += 1
    i = _feed_number(path, farm.feeds)
    if i is None:
        writer.write(_response(404, {}, b"not found"))
        return True
    kind = kind_of(i)
    if kind == "slow":
        await asyncio.sleep(farm.slow)
    if kind == "fail":
        if (i // 20) % 2:
            _reset(writer)
            return False
        writer.write(_response(500, {"Content-Type": "text/plain"}, b"upstream error"))
        return True
    tag = etag(i, farm.round_no)
    if headers.get("if-none-match") == tag:
        writer.write(_response(304, {"ETag": tag}))
        return True
    gzipped = "gzip" in headers.get("accept-encoding", "")
    body = farm.body(i, gzipped)
    if i in farm.changed:
        farm.served.setdefault(i, time.time())
    extra = {"Content-Encoding": "gzip"} if gzipped else {}
    writer.write(_response(200, {"Content-Type": content_type(farm.bodies[farm.body_index(i)]), "ETag": tag,
                                 **extra}, body))
    return True


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1] if lines[0].count(" ") >= 2 else "/"
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if value:
            headers[name.strip().lower()] = value.strip()
    return path, headers


async def handle(farm: Farm, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One connection: requests in sequence (keep-alive) until the client closes or asks to."""
    try:
        while True:
            path, headers = _parse_head(await reader.readuntil(b"\r\n\r\n"))
            if not await answer(farm, path, headers, writer):
                return
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    writer.close()


def _on_message(farm: Farm, conn: Connection, stop: asyncio.Event) -> None:
    """Control from the parent: ("round", n) -> ("ok",); ("cpu",) -> (cpu s, requests); ("stop",) or a closed
    pipe (the parent is gone) -> stop."""
    try:
        message = conn.recv()
    except (EOFError, OSError):
        message = ("stop",)
    if message[0] == "round":
        farm.set_round(message[1])
        conn.send(("ok",))
    elif message[0] == "cpu":
        conn.send((time.process_time(), farm.requests))
    elif message[0] == "served":
        conn.send(dict(farm.served))
    else:
        stop.set()


async def _serve(farm: Farm, conn: Connection, port: int) -> None:
    server = await asyncio.start_server(lambda r, w: handle(farm, r, w), "127.0.0.1", port, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(conn.fileno(), _on_message, farm, conn, stop)
    conn.send(("port", server.sockets[0].getsockname()[1]))
    parent = os.getppid()
    async with server:
        while not stop.is_set() and os.getppid() == parent:  # the parent killed: stop (no EOF, we hold its end)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


def serve(conn: Connection, bodies: list[bytes], feeds: int, slow: float, port: int = 0,
          distinct: bool = False) -> None:
    """Child-process entry: build the farm, report the port, serve until told to stop."""
    asyncio.run(_serve(Farm(bodies, feeds, slow, distinct=distinct), conn, port))


@dataclass
class FarmProcess:
    """The parent's handle on a farm running in a forked process."""

    process: multiprocessing.process.BaseProcess
    conn: Connection
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_round(self, round_no: int) -> None:
        self.conn.send(("round", round_no))
        self.conn.recv()

    def cpu(self) -> tuple[float, int]:
        """(server process CPU seconds so far, requests answered so far)."""
        self.conn.send(("cpu",))
        return self.conn.recv()

    def served(self) -> dict[int, float]:
        """Changed feed -> wall time (time.time) its body of this round was first sent."""
        self.conn.send(("served",))
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send(("stop",))
        self.process.join(timeout=10)


def start(bodies: list[bytes], feeds: int, slow: float, port: int = 0, distinct: bool = False) -> FarmProcess:
    """Fork the farm (call before any thread or event loop exists) and wait until it listens."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=serve, args=(child, bodies, feeds, slow, port, distinct), daemon=True)
    process.start()
    if not parent.poll(120):
        process.kill()
        raise RuntimeError("the feed farm did not start")
    return FarmProcess(process, parent, parent.recv()[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--slow-ms", type=float, default=200.0)
    args = parser.parse_args(argv)
    bodies = load_bodies() or [generated_body(n) for n in range(50)]
    farm = start(bodies, args.feeds, args.slow_ms / 1000, args.port)
    print(f"serving {args.feeds} feeds at {farm.base}/feed/<i>.xml; Ctrl-C stops")
    try:
        farm.process.join()
    except KeyboardInterrupt:
        farm.stop()


if __name__ == "__main__":
    main()
