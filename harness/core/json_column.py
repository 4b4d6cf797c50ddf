"""A JSON object column read back from the store (variants.info, quality.detail, ...): DuckDB hands it over as
text or, through some paths, already decoded. Readers want a dict either way, and an empty one when the column
is null or damaged, so one bad row never stops a comparison."""
from __future__ import annotations

import json
from typing import Any


def json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, str) and value:
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}
