"""`harness bench`: export (or take) model variants and measure them on a device."""
from __future__ import annotations

from harness.commands.common import add_db_argument
from harness.core.errors import UsageError
from harness.scenarios.loadgen_scenario import (EARLY_STOPPING_P99_QUERIES, HARNESS_LOOP, SCENARIOS, require_loadgen,
                                                validate_options)


def _batch_sizes(text: str) -> tuple[int, ...]:
    if not text.strip():
        return ()
    try:
        sizes = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"bad --batch-size {text!r}: expected e.g. 1,8") from None
    if not sizes or any(s < 1 for s in sizes):
        raise UsageError(f"bad --batch-size {text!r}: sizes must be positive integers")
    return sizes


def register(sub) -> None:
    from harness.plan import BenchConfig

    d = BenchConfig()      # every default below comes from the config dataclass, never written twice
    p = sub.add_parser("bench", help="export variants and measure them on a device",
                       description="Benchmark ONNX models, or (with no model) the shipped example's variants.")
    p.add_argument("models", nargs="*", metavar="MODEL.onnx", help="ONNX files to benchmark (default: the example)")
    p.add_argument("--monitor", metavar="DIR",
                   help="measure the checkpoints of a LocalModelMonitor / Compress and Compare directory")
    p.add_argument("--model-factory", metavar="MODULE:FUNCTION",
                   help="--monitor: function returning the torch module its .pth state dicts fit")
    p.add_argument("--example", default=d.example,
                   help="shipped example (digits, resnet18, minilm) or your own as module:function")
    p.add_argument("--recipe", action="append", dest="recipes", metavar="RECIPE",
                   help='variant recipe, repeatable, e.g. "int8-static" or "prune-unstructured:0.5>int8-static"; '
                        '"default" gives the standard set for the model (ONNX files: int8-static, int8-dynamic, '
                        'fp16, prune-unstructured:0.5, and tensorrt on GPUs)')
    # None (not d.device) so that an explicit --device with --cluster can be refused instead of ignored
    p.add_argument("--device", default=None, help=f"device profile: cpu, nvidia-gpu, jetson (default {d.device})")
    p.add_argument("--runtime", default=d.runtime, help=f"runtime (default {d.runtime})")
    p.add_argument("--provider", help="onnxruntime execution provider (default: the device's first)")
    p.add_argument("--graph-optimization", default=d.graph_optimization,
                   choices=["disable", "basic", "extended", "all"])
    p.add_argument("--threads", type=int, help="intra-op threads (default: runtime default)")
    p.add_argument("--batch-size", default="",
                   help="comma-separated batch sizes, e.g. 1,8 (default: the model's fixed batch, else 1)")
    p.add_argument("--input-shape", action="append", metavar="NAME=DxD",
                   help="shape of an input with dynamic dimensions, e.g. input=1x3x224x224; repeatable")
    p.add_argument("--dim", action="append", metavar="SYMBOL=N",
                   help="size of every input axis carrying this dimension symbol, e.g. --dim sequence=512; "
                        "repeatable (also fixed in onnxruntime's session)")
    p.add_argument("--inputs", metavar="FILE.npz",
                   help="real inputs for ONNX files: one array per graph input, leading axis = calls "
                        "(a scalar input has shape (N,)); feeds the timed loop, int8-static calibration and drift")
    p.add_argument("--labels", metavar="FILE.npy",
                   help="integer class of each instance of the --inputs calls: accuracy of every variant")
    p.add_argument("--min-iterations", type=int, default=None,
                   help=f"timed calls per scenario, at least ({d.min_iterations}; LoadGen server and multi-stream: "
                        f"{EARLY_STOPPING_P99_QUERIES}, the queries LoadGen's early stopping needs to judge a p99)")
    p.add_argument("--min-duration", type=float, default=d.min_duration_s,
                   help=f"timed seconds per scenario, at least ({d.min_duration_s})")
    p.add_argument("--warmup", type=int, default=d.warmup_iterations,
                   help=f"warmup calls before each round ({d.warmup_iterations})")
    p.add_argument("--rounds", type=int, default=None,
                   help=f"interleaved rounds over all variants ({d.rounds}; LoadGen scenarios run once per variant)")
    p.add_argument("--seed", type=int, default=d.seed, help=f"seed for random inputs ({d.seed})")
    p.add_argument("--tag", help="label for the run, e.g. nightly (used by regress: nightly@latest)")
    p.add_argument("--artifacts", help="where exported variants go (default: harness-artifacts/ beside --db)")
    p.add_argument("--no-quality", action="store_true", help="skip the accuracy/drift pass")
    p.add_argument("--idle", type=float, default=d.idle_s, help=f"seconds of idle power measured first ({d.idle_s:g})")
    p.add_argument("--exclusive", action="store_true", help="refuse to run when other processes use the GPU")
    p.add_argument("--lock-clocks", action="store_true", help="Jetson: run jetson_clocks, restore afterwards")
    p.add_argument("--gpu", type=int, default=d.gpu_index, help="GPU index (NVML order = PCI bus order)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--profile-layers", action="store_true",
                   help="after each variant's timed rounds: time, precision and error per layer against the FP32 "
                        "root (harness layers RUN shows them)")
    p.add_argument("--scenario", default=d.scenario, choices=[HARNESS_LOOP, *SCENARIOS],
                   help="harness: its own single-stream loop (default); the others run MLPerf LoadGen's "
                        "scenario (needs the loadgen extra); --min-duration/--min-iterations become LoadGen's "
                        "min_duration and min_query_count")
    p.add_argument("--target-qps", type=float, help="LoadGen server: target QPS; offline: expected QPS")
    p.add_argument("--target-latency-ms", type=float,
                   help="LoadGen server: latency bound (p99); single/multi-stream: expected latency")
    p.add_argument("--samples-per-query", type=int, help="LoadGen multi-stream: samples per query (8)")
    # the fleet (harness/fleet): the same bench on every named board of a Ray cluster, one run in this --db
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="bench on the boards of a Ray cluster: HEAD_HOST:PORT, or local:N (N test nodes here)")
    p.add_argument("--boards", metavar="NAMES",
                   help="with --cluster: NAME[,NAME...], all, or failed@RUN (the boards that failed in RUN)")
    add_db_argument(p)
    p.set_defaults(func=func)


