"""The validation the publish core runs (`gridmap.boundaries.publishing.Validator`), made from the
import core's `validate_areas` with the configured household range.

Every door that publishes passes it: the editor (api/drafts.py), `gridmap boundaries
activate` and `gridmap county` (gridmap does not import geodata, so it is handed in).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geodata.export import areas_frame
from geodata.validation import validate_areas
from gridmap.boundaries import AreaRow, Validator
from gridmap.settings import Settings


def publish_validator(settings: Settings) -> Validator:
    """Grids and their communities → the problems as JSON (`Problem.to_json`)."""

    def validate(grids: Sequence[AreaRow], parents: Sequence[AreaRow]) -> list[dict[str, Any]]:
        if not grids:
            return []
        report = validate_areas(
            areas_frame(grids),
            parents=areas_frame(parents),
            households_range=(settings.households_min, settings.households_max),
        )
        return [p.to_json() for p in report.problems]

    return validate
