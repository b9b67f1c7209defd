"""``Record``: :class:`typing.NamedTuple` as a type checker sees it, built cheaply at import.

``class Event(Record): kind: EventKind; at: datetime`` is a NamedTuple in every
respect a caller sees (a ``collections.namedtuple`` with the class's methods,
docstring, defaults and ``__annotations__``). It only skips what
``typing.NamedTuple`` does besides: turning each annotation string into a
checked ``ForwardRef``, which compiles it; ``typing.get_type_hints`` resolves the
strings as it resolves the references. And where ``collections.namedtuple``
compiles the source of each class's ``__new__``, a Record renames the variables
of a ``__new__`` compiled with this module (one per number of fields). Both cost
about 0.1 ms a class, paid at import by every command and every forked Ansible
worker.
"""

from __future__ import annotations

import sys
from collections import namedtuple
from typing import TYPE_CHECKING, Any

__all__ = ["Record"]

if TYPE_CHECKING:
    from typing import NamedTuple as Record
else:
    from types import FunctionType

    try:
        from _collections import _tuplegetter
    except ImportError:  # another Python: what collections falls back to
        _tuplegetter = None

    # What typing.NamedTuple sets itself, never copied from the class body.
    _OWN = frozenset(("__module__", "__name__", "__annotations__"))
    _tuple_new = tuple.__new__

    def _new0(_cls):
        return _tuple_new(_cls, ())

    def _new1(_cls, a0):
        return _tuple_new(_cls, (a0,))

    def _new2(_cls, a0, a1):
        return _tuple_new(_cls, (a0, a1))

    def _new3(_cls, a0, a1, a2):
        return _tuple_new(_cls, (a0, a1, a2))

    def _new4(_cls, a0, a1, a2, a3):
        return _tuple_new(_cls, (a0, a1, a2, a3))

    def _new5(_cls, a0, a1, a2, a3, a4):
        return _tuple_new(_cls, (a0, a1, a2, a3, a4))

    def _new6(_cls, a0, a1, a2, a3, a4, a5):
        return _tuple_new(_cls, (a0, a1, a2, a3, a4, a5))

    def _new7(_cls, a0, a1, a2, a3, a4, a5, a6):
        return _tuple_new(_cls, (a0, a1, a2, a3, a4, a5, a6))

    def _new8(_cls, a0, a1, a2, a3, a4, a5, a6, a7):
        return _tuple_new(_cls, (a0, a1, a2, a3, a4, a5, a6, a7))

    def _new9(_cls, a0, a1, a2, a3, a4, a5, a6, a7, a8):
        return _tuple_new(_cls, (a0, a1, a2, a3, a4, a5, a6, a7, a8))

    def _new10(_cls, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9):
        return _tuple_new(_cls, (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9))

    def _new11(_cls, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10):
        return _tuple_new(_cls, (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10))

    def _new12(_cls, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11):
        return _tuple_new(_cls, (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11))

    def _new13(_cls, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12):
        return _tuple_new(_cls, (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12))

    def _new14(_cls, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13):
        return _tuple_new(_cls, (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13))

    def _new15(_cls, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14):
        return _tuple_new(_cls, (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14))

    def _new16(_cls, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15):
        return _tuple_new(
            _cls, (a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15)
        )

    # __new__ of each number of fields, compiled with this module: a class renames its
    # variables to its field names, which is what namedtuple compiles a source for.
    _NEW = [globals()[f"_new{n}"] for n in range(17)]
    _NEW_GLOBALS = {"_tuple_new": _tuple_new, "__builtins__": {}}

    def _fields_tuple(
        typename: str, field_names: tuple[str, ...], defaults: tuple[Any, ...], module: str
    ) -> Any:
        """``collections.namedtuple(typename, field_names, defaults=..., module=...)``.

        The same class (the same methods, docs, fields, repr and errors), but for
        ``__new__``; a name namedtuple would refuse, or too many fields, goes to it.
        """
        if (
            len(field_names) >= len(_NEW)
            or _tuplegetter is None
            or not all(name.isidentifier() and not name.startswith("_") for name in field_names)
            or len(set(field_names)) != len(field_names)
        ):
            return namedtuple(typename, field_names, defaults=defaults, module=module)
        field_names = tuple(map(sys.intern, field_names))
        typename = sys.intern(str(typename))
        num_fields = len(field_names)
        arg_list = ", ".join(field_names)
        if num_fields == 1:
            arg_list += ","
        repr_fmt = "(" + ", ".join(f"{name}=%r" for name in field_names) + ")"
        field_defaults = dict(
            reversed(list(zip(reversed(field_names), reversed(defaults), strict=False)))
        )
        tuple_new, _dict, _tuple, _len, _map, _zip = _tuple_new, dict, tuple, len, map, zip

        code = _NEW[num_fields].__code__.replace(
            co_varnames=("_cls", *field_names), co_name="__new__", co_qualname="__new__"
        )
        __new__ = FunctionType(code, _NEW_GLOBALS, "__new__", defaults)
        __new__.__doc__ = f"Create new instance of {typename}({arg_list})"

        @classmethod
        def _make(cls, iterable):
            result = tuple_new(cls, iterable)
            if _len(result) != num_fields:
                raise TypeError(f"Expected {num_fields} arguments, got {len(result)}")
            return result

        _make.__func__.__doc__ = f"Make a new {typename} object from a sequence or iterable"

        def _replace(self, /, **kwds):
            result = self._make(_map(kwds.pop, field_names, self))
            if kwds:
                raise ValueError(f"Got unexpected field names: {list(kwds)!r}")
            return result

        _replace.__doc__ = (
            f"Return a new {typename} object replacing specified fields with new values"
        )

        def __repr__(self):
            "Return a nicely formatted representation string"
            return self.__class__.__name__ + repr_fmt % self

        def _asdict(self):
            "Return a new dict which maps field names to their values."
            return _dict(_zip(self._fields, self))

        def __getnewargs__(self):
            "Return self as a plain tuple.  Used by copy and pickle."
            return _tuple(self)

        for method in (__new__, _make.__func__, _replace, __repr__, _asdict, __getnewargs__):
            method.__qualname__ = f"{typename}.{method.__name__}"

        class_namespace = {
            "__doc__": f"{typename}({arg_list})",
            "__slots__": (),
            "_fields": field_names,
            "_field_defaults": field_defaults,
            "__new__": __new__,
            "_make": _make,
            "_replace": _replace,
            "__repr__": __repr__,
            "_asdict": _asdict,
            "__getnewargs__": __getnewargs__,
            "__match_args__": field_names,
        }
        for index, name in enumerate(field_names):
            doc = sys.intern(f"Alias for field number {index}")
            class_namespace[name] = _tuplegetter(index, doc)
        result = type(typename, (tuple,), class_namespace)
        result.__module__ = module
        return result

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
            made = _fields_tuple(typename, tuple(annotations), tuple(defaults), ns["__module__"])
            made.__annotations__ = made.__new__.__annotations__ = annotations
            for key, value in ns.items():
                if key not in _OWN and key not in annotations:
                    setattr(made, key, value)
            return made

    Record = type.__new__(_RecordType, "Record", (), {"__module__": __name__})
