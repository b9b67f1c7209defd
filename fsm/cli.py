"""The ``overdue-fsm`` command line: parse, ask the domain and the store, render.

Exit codes: 0 success (``check``: allowed), 1 denied or not tracked (a guard
fails closed), 2 bad input or an unusable store, 3 an internal error.

This module is the entry point and holds the pieces every command shares; the
cloud commands live in :mod:`fsm.cli_cloud`, the fleet commands in :mod:`fsm.cli_fleet`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, NoReturn, TextIO

from . import __version__
from .decisions import Decision, deadline_ahead, decide, report
from .environment import POLICY_ENV, STORE_ENV
from .errors import REPORT_BUGS_AT, FsmError, InputError, NotTrackedError
from .policy import Policy
from .table import BILLING_SPELLINGS, Verdict
from .timeutil import format_time, parse_time, parse_time_ms, utcnow
from .values import ClusterState, parse_cluster_id, parse_phase, unheeded

if TYPE_CHECKING:
    from .store import Store

EXIT_OK, EXIT_DENIED, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
TABLES = ("phases", "transitions", "operations", "verdicts")
#: Every command, as ``overdue-fsm --help`` lists them.
COMMANDS: Final = (
    "status",
    "check",
    "timeline",
    "diagram",
    "tables",
    "policy",
    "observe",
    "history",
    "list",
    "warnings",
    "sync",
    "metrics",
    "export",
)

#: How a command module registers a subcommand: name, handler, help, parent parsers.
AddCommand = Callable[..., argparse.ArgumentParser]


class _Parser(argparse.ArgumentParser):
    """Usage errors are input errors: exit 2 with one line, as argparse does.

    Help and usage are sized to the terminal when they are printed, and only then:
    argparse also makes a formatter for each option added, just to check its metavar,
    and sizing those imports shutil (with zlib, bz2 and lzma) into every command.
    """

    _printing = 0  # help or usage being laid out (the formatters then ask the terminal)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message}\n")

    def format_usage(self) -> str:
        return self._sized(super().format_usage)

    def format_help(self) -> str:
        return self._sized(super().format_help)

    def _sized(self, layout: Callable[[], str]) -> str:
        _Parser._printing += 1
        try:
            return layout()
        finally:
            _Parser._printing -= 1

    def _get_formatter(self) -> argparse.HelpFormatter:
        if _Parser._printing:
            return super()._get_formatter()
        return self.formatter_class(prog=self.prog, width=80)  # type: ignore[call-arg]


# -- entry point -----------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # The parser of the command named, alone: a guard's `check` need not build (nor
    # import) every other command's options. Anything else (--help, --version, a
    # mistyped command) gets the whole parser, and says what it says.
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except NotTrackedError as err:
        return _failed(args, str(err), EXIT_DENIED)
    except FsmError as err:
        return _failed(args, str(err), EXIT_INPUT)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): not an error of ours.
        sys.stderr.close()
        return EXIT_OK
    except Exception as err:  # no traceback reaches a user
        return _failed(
            args,
            f"internal error ({type(err).__name__}: {err}); "
            f"please report it at {REPORT_BUGS_AT} with the command you ran",
            EXIT_INTERNAL,
        )


def _failed(args: argparse.Namespace, message: str, code: int) -> int:
    """Say why a command failed: on stderr, and on stdout as JSON when --json was given.

    ``check`` answers in its decision shape (allowed false, action fail, the error);
    every other command answers ``{"error": MESSAGE, "exit_code": CODE}``.
    """
    if args.handler is _check:
        fail(f"{args.operation} is denied: {message}")
    else:
        fail(message)
    if getattr(args, "json", False):
        if args.handler is _check:
            print_json(_decision_json(_undecided(args, message), error=message))
        else:
            print_json({"error": message, "exit_code": code})
    return code


def fail(message: str) -> None:
    """Say MESSAGE on stderr, as every command says why it failed."""
    print(f"overdue-fsm: {message}", file=sys.stderr)


# -- arguments ----------------------------------------------------------------------


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of COMMAND (one of COMMANDS) alone."""

    def wanted(name: str) -> bool:
        return command is None or name == command

    parser = _Parser(
        prog="overdue-fsm",
        description=(
            "Where an Alibaba Cloud EMR cluster is on the overdue road "
            "(active, overdue_grace, suspended, restricted, purged, released), "
            "and which operations may run on it."
        ),
        epilog=(
            "Exit codes: 0 ok/allowed, 1 denied or not tracked, "
            "2 bad input or store, 3 internal error."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    common = _Parser(add_help=False)
    common.add_argument(
        "--policy",
        metavar="FILE",
        default=os.environ.get(POLICY_ENV),
        help=f"policy YAML file (default: ${POLICY_ENV}, else the built-in policy)",
    )
    store = _Parser(add_help=False)
    store.add_argument(
        "--store",
        metavar="URL",
        help="an absolute path, sqlite:///ABSOLUTE/PATH.db or postgresql://USER@HOST:PORT/DB "
        f"(default: ${STORE_ENV}, else ~/.local/state/overdue-fsm/clusters.db)",
    )
    reading = _Parser(add_help=False)
    reading.add_argument(
        "--now", metavar="T", help="evaluate at this instant (what-if; default: now)"
    )
    reading.add_argument("--json", action="store_true", help="machine-readable output")
    facts = _Parser(add_help=False)
    group = facts.add_argument_group(
        "facts",
        "give facts to evaluate without a store (stateless); without them the store is read",
    )
    group.add_argument("--billing", help=BILLING_SPELLINGS)
    group.add_argument("--account", help="billing account (default: default)")
    group.add_argument("--overdue-since", metavar="T", help="when the balance went negative")
    group.add_argument("--expires-at", metavar="T", help="subscription expiry")
    group.add_argument(
        "--expires-at-ms", metavar="MS", help="subscription expiry in epoch ms (EMR's ExpireTime)"
    )
    group.add_argument("--released-at", metavar="T", help="when the owner released the cluster")

    def add(
        name: str,
        handler: Callable[[argparse.Namespace], int],
        help_: str,
        *parents: _Parser,
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_, parents=[*parents, common])
        sub.set_defaults(handler=handler)
        return sub

    if wanted("status"):
        sub = add(
            "status",
            _status,
            "the phase of a cluster and every operation's verdict",
            store,
            reading,
            facts,
        )
        sub.add_argument("cluster_id", metavar="CLUSTER")

    if wanted("check"):
        sub = add(
            "check",
            _check,
            "may OPERATION run on CLUSTER now? (exit 0 yes, 1 no)",
            store,
            reading,
            facts,
        )
        sub.add_argument("cluster_id", metavar="CLUSTER")
        sub.add_argument("operation", metavar="OPERATION")
        sub.add_argument("--strict", action="store_true", help="treat warn (may fail) as deny")

    if wanted("timeline"):
        sub = add(
            "timeline",
            _timeline,
            "the transitions so far and the phases ahead",
            store,
            reading,
            facts,
        )
        sub.add_argument("cluster_id", metavar="CLUSTER")

    if wanted("diagram"):
        add("diagram", _diagram, "the lifecycle as a Mermaid state diagram")

    if wanted("tables"):
        sub = add(
            "tables", _tables, "the phase, transition, operation and verdict tables (Markdown)"
        )
        sub.add_argument(
            "which",
            nargs="*",
            metavar="TABLE",
            help=f"{', '.join(TABLES)} (default: all of them)",
        )

    if wanted("policy"):
        sub = add("policy", _policy, "the policy in force (validates --policy FILE)")
        sub.add_argument("--json", action="store_true", help="JSON instead of YAML")

    if wanted("observe"):
        sub = add("observe", _observe, "record what was observed about a cluster", store)
        sub.add_argument("cluster_id", metavar="CLUSTER")
        sub.add_argument(
            "--billing", help="pay_as_you_go or subscription (needed for a new cluster)"
        )
        sub.add_argument("--account", help="billing account (default: default)")
        sub.add_argument(
            "--balance", metavar="AMOUNT", help="account balance; negative means overdue"
        )
        sub.add_argument(
            "--overdue-since", metavar="T", help="when the balance went negative (default: --at)"
        )
        sub.add_argument(
            "--expires-at", metavar="T", help="subscription expiry (a fact of the cluster)"
        )
        sub.add_argument(
            "--expires-at-ms",
            metavar="MS",
            help="subscription expiry in epoch ms (EMR's ExpireTime)",
        )
        sub.add_argument(
            "--renewed-until", metavar="T", help="the subscription was renewed until T"
        )
        sub.add_argument("--released", action="store_true", help="the owner released the cluster")
        sub.add_argument("--at", metavar="T", help="when this was observed (default: now)")
        sub.add_argument(
            "--key", metavar="KEY", help="idempotency key: a retried write with it is stored once"
        )
        sub.add_argument("--dry-run", action="store_true", help="compute the result, write nothing")
        sub.add_argument("--json", action="store_true", help="machine-readable output")

    if wanted("history"):
        sub = add("history", _history, "the event log of a cluster and its transitions", store)
        sub.add_argument("cluster_id", metavar="CLUSTER")
        sub.add_argument("--now", metavar="T", help="evaluate the transitions at this instant")
        sub.add_argument("--json", action="store_true", help="machine-readable output")

    if wanted("list"):
        sub = add(
            "list",
            _list,
            "every tracked cluster with its phase and what comes next",
            store,
            reading,
        )
        sub.add_argument("--account", help="only this billing account")
        sub.add_argument("--phase", help="only clusters in this phase")

    # Imported here, not above: they import this module's shared pieces. In this
    # order, as `overdue-fsm --help` lists them.
    if wanted("warnings"):
        from .cli_fleet import add_warnings

        add_warnings(add, store, reading)
    if wanted("sync"):
        from .cli_cloud import add_sync

        add_sync(add, store)
    if wanted("metrics"):
        from .cli_fleet import add_metrics

        add_metrics(add, store)
    if wanted("export"):
        from .cli_cloud import add_export

        add_export(add, store)
    return parser


# -- commands ------------------------------------------------------------------------


def _status(args: argparse.Namespace) -> int:
    state = _evaluate(args)
    if args.json:
        print_json(report(state))
    else:
        _print_status(state)
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    # Untracked, a bad input or an unusable store: main() answers in the same shape.
    state = _evaluate(args)
    decision = decide(state, args.operation, strict=args.strict)
    if args.json:
        print_json(_decision_json(decision))
    else:
        print(decision.verdict)
    print(decision.reason, file=sys.stderr)
    return EXIT_OK if decision.allowed else EXIT_DENIED


def _timeline(args: argparse.Namespace) -> int:
    state = _evaluate(args)
    data = report(state)
    if args.json:
        print_json({key: data[key] for key in ("cluster_id", "phase", "history", "timeline")})
        return EXIT_OK
    print(f"{state.cluster_id} ({state.billing}, account {state.account})")
    for item in data["history"]:
        print(_transition_line(item))
    evaluated = data["evaluated_at"] or "now"
    print(f"  {evaluated}  now {state.phase}")
    for item in data["timeline"]:
        print(f"  {item['at']}  -> {item['phase']}  (scheduled)")
    if not data["timeline"]:
        print("  nothing scheduled")
    return EXIT_OK


def _diagram(args: argparse.Namespace) -> int:
    from .diagram import mermaid  # transitions' diagram extension, for this command only

    print(mermaid(load_policy(args)), end="")
    return EXIT_OK


def _tables(args: argparse.Namespace) -> int:
    # Checked here, not by argparse choices: with nargs="*" it rejects no argument at all.
    for name in args.which:
        if name not in TABLES:
            raise InputError("TABLE", name, ", ".join(TABLES))
    from .docs import all_tables

    tables = all_tables(load_policy(args))
    names = args.which or list(tables)
    print("\n".join(tables[name] for name in names), end="")
    return EXIT_OK


def _policy(args: argparse.Namespace) -> int:
    data = load_policy(args).as_dict()
    if args.json:
        print_json(data)
    else:
        import yaml

        print(yaml.safe_dump(data, sort_keys=False), end="")
    return EXIT_OK


def _observe(args: argparse.Namespace) -> int:
    from .observations import Observation

    cluster_id = parse_cluster_id(args.cluster_id)
    with _as_options(OBSERVE_OPTIONS):
        observation = Observation.create(
            at=_time_option(args, "at"),
            balance=args.balance,
            overdue_since=args.overdue_since,
            renewed_until=_time_option(args, "renewed_until"),
            released=args.released,
        )
    # The wall clock, never the observation's own date: an event dated past it by more
    # than the policy's future tolerance is refused, as the module and the API refuse it.
    now = utcnow()
    # A rehearsal (--dry-run) opens the store as a reader does: it creates, migrates
    # and switches nothing, and says what a write would have done first.
    with (
        opened_store(args, create=True, rehearsal=args.dry_run) as store,
        _as_options(OBSERVE_OPTIONS),
    ):
        pending = store.pending if args.dry_run else ()
        result = store.observe(
            cluster_id,
            observation,
            billing=args.billing,
            account=args.account,
            expires_at=_expiry_option(args),
            source="cli",
            idempotency_key=args.key,
            now=now,
            dry_run=args.dry_run,
        )
    data = report(result.after)
    data["changed"] = result.changed
    data["recorded"] = [event.as_dict() for event in result.recorded]
    data["entered"] = [str(phase) for phase in result.entered]
    data["dry_run"] = result.dry_run
    data["too_late"] = result.too_late
    data["notes"] = unheeded(result.outcomes)
    if args.dry_run:
        data["would_also"] = list(pending)
    if args.json:
        print_json(data)
        return EXIT_OK
    print_pending(pending)
    verb = "would record" if result.dry_run else "recorded"
    if result.recorded:
        kinds = ", ".join(f"{e.kind} at {format_time(e.at)}" for e in result.recorded)
        print(f"{verb}: {kinds}")
    else:
        print("nothing new to record" + (" (cluster created)" if result.created else ""))
    for note in data["notes"]:
        print(note)
    if result.entered:
        print("entered: " + ", ".join(str(phase) for phase in result.entered))
    _print_status(result.after)
    return EXIT_OK


def _history(args: argparse.Namespace) -> int:
    with opened_store(args, create=False) as store:
        events = store.history(args.cluster_id)
        state = store.load(args.cluster_id).state(evaluation_time(args))
    if args.json:
        print_json(
            {
                "cluster_id": state.cluster_id,
                "events": [event.as_dict() for event in events],
                "transitions": [t.as_dict() for t in state.history],
            }
        )
        return EXIT_OK
    print(f"{state.cluster_id}: events as recorded")
    for event in events:
        data = event.as_dict()
        extra = " ".join(f"{k}={v}" for k, v in data.get("payload", {}).items())
        key = f" key={event.idempotency_key}" if event.idempotency_key else ""
        print(
            f"  #{event.seq:<5} {data['kind']:<17} at {data['at']}  "
            f"(recorded {data['recorded_at']} by {event.source}{key}) {extra}".rstrip()
        )
        if event.effect:
            print(f"         {event.effect}")
    print("transitions (in event time)")
    for transition in state.history:
        print(_transition_line(transition.as_dict()))
    if not state.history:
        print("  none: the cluster is active")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    phase = None if args.phase is None else parse_phase(args.phase, "--phase")
    with opened_store(args, create=False) as store:
        states = store.clusters(account=args.account, phase=phase, now=evaluation_time(args))
    rows = [report(state) for state in states]
    if args.json:
        print_json(rows)
        return EXIT_OK
    print_table(
        {
            "CLUSTER": "cluster_id",
            "ACCOUNT": "account",
            "BILLING": "billing",
            "PHASE": "phase",
            "SINCE": "phase_since",
            "NEXT": "next_phase",
            "AT": "next_phase_at",
        },
        rows,
    )
    print(f"{len(rows)} cluster(s)", file=sys.stderr)
    return EXIT_OK


# -- shared pieces ------------------------------------------------------------------------


def evaluation_time(args: argparse.Namespace) -> datetime:
    """The instant a command evaluates at: its --now, else the wall clock."""
    value = getattr(args, "now", None)
    return utcnow() if value is None else parse_time(value, "--now")


def load_policy(args: argparse.Namespace) -> Policy:
    """The policy of --policy FILE, else the built-in one."""
    return Policy.default() if not args.policy else Policy.load(args.policy)


@contextmanager
def opened_store(
    args: argparse.Namespace, *, create: bool, rehearsal: bool = False
) -> Iterator[Store]:
    """The store of --store, closed when the block ends."""
    from .store import open_store  # the stateless commands need no store code

    store = open_store(args.store, policy=load_policy(args), create=create, rehearsal=rehearsal)
    try:
        yield store
    finally:
        store.close()


def _facts_given(args: argparse.Namespace) -> bool:
    return any(
        getattr(args, name, None) is not None
        for name in ("billing", "overdue_since", "expires_at", "expires_at_ms", "released_at")
    )


def _evaluate(args: argparse.Namespace) -> ClusterState:
    """The cluster at ``--now``: from the facts given, else from the store."""
    now = evaluation_time(args)
    if not _facts_given(args):
        if getattr(args, "account", None) is not None:
            raise InputError(
                "--account", args.account, "--billing too (facts are evaluated without a store)"
            )
        return _stored_state(args, parse_cluster_id(args.cluster_id), now)
    if args.billing is None:
        raise InputError("--billing", None, "pay_as_you_go or subscription when facts are given")
    # The machine and the observations: only a command given facts evaluates them.
    from .lifecycle import evaluate
    from .observations import Observation

    overdue_since = _time_option(args, "overdue_since")
    released_at = _time_option(args, "released_at")
    # What the facts say was seen, as of --now. Built as is: each event it stands for is
    # checked against --now and the future tolerance when it is recorded.
    seen = Observation(
        at=now,
        overdue_since=overdue_since,
        released=released_at is not None,
        released_at=released_at,
    )
    return evaluate(
        args.cluster_id,
        args.billing,
        account=args.account,
        expires_at=_expiry_option(args),
        observation=seen,
        policy=load_policy(args),
        now=now,
    )


def _stored_state(args: argparse.Namespace, cluster_id: str, now: datetime) -> ClusterState:
    """The stored cluster at ``now``: from the store's reader (no write path, no machine)
    when it can read it, else from the Store; :class:`NotTrackedError` if unknown."""
    from .store import default_store_url
    from .store.read import forget, read_states
    from .store.url import canonical_store_url

    policy = load_policy(args)  # first, as opening the store loads it first
    try:
        url = canonical_store_url(default_store_url() if args.store is None else args.store)
    except FsmError:
        url = None  # opening the store says what is wrong with it
    try:
        found = None if url is None else read_states(url, [cluster_id], policy, now)
    finally:
        forget()  # closed as the Store is: the last connection removes the -wal it used
    if found is None:
        with opened_store(args, create=False) as store:
            return store.load(cluster_id).state(now)
    (state,) = found
    if state is None:
        raise NotTrackedError(cluster_id)
    return state


#: The fields of an observation, as ``observe`` spells them on the command line.
OBSERVE_OPTIONS: Final = {
    "observed_at": "--at",
    "billing": "--billing",
    "account": "--account",
    "balance": "--balance",
    "overdue_since": "--overdue-since",
    "expires_at": "--expires-at",
    "renewed_until": "--renewed-until",
    "released_at": "--released",
}


@contextmanager
def _as_options(options: dict[str, str]) -> Iterator[None]:
    """An input error raised inside names the option the user typed, not the field."""
    try:
        yield
    except InputError as err:
        if err.field not in options:
            raise
        raise err.renamed(options[err.field]) from None


def _time_option(args: argparse.Namespace, name: str) -> datetime | None:
    """A time option parsed early, so an error names the option the user typed."""
    value = getattr(args, name, None)
    return None if value is None else parse_time(value, "--" + name.replace("_", "-"))


def _expiry_option(args: argparse.Namespace) -> datetime | None:
    """--expires-at, or --expires-at-ms as the EMR API spells ExpireTime."""
    millis = getattr(args, "expires_at_ms", None)
    if millis is None:
        return _time_option(args, "expires_at")
    if args.expires_at is not None:
        raise InputError(
            "--expires-at-ms", millis, "either --expires-at or --expires-at-ms, not both"
        )
    return parse_time_ms(millis, "--expires-at-ms", "--expires-at")


def _undecided(args: argparse.Namespace, why: str) -> Decision:
    from .decisions import undecidable

    return undecidable(args.cluster_id, args.operation, why, strict=args.strict)


def _decision_json(decision: Decision, error: str | None = None) -> dict[str, Any]:
    """What ``check --json`` prints for every outcome: the decision, flat, and ``error``."""
    return {**decision.as_dict(), "error": error}


def print_json(data: Any, out: TextIO | None = None) -> None:
    import json

    json.dump(data, out or sys.stdout, indent=2, sort_keys=False)
    (out or sys.stdout).write("\n")


def _print_status(state: ClusterState) -> None:
    data = report(state)
    since = f" since {data['phase_since']}" if data["phase_since"] else ""
    print(f"{state.cluster_id}: {state.phase}{since} ({state.billing}, account {state.account})")
    rows = [
        ("overdue since", data["overdue_since"]),
        ("expires at", data["expires_at"]),
        (
            "next",
            f"{data['next_phase']} on {data['next_phase_at']}" if data["next_phase"] else None,
        ),
        ("ahead", deadline_ahead(state)),
    ]
    for label, value in rows:
        if value:
            print(f"  {label:<14}{value}")
    by_verdict: dict[str, list[str]] = {str(v): [] for v in Verdict}
    for operation, verdict in data["operations"].items():
        by_verdict[verdict].append(operation)
    for verdict, label in (("allow", "allowed"), ("warn", "may fail"), ("deny", "denied")):
        if by_verdict[verdict]:
            print(f"  {label:<14}{', '.join(by_verdict[verdict])}")


def print_pending(pending: Sequence[str]) -> None:
    """What a rehearsal's write would have done to the store first."""
    for step in pending:
        print(f"would {step}")


def _transition_line(item: dict[str, str]) -> str:
    return f"  {item['at']}  {item['from']} -> {item['to']}  ({item['trigger']})"


def print_table(columns: dict[str, str], rows: Sequence[dict[str, Any]]) -> None:
    """An aligned text table: title -> key of each row; a missing value prints as -."""
    table = [tuple(columns)] + [
        tuple("-" if row[key] is None else str(row[key]) for key in columns.values())
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
