"""Policy files that are wrong, huge or hostile: each refused fast, naming what is wrong."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import fsm
from fsm.policy import MAX_POLICY_BYTES

LAUGHS = (
    "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(
        f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "grace: *i\n"
)


@pytest.mark.parametrize(
    ("name", "content", "named"),
    [
        ("duplicated-key", "grace: 24h\nrestrict_after: 15d\ngrace: 2d\n", "grace"),
        (
            "duplicated-nested-key",
            "verdicts:\n  task:\n    suspended: deny\n    suspended: allow\n",
            "suspended",
        ),
        ("bare-number", "grace: 24\n", "a unit"),
        ("bare-number-quoted", "grace: '24'\n", "a unit"),
        ("bare-float", "grace: 1.5\n", "a unit"),
        (
            "fee-generating-allowed-when-suspended",
            "purge_after: 36500d\nverdicts:\n  fee_generating:\n    suspended: allow\n",
            "suspended",
        ),
        (
            "fee-generating-warned-when-restricted",
            "verdicts:\n  fee_generating:\n    restricted: warn\n",
            "restricted",
        ),
        (
            "fee-generating-allowed-in-grace",
            "verdicts:\n  fee_generating:\n    overdue_grace: allow\n",
            "overdue_grace",
        ),
        ("huge-integer", "grace: " + "9" * 5000 + "\n", "policy"),
        ("deeply-nested", "grace: " + "[" * 5000 + "]" * 5000 + "\n", "nested"),
        ("billion-laughs", LAUGHS, "aliases"),
    ],
)
def test_bad_policy_is_refused_fast_naming_what_is_wrong(
    tmp_path: Path, name: str, content: str, named: str
) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(content, encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(fsm.PolicyError) as caught:
        fsm.Policy.load(path)
    assert time.monotonic() - started < 1.0
    assert named in str(caught.value)


def test_a_duplicated_key_says_where_it_repeats(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("grace: 24h\ngrace: 2d\n", encoding="utf-8")
    with pytest.raises(fsm.PolicyError, match="repeated at line 2"):
        fsm.Policy.load(path)


def test_a_policy_may_not_allow_fee_generating_work_outside_active() -> None:
    with pytest.raises(fsm.PolicyError, match="verdicts: fee_generating: suspended") as caught:
        fsm.Policy.from_mapping({"verdicts": {"fee_generating": {"suspended": "allow"}}})
    assert "every phase but active" in str(caught.value)
    # Tightening stays possible, and active may still be denied.
    tight = fsm.Policy.from_mapping({"verdicts": {"fee_generating": {"active": "deny"}}})
    assert str(tight.as_dict()["verdicts"]["fee_generating"]["active"]) == "deny"


def test_a_file_over_the_size_limit_is_refused_fast(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("# padding\n" * (10 * 1024 * 1024 // 10), encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(fsm.PolicyError, match=f"at most {MAX_POLICY_BYTES // 1024} KiB"):
        fsm.Policy.load(path)
    assert time.monotonic() - started < 1.0


def test_a_file_just_under_the_limit_loads_in_under_a_second(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    lines = ["grace: 24h\n", "operations:\n"]
    lines += [f"  job_{n:05d}: task\n" for n in range(2000)]
    text = "".join(lines)
    assert len(text) < MAX_POLICY_BYTES
    path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    policy = fsm.Policy.load(path)
    assert time.monotonic() - started < 1.0
    assert policy.category("job_01999") == "task"


def test_a_non_utf8_policy_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"# caf\xe9\ngrace: 24h\n")
    with pytest.raises(fsm.PolicyError, match="UTF-8"):
        fsm.Policy.load(path)


def test_a_nul_in_the_policy_path_is_an_input_error() -> None:
    with pytest.raises(fsm.PolicyError, match="NUL"):
        fsm.Policy.load("/tmp/policy\0.yaml")


def test_durations_with_units_still_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("grace: 36h\nrestrict_after: 1d12h\n", encoding="utf-8")
    with pytest.raises(fsm.PolicyError):  # 1d12h is before 36h: the order still rules
        fsm.Policy.load(path)
    path.write_text("grace: 36h\nrestrict_after: 2w\n", encoding="utf-8")
    assert fsm.Policy.load(path).as_dict()["restrict_after"] == "14d"
