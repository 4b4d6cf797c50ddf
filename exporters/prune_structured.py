"""prune-structured: remove whole output channels (filters / hidden units) and rebuild the layers smaller.

torch.nn.utils.prune only masks weights, so nothing gets faster. Here the layers are rebuilt with fewer channels
in plain torch, consistently along the chain: a Conv's kept filters, the BatchNorm after it, and the input
channels of the next Conv (or the matching input features of the Linear after a flatten). The model's graph is
traced with torch.fx to find which layers can shrink: a Conv/Linear whose output reaches exactly one Conv/Linear
through channel-preserving ops only. Layers feeding residual adds, concatenations or the output keep their width.
Filters are ranked by the L1 norm of the filter as the deployed graph holds it (`criterion` "folded-l1"): with the
BatchNorm behind it folded in, i.e. scaled by |gamma| / sqrt(running_var + eps). A BatchNorm rescales every channel,
so the raw filter's norm says little about what the channel contributes ("l1", the earlier default, is still
selectable; without a BatchNorm both criteria are the same). Then the BatchNorms' running statistics are
re-estimated on the example's calibration data (`recalibrate_bn`): removing a layer's channels changes the
distribution reaching the BatchNorms after it, and their stored mean and variance no longer match it. Measured on
the digits zoo's BatchNorm nets: a quarter of the channels cut the earlier way took `zoo-resnet`, `zoo-resnet-32`,
`zoo-wide-resnet` and `zoo-bn-cnn` to 27-90 points lost before fine-tuning, 0-3 points this way; fine-tuned
`zoo-bn-cnn` at 50 % lost 11.1 points the earlier way, 5.3 this way. At 75 % fine-tuned neither way is reliably
better (`zoo-resnet` 3.9 vs 8.6 points, `zoo-bn-cnn` 45.0 vs 32.8).
An optional fine-tune (the example's `fine_tune`) recovers the accuracy.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from harness.exporters.base import Artifact, ExportConfig, ExportContext, Exporter
from harness.exporters.fp32 import export_onnx, parity
from harness.exporters.onnx_tools import output_path
from harness.exporters.prune_unstructured import require_module
from harness.core.errors import ExportError, first_line
from harness.core.variant import variant_from_file


@dataclass(frozen=True)
class PruneStructuredConfig(ExportConfig):
    amount: float = 0.5          # fraction of each prunable layer's output channels to remove
    fine_tune: bool = True       # run the example's fine_tune(module) afterwards, when it has one
    criterion: str = "folded-l1"  # folded-l1 | l1: how filters are ranked (module docstring)
    recalibrate_bn: bool = True   # re-estimate BatchNorm statistics on calibration data after pruning
    recalibration_count: int = 512   # calibration samples for it
    opset: int = 17


CRITERIA = ("folded-l1", "l1")


@dataclass
class Edge:
    """One prunable producer and the layers its channel choice must be applied to."""

    producer: str
    consumer: str
    norms: list[str] = field(default_factory=list)   # BatchNorms between them
    spatial: int = 1              # flatten before a Linear consumer: input features per channel (0 = unknown)


def _channel_preserving(node, modules) -> bool:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    keep_modules = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish,
                    nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
                    nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Dropout, nn.Identity,
                    nn.BatchNorm1d, nn.BatchNorm2d)
    if node.op == "call_module":
        return isinstance(modules[node.target], keep_modules)
    keep_functions = {F.relu, F.relu6, F.gelu, F.silu, torch.relu, torch.sigmoid, torch.tanh, F.max_pool2d,
                      F.avg_pool2d, F.adaptive_avg_pool2d, F.dropout}
    if node.op == "call_function":
        return node.target in keep_functions
    if node.op == "call_method":
        return node.target in {"relu", "sigmoid", "tanh", "contiguous"}
    return False


def _is_flatten(node, modules) -> bool:
    """x.flatten(1) / x.view(n, -1) / torch.flatten, or an nn.Flatten module over every axis after the batch (the
    usual way a Sequential CNN reaches its classifier: missed until 2026-12-07, which left the last convolution of
    such a net at full width)."""
    import torch
    import torch.nn as nn

    if node.op == "call_module":
        m = modules.get(node.target)
        return isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1
    return (node.op == "call_method" and node.target in {"flatten", "view", "reshape"}) or \
        (node.op == "call_function" and node.target in {torch.flatten})


def find_edges(module) -> list[Edge]:
    """Producer -> consumer pairs where the producer's output channels can be removed safely."""
    import torch.fx
    import torch.nn as nn

    try:
        graph = torch.fx.symbolic_trace(module).graph
    except Exception as exc:
        raise ExportError(f"prune-structured: cannot trace the model with torch.fx ({first_line(exc)}); "
                          "structured pruning needs a traceable forward()") from None
    modules = dict(module.named_modules())
    layer_types = (nn.Conv2d, nn.Conv1d, nn.Linear)
    edges = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), layer_types):
            continue
        prod = modules[node.target]
        if isinstance(prod, (nn.Conv1d, nn.Conv2d)) and prod.groups != 1:
            continue
        norms, flattened, cur = [], False, node
        while True:
            users = list(cur.users)
            if len(users) != 1:
                break          # fan-out (residual, concat, output used twice): keep the width
            nxt = users[0]
            if nxt.op == "call_module" and isinstance(modules.get(nxt.target), layer_types):
                cons = modules[nxt.target]
                ok = (isinstance(cons, nn.Linear) and (flattened or isinstance(prod, nn.Linear))) or \
                     (isinstance(cons, (nn.Conv1d, nn.Conv2d)) and not flattened and cons.groups == 1
                      and type(cons) is type(prod))
                if ok:
                    edges.append(Edge(node.target, nxt.target, norms))
                break
            if _is_flatten(nxt, modules) and not flattened and isinstance(prod, (nn.Conv1d, nn.Conv2d)):
                flattened = True
            elif _channel_preserving(nxt, modules):
                if nxt.op == "call_module" and isinstance(modules[nxt.target], (nn.BatchNorm1d, nn.BatchNorm2d)):
                    norms.append(nxt.target)
            else:
                break
            cur = nxt
    for e in edges:
        prod, cons = modules[e.producer], modules[e.consumer]
        if isinstance(cons, nn.Linear):
            per = cons.in_features / prod.weight.shape[0]
            e.spatial = int(per) if per == int(per) else 0
    return [e for e in edges if e.spatial > 0]


