"""Storage emulator fixtures: Azurite (Blob) and `@vercel/cosmosdb-server` (Cosmos DB), run from the npm
cache that `scripts/ensure-node-emulators.sh` fills (`make setup`).

Fixtures (session scope, synchronous, so any event loop can use them):
- `node_emulators_bin`: the cache's `node_modules/.bin`; fails with "run `make setup`" when missing.
- `azurite`: an `AzuriteEmulator` (Blob service on a free loopback port, in-memory storage) with a
  `connection_string` for `BlobServiceClient.from_connection_string` / `blob.connection_string`.
- `cosmos_emulator`: a `CosmosEmulator` (HTTPS with a self-signed certificate on 127.0.0.1, which the
  azure-cosmos SDK accepts on loopback) with `endpoint` and `key` for `archive.cosmos_endpoint/_key`.

Use them by importing: `from tests.storage_emulators import azurite, cosmos_emulator, node_emulators_bin`
(import `node_emulators_bin` too: the two emulator fixtures depend on it), or register this module once in
`tests/conftest.py` with `pytest_plugins = ["tests.storage_emulators"]`.

Each emulator runs in its own process group, is stopped with SIGTERM then SIGKILL at session end, and
(on Linux) gets SIGKILL from the kernel if the test process itself dies, so no orphans survive a run.
The cache folder defaults to `~/.cache/switchboard/node`; `SWITCHBOARD_NODE_EMULATORS_DIR` overrides it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from switchboard.settings import default_cache_dir

# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# The Cosmos DB emulator's well-known key (public); cosmosdb-server does not check signatures.
COSMOS_EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU9DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="

START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 5.0
START_ATTEMPTS = 3  # a free port can be taken by someone else between probing and binding


@dataclass(frozen=True)
class AzuriteEmulator:
    port: int

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )


@dataclass(frozen=True)
class CosmosEmulator:
    port: int
    key: str = COSMOS_EMULATOR_KEY

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/"


def node_emulators_dir() -> Path:
    override = os.environ.get("SWITCHBOARD_NODE_EMULATORS_DIR")
    return Path(override) if override else default_cache_dir() / "node"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel kills it if the test process dies (Linux only)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class EmulatorProcess:
    """One emulator process: started in its own session, ready when its log says so and its port
    accepts connections, stopped with its whole process group."""

    def __init__(self, name: str, argv: list[str], *, port: int, ready_marker: str, log_path: Path) -> None:
        self.name = name
        self.port = port
        self._argv = argv
        self._ready_marker = ready_marker
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self) -> None:
        with open(self._log_path, "wb") as log:
            self._proc = subprocess.Popen(  # fixed argv from our own cache, no shell
                self._argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._log_path.parent,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # only a prctl call, safe between fork and exec
            )
        atexit.register(self.stop)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._proc.returncode}:\n{self.log_tail()}")
            if self._ready_marker in self.log_tail(100_000) and self._accepts_connections():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"{self.name} not ready on port {self.port} after {START_TIMEOUT_SECONDS}s:\n{self.log_tail()}"
        )

    def _accepts_connections(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_SECONDS), (signal.SIGKILL, STOP_TIMEOUT_SECONDS)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _start_with_retries(make: Callable[[int], EmulatorProcess]) -> EmulatorProcess:
    errors = []
    for _ in range(START_ATTEMPTS):
        process = make(_free_port())
        try:
            process.start()
            return process
        except RuntimeError as err:
            errors.append(str(err))
    pytest.fail("could not start the emulator:\n" + "\n---\n".join(errors))


@pytest.fixture(scope="session")
def node_emulators_bin() -> Path:
    """The `.bin` folder holding `azurite-blob` and `cosmosdb-server`."""
    bin_dir = node_emulators_dir() / "node_modules" / ".bin"
    missing = [name for name in ("azurite-blob", "cosmosdb-server") if not (bin_dir / name).exists()]
    if missing:
        pytest.fail(
            f"storage emulators missing in {bin_dir} ({', '.join(missing)}): run `make setup` "
            "(or scripts/ensure-node-emulators.sh)"
        )
    return bin_dir


@pytest.fixture(scope="session")
def azurite(node_emulators_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteEmulator]:
    """Azurite's Blob service for the session, storage in memory."""
    workdir = tmp_path_factory.mktemp("azurite")

    def make(port: int) -> EmulatorProcess:
        # --inMemoryPersistence refuses --location ("not supported when the --location option is set"),
        # so the process runs in a scratch folder instead. --skipApiVersionCheck: azure-storage-blob 12.31
        # sends an x-ms-version newer than Azurite 3.35 knows.
        argv = [
            str(node_emulators_bin / "azurite-blob"),
            *("--blobHost", "127.0.0.1", "--blobPort", str(port)),
            *("--disableTelemetry", "--skipApiVersionCheck", "--inMemoryPersistence"),
        ]
        return EmulatorProcess(
            "azurite", argv, port=port, ready_marker="successfully listens", log_path=workdir / f"azurite-{port}.log"
        )

    process = _start_with_retries(make)
    try:
        yield AzuriteEmulator(port=process.port)
    finally:
        process.stop()


@pytest.fixture(scope="session")
def cosmos_emulator(node_emulators_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosmosEmulator]:
    """cosmosdb-server for the session (HTTPS, in memory)."""
    workdir = tmp_path_factory.mktemp("cosmos")

    def make(port: int) -> EmulatorProcess:
        argv = [str(node_emulators_bin / "cosmosdb-server"), "--host", "127.0.0.1", "--port", str(port)]
        return EmulatorProcess(
            "cosmosdb-server", argv, port=port, ready_marker="Ready to accept", log_path=workdir / f"cosmos-{port}.log"
        )

    process = _start_with_retries(make)
    try:
        yield CosmosEmulator(port=process.port)
    finally:
        process.stop()
