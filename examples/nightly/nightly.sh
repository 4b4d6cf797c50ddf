#!/usr/bin/env bash
# Nightly benchmark with a regression verdict: bench on the chosen device with a tag, compare against the named
# baseline, write JUnit + Markdown (+ the HTML report when `harness report` is installed), exit with the verdict.
#
#   cron (02:00 every night, on the board itself):
#     0 2 * * *  cd /srv/models && DEVICE=jetson BENCH_ARGS="--example digits --lock-clocks" \
#                examples/nightly/nightly.sh >> /var/log/harness-nightly.log 2>&1
#
# Exit status: 0 pass (or first night: baseline recorded), 1 regression or failed variant, 2 usage error,
# other: the bench itself could not run. Settings come from the environment:
#   DEVICE      device profile (cpu, nvidia-gpu, jetson)                     default: cpu
#   CLUSTER     fleet variant: the Ray head (HOST:PORT) whose boards bench the same run, one per board;
#               each board uses the device profile it joined with, so DEVICE does not apply
#   BOARDS      with CLUSTER: NAME[,NAME...] or all; regress then compares each board with itself   default: all
#   TAG         run tag; `harness history --tag TAG` shows the series       default: nightly
#   DB          result database (keep it between nights)                    default: ./harness.duckdb
#   BASELINE    baseline name (`harness baseline set RUN --name NAME`)       default: baseline
#   BENCH_ARGS  what to bench and how (models, --example, --recipe, --threads, --batch-size, ...)
#   MEASURE_ARGS  measurement length (default: --rounds 10 --min-duration 3)
#                                                                           default: --example digits
#   GATES       gate file (TOML) merged over harness/regress/default_gates.toml      default: none
#   STRICT      1: a changed environment (power mode, clocks, driver/runtime versions) fails the night
#   ADVANCE     1: after a passing night, make this run the new baseline    default: 0 (a person moves it)
#   REPORT      0: skip the HTML report                                     default: 1
#   OUT         where the night's files go                 default: nightly-out/<date>-<time>
#   HARNESS     the harness command                                         default: harness
set -uo pipefail

DEVICE=${DEVICE:-cpu}
CLUSTER=${CLUSTER:-}
BOARDS=${BOARDS:-all}
TAG=${TAG:-nightly}
DB=${DB:-harness.duckdb}
BASELINE=${BASELINE:-baseline}
BENCH_ARGS=${BENCH_ARGS:---example digits}
# longer, more interleaved runs than the interactive default: more rounds make the spread between rounds, which a
# latency change must exceed to count, a steadier yardstick. On a loaded 2-core VM both settings gave 0/20 false
# alarms either way and 5/5 detections of a 10 % slowdown, with and without a noisy neighbour
# (benchmarks/regress_fpr.py, see the README). Flags in BENCH_ARGS come later and win.
MEASURE_ARGS=${MEASURE_ARGS:---rounds 10 --min-duration 3}
GATES=${GATES:-}
STRICT=${STRICT:-0}
ADVANCE=${ADVANCE:-0}
REPORT=${REPORT:-1}
OUT=${OUT:-nightly-out/$(date +%Y%m%d-%H%M%S)}
HARNESS=${HARNESS:-harness}

mkdir -p "$OUT" || exit 2
log() { printf '[nightly %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# 1. bench. A non-zero exit with a run id means some variants failed: regress reports them as failures.
if [ -n "$CLUSTER" ]; then
    # fleet: every named board benches its own copy; a board that fails is named, the others still land
    target=(--cluster "$CLUSTER" --boards "$BOARDS")
    log "bench on boards $BOARDS of $CLUSTER, tag $TAG -> $DB"
else
    target=(--device "$DEVICE")
    log "bench on $DEVICE, tag $TAG -> $DB"
fi
# shellcheck disable=SC2086  # MEASURE_ARGS and BENCH_ARGS are lists of arguments on purpose
$HARNESS bench $MEASURE_ARGS $BENCH_ARGS "${target[@]}" --tag "$TAG" --db "$DB" --no-progress \
    > "$OUT/bench.log" 2> "$OUT/bench.err"
bench_rc=$?
cat "$OUT/bench.log"
cat "$OUT/bench.err" >&2
RUN=$(sed -n 's/^run \([^ ]*\) complete:.*/\1/p' "$OUT/bench.log" | tail -n 1)
if [ -z "$RUN" ]; then
    log "bench produced no complete run (exit $bench_rc); see $OUT/bench.err"
    [ "$bench_rc" -ne 0 ] && exit "$bench_rc"
    exit 1
fi
echo "$RUN" > "$OUT/run_id"

# 2. first night: nothing to compare against yet, so this run becomes the baseline
if ! listing=$($HARNESS baseline list --json --db "$DB"); then
    log "cannot read the baselines in $DB"
    exit 2
fi
if ! grep -q "\"name\": \"$BASELINE\"" <<< "$listing"; then
    log "no baseline named '$BASELINE' yet: marking run $RUN"
    $HARNESS baseline set "$RUN" --name "$BASELINE" --db "$DB" || exit $?
    verdict=0
else
    # 3. the verdict
    extra=()
    [ -n "$GATES" ] && extra+=(--gates "$GATES")
    [ "$STRICT" = 1 ] && extra+=(--strict)
    $HARNESS regress --baseline "$BASELINE" --candidate "$RUN" --db "$DB" \
        --junit "$OUT/junit.xml" --markdown "$OUT/regress.md" "${extra[@]}" | tee "$OUT/regress.txt"
    verdict=${PIPESTATUS[0]}
fi

# 4. the HTML report, when this harness has the report command
if [ "$REPORT" != 0 ] && $HARNESS report --help > /dev/null 2>&1; then
    $HARNESS report "$RUN" -o "$OUT/report.html" --db "$DB" || log "warning: report failed (verdict unchanged)"
fi

if [ "$verdict" -eq 0 ] && [ "$ADVANCE" = 1 ]; then
    $HARNESS baseline set "$RUN" --name "$BASELINE" --db "$DB" || log "warning: could not advance the baseline"
fi
log "verdict: exit $verdict (files in $OUT)"
exit "$verdict"
