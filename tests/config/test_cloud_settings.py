"""The bedrock and vertex provider fields: the documented shape loads, and fields that
would do nothing (or are missing) are refused with the path and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.config.check import secret_warnings
from bastion.config.loader import ConfigError, load_settings

SHAPE = """\
providers:
  bedrock:
    type: bedrock
    region: us-east-1
    base_url: null
    aws_access_key_id: env:AWS_ACCESS_KEY_ID
    aws_secret_access_key: env:AWS_SECRET_ACCESS_KEY
    aws_session_token: null
    compliance: {dpa: true, baa: true, regions: [us]}
  vertex:
    type: vertex
    project: my-project
    location: us-central1
    base_url: null
    credentials: file:/etc/bastion/service-account.json
models:
  claude-hipaa: {targets: [bedrock/anthropic.claude-3-5-haiku-20241022-v1:0]}
  gemini-eu:    {targets: [vertex/gemini-2.0-flash]}
"""


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "bastion.yaml"
    path.write_text(text)
    return load_settings(path, env={})


def test_the_documented_shape_loads(tmp_path: Path) -> None:
    s = _load(tmp_path, SHAPE)
    bedrock = s.providers["bedrock"]  # type: ignore[attr-defined]
    assert bedrock.region == "us-east-1"
    assert bedrock.compliance.baa
    vertex = s.providers["vertex"]  # type: ignore[attr-defined]
    assert (vertex.project, vertex.location) == ("my-project", "us-central1")
    target = s.models["claude-hipaa"].targets[0]  # type: ignore[attr-defined]
    assert target.model == "anthropic.claude-3-5-haiku-20241022-v1:0"


@pytest.mark.parametrize(("edit", "line", "words"), [
    (("    region: us-east-1\n", ""), 2, "needs `region`"),
    (("    region: us-east-1\n", "    region: virginia\n"), 4, "should match pattern"),
    (("    aws_session_token: null\n", "    aws_session_token: abc\n"), 8, "referenced"),
    (("    aws_secret_access_key: env:AWS_SECRET_ACCESS_KEY\n", ""), 6, "together"),
    (("    location: us-central1\n", ""), 10, "`project` and `location`"),
    (("    project: my-project\n", "    project: my-project\n    region: us-east-1\n"), 13,
     "applies to providers of type bedrock only"),
    (("    credentials: file:/etc/bastion/service-account.json\n",
      "    api_key: env:GOOGLE_KEY\n"), 15, "not `api_key`"),
])
def test_wrong_cloud_fields_are_refused_with_the_line(
        tmp_path: Path, edit: tuple[str, str], line: int, words: str) -> None:
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, SHAPE.replace(*edit))
    [problem] = e.value.problems
    assert words in problem.message
    assert problem.line == line


def test_unresolvable_cloud_credentials_are_warned_about(tmp_path: Path) -> None:
    s = _load(tmp_path, SHAPE)
    warnings = secret_warnings(s, {"AWS_ACCESS_KEY_ID": "AKIA0000"})  # type: ignore[arg-type]
    assert any(w.startswith("providers.bedrock.aws_secret_access_key (env:AWS_SECRET_ACCESS_"
                            "KEY): the environment variable") for w in warnings)
    assert any(w.startswith("providers.vertex.credentials (file:/etc/bastion/service-"
                            "account.json): the file") for w in warnings)
    assert not any("aws_access_key_id" in w for w in warnings)
