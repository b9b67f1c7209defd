"""One exception hierarchy for everything a user can act on.

Faces (CLI, Ansible plugins) catch :class:`FsmError` and print its message;
anything else is an internal error and is reported as such.
"""

from __future__ import annotations

REPORT_BUGS_AT = "https://github.com/overdue-fsm/overdue-fsm/issues"


class FsmError(Exception):
    """Base of every error overdue-fsm raises on purpose."""


class InputError(FsmError, ValueError):
    """A value given by the user (argument, file, event) is not acceptable.

    The message names the field, the value and what is expected.
    """

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(self.describe())

    def describe(self) -> str:
        """The message: the field, the value and what is expected."""
        return f"{self.field}: {_show(self.value)} is not valid; expected {self.expected}"

    def renamed(self, field: str) -> InputError:
        """The same error naming the field as the user typed it (``--at`` for ``observed_at``)."""
        named = type(self).__new__(type(self))  # copy.copy would call __init__ with the message
        named.__dict__.update(self.__dict__)
        named.field = field
        named.args = (named.describe(),)
        return named


class MissingInputError(InputError):
    """A value that is required here was not given; ``why`` says why it is needed."""

    def __init__(self, field: str, why: str, expected: str) -> None:
        self.why = why
        super().__init__(field, None, expected)

    def describe(self) -> str:
        return f"{self.field} is required: {self.why}; expected {self.expected}"


class PolicyError(InputError):
    """A policy file or policy value is invalid."""


class StoreError(FsmError):
    """The store cannot be opened, read or written."""


class NoStoreError(StoreError):
    """A reader found no store where it looked: nothing was ever recorded there."""


class NotTrackedError(FsmError):
    """The store holds no cluster of that id (guards fail closed on it)."""

    def __init__(self, cluster_id: str) -> None:
        self.cluster_id = cluster_id
        super().__init__(
            f"cluster {cluster_id!r} is not tracked; record it first "
            "(overdue-fsm observe, or the overdue.emr.cluster_phase module)"
        )


class DeniedError(FsmError):
    """The cluster's phase denies the operation asked for (or cannot be determined).

    The message is the reason of the domain's decision; guards fail closed on it.
    """

    def __init__(self, cluster_id: str, operation: str, reason: str) -> None:
        self.cluster_id = cluster_id
        self.operation = operation
        self.reason = reason
        super().__init__(reason)


class SourceError(FsmError):
    """A cloud API answered with an error, or did not answer."""

    def __init__(
        self,
        api: str,
        code: str,
        message: str,
        request_id: str | None = None,
    ) -> None:
        self.api = api
        self.code = code
        self.request_id = request_id
        rid = f" (RequestId {request_id})" if request_id else ""
        super().__init__(f"{api} failed: {code}: {message}{rid}")


def _show(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer too long to print (sys.get_int_max_str_digits)
        text = f"<a {type(value).__name__} too long to show>"
    return text if len(text) <= 80 else text[:77] + "..."
