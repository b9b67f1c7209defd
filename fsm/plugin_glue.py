"""What every overdue.emr Ansible plugin shares: settings, stores, facts, errors, lookups.

The plugins are faces: they parse what Ansible hands them, call the domain and its
store, and render. This is their glue, kept in the package rather than in the
collection's ``plugin_utils`` because Ansible's collection loader compiles a
collection's Python source in every forked worker and keeps no bytecode: a guard
evaluated once per host would compile this module once per host. Here it is
compiled once, when the package is installed. ``plugin_utils/common.py`` is the
collection's face of it: it defines the Ansible error classes, binds them here
(:func:`bind`) and re-exports every name.

Nothing here imports Ansible: what is Ansible's (its error classes, where its
ansible.cfg is, how it shows a warning) is handed over by :func:`bind`. Nothing
here derives a phase or a verdict either.

A lookup that reads a store answers from :func:`fsm.store.read.read_phases` when it
can: the phase from the stored log, replayed without the store's write path or the
``transitions`` machine (a forked worker would import both once per host otherwise);
the :class:`fsm.store.Store` answers whatever that reader leaves to it.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from . import errors as fsm_errors
from . import timeutil as fsm_time
from .environment import SETTING_ENV

if TYPE_CHECKING:
    from .policy import Policy
    from .store import Store
    from .values import ClusterState

__all__ = [
    "ENV",
    "FACT_OPTIONS",
    "INI_SECTION",
    "OBSERVATION_OPTIONS",
    "SETTINGS",
    "STATELESS",
    "Settings",
    "bind",
    "evaluate",
    "forget_readers",
    "format_time",
    "ini_setting",
    "internal_error",
    "load_policy",
    "lookup_answers",
    "lookup_settings",
    "lookup_states",
    "not_tracked",
    "observation",
    "origin_dir",
    "overdue_error",
    "parse_now",
    "policy_path",
    "reader",
    "rehearsal",
    "report",
    "resolve_setting",
    "store_url",
    "user_errors",
    "warn_pinned_now",
    "writer",
    "writer_or_rehearsal",
]

# The shared settings: argument, then environment variable, then ansible.cfg.
INI_SECTION: Final = "overdue_emr"
SETTINGS: Final = ("store", "policy", "now")
ENV: Final = dict(SETTING_ENV)  # setting -> its environment variable, as fsm names them
# ``store: none`` evaluates the facts given and reads or writes nothing.
STATELESS: Final = "none"

# The facts a stateless evaluation (or an observation) is made of.
FACT_OPTIONS: Final = ("billing", "account", "expires_at")
OBSERVATION_OPTIONS: Final = (
    "balance",
    "overdue_since",
    "renewed_until",
    "released",
    "observed_at",
)


# -- what Ansible hands over ------------------------------------------------------------


class _Ansible:
    """The Ansible side, as :func:`bind` set it."""

    error: type[Exception] = Exception  # AnsibleError
    overdue: type[Exception] = Exception  # the collection's OverdueError
    lookup_error: type[Exception] = Exception  # AnsibleLookupError
    config_file: Callable[[], str | None] = staticmethod(lambda: None)
    warning: Callable[[str], None] = staticmethod(lambda message: None)


def bind(
    *,
    error: type[Exception],
    overdue: type[Exception],
    lookup_error: type[Exception],
    config_file: Callable[[], str | None],
    warning: Callable[[str], None],
) -> None:
    """Hand over what is Ansible's: its error classes, the ansible.cfg in force (asked on
    each use), and how a warning is shown."""
    _Ansible.error = error
    _Ansible.overdue = overdue
    _Ansible.lookup_error = lookup_error
    _Ansible.config_file = staticmethod(config_file)
    _Ansible.warning = staticmethod(warning)


def overdue_error(message: str) -> Exception:
    """The collection's error for something the user can act on (its message says what)."""
    return _Ansible.overdue(message)


# -- option definitions -----------------------------------------------------------------


