"""keras_bert_zoo.batch.lines: reading input lines from a pipe stays interruptible when the signal is taken by
another thread of the process (TensorFlow's pools), and gives the same lines as iterating the stream."""

import io
import os
import signal
import threading
import time

import pytest

from keras_bert_zoo.batch import lines as lines_lib
from keras_bert_zoo.batch.lines import LineReader


class Stop(Exception):
    pass


@pytest.mark.skipif(os.name != "posix", reason="pthread_kill and pipes as in POSIX")
def test_a_signal_taken_by_another_thread_still_stops_a_wait_for_input():
    """The CI failure of `test_predict_sigint_exits_130...`: SIGINT went to a TensorFlow thread while predict's main
    thread was blocked reading a FIFO whose writer stayed open, so predict ran on until the writer closed it.
    Here a thread sends the signal to itself (its C handler runs there, the main thread's read is not interrupted)
    while the main thread waits for a second line; the wait must end with the handler's exception at once."""
    r, w = os.pipe()
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: (_ for _ in ()).throw(Stop()))
    closer = threading.Timer(20.0, os.close, (w,))              # without the fix: the read ends only here
    closer.start()
    try:
        os.write(w, "first line ü\n".encode())
        reader = iter(LineReader(os.fdopen(r, "rb"), "text", ("text",), "<pipe>"))
        assert next(reader) == (1, {"text": "first line ü"})

        def signal_myself():
            time.sleep(0.5)
            signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)

        threading.Thread(target=signal_myself, daemon=True).start()
        start = time.monotonic()
        with pytest.raises(Stop):
            next(reader)
        assert time.monotonic() - start < 5.0
    finally:
        signal.signal(signal.SIGUSR1, previous)
        if closer.is_alive():
            closer.cancel()
            os.close(w)


def test_pipe_lines_equal_the_streams_lines():
    data = b"a\nb b\r\n\n\xff bad\nlast without newline"
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    with os.fdopen(r, "rb") as stream:
        got = list(lines_lib._raw_lines(stream))
    assert got == list(io.BytesIO(data)) == [b"a\n", b"b b\r\n", b"\n", b"\xff bad\n", b"last without newline"]
    assert list(lines_lib._raw_lines(io.BytesIO(data))) == got             # in-memory streams are iterated


def test_a_long_line_over_many_reads_comes_whole():
    r, w = os.pipe()
    line = ("中文 words " * 30000).encode()                  # ~400 KB: several 64 KiB reads
    writer = threading.Thread(target=lambda: (os.write(w, line + b"\nnext"), os.close(w)))
    writer.start()
    with os.fdopen(r, "rb") as stream:
        got = list(lines_lib._raw_lines(stream))
    writer.join()
    assert got == [line + b"\n", b"next"]
