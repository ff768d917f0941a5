"""First-contact bot for young people facing sextortion.

From the bottom up: ``engine`` (the pure dialogue engine), ``envelope`` (what crosses between an
adapter and the rest), ``store`` (every SQL statement), ``channels`` (platform adapters),
``handoff`` (the counsellor side), ``runtime`` (turns and deliveries), ``app`` (wiring and the
start-up of every process). Each package's docstring says what it owns and must not import.
"""
