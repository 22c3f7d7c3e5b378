"""Synthetic corpus for the scan benchmark: planted random keys and realistic decoys.

Keys are generated at run time (nothing key-shaped is stored in the repo).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"
B32 = string.ascii_uppercase + "234567"


def rnd(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choices(alphabet, k=n))


@dataclass(frozen=True)
class Plant:
    detector: str
    lines: list[str]  # the planted line is lines[0]; extra lines follow it


def _sk(*parts: str) -> str:
    return "s" + "k-" + "".join(parts)


def plant_factories(rng: random.Random) -> dict[str, Callable[[], Plant]]:
    r = rng
    mark = "T3Blbk" + "FJ"
    return {
        "openai-project-key": lambda: Plant("openai-project-key", [
            f'OPENAI_API_KEY = "{_sk("proj-", rnd(r, 74, URLSAFE), mark, rnd(r, 74, URLSAFE))}"']),
        "openai-service-account-key": lambda: Plant("openai-service-account-key", [
            f"openai.api_key = '{_sk('svcacct-', rnd(r, 58), mark, rnd(r, 58))}'"]),
        "openai-admin-key": lambda: Plant("openai-admin-key", [
            f"  admin_key: {_sk('admin-', rnd(r, 74, URLSAFE), mark, rnd(r, 74, URLSAFE))}"]),
        "openai-user-key": lambda: Plant("openai-user-key", [
            f'const key = "{_sk(rnd(r, 20), mark, rnd(r, 20))}";']),
        "anthropic-api-key": lambda: Plant("anthropic-api-key", [
            f'client = Anthropic(api_key="{_sk("ant-api03-", rnd(r, 93, URLSAFE), "AA")}")']),
        "anthropic-admin-key": lambda: Plant("anthropic-admin-key", [
            f'ANTHROPIC_ADMIN_KEY={_sk("ant-admin01-", rnd(r, 93, URLSAFE), "AA")}']),
        "google-ai-api-key": lambda: Plant("google-ai-api-key", [
            f'genai.configure(api_key="AI{"za"}{rnd(r, 35, URLSAFE)}")']),
        "azure-openai-key": lambda: Plant("azure-openai-key", [
            f'AZURE_OPENAI_API_KEY = "{rnd(r, 32, HEX)}"',
            'AZURE_OPENAI_ENDPOINT = "https://contoso.openai.azure.com/"']),
        "mistral-api-key": lambda: Plant("mistral-api-key", [
            f'client = Mistral(api_key="{rnd(r, 32)}")']),
        "cohere-api-key": lambda: Plant("cohere-api-key", [
            f"co = cohere.ClientV2('{rnd(r, 40)}')"]),
        "groq-api-key": lambda: Plant("groq-api-key", [f"GROQ_API_KEY=gs{'k_'}{rnd(r, 52)}"]),
        "huggingface-token": lambda: Plant("huggingface-token", [
            f'login(token="h{"f_"}{rnd(r, 34, string.ascii_letters)}")']),
        "together-api-key": lambda: Plant("together-api-key", [
            f'together.api_key = "{rnd(r, 64, HEX)}"']),
        "replicate-api-token": lambda: Plant("replicate-api-token", [
            f'"replicate": {{"token": "r{"8_"}{rnd(r, 37)}"}},']),
        "perplexity-api-key": lambda: Plant("perplexity-api-key", [
            f"PPLX = 'pp{'lx-'}{rnd(r, 48)}'"]),
        "xai-api-key": lambda: Plant("xai-api-key", [f'XAI_API_KEY: "xa{"i-"}{rnd(r, 80)}"']),
        "deepseek-api-key": lambda: Plant("deepseek-api-key", [
            f'deepseek = OpenAI(api_key="{_sk(rnd(r, 32, HEX))}", base_url=DS_URL)']),
        "aws-access-key": lambda: Plant("aws-access-key", [
            f"aws_access_key_id = AK{'IA'}{rnd(r, 16, B32)}",
            f"aws_secret_access_key = {rnd(r, 40, ALNUM + '/+')}"]),
        "bastion-virtual-key": lambda: Plant("bastion-virtual-key", [
            f'BASTION_KEY = "bs{"t_"}{rnd(r, 43, URLSAFE)}"']),
        "generic-secret": lambda: Plant("generic-secret", [
            f'PAYMENTS_API_KEY = "{rnd(r, 40)}"']),
    }


def decoys(rng: random.Random) -> list[str]:
    """Lines that look like secrets but are not findings."""
    r = rng
    sk = "s" + "k-"
    return [
        f'OPENAI_API_KEY = "{sk}..."',
        f'api_key = "{sk}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
        f'OPENAI_API_KEY="{sk}proj-EXAMPLE-KEY-DO-NOT-USE-0000000000000000000"',
        'api_key = "<your-key>"',
        "ANTHROPIC_API_KEY=YOUR_API_KEY",
        'api_key = os.environ["OPENAI_API_KEY"]',
        "OPENAI_API_KEY: ${OPENAI_API_KEY}",
        "token: env:OPENAI_API_KEY",
        "const key = process.env.OPENAI_API_KEY;",
        f"sha256 = '{rnd(r, 64, HEX)}'",
        f'<script src="app.js" integrity="sha384-{rnd(r, 64, ALNUM + "+/")}"></script>',
        f"md5sum: {rnd(r, 32, HEX)}",
        f'request_id = "{rnd(r, 8, HEX)}-{rnd(r, 4, HEX)}-{rnd(r, 4, HEX)}-{rnd(r, 4, HEX)}-'
        f'{rnd(r, 12, HEX)}"',
        'API_KEY = "test-key-123"',
        'SECRET_KEY = "dummy-secret-for-unit-tests"',
        f'token = "fake_{rnd(r, 8)}"',
        'password = "password1234567890"',
        'access_token = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"',
        f'commit = "{rnd(r, 40, HEX)}"',
        "max_tokens = 4096",
        'token_url = "https://auth.example.com/oauth/token"',
        "tokenizer = AutoTokenizer.from_pretrained('bert-base-uncased')",
        f"AI{'za'}SyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        f"aws_access_key_id = AK{'IA'}IOSFODNN7EXAMPLE",
        "hf_hub_download(repo_id='org/model', filename='model.safetensors')",
        "task-runner-configuration-for-the-disk-subsystem",
        f'cache_key = "{rnd(r, 24, HEX)}"',
        f'"mistral-large-latest", "id": "{rnd(r, 32, HEX)}"',
        f"together with checksum {rnd(r, 64, HEX)}",
        f'"etag": "{rnd(r, 32, HEX)}"',
        'secret_name = "prod/openai/api-key"',
        "def get_api_key(self) -> str:",
        "SECRET_KEY_FILE = '/run/secrets/django_secret_key'",
        f'{sk}ant-api03-your-key-here',
        f"  resolved \"https://registry.yarnpkg.com/x/-/x-1.0.0.tgz#{rnd(r, 40, HEX)}\"",
    ]


def filler_lines(limit_bytes: int) -> list[str]:
    """Real source lines from the venv (realistic haystack)."""
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    out: list[str] = []
    total = 0
    for path in sorted(site.rglob("*.py")):
        if "detect_secrets" in str(path) or "test" in path.name:
            continue
        try:
            lines = path.read_text("utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        out.extend(lines)
        total += sum(len(x) + 1 for x in lines)
        if total >= limit_bytes:
            break
    return out
