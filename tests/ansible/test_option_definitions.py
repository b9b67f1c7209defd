"""The lookups hand Ansible their option definitions from option_definitions.json, and
those are the ones Ansible reads from their DOCUMENTATION and fragments
(tests/ansible/option_definitions.py says why).

Ansible then skips its own reading, so the file must be what it would have read, on every
ansible-core of the matrix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .option_definitions import DEFINITIONS, MODULE, PLUGINS, ansibles_reading, probe, render

STALE = (
    "plugins/plugin_utils/option_definitions.json is not what Ansible reads from the lookups' "
    "DOCUMENTATION and fragments: run `make option-definitions`"
)


def test_the_file_is_ansibles_own_reading_of_the_documentation(collections_path: Path) -> None:
    read = ansibles_reading(collections_path)
    assert sorted(read) == sorted(PLUGINS)
    assert DEFINITIONS.read_text(encoding="utf-8") == render(read), STALE
    # The fragments' options were merged in (allowed and phase extend overdue.emr.settings).
    assert {"store", "policy", "now"} <= set(read["lookup.allowed"]) & set(read["lookup.phase"])
    # Ansible trusts the strings of its own reading as templates, and the file's are plain
    # strings: so none of the defaults may be a template.
    defaults = [spec.get("default") for plugin in read.values() for spec in plugin.values()]
    assert not [default for default in defaults if "{{" in str(default)]


@pytest.mark.parametrize("plugin", PLUGINS)
def test_a_loaded_lookup_uses_the_files_definitions(collections_path: Path, plugin: str) -> None:
    used = probe(
        collections_path,
        f"""
        lookup_loader.get("overdue.emr.{plugin.split(".")[1]}")
        used = C.config.get_configuration_definitions("lookup", {MODULE.format(plugin)!r})
        # Ansible's own reading tags its strings (str subclasses); the file's are plain.
        plain = all(type(value) is str for spec in used.values() for value in spec.values()
                    if isinstance(value, str))
        print(json.dumps(used if plain else None))
        """,
    )
    assert used is not None, "Ansible read the definitions itself: the preload did not take"
    assert used == json.loads(DEFINITIONS.read_text(encoding="utf-8"))[plugin]


def test_a_plugin_the_file_does_not_name_is_left_to_ansible(collections_path: Path) -> None:
    found = probe(
        collections_path,
        """
        from ansible_collections.overdue.emr.plugins.plugin_utils import common
        module = "ansible_collections.overdue.emr.plugins.lookup.no_such_lookup"
        common.preload_option_definitions(module)
        print(json.dumps(C.config.has_configuration_definition("lookup", module)))
        """,
    )
    assert found is False


def test_an_older_fsm_package_without_the_preload_leaves_the_reading_to_ansible(
    collections_path: Path,
) -> None:
    found = probe(
        collections_path,
        """
        import types
        from ansible_collections.overdue.emr.plugins.plugin_utils import common
        common.plugin_glue = types.SimpleNamespace()  # an overdue-fsm older than the collection
        module = "ansible_collections.overdue.emr.plugins.lookup.allowed"
        common.preload_option_definitions(module)
        print(json.dumps(C.config.has_configuration_definition("lookup", module)))
        """,
    )
    assert found is False
