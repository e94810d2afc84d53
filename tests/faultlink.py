"""A fault-injecting TCP link for tests and benchmarks: a real proxy between two loopback ports.

    with FaultLink(("127.0.0.1", hub_port), latency=0.3, bandwidth=250_000) as link:
        url = link.url            # give this to the client instead of the server's address
        link.cut_after(10_000)    # the next 10 kB through the link, then a reset
        link.down()               # connections refused (or held, or reset) until link.up()

What a satellite or a failing fibre does to a TCP stream, made from the standard library (asyncio
in a thread of its own):

- latency: each byte arrives `latency` seconds after it left, in each direction (0.3 s one way
  is a geostationary hop: 600 ms round trip, before any queueing);
- bandwidth: bytes per second per direction, shared by every connection (one link), with a
  bounded buffer so a fast sender is held back as a real queue would hold it;
- cuts: after N more bytes (either or both directions) every open connection is reset (RST) or
  closed (FIN) mid-stream, whatever is in flight is lost;
- down: new connections are refused (the listening socket is closed), held without an answer
  (a black hole, as a dead satellite modem behaves), or reset; open ones are cut;
- stalls (nothing moves for a while) and corruption (a flipped byte with some probability);
- middleboxes: every request answered by the link itself with a canned HTTP response (a captive
  portal's page, a reverse proxy's 502 when its upstream is gone), or the server's bytes rewritten
  on the way (`tamper`, e.g. a number in a JSON answer changed in place).

It counts the bytes it delivered per direction and the connections and cuts, so a benchmark can
report bytes on the wire. Deterministic when given a `seed`.

A more realistic optional suite can run this proxy as a forwarder between two network namespaces
with tbf (bandwidth) and nftables (random drops); see docs/sync.md.
"""
from __future__ import annotations

import asyncio
import collections
import random
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

UP, DOWN = "up", "down"  # client -> server, server -> client
SEGMENT = 4096  # bytes moved at a time: the granularity of pacing and of cuts
_CLOSE = object()


@dataclass
class LinkStats:
    bytes_up: int = 0  # delivered to the server
    bytes_down: int = 0  # delivered to the client
    connections: int = 0  # accepted and forwarded
    refused: int = 0  # refused, reset or held while down
    cuts: int = 0  # connections cut by a fault
    history: list[tuple[float, str]] = field(default_factory=list)  # (time, event) of faults


class _Direction:
    """One direction of the link: its bandwidth and when it is next free (shared by connections)."""

    def __init__(self) -> None:
        self.free_at = 0.0


class _Conn:
    def __init__(self, link: "FaultLink", client: asyncio.StreamWriter, server: asyncio.StreamWriter):
        self.link = link
        self.writers = {UP: server, DOWN: client}
        self.closed = False
        self.tasks: list[asyncio.Task] = []
        self.opened = time.monotonic()

    def abort(self, reset: bool = True) -> None:
        """End both sides now: RST (SO_LINGER 0) or FIN; data still queued is lost."""
        if self.closed:
            return
        self.closed = True
        for writer in self.writers.values():
            _close(writer, reset)
        for task in self.tasks:
            task.cancel()


def _close(writer: asyncio.StreamWriter, reset: bool) -> None:
    transport = writer.transport
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        transport.abort()
    else:
        transport.close()


