"""Why a board's bench did not come back, in one line, from the exception Ray raised for its task."""
from __future__ import annotations

from harness.core.errors import message_line


def describe_failure(exc: BaseException) -> str:
    """One line for a failed board task: node death and unreachability are named as such; an error raised by
    harness on the board is passed through."""
    import ray.exceptions as rx

    if isinstance(exc, rx.RayTaskError):
        cause = exc.cause if getattr(exc, "cause", None) is not None else None
        if cause is not None and not isinstance(cause, rx.RayError):
            return message_line(cause)
        text = str(exc).strip().splitlines()
        return text[-1][:240] if text else type(exc).__name__
    if isinstance(exc, getattr(rx, "NodeDiedError", ())):
        return f"node died mid-run ({message_line(exc)})"
    if isinstance(exc, rx.WorkerCrashedError):
        return "node died or was killed mid-run: the bench process on the board exited unexpectedly"
    if isinstance(exc, getattr(rx, "TaskUnschedulableError", ())):
        return f"cannot run on the node (gone or unreachable): {message_line(exc)}"
    if isinstance(exc, (getattr(rx, "OwnerDiedError", ()), getattr(rx, "ObjectLostError", ()))):
        return f"node unreachable, its results were lost: {message_line(exc)}"
    if isinstance(exc, rx.GetTimeoutError):
        return "no answer from the node before the timeout"
    if isinstance(exc, rx.TaskCancelledError):
        return "cancelled (interrupted)"
    return f"{type(exc).__name__}: {message_line(exc)}"
