"""Input checking shared by the registry services (assets, products, consultations).

Services collect every problem with an input before refusing it, so a form, an API client or a CSV
row report can show all of them at once, each naming its field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidInput(ValueError):
    """The input breaks one or more rules; ``errors`` names each field and what is wrong with it."""

    def __init__(self, errors: list[FieldError]):
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


class Conflict(Exception):
    """The change contradicts the entity's current state (e.g. editing a live product)."""


class Errors:
    """Collects FieldErrors while a service reads an input; ``raise_if_any`` refuses it."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        self.items.append(FieldError(field, message))

    def has(self, field: str) -> bool:
        return any(e.field == field for e in self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInput(self.items)

    # -- readers: each returns the cleaned value, or None after recording an error -------------
    def text(
        self, field: str, value: Any, *, required: bool = False, max_len: int = 200, multiline: bool = False
    ) -> str | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            value = ""
        if not isinstance(value, str):
            value = str(value)
        value = value.strip()
        if not value:
            if required:
                self.add(field, "is required")
            return None
        if len(value) > max_len:
            self.add(field, f"is {len(value)} characters long; at most {max_len} are allowed")
            return None
        allowed = value.replace("\n", "").replace("\t", "") if multiline else value
        if _CONTROL.search(allowed) or (not multiline and ("\n" in value or "\t" in value)):
            self.add(field, "contains control characters (line breaks, tabs or similar)")
            return None
        return value

    def number(
        self,
        field: str,
        value: Any,
        *,
        required: bool = False,
        positive: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        unit: str = "",
    ) -> float | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(field, "is required")
            return None
        if isinstance(value, bool):
            self.add(field, f"{value!r} is not a number")
            return None
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            self.add(field, f"{value!r} is not a number")
            return None
        if math.isnan(number):  # NaN: a blank numeric cell from a spreadsheet or data frame
            if required:
                self.add(field, "is required")
            return None
        if math.isinf(number):
            self.add(field, f"{value!r} is not a finite number")
            return None
        suffix = f" {unit}" if unit else ""
        if positive and number <= 0:
            self.add(field, f"must be greater than 0{suffix} (got {number:g})")
            return None
        if minimum is not None and number < minimum:
            self.add(field, f"must be at least {minimum:g}{suffix} (got {number:g})")
            return None
        if maximum is not None and number > maximum:
            self.add(field, f"must be at most {maximum:g}{suffix} (got {number:g})")
            return None
        return number

    def choice(self, field: str, value: Any, choices: dict[str, str] | list[str], *, required: bool = True):
        """One of ``choices`` (ids; a dict maps id -> label). Compared case-insensitively."""
        text = self.text(field, value, required=required, max_len=100)
        if text is None:
            return None
        by_key = {c.lower(): c for c in choices}
        found = by_key.get(text.lower())
        if found is None:
            listed = ", ".join(sorted(choices))
            self.add(field, f"{text!r} is not one of: {listed}")
        return found


def aware_utc(value: datetime) -> datetime:
    """An aware datetime in UTC; naive values are refused (the registry never guesses a zone)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime; pass an aware datetime (UTC)")
    return value.astimezone(UTC)
