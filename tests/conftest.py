"""Shared fixtures. Every test runs offline: connecting to anything but loopback fails."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

from mlops_course import config

REPO = Path(__file__).resolve().parents[1]
# pytest-xdist runs two notebooks at once on two cores: one OpenMP/BLAS thread each, or
# their thread pools fight (a 0.2 s fit was seen taking 6 s). Kernels inherit this.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
_real_connect = socket.socket.connect


def _guarded_connect(sock: socket.socket, address, *args, **kwargs):  # type: ignore[no-untyped-def]
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise OSError(f"tests must not reach the network (tried {address!r})")
    return _real_connect(sock, address, *args, **kwargs)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(scope="session")
def housing_csv() -> Path:
    """The verified housing CSV (``make test`` fetched it; CI copies it from the mirror)."""
    from mlops_course.data import fetch_housing

    return fetch_housing()


@pytest.fixture
def isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data cache, so a test can exercise the loader from scratch."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MLOPS_COURSE_DATA_DIR", str(data_dir))
    monkeypatch.delenv("MLOPS_COURSE_DATA_MIRROR", raising=False)
    return data_dir


@pytest.fixture
def isolated_build_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A build folder outside the checkout, for tests that run lessons."""
    build = tmp_path / "build"
    monkeypatch.setenv("MLOPS_COURSE_BUILD_DIR", str(build))
    assert config.build_dir() == build.resolve()
    return build
