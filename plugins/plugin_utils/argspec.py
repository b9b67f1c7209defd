# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec of an action plugin, derived from its module's documentation.

The modules of this collection are documentation only; the action plugin of
the same name does the work. As ansible.utils' ``validate`` action does
(``AnsibleArgSpecValidator`` with ``schema_format="doc"``), the options are
written once, in ``plugins/modules/<name>.py`` and the doc fragments it
extends, and the spec the task arguments are validated with is read from there:
beforehand, into argument_specs.json, which is what an action reads.

Ansible's collection loader compiles this file from source in every forked worker,
once per task and host, so it holds only what a worker runs; the reading of the
documentation itself is ``argspec_docs``, imported when a module is not in the file
(its names are this module's too).
"""

from __future__ import annotations

import json
import os

# Every module's spec, from Ansible's reading of its documentation (no no_log): written by
# `make option-definitions`, held equal to that reading by tests/ansible/test_argspec.py.
ARGUMENT_SPECS = os.path.join(os.path.dirname(__file__), "argument_specs.json")

_SPECS = {}
_STORED = []  # the file's specs, read once per process
_DOCS = ("SPEC_KEYS", "documented_options", "from_options", "spec_of")


def of_module(name, no_log=()):
    """The ``argument_spec`` of module ``name`` (a FQCN), from its documentation.

    Read once per process: the documentation does not change while Ansible runs. Each
    action runs in a forked worker, once per task and host, where reading the
    documentation and loading its fragments cost 6-8 ms of CPU; the worker takes the spec
    from argument_specs.json, the same reading made beforehand. A module the file does
    not name is read from its documentation.
    """
    key = (name, tuple(no_log))
    spec = _SPECS.get(key)
    if spec is None:
        stored = _stored_specs().get(name)
        if stored is None:
            docs = _docs()
            stored = docs.spec_of(docs.documented_options(name))
        spec = with_no_log(stored, no_log)
        _SPECS[key] = spec
    return spec


def _stored_specs():
    if not _STORED:
        try:
            with open(ARGUMENT_SPECS, encoding="utf-8") as specs:
                _STORED.append(json.load(specs))
        except (OSError, ValueError):
            _STORED.append({})  # then each module's documentation is read
    return _STORED[0]


def with_no_log(spec, no_log):
    """A copy of ``spec`` where the options named in ``no_log`` (at any depth) are secrets."""
    marked = {}
    for name, option in spec.items():
        option = dict(option)
        if "options" in option:
            option["options"] = with_no_log(option["options"], no_log)
        if name in no_log:
            option["no_log"] = True
        marked[name] = option
    return marked


def _docs():
    from ansible_collections.overdue.emr.plugins.plugin_utils import argspec_docs

    return argspec_docs


def __getattr__(name):
    if name in _DOCS:
        return getattr(_docs(), name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
