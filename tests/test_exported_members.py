"""The public API is declared once, sorted, and complete."""

import derivo


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in dir(derivo) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(derivo, name)).__name__ == "module"}
    assert set(derivo.__all__) == public - modules
    assert derivo.__all__ == sorted(derivo.__all__, key=lambda n: (not n.isupper(), n))
