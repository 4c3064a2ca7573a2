"""The warning filters derivo keeps in its process, for Pillow warnings it has answered itself.

A filter stays in the process's list, rather than being set and restored around each
read (``warnings.catch_warnings``): that list is process-wide, and threads reading
side by side would restore it out of order. Whoever restores the list (a caller's
``catch_warnings``, a test runner after each test) drops the filter, so it is
looked for on every call and added again only when missing: a few tuple
comparisons, and the list is left untouched while the filter is there.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class Ignored:
    """Warnings of ``category`` raised from a module whose name matches ``module``."""

    category: type[Warning]
    module: str = ""  # a regular expression; empty matches any module

    def entry(self) -> tuple[object, ...]:
        """The filter as :data:`warnings.filters` holds it."""
        return ("ignore", None, self.category, re.compile(self.module) if self.module else None, 0)


def keep_ignoring(*ignored: Ignored) -> None:
    """Ignore each of ``ignored`` from now on, adding only the filters not yet in place."""
    for each in ignored:
        if each.entry() not in warnings.filters:
            warnings.filterwarnings("ignore", category=each.category, module=each.module)
