"""Save what the provider still lets a user take: a cluster's configuration and shape.

While a cluster is restricted its service configuration can still be exported;
once its data is deleted it cannot. :func:`export` asks the domain whether the
cluster's phase allows ``export_service_config`` (it refuses where it does not,
and fails closed when the phase is unknown), reads the cloud whole, then writes
into one directory:

- ``cluster.json``: the cluster's fields and node groups (what a clone needs),
- ``applications/<APPLICATION>.json``: every configuration file of that application,
- ``manifest.json``: the cluster, the export's mode and format, and the SHA-256 and
  size of every file above.

Each file is written atomically (a temporary file renamed over it) and only when
its content differs, so a second export of an unchanged cluster changes nothing.
Files are private to their owner: configuration often holds passwords.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

from .decisions import Decision, decide, report, undecidable
from .errors import DeniedError, InputError, NotTrackedError
from .timeutil import TimeInput, format_time, parse_time, utcnow
from .values import parse_cluster_id, parse_region

if TYPE_CHECKING:
    from .sources.base import ClusterShape, ConfigFile, ConfigSource
    from .store import Store

#: The operation an export is, as the lifecycle's tables name it.
EXPORT_OPERATION: Final = "export_service_config"
MANIFEST: Final = "manifest.json"
SHAPE: Final = "cluster.json"
APPLICATIONS: Final = "applications"
#: What the user still has to save: the provider exports configuration, not data.
AT_RISK: Final = (
    "business data (HDFS, and OSS buckets the cluster wrote to), logs and status data are not "
    "exported: copy what you need yourself (for example with DistCp or JindoDistCp to OSS) "
    "before the data deletion date"
)

FileStatus = Literal["added", "changed", "unchanged"]
FILE_STATUSES: Final[tuple[FileStatus, ...]] = get_args(FileStatus)

_FILE_MODE: Final = 0o600
_DIR_MODE: Final = 0o700
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class ExportedFile:
    """One file of an export: where, what became of it, and its checksum."""

    path: str  # relative to the destination, with /
    status: FileStatus
    sha256: str
    size: int
    before: str | None  # the previous content (for a diff), None when new
    after: str

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "status": self.status, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote (or would write, with ``dry_run``)."""

    cluster_id: str
    region: str
    dest: str
    decision: Decision
    files: list[ExportedFile]
    applications: list[str]
    data_deletion_at: datetime | None
    dry_run: bool

    @property
    def changed(self) -> bool:
        return any(f.status != "unchanged" for f in self.files)

    def counts(self) -> dict[FileStatus, int]:
        return {status: sum(f.status == status for f in self.files) for status in FILE_STATUSES}

    def lines(self) -> list[str]:
        """What the export did, in words (every face says this)."""
        counts = self.counts()
        verb = "would write" if self.dry_run else "wrote"
        deletion = (
            ""
            if self.data_deletion_at is None
            else f"; its data is deleted on {format_time(self.data_deletion_at)}"
        )
        return [
            f"{self.cluster_id} ({self.region}): {len(self.applications)} application(s) "
            f"exported to {self.dest}{deletion}",
            f"{len(self.files)} file(s): {counts['added']} added, {counts['changed']} changed, "
            f"{counts['unchanged']} unchanged ({verb} {counts['added'] + counts['changed']})",
            f"still at risk: {AT_RISK}",
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "cluster_id": self.cluster_id,
            "region": self.region,
            "dest": self.dest,
            "changed": self.changed,
            "dry_run": self.dry_run,
            "applications": list(self.applications),
            "files": [f.as_dict() for f in self.files],
            "counts": dict(self.counts()),
            "data_deletion_at": None
            if self.data_deletion_at is None
            else format_time(self.data_deletion_at),
            "at_risk": AT_RISK,
            "decision": self.decision.as_dict(),
        }


def may_export(store: Store, cluster_id: str, *, now: TimeInput | None = None) -> Decision:
    """The domain's decision on ``export_service_config`` for a tracked cluster.

    An untracked cluster (or a store that cannot tell) is undecidable: denied.
    """
    when = utcnow() if now is None else parse_time(now, "now")
    try:
        state = store.load(cluster_id).state(when)
    except NotTrackedError as err:
        return undecidable(cluster_id, EXPORT_OPERATION, str(err))
    return decide(state, EXPORT_OPERATION)


