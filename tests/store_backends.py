"""Store backends for tests: the same test runs against SQLite and, when a server is given, PostgreSQL.

Fixtures (available to every test module through `pytest_plugins` in conftest.py):

- `any_store`: a fresh, empty store, once per backend. "sqlite" is a new file in `tmp_path`; "postgres"
  is a `PostgresStore` on a database created for the test and dropped after it. The PostgreSQL server is
  the one `MEMSKILL_TEST_DATABASE_URL` names (e.g. `postgresql://postgres@127.0.0.1:55432/postgres`, as
  printed by `.ci/postgres.sh`; its user must be allowed to create databases). Without the variable the
  postgres runs are skipped, except when `CI` is set: there they fail, so CI never skips them silently.

Functions: `postgres_server_url()` (the server URL, or skip / fail as above) and `fresh_postgres_url()`, a
context manager that creates an empty database on that server, yields its URL and drops it afterwards
(for tests that open several stores or processes on one database).
"""

from __future__ import annotations

import inspect
import os
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest

from memskill.stores.base import Store
from memskill.stores.sqlite import SQLiteStore

DATABASE_URL_VARIABLE = "MEMSKILL_TEST_DATABASE_URL"
SKIP_REASON = f"set {DATABASE_URL_VARIABLE} to run against PostgreSQL"
BACKENDS = ("sqlite", "postgres")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so the PostgreSQL tests may not be skipped)", pytrace=False)
    pytest.skip(reason)


def postgres_server_url() -> str:
    """The URL of the PostgreSQL server to test against; skips the test (fails it under CI) without one."""
    url = os.environ.get(DATABASE_URL_VARIABLE, "").strip()
    if not url:
        _unavailable(SKIP_REASON)
    return url


def database_url(server_url: str, database: str) -> str:
    """`server_url` with its database replaced by `database` (user, host, port and options kept)."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + database))


def _administer(server_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(statement)


@contextmanager
def fresh_postgres_url(server_url: str | None = None) -> Iterator[str]:
    """Create an empty database on the test server, yield its URL, and drop it (with its connections)."""
    server = server_url or postgres_server_url()
    name = "memskill_c_" + uuid.uuid4().hex[:16]
    _administer(server, f'CREATE DATABASE "{name}"')
    try:
        yield database_url(server, name)
    finally:
        _administer(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Report every skip for want of a server at one place, so `-ra` folds them into a single line."""
    report = yield
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and str(longrepr[2]).endswith(SKIP_REASON):
        report.longrepr = (__file__, inspect.getsourcelines(postgres_server_url)[1], longrepr[2])
    return report


@pytest.fixture(params=BACKENDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store of each backend."""
    if request.param == "sqlite":
        sqlite = SQLiteStore(tmp_path / "memskill.db")
        try:
            yield sqlite
        finally:
            sqlite.close()
        return
    server = postgres_server_url()
    from memskill.stores.postgres import PostgresStore

    with fresh_postgres_url(server) as url:
        postgres = PostgresStore(url)
        try:
            yield postgres
        finally:
            postgres.close()
