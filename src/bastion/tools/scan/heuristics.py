"""Value heuristics: entropy, randomness, placeholders, env references, hashes.

All functions are pure and work on ``str`` values that are already isolated
from their surroundings (the detector decides what the value is).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter

_HEX = frozenset("0123456789abcdefABCDEF")

# Lower bounds (bits/char) below which a string of length n is very unlikely
# to be random: roughly the 0.1th percentile of simulated random strings.
_LENGTHS = (12, 16, 20, 24, 32, 40, 48, 64, 100, 156)
_HEX_FLOOR = (2.1, 2.4, 2.6, 2.8, 3.0, 3.2, 3.3, 3.45, 3.65, 3.75)
_ALNUM_FLOOR = (2.6, 3.0, 3.3, 3.5, 3.8, 4.0, 4.2, 4.5, 4.9, 5.1)

_PLACEHOLDER_RE = re.compile(
    r"\.\.\.|\u2026|\*\*\*|(.)\1{4,}|[<>{}\[\]$%]|\s"
    r"|(?i:example|sample|placeholder|changeme|change_me|replace|redacted|dummy|insert"
    r"|your[_-]?(?:api|key|token|secret|own)|fixme|todo|notreal|not[_-]real|secret[_-]?here"
    r"|key[_-]?here|token[_-]?here|0123456|1234567|abcdefg|qwerty)"
)
# Short words count only when delimited (or at the start) and in one case, so
# that random keys, which contain them by chance, are not discarded.
_SHORT_WORD_RE = re.compile(
    r"(?:^|[^A-Za-z])(?:test|TEST|Test|fake|FAKE|Fake|mock|MOCK|Mock|demo|DEMO|Demo"
    r"|xxxx|XXXX|your|YOUR|here|HERE)(?:$|[^a-z])"
)
_ENV_REF_RE = re.compile(
    r"^(?:\$|%|env[:.]|ENV[:.\[]|process\.env|os\.environ|os\.getenv|getenv|secrets\.|vault:"
    r"|ref\+|import\.meta\.env|\{\{|@Microsoft\.KeyVault|arn:)",
)
_ENV_NAME_RE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_HASH_CONTEXT_RE = re.compile(
    r"(?i)sha-?(?:1|224|256|384|512)|md5|\bhash|digest|checksum|integrity|etag|\bcommit\b"
    r"|revision|\bsri\b"
)
_SRI_RE = re.compile(r"^(?:sha(?:1|256|384|512))[-:]", re.IGNORECASE)
_CAMEL_SPLIT_RE = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_VOWELS = frozenset("aeiouy")
# The most frequent English letter pairs (about 85 % of the pairs in running text): a
# segment whose pairs are mostly these reads as a word; a random segment rarely does
# (with the vowel test alone, about 1 in 80 random 32-character keys looked "wordy").
_BIGRAM_TEXT = """
th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le
ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur ca el ta la ns di fo ho pe ec
pr no ct us ac ot il tr ly nc et ut ss so rs un lo wa ge ie wh ee wi em ad ol rt po we na
ul ni ts mo ow pa im mi ai sh ir su id os iv ia am fi ci vi pl ig tu ev ld ry mp fe bl ab
gh ty op wo sa ay ex ke fr oo av ag if ap gr od bo sp rd do uc bu ei ov by rm ep tt oc fa
ef cu rn sc gi da yo cr cl du ga qu ue ff ba ey ls va um pp ua up lu go ht ru ug ds lt pi
rc rr eg au ck ew mu br bi pt ak pu ui rg ib tl ny ki rk ys ob mm fu ph og ms ye ud mb ip
ub oi rl gu dr hr cc tw ft wn nu"""
_COMMON_BIGRAMS = frozenset(_BIGRAM_TEXT.split())


def shannon_entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character (0.0 for the empty string)."""
    n = len(value)
    if n == 0:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def is_hex(value: str) -> bool:
    """True when every character is a hexadecimal digit."""
    return bool(value) and all(ch in _HEX for ch in value)


def entropy_floor(length: int, *, hex_only: bool) -> float:
    """Entropy below which a random string of ``length`` chars is implausible."""
    table = _HEX_FLOOR if hex_only else _ALNUM_FLOOR
    idx = bisect_right(_LENGTHS, length) - 1
    if idx < 0:
        return table[0] - 0.4
    if idx >= len(_LENGTHS) - 1:
        return table[-1]
    lo, hi = _LENGTHS[idx], _LENGTHS[idx + 1]
    frac = (length - lo) / (hi - lo)
    return table[idx] + frac * (table[idx + 1] - table[idx])


def is_placeholder(value: str) -> bool:
    """True for documentation placeholders and obvious fixtures.

    Covers ellipses, masks (``***``), runs of one character, template markers
    (``<your-key>``, ``{key}``, ``${X}``), words such as EXAMPLE/placeholder/
    dummy/redacted, delimited test/fake/mock/demo, and keyboard sequences.
    """
    return bool(_PLACEHOLDER_RE.search(value) or _SHORT_WORD_RE.search(value))


def is_env_reference(value: str) -> bool:
    """True when ``value`` refers to an environment variable or secret store."""
    return bool(_ENV_REF_RE.match(value) or _ENV_NAME_RE.match(value))


def is_uuid(value: str) -> bool:
    """True for canonical 8-4-4-4-12 UUIDs."""
    return bool(_UUID_RE.match(value))


def has_hash_context(text: str) -> bool:
    """True when ``text`` (usually the line around a value) talks about hashes."""
    return bool(_HASH_CONTEXT_RE.search(text))


def is_sri_digest(value: str) -> bool:
    """True for ``sha256-…``/``sha512:…`` style digests."""
    return bool(_SRI_RE.match(value))


def wordiness(value: str) -> float:
    """Fraction of ``value`` made of natural-language-looking segments.

    Segments come from splitting on non-letters and camelCase; a segment of at
    least four letters with a plausible vowel ratio, three quarters of whose letter
    pairs are common English pairs, counts as a word.
    """
    if not value:
        return 0.0
    wordy = 0
    for seg in _CAMEL_SPLIT_RE.findall(value):
        if len(seg) < 4:
            continue
        low = seg.lower()
        vowels = sum(1 for ch in low if ch in _VOWELS)
        if not 0.2 <= vowels / len(seg) <= 0.65:
            continue
        common = sum(1 for i in range(len(low) - 1) if low[i:i + 2] in _COMMON_BIGRAMS)
        if common >= 0.75 * (len(low) - 1):
            wordy += len(seg)
    return wordy / len(value)


def looks_random(value: str, *, strict: bool, require_digit: bool = True) -> bool:
    """Decide whether ``value`` is plausibly a random credential.

    ``strict`` is for values found without a format prefix (generic and
    context detectors): it demands entropy above the random floor, mixed
    character classes and no word-like structure. Non-strict mode (format
    prefix already matched) only rejects clearly low-entropy bodies.
    """
    if is_placeholder(value):
        return False
    hex_only = is_hex(value)
    floor = entropy_floor(len(value), hex_only=hex_only)
    entropy = shannon_entropy(value)
    if not strict:
        return entropy >= floor - 0.6
    has_digit = any(ch.isdigit() for ch in value)
    has_alpha = any(ch.isalpha() for ch in value)
    if entropy < floor or not has_alpha:
        return False
    if hex_only:
        return has_digit
    mixed_case = any(ch.isupper() for ch in value) and any(ch.islower() for ch in value)
    return (
        (has_digit or not require_digit)
        and (mixed_case or len(value) >= 24)
        and wordiness(value) < 0.45
    )
