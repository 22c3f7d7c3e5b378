"""response_format checks: json_object, json_schema, unwrapping, bad schemas."""

from __future__ import annotations

from bastion.guards.output.schema import check_json, wanted_schema

S = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
     "additionalProperties": False}


def test_wanted_schema_shapes() -> None:
    assert wanted_schema(None) == ("", None)
    assert wanted_schema({"type": "text"}) == ("", None)
    assert wanted_schema({"type": "json_object"}) == ("json_object", None)
    assert wanted_schema({"type": "json_schema", "json_schema": {"schema": S}}) == (
        "json_schema", S)


def test_valid_invalid_and_errors_for_a_person() -> None:
    assert check_json('{"n": 1}', "json_schema", S).ok
    bad = check_json('{"n": "one"}', "json_schema", S)
    assert not bad.ok
    assert bad.errors[0].startswith("n:")
    assert not check_json("[1]", "json_object", None).ok
    assert check_json('{"a": 1}', "json_object", None).ok


def test_fenced_and_wrapped_answers_are_unwrapped() -> None:
    r = check_json('```json\n{"n": 2}\n```', "json_schema", S)
    assert r.ok
    assert r.text == '{"n": 2}'
    r = check_json('Here you go: {"n": 3} Enjoy!', "json_schema", S)
    assert r.text == '{"n": 3}'


def test_invalid_or_remote_schemas_are_not_enforced() -> None:
    assert check_json('{"n": 1}', "json_schema", {"type": 12}).ok
    assert check_json("{}", "json_schema", {"$ref": "https://example.com/s.json"}).ok
    assert not check_json("not json", "json_schema", {"type": 12}).ok
