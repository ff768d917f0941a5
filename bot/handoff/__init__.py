"""The counsellor side: the handoff queue, office hours, accounts, the web console, the relay.

Owns: office hours (``hours``), counsellor accounts and console logins (``accounts``,
``security``), the queue and the relay between a person and a counsellor (``service``), live
updates for the console (``bus``), the console's routes and templates (``console``), figures.
Reads and writes the store through ``bot.handoff.queries`` and sends to people only through the
runtime's outbox, never through a channel adapter. Must not import linebot or discord.
"""


def attach(runtime):
    """The ``HandoffService`` of this runtime, made and set as its ``handoff_hooks`` on first call.

    Call it in every process that runs turns or serves pages (``bot.app``'s web and worker
    commands): hooks run in the process that ran the turn.
    """
    from .service import attach_to_runtime

    return attach_to_runtime(runtime)


def setup_routes(app, runtime):
    """The console's routes under ``/console`` (see ``bot.handoff.console``)."""
    from .console import setup_routes as console_routes

    return console_routes(app, runtime)