def preload_option_definitions(config: Any, module_name: str, path: str) -> None:
    """Hand Ansible's ``config`` (its ConfigManager) the option definitions of the plugin
    ``module_name`` from the JSON file at ``path`` (``make option-definitions`` writes it).

    On a plugin's first load in a process, Ansible reads its option definitions from its
    DOCUMENTATION and fragments: it loads each fragment and parses all of them with its YAML
    loader. ansible-playbook loads a lookup afresh in every worker it forks, once per host,
    and that reading was about a third of what a guard added to a host's task. Ansible reads
    only a plugin it has no definitions for, so the file spares it; where the file cannot
    give them, Ansible reads them itself. tests/ansible/test_option_definitions.py holds the
    file equal to Ansible's reading.
    """
    with suppress(Exception):  # then Ansible reads them itself, as it always does
        # ansible_collections.NAMESPACE.COLLECTION.plugins.TYPE.NAME: Ansible keeps a
        # collection plugin's definitions under its module's name.
        plugin_type, name = module_name.split(".")[4:]
        if not config.has_configuration_definition(plugin_type, module_name):
            definitions = _option_definitions(path)[f"{plugin_type}.{name}"]
            config.initialize_plugin_configuration_definitions(
                plugin_type, module_name, definitions
            )


_OPTION_DEFINITIONS: dict[str, dict[str, Any]] = {}  # by file: read once per process


def _option_definitions(path: str) -> Any:
    if path not in _OPTION_DEFINITIONS:
        import json

        with open(path, encoding="utf-8") as definitions:
            _OPTION_DEFINITIONS[path] = json.load(definitions)
    return _OPTION_DEFINITIONS[path]


# -- errors -----------------------------------------------------------------------------


@contextmanager
def user_errors(
    error_class: type[Exception] | None = None, prefix: str | None = None
) -> Iterator[None]:
    """Turn everything raised inside into ``error_class`` with a message for people.

    fsm's own errors (bad input, unreadable store, untracked cluster) keep
    their message; anything else is an internal error and says where to
    report it. No traceback reaches a playbook user.
    """
    wanted = _Ansible.overdue if error_class is None else error_class
    lead = "" if prefix is None else prefix + ": "
    try:
        yield
    except _Ansible.error as err:
        if isinstance(err, wanted):
            raise
        raise wanted(lead + _message(err)) from None
    except Exception as err:  # pylint: disable=broad-exception-caught
        if isinstance(err, fsm_errors.FsmError):
            raise wanted(lead + str(err)) from None
        raise wanted(lead + internal_error(err)) from None


def internal_error(err: BaseException) -> str:
    return (
        f"internal error in overdue.emr ({type(err).__name__}: {err}); please report it at "
        f"{fsm_errors.REPORT_BUGS_AT} with the task that ran"
    )


def _message(err: BaseException) -> str:
    message = getattr(err, "message", None)
    return str(message if message else err)


# -- settings ---------------------------------------------------------------------------


_INI_CACHE: dict[tuple[str, int | None], dict[str, str]] = {}


def ini_setting(name: str, path: str | None = None) -> tuple[str | None, str | None]:
    """``name`` from the ``[overdue_emr]`` section of ansible.cfg: (value, file) or (None, None)."""
    path = _Ansible.config_file() if path is None else path
    if not path:
        return None, None
    key = (path, _mtime(path))
    section = _INI_CACHE.get(key)
    if section is None:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error) as err:
            raise overdue_error(
                f"cannot read the [{INI_SECTION}] section of {path}: {err}"
            ) from None
        section = dict(parser.items(INI_SECTION)) if parser.has_section(INI_SECTION) else {}
        _INI_CACHE[key] = section
    value = section.get(name)
    if value is None or not value.strip():
        return None, None
    return _unquote(value.strip()), path


def resolve_setting(name: str, value: Any = None) -> tuple[Any, str | None]:
    """A shared setting: the argument, else the environment variable, else ansible.cfg.

    Returns (value, origin) where origin is ``argument``, ``env: NAME``, the
    path of the ansible.cfg, or None when nothing set it.
    """
    if value is not None and value != "":
        return value, "argument"
    env = os.environ.get(ENV[name])
    if env:
        return env, "env: " + ENV[name]
    return ini_setting(name)


def _pinned_by(origin: str | None) -> str | None:
    """The environment variable or ansible.cfg an origin names, in words; else None."""
    if not origin:
        return None
    if origin.startswith("env:"):
        return "the environment variable {}".format(origin[len("env:") :].strip())
    cfg = _Ansible.config_file()
    if origin not in ("argument", "Direct") and (
        origin == cfg or os.path.basename(origin) == "ansible.cfg"
    ):
        return f"now= in the [{INI_SECTION}] section of {origin}"
    return None


def origin_dir(origin: str | None) -> str | None:
    """The directory a relative path given in ``origin`` is relative to."""
    if origin and origin not in ("argument", "Direct", "default") and not origin.startswith("env:"):
        if os.path.isfile(origin):
            return os.path.dirname(os.path.abspath(origin))
        if os.path.isdir(origin):
            return os.path.abspath(origin)
    return None


