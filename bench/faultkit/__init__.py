"""The fault suite's parts (``bench/faults.py`` runs them): the bot's processes and database
(``stack``), people writing through LINE's webhook (``load``), a PostgreSQL proxy that can be cut
(``proxy``), the named scenarios (``scenarios``) and the check of each person's answers (``check``)."""
