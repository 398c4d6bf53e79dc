"""Hosts on a private network for tests: Linux network namespaces joined by a bridge.

Each host is a namespace of its own with one veth pair to a bridge in a "switch" namespace,
so processes on two hosts talk over a real network path (ARP, TCP retransmits, a link that
goes dark), never over loopback. Every namespace, bridge and link is made inside namespaces
this module creates; the root namespace's network is never touched, and deleting the
namespaces removes every link with them.

Cutting a host's link takes its port on the switch down: packets in either direction are
dropped silently, as when a cable is pulled, and TCP connections survive a cut they outlast.

The test process, outside every namespace, reaches a host through a forwarder that runs on
a client host and listens on a Unix socket (file-system sockets belong to no network
namespace): `python -m tests.support.netns SOCKET HOST PORT`.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

BRIDGE = "br0"
# The host side of every veth pair: each host has one network interface, as a small VM has.
HOST_INTERFACE = "eth0"
PREFIX_LENGTH = 24


class NamespacesRefused(RuntimeError):
    """`ip netns add` failed: this machine (or this user) may not make network namespaces."""


class NetworkCommandFailed(RuntimeError):
    """An `ip` command other than the first `ip netns add` failed."""


def ip(*args: str) -> None:
    """Run `ip ARGS`; its error output goes into the exception when it fails."""
    try:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)
    except subprocess.CalledProcessError as exc:
        raise NetworkCommandFailed(f"ip {' '.join(args)}: {exc.stderr.strip()}") from None


def namespaces() -> list[str]:
    """The names of the network namespaces that exist now."""
    listed = subprocess.run(
        ["ip", "netns", "list"], check=True, capture_output=True, text=True, timeout=30
    )
    return [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]


@dataclass(frozen=True)
class Host:
    """A namespace on the switch, with one address."""

    namespace: str
    address: str
    # Its veth end on the switch: the link a cut takes down.
    port: str

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run on this host (`ip netns exec` execs it: the pid is the program's)."""
        return ["ip", "netns", "exec", self.namespace, *argv]


@dataclass
class Network:
    """A switch namespace with a bridge, and hosts linked to it; `close()` deletes them all.

    `name` prefixes every namespace: make it unique per run (the pid), so that namespaces a
    killed run left behind never collide with a new run's.
    """

    name: str
    # The first three octets of the hosts' addresses (a /24 of the private 10/8 range). It
    # exists only inside this network's namespaces, so two runs side by side may share it.
    subnet: str = "10.231.0"
    hosts: dict[str, Host] = field(default_factory=dict)
    _made: list[str] = field(default_factory=list)

    @property
    def switch(self) -> str:
        return f"{self.name}-switch"

    def create(self) -> Network:
        """The switch: a namespace with a bridge. Raises NamespacesRefused if namespaces are."""
        try:
            subprocess.run(
                ["ip", "netns", "add", self.switch],
                check=True,
                capture_output=True,
                text=True,
                timeout=30,
            )
        except FileNotFoundError:
            raise NamespacesRefused("`ip` (iproute2) is not installed") from None
        except subprocess.CalledProcessError as exc:
            raise NamespacesRefused(f"ip netns add: {exc.stderr.strip()}") from None
        self._made.append(self.switch)
        ip("-n", self.switch, "link", "set", "lo", "up")
        # No spanning tree and no forwarding delay: a port forwards as soon as it is up.
        ip("-n", self.switch, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0",
           "forward_delay", "0")  # fmt: skip
        ip("-n", self.switch, "link", "set", BRIDGE, "up")
        return self

    def add_host(self, role: str, last_octet: int) -> Host:
        """A host named `role` at SUBNET.`last_octet`, its link up."""
        namespace = f"{self.name}-{role}"
        ip("netns", "add", namespace)
        self._made.append(namespace)
        port = f"to-{role}"[:15]  # an interface name has at most 15 characters
        # Both ends are made in the switch namespace and one moved at once: no end of the
        # pair ever exists in the root namespace.
        ip("-n", self.switch, "link", "add", port, "type", "veth",
           "peer", "name", HOST_INTERFACE, "netns", namespace)  # fmt: skip
        ip("-n", self.switch, "link", "set", port, "master", BRIDGE, "up")
        address = f"{self.subnet}.{last_octet}"
        ip("-n", namespace, "addr", "add", f"{address}/{PREFIX_LENGTH}", "dev", HOST_INTERFACE)
        ip("-n", namespace, "link", "set", HOST_INTERFACE, "up")
        ip("-n", namespace, "link", "set", "lo", "up")
        host = self.hosts[role] = Host(namespace, address, port)
        return host

    def cut(self, host: Host) -> None:
        """Take the host's port on the switch down: nothing reaches it, nothing leaves it."""
        ip("-n", self.switch, "link", "set", host.port, "down")

    def restore(self, host: Host) -> None:
        ip("-n", self.switch, "link", "set", host.port, "up")

    def close(self) -> None:
        """Delete every namespace made (their links go with them); raise if one is left.

        A process still running inside keeps its namespace alive, unnamed: stop the hosts'
        processes first.
        """
        for namespace in reversed(self._made):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
        left = set(self._made) & set(namespaces())
        self._made.clear()
        if left:
            raise NetworkCommandFailed(f"namespaces left behind: {sorted(left)}")


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def forward(socket_path: str, host: str, port: int) -> None:
    """Relay each connection to the Unix socket at `socket_path` to host:port over TCP."""

    async def connect(client: asyncio.StreamReader, answer: asyncio.StreamWriter) -> None:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            answer.close()
            return
        await asyncio.gather(_relay(client, writer), _relay(reader, answer))

    server = await asyncio.start_unix_server(connect, path=socket_path)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(forward(sys.argv[1], sys.argv[2], int(sys.argv[3])))
