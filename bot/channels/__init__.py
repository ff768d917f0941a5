"""Platform adapters: each turns platform events into ``InboundEvent`` (``bot.envelope``) and
replies into platform messages, one package or module per platform (``line/``, ``discord/``,
``web.py``; ``memory.py`` for tests). Platform limits live at the top of each adapter's
rendering. Nothing platform-specific goes further in. Adapters import the envelope, the engine's
reply types, ``bot.text`` and ``bot.http``; never the runtime, the store's tables or each other.
"""