def func(args) -> int:
    config = config_from_args(args)
    if getattr(args, "monitor", None):
        if args.models or args.recipes or args.example != config.__class__().example:
            raise UsageError("--monitor DIR measures that directory's checkpoints: drop the model files, "
                             "--example and --recipe")
        if args.cluster or args.boards:
            raise UsageError("--monitor DIR benches on this machine; --cluster/--boards do not apply to it")
        return run(config, monitor=args.monitor, model_factory=args.model_factory)
    if getattr(args, "model_factory", None):
        raise UsageError("--model-factory applies to --monitor DIR only")
    if args.cluster or args.boards:
        if args.profile_layers:
            # the boards' rows are not shipped to the head yet: refused rather than silently dropped
            raise UsageError("--profile-layers runs on this machine only; profile on a board with harness bench "
                             "there (harness layers reads its store)")
        from harness.fleet.cli import run_fleet

        return run_fleet(args.cluster, args.boards, config, device_given=args.device is not None)
    return run(config)


def config_from_args(args):
    """The BenchConfig the flags describe; bad values are a UsageError before anything runs."""
    from harness.inputs import parse_dim_overrides, parse_shape_overrides
    from harness.plan import BenchConfig

    d = BenchConfig()
    validate_options(args.scenario, args.target_qps, args.target_latency_ms, args.samples_per_query)
    if args.scenario != HARNESS_LOOP:
        if args.rounds is not None:
            raise UsageError("--rounds does not apply to LoadGen scenarios: LoadGen runs once per variant "
                             "(use --min-duration/--min-iterations for a longer run)")
        require_loadgen()
    rounds = 1 if args.scenario != HARNESS_LOOP else (d.rounds if args.rounds is None else args.rounds)
    min_iterations = args.min_iterations
    if min_iterations is None:
        min_iterations = (EARLY_STOPPING_P99_QUERIES if args.scenario in ("server", "multi-stream")
                          else d.min_iterations)
    if min_iterations < 1 or args.min_duration < 0 or rounds < 1 or args.warmup < 0:
        raise UsageError("--min-iterations and --rounds must be >= 1, --min-duration and --warmup >= 0")
    return BenchConfig(
        models=tuple(args.models), example=args.example, recipes=tuple(args.recipes) if args.recipes else None,
        device=args.device or BenchConfig().device, runtime=args.runtime, provider=args.provider,
        graph_optimization=args.graph_optimization, threads=args.threads,
        batch_sizes=_batch_sizes(args.batch_size), input_shapes=parse_shape_overrides(args.input_shape),
        dims=parse_dim_overrides(args.dim), inputs=args.inputs, labels=args.labels,
        min_iterations=min_iterations, min_duration_s=args.min_duration, warmup_iterations=args.warmup,
        rounds=rounds, seed=args.seed, tag=args.tag, db=args.db, artifacts_dir=args.artifacts,
        lock_timeout_s=args.lock_timeout, quality=not args.no_quality, idle_s=args.idle,
        exclusive=args.exclusive, lock_clocks=args.lock_clocks, gpu_index=args.gpu,
        progress=not args.no_progress, scenario=args.scenario, target_qps=args.target_qps,
        target_latency_ms=args.target_latency_ms, samples_per_query=args.samples_per_query,
        profile_layers=args.profile_layers,
    )


def run(config, monitor: str | None = None, model_factory: str | None = None) -> int:
    """Run one bench (a harness.plan.BenchConfig) and report it; callable without argv. `monitor`: a
    LocalModelMonitor directory whose checkpoints are measured instead of the example (harness.monitor_bench)."""
    import sys

    from harness.commands.bench_summary import print_summary

    if monitor:
        from harness.monitor_bench import run_monitor_bench

        result = run_monitor_bench(config, monitor, model_factory)
    else:
        from harness.engine import run_bench

        result = run_bench(config)
    print(f"run {result.run_id} {result.status}: {result.variants} variant(s)")
    print_summary(config.db, result.run_id, lock_timeout_s=config.lock_timeout_s)
    if config.profile_layers:
        from harness.commands.layers import print_layer_notes

        print_layer_notes(config.db, result.run_id, lock_timeout_s=config.lock_timeout_s)
    if result.status != "complete":
        more = f" (and {len(result.failed) - 1} more)" if len(result.failed) > 1 else ""
        print(f"harness: error: nothing could be measured: {result.failed[0] if result.failed else 'no variant'}"
              f"{more}", file=sys.stderr)
        return 1
    for line in result.failed:
        print(f"harness: error: {line}", file=sys.stderr)
    return 1 if result.failed else 0
