"""Capture what native libraries write to file descriptor 2 (onnxruntime's C++ logger prints ANSI-coloured
lines there, bypassing Python), so it lands in a variant's error instead of the user's terminal."""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import Iterator

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def clean(text: str, limit: int = 400) -> str:
    """ANSI codes removed, lines joined with ' | ', at most `limit` characters (the end is kept: errors come
    last)."""
    lines = [ln.strip() for ln in ANSI.sub("", text).splitlines() if ln.strip()]
    joined = " | ".join(lines)
    return joined if len(joined) <= limit else "..." + joined[-limit:]


class NativeStderr:
    """fd 2 redirected into a temp file while active; `take()` returns what arrived since the last call."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(mode="w+b")
        self._saved: int | None = None
        self._pos = 0

    def start(self) -> "NativeStderr":
        sys.stderr.flush()
        self._saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        return self

    def stop(self) -> None:
        if self._saved is not None:
            sys.stderr.flush()
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._saved = None

    def take(self) -> str:
        """Text written since the last take, cleaned to one line ("" when nothing)."""
        sys.stderr.flush()
        self._file.seek(self._pos)
        data = self._file.read()
        self._pos += len(data)
        return clean(data.decode("utf-8", "replace"))

    def close(self) -> None:
        self.stop()
        self._file.close()


@contextlib.contextmanager
def captured_stderr() -> Iterator[NativeStderr]:
    cap = NativeStderr().start()
    try:
        yield cap
    finally:
        cap.stop()


_PREFIX = re.compile(r"^\.*\s*(\d{4}-\d\d-\d\d [\d:.]+ )?\[[EWIVF]:onnxruntime:[^\]]*\]\s*")


def _news(message: str, log: str) -> list[str]:
    """Log lines (logger prefix removed) whose opening words the message does not already contain."""
    out = []
    for line in log.split(" | "):
        text = _PREFIX.sub("", line).strip()
        probe = text[:60]
        if text and probe not in message and not any(probe in o for o in out):
            out.append(text)
    return out


def with_log(message: str, log: str, limit: int = 300) -> str:
    """`message (runtime log: ...)` when the log says something the message does not; one line either way."""
    news = _news(message, log) if log else []
    if not news:
        return message
    extra = " | ".join(news)
    if len(extra) > limit:
        extra = "..." + extra[-limit:]
    return f"{message} (runtime log: {extra})"
