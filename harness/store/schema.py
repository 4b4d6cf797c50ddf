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

# v3: a fleet run (`harness bench --cluster`) measures on several boards: every measurement and quality row
# records the board (and Ray node and host) it came from; variants built on one board (TensorRT engines) name it;
# run_boards keeps each board's status, environment and failure reason (what `--boards failed@RUN` re-targets)
V3 = """
ALTER TABLE measurements ADD COLUMN node VARCHAR;
ALTER TABLE measurements ADD COLUMN host VARCHAR;
ALTER TABLE measurements ADD COLUMN board VARCHAR;
ALTER TABLE quality ADD COLUMN board VARCHAR;
ALTER TABLE variants ADD COLUMN board VARCHAR;
CREATE TABLE run_boards (
    run_id VARCHAR NOT NULL,
    board VARCHAR NOT NULL,
    node VARCHAR,                       -- Ray node id
    host VARCHAR,
    device VARCHAR,                     -- the board's device profile
    harness_version VARCHAR,
    status VARCHAR NOT NULL,            -- running | complete | failed
    error VARCHAR,
    fingerprint VARCHAR,
    environment VARCHAR,                -- JSON
    hdf5_path VARCHAR,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    PRIMARY KEY (run_id, board)
);
"""

# v4: predictors of `harness predict`/`recommend` (harness.meta), their boosters, and the meta-dataset rows
# each was trained on
V4 = """
CREATE TABLE predictors (
    predictor_id VARCHAR PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    library VARCHAR NOT NULL,           -- e.g. lightgbm
    library_version VARCHAR,
    device VARCHAR,                     -- device whose measurements it was trained on (NULL: all)
    feature_names VARCHAR NOT NULL,     -- JSON list
    targets VARCHAR NOT NULL,           -- JSON {target: {trained, reason, rows, transform}}
    quantiles VARCHAR NOT NULL,         -- JSON list, e.g. [0.1, 0.5, 0.9]
    n_rows INTEGER NOT NULL,
    config VARCHAR                      -- JSON: hyperparameters, categorical encodings
);
CREATE TABLE predictor_models (
    predictor_id VARCHAR NOT NULL,
    target VARCHAR NOT NULL,            -- drop_pts | latency_ratio | size_ratio | memory_ratio | energy_ratio
    quantile DOUBLE NOT NULL,
    model_text VARCHAR NOT NULL         -- the booster, serialised by its library
);
CREATE TABLE predictor_data (
    predictor_id VARCHAR NOT NULL,
    seq INTEGER NOT NULL,
    run_id VARCHAR,
    variant_id VARCHAR,
    model VARCHAR,
    recipe VARCHAR,
    device VARCHAR,
    features VARCHAR NOT NULL,          -- JSON {name: value}
    targets VARCHAR NOT NULL            -- JSON {target: value or null}
);
"""


# v5: what other tools' users bring (Compress and Compare models.json, Compression Board JSON, LocalModelMonitor):
# a variant's free-text tag, user metrics and their definitions, operation parameter specs, training curves,
# and per-layer activation similarity between a variant and its base.
V5 = """
ALTER TABLE variants ADD COLUMN tag VARCHAR;
CREATE TABLE metric_defs (
    run_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    is_primary BOOLEAN,
    format VARCHAR,                     -- d3 format string, as Compress and Compare writes it
    unit VARCHAR,
    min DOUBLE,
    max DOUBLE,
    extra VARCHAR                       -- JSON: any other keys of the definition, kept for export
);
CREATE TABLE operation_defs (
    run_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    parameters VARCHAR,                 -- JSON {param: {type, min, max, options, format}}
    extra VARCHAR                       -- JSON
);
CREATE TABLE user_metrics (
    run_id VARCHAR NOT NULL,
    variant_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    value DOUBLE,                       -- null when the tool recorded null or a non-number
    raw VARCHAR,                        -- JSON of a non-numeric value
    source VARCHAR                      -- monitor | cc | cb
);
CREATE TABLE curves (
    run_id VARCHAR NOT NULL,
    variant_id VARCHAR NOT NULL,
    split VARCHAR NOT NULL,             -- training | validation
    metric VARCHAR NOT NULL,
    step INTEGER NOT NULL,
    value DOUBLE
);
CREATE TABLE activations (
    run_id VARCHAR NOT NULL,
    variant_id VARCHAR NOT NULL,
    reference_id VARCHAR NOT NULL,      -- the base the activations are compared with
    layer VARCHAR NOT NULL,             -- tensor name in both graphs
    op_type VARCHAR,
    cka DOUBLE,                         -- linear CKA over the eval instances (1 = same representation)
    cosine DOUBLE,                      -- mean per-instance cosine; null when the shapes differ
    n INTEGER
);
"""

