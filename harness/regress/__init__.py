"""Nightly regression verdicts: `harness regress`, named baselines, `harness history`.

One concept per module:
  significance  latency: rank test on block medians + two-stage block bootstrap of the quantile ratio
  gates         the TOML gate file (default_gates.toml merged with the user's) and threshold semantics
  fingerprint   which environment differences make two runs incomparable
  data          what is read from the store, and how variants of two runs are matched (by name, not id)
  compare       the verdict: every gated metric of every matched variant
  report        table, Markdown, JUnit XML
  steps         L1 piecewise-constant step detection (asv style) for histories
  history       a variant's metric across runs, with its steps
"""
