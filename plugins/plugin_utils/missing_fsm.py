# -*- coding: utf-8 -*-
# Copyright: overdue-fsm developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``common.user_errors`` is without the fsm package: every error says how to
install it. Imported only then, so a worker with the package never compiles it."""

from __future__ import annotations


class user_errors:  # pylint: disable=invalid-name
    """Turn every error raised inside, but ``error_class``'s own, into ``error_class``
    with the message ``missing`` (how to install the package), prefixed by ``prefix``."""

    def __init__(self, error_class, prefix, missing):
        self.error_class = error_class
        self.message = missing if prefix is None else prefix + ": " + missing

    def __enter__(self):
        return None

    def __exit__(self, kind, value, tb):
        if kind is None or not issubclass(kind, Exception):
            return False
        if isinstance(value, self.error_class):
            return False
        raise self.error_class(self.message) from None
