"""Throwaway Redis and PostgreSQL servers started from binaries on PATH.

A test that needs to break a server (stop it mid-operation, kill it, restart it) gets its own from
here, so the shared one is never harmed. The session fixtures also use them when no server is
configured or listening.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from buttress.core import check_count, check_seconds, check_text, safe_repr

from ._resp import RespClient, RespError, ping
from .exceptions import ServerError, TestingConfigurationError, TestingTypeError

__all__ = ["PostgresServer", "RedisClusterServer", "RedisServer", "free_port", "open_connections"]

_START_TIMEOUT = 30.0
MAX_CLUSTER_NODES: Final = 100
_STOP_MODES: Final = ("smart", "fast", "immediate")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def open_connections(port: int) -> int:
    """How many TCP sockets this process holds open to ``port`` (Linux: read from ``/proc``).

    A client that says it closed a connection has closed it only once its socket is gone: a TLS
    shutdown still waiting for the server's reply, or a close scheduled on a loop that is about to
    end, leaves a socket for the garbage collector, whose ``ResourceWarning`` fails some later test.
    Assert ``open_connections(port) == 0`` right after the client's ``aclose()``.

    Raises:
        TestingTypeError: ``port`` is not an int.
        TestingConfigurationError: ``port`` is outside 1..65535.
        ServerError: This system has no ``/proc/net/tcp`` to read.
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise TestingTypeError("port", "an int", port)
    check_count("port", port, minimum=1, maximum=65535, error=TestingConfigurationError)
    if not Path("/proc/net/tcp").exists():
        raise ServerError("open_connections reads /proc/net/tcp, which this system lacks")
    ours: set[str] = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # an fd closed while listing
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                ours.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()  # sl, local, remote, state, ..., inode (the tenth)
                if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[9] in ours:
                    count += 1
    return count


def checked_text(parameter: str, value: object, *, allow_empty: bool = False, show_value: bool = True) -> str:
    """``value`` if it is a str a process, a path or a driver can carry (no NUL, no lone surrogate)."""
    return check_text(
        parameter,
        value,
        allow_empty=allow_empty,
        show_value=show_value,
        error=TestingConfigurationError,
        type_error=TestingTypeError,
    )


def _optional_text(parameter: str, value: object) -> str | None:
    return None if value is None else checked_text(parameter, value)


def _port(value: object) -> int:
    """The port asked for, or a free one for ``None``."""
    if value is None:
        return free_port()
    if isinstance(value, bool) or not isinstance(value, int):
        raise TestingTypeError("port", "an int or None", value)
    return check_count("port", value, minimum=1, maximum=65535, error=TestingConfigurationError)


def _arguments(parameter: str, value: object) -> tuple[str, ...]:
    """A sequence of command-line arguments (never a lone str, which would be split into letters)."""
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
        raise TestingTypeError(parameter, "a tuple of str", value)
    return tuple(
        checked_text(f"{parameter}[{index}]", item, allow_empty=True) for index, item in enumerate(value)
    )


