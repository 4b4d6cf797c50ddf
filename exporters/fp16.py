"""fp16: weights and activations converted to float16 (onnxconverter-common), IO kept in float32 on request.

Halves the file. CPUs without native fp16 arithmetic gain no speed (onnxruntime may even insert casts); the
variant is for GPUs and Jetson, where TensorRT and CUDA run fp16 natively.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

from harness.exporters.base import Artifact, ExportConfig, ExportContext, Exporter
from harness.exporters.graph_facts import QUANTIZED_OPS, already_quantized_reason
from harness.exporters.onnx_tools import check_loads, output_path, require_onnx_source, run_once
from harness.core.errors import ExportError, ExportSkipped, first_line
from harness.core.variant import variant_from_file


SUBGRAPH_OPS = ["If", "Loop", "Scan"]


@dataclass(frozen=True)
class Fp16Config(ExportConfig):
    keep_io_types: bool = True       # float32 inputs/outputs, so callers feed the same arrays as to fp32
    op_block_list: str = ""          # extra op types to leave in float32, space-separated


def fix_cast_targets(model) -> int:
    """Point float32 Casts at float16 where the converter retyped their output to float16 but left `to` alone
    (e.g. an int64 attention mask cast to float for pooling); onnxruntime refuses such a graph. Returns the count."""
    from onnx import TensorProto

    typed = {v.name: v.type.tensor_type.elem_type for v in model.graph.value_info}
    outputs = {o.name for o in model.graph.output}
    fixed = 0
    for node in model.graph.node:
        if node.op_type != "Cast" or node.output[0] in outputs:
            continue
        for attr in node.attribute:
            if attr.name == "to" and attr.i == TensorProto.FLOAT and typed.get(node.output[0]) == TensorProto.FLOAT16:
                attr.i = TensorProto.FLOAT16
                fixed += 1
    return fixed


# tensor types that carry quantized data (int64 is left out: shapes and indices pass through float ops too)
QUANTIZED_DATA_TYPES = {2, 3, 6, 21, 22}       # uint8, int8, int32, uint4, int4


def quantized_nodes(model) -> list[str]:
    """Names of the nodes fp16 must leave alone in a quantized graph: quantized ops and nodes with integer
    inputs/outputs (the Cast after ConvInteger, ...). Unnamed ones get a name: the converter blocks by name."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*g.value_info, *g.input, *g.output]}
    types.update({i.name: i.data_type for i in g.initializer})
    names = []
    for i, node in enumerate(model.graph.node):
        touches_int = any(types.get(t) in QUANTIZED_DATA_TYPES for t in [*node.input, *node.output] if t)
        if node.op_type in QUANTIZED_OPS or touches_int:
            if not node.name:
                node.name = f"fp16_kept_{i}_{node.op_type}"
            names.append(node.name)
    return names


class Fp16Exporter(Exporter):
    name = "fp16"
    config_class = Fp16Config

    def _convert(self, model, blocked: list[str], also_blocked: list[str], kept: list[str], src, ctx: ExportContext,
                 quantized: str | None):
        """Convert with `blocked` + `also_blocked` op types left in float32, save, and check that onnxruntime
        loads (and for a quantized graph, runs) the file: (path, caught warnings, casts repaired, value_info
        dropped). ExportError/ExportSkipped on failure."""
        import onnx
        from onnxconverter_common import float16

        cfg: Fp16Config = self.config
        try:
            with warnings.catch_warnings(record=True) as caught:
                # one warning per clamped constant (e.g. attention masks at -3.4e38): counted, not printed
                warnings.simplefilter("always")
                converted = float16.convert_float_to_float16(model, keep_io_types=cfg.keep_io_types,
                                                             op_block_list=blocked + also_blocked,
                                                             node_block_list=kept or None)
        except Exception as exc:
            if quantized:
                raise ExportSkipped(f"fp16: {quantized} and the converter failed on its float parts "
                                    f"({first_line(exc)}); bench the file as it is") from None
            raise ExportError(f"fp16 conversion failed: {first_line(exc)}") from None
        repaired = fix_cast_targets(converted)
        out = output_path(ctx, src, self.name, self.params() | ({"also_blocked": sorted(also_blocked)}
                                                                if also_blocked else {}))
        onnx.save(converted, str(out))
        retyped = False
        try:
            try:
                check_loads(out)
            except ExportError:
                # with keep_io_types the converter casts a graph output back to float32 but leaves the nodes that
                # also read it typed float16 in value_info (detectors whose boxes feed a score head); without
                # the stale intermediate types onnxruntime infers the real ones
                del converted.graph.value_info[:]
                onnx.save(converted, str(out))
                check_loads(out)
                retyped = True
            if quantized:
                run_once(out)     # integer plumbing that loads may still fail at run time
        except ExportError as exc:
            out.unlink(missing_ok=True)     # never leave an invalid model behind
            if quantized:
                raise ExportSkipped(f"fp16: {quantized}, and its float parts in fp16 do not run in onnxruntime "
                                    f"({exc}); bench the file as it is") from None
            raise
        return out, caught, repaired, retyped

    def export(self, source: Artifact | None, ctx: ExportContext) -> Artifact:
        import onnx
        from onnxconverter_common import float16

        cfg: Fp16Config = self.config
        t0 = time.perf_counter()
        src = require_onnx_source(source, self.name, ctx)
        model = onnx.load(str(src))
        blocked = list(float16.DEFAULT_OP_BLOCK_LIST) + str(cfg.op_block_list).split()
        quantized = already_quantized_reason(model)
        kept = quantized_nodes(model) if quantized else []
        subgraph_ops = [op for op in SUBGRAPH_OPS if any(n.op_type == op for n in model.graph.node)]
        notes = []
        try:
            out, caught, repaired, retyped = self._convert(model, blocked, [], kept, src, ctx, quantized)
        except ExportError as exc:
            if quantized or not subgraph_ops or set(subgraph_ops) <= set(blocked):
                raise
            # the converter does not retype the outputs of If/Loop/Scan subgraphs (silero-vad's STFT branch):
            # leave those nodes, and the subgraphs in them, in float32 and say so
            try:
                out, caught, repaired, retyped = self._convert(model, blocked, subgraph_ops, kept, src, ctx, None)
            except ExportError as again:
                raise ExportSkipped(f"{again} (also with {'/'.join(subgraph_ops)} left in float32; convert the "
                                    "model to fp16 where it was made)") from None
            notes.append(f"{', '.join(subgraph_ops)} nodes and their subgraphs left in float32: the fp16 converter "
                         f"does not retype subgraph outputs ({exc})")
        clamped = sum("truncated" in str(w.message) for w in caught)
        if ctx.target_device == "cpu":
            notes.append("fp16 on a CPU: no native fp16 kernels in onnxruntime's CPU provider, expect no speedup")
        if quantized:
            notes.append(f"{quantized}: only the float parts became fp16; {len(kept)} quantized or "
                         "integer-typed nodes kept their types")
        variant = variant_from_file(out, name=self.name, model=ctx.example.name, precision="fp16",
                                    operation=self.name, params=self.params(), export_s=time.perf_counter() - t0,
                                    info={"keep_io_types": cfg.keep_io_types, "clamped_constants": clamped,
                                          "repaired_casts": repaired, "value_info_dropped": retyped,
                                          "kept_quantized_nodes": len(kept),
                                          "warnings": notes})
        return Artifact(variant, None)
