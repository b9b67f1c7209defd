# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Glue shared by every overdue.emr plugin: settings, the fsm import, stores, errors.

The plugins are faces: they parse what Ansible hands them, call the domain
(``fsm``) and its store, and render. Nothing here derives a phase or a verdict.

The glue itself is ``fsm.plugin_glue``, in the package: Ansible's collection loader
compiles this file from source in every forked worker (it keeps no bytecode for a
collection's plugin_utils), so it holds only what is Ansible's (the error classes, the
ansible.cfg in force, how a warning is shown), hands that to the glue and re-exports
the glue's names. Keep it short: each line here is compiled once per task and host.

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


class OverdueError(AnsibleError):
    """An error the user can act on; its message says what to do."""


def config_file():
    """The ansible.cfg in force, or None."""
    from ansible import constants as C

    try:
        return C.config.get_config_value("CONFIG_FILE") or None
    except Exception:  # pylint: disable=broad-exception-caught
        return getattr(C.config, "_config_file", None)


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
        # This module's config_file, looked up on each use: tests replace it.
        config_file=lambda: config_file(),  # pylint: disable=unnecessary-lambda
        warning=_warning,
    )
    # This module's names, for the plugins (and ``_INI_CACHE``, for tests).
    for _name in (*plugin_glue.__all__, "_INI_CACHE"):
        globals()[_name] = getattr(plugin_glue, _name)


def preload_option_definitions(module_name):
    """Hand Ansible the option definitions of the lookup ``module_name`` from
    option_definitions.json, Ansible's own reading of them (``fsm.plugin_glue`` says why);
    without the fsm package, or with one older than this collection, Ansible reads them."""
    preload = getattr(plugin_glue, "preload_option_definitions", None)
    if preload is not None:
        from ansible import constants as C

        path = os.path.join(os.path.dirname(__file__), "option_definitions.json")
        preload(C.config, module_name, path)


def require_fsm():
    """The fsm package, or one clear error telling how to install it."""
    if not HAS_FSM:
        raise OverdueError(MISSING_FSM)
    return fsm


def require_store():
    """fsm.store (with sqlite3 and the rest of fsm), imported by the first plugin call that
    uses one: a forked worker answering a stateless lookup never pays for it."""
    require_fsm()
    try:
        from fsm import store
    except ImportError:
        raise OverdueError(
            "the installed overdue-fsm has no store (fsm.store); "
            "upgrade it: pip install -U overdue-fsm"
        ) from None
    return store


def user_errors(error_class=OverdueError, prefix=None):
    """Turn everything raised inside into ``error_class`` with a message for people
    (``fsm.plugin_glue.user_errors``); without the fsm package, its one error."""
    if HAS_FSM:
        return plugin_glue.user_errors(error_class, prefix)
    from ansible_collections.overdue.emr.plugins.plugin_utils import missing_fsm

    return missing_fsm.user_errors(error_class, prefix, MISSING_FSM)
