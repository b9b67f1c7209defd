"""The cloud commands of ``overdue-fsm``: ``sync`` and ``export``, through Alibaba Cloud.

Their registration and handlers; the cloud code itself is imported when a command runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .cli import (
    EXIT_DENIED,
    EXIT_INPUT,
    EXIT_OK,
    AddCommand,
    evaluation_time,
    fail,
    opened_store,
    print_json,
    print_pending,
    print_table,
)
from .errors import DeniedError
from .sources.aliyun import DEFAULT_TIMEOUT_S

if TYPE_CHECKING:
    from .sync import SyncSummary


def add_sync(add: AddCommand, store: argparse.ArgumentParser) -> None:
    """Register ``sync``: read balances and clusters, record what changed."""
    sub = add(
        "sync",
        _sync,
        "read balances and clusters from Alibaba Cloud and record what changed",
        store,
    )
    sub.add_argument(
        "--region", action="append", required=True, metavar="R", help="EMR region (repeatable)"
    )
    sub.add_argument("--account", default="default", help="the account name to file clusters under")
    sub.add_argument(
        "--since-from-transactions",
        action="store_true",
        help="date the overdue start from QueryAccountTransactions "
        "(default: the first sync that saw the balance negative)",
    )
    sub.add_argument("--dry-run", action="store_true", help="read the cloud, write nothing")
    sub.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_argument(
        "--endpoint", help="EMR endpoint override (host[:port]), for private endpoints"
    )
    sub.add_argument("--bss-endpoint", help="BSS (billing) endpoint override; default: --endpoint")
    sub.add_argument("--protocol", choices=("https", "http"), default="https")
    sub.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S", help="per request (s)"
    )


def add_export(add: AddCommand, store: argparse.ArgumentParser) -> None:
    """Register ``export``: save a cluster's configuration before its data is deleted."""
    sub = add(
        "export",
        _export,
        "save a cluster's service configuration and shape before its data is deleted "
        "(exit 1 when its phase denies export_service_config)",
        store,
    )
    sub.add_argument("cluster_id", metavar="CLUSTER")
    sub.add_argument("--dest", required=True, metavar="DIR", help="directory of this cluster")
    sub.add_argument(
        "--region", help="the cluster's region (default: as recorded by sync, else the env's)"
    )
    sub.add_argument("--mode", choices=("all", "modification"), default="all", help="ExportMode")
    sub.add_argument("--format", choices=("json", "xml"), default="json", help="FileFormat")
    sub.add_argument("--now", metavar="T", help="decide the phase at this instant")
    sub.add_argument("--dry-run", action="store_true", help="read the cloud, write nothing")
    sub.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_argument("--endpoint", help="EMR endpoint override (host[:port])")
    sub.add_argument("--protocol", choices=("https", "http"), default="https")
    sub.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S", help="per request (s)"
    )


def _sync(args: argparse.Namespace) -> int:
    from .sources.aliyun import AliyunSource
    from .sync import sync

    # Credentials come only from the SDK's chain (environment, profiles):
    # a secret on the command line would show in `ps` and shell history.
    source = AliyunSource(
        endpoint=args.endpoint,
        bss_endpoint=args.bss_endpoint or args.endpoint,
        protocol=args.protocol,
        timeout_s=args.timeout,
    )
    with opened_store(args, create=True, rehearsal=args.dry_run) as store:
        pending = store.pending if args.dry_run else ()
        summary = sync(
            store,
            source,
            args.region,
            account=args.account,
            since_from_transactions=args.since_from_transactions,
            dry_run=args.dry_run,
        )
    if args.json:
        data = summary.as_dict()
        if args.dry_run:
            data["would_also"] = list(pending)
        print_json(data)
    else:
        print_pending(pending)
        _print_sync(summary)
    stopped = summary.stopped()
    if stopped is not None:
        fail(stopped)
        return EXIT_INPUT
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from .export import export
    from .sources.aliyun import AliyunSource, default_region

    with opened_store(args, create=False) as store:
        try:
            result = export(
                store,
                # Credentials from the SDK's chain only, as for sync.
                AliyunSource(
                    endpoint=args.endpoint, protocol=args.protocol, timeout_s=args.timeout
                ),
                args.cluster_id,
                args.dest,
                region=args.region,
                default_region=default_region(),
                export_mode=args.mode,
                file_format=args.format,
                dry_run=args.dry_run,
                now=evaluation_time(args),
            )
        except DeniedError as err:
            fail(f"not exported: {err}")
            return EXIT_DENIED
    if args.json:
        print_json(result.as_dict())
        return EXIT_OK
    for line in result.lines():
        print(line)
    for item in result.files:
        if item.status != "unchanged":
            print(f"  {item.status:<9} {item.path}")
    return EXIT_OK


def _print_sync(summary: SyncSummary) -> None:
    for line in summary.lines():
        print(line)
    for warning in summary.warnings:
        print(f"  {warning.message}")
    moved = [c for c in summary.clusters if c.phase_changed or c.status in ("failed", "untouched")]
    if not moved:
        print("no phase changed")
        return
    print_table(
        {
            "CLUSTER": "cluster_id",
            "REGION": "region",
            "WAS": "phase_before",
            "NOW": "phase",
            "NEXT": "next_phase",
            "AT": "next_phase_at",
            "STATUS": "status",
        },
        [c.as_dict() for c in moved],
    )
