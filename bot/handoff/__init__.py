"""The counsellor side: the handoff queue, office hours, accounts, the web console, the relay.

Owns: office hours (``hours``), counsellor accounts and console sessions (``accounts``,
``security``), the queue and the relay between a person and a counsellor (``service``), live
updates for the console (``bus``), the console's routes and templates (``console``), figures.
Reads and writes the store through ``bot.handoff.queries`` and sends to people only through the
runtime's outbox, never through a channel adapter. Must not import linebot or discord.
"""
