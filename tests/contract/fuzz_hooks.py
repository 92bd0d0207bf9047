"""Schemathesis hooks for the contract fuzzing (loaded through SCHEMATHESIS_HOOKS).

A generated `sourceUrl` never names a file that exists, so `POST /videos` would only ever
answer 400 and the stateful links (create -> get -> process -> events) would never run. Half
of the positive `POST /videos` cases therefore get the source the test seeded
(`FUZZ_SOURCE_URL`: a file in the local inbox, or an uploaded object in the emulator's S3).
"""

from __future__ import annotations

import os
import random
from typing import Any

import schemathesis


@schemathesis.hook("map_case").apply_to(method="POST", path="/videos")  # type: ignore[attr-defined]
def real_source(context: Any, case: Any) -> Any:
    source = os.environ.get("FUZZ_SOURCE_URL")
    meta = getattr(case, "meta", None)
    positive = meta is not None and not meta.generation.mode.is_negative
    if source and positive and isinstance(case.body, dict) and random.random() < 0.5:
        case.body = {**case.body, "sourceUrl": source}
    return case
