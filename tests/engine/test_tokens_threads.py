"""The console checks an editor's draft in a worker thread while the event loop reads people's
messages. A SudachiPy tokenizer refuses concurrent use, and the reader would then fall back to
one word per run (a crisis word could be missed): each thread has its own tokenizer."""
from __future__ import annotations

import threading

from bot.engine.tokens import tokenize

read_afresh = tokenize.__wrapped__   # past the per-message cache: every call asks SudachiPy

TEXTS = ["しにたいくらいつらい。写真をばらまくと脅されていますどうしたらいいですか" * 8,
         "もう消えたい、学校の先輩に画像を持たれてて毎日こわい" * 8]


def test_messages_read_in_several_threads_at_once_read_as_they_do_alone():
    alone = [read_afresh(t) for t in TEXTS]
    wrong: list[int] = []
    start = threading.Barrier(4)

    def read(i: int) -> None:
        start.wait()
        for _ in range(150):
            if read_afresh(TEXTS[i % 2]) != alone[i % 2]:
                wrong.append(i)
                return

    threads = [threading.Thread(target=read, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong
