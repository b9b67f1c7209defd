"""overdue-fsm metrics: what Prometheus reads, parsed as Prometheus parses it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fsm import Observation
from fsm.cli import main
from fsm.metrics import FleetCollector, exposition
from fsm.store import open_store
from fsm.table import Phase
from fsm.timeutil import parse_time

T0 = parse_time("2026-01-01T00:00:00Z", "T0")
DAY = timedelta(days=1)
LOOPBACK = "127.0.0.1:0"  # any free port
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

HUNG = 60
"""Seconds after which the exporter counts as hung (not a speed target: a loaded CI
machine may take several seconds to start it, the answer takes milliseconds)."""


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store with a pay-as-you-go cluster overdue since T0 and a subscription expiring T0+31d."""
    url = f"sqlite:///{tmp_path / 'state' / 'clusters.db'}"
    monkeypatch.delenv("OVERDUE_FSM_STORE", raising=False)
    monkeypatch.delenv("OVERDUE_FSM_POLICY", raising=False)
    with open_store(url) as store:
        store.observe("c-1", Observation.create(balance="-3", at=T0), billing="PayAsYouGo", now=T0)
        store.observe(
            "s-1",
            Observation.create(balance="5", at=T0),
            billing="Subscription",
            account="team-b",
            expires_at=T0 + 31 * DAY,
            now=T0,
        )
    return url


