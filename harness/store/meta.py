"""Named store queries for sweeps, the meta-dataset and stored predictors (tables of schema v3)."""
from __future__ import annotations

import json
from typing import Any

from harness.store.store import Store, to_json, utcnow


def sweep_done(store: Store, model: str, device: str) -> set[str]:
    """Recipe names of `model` that an earlier sweep on `device` stored (measured, or failed/skipped at export:
    redoing those would fail again), plus every recipe of a sweep run that completed (a recipe whose file came
    out byte-identical to another variant of its run is stored once, under the other name)."""
    rows = store.query(
        "SELECT DISTINCT v.name FROM variants v JOIN runs r USING (run_id) "
        "WHERE v.model = ? AND r.device = ? AND r.tag = 'sweep'", [model, device])
    done = {r["name"] for r in rows}
    runs = store.query("SELECT config FROM runs WHERE model = ? AND device = ? AND tag = 'sweep' "
                       "AND status = 'complete'", [model, device])
    for r in runs:
        done.update(json.loads(r["config"] or "{}").get("recipes") or [])
    return done


# paired_latency_ratio: the median over timed rounds of (this variant's p50 in round k) / (the FP32 root's p50 in
# round k). The engine times every variant of a run once per round, rotating the order, so round k of the
# variant and of the root are seconds apart at most: the machine's slow drift (on a shared VM a microsecond-scale
# model's speed moves by up to ~1.7x within a second, and often switches between two levels) cancels in each
# round's ratio, and the median ignores a round that caught a switch. A ratio of the pooled p50s does not: it
# compares whichever level each variant's pooled median happened to land on.
# fast_latency_ratio: the ratio of the fast ends (1st percentile over every timed call) of the variant and of its
# root. On a shared VM the machine's two speed levels switch faster than a round (the tiny-cnn root's per-round p50:
# 9.4 or 13-18 us from one round to the next), so a round's variant and root often sit on different levels and even
# the median of the round ratios strays: on sweep G, variants with the root's very compute (prune-unstructured, true
# ratio 1) came out at 0.69-1.27 (mean |log ratio| 4.6 %, 29 % of them more than 5 % off). The fast end is the
# speed of the fast level, which every measurement reaches many times: 0.91-1.05 there (mean 1.4 %, 5 % more
# than 5 % off), unbiased (mean log ratio -0.1 %). Within the fast level the median ratio agrees with it (within
# 1 %); the p50 ratio of INT8 variants is ~8 % higher on that VM, because they spend less of their calls on the
# fast level. harness.meta.dataset.latency_ratio uses it when both measurements timed enough calls.
# `name` is the point's recipe: a run's FP32 root is recipe "fp32" whatever its variant is called (a plain ONNX
# file benched as `harness bench model.onnx` names its root after the file, which is no recipe)
_POINTS = """
WITH m AS (
    SELECT ms.measurement_id, r.run_id, r.device, r.environment, r.created_at, v.variant_id,
           CASE WHEN v.variant_id = v.root_id THEN 'fp32' ELSE v.name END AS name, v.model,
           v.operation, v.params,
           v.root_id, v.base_id, v.size_bytes, v.gzip_bytes, v.param_count, v.sparsity, v.path, v.precision,
           ms.batch_size, ms.threads, ms.p50_ms,
           coalesce(ms.peak_rss_bytes, ms.maxrss_bytes) AS peak_rss_bytes, ms.energy_per_inference_mj
    FROM measurements ms JOIN variants v USING (run_id, variant_id) JOIN runs r USING (run_id)
    WHERE ms.status = 'ok' AND v.status = 'ok' AND (CAST(? AS VARCHAR) IS NULL OR r.device = ?)
      AND (CAST(? AS VARCHAR) IS NULL OR v.model = ?)
), q AS (
    SELECT run_id, variant_id,
           max(CASE WHEN metric = 'accuracy' THEN value END) AS accuracy,
           max(CASE WHEN metric = 'cosine_similarity' THEN value END) AS cosine
    FROM quality WHERE reference = 'task' GROUP BY run_id, variant_id
), points AS (
    SELECT m.*, q.accuracy, q.cosine, root.measurement_id AS root_measurement_id,
           root.p50_ms AS root_p50_ms, root.size_bytes AS root_size_bytes,
           root.peak_rss_bytes AS root_peak_rss_bytes,
           root.energy_per_inference_mj AS root_energy_per_inference_mj,
           root.path AS root_path, rq.accuracy AS root_accuracy, rq.cosine AS root_cosine
    FROM m
    JOIN m AS root ON root.run_id = m.run_id AND root.variant_id = m.root_id AND root.batch_size = m.batch_size
         AND root.threads IS NOT DISTINCT FROM m.threads
    LEFT JOIN q ON q.run_id = m.run_id AND q.variant_id = m.variant_id
    LEFT JOIN q AS rq ON rq.run_id = m.run_id AND rq.variant_id = m.root_id
), timed AS (
    -- the measurements whose samples are read: every point's and its root's
    SELECT measurement_id FROM points UNION SELECT root_measurement_id FROM points
), per_round AS (
    SELECT measurement_id, round, median(latency_ns) AS p50_ns FROM samples
    WHERE measurement_id IN (SELECT measurement_id FROM timed)
    GROUP BY measurement_id, round
), paired AS (
    SELECT p.measurement_id, median(CAST(a.p50_ns AS DOUBLE) / b.p50_ns) AS paired_latency_ratio,
           count(*) AS paired_rounds
    FROM points p
    JOIN per_round a ON a.measurement_id = p.measurement_id
    JOIN per_round b ON b.measurement_id = p.root_measurement_id AND b.round = a.round AND b.p50_ns > 0
    GROUP BY p.measurement_id
), fast AS (
    SELECT measurement_id, quantile_cont(latency_ns, 0.01) AS p1_ns, count(*) AS calls FROM samples
    WHERE measurement_id IN (SELECT measurement_id FROM timed)
    GROUP BY measurement_id
)
SELECT points.*, paired.paired_latency_ratio, coalesce(paired.paired_rounds, 0) AS paired_rounds,
       CAST(fv.p1_ns AS DOUBLE) / nullif(fr.p1_ns, 0) AS fast_latency_ratio,
       coalesce(least(fv.calls, fr.calls), 0) AS fast_calls
FROM points LEFT JOIN paired USING (measurement_id)
LEFT JOIN fast AS fv ON fv.measurement_id = points.measurement_id
LEFT JOIN fast AS fr ON fr.measurement_id = points.root_measurement_id
-- points of one run share its created_at: the run and measurement ids make the order total, so the meta-dataset's
-- rows (and every tie broken by their order downstream) come out the same on every read
ORDER BY points.created_at, points.run_id, points.measurement_id
"""


