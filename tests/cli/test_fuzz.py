"""A fuzzer of the command line's entry point (issue 12): whatever the arguments, the
exit code is 0, 1 or 2, no traceback (nor "internal error") reaches the user, and
every run ends in under 5 s. Stores are files under a temporary directory, or
PostgreSQL URLs that go nowhere (port 1) or never parse; ``sync`` is left out, as
it would call the cloud.
"""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsm.cli import main

# CI's profile derandomizes these: the same cases every run (tests/conftest.py).
CLI_EXAMPLES = 300

COMMANDS = ["status", "check", "timeline", "diagram", "tables", "policy", "observe", "history",
            "list"]  # fmt: skip
CLUSTERS = [
    "c-1",
    "c-2",
    "c-b933c5aac8fe1a2b",
    "",
    "-c",
    "c 1",
    "c\x00",
    "\uff43-1",
    "c-" + "x" * 200,
]
INSTANTS = [
    "2026-01-01T00:00:00Z", "2026-01-01T00:00:00+08:00", "2026-01-01T00:00:00", "1767225600",
    "1767225600000", "0", "-1", "9999-12-31T23:59:59Z", "253402300799", "253402300800",
    "0001-01-01T00:00:00Z", "1e308", "nan", "inf", "+99999999999999999999999", "²", "٣", "",
    " ", "now", "2026-02-30T00:00:00Z", "2026-01-01T00:00:00.123456789Z", "\x00",
    "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00",
]  # fmt: skip
AMOUNTS = ["-5", "0", "100", "-11.19", "1,234.50", "1e9999", "NaN", "-inf", "²", "٣", "", "--1",
           "9" * 5000]  # fmt: skip
MILLIS = ["1767225600000", "1767225600", "0", "-1", "9" * 400, "1e20", "²", "x"]
NAMES = ["pay_as_you_go", "subscription", "PayAsYouGo", "Subscription", "payg", "", "active",
         "restricted", "overdue-grace", "scale_out", "submit_task", "view_cluster_info",
         "my_job", "release", "\x00", "ü"]  # fmt: skip
KEYS = ["job-42", "", " ", "k" * 300, "job-42#1", "\x00"]

VALUE_OPTIONS = {
    "--at": INSTANTS, "--now": INSTANTS, "--overdue-since": INSTANTS, "--expires-at": INSTANTS,
    "--released-at": INSTANTS, "--renewed-until": INSTANTS, "--expires-at-ms": MILLIS,
    "--balance": AMOUNTS, "--billing": NAMES, "--account": ["default", "acme", "", "a b", *NAMES],
    "--phase": NAMES, "--key": KEYS,
}  # fmt: skip
FLAGS = ["--json", "--dry-run", "--released", "--strict", "--help", "--version", "--bogus"]
POLICIES = {
    "good.yaml": b"grace: 2h\noperations:\n  my_job: task\n",
    "bare.yaml": b"grace: 24\n",
    "dup.yaml": b"grace: 24h\ngrace: 48h\n",
    "latin1.yaml": b"grace: caf\xe9\n",
    "nested.yaml": b"grace: " + b"[" * 2000 + b"]" * 2000 + b"\n",
    "laughs.yaml": b"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
    "loose.yaml": b"verdicts:\n  fee_generating:\n    suspended: allow\n",
    "huge-int.yaml": b"grace: " + b"9" * 5000 + b"\n",
    "list.yaml": b"- grace\n",
}


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OVERDUE_FSM_STORE", f"sqlite://{tmp_path}/default/clusters.db")
    monkeypatch.delenv("OVERDUE_FSM_POLICY", raising=False)
    monkeypatch.delenv("OVERDUE_FSM_NOW", raising=False)
    for name, content in POLICIES.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "dir.db").mkdir()
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 10)
    return {
        "--store": [
            f"sqlite://{tmp_path}/a/clusters.db", f"sqlite://{tmp_path}/a/clusters.db",
            f"sqlite://{tmp_path}/dir.db", f"sqlite://{tmp_path}/junk.db", "sqlite://relative.db",
            "postgresql://postgres@127.0.0.1:1/test", "postgresql://u@127.0.0.1:1/db?schema=a%0A",
            "postgresql://u@127.0.0.1:1/db?schema=pg_catalog", "mysql://x", "", "none",
            f"sqlite://{tmp_path}/a\x00b.db",
        ],
        "--policy": [str(tmp_path / name) for name in POLICIES]
        + [str(tmp_path / "absent.yaml"), str(tmp_path), "/dev/null", "p\x00.yaml", ""],
    }  # fmt: skip


def arguments(places: dict[str, list[str]]) -> st.SearchStrategy[list[str]]:
    options = {**VALUE_OPTIONS, **places}
    option = st.one_of(
        st.sampled_from(sorted(options)).flatmap(
            lambda name: st.sampled_from(options[name]).map(lambda value: [name, value])
        ),
        st.sampled_from(FLAGS).map(lambda flag: [flag]),
        st.text(max_size=12).map(lambda text: [text]),
    )
    return st.tuples(
        st.sampled_from(COMMANDS),
        st.lists(st.sampled_from(CLUSTERS + NAMES), max_size=2),
        st.lists(option, max_size=7),
    ).map(lambda parts: [parts[0], *parts[1], *(word for pair in parts[2] for word in pair)])


def run(argv: list[str]) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as leaving:  # argparse: usage errors, --help, --version
            code = leaving.code if isinstance(leaving.code, int) else 2
    return code, out.getvalue(), err.getvalue(), time.monotonic() - started


@settings(max_examples=CLI_EXAMPLES)
@given(data=st.data())
def test_the_command_line_never_fails_internally(
    places: dict[str, list[str]], data: st.DataObject
) -> None:
    argv = data.draw(arguments(places), label="argv")
    code, _, err, elapsed = run(argv)
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)
    assert elapsed < 5.0, (argv, elapsed)