# v6: LoadGen scenarios (the measurement's scenario, LoadGen's verdict and figures) and the roofline of every
# measurement (work and traffic per inference, achieved rate, fraction of the device's peak)
V6 = """
ALTER TABLE measurements ADD COLUMN scenario VARCHAR;     -- harness (its own loop) | single-stream | multi-stream | offline | server
ALTER TABLE measurements ADD COLUMN macs BIGINT;          -- multiply-accumulates per call (FLOPs = 2 x MACs)
ALTER TABLE measurements ADD COLUMN bytes BIGINT;         -- weights + activations moved per call (no-reuse bound)
ALTER TABLE measurements ADD COLUMN arithmetic_intensity DOUBLE;   -- FLOPs per byte
ALTER TABLE measurements ADD COLUMN achieved_gops DOUBLE;
ALTER TABLE measurements ADD COLUMN peak_gops DOUBLE;     -- the device's peak for the variant's precision
ALTER TABLE measurements ADD COLUMN peak_bandwidth_gbps DOUBLE;
ALTER TABLE measurements ADD COLUMN peak_fraction DOUBLE;
ALTER TABLE measurements ADD COLUMN peak_source VARCHAR;  -- "datasheet: ..." | "measured peak"
ALTER TABLE measurements ADD COLUMN roofline_reason VARCHAR;
CREATE TABLE loadgen_results (
    measurement_id VARCHAR PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    scenario VARCHAR NOT NULL,          -- LoadGen's name: SingleStream | MultiStream | Offline | Server
    valid BOOLEAN NOT NULL,
    verdict VARCHAR NOT NULL,           -- VALID | INVALID
    reasons VARCHAR,                    -- JSON list: why INVALID, in LoadGen's terms
    query_count BIGINT,
    samples_per_query INTEGER,
    qps DOUBLE,                         -- LoadGen's throughput figure for the scenario (qps_source says which)
    qps_source VARCHAR,
    min_ms DOUBLE, mean_ms DOUBLE, p50_ms DOUBLE, p90_ms DOUBLE, p95_ms DOUBLE, p97_ms DOUBLE, p99_ms DOUBLE,
    p999_ms DOUBLE, max_ms DOUBLE,      -- LoadGen's own latency percentiles (issue to completion)
    target_qps DOUBLE,
    target_latency_ms DOUBLE,
    target_latency_percentile DOUBLE,
    early_stopping VARCHAR,
    settings VARCHAR,                   -- JSON: the TestSettings harness applied
    summary VARCHAR,                    -- JSON: the whole parsed summary (errors, warnings, per-query figures)
    log_dir VARCHAR,                    -- LoadGen's summary and detail logs, kept as artifacts
    loadgen_version VARCHAR
);
"""

