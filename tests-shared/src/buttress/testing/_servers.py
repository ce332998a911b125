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

from buttress.core import check_count, check_text, safe_repr

from ._resp import RespClient, ping
from .exceptions import ServerError, TestingConfigurationError, TestingTypeError

__all__ = ["PostgresServer", "RedisClusterServer", "RedisServer", "free_port"]

_START_TIMEOUT = 30.0
MAX_CLUSTER_NODES: Final = 100
_STOP_MODES: Final = ("smart", "fast", "immediate")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
    """A private Redis Cluster of ``nodes`` masters on free ports, slots split evenly, for one session.

    Each node is a `RedisServer` started with ``--cluster-enabled yes``; the slots are assigned with
    ``CLUSTER ADDSLOTSRANGE`` and the nodes joined with ``CLUSTER MEET``, so only ``redis-server`` is
    needed. `url` points at the first node; cluster clients discover the rest.

    Args:
        nodes: How many masters, from 3 (Redis Cluster needs them for a real majority) to 100.
        binary: The ``redis-server`` executable; found on PATH when omitted.

    Raises:
        TestingTypeError: An argument has the wrong type.
        TestingConfigurationError: ``nodes`` is above 100, or ``binary`` holds NUL or a lone surrogate.
        ServerError: ``nodes`` is below 3, the executable is not there, or no free ports were found.
    """

    SLOTS = 16384

    def __init__(self, *, nodes: int = 3, binary: str | None = None) -> None:
        if isinstance(nodes, bool) or not isinstance(nodes, int):
            raise TestingTypeError("nodes", "an int", nodes)
        if nodes < 3:
            # A ServerError, as it always was (and a TestingError like every other bad argument).
            raise ServerError(f"invalid nodes={nodes}: a Redis Cluster needs at least 3 masters")
        check_count("nodes", nodes, maximum=MAX_CLUSTER_NODES, error=TestingConfigurationError)
        binary = _redis_binary(_optional_text("binary", binary))
        self.nodes: list[RedisServer] = []
        try:
            for _ in range(nodes):
                self.nodes.append(RedisServer(binary=binary, port=_cluster_port(), extra_args=_CLUSTER_ARGS))
        except BaseException:
            self.close()
            raise
        self.url = self.nodes[0].url

    def start(self) -> None:
        """Start every node, assign the slots, join the nodes and wait until the cluster is ``ok``."""
        for node in self.nodes:
            node.start()
        per_node = self.SLOTS // len(self.nodes)
        for index, node in enumerate(self.nodes):
            first = index * per_node
            last = self.SLOTS - 1 if index == len(self.nodes) - 1 else first + per_node - 1
            with RespClient(node.url) as client:
                client.execute("CLUSTER", "ADDSLOTSRANGE", first, last)
        with RespClient(self.nodes[0].url) as client:
            for node in self.nodes[1:]:
                client.execute("CLUSTER", "MEET", "127.0.0.1", node.port)
        _wait_for(self._not_ok, f"Redis Cluster on ports {[n.port for n in self.nodes]}")

    def close(self) -> None:
        """Kill every node and remove their directories."""
        for node in self.nodes:
            node.close()

    def __repr__(self) -> str:
        return f"RedisClusterServer(url={self.url!r}, nodes={len(self.nodes)})"

    def _not_ok(self) -> str | None:
        for node in self.nodes:
            with RespClient(node.url) as client:
                info = client.execute("CLUSTER", "INFO")
                text = info.decode() if isinstance(info, bytes) else str(info)
                if "cluster_state:ok" not in text or f"cluster_known_nodes:{len(self.nodes)}" not in text:
                    return f"node {node.port} not ready"
        return None


_CLUSTER_ARGS = (
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    "2000",
)


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


def _cluster_port() -> int:
    """A free port whose cluster-bus twin (port + 10000) is free too."""
    for _ in range(100):
        port = free_port()
        if port + 10000 < 65536 and not _port_open(port + 10000):
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
