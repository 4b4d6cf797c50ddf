"""The result schema, as ordered migrations. A database records its version in `schema_version`.

To change the schema, append a migration; never edit one that has shipped. Migrations run in version order,
each in its own transaction. JSON values are stored as VARCHAR text so no DuckDB extension is needed offline.
"""
from __future__ import annotations

V1 = """
CREATE TABLE runs (
    run_id VARCHAR PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status VARCHAR NOT NULL,            -- running | complete | interrupted | failed
    tag VARCHAR,
    model VARCHAR,
    device VARCHAR NOT NULL,
    host VARCHAR,
    git_sha VARCHAR,
    harness_version VARCHAR,
    fingerprint VARCHAR,                -- hash of the comparable part of the environment
    environment VARCHAR,                -- JSON
    config VARCHAR                      -- JSON
);
CREATE TABLE variants (
    run_id VARCHAR NOT NULL,
    variant_id VARCHAR NOT NULL,        -- content hash of the model file (or of its recipe when export failed)
    name VARCHAR NOT NULL,
    model VARCHAR,
    format VARCHAR,
    precision VARCHAR,
    path VARCHAR,
    base_id VARCHAR,
    root_id VARCHAR,
    operation VARCHAR,
    params VARCHAR,                     -- JSON
    size_bytes BIGINT,
    gzip_bytes BIGINT,
    param_count BIGINT,
    sparsity DOUBLE,
    status VARCHAR NOT NULL,            -- ok | failed | skipped
    error VARCHAR,
    export_s DOUBLE,
    info VARCHAR,                       -- JSON
    created_at TIMESTAMP,
    PRIMARY KEY (run_id, variant_id)
);
CREATE TABLE measurements (
    measurement_id VARCHAR PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    variant_id VARCHAR NOT NULL,
    runtime VARCHAR,
    provider VARCHAR,
    graph_optimization VARCHAR,
    batch_size INTEGER,
    threads INTEGER,
    inputs_source VARCHAR,
    status VARCHAR NOT NULL,            -- ok | failed
    error VARCHAR,
    load_ms DOUBLE,
    cold_first_ms DOUBLE,
    model_load_rss_bytes BIGINT,
    peak_rss_bytes BIGINT,
    maxrss_bytes BIGINT,
    device_memory_peak_bytes BIGINT,
    rounds INTEGER,
    warmup INTEGER,
    count BIGINT,
    min_ms DOUBLE, mean_ms DOUBLE, std_ms DOUBLE, cv DOUBLE,
    p50_ms DOUBLE, p90_ms DOUBLE, p95_ms DOUBLE, p99_ms DOUBLE, p999_ms DOUBLE, max_ms DOUBLE,
    throughput_ips DOUBLE,              -- inference calls per second
    throughput_sps DOUBLE,              -- samples per second (calls * batch size)
    energy_mj DOUBLE,
    energy_source VARCHAR,
    energy_scope VARCHAR,
    energy_reason VARCHAR,
    energy_per_inference_mj DOUBLE,
    avg_power_mw DOUBLE,
    throttled BOOLEAN,
    sensors VARCHAR,                    -- JSON
    warnings VARCHAR,                   -- JSON list
    created_at TIMESTAMP
);
CREATE TABLE samples (
    measurement_id VARCHAR NOT NULL,
    round INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    latency_ns BIGINT NOT NULL
);
"""

# v2: idle baseline, quality and per-layer tables, named baselines, the run's HDF5 file
V2 = """
ALTER TABLE runs ADD COLUMN hdf5_path VARCHAR;
ALTER TABLE measurements ADD COLUMN idle_power_mw DOUBLE;
ALTER TABLE measurements ADD COLUMN energy_above_idle_per_inference_mj DOUBLE;
CREATE TABLE quality (
    run_id VARCHAR NOT NULL,
    variant_id VARCHAR NOT NULL,
    reference VARCHAR NOT NULL,         -- task | base | root
    reference_id VARCHAR,
    metric VARCHAR NOT NULL,
    value DOUBLE,
    detail VARCHAR                      -- JSON
);
CREATE TABLE layers (
    run_id VARCHAR NOT NULL,
    variant_id VARCHAR NOT NULL,
    layer VARCHAR NOT NULL,
    kind VARCHAR,
    param_count BIGINT,
    zeros BIGINT,
    sparsity DOUBLE,
    change_mean_rel DOUBLE,
    change_max_rel DOUBLE,
    change_hist VARCHAR                 -- JSON {edges: [...], counts: [...]}
);
CREATE TABLE baselines (
    name VARCHAR PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    set_at TIMESTAMP NOT NULL
);
"""

# v3: robust dispersion figures of a measurement; baselines made of several runs (regress pools them)
V3 = """
ALTER TABLE measurements ADD COLUMN iqr_rel DOUBLE;
ALTER TABLE measurements ADD COLUMN mad_rel DOUBLE;
ALTER TABLE measurements ADD COLUMN outlier_fraction DOUBLE;
ALTER TABLE measurements ADD COLUMN round_spread DOUBLE;
CREATE TABLE baseline_runs (
    name VARCHAR NOT NULL,              -- baselines.name
    run_id VARCHAR NOT NULL,
    position INTEGER NOT NULL           -- 0 = the newest run, the one baselines.run_id names
);
"""

MIGRATIONS: dict[int, str] = {1: V1, 2: V2, 3: V3}
LATEST = max(MIGRATIONS)