def store_url(value: Any, origin: str | None = None) -> str | None:
    """The store to use, as a URL, or None for stateless (``store: none``).

    The store's own grammar (fsm.store.url): an absolute path, ``sqlite:///ABS`` or
    ``postgresql://...``; a relative path is an error naming the absolute form, except in
    ansible.cfg or an inventory source, where it is relative to that file. With nothing
    set, the store's own default applies.
    """
    if value is None or value == "":
        from .store.url import default_store_url

        return default_store_url()
    text = str(value).strip()
    if text.lower() == STATELESS:
        return None
    from .store.url import canonical_store_url

    base = origin_dir(origin)
    if base is not None and "://" not in text and not os.path.isabs(os.path.expanduser(text)):
        text = os.path.join(base, text)
    return canonical_store_url(text)


def policy_path(value: Any, origin: str | None = None) -> str | None:
    if value is None or value == "":
        return None
    return _path(str(value).strip(), origin)


def _path(text: str, origin: str | None) -> str:
    """An absolute path: relative to the directory of ``origin``, else to the current one."""
    path = os.path.expanduser(text)
    base = origin_dir(origin)
    if base is not None and not os.path.isabs(path):
        path = os.path.join(base, path)
    return os.path.abspath(path)


_POLICIES: dict[tuple[str, int | None], Policy] = {}


def load_policy(path: str | None) -> Policy:
    """The policy file at ``path`` (None: the built-in defaults), cached while unchanged."""
    from .policy import Policy

    if path is None:
        return Policy.default()
    key = (path, _mtime(path))
    policy = _POLICIES.get(key)
    if policy is None:
        policy = Policy.load(path)
        _POLICIES.clear()
        _POLICIES[key] = policy
    return policy


def parse_now(value: Any) -> datetime:
    """The instant to evaluate at: ``now`` as given, or the wall clock."""
    if value is None or value == "":
        return fsm_time.utcnow()
    return fsm_time.parse_time(_plain(value), "now")


def format_time(value: datetime | None) -> str | None:
    return None if value is None else fsm_time.format_time(value)


class Settings:
    """The resolved shared settings of one task or lookup call."""

    __slots__ = ("now", "now_given", "now_pinned_by", "policy_file", "store")

    def __init__(
        self,
        store: str | None,
        policy_file: str | None,
        now: datetime,
        now_given: bool,
        now_pinned_by: str | None = None,
    ) -> None:
        self.store = store  # None: stateless
        self.policy_file = policy_file
        self.now = now
        self.now_given = now_given
        # Where a ``now`` not given by the task came from (env var, ansible.cfg), else None.
        self.now_pinned_by = now_pinned_by

    @property
    def now_warning(self) -> str | None:
        """The warning every result evaluated at a ``now`` from the environment carries."""
        if self.now_pinned_by is None:
            return None
        return (
            f"now is pinned to {format_time(self.now)} by {self.now_pinned_by}, not by the task: "
            "every answer is for that instant, "
            "not the present (unset it unless this is a what-if)"
        )

    @property
    def stateless(self) -> bool:
        return self.store is None

    @property
    def policy(self) -> Policy:
        return load_policy(self.policy_file)

    @classmethod
    def resolve(
        cls,
        store: Any = None,
        policy: Any = None,
        now: Any = None,
        origins: Mapping[str, str | None] | None = None,
    ) -> Settings:
        """Settings from direct values; what is missing comes from env, then ansible.cfg.

        ``origins`` (name -> origin) says where a value given here came from,
        when the caller's own configuration system already resolved it.
        """
        found = dict(origins or {})
        values = {"store": store, "policy": policy, "now": now}
        for name in SETTINGS:
            if name in found and values[name] not in (None, ""):
                continue
            values[name], found[name] = resolve_setting(name, values[name])
        now_value = _plain(values["now"])
        now_given = now_value not in (None, "")
        return cls(
            store=store_url(values["store"], found.get("store")),
            policy_file=policy_path(values["policy"], found.get("policy")),
            now=parse_now(now_value),
            now_given=now_given,
            now_pinned_by=_pinned_by(found.get("now")) if now_given else None,
        )

    def warn(self, warnings: Iterable[str] | None = None) -> list[str]:
        """``warnings`` (a result's list) with :attr:`now_warning` added, if there is one."""
        found = list(warnings or ())
        if self.now_warning is not None and self.now_warning not in found:
            found.append(self.now_warning)
        return found

    @classmethod
    def from_plugin(cls, plugin: Any, source: str | None = None) -> Settings:
        """Settings of a lookup or inventory plugin whose options are already set.

        ``source``: the file the plugin's own options came from (an inventory
        source), which a relative path given there is relative to.
        """
        values: dict[str, Any] = {}
        origins: dict[str, str | None] = {}
        for name in SETTINGS:
            values[name], origins[name] = plugin.get_option_and_origin(name)
            if source is not None and origins[name] == "Direct":
                origins[name] = source
        return cls.resolve(origins=origins, **values)


