"""Platform adapters: each turns platform events into ``InboundEvent`` and replies into platform
messages. Platform limits live at the top of each adapter. Nothing platform-specific goes further in.
"""
