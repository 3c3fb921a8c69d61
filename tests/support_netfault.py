"""Network partitions between broker processes on one machine, without root.

Every node's inter-node listeners (its controller listener, and a broker listener used
only for replication) are advertised at a port of this proxy instead of their own; the
clients' listener stays direct. The proxy forwards each accepted connection to the real
listener and knows which node opened it: it finds the connecting socket's inode in
/proc/net/tcp and the process holding that inode in /proc/<pid>/fd (processes we started,
so no privilege is needed).

`cut(node)` partitions a node from the others: every connection it opened or accepted
through the proxy stops moving bytes in both directions (the proxy stops reading, so the
senders' socket buffers fill, as on a network that drops packets: nothing is refused or
reset, requests simply get no answer). New connections are accepted and then stall the
same way. `heal(node)` lets the held bytes flow again, so streams resume intact, as TCP
retransmission would. Connections from processes the proxy does not know (test clients)
are never cut.

The proxy runs its own asyncio loop in a daemon thread; every operation is bounded.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_CHUNK = 64 * 1024


def _hex_port(port: int) -> str:
    return f"{port:04X}"


def socket_inode(local_port: int, remote_port: int) -> int | None:
    """The inode of the loopback TCP socket (127.0.0.1:local_port -> :remote_port)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            local, remote = fields[1], fields[2]
            if local.endswith(":" + _hex_port(local_port)) and remote.endswith(
                ":" + _hex_port(remote_port)
            ):
                return int(fields[9])
    return None


def pid_holding(inode: int, pids: list[int]) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None


@dataclass
class _Link:
    source: int | None  # node id that opened it (None: not a node)
    destination: int
    moving: asyncio.Event = field(default_factory=asyncio.Event)


class NetFault:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._pids: dict[int, int] = {}  # pid -> node id
        self._cut: set[int] = set()
        self._links: list[_Link] = []
        self._servers: list[asyncio.Server] = []
        self.counts = {"connections": 0, "stalled_connections": 0}

    # -- running on the proxy's loop --------------------------------------------------

    def _call(self, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
        async def run() -> Any:
            result = fn()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        future: Future[Any] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return future.result(timeout)

    # -- set-up -----------------------------------------------------------------------

    def listen(self, destination: int, target_port: int) -> int:
        """A proxy port in front of node `destination`'s listener at `target_port`."""

        async def start() -> int:
            server = await asyncio.start_server(
                lambda r, w: self._serve(r, w, destination, target_port), "127.0.0.1", 0
            )
            self._servers.append(server)
            return int(server.sockets[0].getsockname()[1])

        return int(self._call(start))

    def register(self, node_id: int, pid: int) -> None:
        """Connections opened by process `pid` come from node `node_id`."""
        self._call(lambda: self._pids.__setitem__(pid, node_id))

    def links(self) -> list[tuple[int | None, int, bool]]:
        """(source node, destination node, moving) of every proxied connection."""
        return list(
            self._call(lambda: [(k.source, k.destination, k.moving.is_set()) for k in self._links])
        )

    # -- faults -------------------------------------------------------------------------

    def cut(self, node_id: int) -> None:
        self._call(lambda: self._set_cut(node_id, True))

    def heal(self, node_id: int) -> None:
        self._call(lambda: self._set_cut(node_id, False))

    def _set_cut(self, node_id: int, cut: bool) -> None:
        if cut:
            self._cut.add(node_id)
        else:
            self._cut.discard(node_id)
        for link in self._links:
            self._update(link)

    def _update(self, link: _Link) -> None:
        if link.source in self._cut or link.destination in self._cut:
            link.moving.clear()
        else:
            link.moving.set()

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()
            for link in self._links:
                link.moving.set()

        try:
            self._call(stop, timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    # -- one proxied connection ---------------------------------------------------------

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        destination: int,
        target_port: int,
    ) -> None:
        peer_port = int(writer.get_extra_info("peername")[1])
        own_port = int(writer.get_extra_info("sockname")[1])
        inode = socket_inode(peer_port, own_port)
        pid = pid_holding(inode, list(self._pids)) if inode is not None else None
        link = _Link(self._pids.get(pid) if pid is not None else None, destination)
        self._update(link)
        self._links.append(link)
        self.counts["connections"] += 1
        try:
            if not link.moving.is_set():
                self.counts["stalled_connections"] += 1
            await link.moving.wait()
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            writer.close()
            self._links.remove(link)
            return
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, link), self._pump(up_reader, writer, link)
            )
        finally:
            for w in (writer, up_writer):
                w.close()
            self._links.remove(link)

    @staticmethod
    async def _pump(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        try:
            while True:
                await link.moving.wait()  # cut: read nothing, so the sender backs up
                data = await reader.read(_CHUNK)
                if not data:
                    break
                await link.moving.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
