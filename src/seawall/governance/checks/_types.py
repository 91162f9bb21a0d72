"""Validated field types shared by the built-in sections (msgspec checks them when decoding,
``validate_struct`` when a section is built in code; either way the error names the field)."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from seawall.governance._policy import MAX_COUNT, MAX_SECONDS

__all__ = ["KEY_PATTERN", "Count", "Key", "PositiveSeconds", "Rate", "Seconds", "Size"]

#: A key spec: ``ip``, ``global``, ``header:<name>``, ``query:<name>``, ``path:<name>``, ``fn:<name>``.
KEY_PATTERN: Final = r"^(ip|global|(header|query|path|fn):.+)$"

Key = Annotated[str, msgspec.Meta(pattern=KEY_PATTERN)]
Rate = Annotated[float, msgspec.Meta(gt=0, le=MAX_COUNT)]
Count = Annotated[int, msgspec.Meta(ge=1, le=MAX_COUNT)]
Size = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0, le=MAX_SECONDS)]
