"""Studies that answer a research question (ceilings, oracles, ablations, sweeps); see README.md.

Not part of the product or the test run. The scripts use the engine's public API only and
write their tables to ``research/results/``.
"""
