"""The Prometheus face: the fleet in the store as metrics, evaluated at scrape time.

Timed transitions write nothing, so a cached gauge would go stale between two
writes: :class:`FleetCollector` reads the store and evaluates every cluster
each time it is collected (a scrape, or one textfile write). It renders what
the store and :mod:`fsm.decisions` say; it derives no phase itself.

Names follow Prometheus' rules: one ``overdue_emr_`` prefix, instants as
``*_timestamp_seconds`` in Unix time, a state set as one 0/1 series per phase.
Needs the ``[metrics]`` extra (``prometheus_client``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final

from prometheus_client import (
    CollectorRegistry,
    generate_latest,
    start_http_server,
    write_to_textfile,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .decisions import data_deletion_at
from .errors import FsmError, InputError
from .table import PHASES, Phase
from .timeutil import utcnow

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from .store import AccountSync, Store
    from .values import ClusterState

PREFIX: Final = "overdue_emr"
CLUSTER_LABELS: Final = ("cluster_id", "account", "billing")
EXAMPLE_LISTEN: Final = "127.0.0.1:9464"

PHASE: Final = f"{PREFIX}_cluster_phase"
NEXT_PHASE: Final = f"{PREFIX}_cluster_next_phase_timestamp_seconds"
DATA_DELETION: Final = f"{PREFIX}_cluster_data_deletion_timestamp_seconds"
BALANCE: Final = f"{PREFIX}_account_balance"
SYNC_SUCCESS: Final = f"{PREFIX}_sync_last_success_timestamp_seconds"
STORE_UP: Final = f"{PREFIX}_store_up"


def families(
    states: Sequence[ClusterState], syncs: Sequence[AccountSync], *, store_up: bool = True
) -> Iterator[Metric]:
    """The metric families for these evaluated clusters and account syncs."""
    up = GaugeMetricFamily(STORE_UP, "1 if the store could be read for this scrape, else 0")
    up.add_metric([], 1 if store_up else 0)
    yield up

    phase = GaugeMetricFamily(
        PHASE,
        "1 for the phase the cluster is in now, 0 for every other phase",
        labels=[*CLUSTER_LABELS, "phase"],
    )
    next_phase = GaugeMetricFamily(
        NEXT_PHASE,
        "When the cluster enters next_phase if nothing is recorded (Unix time)",
        labels=[*CLUSTER_LABELS, "next_phase"],
    )
    deletion = GaugeMetricFamily(
        DATA_DELETION,
        "When the cluster's data is deleted if nobody acts (Unix time); absent when not scheduled",
        labels=list(CLUSTER_LABELS),
    )
    for state in states:
        labels = [state.cluster_id, state.account, str(state.billing)]
        for each in Phase:
            phase.add_metric([*labels, str(each)], 1 if each is state.phase else 0)
        timeline = state.timeline()
        if timeline:
            ahead, at = timeline[0]
            next_phase.add_metric([*labels, str(ahead)], at.timestamp())
        deleted_at = data_deletion_at(state)
        if deleted_at is not None and PHASES[state.phase].data_kept:
            deletion.add_metric(labels, deleted_at.timestamp())
    yield phase
    yield next_phase
    yield deletion

    balance = GaugeMetricFamily(
        BALANCE,
        "The account balance the last successful sync saw, in the account's currency",
        labels=["account", "currency"],
    )
    synced = GaugeMetricFamily(
        SYNC_SUCCESS, "When a sync of the account last succeeded (Unix time)", labels=["account"]
    )
    for sync in syncs:
        synced.add_metric([sync.account], sync.synced_at.timestamp())
        if sync.balance is not None:
            balance.add_metric([sync.account, sync.currency or ""], float(sync.balance))
    yield balance
    yield synced


class FleetCollector(Collector):
    """Each collection opens the store, evaluates every cluster at ``now()``, and closes it.

    Opening per collection keeps a scrape thread off another thread's
    connection and lets the exporter outlive a store that is briefly away.
    ``serving``: a store that cannot be read is reported as ``overdue_emr_store_up 0``
    (and once on stderr) instead of failing the scrape; else its error is raised.
    """

    def __init__(
        self,
        open_reader: Callable[[], Store],
        now: Callable[[], datetime] = utcnow,
        *,
        serving: bool = False,
    ) -> None:
        self._open_reader = open_reader
        self._now = now
        self._serving = serving

    def collect(self) -> Iterator[Metric]:
        try:
            with self._open_reader() as store:
                states = store.clusters(now=self._now())
                syncs = store.account_syncs()
        except FsmError as error:
            if not self._serving:
                raise
            print(f"overdue-fsm metrics: {error}", file=sys.stderr, flush=True)
            yield from families([], [], store_up=False)
            return
        yield from families(states, syncs)


def registry(collector: Collector) -> CollectorRegistry:
    """A registry holding only ``collector`` (no process or platform metrics)."""
    chosen = CollectorRegistry(auto_describe=False)
    chosen.register(collector)
    return chosen


def exposition(collector: Collector) -> bytes:
    """What a scrape of ``collector`` returns: the text exposition format."""
    return generate_latest(registry(collector))


def write_textfile(path: str, collector: Collector) -> None:
    """Write the node-exporter textfile: a temporary file beside ``path``, then a rename."""
    try:
        write_to_textfile(path, registry(collector))
    except OSError as error:
        raise InputError(
            "--textfile", path, f"a file overdue-fsm can write ({error.strerror})"
        ) from None


def serve(collector: Collector, address: str) -> tuple[str, int, Callable[[], None]]:
    """Serve ``/metrics`` on ``address`` (HOST:PORT; port 0 picks a free one) in a thread.

    Returns the host and port bound and a function that stops the server.
    """
    host, port = parse_listen(address)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry(collector))
    except OSError as error:
        raise InputError(
            "--listen", address, f"an address free to listen on ({error.strerror})"
        ) from None

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return host, int(server.server_address[1]), stop


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT (``[::1]:9464`` for IPv6) as a host and a port number."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise InputError("--listen", value, f"HOST:PORT such as {EXAMPLE_LISTEN}")
    return host, int(port)
