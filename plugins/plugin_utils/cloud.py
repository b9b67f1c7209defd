# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Glue of the cloud sync, shared by the overdue.emr.sync action and the clusters inventory.

It builds the Alibaba Cloud source of overdue-fsm, runs ``fsm.sync`` into the
store, and keeps every credential out of what goes back to Ansible: error
messages and results are scrubbed of the credentials given as options and of
those in the environment the SDK reads, whatever the source already did.

Credentials come from the options of the action, else from the SDK's own chain
(``ALIBABA_CLOUD_ACCESS_KEY_ID`` and ``ALIBABA_CLOUD_ACCESS_KEY_SECRET``, profiles,
RAM roles). The inventory takes none as options: a file of the inventory is no
place for a secret.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from urllib.parse import quote

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible_collections.overdue.emr.plugins.plugin_utils import argspec, common

try:
    from fsm import errors as fsm_errors
    from fsm import sync as fsm_sync
    from fsm.sources import aliyun as fsm_aliyun
except ImportError:
    fsm_errors = fsm_sync = fsm_aliyun = None
    HAS_FSM_SYNC = False
else:
    HAS_FSM_SYNC = True

try:
    from fsm import export as fsm_export
except ImportError:
    fsm_export = None


PROTOCOLS = ("https", "http")
# The source's own default and names (none without overdue-fsm: then nothing runs but
# the error that says how to install it).
DEFAULT_TIMEOUT = fsm_aliyun.DEFAULT_TIMEOUT_S if HAS_FSM_SYNC else None
# What the SDK's chain reads from the environment; scrubbed from every output too.
CREDENTIAL_ENV = fsm_aliyun.CREDENTIAL_ENV if HAS_FSM_SYNC else ()
# The credential options, and the names alibaba.alicloud gives them (their aliases).
CREDENTIAL_OPTIONS = (
    "access_key_id",
    "access_key_secret",
    "security_token",
    "alicloud_access_key",
    "alicloud_secret_key",
    "alicloud_security_token",
)
# Documentation has no key for a secret: these are kept out of every message.
SECRET_OPTIONS = ("access_key_secret", "security_token")
# Shorter values are not credentials; scrubbing them would mangle the output.
_MIN_SECRET = 4

# What to read from the cloud and how to reach it: the options of the action and the
# suboptions of the inventory's ``sync`` (the inventory takes no credential).
SOURCE_SPEC = {
    "regions": {
        "type": "list",
        "elements": "str",
        "required": True,
        "aliases": ["alicloud_region"],
    },
    "account": {"type": "str", "default": "default"},
    "since_from_transactions": {"type": "bool", "default": False},
    "endpoint": {"type": "str"},
    "bss_endpoint": {"type": "str"},
    "protocol": {"type": "str", "default": "https", "choices": list(PROTOCOLS)},
    "timeout": {"type": "float", "default": DEFAULT_TIMEOUT},
    # Where credentials come from (never the credentials themselves), as alibaba.alicloud names it.
    "profile": {"type": "str", "aliases": ["alicloud_profile"]},
    "ecs_role_name": {"type": "str", "aliases": ["alicloud_ecs_role_name"]},
    "assume_role": {"type": "dict", "aliases": ["alicloud_assume_role"]},
    "sts_endpoint": {"type": "str"},
}
CREDENTIAL_SPEC = {
    "access_key_id": {"type": "str", "no_log": False},
    "access_key_secret": {"type": "str", "no_log": True},
    "security_token": {"type": "str", "no_log": True},
}


class CloudError(common.OverdueError):
    """The cloud answered with an error, or did not answer; nothing was recorded."""

    def __init__(self, message, api=None, code=None, request_id=None):
        super().__init__(message)
        self.api = api
        self.code = code
        self.request_id = request_id

    @classmethod
    def of(cls, err, outcome=None):
        """The error of fsm's ``SourceError`` ``err``, saying ``outcome`` (what was not done)."""
        message = str(err) if outcome is None else "%s; %s" % (err, outcome)
        return cls(message, _text(err.api), _text(err.code), _text(err.request_id))

    def as_dict(self):
        return {"api": self.api, "code": self.code, "request_id": self.request_id}


