"""Real servers for tests: ``geo-service serve`` as a subprocess on a free loopback port.

Each server is its own process group (uvicorn's workers included), stopped when the block
ends; nothing is left running. Tests that need a server in this process (a browser test's)
run uvicorn in a thread instead (tests/browser/test_maps_browser.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from geo_service.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(**settings: object) -> dict[str, str]:
    """This environment with the repository importable and ``GEO_SERVICE_<NAME>`` set for each
    keyword (``database_url=...`` becomes ``GEO_SERVICE_DATABASE_URL``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GEO_SERVICE_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update({f"GEO_SERVICE_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@contextmanager
def servers(env: Mapping[str, str], *, count: int = 1, workers: int = 1) -> Iterator[list[str]]:
    """``count`` servers, each ``geo-service serve --workers N`` on its own port, started side
    by side and run until the block ends. Yields their base URLs once every /healthz answers
    200 (a worker answers only after its lifespan opened the store)."""
    with ExitStack() as stack:
        started = []
        for _ in range(count):
            port = free_port()
            process = subprocess.Popen(
                [*CLI, "serve", "--workers", str(workers), "--port", str(port)],
                env=dict(env),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: the workers stop with it
            )
            stack.callback(_stop, process)
            started.append((process, f"http://127.0.0.1:{port}"))
        deadline = time.monotonic() + 150  # six interpreters starting on two busy cores
        for process, base in started:
            while not _healthy(base):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server at {base} did not come up")
                time.sleep(0.2)
        yield [base for _, base in started]
