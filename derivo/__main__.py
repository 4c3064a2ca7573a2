"""The ``derivo`` program, as ``python -m derivo`` and as the installed ``derivo`` command.

The command's script imports :func:`run` from here, and Python's fork server, which
imports a program's main script before it forks workers, then loads only this
module, not the command line (about 100 ms a run).
"""

import gc


def run() -> None:
    from derivo.cli import main

    try:
        main()
    finally:
        # The process ends here: spare the interpreter's last collection, which walks
        # every object still alive (about 70 ms once the Dask client is loaded).
        gc.freeze()


if __name__ == "__main__":
    run()
