"""The pieces of SQL that SQLite and PostgreSQL spell differently, in one place.

Search builds its hot queries as text (an ORM round trip cost more than the query); what
differs between the backends is how a list of values is passed in, how a field of a JSON
column is read, and how a JSON list of tuples is walked. `Sql(dialect)` writes each for
its backend; the callers stay one query. Values always travel as bound parameters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

SQLITE, POSTGRESQL = "sqlite", "postgresql"


@dataclass(frozen=True)
class Sql:
    dialect: str

    @property
    def postgresql(self) -> bool:
        return self.dialect == POSTGRESQL

    def in_values(self, expression: str, param: str, negate: bool = False) -> str:
        """`expression` is (not) one of the values bound as `param` (see `values`)."""
        if self.postgresql:
            return f"{'NOT ' if negate else ''}({expression} = ANY(:{param}))"
        return f"{expression} {'NOT ' if negate else ''}IN (SELECT value FROM json_each(:{param}))"

    def values(self, values: Any) -> Any:
        """A list bound for `in_values`: a JSON text for SQLite, an array for PostgreSQL."""
        items = list(values)
        return items if self.postgresql else json.dumps(items)

    def json_field(self, column: str, name: str, cast: str | None = None) -> str:
        """A top-level field of a JSON column, as text (PostgreSQL) or its JSON type
        (SQLite); `cast` (an SQL type) makes both the same. `name` is ours, not input."""
        if self.postgresql:
            read = f"({column} ->> '{name}')"
            return f"CAST({read} AS {cast})" if cast else read
        return f"json_extract({column}, '$.{name}')"

    def json_path_equals(self, column: str, path_param: str, value_param: str) -> str:
        """The field at the path bound as `path_param` equals the JSON value bound as
        `value_param` (see `json_path` and `json_value`)."""
        if self.postgresql:
            return f"({column} #> :{path_param}) = CAST(:{value_param} AS jsonb)"
        return f"json_extract({column}, :{path_param}) = :{value_param}"

    def json_path(self, parts: list[str]) -> Any:
        if self.postgresql:
            return parts
        return "$" + "".join(f'."{part}"' for part in parts)

    def json_value(self, value: Any) -> Any:
        return json.dumps(value) if self.postgresql else value

    def byte_length(self, expression: str) -> str:
        """The length in bytes (UTF-8) of a text."""
        if self.postgresql:
            return f"octet_length({expression})"
        return f"length(CAST({expression} AS BLOB))"

    def json_rows(self, param: str, alias: str) -> str:
        """A FROM item: one row `alias` per element of the JSON list bound as `param`."""
        if self.postgresql:
            return f"jsonb_array_elements(CAST(:{param} AS jsonb)) AS {alias}(value)"
        return f"json_each(:{param}) {alias}"

    def json_item(self, alias: str, index: int, cast: str) -> str:
        """Element `index` of the JSON list in row `alias`'s value, as SQL type `cast`."""
        if self.postgresql:
            return f"CAST({alias}.value ->> {index} AS {cast})"
        return f"json_extract({alias}.value, '$[{index}]')"


def vector_text(values: np.ndarray) -> str:
    """pgvector's text form of a vector, `[0.1,0.2,...]` (float32 precision)."""
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(values, dtype=np.float32)) + "]"
