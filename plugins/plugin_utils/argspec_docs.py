# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How an action's argument spec is read from its module's documentation.

``argspec`` takes each spec from argument_specs.json; this reading made it (through
Ansible's own documentation parser, see tests/ansible/option_definitions.py) and
serves a module the file does not name.
"""

from __future__ import annotations

from ansible.errors import AnsibleError
from ansible_collections.overdue.emr.plugins.plugin_utils.argspec import with_no_log

# What an option's documentation says that argument validation reads too.
SPEC_KEYS = ("type", "required", "default", "choices", "elements", "aliases")


def from_options(options, no_log=()):
    """An ``argument_spec`` from documented ``options`` (suboptions included).

    ``no_log`` names the options whose values are secrets: documentation has no
    key for it, and validation must know them to keep them out of its errors.
    """
    return with_no_log(spec_of(options), no_log)


def spec_of(options):
    """The ``argument_spec`` documented ``options`` make, without ``no_log``."""
    spec = {}
    for name, documented in options.items():
        option = {key: documented[key] for key in SPEC_KEYS if key in documented}
        choices = option.get("choices")
        if isinstance(choices, dict):  # documented as {choice: description}
            option["choices"] = list(choices)
        if "suboptions" in documented:
            option["options"] = spec_of(documented["suboptions"])
        spec[name] = option
    return spec


def documented_options(name):
    """The options module ``name`` documents, its doc fragments' merged in.

    What ``ansible.utils.plugin_docs.get_docstring`` makes of the options, read as a
    spec needs them: each action runs in a forked worker, which would otherwise parse
    the whole documentation (examples, return values, every fragment) with Ansible's
    pure-Python YAML loader on every task. Here the module's ``DOCUMENTATION`` and its
    fragments' are loaded with PyYAML's C loader when there is one, and merged as
    ``add_fragments`` merges them: an option the module documents itself keeps its own
    keys over a fragment's (a test holds the two readings equal).
    """
    from ansible.plugins.loader import fragment_loader, module_loader

    found = module_loader.find_plugin_with_context(name)
    if not found.resolved:
        raise AnsibleError(
            "the documentation of the module %s is missing; reinstall the collection" % name
        )
    doc = _yaml(_documentation(found.plugin_resolved_path)) or {}
    options = dict(doc.get("options") or {})
    fragments = doc.get("extends_documentation_fragment") or []
    if isinstance(fragments, str):
        fragments = fragments.split(",")
    for slug in fragments:
        fragment_name, fragment_var = slug.strip(), "DOCUMENTATION"
        fragment = fragment_loader.get(fragment_name)
        if fragment is None and "." in slug:
            fragment_name, fragment_var = slug.strip().rsplit(".", 1)
            fragment_var = fragment_var.upper()
            fragment = fragment_loader.get(fragment_name)
        text = None if fragment is None else getattr(fragment, fragment_var, None)
        if text is None:
            raise AnsibleError("unknown doc_fragment(s) in the module %s: %s" % (name, slug))
        for option, documented in ((_yaml(text) or {}).get("options") or {}).items():
            options[option] = {**documented, **options[option]} if option in options else documented
    return options


def _documentation(path):
    """The ``DOCUMENTATION`` string of a module file, read as Ansible reads it (AST)."""
    import ast

    with open(path, "rb") as source:
        tree = ast.parse(source.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "DOCUMENTATION" for target in node.targets
        ):
            return node.value.value
    return None


def _yaml(text):
    import yaml

    if text is None:
        return None
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