def _set(module, name: str, new) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(module.get_submodule(parent) if parent else module, leaf, new)


def channel_scores(module, edge: Edge, criterion: str = "folded-l1"):
    """The producer's output channels ranked for keeping: the L1 norm of each filter, with ("folded-l1") the
    BatchNorms between producer and consumer folded in, as the exported graph holds the filter."""
    import torch

    modules = dict(module.named_modules())
    score = modules[edge.producer].weight.detach().abs().flatten(1).sum(1)
    if criterion == "folded-l1":
        for name in edge.norms:
            bn = modules[name]
            if bn.affine:
                score = score * bn.weight.detach().abs()
            if bn.track_running_stats:
                score = score / torch.sqrt(bn.running_var.detach() + bn.eps)
    return score


def prune_channels(module, amount: float, criterion: str = "folded-l1") -> dict[str, dict[str, int]]:
    """Rebuild prunable layers with the top (1-amount) channels by `channel_scores`; returns {layer: {before,
    after}}."""
    import torch
    import torch.nn as nn

    if criterion not in CRITERIA:
        raise ExportError(f"prune-structured: unknown criterion {criterion!r}; known: {', '.join(CRITERIA)}")
    edges = find_edges(module)
    if not edges:
        raise ExportError("prune-structured: no layer can lose channels (every Conv/Linear feeds a residual, "
                          "concat or the output, or the model has none)")
    modules = dict(module.named_modules())
    keep: dict[str, torch.Tensor] = {}
    for e in edges:
        score = channel_scores(module, e, criterion)
        n_keep = max(1, int(math.ceil(len(score) * (1.0 - amount))))
        keep[e.producer] = torch.sort(torch.topk(score, n_keep).indices).values
    into = {e.consumer: e for e in edges}          # consumer -> edge feeding it
    report = {}
    with torch.no_grad():
        for name in sorted({e.producer for e in edges} | set(into)):
            old = modules[name]
            out_idx = keep.get(name)
            in_idx = None
            if name in into:
                e = into[name]
                ch = keep[e.producer]
                # flatten orders features channel-major: feature = c * spatial + s
                in_idx = (ch[:, None] * e.spatial + torch.arange(e.spatial)[None, :]).flatten() \
                    if isinstance(old, nn.Linear) else ch
            w = old.weight.detach()
            if out_idx is not None:
                w = w[out_idx]
            if in_idx is not None:
                w = w[:, in_idx]
            bias = old.bias.detach()[out_idx] if (old.bias is not None and out_idx is not None) else old.bias
            if isinstance(old, nn.Linear):
                new = nn.Linear(w.shape[1], w.shape[0], bias=old.bias is not None)
            else:
                new = type(old)(w.shape[1], w.shape[0], old.kernel_size, stride=old.stride, padding=old.padding,
                                dilation=old.dilation, groups=1, bias=old.bias is not None,
                                padding_mode=old.padding_mode)
            new.weight.copy_(w)
            if bias is not None:
                new.bias.copy_(bias.detach())
            _set(module, name, new.train(old.training))
            report[name] = {"before": int(old.weight.shape[0]), "after": int(w.shape[0])}
        for e in edges:
            for bn_name in e.norms:
                bn, idx = modules[bn_name], keep[e.producer]
                new = type(bn)(len(idx), eps=bn.eps, momentum=bn.momentum, affine=bn.affine,
                               track_running_stats=bn.track_running_stats)
                if bn.affine:
                    new.weight.copy_(bn.weight[idx])
                    new.bias.copy_(bn.bias[idx])
                if bn.track_running_stats:
                    new.running_mean.copy_(bn.running_mean[idx])
                    new.running_var.copy_(bn.running_var[idx])
                _set(module, bn_name, new.train(bn.training))
    return report


