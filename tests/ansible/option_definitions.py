"""The plugins' option definitions as Ansible reads them, and the copies the plugins load.

Ansible reads a plugin's option definitions from its DOCUMENTATION and fragments on the
plugin's first load in a process; ansible-playbook loads a lookup afresh in every worker it
forks. The lookups hand it plugins/plugin_utils/option_definitions.json instead
(``common.preload_option_definitions``). Likewise each action validates its arguments with
the spec its module documents, read from plugins/plugin_utils/argument_specs.json
(``argspec.of_module``). `make option-definitions` rewrites both files from Ansible's own
reading; tests/ansible/test_option_definitions.py and test_argspec.py fail when they differ.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFINITIONS = REPO / "plugins" / "plugin_utils" / "option_definitions.json"
ARGUMENT_SPECS = REPO / "plugins" / "plugin_utils" / "argument_specs.json"
MODULES = tuple(sorted(path.stem for path in (REPO / "plugins" / "modules").glob("*.py")))
# The plugins that load the file: those a forked worker loads (an inventory plugin runs once,
# in ansible-playbook's main process).
PLUGINS = ("lookup.allowed", "lookup.cluster_of", "lookup.phase")
MODULE = "ansible_collections.overdue.emr.plugins.{}"


def probe(collections_path: Path, code: str, env: dict[str, str] | None = None) -> Any:
    """The JSON the last line of ``code`` prints, run in a fresh interpreter (the
    definitions, like the modules loaded, are process-wide) after Ansible's plugin loader
    is set up on ``collections_path``; ``C`` is Ansible's constants, ``lookup_loader`` its
    lookup loader."""
    script = textwrap.dedent(
        f"""
        import json, sys
        from ansible import constants as C
        from ansible.plugins.loader import init_plugin_loader, lookup_loader
        init_plugin_loader([{str(collections_path)!r}])
        """
    ) + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the probe failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def ansibles_reading(collections_path: Path) -> dict[str, Any]:
    """Each plugin's definitions as Ansible reads them for a plugin it has none for."""
    read = probe(
        collections_path,
        f"""
        read = {{}}
        for plugin in {PLUGINS!r}:
            short = plugin.split(".")[1]
            lookup_loader.get("overdue.emr." + short)
            module = {MODULE!r}.format(plugin)
            C.config._plugins["lookup"].pop(module, None)  # what the preload registered
            loaded = sys.modules[module]
            lookup_loader._load_config_defs(module, loaded, loaded.__file__)
            read[plugin] = C.config.get_configuration_definitions("lookup", module)
        print(json.dumps(read))
        """,
    )
    return dict(read)


def ansibles_argument_specs(collections_path: Path) -> dict[str, Any]:
    """Each module's argument spec (no ``no_log``), from the options Ansible's documentation
    parser reads of it."""
    read = probe(
        collections_path,
        f"""
        from ansible.plugins.loader import fragment_loader, module_loader
        from ansible.utils.plugin_docs import get_docstring
        from ansible_collections.overdue.emr.plugins.plugin_utils import argspec
        read = {{}}
        for module in {MODULES!r}:
            name = "overdue.emr." + module
            path = module_loader.find_plugin_with_context(name).plugin_resolved_path
            documented = get_docstring(path, fragment_loader, is_module=True)[0]["options"]
            read[name] = argspec.spec_of(documented)
        print(json.dumps(read))
        """,
    )
    return dict(read)


def render(definitions: dict[str, Any]) -> str:
    return json.dumps(definitions, indent=1, sort_keys=True) + "\n"


def _write() -> None:
    with tempfile.TemporaryDirectory(prefix="overdue-emr-collections-") as root:
        link = Path(root) / "ansible_collections" / "overdue"
        link.mkdir(parents=True)
        (link / "emr").symlink_to(REPO)
        DEFINITIONS.write_text(render(ansibles_reading(Path(root))), encoding="utf-8")
        ARGUMENT_SPECS.write_text(render(ansibles_argument_specs(Path(root))), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python -m tests.ansible.option_definitions --write")
    _write()
