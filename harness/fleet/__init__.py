"""A board fleet on Ray: `harness node start|list|stop` and `harness bench --cluster ADDRESS --boards ...`.

Ray provides node membership, custom resources (each board advertises itself: Ray cannot see a Jetson GPU),
node-pinned tasks, object transfer and fault reporting; harness adds the board identity, one pinned bench per
board, and the head as the only writer of the DuckDB store. Nothing here imports Ray at import time.
"""
