# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Glue shared by every overdue.emr plugin: settings, the fsm import, stores, errors.

The plugins are faces: they parse what Ansible hands them, call the domain
(``fsm``) and its store, and render. Nothing here derives a phase or a verdict.

Everything runs on the controller. ``fsm`` is imported when this module is
first loaded (lazily: each of its modules when first used, the store when a plugin
first opens one), and a missing package is reported once, with the command that
installs it, when a plugin is used (the import sanity test runs without it).
"""

from __future__ import annotations

import configparser
import os
import traceback
from contextlib import contextmanager, suppress

from ansible.errors import AnsibleError, AnsibleLookupError

try:
    import fsm
    from fsm import errors as fsm_errors
    from fsm import timeutil as fsm_time
    from fsm.environment import SETTING_ENV
except ImportError:
    fsm = fsm_errors = fsm_time = None
    SETTING_ENV = {}
    HAS_FSM = False
    FSM_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_FSM = True
    FSM_IMPORT_ERROR = None

# The store (with sqlite3 and the rest of fsm) is imported by the first plugin call that
# uses one: a forked worker answering a stateless lookup never pays for it.
fsm_store = None


MISSING_FSM = (
    "the overdue.emr collection needs the Python package overdue-fsm on the controller "
    "(the machine that runs ansible-playbook); install it into the Python that runs Ansible: "
    "pip install overdue-fsm"
)
REPORT_BUGS_AT = "https://github.com/overdue-fsm/overdue-fsm/issues"

# The shared settings: argument, then environment variable, then ansible.cfg.
INI_SECTION = "overdue_emr"
SETTINGS = ("store", "policy", "now")
ENV = dict(SETTING_ENV)  # setting -> its environment variable, as fsm names them
# ``store: none`` evaluates the facts given and reads or writes nothing.
STATELESS = "none"

# The facts a stateless evaluation (or an observation) is made of.
FACT_OPTIONS = ("billing", "account", "expires_at")
OBSERVATION_OPTIONS = ("balance", "overdue_since", "renewed_until", "released", "observed_at")


class OverdueError(AnsibleError):
    """An error the user can act on; its message says what to do."""


# -- fsm --------------------------------------------------------------------------


def require_fsm():
    """The fsm package, or one clear error telling how to install it."""
    if not HAS_FSM:
        raise OverdueError(MISSING_FSM)
    return fsm


def require_store():
    global fsm_store  # pylint: disable=global-statement
    require_fsm()
    if fsm_store is None:
        try:
            from fsm import store
        except ImportError:
            raise OverdueError(
                "the installed overdue-fsm has no store (fsm.store); "
                "upgrade it: pip install -U overdue-fsm"
            ) from None
        fsm_store = store
    return fsm_store


@contextmanager
def user_errors(error_class=OverdueError, prefix=None):
    """Turn everything raised inside into ``error_class`` with a message for people.

    fsm's own errors (bad input, unreadable store, untracked cluster) keep
    their message; anything else is an internal error and says where to
    report it. No traceback reaches a playbook user.
    """
    lead = "" if prefix is None else prefix + ": "
    try:
        yield
    except AnsibleError as err:
        if isinstance(err, error_class):
            raise
        raise error_class(lead + _message(err)) from None
    except Exception as err:  # pylint: disable=broad-exception-caught
        if HAS_FSM and isinstance(err, fsm_errors.FsmError):
            raise error_class(lead + str(err)) from None
        raise error_class(lead + internal_error(err)) from None


def internal_error(err):
    where = getattr(fsm_errors, "REPORT_BUGS_AT", REPORT_BUGS_AT) if HAS_FSM else REPORT_BUGS_AT
    return (
        "internal error in overdue.emr (%s: %s); please report it at %s with the task that ran"
        % (type(err).__name__, err, where)
    )


def _message(err):
    message = getattr(err, "message", None)
    return str(message if message else err)


# -- settings -------------------------------------------------------------------------


_INI_CACHE = {}


def config_file():
    """The ansible.cfg in force, or None."""
    from ansible import constants as C

    try:
        return C.config.get_config_value("CONFIG_FILE") or None
    except Exception:  # pylint: disable=broad-exception-caught
        return getattr(C.config, "_config_file", None)


def ini_setting(name, path=None):
    """``name`` from the ``[overdue_emr]`` section of ansible.cfg: (value, file) or (None, None)."""
    path = config_file() if path is None else path
    if not path:
        return None, None
    key = (path, _mtime(path))
    section = _INI_CACHE.get(key)
    if section is None:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error) as err:
            raise OverdueError(
                "cannot read the [%s] section of %s: %s" % (INI_SECTION, path, err)
            ) from None
        section = dict(parser.items(INI_SECTION)) if parser.has_section(INI_SECTION) else {}
        _INI_CACHE[key] = section
    value = section.get(name)
    if value is None or not value.strip():
        return None, None
    return _unquote(value.strip()), path


def resolve_setting(name, value=None):
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


def _pinned_by(origin):
    """The environment variable or ansible.cfg an origin names, in words; else None."""
    if not origin:
        return None
    if origin.startswith("env:"):
        return "the environment variable %s" % origin[len("env:") :].strip()
    cfg = config_file()
    if origin not in ("argument", "Direct") and (
        origin == cfg or os.path.basename(origin) == "ansible.cfg"
    ):
        return "now= in the [%s] section of %s" % (INI_SECTION, origin)
    return None


def origin_dir(origin):
    """The directory a relative path given in ``origin`` is relative to."""
    if origin and origin not in ("argument", "Direct", "default") and not origin.startswith("env:"):
        if os.path.isfile(origin):
            return os.path.dirname(os.path.abspath(origin))
        if os.path.isdir(origin):
            return os.path.abspath(origin)
    return None


def store_url(value, origin=None):
    """The store to use, as a URL, or None for stateless (``store: none``).

    The store's own grammar (fsm.store.url): an absolute path, ``sqlite:///ABS`` or
    ``postgresql://...``; a relative path is an error naming the absolute form, except in
    ansible.cfg or an inventory source, where it is relative to that file. With nothing
    set, the store's own default applies.
    """
    if value is None or value == "":
        return require_store().default_store_url()
    text = str(value).strip()
    if text.lower() == STATELESS:
        return None
    require_store()
    base = origin_dir(origin)
    if base is not None and "://" not in text and not os.path.isabs(os.path.expanduser(text)):
        text = os.path.join(base, text)
    from fsm.store.url import canonical_store_url

    return canonical_store_url(text)


def policy_path(value, origin=None):
    if value is None or value == "":
        return None
    return _path(str(value).strip(), origin)


def _path(text, origin):
    """An absolute path: relative to the directory of ``origin``, else to the current one."""
    path = os.path.expanduser(text)
    base = origin_dir(origin)
    if base is not None and not os.path.isabs(path):
        path = os.path.join(base, path)
    return os.path.abspath(path)


_POLICIES = {}


def load_policy(path):
    """The policy file at ``path`` (None: the built-in defaults), cached while unchanged."""
    require_fsm()
    if path is None:
        return fsm.Policy.default()
    key = (path, _mtime(path))
    policy = _POLICIES.get(key)
    if policy is None:
        policy = fsm.Policy.load(path)
        _POLICIES.clear()
        _POLICIES[key] = policy
    return policy


def parse_now(value):
    """The instant to evaluate at: ``now`` as given, or the wall clock."""
    require_fsm()
    if value is None or value == "":
        return fsm_time.utcnow()
    return fsm_time.parse_time(_plain(value), "now")


def format_time(value):
    return None if value is None else fsm_time.format_time(value)


class Settings:
    """The resolved shared settings of one task or lookup call."""

    __slots__ = ("now", "now_given", "now_pinned_by", "policy_file", "store")

    def __init__(self, store, policy_file, now, now_given, now_pinned_by=None):
        self.store = store  # None: stateless
        self.policy_file = policy_file
        self.now = now
        self.now_given = now_given
        # Where a ``now`` not given by the task came from (env var, ansible.cfg), else None.
        self.now_pinned_by = now_pinned_by

    @property
    def now_warning(self):
        """The warning every result evaluated at a ``now`` from the environment carries."""
        if self.now_pinned_by is None:
            return None
        return (
            "now is pinned to %s by %s, not by the task: every answer is for that instant, "
            "not the present (unset it unless this is a what-if)"
            % (format_time(self.now), self.now_pinned_by)
        )

    @property
    def stateless(self):
        return self.store is None

    @property
    def policy(self):
        return load_policy(self.policy_file)

    @classmethod
    def resolve(cls, store=None, policy=None, now=None, origins=None):
        """Settings from direct values; what is missing comes from env, then ansible.cfg.

        ``origins`` (name -> origin) says where a value given here came from,
        when the caller's own configuration system already resolved it.
        """
        require_fsm()
        origins = dict(origins or {})
        values = {"store": store, "policy": policy, "now": now}
        for name in SETTINGS:
            if name in origins and values[name] not in (None, ""):
                continue
            values[name], origins[name] = resolve_setting(name, values[name])
        now_value = _plain(values["now"])
        now_given = now_value not in (None, "")
        return cls(
            store=store_url(values["store"], origins.get("store")),
            policy_file=policy_path(values["policy"], origins.get("policy")),
            now=parse_now(now_value),
            now_given=now_given,
            now_pinned_by=_pinned_by(origins.get("now")) if now_given else None,
        )

    def warn(self, warnings=None):
        """``warnings`` (a result's list) with :attr:`now_warning` added, if there is one."""
        warnings = list(warnings or ())
        if self.now_warning is not None and self.now_warning not in warnings:
            warnings.append(self.now_warning)
        return warnings

    @classmethod
    def from_plugin(cls, plugin, source=None):
        """Settings of a lookup or inventory plugin whose options are already set.

        ``source``: the file the plugin's own options came from (an inventory
        source), which a relative path given there is relative to.
        """
        values, origins = {}, {}
        for name in SETTINGS:
            values[name], origins[name] = plugin.get_option_and_origin(name)
            if source is not None and origins[name] == "Direct":
                origins[name] = source
        return cls.resolve(origins=origins, **values)


# -- stores ---------------------------------------------------------------------------


_READERS = {}


def reader(settings):
    """The read-only store of ``settings``, opened once per process and reused.

    Lookups are called once per host; reopening the store each time would cost
    more than the answer. A forked worker opens its own connection (a database
    connection must not cross a fork). Readers never create a store.
    """
    key = (os.getpid(), settings.store, settings.policy_file)
    store = _READERS.get(key)
    if store is None:
        store = require_store().open_store(settings.store, policy=settings.policy, create=False)
        for old in [k for k in _READERS if k[0] == key[0]]:
            _close_quietly(_READERS.pop(old))
        # Readers inherited from the parent process stay referenced, never closed here.
        _READERS[key] = store
    return store


def forget_readers():
    """Close the cached readers of this process (tests, long-lived controllers)."""
    pid = os.getpid()
    for key in [k for k in _READERS if k[0] == pid]:
        _close_quietly(_READERS.pop(key))


def writer(settings):
    """A store that may be written (the caller closes it: use ``with``)."""
    return require_store().open_store(settings.store, policy=settings.policy, create=True)


def rehearsal(settings):
    """The store for check mode: opened as a reader is, so nothing is created, migrated
    or switched; its ``pending`` says what a write would do first (use ``with``)."""
    return require_store().open_store(settings.store, policy=settings.policy, rehearsal=True)


def writer_or_rehearsal(settings, check_mode):
    """The rehearsal store in check mode, else the writer."""
    return rehearsal(settings) if check_mode else writer(settings)


def _close_quietly(store):
    with suppress(Exception):
        store.close()


# -- facts ----------------------------------------------------------------------------


def observation(args, now):
    """The observation made of ``balance``, ``overdue_since``... or None if none was given."""
    given = {name: _plain(args.get(name)) for name in OBSERVATION_OPTIONS}
    if not any(
        given[name] not in (None, False) for name in OBSERVATION_OPTIONS if name != "observed_at"
    ):
        if given["observed_at"] is not None:
            raise OverdueError(
                "observed_at: it dates an observation, but no balance, overdue_since, "
                "renewed_until or released was given"
            )
        return None
    at = given["observed_at"]
    return fsm.Observation.create(
        at=now if at is None else at,
        balance=given["balance"],
        overdue_since=given["overdue_since"],
        renewed_until=given["renewed_until"],
        released=bool(given["released"]),
    )


def evaluate(cluster_id, args, settings):
    """A cluster evaluated from the facts given alone (stateless: nothing is read or written)."""
    billing = _plain(args.get("billing"))
    if billing is None:
        raise OverdueError(
            "billing is required with store: none (pay_as_you_go or subscription): "
            "the facts given are all there is to evaluate"
        )
    return fsm.evaluate(
        _plain(cluster_id),
        billing,
        account=_plain(args.get("account")),
        expires_at=_plain(args.get("expires_at")),
        observation=observation(args, settings.now),
        policy=settings.policy,
        now=settings.now,
    )


def report(state, operation=None, strict=False):
    return fsm.report(state, operation=operation, strict=strict)


def _plain(value):
    """Strip Ansible's tagged wrappers off a scalar (str subclasses stay str)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return str(value)
    return value


def _unquote(value):
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


# -- lookups ---------------------------------------------------------------------------


def lookup_settings(plugin, variables, kwargs):
    """Set the options of a lookup call and resolve its shared settings.

    An option the lookup does not have is an error: Ansible would drop it silently, and a
    misspelt ``strict`` would turn a strict gate lenient.
    """
    known = sorted(name for name in plugin.option_definitions if not name.startswith("_"))
    unknown = sorted(name for name in kwargs if name not in known)
    if unknown:
        raise OverdueError(
            "%s: unknown option%s %s; the options of this lookup are %s"
            % (
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
        raise OverdueError(
            "%s: facts are only evaluated with store=none; with a store (%s) the lookup reads "
            "what was recorded. Record observations with overdue.emr.cluster_phase, or pass "
            "store='none' to evaluate the facts given" % (", ".join(given), settings.store)
        )
    return settings


def lookup_states(plugin, terms, settings):
    """Each term (a cluster id) with its state at ``settings.now``, or None if untracked."""
    if not terms:
        raise OverdueError(
            "give at least one cluster id, such as lookup('%s', 'c-1')" % plugin.ansible_name
        )
    states = []
    if settings.stateless:
        facts = {name: plugin.get_option(name) for name in (*FACT_OPTIONS, *OBSERVATION_OPTIONS)}
        for term in terms:
            states.append((term, evaluate(term, facts, settings)))
        return states
    store = reader(settings)
    for term in terms:
        cluster_id = fsm.parse_cluster_id(_plain(term))
        cluster = store.get(cluster_id)
        states.append((cluster_id, None if cluster is None else cluster.state(settings.now)))
    return states


def lookup_answers(plugin, terms, settings, default, answer):
    """One result per term: ``answer(state)`` for a tracked cluster, else ``default``.

    Without ``default`` an untracked cluster is an error: a guard fails closed.
    """
    warn_pinned_now(settings, "%s(%s)" % (plugin.ansible_name, ", ".join(map(str, terms))))
    results = []
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
            raise AnsibleLookupError(not_tracked(cluster_id, settings))
    return results


def warn_pinned_now(settings, subject):
    """Show the pinned-now warning for ``subject`` (lookups and inventories have no result
    to carry it; Ansible shows each distinct warning once)."""
    if settings.now_warning is not None:
        from ansible.utils.display import Display

        Display().warning("%s: %s" % (subject, settings.now_warning))


def not_tracked(cluster_id, settings):
    return (
        "cluster %r is not tracked in the store %s; record it with overdue.emr.cluster_phase "
        "(cluster_id, billing and what was observed), or give default= to decide yourself "
        "what an unknown cluster means" % (cluster_id, settings.store)
    )


def _given(value):
    return value is not None and value is not False
