"""A throw-away PostgreSQL server for the tests that need one (a module's tests share it)
and a fresh, empty database on it per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import fresh_database, postgres_bin_dir, postgres_server


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL binaries not installed (`make test` installs the postgresql package)"
        )
    with postgres_server(bin_dir) as url:
        yield url


@pytest.fixture
def database_url(server_url: str) -> str:
    """A fresh, empty database per test."""
    return fresh_database(server_url)
