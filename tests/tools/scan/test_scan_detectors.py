"""Detector-level tests: every format is found, decoys are not, masks hide secrets."""

from __future__ import annotations

import random
import string

import pytest

from bastion.tools.scan import Confidence, fingerprint, mask, scan_bytes
from bastion.tools.scan.heuristics import is_placeholder, looks_random, shannon_entropy

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"
RNG = random.Random()


def rnd(n: int, alphabet: str = ALNUM) -> str:
    return "".join(RNG.choices(alphabet, k=n))


def sk(*parts: str) -> str:
    return "s" + "k-" + "".join(parts)


MARK = "T3Blbk" + "FJ"


def planted_cases() -> list[tuple[str, str, str]]:
    """(detector, line of code holding a key, the key) built at run time."""
    cases = []

    def add(detector: str, template: str, key: str) -> None:
        cases.append((detector, template.format(key=key), key))

    add("openai-project-key", 'OPENAI_API_KEY = "{key}"', sk("proj-", rnd(74, URLSAFE), MARK,
                                                             rnd(74, URLSAFE)))
    add("openai-project-key", "key: {key}", sk("proj-", rnd(48, URLSAFE)))
    add("openai-service-account-key", "k='{key}'", sk("svcacct-", rnd(58), MARK, rnd(58)))
    add("openai-admin-key", "export OPENAI_ADMIN_KEY={key}", sk("admin-", rnd(74), MARK, rnd(74)))
    add("openai-user-key", 'x = "{key}"', sk(rnd(20), MARK, rnd(20)))
    add("anthropic-api-key", 'Anthropic(api_key="{key}")', sk("ant-api03-", rnd(93, URLSAFE), "AA"))
    add("anthropic-admin-key", "ADMIN={key}", sk("ant-admin01-", rnd(93, URLSAFE), "AA"))
    add("google-ai-api-key", 'genai.configure(api_key="{key}")', "AI" + "za" + rnd(35, URLSAFE))
    add("groq-api-key", "GROQ_API_KEY={key}", "gs" + "k_" + rnd(52))
    add("huggingface-token", 'login("{key}")', "h" + "f_" + rnd(34, string.ascii_letters))
    add("replicate-api-token", "REPLICATE_API_TOKEN={key}", "r" + "8_" + rnd(37))
    add("perplexity-api-key", "p = '{key}'", "pp" + "lx-" + rnd(48))
    add("xai-api-key", "XAI_API_KEY: {key}", "xa" + "i-" + rnd(80))
    add("bastion-virtual-key", 'Authorization: Bearer {key}', "bs" + "t_" + rnd(43, URLSAFE))
    add("deepseek-api-key", 'deepseek_client = OpenAI(api_key="{key}")', sk(rnd(32, HEX)))
    add("mistral-api-key", 'client = Mistral(api_key="{key}")', rnd(32))
    add("cohere-api-key", "co = cohere.ClientV2('{key}')", rnd(40))
    add("together-api-key", 'together.api_key = "{key}"', rnd(64, HEX))
    add("generic-secret", 'STRIPE_SECRET_KEY = "{key}"', rnd(40))
    add("generic-secret", "  webhook_token: {key}", rnd(32))
    return cases


@pytest.mark.parametrize(("detector", "line", "key"), planted_cases())
def test_scan_planted_key_found(detector: str, line: str, key: str) -> None:
    text = f"import os\n\n{line}\nprint('done')\n"
    findings = scan_bytes("app.py", text.encode())
    assert [(f.detector, f.secret, f.line) for f in findings] == [(detector, key, 3)]
    assert findings[0].column == line.index(key) + 1


def test_scan_azure_key_next_to_endpoint() -> None:
    key = rnd(32, HEX)
    text = (
        'endpoint = "https://contoso.openai.azure.com/"\n'
        f'api_key = "{key}"\n'
    )
    (f,) = scan_bytes("azure.py", text.encode())
    assert (f.detector, f.secret, f.line, f.confidence) == (
        "azure-openai-key", key, 2, Confidence.MEDIUM
    )


def test_scan_aws_pair_needs_secret() -> None:
    key_id = "AK" + "IA" + rnd(16, string.ascii_uppercase + "234567")
    secret = rnd(40, ALNUM + "/+")
    (f,) = scan_bytes("cfg.ini", f"aws_access_key_id = {key_id}\naws_secret = {secret}\n".encode())
    assert f.detector == "aws-access-key"
    assert f.secret == f"{key_id}:{secret}"
    assert f.line == 1
    assert scan_bytes("cfg.ini", f"id = {key_id}\n".encode()) == []


