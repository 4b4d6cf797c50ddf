"""Reading and writing the files of the tools harness grows from: Compress and Compare's `models.json`
directories (harness.interop.cc) and Compression Board's benchmark JSON (harness.interop.cb)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError


class ImportFormatError(HarnessError):
    """A file to import is not in the format it claims; the message names the offending key."""


def read_json(path: Path) -> Any:
    """The parsed JSON of a file to import; an unreadable or malformed file is one ImportFormatError line."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFormatError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ImportFormatError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from None
