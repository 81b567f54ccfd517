"""In tests (`create_app(testing=True)`), every answer of an `@endpoint` view is checked
against the model it declares for its status, so the OpenAPI document cannot drift from
what the hub answers."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from neurocache.web.api import EndpointSpec, ResponseContractBroken, check_response


class Thing(BaseModel):
    id: str
    size: int


SPEC = EndpointSpec("read", responses={200: Thing, 202: None})


def test_an_answer_that_matches_its_model_passes():
    check_response(SPEC, {"id": "a", "size": 3})
    check_response(SPEC, ({"anything": True}, 202))  # declared without a model


def test_an_answer_that_does_not_match_is_refused_with_the_fields():
    with pytest.raises(ResponseContractBroken) as refused:
        check_response(SPEC, {"id": "a", "size": "big"})
    assert refused.value.details["errors"][0]["loc"] == ("size",)


def test_a_success_status_the_endpoint_does_not_declare_is_refused():
    with pytest.raises(ResponseContractBroken, match="201"):
        check_response(SPEC, ({"id": "a", "size": 1}, 201))
