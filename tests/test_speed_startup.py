"""Start-up of a run on the local pool: the Dask executor is imported only when asked for."""

from __future__ import annotations

import subprocess
import sys

import pytest

DASK_MODULES = ("derivo.executors.dask", "derivo.executors.dask_tasks")


def loaded(code: str) -> list[str]:
    """The Dask executor's modules loaded in a fresh interpreter after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {DASK_MODULES} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize("code", ["import derivo", "import derivo.cli", "import derivo.executors"])
def test_the_local_pool_does_not_import_the_dask_executor(code: str) -> None:
    assert loaded(code) == []


def test_the_dask_executor_is_there_when_asked_for() -> None:
    code = (
        "import derivo, derivo.executors\n"
        "from derivo import DaskExecutor\n"
        "assert DaskExecutor is derivo.executors.DaskExecutor\n"
        "assert DaskExecutor.__module__ == 'derivo.executors.dask'\n"
        "assert 'DaskExecutor' in dir(derivo)"
    )
    assert loaded(code) == list(DASK_MODULES)


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    import derivo
    import derivo.executors

    with pytest.raises(AttributeError):
        derivo.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(AttributeError):
        derivo.executors.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
