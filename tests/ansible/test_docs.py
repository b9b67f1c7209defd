"""The documentation is the contract: it matches what the plugins accept."""

from __future__ import annotations

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


def test_the_action_accepts_exactly_the_documented_options(common: Any) -> None:
    from ansible_collections.overdue.emr.plugins.action.cluster_phase import ARGUMENT_SPEC

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
