"""Hypothesis profiles for the fuzzers: bounded by default, longer on request.

`ESPIA_FUZZ=long` runs each fuzzer with many more examples (for a session of
bug hunting, not for CI); the default profile keeps the whole directory at
about a minute on a 2-core machine, so the README's test command stays bounded.
No example database is written: the seeds that matter are kept in corpus/.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=300,
    deadline=timedelta(seconds=2),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=50_000,
    deadline=timedelta(seconds=2),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("ESPIA_FUZZ", "ci"))