# v7: robust dispersion figures of a measurement; baselines made of several runs (regress pools them)
V7 = """
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

# V8: a torch variant's provider is the torch device it ran on ("cuda:0", "cpu"), as the engine now records it;
# earlier rows carried the onnxruntime provider that was requested and not used. Their worker's own report
# (sensors.runtime.device) says where they ran, so old baselines keep matching new runs in `harness regress`.
V8 = """
UPDATE measurements SET provider = json_extract_string(sensors, '$.runtime.device')
WHERE runtime = 'torch' AND json_extract_string(sensors, '$.runtime.device') IS NOT NULL;
"""

# v9: sizes of variants not measured yet, computed by a size-only export (harness.meta.sizing), so that
# `harness recommend` need not predict them; keyed by the FP32 root's file hash, so a re-exported root differs
V9 = """
CREATE TABLE computed_sizes (
    root_id VARCHAR NOT NULL,           -- the FP32 root's variant id (hash of its file)
    model VARCHAR NOT NULL,
    recipe VARCHAR NOT NULL,
    device VARCHAR NOT NULL,            -- the target it was exported for
    status VARCHAR NOT NULL,            -- ok | failed (the recipe's export fails on this model) | not computed
    size_bytes BIGINT,                  -- with external data; NULL unless ok
    reason VARCHAR,                     -- the export's error, or why it was not tried
    computed_at TIMESTAMP NOT NULL
);
"""

# v10: the latency ratio of a variant not measured yet, timed from its size-only export against the FP32 root on a
# host alike the one the root was measured on (harness.meta.timed_latency), so that `harness recommend` need not
# predict it either; NULL where not timed (latency_reason says why, or it was never asked for)
V10 = """
ALTER TABLE computed_sizes ADD COLUMN latency_ratio DOUBLE;
ALTER TABLE computed_sizes ADD COLUMN latency_low DOUBLE;     -- the resampled 80 % interval
ALTER TABLE computed_sizes ADD COLUMN latency_high DOUBLE;
ALTER TABLE computed_sizes ADD COLUMN latency_calls BIGINT;
ALTER TABLE computed_sizes ADD COLUMN latency_reason VARCHAR;
ALTER TABLE computed_sizes ADD COLUMN timed_on VARCHAR;       -- harness.meta.timed_latency.host_key of the host
"""

# v11: the per-layer profile (`harness bench --profile-layers`): per variant and layer of its FP32 root, the time
# of what ran for it, in which precision, and how far its output moved from the root's (harness.profiling)
V11 = """
CREATE TABLE layer_profile (
    run_id VARCHAR NOT NULL,
    variant_id VARCHAR NOT NULL,
    measurement_id VARCHAR,             -- the measurement whose worker was profiled (its batch size, threads)
    layer VARCHAR NOT NULL,             -- the FP32 root's layer: its weight node's name (or the node's own)
    layer_order INTEGER,                -- position in the root graph
    op_type VARCHAR,                    -- the root layer's op type
    ran_as VARCHAR,                     -- the kernels that ran for it, e.g. "QLinearConv + DequantizeLinear"
    provider VARCHAR,
    precision VARCHAR,                  -- int8 | int4 | fp16 | fp32 | qdq ...: read from what ran
    time_ms DOUBLE,                     -- per call, everything that ran for it (median of calls)
    qdq_ms DOUBLE,                      -- of which Q/DQ conversions
    unfused_qdq BOOLEAN,                -- float computation between Q/DQ nodes in this layer
    profiled_calls INTEGER,
    rel_l2 DOUBLE,                      -- ||variant - root|| / ||root|| of the layer's output
    cosine DOUBLE,
    error_added DOUBLE,                 -- rel_l2 minus the largest rel_l2 of the layers it reads
    error_n INTEGER,                    -- instances the error was computed on
    time_source VARCHAR,                -- the profiler (and "unverified" where it was not run on hardware)
    error_source VARCHAR                -- which inputs the error was computed on
);
"""

MIGRATIONS: dict[int, str] = {1: V1, 2: V2, 3: V3, 4: V4, 5: V5, 6: V6, 7: V7, 8: V8, 9: V9, 10: V10, 11: V11}
LATEST = max(MIGRATIONS)
