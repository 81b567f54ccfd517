"""Error codes are a closed set (errors.ERROR_CODES): every code the source can put in an
error body is listed there, each listed one is used, and the OpenAPI document lists them as
the `code` enum of its error schema (so the API fuzzing checks each error the hub answers)."""

from __future__ import annotations

import ast
from pathlib import Path

from neurocache.errors import ERROR_CODES
from neurocache.web.errors import CODES

SRC = Path(__file__).resolve().parents[2] / "src" / "neurocache"
# Calls that take a code, and the position of that argument.
CODE_ARGUMENT = {"with_status": 1, "error_body": 2, "error_response": 2, "openai_error_body": 2}


def _name(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def _codes_in(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "code" for t in node.targets
        ):
            found |= {node.value.value} if isinstance(node.value, ast.Constant) else set()
        elif isinstance(node, ast.Call) and _name(node) in CODE_ARGUMENT:
            given = [k.value for k in node.keywords if k.arg == "code"]
            if len(node.args) > CODE_ARGUMENT[_name(node)]:
                given.append(node.args[CODE_ARGUMENT[_name(node)]])
            found |= {g.value for g in given if isinstance(g, ast.Constant)}
    return {code for code in found if isinstance(code, str)}


def codes_used() -> set[str]:
    used = set(CODES.values())
    for file in SRC.rglob("*.py"):
        used |= _codes_in(ast.parse(file.read_text()))
    return used


def test_every_code_the_source_uses_is_listed_and_every_listed_one_is_used():
    used = codes_used()
    assert used - set(ERROR_CODES) == set(), "add these to errors.ERROR_CODES"
    assert set(ERROR_CODES) - used == set(), "listed but never used"


def test_the_openapi_document_lists_the_codes():
    from neurocache.web.openapi import ERROR_SCHEMA

    code = ERROR_SCHEMA["properties"]["error"]["properties"]["code"]
    assert code["enum"] == sorted(ERROR_CODES)
    assert all(f"`{c}`" in code["description"] for c in ERROR_CODES)
