"""The fleet commands of ``overdue-fsm``: ``warnings`` (the ledger) and ``metrics`` (Prometheus).

Their registration and handlers; prometheus_client is imported when ``metrics`` runs.
"""

from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import replace

from .cli import (
    EXIT_OK,
    AddCommand,
    evaluation_time,
    load_policy,
    opened_store,
    print_json,
    print_table,
)
from .errors import FsmError
from .timeutil import utcnow
from .values import parse_cluster_id


def add_warnings(
    add: AddCommand, store: argparse.ArgumentParser, reading: argparse.ArgumentParser
) -> None:
    """Register ``warnings``: the warnings ahead of each deadline, and --ack."""
    sub = add(
        "warnings",
        _warnings,
        "the warnings ahead of each deadline: due, issued, acknowledged (--ack)",
        store,
        reading,
    )
    sub.description = (
        "List the warnings of the ledger and those due now. A warning is due when a step "
        "ahead of a cluster (suspension, restriction, data deletion, subscription expiry) is "
        "one of the policy's warn_before thresholds or less away, until its deadline, its "
        "acknowledgement, or a recharge or renewal ending its episode. Exit 0 whether or not "
        "any is due, 1 if a CLUSTER is not tracked, 2 on bad input or store."
    )
    sub.add_argument("cluster_ids", nargs="*", metavar="CLUSTER", help="only these clusters")
    sub.add_argument("--account", help="only this billing account")
    sub.add_argument(
        "--due", action="store_true", help="only the warnings due now (issued or not yet)"
    )
    sub.add_argument(
        "--ack",
        action="store_true",
        help="acknowledge the warnings due (of CLUSTER / --account): they are due no more "
        "and never issued again in their episode",
    )


def add_metrics(add: AddCommand, store: argparse.ArgumentParser) -> None:
    """Register ``metrics``: the fleet as Prometheus metrics."""
    sub = add(
        "metrics",
        _metrics,
        "the fleet as Prometheus metrics: printed, written to --textfile, or served on --listen",
        store,
    )
    sub.add_argument("--now", metavar="T", help="evaluate at this instant (default: at each read)")
    where = sub.add_mutually_exclusive_group()
    where.add_argument(
        "--textfile",
        metavar="PATH",
        help="write node-exporter's textfile format to PATH (a temporary file, then a rename)",
    )
    where.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="serve /metrics on HOST:PORT (such as 127.0.0.1:9464; port 0: any free one)",
    )


def _warnings(args: argparse.Namespace) -> int:
    clusters = [parse_cluster_id(cid, "CLUSTER") for cid in dict.fromkeys(args.cluster_ids)]
    now = evaluation_time(args)
    due_only = args.due or args.ack
    selected: list[str | None] = [*clusters] or [None]
    with opened_store(args, create=args.ack) as store:
        entries = [
            entry
            for cid in selected
            for entry in store.warnings(
                cluster_id=cid, account=args.account, due_only=due_only, now=now
            )
        ]
        if args.ack:
            done = {w.key for w in store.acknowledge([e.warning for e in entries], now=now)}
            entries = [
                replace(
                    entry,
                    status="acknowledged",
                    issued_at=entry.issued_at or now,
                    acknowledged_at=now,
                )
                for entry in entries
                if entry.warning.key in done
            ]
    if args.json:
        print_json([entry.as_dict() for entry in entries])
        return EXIT_OK
    if entries:
        print_table(
            {
                "CLUSTER": "cluster_id",
                "STEP": "step",
                "WITHIN": "threshold",
                "DEADLINE": "deadline",
                "STATUS": "status",
                "ISSUED": "issued_at",
            },
            [entry.as_dict() for entry in entries],
        )
    for entry in entries:
        if entry.status == ("acknowledged" if args.ack else "due"):
            print(f"  {entry.warning.message}")
    done_words = "acknowledged" if args.ack else ("due" if args.due else "listed")
    print(f"{len(entries)} warning(s) {done_words}", file=sys.stderr)
    return EXIT_OK


def _metrics(args: argparse.Namespace) -> int:
    try:
        from . import metrics
    except ImportError as exc:
        raise FsmError(
            f"overdue-fsm metrics needs prometheus_client ({exc.name} is missing): "
            "pip install 'overdue-fsm[metrics]'"
        ) from None
    from .store import open_store

    policy = load_policy(args)
    fixed = None if args.now is None else evaluation_time(args)
    collector = metrics.FleetCollector(
        lambda: open_store(args.store, policy=policy, create=False),
        utcnow if fixed is None else lambda: fixed,
        serving=args.listen is not None,
    )
    if args.textfile is not None:
        metrics.write_textfile(args.textfile, collector)
    elif args.listen is not None:
        host, port, stop = metrics.serve(collector, args.listen)
        print(f"serving http://{host}:{port}/metrics until interrupted", file=sys.stderr)
        sys.stderr.flush()
        try:
            threading.Event().wait()
        finally:
            stop()
    else:
        sys.stdout.write(metrics.exposition(collector).decode())
    return EXIT_OK
