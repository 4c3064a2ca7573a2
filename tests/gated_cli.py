"""The ``derivo`` command with every render held at a gate, for tests that act mid-batch.

``python -m tests.gated_cli GATE_FOLDER process ...``: the real command line,
whose worker pool renders behind :class:`tests.gates.Gate` ``GATE_FOLDER``.
"""

import sys
from pathlib import Path

from derivo.cli import main
from tests.gates import Gate, every_pool_behind

if __name__ == "__main__":
    gate = Gate(Path(sys.argv.pop(1)))
    with every_pool_behind(gate):
        main()