def samples(text: str) -> Samples:
    """Every sample of an exposition, by (name, labels)."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def phase_of(found: Samples, cluster_id: str) -> list[str]:
    return [
        dict(labels)["phase"]
        for (name, labels), value in found.items()
        if name == "overdue_emr_cluster_phase" and dict(labels)["cluster_id"] == cluster_id
        if value == 1
    ]


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


C1 = {"cluster_id": "c-1", "account": "default", "billing": "pay_as_you_go"}
S1 = {"cluster_id": "s-1", "account": "team-b", "billing": "subscription"}


def test_the_textfile_holds_each_cluster_phase_and_deadlines(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "textfile" / "overdue_emr.prom"
    out.parent.mkdir()
    now = T0 + 20 * DAY
    code = main(["metrics", "--store", store_url, "--textfile", str(out), "--now", now.isoformat()])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.parent.iterdir()) == ["overdue_emr.prom"]  # no temp left
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n")
    found = samples(text)
    assert phase_of(found, "c-1") == ["restricted"]
    assert phase_of(found, "s-1") == ["active"]
    # One series per phase: 0 for all but the current one.
    assert sum(
        1
        for name, lab in found
        if dict(lab).get("cluster_id") == "c-1" and name == "overdue_emr_cluster_phase"
    ) == len(Phase)
    purge = (T0 + 60 * DAY).timestamp()
    assert (
        found[
            ("overdue_emr_cluster_next_phase_timestamp_seconds", labels(**C1, next_phase="purged"))
        ]
        == purge
    )
    assert found[("overdue_emr_cluster_data_deletion_timestamp_seconds", labels(**C1))] == purge
    expiry = T0 + 31 * DAY
    assert (
        found[
            (
                "overdue_emr_cluster_next_phase_timestamp_seconds",
                labels(**S1, next_phase="suspended"),
            )
        ]
        == expiry.timestamp()
    )
    assert (
        found[("overdue_emr_cluster_data_deletion_timestamp_seconds", labels(**S1))]
        == (expiry + 15 * DAY).timestamp()
    )
    assert found[("overdue_emr_store_up", frozenset())] == 1


def test_a_rewritten_textfile_replaces_the_old_one(store_url: str, tmp_path: Path) -> None:
    out = tmp_path / "overdue_emr.prom"
    out.write_text("stale content\n", encoding="utf-8")
    assert main(["metrics", "--store", store_url, "--textfile", str(out)]) == 0
    assert "stale content" not in out.read_text(encoding="utf-8")
    assert phase_of(samples(out.read_text(encoding="utf-8")), "c-1") == ["purged"]


def test_each_collection_evaluates_at_its_own_instant(store_url: str) -> None:
    """Timed transitions write nothing: the phase moves between scrapes by the clock alone."""
    clock = [T0]
    collector = FleetCollector(lambda: open_store(store_url, create=False), lambda: clock[0])
    seen = []
    for at in (T0 + timedelta(hours=12), T0 + 2 * DAY, T0 + 16 * DAY, T0 + 60 * DAY):
        clock[0] = at
        seen.append(phase_of(samples(exposition(collector).decode()), "c-1"))
    assert seen == [["overdue_grace"], ["suspended"], ["restricted"], ["purged"]]
    # Once purged the data is gone: no deletion deadline is exported for it any more.
    found = samples(exposition(collector).decode())
    assert ("overdue_emr_cluster_data_deletion_timestamp_seconds", labels(**C1)) not in found
    assert not any(
        name == "overdue_emr_cluster_next_phase_timestamp_seconds"
        and dict(lab)["cluster_id"] == "c-1"
        for name, lab in found
    )


def test_printed_without_a_target(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["metrics", "--store", store_url, "--now", "2026-01-01T12:00:00Z"]) == 0
    assert phase_of(samples(capsys.readouterr().out), "c-1") == ["overdue_grace"]


def test_an_unreadable_store_writes_no_textfile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "overdue_emr.prom"
    missing = f"sqlite:///{tmp_path / 'nothing.db'}"
    assert main(["metrics", "--store", missing, "--textfile", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("overdue-fsm: no store at ") and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_bad_listen_address_is_an_input_error(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["metrics", "--store", store_url, "--listen", "localhost"]) == 2
    assert "--listen: 'localhost' is not valid; expected HOST:PORT" in capsys.readouterr().err


def test_a_textfile_in_a_missing_directory_is_an_input_error(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-dir" / "overdue_emr.prom"
    assert main(["metrics", "--store", store_url, "--textfile", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("overdue-fsm: --textfile: '")
    assert err.endswith("expected a file overdue-fsm can write (No such file or directory)\n")
    assert not target.parent.exists()


def test_an_address_in_use_is_an_input_error(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        assert main(["metrics", "--store", store_url, "--listen", address]) == 2
    assert f"--listen: '{address}' is not valid; expected an address free to listen on" in (
        capsys.readouterr().err
    )


@pytest.fixture
def exporter(store_url: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``overdue-fsm metrics --listen 127.0.0.1:0`` running; yields its /metrics URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fsm.cli",
            "metrics",
            "--store",
            store_url,
            "--listen",
            "127.0.0.1:0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    try:
        assert line.startswith("serving http://127.0.0.1:"), line
        yield line.split()[1], proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=HUNG)
        proc.stderr.close()


def scrape(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=HUNG) as answer:
        return answer.headers["Content-Type"], answer.read().decode()


def test_the_listening_exporter_serves_the_store_as_it_is_at_each_scrape(
    store_url: str, exporter: tuple[str, subprocess.Popen[str]]
) -> None:
    url, proc = exporter
    content_type, text = scrape(url)
    assert content_type.startswith("text/plain")
    assert phase_of(samples(text), "c-1") == ["purged"]  # overdue since 2026-01-01: now gone
    assert phase_of(samples(text), "s-1") == ["purged"]  # expired 2026-02-01, not renewed
    with open_store(store_url) as store:
        store.observe("c-2", Observation.create(balance="-1"), billing="PayAsYouGo")
    assert phase_of(samples(scrape(url)[1]), "c-2") == ["overdue_grace"]  # no restart needed
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=HUNG) == 130


def test_the_exporter_reports_a_store_it_cannot_read_instead_of_failing(
    store_url: str, exporter: tuple[str, subprocess.Popen[str]]
) -> None:
    url, proc = exporter
    db = Path(store_url.removeprefix("sqlite://"))
    db.rename(db.with_suffix(".moved"))
    found = samples(scrape(url)[1])
    assert found[("overdue_emr_store_up", frozenset())] == 0
    assert phase_of(found, "c-1") == []
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=HUNG)
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "overdue-fsm metrics: no store at" in err and "Traceback" not in err


def test_the_last_sync_of_each_account_gives_its_balance_and_time(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["metrics", "--store", store_url]) == 0
    before = samples(capsys.readouterr().out)
    assert not [
        name for name, _ in before if name.startswith(("overdue_emr_account_", "overdue_emr_sync_"))
    ]
    with open_store(store_url) as store:
        store.record_sync("team-b", synced_at=T0 + DAY, balance="-11.19", currency="CNY")
    assert main(["metrics", "--store", store_url]) == 0
    found = samples(capsys.readouterr().out)
    assert (
        found[("overdue_emr_account_balance", labels(account="team-b", currency="CNY"))] == -11.19
    )
    assert (
        found[("overdue_emr_sync_last_success_timestamp_seconds", labels(account="team-b"))]
        == (T0 + DAY).timestamp()
    )
