"""fsm.Policy behaves as the frozen dataclass its fields declare.

Its __init__, __repr__, __eq__ and __hash__ are written out by hand (generating them
cost every process at import); each is checked here against what
``@dataclass(frozen=True)`` generates for the same fields.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from datetime import timedelta

import pytest

from fsm import Policy


def _reference() -> type:
    """The class ``@dataclass(frozen=True)`` makes of Policy's fields (without its methods)."""
    specs = []
    for item in dataclasses.fields(Policy):
        options: dict[str, object] = {
            "init": item.init,
            "repr": item.repr,
            "compare": item.compare,
            "hash": item.hash,
        }
        if item.default is not dataclasses.MISSING:
            options["default"] = item.default
        if item.default_factory is not dataclasses.MISSING:
            options["default_factory"] = item.default_factory
        specs.append((item.name, item.type, dataclasses.field(**options)))  # type: ignore[call-overload]
    return dataclasses.make_dataclass("Policy", specs, frozen=True)


REFERENCE = _reference()


def _init_values(policy: Policy) -> dict[str, object]:
    return {f.name: getattr(policy, f.name) for f in dataclasses.fields(policy) if f.init}


POLICIES = [
    Policy(),
    Policy.default(),
    Policy(grace=timedelta(hours=2), source="tuned"),
    Policy.from_mapping(
        {
            "warn_before": ["3d"],
            "operations": {"nightly_etl": "task"},
            "verdicts": {"om": {"active": "warn"}},
        },
        source="file.yml",
    ),
]


def test_it_is_a_frozen_dataclass() -> None:
    assert dataclasses.is_dataclass(Policy)
    assert Policy.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert [f.name for f in dataclasses.fields(Policy)] == [
        f.name for f in dataclasses.fields(REFERENCE)
    ]
    assert Policy.__match_args__ == REFERENCE.__match_args__  # type: ignore[attr-defined]


def test_the_constructor_takes_what_the_generated_one_takes() -> None:
    ours = inspect.signature(Policy).parameters
    theirs = inspect.signature(REFERENCE).parameters
    assert list(ours) == list(theirs)
    for name, parameter in ours.items():
        assert parameter.kind is theirs[name].kind
        assert repr(parameter.default) == repr(theirs[name].default), name
    with pytest.raises(TypeError):
        Policy(*[timedelta(hours=1)] * 6, (), {}, {}, "x", "one too many")  # type: ignore[misc]


@pytest.mark.parametrize("policy", POLICIES, ids=range(len(POLICIES)))
def test_repr_equality_and_hash_are_the_generated_ones(policy: Policy) -> None:
    reference = REFERENCE(**_init_values(policy))
    assert repr(policy) == repr(reference)
    assert policy == Policy(**_init_values(policy))  # type: ignore[arg-type]
    assert policy != dataclasses.replace(policy, source="elsewhere")
    assert policy != reference  # another class: not equal, as a dataclass
    assert policy.__eq__(object()) is NotImplemented
    # The mappings are read-only proxies, unhashable: so is the policy, as generated.
    with pytest.raises(TypeError) as ours:
        hash(policy)
    with pytest.raises(TypeError) as theirs:
        hash(reference)
    assert str(ours.value) == str(theirs.value)


def test_it_is_immutable_with_the_generated_errors() -> None:
    policy = Policy()
    reference = REFERENCE()
    for name in ("grace", "source", "_verdicts", "unknown"):
        with pytest.raises(dataclasses.FrozenInstanceError) as ours:
            setattr(policy, name, None)
        with pytest.raises(dataclasses.FrozenInstanceError) as theirs:
            setattr(reference, name, None)
        assert str(ours.value) == str(theirs.value)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(policy, name)


def test_defaults_replace_and_copy() -> None:
    policy = Policy()
    assert _init_values(policy) == _init_values(REFERENCE())  # type: ignore[arg-type]
    assert Policy().verdict_overrides is not Policy().verdict_overrides  # a factory, per policy
    changed = dataclasses.replace(policy, grace=timedelta(hours=3))
    assert changed.grace == timedelta(hours=3) and changed.threshold("grace") == timedelta(hours=3)
    tuned = POLICIES[-1]
    again = copy.copy(tuned)
    assert again == tuned and again.as_dict() == tuned.as_dict()
    # Its read-only mappings cannot be pickled, so neither can a policy, as ever.
    with pytest.raises(TypeError):
        pickle.dumps(tuned)
