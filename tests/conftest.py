"""Session-wide real services, started on demand on free loopback ports and stopped by PID."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.services import Aimock, Service, start_aimock, start_firestore, start_storage

PROJECT = "test-project"


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[Service]:
    svc = start_firestore()
    os.environ["FIRESTORE_EMULATOR_HOST"] = svc.host
    os.environ.setdefault("GOOGLE_CLOUD_PROJECT", PROJECT)
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def storage_emulator() -> Iterator[Service]:
    svc = start_storage()
    os.environ["STORAGE_EMULATOR_HOST"] = svc.url
    os.environ.setdefault("GOOGLE_CLOUD_PROJECT", PROJECT)
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def aimock_server() -> Iterator[Service]:
    svc = start_aimock()
    yield svc
    svc.stop()


@pytest.fixture()
def mock(aimock_server: Service) -> Aimock:
    """aimock's control API; fixtures are global, so tests use unique message markers."""
    return Aimock(aimock_server.url)
