"""Reading a policy file's YAML: PyYAML's safe loader, with depth, alias and key limits.

Imported by :meth:`fsm.policy.Policy.load` only, so that nothing but reading a policy
file pays for importing PyYAML.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import PolicyError
from .policy import MAX_POLICY_ALIASES, MAX_POLICY_DEPTH


class _PolicyLoader(yaml.SafeLoader):
    """The safe loader, refusing duplicated keys, deep nesting and many aliases."""

    def __init__(self, text: str, where: str) -> None:
        super().__init__(text)
        self.where = where
        self.aliases = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_POLICY_ALIASES:
                raise PolicyError(
                    "policy", self.where, f"at most {MAX_POLICY_ALIASES} YAML aliases (*name)"
                )
        self.depth += 1
        try:
            if self.depth > MAX_POLICY_DEPTH:
                raise PolicyError(
                    "policy", self.where, f"YAML nested at most {MAX_POLICY_DEPTH} levels deep"
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicated = key in seen
                seen.add(key)
            except TypeError:
                continue  # unhashable: the base class says so
            if duplicated:
                line = key_node.start_mark.line + 1
                raise PolicyError(
                    f"{self.where}: {key}", key, f"each key once (it is repeated at line {line})"
                )
        return super().construct_mapping(node, deep=deep)


def _flow_depth(text: str) -> int:
    """How deep ``[`` and ``{`` nest, counted plainly (quotes and comments included).

    PyYAML's scanner reads a flow collection to its end before composing it, in
    time growing with the square of its depth: deep nesting is refused first.
    """
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}" and depth:
            depth -= 1
    return deepest


def parse_yaml(text: str, where: str) -> object:
    """The document in TEXT (the file WHERE), or a PolicyError saying what is wrong."""
    if _flow_depth(text) > MAX_POLICY_DEPTH:
        raise PolicyError("policy", where, f"YAML nested at most {MAX_POLICY_DEPTH} levels deep")
    loader: _PolicyLoader | None = None
    try:
        loader = _PolicyLoader(text, where)  # reads the text: may refuse a character
        return loader.get_single_data()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise PolicyError("policy", where, f"valid YAML{at}") from None
    except PolicyError:
        raise
    except (ValueError, OverflowError, RecursionError) as err:
        # A number too long to convert, say: the file is not a policy.
        raise PolicyError("policy", where, f"YAML of plain values ({err})") from None
    finally:
        if loader is not None:
            loader.dispose()
