# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Glue shared by every overdue.emr plugin: settings, the fsm import, stores, errors.

The plugins are faces: they parse what Ansible hands them, call the domain
(``fsm``) and its store, and render. Nothing here derives a phase or a verdict.

The glue itself is ``fsm.plugin_glue``, in the package: Ansible's collection loader
compiles this file in every forked worker (it keeps no bytecode for a collection), so
it holds only what is Ansible's (the error classes, the ansible.cfg in force, how a
warning is shown), hands that to the glue and re-exports the glue's names.

Everything runs on the controller. A missing package is reported once, with the
command that installs it, when a plugin is used (the import sanity test runs without it).
"""

from __future__ import annotations

import traceback
from contextlib import suppress

from ansible.errors import AnsibleError, AnsibleLookupError

MISSING_FSM = (
    "the overdue.emr collection needs the Python package overdue-fsm on the controller "
    "(the machine that runs ansible-playbook); install it into the Python that runs Ansible: "
    "pip install overdue-fsm"
)
REPORT_BUGS_AT = "https://github.com/overdue-fsm/overdue-fsm/issues"


class OverdueError(AnsibleError):
    """An error the user can act on; its message says what to do."""


def config_file():
    """The ansible.cfg in force, or None."""
    from ansible import constants as C

    try:
        return C.config.get_config_value("CONFIG_FILE") or None
    except Exception:  # pylint: disable=broad-exception-caught
        return getattr(C.config, "_config_file", None)


def _config_file():
    return config_file()  # this module's, looked up on each use: tests replace it


def preload_option_definitions(module_name):
    """Hand Ansible the option definitions of the plugin ``module_name`` from
    option_definitions.json, read as Ansible reads them (`make option-definitions`).

    On a plugin's first load in a process, Ansible reads its option definitions from its
    DOCUMENTATION and fragments: it loads each fragment and parses all of them with its YAML
    loader. ansible-playbook loads a lookup afresh in every worker it forks, once per host,
    and that reading was about a third of what a guard added to a host's task. Ansible reads
    only a plugin it has no definitions for; when the file cannot give them, it reads them
    itself. tests/ansible/test_option_definitions.py holds the file equal to its reading.
    """
    with suppress(Exception):  # then Ansible reads them itself, as it always does
        from ansible import constants as C

        # ansible_collections.NAMESPACE.COLLECTION.plugins.TYPE.NAME: Ansible keeps a
        # collection plugin's definitions under its module's name.
        plugin_type, name = module_name.split(".")[4:]
        if not C.config.has_configuration_definition(plugin_type, module_name):
            definitions = _option_definitions()[f"{plugin_type}.{name}"]
            C.config.initialize_plugin_configuration_definitions(
                plugin_type, module_name, definitions
            )


_OPTION_DEFINITIONS = None  # option_definitions.json, read once per process


def _option_definitions():
    global _OPTION_DEFINITIONS  # pylint: disable=global-statement
    if _OPTION_DEFINITIONS is None:
        import json
        import os

        path = os.path.join(os.path.dirname(__file__), "option_definitions.json")
        with open(path, encoding="utf-8") as definitions:
            _OPTION_DEFINITIONS = json.load(definitions)
    return _OPTION_DEFINITIONS


def _warning(message):
    from ansible.utils.display import Display

    Display().warning(message)


try:
    import fsm
    from fsm import plugin_glue
except ImportError:
    fsm = plugin_glue = None
    HAS_FSM = False
    FSM_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_FSM = True
    FSM_IMPORT_ERROR = None
    plugin_glue.bind(
        error=AnsibleError,
        overdue=OverdueError,
        lookup_error=AnsibleLookupError,
        config_file=_config_file,
        warning=_warning,
    )
    # This module's names, for the plugins (and ``_INI_CACHE``, for tests).
    for _name in (*plugin_glue.__all__, "_INI_CACHE"):
        globals()[_name] = getattr(plugin_glue, _name)
    # Named here too: writer_or_rehearsal reads them from this module.
    writer = plugin_glue.writer
    rehearsal = plugin_glue.rehearsal

# The store (with sqlite3 and the rest of fsm) is imported by the first plugin call that
# uses one: a forked worker answering a stateless lookup never pays for it.
fsm_store = None


def require_fsm():
    """The fsm package, or one clear error telling how to install it."""
    if not HAS_FSM:
        raise OverdueError(MISSING_FSM)
    return fsm


def require_store():
    global fsm_store  # pylint: disable=global-statement
    require_fsm()
    if fsm_store is None:
        try:
            from fsm import store
        except ImportError:
            raise OverdueError(
                "the installed overdue-fsm has no store (fsm.store); "
                "upgrade it: pip install -U overdue-fsm"
            ) from None
        fsm_store = store
    return fsm_store


def writer_or_rehearsal(settings, check_mode):
    """The rehearsal store in check mode, else the writer (this module's: tests replace it)."""
    return rehearsal(settings) if check_mode else writer(settings)


def user_errors(error_class=OverdueError, prefix=None):
    """Turn everything raised inside into ``error_class`` with a message for people
    (``fsm.plugin_glue.user_errors``); without the fsm package, its one error."""
    if not HAS_FSM:
        return _missing_fsm(error_class, prefix)
    return plugin_glue.user_errors(error_class, prefix)


class _missing_fsm:  # pylint: disable=invalid-name
    """What ``user_errors`` is without the fsm package: every error says how to install it."""

    def __init__(self, error_class, prefix):
        self.error_class = error_class
        self.lead = "" if prefix is None else prefix + ": "

    def __enter__(self):
        return None

    def __exit__(self, kind, value, tb):
        if kind is None or not issubclass(kind, Exception):
            return False
        if isinstance(value, self.error_class):
            return False
        raise self.error_class(self.lead + MISSING_FSM) from None
