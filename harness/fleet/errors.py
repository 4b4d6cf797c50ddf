"""Errors of the fleet path."""
from harness.core.errors import HarnessError


class FleetError(HarnessError):
    """The cluster cannot be reached, a board is unknown or runs another harness version, or Ray is missing."""
