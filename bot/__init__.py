"""First-contact bot for young people facing sextortion.

Packages: ``engine`` (pure dialogue engine), ``store`` (SQLAlchemy persistence),
``channels`` (platform adapters), ``handoff`` (counsellor side), ``app`` (wiring).
"""
