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

import os
import traceback

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


def preload_option_definitions(module_name):
    """Hand Ansible the option definitions of the lookup ``module_name`` from
    option_definitions.json, Ansible's own reading of them (``fsm.plugin_glue`` says why);
    without the fsm package, or with one older than this collection, Ansible reads them."""
    preload = getattr(plugin_glue, "preload_option_definitions", None)
    if preload is not None:
        from ansible import constants as C

        path = os.path.join(os.path.dirname(__file__), "option_definitions.json")
        preload(C.config, module_name, path)


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
