"""The documentation is the contract: it matches what the plugins accept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import REPO


def _doc(common: Any, path: str, is_module: bool = False) -> dict[str, Any]:
    from ansible.plugins.loader import fragment_loader
    from ansible.utils.plugin_docs import get_docstring

    doc, _examples, _returns, _metadata = get_docstring(
        str(REPO / path), fragment_loader, is_module=is_module, collection_name="overdue.emr"
    )
    return doc


def validated_with(monkeypatch: pytest.MonkeyPatch, action: str, **args: Any) -> dict[str, Any]:
    """The argument spec the action ``action`` validates a task's arguments with."""
    from unittest.mock import MagicMock

    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.action import ActionBase
    from ansible.plugins.loader import action_loader

    seen: dict[str, Any] = {}
    validate = ActionBase.validate_argument_spec

    def spy(self: Any, argument_spec: Any = None, **kwargs: Any) -> Any:
        seen.update(argument_spec)
        return validate(self, argument_spec=argument_spec, **kwargs)

    monkeypatch.setattr(ActionBase, "validate_argument_spec", spy)
    task = MagicMock()
    task.args, task.check_mode, task.diff, task.async_val, task.action = (
        args,
        True,
        False,
        0,
        action,
    )
    connection = MagicMock()
    connection._shell.tmpdir = None
    plugin = action_loader.get(action, task, connection, PlayContext(), DataLoader(), None, None)
    plugin.run(task_vars={})
    assert seen, f"{action} validated nothing"
    return seen


def test_the_action_accepts_exactly_the_documented_options(
    common: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ARGUMENT_SPEC = validated_with(
        monkeypatch, "overdue.emr.cluster_phase", cluster_id="c-1", store="none"
    )
    options = _doc(common, "plugins/modules/cluster_phase.py", is_module=True)["options"]
    assert set(options) == set(ARGUMENT_SPEC)
    for name, spec in ARGUMENT_SPEC.items():
        documented = options[name]
        assert documented["type"] == spec["type"], name
        assert documented.get("required", False) == spec.get("required", False), name
        assert documented.get("default") == spec.get("default"), name
        assert documented.get("elements") == spec.get("elements"), name


@pytest.mark.parametrize(
    "path",
    ["plugins/lookup/phase.py", "plugins/lookup/allowed.py", "plugins/inventory/clusters.py"],
)
def test_plugin_settings_read_the_same_env_and_ini_as_the_module(common: Any, path: str) -> None:
    options = _doc(common, path)["options"]
    for name in common.SETTINGS:
        assert options[name]["env"] == [{"name": common.ENV[name]}]
        assert options[name]["ini"] == [{"section": common.INI_SECTION, "key": name}]


def test_lookups_document_every_fact_the_module_takes(common: Any) -> None:
    module = _doc(common, "plugins/modules/cluster_phase.py", is_module=True)["options"]
    for path in ("plugins/lookup/phase.py", "plugins/lookup/allowed.py"):
        options = _doc(common, path)["options"]
        for name in (*common.FACT_OPTIONS, *common.OBSERVATION_OPTIONS):
            assert options[name]["type"] == module[name]["type"], (path, name)


def test_export_configs_accepts_exactly_its_documented_options(
    common: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    spec = validated_with(
        monkeypatch,
        "overdue.emr.export_configs",
        cluster_id="c-1",
        dest=str(tmp_path),
        store="none",
    )
    options = _doc(common, "plugins/modules/export_configs.py", is_module=True)["options"]
    assert set(options) == set(spec)
    for name in ("access_key_secret", "security_token"):
        assert spec[name]["no_log"] is True
    assert spec["export_mode"]["choices"] == ["ALL", "MODIFICATION"]


@pytest.mark.parametrize("module", ["sync", "export_configs"])
def test_the_alicloud_names_are_documented_aliases(common: Any, module: str) -> None:
    options = _doc(common, f"plugins/modules/{module}.py", is_module=True)["options"]
    for name, alias in (
        ("access_key_id", "alicloud_access_key"),
        ("access_key_secret", "alicloud_secret_key"),
        ("security_token", "alicloud_security_token"),
        ("profile", "alicloud_profile"),
        ("assume_role", "alicloud_assume_role"),
        ("ecs_role_name", "alicloud_ecs_role_name"),
        ("regions" if module == "sync" else "region", "alicloud_region"),
    ):
        assert alias in options[name]["aliases"], (module, name)
    described = json.dumps(options)
    for env in (
        "ALICLOUD_ACCESS_KEY",
        "ALICLOUD_SECRET_KEY",
        "ALICLOUD_SECURITY_TOKEN",
        "ALICLOUD_PROFILE",
        "ALICLOUD_ASSUME_ROLE_ARN",
        "ALICLOUD_ECS_ROLE_NAME",
        "ALICLOUD_REGION",
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
    ):
        assert env in described, (module, env)
