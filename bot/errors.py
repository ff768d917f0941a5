"""The root of every error this project raises on purpose."""


class BotError(Exception):
    """Base class: catch this to catch anything the bot raises deliberately."""
