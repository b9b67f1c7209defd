"""Settings for the whole suite: the Hypothesis profiles.

``CI=true`` (``.ci/run`` sets it) selects the ``ci`` profile: derandomized, so
every run of CI tries the same cases (a fixed seed) and a failure reproduces.
Elsewhere ``dev`` explores new cases on every run, as many of them.
"""

from __future__ import annotations

import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the legs of `make test-matrix` run tests/ansible, which needs none
    settings = None

if settings is not None:
    _COMMON = {
        "deadline": None,  # the fuzzers time each run themselves (under 5 s)
        "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    }
    settings.register_profile("ci", derandomize=True, print_blob=True, **_COMMON)  # type: ignore[arg-type]
    settings.register_profile("dev", **_COMMON)  # type: ignore[arg-type]
    settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")
