"""What a command or ``import fsm`` loads: only what it needs (behaviour, not timing).

A guard runs ``overdue-fsm check`` (or the lookups) once per host: ``import fsm`` imports
no module of the package until a name is used, PyYAML is read only with a policy file,
and the diagram's ``transitions.extensions`` (with asyncio) only for ``diagram``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import fsm
from fsm import cli

# Never loaded by `import fsm`, nor by a stateless check.
HEAVY = ("yaml", "transitions.extensions", "asyncio", "fsm.diagram", "fsm.store", "sqlite3")


def _loaded_after(code: str) -> list[str]:
    """The modules of HEAVY (and every fsm module) loaded after CODE, in a fresh interpreter."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OVERDUE_FSM_")}
    probe = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        print(json.dumps(sorted(m for m in sys.modules
                                if m in {HEAVY!r} or m == "fsm" or m.startswith("fsm."))))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    return list(json.loads(done.stdout.splitlines()[-1]))


def test_import_fsm_imports_no_module_of_the_package() -> None:
    assert _loaded_after("import fsm") == ["fsm"]


def test_a_stateless_check_loads_no_yaml_store_or_diagram() -> None:
    loaded = _loaded_after(
        """
        import contextlib, io
        from fsm.cli import main
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = main(["check", "c-1", "scale_out", "--billing", "pay_as_you_go"])
        assert code == 0, code
        """
    )
    assert "fsm.lifecycle" in loaded  # it did evaluate the cluster
    assert not [name for name in loaded if name in HEAVY]


def test_the_diagram_command_still_loads_the_diagram() -> None:
    loaded = _loaded_after(
        """
        import contextlib, io
        from fsm.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["diagram"]) == 0
        """
    )
    assert "fsm.diagram" in loaded


@pytest.mark.parametrize("name", fsm.__all__)
def test_every_public_name_resolves_to_its_home(name: str) -> None:
    value = getattr(fsm, name)
    namespace: dict[str, object] = {}
    exec(f"from fsm import {name}", namespace)
    assert namespace[name] is value
    assert name in dir(fsm)
    if name != "__version__":
        assert getattr(sys.modules[f"fsm.{fsm._HOME_OF[name]}"], name) is value


def test_star_import_and_unknown_names() -> None:
    namespace: dict[str, object] = {}
    exec("from fsm import *", namespace)
    assert set(fsm.__all__) <= set(namespace)
    assert set(fsm.__all__) == {*fsm._HOME_OF, "__version__"}
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = fsm.nothing_here  # type: ignore[attr-defined]
    # The modules an eager `import fsm` used to import stay reachable as attributes.
    assert fsm.lifecycle.Cluster is fsm.Cluster  # type: ignore[attr-defined]


def _subparsers(parser: object) -> dict[str, object]:
    for action in parser._actions:  # type: ignore[attr-defined]
        if action.choices and isinstance(action.choices, dict):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_every_command_alone_parses_and_helps_as_in_the_whole_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    whole = _subparsers(cli.build_parser())
    assert tuple(whole) == cli.COMMANDS
    for command in cli.COMMANDS:
        alone = _subparsers(cli.build_parser(command))
        assert list(alone) == [command]
        assert alone[command].format_help() == whole[command].format_help()  # type: ignore[attr-defined]


def test_import_fsm_store_loads_no_engine_nor_write_path() -> None:
    loaded = _loaded_after("import fsm.store")
    assert "fsm.store" in loaded
    assert not {"fsm.store.base", "fsm.store.sqlite", "fsm.store.results", "sqlite3"} & {*loaded}


def test_every_name_of_fsm_store_resolves() -> None:
    import fsm.store
    from fsm.store import base, results, sqlite

    for name in fsm.store.__all__:
        assert getattr(fsm.store, name) is not None
        assert name in dir(fsm.store)
    for name in ("AccountSync", "ObserveResult", "RecordResult", "StoredEvent", "WarningEntry"):
        assert getattr(fsm.store, name) is getattr(base, name) is getattr(results, name)
    assert fsm.store.Store is base.Store
    assert sqlite.MIGRATIONS[1] == sqlite._migrations()[1]  # built on first use, then kept
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = fsm.store.nothing_here  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = base.nothing_here  # type: ignore[attr-defined]
