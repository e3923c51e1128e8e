from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .servers import Server, daphne


@pytest.fixture(scope="session")
def live_server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One Daphne process shared by the tests that only read streams from it."""
    with daphne(tmp_path_factory.mktemp("daphne")) as server:
        yield server


@pytest.fixture
def fresh_daphne(tmp_path: Path) -> Iterator[Server]:
    """A Daphne process of the test's own, for tests that count its threads or stop it."""
    with daphne(tmp_path) as server:
        yield server