class FaultLink:
    """A TCP proxy on 127.0.0.1 that forwards to `target` through simulated faults."""

    def __init__(self, target: tuple[str, int], latency: float = 0.0, bandwidth: float = 0.0,
                 host: str = "127.0.0.1", port: int = 0, buffer_bytes: int = 256 * 1024,
                 seed: int | None = None):
        self.target = target
        self.latency = latency  # seconds, one way
        self.bandwidth = bandwidth  # bytes per second per direction; 0 = unlimited
        self.host, self.port = host, port
        self.buffer_bytes = buffer_bytes
        self.rng = random.Random(seed)
        self.stats = LinkStats()
        self.corrupt_probability = 0.0  # per segment
        self._directions = {UP: _Direction(), DOWN: _Direction()}
        self._conns: set[_Conn] = set()
        self._down: str | None = None  # None, "refuse", "blackhole" or "reset"
        self._held: list[asyncio.StreamWriter] = []
        self._cut: tuple[int, str, bool] | None = None  # (bytes left, direction or "both", reset)
        self._cut_done = threading.Event()
        self._stall_until = 0.0
        self._answer: bytes | None = None
        self._tamper: dict[str, Callable[[bytes], bytes]] = {}
        self._rewrite_response: Callable[[bytes, bytes], tuple[bytes, bytes]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- life -----------------------------------------------------------------------------------

    def start(self) -> "FaultLink":
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._listen())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="faultlink", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fault link did not start listening")
        return self

    def close(self) -> None:
        if self._loop is None:
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> "FaultLink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- faults (callable from any thread) --------------------------------------------------------

    def set(self, latency: float | None = None, bandwidth: float | None = None,
            corrupt_probability: float | None = None) -> None:
        with self._lock:
            if latency is not None:
                self.latency = latency
            if bandwidth is not None:
                self.bandwidth = bandwidth
            if corrupt_probability is not None:
                self.corrupt_probability = corrupt_probability

    def cut_after(self, nbytes: int, direction: str = "both", reset: bool = True) -> None:
        """Cut every open connection once `nbytes` more bytes have been delivered (in `direction`:
        "up", "down" or "both"); the byte that crosses the budget is not delivered."""
        if direction not in (UP, DOWN, "both"):
            raise ValueError("direction is 'up', 'down' or 'both'")
        with self._lock:
            self._cut_done.clear()
            self._cut = (max(0, nbytes), direction, reset)

    def wait_cut(self, timeout: float) -> bool:
        """Wait until the armed cut has happened."""
        return self._cut_done.wait(timeout)

    @property
    def cut_pending(self) -> bool:
        return self._cut is not None

    def disarm(self) -> None:
        with self._lock:
            self._cut = None

    def cut_now(self, reset: bool = True) -> None:
        """Cut every open connection now."""
        self._call(self._cut_all(reset, "cut now"))

    def down(self, mode: str = "refuse") -> None:
        """Take the link down: "refuse" new connections (ECONNREFUSED), "blackhole" them (accepted,
        never answered, as a dead modem), or "reset" them; open connections are cut."""
        if mode not in ("refuse", "blackhole", "reset"):
            raise ValueError("mode is 'refuse', 'blackhole' or 'reset'")
        self._call(self._set_down(mode))

    def up(self) -> None:
        self._call(self._set_down(None))

    @property
    def is_down(self) -> bool:
        return self._down is not None

    def stall(self, seconds: float) -> None:
        """Hold every byte for `seconds` (connections stay open, nothing moves)."""
        with self._lock:
            self._stall_until = time.monotonic() + seconds
        self._note(f"stall {seconds:.2f} s")

    def answer(self, response: bytes | None) -> None:
        """Answer every new request with these raw HTTP response bytes (None: forward again), as a
        captive portal or a reverse proxy with its upstream down does; the server never sees it."""
        with self._lock:
            self._answer = response
        self._note("answering requests itself" if response else "forwarding requests")

    def tamper(self, rewrite: Callable[[bytes], bytes] | None, direction: str = DOWN) -> None:
        """Pass every segment in `direction` through `rewrite` (None: stop). Keep lengths unchanged
        when the bytes are inside an HTTP body with a Content-Length."""
        with self._lock:
            if rewrite is None:
                self._tamper.pop(direction, None)
            else:
                self._tamper[direction] = rewrite

    def rewrite_responses(self, rewrite: Callable[[bytes, bytes], tuple[bytes, bytes]] | None) -> None:
        """Pass each whole HTTP response from the server (head, body) through `rewrite`, as a meddling
        middlebox would; Content-Length is set to the new body's length. Responses must carry a
        Content-Length (the hub's do). None: stop."""
        with self._lock:
            self._rewrite_response = rewrite

    # --- inside the loop ------------------------------------------------------------------------

    def _call(self, coro) -> None:
        if self._loop is None:
            raise RuntimeError("the fault link is not running")
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def _note(self, event: str) -> None:
        self.stats.history.append((time.monotonic(), event))

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        await self._cut_all(True, None)
        for writer in self._held:
            _close(writer, True)
        self._held.clear()
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _set_down(self, mode: str | None) -> None:
        previous, self._down = self._down, mode
        if mode is None:
            for writer in self._held:
                _close(writer, True)
            self._held.clear()
            if self._server is None:
                await self._listen()
            self._note("up")
            return
        self._note(f"down ({mode})")
        if previous is None:
            await self._cut_all(True, None)
        if mode == "refuse" and self._server is not None:
            self._server.close()  # no listener: connect() gets ECONNREFUSED
            self._server = None
        elif mode != "refuse" and self._server is None:
            await self._listen()

    async def _cut_all(self, reset: bool, event: str | None) -> None:
        conns = list(self._conns)
        for conn in conns:
            conn.abort(reset)
        self._conns.clear()
        self.stats.cuts += len(conns)
        if event:
            self._note(f"{event}: {len(conns)} connection(s), {'RST' if reset else 'FIN'}")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down == "blackhole":
            self.stats.refused += 1
            self._held.append(writer)  # never answered; closed when the link comes back
            return
        if self._down is not None:
            self.stats.refused += 1
            _close(writer, True)
            return
        if self._answer is not None:
            await self._answer_itself(reader, writer, self._answer)
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _close(writer, True)
            return
        conn = _Conn(self, writer, server_writer)
        self._conns.add(conn)
        self.stats.connections += 1
        conn.tasks = [asyncio.ensure_future(self._pipe(conn, UP, reader)),
                      asyncio.ensure_future(self._pipe(conn, DOWN, server_reader))]
        await asyncio.gather(*conn.tasks, return_exceptions=True)
        self._conns.discard(conn)
        if not conn.closed:
            conn.closed = True
            for side in conn.writers.values():
                _close(side, False)

    async def _answer_itself(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                             response: bytes) -> None:
        """Read one request (head and Content-Length body), send `response`, close."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            if length:
                await asyncio.wait_for(reader.readexactly(length), 30)
            await asyncio.sleep(self.latency * 2)
            writer.write(response)
            await writer.drain()
            self.stats.bytes_down += len(response)
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
            pass
        _close(writer, False)

    async def _pipe(self, conn: _Conn, direction: str, reader: asyncio.StreamReader) -> None:
        """Read one direction eagerly into a bounded queue of (arrival time, bytes); a writer task
        delivers each segment when it is due. The queue's bound is the link's buffer."""
        queue: collections.deque = collections.deque()
        queued = 0
        more = asyncio.Event()
        room = asyncio.Event()
        room.set()

        async def deliver() -> None:
            nonlocal queued
            writer = conn.writers[direction]
            while True:
                while not queue:
                    more.clear()
                    await more.wait()
                due, data = queue[0]
                wait = max(due, self._stall_until) - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue  # a stall may have begun meanwhile
                queue.popleft()
                if data is _CLOSE:
                    try:
                        writer.write_eof()
                    except (OSError, RuntimeError):
                        pass
                    return
                queued -= len(data)
                if queued <= self.buffer_bytes:
                    room.set()
                data, cut = self._spend(direction, data)
                rewrite = self._tamper.get(direction)
                if data and rewrite is not None:
                    data = rewrite(data)
                if data:
                    if self.corrupt_probability and self.rng.random() < self.corrupt_probability:
                        index = self.rng.randrange(len(data))
                        data = data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1:]
                        self._note(f"corrupted a byte {direction}")
                    writer.write(data)
                    if direction == UP:
                        self.stats.bytes_up += len(data)
                    else:
                        self.stats.bytes_down += len(data)
                    try:
                        await writer.drain()
                    except (OSError, RuntimeError):
                        conn.abort()
                        return
                if cut is not None:
                    await self._cut_all(cut, f"cut after the budget ({direction})")
                    self._cut_done.set()
                    return

        task = asyncio.ensure_future(deliver())
        conn.tasks.append(task)
        responses = _Responses() if direction == DOWN else None
        try:
            while not conn.closed:
                try:
                    raw = await reader.read(64 * 1024)
                except (OSError, asyncio.IncompleteReadError):
                    raw = b""
                data = raw
                rewrite = self._rewrite_response
                if responses is not None and (rewrite is not None or responses.buffer):
                    data = responses.feed(raw, rewrite) if raw else responses.flush()
                    if raw and not data:
                        continue  # the rest of a response is still to come
                now = time.monotonic()
                with self._lock:
                    latency, bandwidth = self.latency, self.bandwidth
                pipe = self._directions[direction]
                if not raw and not data:
                    queue.append((max(now, pipe.free_at) + latency, _CLOSE))
                    more.set()
                    break
                # A new connection's first bytes leave after the TCP handshake: one round trip.
                earliest = conn.opened + 2 * latency if direction == UP else 0.0
                for start in range(0, len(data), SEGMENT):
                    segment = data[start:start + SEGMENT]
                    leaves = max(now, pipe.free_at, earliest)
                    if bandwidth:
                        leaves += len(segment) / bandwidth
                    pipe.free_at = leaves
                    queue.append((leaves + latency, segment))
                    queued += len(segment)
                if not raw:  # the end came with the last part of a response
                    queue.append((max(now, pipe.free_at) + latency, _CLOSE))
                    more.set()
                    break
                more.set()
                if queued > self.buffer_bytes:
                    room.clear()
                    await room.wait()
            await task
        except asyncio.CancelledError:
            task.cancel()
            raise

    def _spend(self, direction: str, data: bytes) -> tuple[bytes, bool | None]:
        """Take `data` out of the armed cut's budget: (what may still be delivered, reset flag if
        the cut fires now else None)."""
        with self._lock:
            if self._cut is None:
                return data, None
            left, which, reset = self._cut
            if which != "both" and which != direction:
                return data, None
            if len(data) < left:
                self._cut = (left - len(data), which, reset)
                return data, None
            self._cut = None
            return data[:left], reset


class _Responses:
    """Cuts a server's byte stream into whole HTTP responses (by Content-Length) so that a rewrite
    sees each response at once, however the server's writes were split."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes, rewrite) -> bytes:
        self.buffer += data
        out = b""
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head, rest = self.buffer[:end + 4], self.buffer[end + 4:]
            length = None
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip() or 0)
            if length is None:  # not something we can frame: pass it on untouched from here on
                out += self.buffer
                self.buffer = b""
                break
            if len(rest) < length:
                break
            body, self.buffer = rest[:length], rest[length:]
            if rewrite is not None:
                head, body = rewrite(head, body)
                head = re.sub(rb"(?im)^(content-length:\s*)\d+", lambda m: m.group(1) + str(len(body)).encode(), head)
            out += head + body
        return out

    def flush(self) -> bytes:
        out, self.buffer = self.buffer, b""
        return out