def require_sync():
    """The sync of overdue-fsm, or one clear error telling how to get it."""
    common.require_fsm()
    if not HAS_FSM_SYNC:
        raise common.OverdueError(
            "the installed overdue-fsm has no cloud sync (fsm.sync); "
            "upgrade it: pip install -U 'overdue-fsm[aliyun]'"
        )
    return fsm_sync


# -- the actions ---------------------------------------------------------------------


def act(action, result, work):
    """Run an action that calls the cloud: ``result`` updated with ``work(args)``.

    The task's arguments are validated against the module's documentation; a bad
    argument, a refusal and a cloud error each become a failed result saying why
    (with the API, code and request of a cloud error, the store being as it was).
    Returns every credential in play, to be scrubbed from the result with
    :func:`scrub` once the action has added what it always says: whatever happens,
    no credential leaves the task, not in the result and not in a message.
    """
    hidden = secrets(action._task.args)
    try:
        validation, args = action.validate_argument_spec(
            argument_spec=argspec.of_module(action.ansible_name, SECRET_OPTIONS),
            required_together=[("access_key_id", "access_key_secret")],
        )
        del validation
        with common.user_errors(AnsibleActionFail):
            try:
                result.update(work(args))
            except Refused as err:
                result.update(failed=True, msg=err.message, changed=False)
                result.update(decision=err.decision)
            except CloudError as err:
                result.update(failed=True, msg=err.message, changed=False, error=err.as_dict())
    except AnsibleActionFail as err:
        result.update(failed=True, msg=err.message, changed=False)
    return hidden


# -- credentials ---------------------------------------------------------------------


def secrets(options=None):
    """Every credential value in play: the options given, and the SDK's environment."""
    values = set()
    for name in CREDENTIAL_OPTIONS:
        value = (options or {}).get(name)
        if value:
            values.add(str(value))
    for name in CREDENTIAL_ENV:
        value = os.environ.get(name)
        if value:
            values.add(value)
    values = {value for value in values if len(value.strip()) >= _MIN_SECRET}
    # A server may echo a credential URL-encoded, as it was sent.
    return values | {quote(value, safe="") for value in values}


def scrub(value, hidden):
    """``value`` (a string or a result) with every credential replaced by ``********``."""
    if not hidden:
        return value
    return remove_values(value, hidden)


# -- options ---------------------------------------------------------------------------


def validate_source_options(values, where="sync"):
    """The suboptions of the inventory's ``sync``, checked and with their defaults."""
    if not isinstance(values, dict):
        raise common.OverdueError(
            "%s: expected a mapping such as {regions: [cn-hangzhou]}, got %s"
            % (where, type(values).__name__)
        )
    given = {str(key): value for key, value in values.items()}
    credentials = sorted(set(given) & set(CREDENTIAL_OPTIONS))
    if credentials:
        require_sync()  # the names of the environment come from the source
        raise common.OverdueError(
            "%s: %s is not accepted in an inventory source, a file is no place for a "
            "credential; set %s and %s in the environment, or use a profile or RAM role of "
            "the Alibaba Cloud credential chain"
            % (where, ", ".join(credentials), fsm_aliyun.ENV_KEY_ID, fsm_aliyun.ENV_KEY_SECRET)
        )
    known = set(SOURCE_SPEC) | {a for spec in SOURCE_SPEC.values() for a in spec.get("aliases", ())}
    unknown = sorted(set(given) - known)
    if unknown:
        raise common.OverdueError(
            "%s: unknown option %s; the options are %s"
            % (where, ", ".join(unknown), ", ".join(sorted(SOURCE_SPEC)))
        )
    if not {"regions", "alicloud_region"} & set(given):
        require_sync()
        region = fsm_aliyun.default_region()  # as alibaba.alicloud's inventory reads it
        if region:
            given["regions"] = [region]
    result = ArgumentSpecValidator(SOURCE_SPEC).validate(given)
    if result.errors.errors:
        raise common.OverdueError("%s: %s" % (where, result.errors.msg))
    return dict(result.validated_parameters)


# -- running ---------------------------------------------------------------------------


