"""plugins/plugin_utils/common.py: settings, stores, errors, the missing-package message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import NOW, record


def test_settings_come_from_the_argument_then_the_environment_then_ansible_cfg(
    common: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "conf" / "ansible.cfg"
    cfg.parent.mkdir()
    cfg.write_text(
        "[overdue_emr]\nstore = state/fleet.db\npolicy = 'policy.yml'\nnow = 2026-01-02T00:00:00Z\n"
    )
    monkeypatch.setattr(common, "config_file", lambda: str(cfg))

    # ansible.cfg: a relative path is relative to the file
    assert common.resolve_setting("store") == ("state/fleet.db", str(cfg))
    settings = common.Settings.resolve()
    assert settings.store == "sqlite://" + str(cfg.parent / "state" / "fleet.db")
    assert settings.policy_file == str(cfg.parent / "policy.yml")
    assert common.format_time(settings.now) == "2026-01-02T00:00:00Z"

    # the environment beats ansible.cfg
    monkeypatch.setenv("OVERDUE_FSM_STORE", "sqlite:///srv/env.db")
    monkeypatch.setenv("OVERDUE_FSM_NOW", "2026-01-03T00:00:00Z")
    settings = common.Settings.resolve()
    assert settings.store == "sqlite:///srv/env.db"
    assert common.format_time(settings.now) == "2026-01-03T00:00:00Z"

    # the argument beats both
    settings = common.Settings.resolve(store="none", now="2026-01-04T08:00:00+08:00")
    assert settings.stateless
    assert common.format_time(settings.now) == "2026-01-04T00:00:00Z"


def test_a_plain_path_is_an_sqlite_store_and_urls_pass_through(common: Any) -> None:
    assert common.store_url("/var/lib/x.db") == "sqlite:///var/lib/x.db"
    assert common.store_url("postgresql://u@db:5432/fsm") == "postgresql://u@db:5432/fsm"
    assert common.store_url("NONE") is None
    # A relative path given directly depends on where Ansible runs: refused, naming the fix.
    with pytest.raises(Exception, match="write this file as sqlite:///"):
        common.store_url("rel.db")


def test_without_any_setting_the_store_default_and_the_wall_clock_apply(common: Any) -> None:
    from fsm.store import default_store_url

    settings = common.Settings.resolve()
    assert settings.store == default_store_url()
    assert settings.policy_file is None
    assert not settings.now_given


def test_fsm_errors_keep_their_message_and_others_say_where_to_report(common: Any) -> None:
    from ansible.errors import AnsibleLookupError

    import fsm

    with pytest.raises(AnsibleLookupError) as caught, common.user_errors(AnsibleLookupError):
        fsm.parse_cluster_id("-bad")
    assert str(caught.value.message).startswith("cluster_id: '-bad' is not valid")

    with pytest.raises(AnsibleLookupError) as caught, common.user_errors(AnsibleLookupError):
        raise KeyError("boom")
    message = str(caught.value.message)
    assert "internal error in overdue.emr (KeyError: 'boom')" in message
    assert fsm.errors.REPORT_BUGS_AT in message
    assert caught.value.__cause__ is None  # raised "from None": no chained traceback


def test_a_missing_fsm_package_is_one_error_that_says_how_to_install_it(
    common: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common, "HAS_FSM", False)
    with pytest.raises(common.OverdueError, match=r"pip install overdue-fsm$"):
        common.require_fsm()


def test_the_read_only_store_is_opened_once_per_process_and_never_created(
    common: Any, tmp_path: Path, store_url: str
) -> None:
    settings = common.Settings.resolve(store=store_url)
    with pytest.raises(Exception, match="no store at"):
        common.reader(settings)
    assert not (tmp_path / "state").exists()  # reads never write

    record(store_url, "c-1", billing="pay_as_you_go", balance="-1", overdue_since=NOW)
    first = common.reader(settings)
    assert common.reader(settings) is first
    assert first.get("c-1") is not None
    assert not first.writable


def test_an_observation_needs_something_observed(common: Any) -> None:
    settings = common.Settings.resolve(store="none", now=NOW)
    assert common.observation({}, settings.now) is None
    with pytest.raises(common.OverdueError, match="observed_at: it dates an observation"):
        common.observation({"observed_at": NOW}, settings.now)
    seen = common.observation({"balance": -3.5}, settings.now)
    assert str(seen.balance) == "-3.5"
    assert seen.at == settings.now
