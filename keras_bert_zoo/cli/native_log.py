"""Drop TensorFlow's native INFO / WARNING log lines from stderr (the CLI's quiet default).

``TF_CPP_MIN_LOG_LEVEL`` (which the CLI sets to 3) silences TensorFlow's own C++ log, but not every native
library honours it: in TensorFlow 2.20 the TFLite converter, MLIR passes, XLA and Grappler log through absl
before anything initialises absl's log, and LiteRT prints its delegate notice itself. Observed in
``bert-zoo demo --lang zh`` and ``bert-zoo export --format tflite`` with ``TF_CPP_MIN_LOG_LEVEL=3``::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    W0000 00:00:1796562815.933208     672 tf_tfl_flatbuffer_helpers.cc:364] Ignored output_format.
    I0000 00:00:1796562816.229341     672 mlir_graph_optimization_pass.cc:437] MLIR V1 optimization pass is not enabled
    INFO: Created TensorFlow Lite XNNPACK delegate for CPU.

Those come from C++ writing to file descriptor 2, out of reach of Python's ``logging`` and ``warnings``, so
:func:`filter_native_stderr` puts a pipe in front of descriptor 2 and a thread copies every line to the real
stderr except the INFO and WARNING lines of those log formats (absl ``I``/``W``, TensorFlow
``YYYY-MM-DD ...: I``/``W``) and the two lines above. ERROR and FATAL lines, tracebacks, Python output,
Keras progress bars and carriage-return progress lines pass unchanged. ``bert-zoo --verbosity=...`` leaves
stderr alone.
"""

import atexit
import os
import re
import select
import sys
import threading

__all__ = ["NOISE", "is_noise", "filter_native_stderr"]

NOISE = re.compile(
    rb"^(?:WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w./+-]+:\d+\] "                  # absl C++: I / W
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] [\w./+-]+:\d+\] "           # TensorFlow (tsl): I / W
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.)")

_state = {}


def is_noise(line: bytes) -> bool:
    """Whether one stderr line (bytes, with or without its line end) is dropped."""
    return bool(NOISE.match(line))


def _pump(read_fd: int, out_fd: int) -> None:
    pending = b""
    while True:
        ready, _, _ = select.select([read_fd], [], [], 0.05)
        if not ready:                       # a partial line (a prompt, a progress bar): show it now
            if pending:
                _write(out_fd, pending)
                pending = b""
            continue
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        pending += chunk
        lines = re.split(rb"(?<=[\n\r])", pending)
        pending = lines.pop()               # "" after a complete line
        _write(out_fd, b"".join(line for line in lines if not is_noise(line)))
    if pending and not is_noise(pending):
        _write(out_fd, pending)


def _write(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _restore() -> None:
    original, thread = _state.pop("original"), _state.pop("thread")
    sys.stderr.flush()
    os.dup2(original, 2)                    # closes this process's write end of the pipe: the pump drains
    thread.join(timeout=2.0)


def filter_native_stderr() -> None:
    """Route file descriptor 2 through the filter for the rest of the process (once; restored at exit).
    Child processes inherit the filtered descriptor."""
    if "original" in _state:
        return
    sys.stderr.flush()
    original = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    thread = threading.Thread(target=_pump, args=(read_fd, original), name="native-stderr-filter", daemon=True)
    thread.start()
    _state.update(original=original, thread=thread)
    atexit.register(_restore)
