"""Typed errors. Each carries a one-line message a user can act on; the CLI prints it and exits non-zero."""


def message_line(exc: BaseException, limit: int | None = 240) -> str:
    """The first line of an exception's message (libraries raise long multi-line texts), or its type name when
    the message is empty."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def first_line(exc: BaseException, limit: int = 240) -> str:
    """`Type: first line of the message`, for errors whose type says as much as their text."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:limit]}" if text else type(exc).__name__


class HarnessError(Exception):
    """Base class: `str(err)` is the one-line message shown to the user."""

    exit_code = 1


class UsageError(HarnessError):
    """Bad command-line arguments or references (exit code 2, like argparse)."""

    exit_code = 2


class ModelError(HarnessError):
    """A model file is missing, is not ONNX, is corrupt, or the runtime cannot load it."""


class InputSpecError(HarnessError):
    """Input shapes or dtypes cannot be resolved (dynamic dimension without --input-shape, bad shape text)."""


class DeviceError(HarnessError):
    """Unknown device profile, or the device is not present on this host."""


class SensorError(HarnessError):
    """A sensor produced output that cannot be parsed."""


class StoreError(HarnessError):
    """The result database cannot be opened or written. The subclasses below say why, so callers (the dashboard)
    branch on the type, never on the message text."""


class StoreMissingError(StoreError):
    """No database file at the path given."""


class StoreLockedError(StoreError):
    """Another process held the database past the lock timeout."""


class NotAHarnessStoreError(StoreError):
    """The file is a DuckDB database (or something else) without harness's schema_version table."""


class StoreSchemaError(StoreError):
    """The file's schema version is not the one this harness reads."""

    def __init__(self, message: str, version: int, latest: int):
        super().__init__(message)
        self.version = version
        self.latest = latest

    @property
    def newer(self) -> bool:
        return self.version > self.latest


class MissingExtraError(HarnessError):
    """An optional package a command needs is not installed; the message names the extra to install."""


class ExportError(HarnessError):
    """One variant could not be exported; recorded for that variant, the run goes on."""


class ExportSkipped(ExportError):
    """A variant cannot be built on this host (e.g. TensorRT is not installed); recorded as skipped, not failed."""


class WorkerError(HarnessError):
    """The measurement worker process died or reported a failure."""
