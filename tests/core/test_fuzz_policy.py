"""A fuzzer of ``Policy.load`` (issue 12): whatever the file holds, it loads or raises
:class:`fsm.PolicyError` (the command line's exit 2), never anything else, and in
under 5 s. Files come three ways: policy-shaped documents with odd values, text
mutated from YAML's own punctuation, and raw bytes."""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import fsm
from fsm.table import OPERATIONS, VERDICT_COLUMNS, Category, Verdict

# CI's profile derandomizes these: the same cases every run (tests/conftest.py).
POLICY_EXAMPLES = 400

KEYS = ["grace", "restrict_after", "purge_after", "subscription_retention", "future_tolerance",
        "operations", "verdicts", "grace ", "Grace", "purgeafter"]  # fmt: skip
SCALARS = st.one_of(
    st.sampled_from(["24h", "15d", "60d", "2w", "1d12h", "90m", "3600s", "0s", "-1h", "24",
                     "1e400d", "99999999999d", "²h", "", "allow", "deny", "warn", "task"]),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=20),
)  # fmt: skip
COLUMNS = [column.name for column in VERDICT_COLUMNS] + ["overdue_grace", "overdue-grace", "x"]
VERDICTS = st.sampled_from([str(v) for v in Verdict] + ["maybe", ""])
DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(KEYS[:5], SCALARS),
        "operations": st.dictionaries(
            st.sampled_from([*sorted(OPERATIONS)[:3], "my_job", "Bad-Name", "x" * 70]),
            st.sampled_from([str(c) for c in Category] + ["nope"]),
            max_size=4,
        ),
        "verdicts": st.dictionaries(
            st.sampled_from([str(c) for c in Category] + ["billing"]),
            st.dictionaries(st.sampled_from(COLUMNS), VERDICTS, max_size=4),
            max_size=3,
        ),
        "purgeafter": SCALARS,
    },
)
PUNCTUATION = "[]{}&*!|>:-#,'\"\n\t ?%@`"
TEXT = st.lists(
    st.sampled_from([*PUNCTUATION, "grace", "24h", "a", "1", "verdicts", "  ", "&a", "*a"]),
    max_size=200,
).map("".join)


def documents() -> st.SearchStrategy[bytes]:
    dumped = DOCUMENTS.map(
        lambda doc: yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8")
    )
    return st.one_of(dumped, TEXT.map(lambda text: text.encode("utf-8")), st.binary(max_size=300))


@settings(max_examples=POLICY_EXAMPLES)
@given(content=documents())
def test_policy_load_loads_or_refuses_and_nothing_else(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(content)
    started = time.monotonic()
    try:
        policy = fsm.Policy.load(path)
    except fsm.PolicyError as refused:
        message = str(refused)
        assert "policy" in message or str(path) in message  # it names the file or the key
    else:
        assert policy.source == str(path)
        # Whatever was loaded never lets fee-generating work run outside active.
        for column in VERDICT_COLUMNS:
            if str(column.phase) != "active":
                assert policy.cell(Category.FEE_GENERATING, column) is Verdict.DENY
    assert time.monotonic() - started < 5.0