def measured_points(store: Store, device: str | None = None, model: str | None = None) -> list[dict[str, Any]]:
    """Every ok measurement with its variant, task quality and the FP32 root measured in the same run (same
    batch size and threads), newest last; with the round-paired latency ratio to that root
    (`paired_latency_ratio` over `paired_rounds` rounds; see above)."""
    return store.query(_POINTS, [device, device, model, model])


def models_on_device(store: Store, device: str) -> list[str]:
    rows = store.query("SELECT DISTINCT v.model FROM variants v JOIN runs r USING (run_id) "
                       "WHERE r.device = ? AND v.status = 'ok' ORDER BY 1", [device])
    return [r["model"] for r in rows if r["model"]]


def devices(store: Store) -> list[str]:
    return [r["device"] for r in store.query("SELECT DISTINCT device FROM runs ORDER BY 1")]


def save_predictor(store: Store, record: dict[str, Any], models: list[dict[str, Any]],
                   rows: list[dict[str, Any]]) -> None:
    """One predictor, its boosters (one per target and quantile) and the rows it was trained on, in one
    transaction."""
    record = dict(record, created_at=record.get("created_at") or utcnow())
    with store.write() as con:
        store.insert_rows(con, "predictors", [record])
        store.insert_rows(con, "predictor_models", models)
        store.insert_rows(con, "predictor_data", rows)


def latest_predictor(store: Store, device: str | None = None, kind: str = "zero-shot",
                     companion_of: str | None = None) -> dict[str, Any] | None:
    """The newest predictor of `kind` (config "kind"; older predictors have none and are zero-shot) trained on
    `device`'s data when given, and stored as the companion of predictor `companion_of` when given; with its
    boosters."""
    rows = store.query("SELECT * FROM predictors WHERE (CAST(? AS VARCHAR) IS NULL OR device = ?) "
                       "ORDER BY created_at DESC", [device, device])
    for rec in rows:
        config = json.loads(rec.get("config") or "{}")
        if config.get("kind", "zero-shot") == kind and (companion_of is None
                                                         or config.get("companion_of") == companion_of):
            break
    else:
        return None
    rec["models"] = store.query("SELECT target, quantile, model_text FROM predictor_models "
                                "WHERE predictor_id = ? ORDER BY target, quantile", [rec["predictor_id"]])
    return rec


