"""``Record``: :class:`typing.NamedTuple` as a type checker sees it, built cheaply at import.

``class Event(Record): kind: EventKind; at: datetime`` is a NamedTuple in every
respect a caller sees (a ``collections.namedtuple`` with the class's methods,
docstring, defaults and ``__annotations__``). It only skips what
``typing.NamedTuple`` does besides: turning each annotation string into a
checked ``ForwardRef``, which compiles it. That costs about 0.1 ms a class,
paid at import by every command and every forked Ansible worker;
``typing.get_type_hints`` resolves the strings as it resolves the references.
"""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING, Any

__all__ = ["Record"]

if TYPE_CHECKING:
    from typing import NamedTuple as Record
else:
    # What typing.NamedTuple sets itself, never copied from the class body.
    _OWN = frozenset(("__module__", "__name__", "__annotations__"))

    class _RecordType(type):
        """Makes each class written ``class X(Record)`` a namedtuple (see the module)."""

        def __new__(mcls, typename: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
            if bases != (Record,):
                raise TypeError("a Record class derives from Record alone")
            annotations = dict(ns.get("__annotations__", {}))
            defaults = []
            for name in annotations:
                if name in ns:
                    defaults.append(ns[name])
                elif defaults:
                    raise TypeError(
                        f"Non-default namedtuple field {name} cannot follow default field"
                        f"{'s' if len(defaults) > 1 else ''} "
                        + ", ".join(n for n in annotations if n in ns)
                    )
            made = namedtuple(typename, annotations, defaults=defaults, module=ns["__module__"])
            made.__annotations__ = made.__new__.__annotations__ = annotations
            for key, value in ns.items():
                if key not in _OWN and key not in annotations:
                    setattr(made, key, value)
            return made

    Record = type.__new__(_RecordType, "Record", (), {"__module__": __name__})
