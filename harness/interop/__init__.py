"""Reading and writing the files of the tools harness grows from: Compress and Compare's `models.json`
directories (harness.interop.cc) and Compression Board's benchmark JSON (harness.interop.cb)."""
from __future__ import annotations

from harness.core.errors import HarnessError


class ImportFormatError(HarnessError):
    """A file to import is not in the format it claims; the message names the offending key."""
