"""Policy files that are wrong, huge or hostile: each refused fast, naming what is wrong."""

from __future__ import annotations

import time
from pathlib import Path
from typing import BinaryIO

import pytest

import fsm
import fsm.policy
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
    # Not a speed target: a bound far above the milliseconds a refusal takes, that an
    # expansion (9**9 aliases, say) or a quadratic scan would still exceed by minutes.
    assert time.monotonic() - started < 10.0
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


class _CountingFile:
    """A file that counts the bytes read from it."""

    def __init__(self, file: BinaryIO, counts: list[int]) -> None:
        self._file = file
        self._counts = counts

    def __enter__(self) -> _CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._counts.append(len(data))
        return data


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every read :meth:`fsm.Policy.load` makes of its file."""
    counts: list[int] = []

    def counting_open(path: str | Path, mode: str = "r") -> _CountingFile:
        assert mode == "rb"
        return _CountingFile(open(path, mode), counts)

    monkeypatch.setattr(fsm.policy, "open", counting_open, raising=False)
    return counts


def test_a_file_over_the_size_limit_is_refused_unread_and_unparsed(
    tmp_path: Path, reads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    import fsm.policy_yaml

    def never(text: str, where: str) -> object:
        raise AssertionError("a file over the limit was parsed")

    monkeypatch.setattr(fsm.policy_yaml, "parse_yaml", never)
    path = tmp_path / "big.yaml"
    with open(path, "wb") as file:
        file.truncate(8 * 1024**3)  # sparse: 8 GiB, which reading whole would take seconds
    with pytest.raises(fsm.PolicyError, match=f"at most {MAX_POLICY_BYTES // 1024} KiB"):
        fsm.Policy.load(path)
    assert sum(reads) == MAX_POLICY_BYTES + 1


def test_a_file_just_under_the_limit_loads_in_one_read(tmp_path: Path, reads: list[int]) -> None:
    path = tmp_path / "long.yaml"
    lines = ["grace: 24h\n", "operations:\n"]
    lines += [f"  job_{n:05d}: task\n" for n in range(2000)]
    text = "".join(lines)
    assert len(text) < MAX_POLICY_BYTES
    path.write_text(text, encoding="utf-8")
    policy = fsm.Policy.load(path)
    assert policy.category("job_01999") == "task"
    assert reads == [len(text)]


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
