"""The API documents the formats of the format table, not a list of its own."""

from __future__ import annotations

from pathlib import Path

from derivo.formats import INPUTS, OUTPUTS
from derivo.service import Settings, create_app


def test_openapi_lists_every_output_media_type_and_input_format(tmp_path: Path) -> None:
    schema = create_app(Settings(data_dir=tmp_path, workers=1)).openapi()
    derivative = schema["paths"]["/photos/{photo_id}/{spec}"]["get"]["responses"]["200"]
    assert set(derivative["content"]) == {f.media_type for f in OUTPUTS}
    upload = schema["paths"]["/photos"]["post"]["requestBody"]["description"]
    for fmt in INPUTS:
        assert fmt.label in upload
