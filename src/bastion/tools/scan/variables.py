"""Keys identified only by the variable that holds them.

Several providers issue keys with no vendor prefix (Mistral: 32 random
characters; Cohere, DeepInfra, AI21, …). The context rules find them near the
vendor's name when the value looks strictly random; this rule reads
``<VENDOR>_API_KEY = value`` assignments (``=``, ``:``, ``=>``, quoted or bare,
``export`` or YAML) and trusts the name: the value only has to have a key's
alphabet and length and not be a placeholder, an environment reference or a
low-entropy run. So a key that happens to look tame (few digits, one case) is
still found when its variable says what it is.
"""

from __future__ import annotations

import re

from .buffer import BufferView
from .detectors import Match
from .heuristics import is_env_reference, is_placeholder, looks_random

# Vendor word in the variable name -> detector id (see registry.py).
VENDORS: dict[bytes, str] = {
    b"mistral": "mistral-api-key",
    b"codestral": "mistral-api-key",
    b"cohere": "cohere-api-key",
    b"co": "cohere-api-key",
    b"together": "together-api-key",
    b"azure_openai": "azure-openai-key",
    b"azure": "azure-openai-key",
    b"deepseek": "deepseek-api-key",
    b"groq": "groq-api-key",
    b"perplexity": "perplexity-api-key",
    b"pplx": "perplexity-api-key",
    b"xai": "xai-api-key",
    b"openrouter": "openrouter-api-key",
    b"replicate": "replicate-api-token",
    b"huggingface": "huggingface-token",
    b"hf": "huggingface-token",
    b"openai": "openai-user-key",
    b"anthropic": "anthropic-api-key",
    b"gemini": "google-ai-api-key",
    b"fireworks": "llm-provider-key",
    b"deepinfra": "llm-provider-key",
    b"ai21": "llm-provider-key",
    b"voyage": "llm-provider-key",
    b"anyscale": "llm-provider-key",
    b"nvidia": "llm-provider-key",
    b"cerebras": "llm-provider-key",
    b"sambanova": "llm-provider-key",
    b"novita": "llm-provider-key",
    b"hyperbolic": "llm-provider-key",
    b"nebius": "llm-provider-key",
    b"moonshot": "llm-provider-key",
    b"dashscope": "llm-provider-key",
    b"zhipu": "llm-provider-key",
    b"jina": "llm-provider-key",
    b"reka": "llm-provider-key",
    b"writer": "llm-provider-key",
    b"lepton": "llm-provider-key",
    b"octoai": "llm-provider-key",
    b"predibase": "llm-provider-key",
    b"friendli": "llm-provider-key",
    b"featherless": "llm-provider-key",
    b"watsonx": "llm-provider-key",
    b"pinecone": "llm-provider-key",
    b"elevenlabs": "llm-provider-key",
    b"assemblyai": "llm-provider-key",
    b"stability": "llm-provider-key",
    b"runpod": "llm-provider-key",
}
_BY_LENGTH: list[bytes] = sorted(VENDORS, key=lambda v: (-len(v), v))
_VENDOR_ALT = b"|".join(_BY_LENGTH)
# Applied to the lowercased buffer (offsets are the same in the original bytes).
_ASSIGN_RE = re.compile(
    rb"(?<![a-z0-9])(?P<vendor>" + _VENDOR_ALT + rb")[_\-]?(?:ai[_\-]?)?"
    rb"(?:api[_\-]?)?(?:key|token|secret|apikey)['\"]?[ \t]{0,4}(?::=|=>|[:=])[ \t]{0,8}"
    rb"(?P<q>['\"`]?)(?P<value>[a-z0-9][a-z0-9_\-.]{19,199})(?![a-z0-9_\-])"
)
_TRIGGERS = (b"key", b"token", b"secret")


def _value_ok(value: str) -> bool:
    if is_placeholder(value) or is_env_reference(value) or value.count(".") > 1:
        return False
    return looks_random(value, strict=False, require_digit=False)


def scan_variables(view: BufferView) -> list[Match]:
    """Find provider keys assigned to a variable whose name names the provider."""
    low = view.low
    if not any(t in low for t in _TRIGGERS):
        return []
    out: list[Match] = []
    for m in _ASSIGN_RE.finditer(low):
        vstart, vend = m.span("value")
        value = view.data[vstart:vend].decode("ascii", "replace").rstrip(".")
        if m.group("q") and view.data[vend:vend + 1] not in (m.group("q"), b""):
            continue
        if _value_ok(value):
            out.append(Match(VENDORS[m.group("vendor")], value, vstart, vstart + len(value)))
    return out
