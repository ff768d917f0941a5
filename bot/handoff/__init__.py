"""The counsellor side: the handoff queue, office hours, accounts, the web console, the relay.

Owns: office hours (``hours``), counsellor accounts and console logins (``accounts``,
``security``), the queue and the relay between a person and a counsellor (``service``), the
console's routes (``console``), the demo's counsellor (``demo``). ``bot.app`` makes the service
(``service.from_settings``), sets it as the runtime's ``handoff_hooks`` and adds the console's
routes. Reads and writes through ``bot.store`` and sends to people only through the runtime's
outbox, never through a channel adapter. Must not import linebot or discord.
"""
