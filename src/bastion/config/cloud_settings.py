"""Provider fields of the cloud AI services: AWS Bedrock and Google Vertex AI.

They sit flat on a provider (``providers.X.region``, ``providers.X.project``, …) and
are accepted only on the provider type that uses them, so a field that would do
nothing is refused with the reason. See ``docs/providers.md``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

_SECRET_REF = re.compile(r"^(env|file|aws-sm|vault):\S+$")
_REGION = r"^[a-z]{2}(-[a-z]+)+-\d+$"
_LOCATION = r"^(global|[a-z]+(-[a-z]+)*\d*)$"


def _ref(v: str) -> str:
    if not _SECRET_REF.match(v):
        raise ValueError("secrets are referenced, never written inline: use env:NAME, "
                         "file:/path, aws-sm:secret-id[#field] or vault:path#field")
    return v


Ref = Annotated[str, AfterValidator(_ref)]

BEDROCK_FIELDS = ("region", "aws_access_key_id", "aws_secret_access_key", "aws_session_token")
VERTEX_FIELDS = ("project", "location", "credentials")


class CloudProviderFields(BaseModel):
    """Mixed into ``ProviderSettings`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # bedrock
    region: str | None = Field(None, pattern=_REGION, description="AWS region, us-east-1")
    aws_access_key_id: Ref | None = None
    aws_secret_access_key: Ref | None = None
    aws_session_token: Ref | None = None
    # vertex
    project: str | None = Field(None, min_length=1, description="Google Cloud project id")
    location: str | None = Field(None, pattern=_LOCATION, description="us-central1, global")
    credentials: Ref | None = Field(None, description="the service-account JSON")

    @model_validator(mode="after")
    def _fields_of_the_type(self) -> Any:
        from bastion.config.settings import SettingsError  # settings.py imports this module

        kind = getattr(self, "type", None)
        own = {"bedrock": BEDROCK_FIELDS, "vertex": VERTEX_FIELDS}.get(str(kind), ())
        for name in (*BEDROCK_FIELDS, *VERTEX_FIELDS):
            if getattr(self, name) is not None and name not in own:
                where = "bedrock" if name in BEDROCK_FIELDS else "vertex"
                raise SettingsError((name,), f"`{name}` applies to providers of type {where} "
                                             f"only (this one is {kind})")
        if kind in ("bedrock", "vertex") and getattr(self, "api_version", None) is not None:
            raise SettingsError(("api_version",), f"`api_version` does not apply to {kind} "
                                                  "providers")
        if kind == "vertex" and getattr(self, "api_key", None) is not None:
            raise SettingsError(("api_key",), "a vertex provider authenticates with "
                                "`credentials` (a service-account JSON) or workload identity, "
                                "not `api_key`")
        if kind == "bedrock":
            if self.region is None:
                raise ValueError("a bedrock provider needs `region` (e.g. us-east-1)")
            if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
                given = "aws_access_key_id" if self.aws_access_key_id else "aws_secret_access_key"
                raise SettingsError((given,), "give aws_access_key_id and "
                                              "aws_secret_access_key together")
            if self.aws_session_token is not None and self.aws_access_key_id is None:
                raise SettingsError(("aws_session_token",), "aws_session_token needs "
                                    "aws_access_key_id and aws_secret_access_key")
        if kind == "vertex" and (self.project is None or self.location is None):
            raise ValueError("a vertex provider needs `project` and `location` "
                             "(e.g. us-central1)")
        return self