def make_source(options):
    """The Alibaba Cloud source of overdue-fsm for ``options`` (credentials may be None)."""
    require_sync()
    endpoint = _text(options.get("endpoint"))
    timeout = options.get("timeout")
    timeout = fsm_aliyun.DEFAULT_TIMEOUT_S if timeout is None else timeout
    if not 0 < timeout <= fsm_aliyun.MAX_TIMEOUT_S:
        raise common.OverdueError(
            "timeout: %r is not valid; expected seconds, more than 0 and at most %g"
            % (timeout, fsm_aliyun.MAX_TIMEOUT_S)
        )
    return fsm_aliyun.AliyunSource(
        access_key_id=_text(options.get("access_key_id")),
        access_key_secret=_text(options.get("access_key_secret")),
        security_token=_text(options.get("security_token")),
        endpoint=endpoint,
        bss_endpoint=_text(options.get("bss_endpoint")) or endpoint,
        protocol=_text(options.get("protocol")) or "https",
        timeout_s=float(timeout),
        profile=_text(options.get("profile")),
        ecs_role_name=_text(options.get("ecs_role_name")),
        assume_role=_plain_dict(options.get("assume_role")),
        sts_endpoint=_text(options.get("sts_endpoint")),
    )


def run(settings, options, dry_run=False):
    """Read the cloud once and record what changed into the store of ``settings``.

    Returns the ``fsm.sync.SyncSummary``. Raises :class:`CloudError` when the
    cloud fails (nothing is recorded then), ``OverdueError`` on anything else;
    no message holds a credential.
    """
    return _scrubbed(options, _run, settings, options, dry_run)


def _scrubbed(options, work, *args):
    """``work(*args)`` with every error message scrubbed of the credentials in play."""
    hidden = secrets(options)
    try:
        with common.user_errors():
            return work(*args)
    except CloudError as err:
        raise CloudError(
            scrub(err.message, hidden), err.api, err.code, scrub(err.request_id, hidden)
        ) from None
    except Refused:
        raise  # the domain's reason: it holds no credential
    except common.OverdueError as err:
        raise common.OverdueError(scrub(err.message, hidden)) from None


def _run(settings, options, dry_run):
    require_sync()
    if settings.stateless:
        raise common.OverdueError(
            "store: none is not accepted: a sync records what the cloud says in a store"
        )
    given = options.get("regions")
    if given is None:  # not given at all: the region of the environment, as alibaba.alicloud's
        given = [fsm_aliyun.default_region()] if fsm_aliyun.default_region() else None
    if given is None:
        raise common.OverdueError(
            "regions: missing; give the regions to read, such as [cn-hangzhou], or set %s"
            % " or ".join(fsm_aliyun.REGION_ENV)
        )
    regions = [_text(region) for region in given]
    account = _text(options.get("account")) or "default"
    source = make_source(options)
    with common.writer_or_rehearsal(settings, dry_run) as store:
        try:
            return fsm_sync.sync(
                store,
                source,
                regions,
                account=account,
                since_from_transactions=bool(options.get("since_from_transactions")),
                dry_run=bool(dry_run),
                now=settings.now if settings.now_given else None,
            )
        except fsm_errors.SourceError as err:
            raise CloudError.of(err, "nothing was recorded") from None


def export(settings, options, dry_run=False):
    """Export one cluster's configuration and shape (``fsm.export``), or raise.

    Raises :class:`Refused` when the cluster's phase denies the export or cannot be
    determined, :class:`CloudError` when the cloud fails (nothing is written then),
    ``OverdueError`` on anything else; no message holds a credential.
    """
    return _scrubbed(options, _export, settings, options, dry_run)


class Refused(common.OverdueError):
    """The phase of the cluster denies the operation (or is unknown): nothing was done."""

    def __init__(self, message, decision=None):
        super().__init__(message)
        self.decision = decision


def _export(settings, options, dry_run):
    require_sync()
    if fsm_export is None:
        raise common.OverdueError(
            "the installed overdue-fsm cannot export (fsm.export); "
            "upgrade it: pip install -U 'overdue-fsm[aliyun]'"
        )
    cluster_id = _text(options.get("cluster_id"))
    if settings.stateless:
        decision = common.fsm.undecidable(
            cluster_id, fsm_export.EXPORT_OPERATION, "store: none keeps no phase to ask"
        )
        raise Refused(decision.reason, decision.as_dict())
    source = make_source(options)
    store = common.reader(settings)
    try:
        return fsm_export.export(
            store,
            source,
            cluster_id,
            _text(options.get("dest")),
            region=_text(options.get("region")),
            default_region=fsm_aliyun.default_region(),
            export_mode=_text(options.get("export_mode")) or "ALL",
            file_format=_text(options.get("file_format")) or "JSON",
            dry_run=bool(dry_run),
            now=settings.now,
        )
    except fsm_errors.DeniedError as err:
        decision = fsm_export.may_export(store, cluster_id, now=settings.now)
        raise Refused(str(err), decision.as_dict()) from None
    except fsm_errors.SourceError as err:
        raise CloudError.of(err, "nothing was written") from None


