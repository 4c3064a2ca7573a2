"""The ``derivo`` command with every render held at a gate, for tests that act mid-batch.

``python -m tests.gated_cli GATE_FOLDER process ...``: the real command line,
whose worker pool renders behind :class:`tests.gates.Gate` ``GATE_FOLDER``.
"""

import signal
import sys
from pathlib import Path

from derivo.cli import main
from tests.gates import Gate, every_pool_behind

if __name__ == "__main__":
    # Ctrl-C as in a terminal, even when started with SIGINT ignored (nohup, some CI runners)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    gate = Gate(Path(sys.argv.pop(1)))
    with every_pool_behind(gate):
        main()
