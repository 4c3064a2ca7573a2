"""``derivo.thumbnail(path, "200x200", out=...)``: one derivative in one call, for app code.

Same cache, same content-addressed files and same photo records as ``derivo process``
on that output folder, so a photo already rendered costs a stat and one database
lookup. A photo that is not there yet is rendered in the calling process.
"""

from __future__ import annotations

from pathlib import Path

from derivo.cache import DB_NAME, DerivativeCache
from derivo.discover import printable
from derivo.errors import DerivoError, SpecError
from derivo.executors.inline import InlineExecutor
from derivo.pipeline import Pipeline
from derivo.specs import Fit, Spec, SpecSet, parse_box
from derivo.tasks import Derivative, Limits


def thumbnail(
    source: str | Path,
    size: str = "200x200",
    *,
    out: str | Path,
    fit: Fit = "inside",
    format: str = "jpeg",
    quality: int = 80,
    limits: Limits | None = None,
) -> Derivative:
    """The derivative of ``source`` that fits ``size`` (``"WxH"``, ``"Wx"`` or ``"xH"``).

    Rendered into ``out`` (cache ``out/derivo.db``) unless already there; ``fit="cover"``
    crops to fill the box. Raises the :class:`~derivo.errors.DerivoError` that says why
    a photo cannot be rendered.

    >>> thumb = thumbnail("IMG_0001.jpg", "200x200", out="thumbs")  # doctest: +SKIP
    >>> thumb.path, thumb.width, thumb.height  # doctest: +SKIP
    ('/…/thumbs/33/3395…/200x200-c3cdf38ff82c.jpg', 200, 150)
    """
    box = parse_box(size)
    if box is None:
        raise SpecError(f"cannot read size {size!r}: expected WxH, Wx or xH")
    if fit == "cover" and (size.strip().startswith("x") or size.strip().endswith("x")):
        raise SpecError(f"size {size!r}: fit='cover' needs both width and height")
    spec = Spec(
        name=size.strip().lower(),
        width=box[0],
        height=box[1],
        fit=fit,
        format=format,
        quality=quality,
    )
    out_dir = Path(out)
    path = Path(source).resolve()
    with (
        DerivativeCache(out_dir / DB_NAME) as cache,
        Pipeline(
            cache=cache,
            executor=InlineExecutor(),
            out_dir=out_dir,
            specs=SpecSet((spec,)),
            limits=limits,
        ) as pipeline,
    ):
        result = pipeline.submit(printable(path), path).result()
    if result.ok:
        return result.derivatives[spec.name]
    raise _error_of_kind(result.error_kind)(result.error or "not rendered")


def _error_of_kind(kind: str | None) -> type[DerivoError]:
    """The exception class a recorded failure was raised as."""
    pending = [DerivoError]
    while pending:
        cls = pending.pop()
        if cls.kind == kind:
            return cls
        pending.extend(cls.__subclasses__())
    return DerivoError
