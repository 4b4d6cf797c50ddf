"""The fleet's pure parts, without a cluster: board selection and version refusal, `ray start` arguments, node
identity, the board-side recording store, per-board grouping of a run's rows."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.core.comparison import split_by_board
from harness.core.errors import UsageError
from harness.fleet.dispatch import FleetBench, parse_board_spec
from harness.fleet.errors import FleetError
from harness.fleet.identity import NodeIdentity, from_ray_node, resources
from harness.fleet.records import RecordingStore


def _node(board, alive=True, version="0.1.0", host="h", node_id=None):
    return NodeIdentity(node_id or f"id-{board}-{alive}", host, "10.0.0.1", alive, board, "jetson", version, "aarch64")


def test_board_spec_forms():
    assert parse_board_spec("all") == ("all", None)
    assert parse_board_spec("a, b") == ("names", ["a", "b"])
    assert parse_board_spec("failed@nightly@latest") == ("failed", "nightly@latest")
    for bad in ("", "failed@", "a,a", "bad name"):
        with pytest.raises(UsageError):
            parse_board_spec(bad)


def test_select_pins_named_boards_and_refuses_a_version_mismatch():
    nodes = [_node("orin-1"), _node("orin-2"), _node("old", version="0.0.9"), _node(None)]
    chosen = FleetBench.select(nodes, "names", ["orin-2", "orin-1"], "0.1.0")
    assert [n.board for n in chosen] == ["orin-2", "orin-1"]
    with pytest.raises(FleetError, match=r"board old \(h\) runs harness 0.0.9, the head runs 0.1.0"):
        FleetBench.select(nodes, "all", None, "0.1.0")
    with pytest.raises(UsageError, match="no board named nano"):
        FleetBench.select(nodes, "names", ["nano"], "0.1.0")
    with pytest.raises(FleetError, match="two live nodes advertise board 'orin-1'"):
        FleetBench.select(nodes + [_node("orin-1", node_id="other")], "names", ["orin-1"], "0.1.0")


def test_select_keeps_dead_and_vanished_boards_to_fail_them():
    nodes = [_node("orin-1"), _node("orin-2", alive=False)]
    chosen = FleetBench.select(nodes, "names", ["orin-2"], "0.1.0")
    assert chosen[0].alive is False
    # a board that failed before and has left the cluster is re-tried as absent, not refused as unknown
    chosen = FleetBench.select(nodes, "failed", ["gone"], "0.1.0")
    assert chosen[0].board == "gone" and not chosen[0].alive


def test_identity_round_trip_through_ray_node_entry():
    entry = {"NodeID": "abc", "Alive": True, "NodeManagerAddress": "10.0.0.7", "NodeManagerHostname": "orin-7",
             "Resources": {"CPU": 6.0, **resources("orin-7", "jetson", "0.1.0", "aarch64")}}
    ident = from_ray_node(entry)
    assert (ident.board, ident.device, ident.version, ident.machine, ident.host) == (
        "orin-7", "jetson", "0.1.0", "aarch64", "orin-7")
    assert ident.mismatch("0.1.0") is None and "0.2.0" in ident.mismatch("0.2.0")
    assert from_ray_node({"NodeID": "x", "Alive": True, "Resources": {"CPU": 1}}).board is None


def test_node_start_command_binds_where_told_and_advertises_identity(tmp_path):
    pytest.importorskip("ray")
    from harness.fleet.node import NodeStartConfig, start_command

    args, env = start_command(NodeStartConfig(head=True, host="10.1.2.3", port=6390, board="host-a", device="cpu"))
    assert "--head" in args and "--node-ip-address=10.1.2.3" in args and "--port=6390" in args
    assert "--include-dashboard=false" in args
    res = json.loads(next(a for a in args if a.startswith("--resources=")).split("=", 1)[1])
    assert res["harness-board:host-a"] == 1 and res["harness-device:cpu"] == 1
    args, env = start_command(NodeStartConfig(address="10.1.2.3:6390", board="orin-1", device="jetson",
                                              device_root=str(tmp_path), device_options={"tegrastats_cmd": "/x"}))
    assert "--address=10.1.2.3:6390" in args and env["HARNESS_NODE_ROOT"] == str(tmp_path)
    assert json.loads(env["HARNESS_NODE_DEVICE_OPTIONS"]) == {"tegrastats_cmd": "/x"}
    # the head binds to loopback unless told otherwise
    args, _ = start_command(NodeStartConfig(head=True))
    assert "--node-ip-address=127.0.0.1" in args
    with pytest.raises(UsageError):
        start_command(NodeStartConfig(head=True, address="h:1"))
    with pytest.raises(UsageError):
        start_command(NodeStartConfig(address="nope"))


def test_recording_store_drops_a_rolled_back_transaction():
    store = RecordingStore()
    with store.write() as con:
        store.insert_rows(con, "variants", [{"variant_id": "a"}])
        store.insert_samples(con, "m1", [[1, 2], [3]])
    with pytest.raises(RuntimeError):
        with store.write() as con:
            store.insert_rows(con, "measurements", [{"measurement_id": "m2"}])
            raise RuntimeError("boom")
    rec = store.records
    assert rec.tables["variants"] == [{"variant_id": "a"}] and rec.tables["measurements"] == []
    assert [np.asarray(r).tolist() for r in rec.samples[0][1]] == [[1, 2], [3]] and rec.row_count() == 4


def test_split_by_board_groups_a_fleet_run():
    variants = [{"variant_id": "v1", "name": "fp32"}, {"variant_id": "v2", "name": "int8", "status": "failed"},
                {"variant_id": "t1", "name": "fp32>tensorrt", "board": "b"}]
    meas = [{"variant_id": "v1", "board": "a"}, {"variant_id": "v1", "board": "b"}, {"variant_id": "t1", "board": "b"}]
    quality = [{"variant_id": "v1", "board": "a"}, {"variant_id": "v1", "board": "b"}]
    groups = split_by_board(variants, meas, quality)
    assert list(groups) == ["a", "b"]
    assert [v["variant_id"] for v in groups["a"][0]] == ["v1", "v2"]
    assert [v["variant_id"] for v in groups["b"][0]] == ["v1", "v2", "t1"]
    assert groups["a"][2] == [{"variant_id": "v1", "board": "a"}]
    assert list(split_by_board(variants, [{"variant_id": "v1"}], quality)) == [None]


def test_dashboard_by_board_view_of_a_fleet_run(tmp_path):
    """A fleet run's records written the way the head writes them (real DuckDB), shown side by side."""
    pytest.importorskip("panel")
    from harness.store import Store
    from harness.store import fleet as fleet_store
    from harness.store.store import to_json, utcnow
    from harness.reports.dashboard import Dashboard

    store = Store(tmp_path / "f.duckdb")
    store.migrate()
    run_id = "20261125-000000-abcd"
    store.create_run({"run_id": run_id, "created_at": utcnow(), "status": "complete", "device": "jetson",
                      "model": "mlp"})
    fleet_store.insert_variants(store, [
        {"run_id": run_id, "variant_id": "v1", "name": "fp32", "status": "ok", "size_bytes": 1000},
        {"run_id": run_id, "variant_id": "v2", "name": "int8", "status": "ok", "base_id": "v1", "root_id": "v1",
         "size_bytes": 300}])
    for board, p50 in (("orin-a", 2.0), ("xavier-b", 1.0)):
        rows = [{"measurement_id": f"{board}-{vid}", "run_id": run_id, "variant_id": vid, "status": "ok",
                 "batch_size": 1, "p50_ms": p50 * f, "count": 3, "warnings": to_json([]), "board": board,
                 "node": f"node-{board}", "host": board}
                for vid, f in (("v1", 1.0), ("v2", 0.5))]
        fleet_store.write_board_records(store, run_id, [], rows, [(r["measurement_id"], [[1, 2, 3]]) for r in rows],
                                        [], [])
    assert fleet_store.measured_boards(store, run_id) == ["orin-a", "xavier-b"]
    dash = Dashboard(str(store.path), run=run_id)
    table = dash.board_widget.value
    assert list(table["variant"]) == ["fp32", "int8"]
    assert list(table["orin-a p50 ms"]) == [2.0, 1.0] and list(table["xavier-b p50 ms"]) == [1.0, 0.5]
    # ratios are taken against the base on the same board (int8 is 0.5x fp32 on both)
    full = dash.table
    col = next(c for c in full.columns if c.endswith("×base") and "p50" in c.lower())
    assert sorted(full[col].round(3)) == [0.5, 0.5, 1.0, 1.0]
    assert {"fp32 @orin-a", "int8 @xavier-b"} <= set(full["variant"])


