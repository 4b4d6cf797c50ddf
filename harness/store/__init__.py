from harness.store.store import Store

__all__ = ["Store"]
