"""Turns: what one event does, planned without I/O (``plan``), carried out by the store
(``bot.store.turnwrites``) in the worker's one transaction per batch (``bot.runtime``).

Below the store (it imports only the engine and the envelope), above the engine.
"""