def at_risk():
    """What an export never saves, in the words of the command line."""
    return fsm_export.AT_RISK if fsm_export is not None else None


# -- nodes --------------------------------------------------------------------------------

# (pid, key) -> instance id -> node: the maps this process already read or loaded.
_NODES = {}


def nodes_of(options):
    """Every node of every cluster of the region: instance id -> its cluster and group.

    Read once per run: kept in memory, and in the run's local temporary directory
    (``DEFAULT_LOCAL_TMP``, made per ansible-playbook run) for the other forks.
    """
    require_sync()
    region = _text(options.get("region")) or fsm_aliyun.default_region()
    if not region:
        raise common.OverdueError(
            "region: missing; give the region of the instances, such as cn-hangzhou, or set %s"
            % " or ".join(fsm_aliyun.REGION_ENV)
        )
    key = _nodes_key(region, options)
    cached = _NODES.get((os.getpid(), key))
    if cached is not None:
        return cached
    path = _nodes_file(key)
    with _locked(path):  # the forks of a run wait for the first to read the cloud
        found = _read_nodes(path)
        if found is None:
            found = _scrubbed(options, _list_nodes, dict(options, region=region), region)
            _write_nodes(path, found)
    _NODES[(os.getpid(), key)] = found
    return found


@contextmanager
def _locked(path):
    descriptor = None
    if path is not None:
        try:
            descriptor = os.open(path + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        except OSError:
            descriptor = None  # no lock, no sharing: each fork reads the cloud
    if descriptor is None:
        yield
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _list_nodes(options, region):
    source = make_source(options)
    try:
        found = {}
        for cluster in source.clusters(region):
            if cluster.state in fsm_aliyun.GONE_STATES:
                continue  # a released cluster lists no nodes, or answers not found
            for node in source.nodes(region, cluster.cluster_id):
                found[node.node_id] = {
                    "cluster_id": node.cluster_id,
                    "region": region,
                    "node_group_id": node.node_group_id,
                    "node_group_type": node.node_group_type,
                    "instance_type": node.instance_type,
                }
        return found
    except fsm_errors.SourceError as err:
        raise CloudError.of(err) from None


def _nodes_key(region, options):
    where = {
        name: options.get(name)
        for name in ("endpoint", "protocol", "profile", "ecs_role_name", "assume_role")
    }
    where["region"] = region
    where["key_id"] = os.environ.get(fsm_aliyun.ENV_KEY_ID) or os.environ.get(
        fsm_aliyun.ENV_ALICLOUD_KEY_ID
    )
    raw = json.dumps(where, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _nodes_file(key):
    from ansible import constants as C

    base = getattr(C, "DEFAULT_LOCAL_TMP", None)
    return None if not base else os.path.join(base, "overdue_emr_nodes_%s.json" % key)


def _read_nodes(path):
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_nodes(path, found):
    if path is None:
        return
    directory = os.path.dirname(path)
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".nodes.")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(found, out)
        os.replace(temporary, path)
    except OSError:
        pass  # a cache only: the next call reads the cloud again


def stopped(summary):
    """Why a sync that stopped part way stopped, in words, or None when it is complete."""
    return summary.stopped()


def describe(summary):
    """One line saying what a sync did, in the words of the command line."""
    return "; ".join(summary.lines())


def _plain_dict(value):
    """A mapping of plain values (Ansible's tagged strings stripped), or None."""
    if not value:
        return None
    return {str(k): (_text(v) if isinstance(v, str) else v) for k, v in dict(value).items()}


def _text(value):
    """A plain string (Ansible's tagged strings stripped), or None for an empty value."""
    if value is None:
        return None
    text = str(value)
    return text if text else None
