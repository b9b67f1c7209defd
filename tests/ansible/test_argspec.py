"""plugins/plugin_utils/argspec.py: each action's argument spec is its module's documentation.

The spec is read from the module's DOCUMENTATION and its fragments without Ansible's
documentation parser (which every forked worker would run on every task); these tests
hold it equal to what that parser makes of the same documentation.
"""

from __future__ import annotations

import pytest

from .conftest import REPO

MODULES = sorted(path.stem for path in (REPO / "plugins" / "modules").glob("*.py"))


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


def test_a_missing_module_says_to_reinstall(collection_loader: None) -> None:
    from ansible.errors import AnsibleError
    from ansible_collections.overdue.emr.plugins.plugin_utils import argspec

    with pytest.raises(AnsibleError, match="reinstall the collection"):
        argspec.of_module("overdue.emr.no_such_module")