# -- stores -----------------------------------------------------------------------------


_READERS: dict[tuple[int, str | None, str | None], Store] = {}


def reader(settings: Settings) -> Store:
    """The read-only store of ``settings``, opened once per process and reused.

    Lookups are called once per host; reopening the store each time would cost
    more than the answer. A forked worker opens its own connection (a database
    connection must not cross a fork). Readers never create a store.
    """
    from .store import (
        open_store,
        read,  # noqa: F401  (a process that forks workers hands it on)
    )

    key = (os.getpid(), settings.store, settings.policy_file)
    store = _READERS.get(key)
    if store is None:
        store = open_store(settings.store, policy=settings.policy, create=False)
        for old in [k for k in _READERS if k[0] == key[0]]:
            _close_quietly(_READERS.pop(old))
        # Readers inherited from the parent process stay referenced, never closed here.
        _READERS[key] = store
    return store


def forget_readers() -> None:
    """Close the cached readers of this process (tests, long-lived controllers)."""
    pid = os.getpid()
    for key in [k for k in _READERS if k[0] == pid]:
        _close_quietly(_READERS.pop(key))
    from .store import read

    read.forget()


def writer(settings: Settings) -> Store:
    """A store that may be written (the caller closes it: use ``with``)."""
    from .store import open_store

    return open_store(settings.store, policy=settings.policy, create=True)


def rehearsal(settings: Settings) -> Store:
    """The store for check mode: opened as a reader is, so nothing is created, migrated
    or switched; its ``pending`` says what a write would do first (use ``with``)."""
    from .store import open_store

    return open_store(settings.store, policy=settings.policy, rehearsal=True)


def writer_or_rehearsal(settings: Settings, check_mode: bool) -> Store:
    """The rehearsal store in check mode, else the writer (use ``with``)."""
    return rehearsal(settings) if check_mode else writer(settings)


def _close_quietly(store: Store) -> None:
    with suppress(Exception):
        store.close()


# -- facts ------------------------------------------------------------------------------


def observation(args: Mapping[str, Any], now: datetime) -> Any:
    """The observation made of ``balance``, ``overdue_since``... or None if none was given."""
    given = {name: _plain(args.get(name)) for name in OBSERVATION_OPTIONS}
    if not any(
        given[name] not in (None, False) for name in OBSERVATION_OPTIONS if name != "observed_at"
    ):
        if given["observed_at"] is not None:
            raise overdue_error(
                "observed_at: it dates an observation, but no balance, overdue_since, "
                "renewed_until or released was given"
            )
        return None
    from .observations import Observation

    at = given["observed_at"]
    return Observation.create(
        at=now if at is None else at,
        balance=given["balance"],
        overdue_since=given["overdue_since"],
        renewed_until=given["renewed_until"],
        released=bool(given["released"]),
    )


def evaluate(cluster_id: Any, args: Mapping[str, Any], settings: Settings) -> ClusterState:
    """A cluster evaluated from the facts given alone (stateless: nothing is read or written)."""
    from .lifecycle import evaluate as evaluated

    billing = _plain(args.get("billing"))
    if billing is None:
        raise overdue_error(
            "billing is required with store: none (pay_as_you_go or subscription): "
            "the facts given are all there is to evaluate"
        )
    return evaluated(
        _plain(cluster_id),
        billing,
        account=_plain(args.get("account")),
        expires_at=_plain(args.get("expires_at")),
        observation=observation(args, settings.now),
        policy=settings.policy,
        now=settings.now,
    )


def report(state: ClusterState, operation: str | None = None, strict: bool = False) -> Any:
    from .decisions import report as reported

    return reported(state, operation=operation, strict=strict)