def _wait_for(check: Callable[[], str | None], what: str, timeout: float = _START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    last: str | None = None
    while time.monotonic() < deadline:
        last = check()
        if last is None:
            return
        time.sleep(0.05)
    raise ServerError(f"{what} did not come up within {timeout:.0f}s: {last}")


class _Server:
    """A server started by `start` and removed by `close`; as a context manager, both."""

    def start(self) -> None:
        """Start the server."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the server and remove what it left behind."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class RedisServer(_Server):
    """A private ``redis-server`` on a free port, persisting nothing, for one test.

    ``stop()`` and ``start()`` keep the port, so clients configured with `url` reconnect after a
    restart. Use it as a context manager or call `close` when done.

    Args:
        binary: The ``redis-server`` executable: a path, or a name looked up on PATH; ``redis-server``
            on PATH when omitted.
        port: The port to listen on, from 1 to 65535; a free one when omitted.
        extra_args: More command-line arguments for ``redis-server``, each a str.

    Raises:
        TestingTypeError: An argument has the wrong type.
        TestingConfigurationError: ``port`` is out of range, or a str holds NUL or a lone surrogate.
        ServerError: The executable is not there.

    Examples:
        >>> with RedisServer() as server:  # doctest: +SKIP
        ...     server.stop()  # the client sees the server vanish
        ...     server.start()  # and come back on the same port
    """

    def __init__(
        self, *, binary: str | None = None, port: int | None = None, extra_args: tuple[str, ...] = ()
    ) -> None:
        asked = _optional_text("binary", binary)
        self._extra_args = _arguments("extra_args", extra_args)
        self.port = _port(port)
        self.binary = _redis_binary(asked)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = Path(tempfile.mkdtemp(prefix="buttress-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it answers PING.

        Raises:
            ServerError: The executable could not be run, exited, or did not answer in 30 s.
        """
        if self.running:
            return
        try:
            self._process = self._spawn()
        except OSError as exc:
            raise ServerError(f"redis-server could not be run: {exc}") from exc
        _wait_for(lambda: self._exited() or ping(self.url), f"redis-server on port {self.port}")

    def _spawn(self) -> subprocess.Popen[bytes]:
        with (self._dir / "redis.log").open("ab") as log:
            return subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self._dir),
                    "--protected-mode",
                    "no",
                    *self._extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM) and wait for it to exit."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        self._signal(signal.SIGKILL)

    def restart(self) -> None:
        """Stop the server and start it again on the same port."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Kill the server if running and remove its directory."""
        self.kill()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __repr__(self) -> str:
        return f"RedisServer(url={self.url!r}, running={self.running})"

    def _exited(self) -> str | None:
        if self._process is not None and self._process.poll() is not None:
            log = (self._dir / "redis.log").read_text(errors="replace")[-2000:]
            raise ServerError(f"redis-server exited with {self._process.returncode}: {log}")
        return None

    def _signal(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=_START_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisClusterServer(_Server):
    """A private Redis Cluster of ``nodes`` primaries on free ports, slots split evenly, for one session.

    Each node is a `RedisServer` started with ``--cluster-enabled yes``; the slots are assigned with
    ``CLUSTER ADDSLOTSRANGE``, the nodes joined with ``CLUSTER MEET`` and each replica attached with
    ``CLUSTER REPLICATE``, so only ``redis-server`` is needed. `url` points at the first node;
    cluster clients discover the rest.

    With ``replicas``, each primary gets that many replicas, so a primary can fail for real: `kill` the
    one `primary_for` a key returns, and `wait_for_failover` until a replica has taken its slots. A
    node that misses ``node_timeout`` seconds of heartbeats is failed, so a low value makes a failover
    take a second or two (keep the default, 2 s, for a cluster that only needs to stay up).

    Args:
        nodes: How many primaries, from 3 (Redis Cluster needs them for a real majority) to 100.
        binary: The ``redis-server`` executable; found on PATH when omitted.
        replicas: How many replicas each primary gets, from 0 (the default) to 5; every node, primaries
            and replicas, is counted in the 100.
        node_timeout: Seconds without an answer before a node is considered failed, from 0.1 to 60.

    Attributes:
        nodes: Every node: the ``nodes`` primaries first, then their replicas in order (the replicas
            of the first primary, then of the second...). Roles change after a failover:
            `primary_for` asks the cluster.

    Raises:
        TestingTypeError: An argument has the wrong type.
        TestingConfigurationError: ``nodes`` is above 100, ``replicas`` out of range, ``node_timeout``
            not a number of seconds from 0.1 to 60, or ``binary`` holds NUL or a lone surrogate.
        ServerError: ``nodes`` is below 3, the executable is not there, or no free ports were found.

    Examples:
        >>> with RedisClusterServer(replicas=1, node_timeout=0.5) as cluster:  # doctest: +SKIP
        ...     victim = cluster.primary_for("order:17")
        ...     victim.kill()
        ...     cluster.wait_for_failover()  # its replica now serves the key's slot
    """

    SLOTS = 16384

    def __init__(
        self, *, nodes: int = 3, binary: str | None = None, replicas: int = 0, node_timeout: float = 2.0
    ) -> None:
        if isinstance(nodes, bool) or not isinstance(nodes, int):
            raise TestingTypeError("nodes", "an int", nodes)
        if nodes < 3:
            # A ServerError, as it always was (and a TestingError like every other bad argument).
            raise ServerError(f"invalid nodes={nodes}: a Redis Cluster needs at least 3 masters")
        check_count("nodes", nodes, maximum=MAX_CLUSTER_NODES, error=TestingConfigurationError)
        if isinstance(replicas, bool) or not isinstance(replicas, int):
            raise TestingTypeError("replicas", "an int", replicas)
        check_count("replicas", replicas, minimum=0, maximum=MAX_REPLICAS, error=TestingConfigurationError)
        if nodes * (1 + replicas) > MAX_CLUSTER_NODES:
            raise TestingConfigurationError(
                "replicas",
                replicas,
                f"gives {nodes * (1 + replicas)} nodes in all, above {MAX_CLUSTER_NODES}",
            )
        timeout = check_seconds("node_timeout", node_timeout, maximum=60.0, error=TestingConfigurationError)
        if timeout < MIN_NODE_TIMEOUT:
            raise TestingConfigurationError(
                "node_timeout", node_timeout, f"must be at least {MIN_NODE_TIMEOUT} s"
            )
        binary = _redis_binary(_optional_text("binary", binary))
        arguments = (*_CLUSTER_ARGS, "--cluster-node-timeout", str(round(timeout * 1000)))
        self.primaries = nodes
        self.replicas = replicas
        self.nodes: list[RedisServer] = []
        taken: set[int] = set()
        try:
            for _ in range(nodes * (1 + replicas)):
                self.nodes.append(RedisServer(binary=binary, port=_cluster_port(taken), extra_args=arguments))
        except BaseException:
            self.close()
            raise
        self.url = self.nodes[0].url

    @property
    def urls(self) -> list[str]:
        """The URLs of the nodes that are running (a client can start from any of them)."""
        return [node.url for node in self.nodes if node.running]

    def start(self) -> None:
        """Start every node, assign the slots, join the nodes, attach the replicas; wait until ``ok``."""
        for node in self.nodes:
            node.start()
        primaries = self.nodes[: self.primaries]
        per_node = self.SLOTS // len(primaries)
        for index, node in enumerate(primaries):
            first = index * per_node
            last = self.SLOTS - 1 if index == len(primaries) - 1 else first + per_node - 1
            with RespClient(node.url) as client:
                client.execute("CLUSTER", "ADDSLOTSRANGE", first, last)
        with RespClient(self.nodes[0].url) as client:
            for node in self.nodes[1:]:
                client.execute("CLUSTER", "MEET", "127.0.0.1", node.port)
        ports = [n.port for n in self.nodes]
        if self.replicas:
            _wait_for(self._not_known, f"Redis Cluster on ports {ports} (gossip)")
            for index, node in enumerate(self.nodes[self.primaries :]):
                with RespClient(primaries[index // self.replicas].url) as client:
                    primary_id = _text(client.execute("CLUSTER", "MYID"))
                with RespClient(node.url) as client:
                    client.execute("CLUSTER", "REPLICATE", primary_id)
        _wait_for(self._not_ok, f"Redis Cluster on ports {ports}")

    def primary_for(self, key: str) -> RedisServer:
        """The node serving ``key``'s slot now (after a failover, the replica that took over).

        Raises:
            TestingTypeError: ``key`` is not a str.
            ServerError: No running node answers, or none serves the slot.
        """
        if not isinstance(key, str):
            raise TestingTypeError("key", "a str", key)
        with RespClient(self._live().url) as client:
            slot = client.execute("CLUSTER", "KEYSLOT", key)
            table = _text(client.execute("CLUSTER", "NODES"))
        for port, slots in _primaries(table):
            if any(first <= int(str(slot)) <= last for first, last in slots):
                return self._node(port)
        raise ServerError(f"no primary serves the slot of {safe_repr(key)}")

    def replicas_of(self, primary: RedisServer) -> list[RedisServer]:
        """The nodes replicating ``primary`` now, as the cluster reports them.

        Raises:
            ServerError: No running node answers.
        """
        with RespClient(self._live().url) as client:
            table = _text(client.execute("CLUSTER", "NODES"))
        lines = [line.split() for line in table.splitlines() if line.strip()]
        ids = {_port_of(fields[1]): fields[0] for fields in lines}
        wanted = ids.get(primary.port)
        return [self._node(_port_of(f[1])) for f in lines if wanted is not None and f[3] == wanted]

    def wait_for_replicas(self, timeout: float = 30.0) -> None:
        """Wait until every running replica has applied every write its primary had taken when called.

        A write a primary acknowledged is on its replicas only later (replication is asynchronous):
        after this, everything written before the call would survive the primary's death.

        Raises:
            ServerError: A replica did not catch up within ``timeout`` seconds.
        """
        targets = {}
        for node in self.nodes:
            if node.running:
                info = _fields(self._info(node, "INFO", "replication"))
                if info.get("role") == "master":
                    targets[node.port] = int(info.get("master_repl_offset", "0"))

        def behind() -> str | None:
            for node in self.nodes:
                if not node.running:
                    continue
                info = _fields(self._info(node, "INFO", "replication"))
                if info.get("role") != "slave":
                    continue
                wanted = targets.get(int(info.get("master_port", "0")))
                if wanted is not None and int(info.get("slave_repl_offset", "-1")) < wanted:
                    return f"replica {node.port} is behind its primary"
            return None

        _wait_for(behind, "Redis Cluster replication", timeout)

    def wait_for_failover(self, timeout: float = 30.0) -> None:
        """Wait until every running node says ``cluster_state:ok`` and running primaries hold every slot.

        Raises:
            ServerError: The cluster did not recover within ``timeout`` seconds (say, no replica).
        """
        _wait_for(self._not_recovered, "Redis Cluster failover", timeout)

    def close(self) -> None:
        """Kill every node and remove their directories."""
        for node in self.nodes:
            node.close()

    def __repr__(self) -> str:
        return f"RedisClusterServer(url={self.url!r}, nodes={self.primaries}, replicas={self.replicas})"

    def _live(self) -> RedisServer:
        for node in self.nodes:
            if node.running:
                return node
        raise ServerError("no node of the Redis Cluster is running")

    def _node(self, port: int) -> RedisServer:
        for node in self.nodes:
            if node.port == port:
                return node
        raise ServerError(f"port {port} is no node of this Redis Cluster")

    def _info(self, node: RedisServer, *command: str) -> str:
        with RespClient(node.url) as client:
            return _text(client.execute(*command))

    def _not_known(self) -> str | None:
        for node in self.nodes:
            if f"cluster_known_nodes:{len(self.nodes)}" not in self._info(node, "CLUSTER", "INFO"):
                return f"node {node.port} does not know every node yet"
        return None

    def _not_ok(self) -> str | None:
        for node in self.nodes:
            text = self._info(node, "CLUSTER", "INFO")
            if "cluster_state:ok" not in text or f"cluster_known_nodes:{len(self.nodes)}" not in text:
                return f"node {node.port} not ready"
        for node in self.nodes[self.primaries :]:
            if "master_link_status:up" not in self._info(node, "INFO", "replication"):
                return f"replica {node.port} not in sync"
        return None

    def _not_recovered(self) -> str | None:
        try:
            for node in self.nodes:
                if node.running and "cluster_state:ok" not in self._info(node, "CLUSTER", "INFO"):
                    return f"node {node.port} not ok"
            served = 0
            for port, slots in _primaries(self._info(self._live(), "CLUSTER", "NODES")):
                if self._node(port).running:
                    served += sum(last - first + 1 for first, last in slots)
        except (OSError, RespError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None if served == self.SLOTS else f"running primaries serve {served} of {self.SLOTS} slots"


MAX_REPLICAS: Final = 5
MIN_NODE_TIMEOUT: Final = 0.1
# A replica syncs at once (the default waits 5 s for more replicas to share one transfer).
_CLUSTER_ARGS = (
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--repl-diskless-sync-delay",
    "0",
)


def _text(reply: object) -> str:
    if isinstance(reply, bytes):
        return reply.decode()
    return str(reply)


def _fields(info: str) -> dict[str, str]:
    """The ``name:value`` lines of an ``INFO`` reply."""
    return dict(line.split(":", 1) for line in info.splitlines() if ":" in line and not line.startswith("#"))


def _port_of(address: str) -> int:
    """The client port of a ``CLUSTER NODES`` address (``127.0.0.1:7000@17000``)."""
    return int(address.split("@", 1)[0].rsplit(":", 1)[1])


def _primaries(table: str) -> list[tuple[int, list[tuple[int, int]]]]:
    """The primaries a ``CLUSTER NODES`` reply lists as healthy, with the slot ranges each serves."""
    found = []
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        flags = fields[2].split(",")
        if "master" not in flags or "fail" in flags or "fail?" in flags:
            continue
        ranges = []
        for item in fields[8:]:
            if item.startswith("["):  # a slot being migrated
                continue
            first, _, last = item.partition("-")
            ranges.append((int(first), int(last or first)))
        found.append((_port_of(fields[1]), ranges))
    return found


def _redis_binary(asked: str | None) -> str:
    if asked is None:
        found = shutil.which("redis-server")
        if found is None:
            raise ServerError("redis-server is not on PATH (install it, e.g. `apt-get install redis-server`)")
        return found
    found = shutil.which(asked)
    if found is None:
        raise ServerError(f"binary={safe_repr(asked)} is not an executable file, nor the name of one on PATH")
    return found


def _cluster_port(taken: set[int]) -> int:
    """A free port whose cluster-bus twin (port + 10000) is free too, neither of them in ``taken``.

    ``taken`` holds the other nodes' ports and twins, and the new pair joins it: nothing holds a port
    `free_port` found, so the system can hand the same one out twice, and two nodes on one port never
    form a cluster.
    """
    for _ in range(100):
        port = free_port()
        bus = port + 10000
        if bus < 65536 and port not in taken and bus not in taken and not _port_open(bus):
            taken.update((port, bus))
            return port
    raise ServerError("found no free port pair for a cluster node")


class PostgresServer(_Server):
    """A private PostgreSQL cluster (``initdb`` + ``pg_ctl``) in a temporary directory, for one test.

    Durability is off (``fsync=off``) since the data is thrown away. When run as root, the server runs
    as the ``postgres`` system user, since PostgreSQL refuses to run as root. Connect with `dsn`
    (user ``postgres``, trust authentication, database ``postgres``).

    Args:
        bindir: The directory holding ``initdb`` and ``pg_ctl``; found on PATH when omitted.
        port: The port to listen on, from 1 to 65535; a free one when omitted.

    Raises:
        TestingTypeError: An argument has the wrong type.
        TestingConfigurationError: ``port`` is out of range, or ``bindir`` holds NUL or a lone
            surrogate.
        ServerError: ``initdb`` or ``pg_ctl`` is not there, or there is no ``postgres`` user to run
            them as when running as root.
    """

    def __init__(self, *, bindir: str | None = None, port: int | None = None) -> None:
        bindir = _optional_text("bindir", bindir)
        self.port = _port(port)
        initdb = shutil.which("initdb", path=bindir)
        pg_ctl = shutil.which("pg_ctl", path=bindir)
        if initdb is None or pg_ctl is None:
            where = "on PATH" if bindir is None else f"in bindir={safe_repr(bindir)}"
            raise ServerError(f"initdb and pg_ctl are not {where} (install PostgreSQL's server binaries)")
        self._initdb = initdb
        self._pg_ctl = pg_ctl
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._user = _postgres_user()
        self._dir = Path(tempfile.mkdtemp(prefix="buttress-pg-"))
        self._data = self._dir / "data"
        if self._user is not None:
            os.chown(self._dir, self._user.pw_uid, self._user.pw_gid)
        self._initialised = False

    @property
    def running(self) -> bool:
        """Whether the server answers on its port."""
        return _port_open(self.port)

    def start(self) -> None:
        """Initialise the cluster on first use, start the server and wait until it accepts connections.

        Raises:
            ServerError: ``initdb`` or ``pg_ctl`` could not be run, or failed (the message has its log).
        """
        if not self._initialised:
            self._run(
                self._initdb,
                "-D",
                str(self._data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            )
            self._initialised = True
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._dir} -c fsync=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._run(
            self._pg_ctl,
            "-D",
            str(self._data),
            "-o",
            options,
            "-l",
            str(self._dir / "pg.log"),
            "-w",
            "-t",
            str(int(_START_TIMEOUT)),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast`` disconnects clients; ``immediate`` is a crash without cleanup).

        Raises:
            TestingTypeError: ``mode`` is not a str.
            TestingConfigurationError: ``mode`` is not ``smart``, ``fast`` or ``immediate``.
            ServerError: ``pg_ctl`` failed.
        """
        if not isinstance(mode, str):
            raise TestingTypeError("mode", "a str", mode)
        if mode not in _STOP_MODES:
            raise TestingConfigurationError("mode", mode, f"must be one of {', '.join(_STOP_MODES)}")
        if self._initialised and self.running:
            self._run(self._pg_ctl, "-D", str(self._data), "-m", mode, "-w", "stop")

    def kill(self) -> None:
        """Stop the server as a crash would (``pg_ctl stop -m immediate``)."""
        self.stop("immediate")

    def restart(self) -> None:
        """Stop the server and start it again on the same port, keeping its data."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server if running and remove its directory."""
        with contextlib.suppress(ServerError):
            self.stop("immediate")
        shutil.rmtree(self._dir, ignore_errors=True)

    def __repr__(self) -> str:
        return f"PostgresServer(dsn={self.dsn!r})"

    def _run(self, *args: str) -> None:
        user = self._user.pw_name if self._user is not None else None
        try:
            result = subprocess.run(  # noqa: S603 - fixed argument list, no shell
                args, user=user, capture_output=True, text=True, errors="replace", check=False, cwd=self._dir
            )
        except OSError as exc:
            raise ServerError(f"{Path(args[0]).name} could not be run: {exc}") from exc
        if result.returncode != 0:
            log = self._dir / "pg.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ServerError(
                f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr.strip()} {tail}".strip()
            )


def _postgres_user() -> pwd.struct_passwd | None:
    """The account to run PostgreSQL as: ``postgres`` when we are root, else ourselves (``None``)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise ServerError(
            "PostgreSQL refuses to run as root and there is no 'postgres' user to run it as"
        ) from None


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