def test_scan_context_keys_need_their_keyword() -> None:
    assert scan_bytes("a.py", f'value = "{rnd(32)}"\n'.encode()) == []
    (f,) = scan_bytes("a.py", f'value = "{sk(rnd(32, HEX))}"\n'.encode())
    assert f.detector == "openai-compatible-key"


def decoy_lines() -> list[str]:
    s = "s" + "k-"
    return [
        f'OPENAI_API_KEY = "{s}..."',
        f'api_key = "{s}' + "x" * 48 + '"',
        f'OPENAI_API_KEY="{s}proj-EXAMPLE-KEY-DO-NOT-USE-000000000000000000000"',
        f"{s}proj-" + "EXAMPLE" * 8,
        'api_key = "<your-key>"',
        "ANTHROPIC_API_KEY=YOUR_API_KEY",
        'api_key = os.environ["OPENAI_API_KEY"]',
        "OPENAI_API_KEY: ${OPENAI_API_KEY}",
        "token: env:OPENAI_API_KEY",
        "const key = process.env.OPENAI_API_KEY;",
        f"sha256 = '{rnd(64, HEX)}'",
        f'<script integrity="sha384-{rnd(64, ALNUM + "+/")}"></script>',
        f"md5: {rnd(32, HEX)}",
        f'request_id = "{rnd(8, HEX)}-{rnd(4, HEX)}-{rnd(4, HEX)}-{rnd(4, HEX)}-{rnd(12, HEX)}"',
        'API_KEY = "test-key-123"',
        'SECRET_KEY = "dummy-secret-for-unit-tests-only"',
        f'token = "fake_{rnd(24)}"',
        'access_token = "' + "a" * 32 + '"',
        f'commit = "{rnd(40, HEX)}"',
        "max_tokens = 4096",
        'token_url = "https://auth.example.com/oauth/token"',
        "AI" + "zaSy" + "X" * 33,
        "aws_access_key_id = AK" + "IAIOSFODNN7EXAMPLE",
        "task-runner-configuration-for-the-disk-subsystem-" + "a" * 10,
        f'"model": "mistral-large-latest", "etag": "{rnd(32, HEX)}"',
        f"together with checksum {rnd(64, HEX)}",
        'secret_name = "prod/openai/api-key"',
        "SECRET_KEY_FILE = '/run/secrets/django_secret_key'",
        f"{s}ant-api03-your-key-here",
        "private_key = load_key(path)  # tokenizerConfigurationLoader",
        'password = "correct-horse-battery-staple"',
        'sessionTokenName = "AuthenticationTokenForTheSession"',
        "    def sign(self, private_key: ed25519.Ed25519PrivateKey, data: bytes) -> None:",
    ]


@pytest.mark.parametrize("line", decoy_lines())
def test_scan_decoy_not_found(line: str) -> None:
    assert scan_bytes("decoy.py", f"x = 1\n{line}\n".encode()) == []


def test_scan_key_glued_to_other_token_is_ignored() -> None:
    key = "gs" + "k_" + rnd(52)
    assert scan_bytes("a.txt", f"prefix{key}".encode()) == []
    assert scan_bytes("a.txt", f"{key}{'X' * 10}".encode()) == []
    assert len(scan_bytes("a.txt", f'"\\n{key}\\n"'.encode())) == 1


def test_scan_mask_and_fingerprint() -> None:
    key = sk("proj-", rnd(48))
    (f,) = scan_bytes("a.py", f"k = '{key}'".encode())
    assert f.masked == "sk-proj-\u2026" + key[-4:]
    assert key not in repr(f)
    assert key not in str(f.to_dict())
    assert f.to_dict(show_secret=True)["secret"] == key
    assert f.fingerprint == fingerprint("openai-project-key", key)
    assert mask("abcdefghijklmnopqrstuvwxyz") == "abcd\u2026wxyz"
    assert mask("short") == "\u2026"


def test_scan_heuristics() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert is_placeholder("sk-xxxxxxxx")
    assert is_placeholder("your-api-key")
    assert not is_placeholder(rnd(48))
    assert looks_random(rnd(40), strict=True)
    assert not looks_random("tokenizer_configuration_value", strict=True)
