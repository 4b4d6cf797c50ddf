"""The dependency-free core every layer imports: errors, registry, availability checks, the variant and
measurement records, units and formatting, and the one definition of every comparison against a base.

Nothing here imports from the rest of the project (tests/test_layers.py checks it).
"""