def export(
    store: Store,
    source: ConfigSource,
    cluster_id: str,
    dest: str | os.PathLike[str],
    *,
    region: str | None = None,
    default_region: str | None = None,
    export_mode: str = "ALL",
    file_format: str = "JSON",
    dry_run: bool = False,
    now: TimeInput | None = None,
) -> ExportResult:
    """Export ``cluster_id``'s configuration and shape into ``dest``; see the module doc.

    The region is ``region``, else the one the store recorded, else ``default_region``
    (the environment's, as the caller reads it). Raises :class:`DeniedError` when the
    phase denies it (or is unknown), before the cloud is read; a
    :class:`~fsm.errors.SourceError` leaves ``dest`` as it was.
    """
    cluster_id = parse_cluster_id(cluster_id)
    when = utcnow() if now is None else parse_time(now, "now")
    decision = may_export(store, cluster_id, now=when)
    if not decision.allowed:
        raise DeniedError(cluster_id, EXPORT_OPERATION, decision.reason)
    where = _region(store, cluster_id, region or None, default_region)
    target = _destination(dest, cluster_id)
    shape = source.cluster_shape(where, cluster_id)
    configs = source.application_configs(
        where, cluster_id, export_mode=export_mode, file_format=file_format
    )
    contents = _contents(shape, configs, export_mode=export_mode, file_format=file_format)
    manifest_entries = [
        {"path": path, "sha256": _sha256(data), "size": len(data)}
        for path, data in sorted(contents.items())
    ]
    manifest = {
        "cluster_id": cluster_id,
        "region": where,
        "source": source.label,
        "export_mode": export_mode.upper(),
        "file_format": file_format.upper(),
        "files": manifest_entries,
    }
    previous = _read_manifest(target)
    unchanged = (
        previous is not None and {k: v for k, v in previous.items() if k != "saved_at"} == manifest
    )
    manifest["saved_at"] = (
        previous.get("saved_at", format_time(when))
        if unchanged and previous is not None
        else format_time(when)
    )
    contents[MANIFEST] = _json_bytes(manifest)
    # Same entries as before: the manifest keeps its saved_at, so it is unchanged too.
    files = [_plan(target, path, data) for path, data in contents.items()]
    if not dry_run:
        for planned in files:
            if planned.status != "unchanged":
                _write_atomically(target / planned.path, contents[planned.path])
    deletion = None if decision.state is None else report(decision.state)["data_deletion_at"]
    return ExportResult(
        cluster_id=cluster_id,
        region=where,
        dest=str(target),
        decision=decision,
        files=files,
        applications=sorted({c.application for c in configs} | set(shape.applications)),
        data_deletion_at=None if deletion is None else parse_time(deletion, "data_deletion_at"),
        dry_run=dry_run,
    )


# -- what is written ----------------------------------------------------------------


def application_file(application: str) -> str:
    """The path of an application's file, relative to the destination."""
    return f"{APPLICATIONS}/{_UNSAFE.sub('_', application)}.json"


def _contents(
    shape: ClusterShape, configs: Sequence[ConfigFile], *, export_mode: str, file_format: str
) -> dict[str, bytes]:
    contents = {SHAPE: _json_bytes(shape.as_dict())}
    by_app: dict[str, list[ConfigFile]] = {}
    for config in configs:
        by_app.setdefault(config.application, []).append(config)
    for application, files in sorted(by_app.items()):
        contents[application_file(application)] = _json_bytes(
            {
                "cluster_id": shape.cluster_id,
                "application": application,
                "export_mode": export_mode.upper(),
                "file_format": file_format.upper(),
                "files": [_file_entry(f) for f in sorted(files, key=lambda f: f.name)],
            }
        )
    return contents


def _file_entry(config: ConfigFile) -> dict[str, str]:
    try:
        return {"name": config.name, "content": config.content.decode("utf-8")}
    except UnicodeDecodeError:  # kept exactly as exported
        return {"name": config.name, "content_base64": base64.b64encode(config.content).decode()}


def _json_bytes(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plan(target: Path, path: str, data: bytes) -> ExportedFile:
    try:
        old: bytes | None = (target / path).read_bytes()
    except FileNotFoundError:
        old = None
    status: FileStatus = "added" if old is None else "unchanged" if old == data else "changed"
    return ExportedFile(
        path=path,
        status=status,
        sha256=_sha256(data),
        size=len(data),
        before=None if old is None else old.decode("utf-8", "replace"),
        after=data.decode("utf-8"),
    )


def _read_manifest(target: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise InputError(
            "dest", str(target), f"a directory whose {MANIFEST} is readable JSON ({err})"
        ) from None
    return data if isinstance(data, dict) else None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, _FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _region(store: Store, cluster_id: str, given: str | None, fallback: str | None) -> str:
    if given:
        region = parse_region(given)
        if region is not None:
            return region
    recorded = store.regions().get(cluster_id) or (parse_region(fallback) if fallback else None)
    if recorded:
        return recorded
    raise InputError(
        "region",
        given,
        f"the region of {cluster_id} (the store does not know it: sync the cluster, or give it)",
    )


def _destination(dest: str | os.PathLike[str], cluster_id: str) -> Path:
    """The destination directory; refused when it holds another cluster's export."""
    if not str(dest).strip():
        raise InputError("dest", dest, "a directory to export into")
    target = Path(dest).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise InputError("dest", str(target), "a directory (this is a file)")
    previous = _read_manifest(target) if target.is_dir() else None
    if previous is not None and previous.get("cluster_id") != cluster_id:
        raise InputError(
            "dest",
            str(target),
            f"a directory of its own for {cluster_id} "
            f"(it holds the export of {previous.get('cluster_id')!r})",
        )
    return target
