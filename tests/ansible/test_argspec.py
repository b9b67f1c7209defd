"""plugins/plugin_utils/argspec.py: each action's argument spec is its module's documentation.

A forked worker takes the spec from argument_specs.json, and a module the file does not
name is read from its DOCUMENTATION and fragments (argspec_docs.py) without Ansible's
documentation parser (which every worker would run on every task); these tests hold both
equal to what that parser makes of the same documentation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .option_definitions import ARGUMENT_SPECS, MODULES, ansibles_argument_specs, render


@pytest.mark.parametrize("module", MODULES)
def test_the_spec_is_what_ansible_reads_of_the_documentation(
    collection_loader: None, module: str
) -> None:
    from ansible.plugins.loader import fragment_loader, module_loader
    from ansible.utils.plugin_docs import get_docstring
    from ansible_collections.overdue.emr.plugins.plugin_utils import argspec

    name = f"overdue.emr.{module}"
    path = module_loader.find_plugin_with_context(name).plugin_resolved_path
    documented = get_docstring(path, fragment_loader, is_module=True)[0]["options"]
    assert argspec.documented_options(name) == documented
    for no_log in ((), ("store",)):
        assert argspec.of_module(name, no_log) == argspec.from_options(documented, no_log)


def test_the_file_is_ansibles_own_reading_of_the_modules(collections_path: Path) -> None:
    read = ansibles_argument_specs(collections_path)
    assert sorted(read) == [f"overdue.emr.{module}" for module in MODULES]
    assert ARGUMENT_SPECS.read_text(encoding="utf-8") == render(read), (
        "plugins/plugin_utils/argument_specs.json is not what the modules document: "
        "run `make option-definitions`"
    )


def test_an_action_takes_its_spec_from_the_file_not_the_documentation(
    collection_loader: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ansible_collections.overdue.emr.plugins.plugin_utils import argspec, argspec_docs

    def unread(name: str) -> None:
        raise AssertionError(f"the documentation of {name} was parsed")

    monkeypatch.setattr(argspec_docs, "documented_options", unread)
    monkeypatch.setattr(argspec, "_SPECS", {})
    spec = argspec.of_module("overdue.emr.sync", ("access_key_secret",))
    assert spec["access_key_secret"]["no_log"] is True
    assert "no_log" not in spec["regions"]


def test_a_missing_module_says_to_reinstall(collection_loader: None) -> None:
    from ansible.errors import AnsibleError
    from ansible_collections.overdue.emr.plugins.plugin_utils import argspec

    with pytest.raises(AnsibleError, match="reinstall the collection"):
        argspec.of_module("overdue.emr.no_such_module")
