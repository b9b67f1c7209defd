"""Fixtures of the overdue.emr tests: the collection on a collections path, stores, runners.

The repository root is the collection; a temporary directory holds the link
``ansible_collections/overdue/emr -> root`` that Ansible needs to find it. Unit
tests import the plugins through Ansible's collection loader; integration tests
run the real ``ansible-playbook`` with the test_events callback, which records
what every task did next to what the default callback prints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
BIN = Path(sys.executable).parent
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"
# An instant the tests evaluate at, and observations before it.
NOW = "2026-01-21T00:00:00Z"

_LINK_ROOT = Path(tempfile.mkdtemp(prefix="overdue-emr-collections-"))
(_LINK_ROOT / "ansible_collections" / "overdue").mkdir(parents=True)
(_LINK_ROOT / "ansible_collections" / "overdue" / "emr").symlink_to(REPO)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_LINK_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def collections_path() -> Path:
    """A collections path on which overdue.emr is this checkout."""
    return _LINK_ROOT


@pytest.fixture(scope="session")
def collection_loader(collections_path: Path) -> None:
    """Ansible's collection loader, so ``ansible_collections.overdue.emr`` imports."""
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader([str(collections_path)])


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No OVERDUE_FSM_* setting and no ansible.cfg of the developer leaks into a test."""
    for name in list(os.environ):
        if name.startswith("OVERDUE_FSM_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def common(collection_loader: None, clean_env: pytest.MonkeyPatch) -> Iterator[Any]:
    """plugins/plugin_utils/common.py, with no cached store or ansible.cfg left over."""
    from ansible_collections.overdue.emr.plugins.plugin_utils import common as module

    clean_env.setattr(module, "config_file", lambda: None)
    module.forget_readers()
    module._INI_CACHE.clear()
    yield module
    module.forget_readers()


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return "sqlite://" + str(tmp_path / "state" / "clusters.db")


def record(url: str, cluster_id: str, *, now: str = NOW, **facts: Any) -> Any:
    """Record one observation through the store, as the module would."""
    import fsm
    from fsm.store import open_store

    seen = {k: facts.pop(k) for k in ("balance", "overdue_since", "renewed_until") if k in facts}
    observation = fsm.Observation.create(at=facts.pop("at", now), **seen)
    with open_store(url) as store:
        return store.observe(cluster_id, observation, now=now, **facts)


def history(url: str, cluster_id: str) -> list[Any]:
    from fsm.store import open_store

    with open_store(url, create=False) as store:
        return store.history(cluster_id)


# -- running ansible-playbook -------------------------------------------------------------


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def task(self, name: str) -> list[dict[str, Any]]:
        found = [e for e in self.events if e["task"] == name]
        assert found, f"no task {name!r} ran; tasks: {sorted({e['task'] for e in self.events})}"
        return found

    def statuses(self, name: str) -> dict[str, str]:
        """host -> ok/changed/skipped/failed/ignored of a task (not looped)."""
        return {
            e["host"]: "changed" if e["status"] == "ok" and e["changed"] else e["status"]
            for e in self.task(name)
        }

    def items(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.task(name) if e["item"]]


@pytest.fixture
def ansible_env(collections_path: Path, tmp_path: Path, store_url: str) -> dict[str, str]:
    """The environment of an ansible-playbook run: this checkout's collection, a fresh store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "OVERDUE_FSM_"))}
    env.update(
        ANSIBLE_CONFIG=str(PLAYBOOKS / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(collections_path),
        ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
        ANSIBLE_CALLBACKS_ENABLED="test_events",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        OVERDUE_FSM_STORE=store_url,
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


@pytest.fixture
def playbook(ansible_env: dict[str, str], tmp_path: Path) -> Any:
    """``playbook(path_or_yaml, *args, env=..., now=...)`` runs ansible-playbook.

    ``env`` adds variables (None removes one); ``now`` pins OVERDUE_FSM_NOW (None: the clock).
    """
    counter = iter(range(1_000_000))

    def run(
        source: str | Path,
        *args: str,
        env: dict[str, str | None] | None = None,
        now: str | None = NOW,
        cwd: Path = REPO,
    ) -> PlaybookRun:
        index = next(counter)
        path = Path(source)
        if isinstance(source, str) and "\n" in source:
            path = tmp_path / f"play{index}.yml"
            path.write_text(source)
        events = tmp_path / f"events{index}.jsonl"
        run_env = dict(ansible_env, OVERDUE_TEST_EVENTS=str(events))
        if now is not None:
            run_env["OVERDUE_FSM_NOW"] = now
        for name, value in (env or {}).items():
            if value is None:
                run_env.pop(name, None)
            else:
                run_env[name] = value
        done = subprocess.run(
            [str(BIN / "ansible-playbook"), str(path), *args],
            cwd=cwd,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        lines = events.read_text().splitlines() if events.exists() else []
        return PlaybookRun(
            done.returncode, done.stdout, done.stderr, [json.loads(x) for x in lines]
        )

    return run


# -- a fake Alibaba Cloud (tests/aliyun/fake_endpoint.py), for overdue.emr.sync --------------

REGION = "cn-hangzhou"
# Distinctive credentials: the tests assert they never show in any output.
KEY_ID = "AKIDansibleDistinct0042"
KEY_SECRET = "ansible-SeCrEt-Distinct-9191"
NOT_FOR_ANSIBLE = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "DEBUG")


def cloud_env() -> dict[str, str | None]:
    """What a run against the fake needs: the SDK's credentials, and no proxy or SDK debug."""
    return {
        **dict.fromkeys(NOT_FOR_ANSIBLE),
        "ALIBABA_CLOUD_ACCESS_KEY_ID": KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": KEY_SECRET,
        "ALIBABA_CLOUD_SECURITY_TOKEN": None,
    }


@pytest.fixture
def fake_aliyun(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A FakeAliyun of 250 clusters in cn-hangzhou (3 pages), credentials in this process's env."""
    pytest.importorskip("alibabacloud_emr20210320", reason="needs overdue-fsm[aliyun]")
    from tests.aliyun.fake_endpoint import FakeAliyun, make_fleet

    for name, value in cloud_env().items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    server = FakeAliyun(balance="1,000.00")
    server.set_fleet(REGION, make_fleet(250, REGION))
    server.start()
    yield server
    server.stop()
