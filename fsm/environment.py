"""The environment variables overdue-fsm reads, each named once.

The command line, the store and the Ansible plugins read the same settings;
their names are written here and imported everywhere else (the plugins' option
documentation spells them too, and a test keeps it equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

STORE_ENV: Final = "OVERDUE_FSM_STORE"
"""The store URL (or, for the plugins, an SQLite path) when none is given."""
POLICY_ENV: Final = "OVERDUE_FSM_POLICY"
"""The policy file when none is given."""
NOW_ENV: Final = "OVERDUE_FSM_NOW"
"""The instant the plugins evaluate at when none is given (the command line takes --now)."""

SETTING_ENV: Final[Mapping[str, str]] = MappingProxyType(
    {"store": STORE_ENV, "policy": POLICY_ENV, "now": NOW_ENV}
)
"""Each shared setting and the variable it is read from."""