def _plain(value: Any) -> Any:
    """Strip Ansible's tagged wrappers off a scalar (str subclasses stay str)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return str(value)
    return value


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


# -- lookups ----------------------------------------------------------------------------


def lookup_settings(plugin: Any, variables: Any, kwargs: Mapping[str, Any]) -> Settings:
    """Set the options of a lookup call and resolve its shared settings.

    An option the lookup does not have is an error: Ansible would drop it silently, and a
    misspelt ``strict`` would turn a strict gate lenient.
    """
    known = sorted(name for name in plugin.option_definitions if not name.startswith("_"))
    unknown = sorted(name for name in kwargs if name not in known)
    if unknown:
        raise overdue_error(
            "{}: unknown option{} {}; the options of this lookup are {}".format(
                plugin.ansible_name,
                "s" if len(unknown) > 1 else "",
                ", ".join(unknown),
                ", ".join(known),
            )
        )
    plugin.set_options(var_options=variables, direct=kwargs)
    settings = Settings.from_plugin(plugin)
    given = [
        name for name in (*FACT_OPTIONS, *OBSERVATION_OPTIONS) if _given(plugin.get_option(name))
    ]
    if given and not settings.stateless:
        raise overdue_error(
            "{}: facts are only evaluated with store=none; with a store ({}) the lookup reads "
            "what was recorded. Record observations with overdue.emr.cluster_phase, or pass "
            "store='none' to evaluate the facts given".format(", ".join(given), settings.store)
        )
    return settings


def lookup_states(
    plugin: Any, terms: Sequence[Any], settings: Settings
) -> list[tuple[str, ClusterState | None]]:
    """Each term (a cluster id) with its state at ``settings.now``, or None if untracked."""
    from .values import parse_cluster_id

    _check_terms(plugin, terms)
    states: list[tuple[str, ClusterState | None]] = []
    if settings.stateless:
        facts = {name: plugin.get_option(name) for name in (*FACT_OPTIONS, *OBSERVATION_OPTIONS)}
        for term in terms:
            states.append((term, evaluate(term, facts, settings)))
        return states
    read = _read(terms, settings)
    if read is not None:
        return read
    store = reader(settings)
    for term in terms:
        cluster_id = parse_cluster_id(_plain(term))
        cluster = store.get(cluster_id)
        states.append((cluster_id, None if cluster is None else cluster.state(settings.now)))
    return states


def _check_terms(plugin: Any, terms: Sequence[Any]) -> None:
    if not terms:
        raise overdue_error(
            f"give at least one cluster id, such as lookup('{plugin.ansible_name}', 'c-1')"
        )


def _read(terms: Sequence[Any], settings: Settings) -> list[tuple[str, ClusterState | None]] | None:
    """Each term with its state from the store's reader (None: untracked), or None when
    the :class:`~fsm.store.Store` must answer (see :mod:`fsm.store.read`)."""
    from .store.read import read_states
    from .values import parse_cluster_id

    assert settings.store is not None
    try:
        ids = [parse_cluster_id(_plain(term)) for term in terms]
    except fsm_errors.InputError:
        return None  # the Store's path says so, after opening the store as it always did
    states = read_states(settings.store, ids, settings.policy, settings.now)
    return None if states is None else list(zip(ids, states, strict=True))


def lookup_answers(
    plugin: Any,
    terms: Sequence[Any],
    settings: Settings,
    default: Any,
    answer: Callable[[ClusterState], Any],
) -> list[Any]:
    """One result per term: ``answer(state)`` for a tracked cluster, else ``default``.

    Without ``default`` an untracked cluster is an error: a guard fails closed.
    """
    warn_pinned_now(settings, "{}({})".format(plugin.ansible_name, ", ".join(map(str, terms))))
    results = []
    states: list[tuple[str, ClusterState | None]]
    try:
        states = lookup_states(plugin, terms, settings)
    except fsm_errors.NoStoreError:
        if default is None:
            raise
        # Nothing was ever recorded there: every cluster is untracked, so the default decides.
        states = [(term, None) for term in terms]
    for cluster_id, state in states:
        if state is not None:
            results.append(answer(state))
        elif default is not None:
            results.append(default)
        else:
            raise _Ansible.lookup_error(not_tracked(cluster_id, settings))
    return results


def warn_pinned_now(settings: Settings, subject: str) -> None:
    """Show the pinned-now warning for ``subject`` (lookups and inventories have no result
    to carry it; Ansible shows each distinct warning once)."""
    if settings.now_warning is not None:
        _Ansible.warning(f"{subject}: {settings.now_warning}")


def not_tracked(cluster_id: str, settings: Settings) -> str:
    return (
        f"cluster {cluster_id!r} is not tracked in the store {settings.store}; "
        "record it with overdue.emr.cluster_phase "
        "(cluster_id, billing and what was observed), or give default= to decide yourself "
        "what an unknown cluster means"
    )


def _given(value: Any) -> bool:
    return value is not None and value is not False
