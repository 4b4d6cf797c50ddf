"""`harness bench --cluster ADDRESS --boards ...`: the command-line end of a fleet bench."""
from __future__ import annotations

import sys

from harness.core.errors import UsageError
from harness.plan import BenchConfig


def run_fleet(cluster: str | None, boards: str | None, config: BenchConfig, device_given: bool = False) -> int:
    from harness.fleet.dispatch import FleetConfig, run_fleet_bench

    if not cluster:
        raise UsageError("--boards needs --cluster HOST:PORT (or local:N)")
    if device_given:
        # each board benches with its own device profile (advertised when it joined); a --device would be ignored
        raise UsageError("--device does not apply with --cluster: each board uses the device profile it "
                         "advertised with `harness node start --device`")
    if boards is None:
        boards = "all" if cluster.startswith("local:") else None
    if boards is None:
        raise UsageError("--cluster needs --boards NAME[,NAME...], all, or failed@RUN")
    result = run_fleet_bench(FleetConfig(cluster=cluster, boards=boards, bench=config))
    for line in result.problems:
        print(f"harness: error: {line}", file=sys.stderr)
    ok = [b for b in result.boards if b not in result.failed]
    if result.failed:
        names = ", ".join(f"{b} ({why})" for b, why in sorted(result.failed.items()))
        print(f"harness: error: board(s) failed: {names}; re-run them with --boards failed@{result.run_id}",
              file=sys.stderr)
    print(f"run {result.run_id} {result.status}: {len(ok)} of {len(result.boards)} board(s) measured; "
          f"see `harness compare {result.run_id} --db {config.db}`")
    return 1 if result.failed or result.problems or result.status != "complete" else 0