def predictor_data(store: Store, predictor_id: str) -> list[dict[str, Any]]:
    """The meta-dataset rows a predictor was trained on (features and targets decoded)."""
    rows = store.query("SELECT * FROM predictor_data WHERE predictor_id = ? ORDER BY seq", [predictor_id])
    for r in rows:
        r["features"] = json.loads(r["features"])
        r["targets"] = json.loads(r["targets"])
    return rows


def encode(value: Any) -> str | None:
    return to_json(value)


def failed_recipes(store: Store, model: str, device: str) -> dict[str, str]:
    """Recipe name -> reason, for recipes of `model` whose export failed or was skipped on `device` and that were
    never exported successfully there (e.g. structured pruning of a net where no layer can lose channels)."""
    rows = store.query(
        "SELECT v.name, any_value(v.error) AS error FROM variants v JOIN runs r USING (run_id) "
        "WHERE v.model = ? AND r.device = ? GROUP BY v.name HAVING bool_and(v.status <> 'ok')", [model, device])
    return {r["name"]: r["error"] for r in rows}


def newest_measurement_at(store: Store, device: str | None = None):
    """When the newest measurement (on `device`, or anywhere) was stored: a stored predictor older than that is
    retrained."""
    return store.query("SELECT max(m.created_at) AS t FROM measurements m JOIN runs r USING (run_id) "
                       "WHERE CAST(? AS VARCHAR) IS NULL OR r.device = ?", [device, device])[0]["t"]


SIZE_STATUSES = ("ok", "failed", "not computed")


def stored_sizes(store: Store, root_id: str, device: str
                 ) -> tuple[dict[str, int], dict[str, str], dict[str, str]]:
    """Computed sizes (harness.meta.sizing) of the recipes of one FP32 root, by status: ({recipe: bytes} of those
    exported, {recipe: error} of those whose export fails on the model, {recipe: why} of those not tried)."""
    out: tuple[dict, dict, dict] = ({}, {}, {})
    if not store.path.exists():
        return out
    rows = store.query("SELECT recipe, status, size_bytes, reason FROM computed_sizes WHERE root_id = ? "
                       "AND device = ? ORDER BY computed_at", [root_id, device])
    for r in rows:
        i = SIZE_STATUSES.index(r["status"])
        out[i][r["recipe"]] = r["size_bytes"] if i == 0 else r["reason"]
    return out


def stored_latencies(store: Store, root_id: str, device: str, host: str | None
                     ) -> tuple[dict[str, Any], dict[str, str]]:
    """Latency ratios timed from size-only exports (harness.meta.timed_latency) of one FP32 root's recipes on a
    host with key `host`: ({recipe: (ratio, low, high, calls)}, {recipe: why it was not timed})."""
    if not store.path.exists() or host is None:
        return {}, {}
    rows = store.query("SELECT recipe, latency_ratio, latency_low, latency_high, latency_calls, latency_reason "
                       "FROM computed_sizes WHERE root_id = ? AND device = ? AND timed_on = ? "
                       "ORDER BY computed_at", [root_id, device, host])
    timed, why = {}, {}
    for r in rows:
        if r["latency_ratio"] is not None:
            timed[r["recipe"]] = (r["latency_ratio"], r["latency_low"], r["latency_high"],
                                  int(r["latency_calls"] or 0))
        elif r["latency_reason"]:
            why[r["recipe"]] = r["latency_reason"]
    return timed, why


def save_sizes(store: Store, root_id: str, model: str, device: str, sizes, host: str | None = None) -> None:
    """Store the outcomes in `sizes` (harness.meta.sizing.Sizes), replacing older ones of the same recipes; with
    their timed latency ratios when `host` (the key of the host that timed them) is given."""
    now = utcnow()
    rows = []
    for status, values in zip(SIZE_STATUSES, (sizes.bytes, sizes.failed, sizes.reasons)):
        rows += [{"root_id": root_id, "model": model, "recipe": r, "device": device, "status": status,
                  "size_bytes": v if status == "ok" else None, "reason": None if status == "ok" else v,
                  "computed_at": now} for r, v in values.items()]
    if host is not None:
        for row in rows:
            t = sizes.latency.get(row["recipe"])
            row.update(timed_on=host, latency_reason=sizes.latency_reasons.get(row["recipe"]))
            if t is not None:
                row.update(latency_ratio=t.ratio, latency_low=t.low, latency_high=t.high, latency_calls=t.calls)
    if not rows:
        return
    with store.write() as con:
        con.execute("DELETE FROM computed_sizes WHERE root_id = ? AND device = ? AND recipe IN ("
                    + ",".join("?" * len(rows)) + ")", [root_id, device, *[r["recipe"] for r in rows]])
        store.insert_rows(con, "computed_sizes", rows)
