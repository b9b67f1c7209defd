"""A PostgreSQL store opened before the server restarts keeps working (issue 12, item 13).

The test runs a PostgreSQL server of its own (initdb and pg_ctl on a free port of
127.0.0.1, as the user postgres when run as root), restarts it and stops it; the
shared server of OVERDUE_FSM_TEST_PG is never touched.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fsm import Observation, StoreError
from fsm.store import open_store

from .conftest import at

pytestmark = pytest.mark.xdist_group("own-postgres")
pytest.importorskip("psycopg", reason="needs overdue-fsm[postgres]")


@dataclass
class Server:
    bin: Path
    data: Path
    port: int
    user: str | None

    def pg_ctl(self, *args: str) -> None:
        command = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "30", *args]
        subprocess.run(command, check=True, capture_output=True, user=self.user, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl("-o", options, "-l", str(self.data / "log"), "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres?schema=reconnect"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [
        path for path in [shutil.which("initdb")] if path
    ]
    if not found:
        pytest.skip(
            "needs the PostgreSQL server binaries (initdb, pg_ctl) to run a server of its own"
        )
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="overdue-fsm-pg-"))
    data = root / "data"
    if user is not None:
        shutil.chown(root, user)
    bin_dir = Path(found[-1]).parent
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
        user=user,
        timeout=120,
    )
    own = Server(bin_dir, data, _free_port(), user)
    own.start()
    try:
        yield own
    finally:
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            user=user,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def test_a_store_opened_before_a_restart_reads_and_writes_after_it(server: Server) -> None:
    writer = open_store(server.url)
    reader = None
    try:
        writer.observe(
            "c-1", Observation.create(at=at(), balance="-5"), billing="pay_as_you_go", now=at()
        )
        reader = open_store(server.url, create=False)
        assert reader.get("c-1") is not None

        server.stop()
        server.start()

        # A read retries once on a new connection.
        cluster = reader.get("c-1")
        assert cluster is not None and str(cluster.phase) == "overdue_grace"
        # A write that never reached COMMIT is redone, whole, once: recorded exactly once.
        result = writer.observe(
            "c-1", Observation.create(at=at(hours=2), balance="7"), now=at(hours=2)
        )
        assert [str(e.kind) for e in result.recorded] == ["recharged"]
        assert [str(e.kind) for e in reader.history("c-1")] == ["balance_negative", "recharged"]

        server.stop()
        try:
            for action in (
                lambda: reader.get("c-1"),
                lambda: writer.observe(
                    "c-1", Observation.create(at=at(hours=3), balance="-1"), now=at(hours=3)
                ),
            ):
                with pytest.raises(StoreError) as caught:
                    action()
                assert f"127.0.0.1:{server.port}" in str(caught.value)
        finally:
            server.start()
        # Back again: the store carries on.
        assert reader.get("c-1") is not None
    finally:
        writer.close()
        if reader is not None:
            reader.close()