def test_device_specific_variants_are_built_on_the_board(tmp_path):
    """A recipe's TensorRT step is not exported on the head: the board builds it from the shipped ONNX base (here,
    without TensorRT, it is recorded as skipped with the reason, and which board tried)."""
    from types import SimpleNamespace

    from harness.device_profiles import load_profile
    from harness.fleet.dispatch import _split_recipe
    from harness.fleet.node_bench import NodeEngine
    from harness.core.import_utils import is_tensorrt_available
    from harness.plan import BenchConfig
    from harness.core.variant import variant_from_file
    from helpers import make_mlp_onnx

    if is_tensorrt_available():
        pytest.skip("TensorRT is installed: the engine build is covered by the tensorrt tier")
    assert _split_recipe("int8-static>tensorrt") == ("int8-static", [
        {"exporter": "tensorrt", "params": {}, "text": "tensorrt"}])
    assert _split_recipe("fp16") == ("fp16", [])
    base = variant_from_file(make_mlp_onnx(tmp_path / "mlp.onnx"), name="fp32", model="mlp")
    chain = {"base_id": base.variant_id, "base_name": "fp32",
             "steps": [{"exporter": "tensorrt", "params": {}, "text": "tensorrt"}]}
    engine = NodeEngine(BenchConfig(), [base], [chain], "orin-a", echo=lambda msg: None)
    built = engine._build_device_variants(SimpleNamespace(name="mlp"), tmp_path / "out", load_profile("cpu"))
    assert len(built) == 1
    v = built[0]
    assert v.name == "fp32>tensorrt" and v.status == "skipped" and v.base_id == base.variant_id
    assert "tensorrt" in (v.error or "").lower() and v.info["built_on"] == "orin-a"
