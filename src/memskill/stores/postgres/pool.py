"""Connections for `PostgresStore`: the driver import and a small thread-safe pool.

psycopg and pgvector are an optional extra (`pip install 'memskill[postgres]'`), imported only when a
PostgreSQL store is opened. Pooled connections are in autocommit mode, never prepare statements (every
query is planned with its actual parameters, and a pgbouncer in transaction mode works), and know the
`vector` type, which pgvector's adapter maps to float32 numpy arrays.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from memskill.errors import InternalError, InvalidRequest

if TYPE_CHECKING:
    from psycopg import Connection

CONNECT_TIMEOUT_S = 10
WAIT_TIMEOUT_S = 30.0
"""How long a thread waits for a free connection before giving up."""


def load_driver() -> ModuleType:
    """The `psycopg` module, or a clear error when the `postgres` extra is not installed."""
    try:
        import pgvector.psycopg  # noqa: F401
        import psycopg
    except ImportError as error:
        raise InvalidRequest(
            f"the PostgreSQL store needs psycopg and pgvector ({error.name} is missing): "
            "pip install 'memskill[postgres]'"
        ) from None
    return psycopg


def describe(url: str) -> str:
    """`user@host:port/database` of a connection URL, without its password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return "the configured database"
    return f"{parts.get('user', '')}@{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/" + str(
        parts.get("dbname", "")
    )


def connect(url: str) -> Connection[tuple[Any, ...]]:
    """A new autocommit connection without statement preparation; a clear error when it fails."""
    import psycopg

    try:
        return psycopg.connect(
            url,
            autocommit=True,
            prepare_threshold=None,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="memskill",
        )
    except psycopg.ProgrammingError as error:
        raise InvalidRequest(
            f"not a valid PostgreSQL connection URL ({str(error).strip()}); check MEMSKILL_DATABASE_URL."
        ) from None
    except psycopg.OperationalError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InternalError(
            f"cannot connect to PostgreSQL at {describe(url)}: {first_line}. Check MEMSKILL_DATABASE_URL "
            "and that the server is running and reachable."
        ) from None


class ConnectionPool:
    """At most `size` open connections, handed to one thread at a time.

    `configure` runs once on every new connection. A connection that broke (server restart, network)
    is dropped when given back and a new one is opened on demand.
    """

    def __init__(self, url: str, size: int, configure: Callable[[Connection[tuple[Any, ...]]], None]) -> None:
        if size < 1:
            raise InvalidRequest("`pool_size` must be at least 1.")
        self.url = url
        self.size = size
        self._configure = configure
        self._idle: list[Connection[tuple[Any, ...]]] = []
        self._open = 0
        self._closed = False
        self._available = threading.Condition()

    def acquire(self, timeout: float = WAIT_TIMEOUT_S) -> Connection[tuple[Any, ...]]:
        deadline = time.monotonic() + timeout
        with self._available:
            while True:
                if self._closed:
                    raise InternalError("the PostgreSQL store is closed.")
                while self._idle:
                    connection = self._idle.pop()
                    if not connection.closed and not connection.broken:
                        return connection
                    self._open -= 1
                if self._open < self.size:
                    self._open += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise InternalError(
                        f"all {self.size} PostgreSQL connections stayed busy for {timeout:.0f} s; "
                        "pass a larger `pool_size` or run fewer threads."
                    )
                self._available.wait(left)
        try:
            connection = connect(self.url)
            self._configure(connection)
        except BaseException:
            with self._available:
                self._open -= 1
                self._available.notify()
            raise
        return connection

    def release(self, connection: Connection[tuple[Any, ...]]) -> None:
        from psycopg import pq

        with self._available:
            usable = not (self._closed or connection.closed or connection.broken)
            if usable and connection.info.transaction_status != pq.TransactionStatus.IDLE:
                usable = False  # left inside a transaction by a bug: do not hand its state to another thread
            if usable:
                self._idle.append(connection)
            else:
                self._open -= 1
            self._available.notify()
        if not usable:
            connection.close()

    def close(self) -> None:
        """Close the idle connections now and the busy ones when they are given back."""
        with self._available:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._available.notify_all()
        for connection in idle:
            connection.close()
