"""Catalogue of detectors: identifiers, titles, confidence and mask prefixes.

Identifiers are stable: they appear in JSON/SARIF output and are part of the
baseline fingerprint, so renaming one invalidates existing baselines.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Confidence


@dataclass(frozen=True, slots=True)
class DetectorInfo:
    """Static description of one detector."""

    id: str
    title: str
    confidence: Confidence
    prefix: str = ""


_H, _M, _L = Confidence.HIGH, Confidence.MEDIUM, Confidence.LOW

DETECTORS: dict[str, DetectorInfo] = {
    d.id: d
    for d in (
        DetectorInfo("openai-project-key", "OpenAI project API key", _H, "sk-proj-"),
        DetectorInfo("openai-service-account-key", "OpenAI service-account key", _H, "sk-svcacct-"),
        DetectorInfo("openai-admin-key", "OpenAI admin key", _H, "sk-admin-"),
        DetectorInfo("openai-user-key", "OpenAI API key", _H, "sk-"),
        DetectorInfo("openai-compatible-key", "sk- style API key (OpenAI-compatible)", _M, "sk-"),
        DetectorInfo("anthropic-api-key", "Anthropic API key", _H, "sk-ant-api03-"),
        DetectorInfo("anthropic-admin-key", "Anthropic admin key", _H, "sk-ant-admin01-"),
        DetectorInfo("google-ai-api-key", "Google AI / Gemini API key", _H, "AIza"),
        DetectorInfo("azure-openai-key", "Azure OpenAI key", _M),
        DetectorInfo("mistral-api-key", "Mistral API key", _M),
        DetectorInfo("cohere-api-key", "Cohere API key", _M),
        DetectorInfo("groq-api-key", "Groq API key", _H, "gsk_"),
        DetectorInfo("huggingface-token", "Hugging Face access token", _H, "hf_"),
        DetectorInfo("together-api-key", "Together AI API key", _M, "tgp_v1_"),
        DetectorInfo("replicate-api-token", "Replicate API token", _H, "r8_"),
        DetectorInfo("perplexity-api-key", "Perplexity API key", _H, "pplx-"),
        DetectorInfo("xai-api-key", "xAI API key", _H, "xai-"),
        DetectorInfo("deepseek-api-key", "DeepSeek API key", _M, "sk-"),
        DetectorInfo("openrouter-api-key", "OpenRouter API key", _H, "sk-or-v1-"),
        DetectorInfo("langsmith-api-key", "LangSmith API key", _H, "lsv2_"),
        DetectorInfo("aws-access-key", "AWS access key pair", _H, "AKIA"),
        DetectorInfo("bastion-virtual-key", "Bastion virtual key", _H, "bst_"),
        DetectorInfo("llm-provider-key", "AI provider key (named by its variable)", _M),
        DetectorInfo("generic-secret", "High-entropy secret assignment", _L),
        DetectorInfo("dotenv-file", ".env file present in the tree", _M),
    )
}

CONFIDENCE_RANK = {Confidence.HIGH: 0, Confidence.MEDIUM: 1, Confidence.LOW: 2}