def batchnorms(module) -> list:
    """The BatchNorms of `module` that keep running statistics."""
    from torch.nn.modules.batchnorm import _BatchNorm

    return [m for m in module.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def recalibrate_batchnorm(module, batches: list, input_names: list[str], chunk: int = 64) -> int:
    """Re-estimate every BatchNorm's running mean and variance over `batches` (dicts of input arrays, leading axis
    = samples), the rest of the model in eval mode and no weight changed. Samples go through in chunks of up to
    `chunk`, joined as they come (a BatchNorm in training mode needs more than one value per channel; a whole
    calibration set of large inputs is never held twice). Returns the samples used (0: the model has no
    BatchNorm, or no data)."""
    import numpy as np
    import torch

    norms = batchnorms(module)
    if not norms or not batches:
        return 0

    def chunks():
        part, size = [], 0
        for b in batches:
            part.append(b)
            size += len(b[input_names[0]])
            if size >= chunk:
                yield part, size
                part, size = [], 0
        if size >= 2:              # a last chunk of one sample would fail in a BatchNorm1d: it is left out
            yield part, size

    module.eval()
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None          # a cumulative average over the chunks, not an exponential one
        m.train()
    used = 0
    try:
        with torch.no_grad():
            for part, size in chunks():
                module(*(torch.from_numpy(np.concatenate([np.asarray(b[n]) for b in part])) for n in input_names))
                used += size
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        module.eval()
    return used


class PruneStructuredExporter(Exporter):
    name = "prune-structured"
    needs_torch = True
    config_class = PruneStructuredConfig

    def export(self, source: Artifact | None, ctx: ExportContext) -> Artifact:
        cfg: PruneStructuredConfig = self.config
        if not 0.0 < cfg.amount < 1.0:
            raise ExportError(f"prune-structured: amount must be in (0, 1), got {cfg.amount}")
        t0 = time.perf_counter()
        module = require_module(source, ctx, self.name)
        layers = prune_channels(module, cfg.amount, cfg.criterion)
        module.eval()
        warnings, tuned_s, curves, recalibrated = [], None, [], 0
        if cfg.recalibrate_bn and batchnorms(module):
            batches = ctx.example.calibration(cfg.recalibration_count) if ctx.example.calibration else []
            recalibrated = recalibrate_batchnorm(module, batches, list(ctx.example.input_names))
            if not recalibrated:
                warnings.append("no calibration data in the example: BatchNorm statistics not re-estimated after "
                                "pruning (accuracy may suffer until fine-tuned)")
        if cfg.fine_tune:
            if ctx.example.fine_tune is None:
                warnings.append("no fine_tune callable in the example: accuracy not recovered")
            else:
                t1 = time.perf_counter()
                module = _fine_tune(ctx.example.fine_tune, module, curves) or module
                module.eval()
                tuned_s = time.perf_counter() - t1
        out = output_path(ctx, source.variant.path if source else None, self.name, self.params())
        try:
            export_onnx(module, ctx, out, cfg.opset, "torchscript")
        except Exception as exc:
            raise ExportError(f"prune-structured: ONNX export failed: {first_line(exc)}") from None
        info = {"layers": layers, "criterion": cfg.criterion, "bn_recalibration_samples": recalibrated,
                "fine_tuned": tuned_s is not None, "fine_tune_s": tuned_s, "curves": curves,
                "parity_max_abs": parity(module, out, ctx), "warnings": warnings}
        variant = variant_from_file(out, name=self.name, model=ctx.example.name, precision="fp32",
                                    operation=self.name, params=self.params(), export_s=time.perf_counter() - t0,
                                    info=info)
        return Artifact(variant, module)


def _fine_tune(fine_tune, module, curves: list):
    """Run the example's fine_tune, collecting its curve when it takes a `log` callback (TensorBoard shows it
    under {model}/training/ and {model}/validation/)."""
    import inspect

    def log(split: str, metric: str, step: int, value: float) -> None:
        curves.append({"split": split, "metric": metric, "step": int(step), "value": float(value)})

    try:
        takes_log = "log" in inspect.signature(fine_tune).parameters
    except (TypeError, ValueError):
        takes_log = False
    return fine_tune(module, log=log) if takes_log else fine_tune(module)
