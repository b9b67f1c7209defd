# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The argument spec of an action plugin, derived from its module's documentation.

The modules of this collection are documentation only; the action plugin of
the same name does the work. As ansible.utils' ``validate`` action does
(``AnsibleArgSpecValidator`` with ``schema_format="doc"``), the options are
written once, in ``plugins/modules/<name>.py`` and the doc fragments it
extends, and the spec the task arguments are validated with is read from there.
"""

from __future__ import annotations

from ansible.errors import AnsibleError

# What an option's documentation says that argument validation reads too.
SPEC_KEYS = ("type", "required", "default", "choices", "elements", "aliases")

_SPECS = {}


def from_options(options, no_log=()):
    """An ``argument_spec`` from documented ``options`` (suboptions included).

    ``no_log`` names the options whose values are secrets: documentation has no
    key for it, and validation must know them to keep them out of its errors.
    """
    spec = {}
    for name, documented in options.items():
        option = {key: documented[key] for key in SPEC_KEYS if key in documented}
        choices = option.get("choices")
        if isinstance(choices, dict):  # documented as {choice: description}
            option["choices"] = list(choices)
        if "suboptions" in documented:
            option["options"] = from_options(documented["suboptions"], no_log)
        if name in no_log:
            option["no_log"] = True
        spec[name] = option
    return spec


def of_module(name, no_log=()):
    """The ``argument_spec`` of module ``name`` (a FQCN), from its documentation.

    Read once per process: the documentation does not change while Ansible runs.
    """
    key = (name, tuple(no_log))
    spec = _SPECS.get(key)
    if spec is None:
        from ansible.plugins.loader import fragment_loader, module_loader
        from ansible.utils.plugin_docs import get_docstring

        found = module_loader.find_plugin_with_context(name)
        if not found.resolved:
            raise AnsibleError(
                "the documentation of the module %s is missing; reinstall the collection" % name
            )
        doc = get_docstring(found.plugin_resolved_path, fragment_loader, is_module=True)[0]
        spec = from_options(doc.get("options") or {}, no_log)
        _SPECS[key] = spec
    return spec
