"""The local harmful-content detector: categories and scores for a text, offline.

Use it alone::

    from bastion.guards.output.moderation import moderate
    result = moderate("some text")          # -> ModerationResult
    result.flagged                          # any category at or above the threshold
    result.categories["self-harm"]          # bool per category
    result.category_scores["violence"]      # float in [0, 1] per category
    result.reasons                          # the cues that matched, e.g. ("howto_kill",)

Categories use OpenAI's moderation names (``CATEGORIES``), so an OpenAI-shaped
``/v1/moderations`` answer can be built from a result as it is.

How it decides: precompiled cue families (one regex each) are found with their
positions; a category's score combines cues the way harm does — a topic alone
scores low, a topic *with* instructions, quantities or evasion scores high, a
sexual cue counts for ``sexual/minors`` only near a minor cue, a group name
counts for ``hate`` only next to dehumanising or eliminationist words. Support
and protective language (crisis lines, "report", "prevent") lowers self-harm and
minors scores, so safe answers about hard subjects pass. Threats aimed at a
person count; "kill the process" does not. English first, with the commonest
self-harm and threat phrases in Spanish, French and German.

Pure and fast: no I/O, every pattern compiled at import, linear in the text.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

CATEGORIES: tuple[str, ...] = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit",
    "illicit/violent", "self-harm", "self-harm/intent", "self-harm/instructions", "sexual",
    "sexual/minors", "violence", "violence/graphic",
)
DEFAULT_THRESHOLD = 0.5
NEAR_CHARS = 250

_GROUPS = (
    r"jews|jewish people|muslims|christians|blacks|black people|whites|white people|asians"
    r"|mexicans|latinos|hispanics|immigrants|migrants|refugees|gays|gay people|lesbians"
    r"|homosexuals|trans people|transgender people|transgenders|women|females|arabs|africans"
    r"|hindus|sikhs|gypsies|roma|chinese people|indians|catholics|disabled people|the disabled"
)
_GROUP = rf"(?:{_GROUPS})"
# Slurs are stored ROT13-encoded so this file does not read as abuse; decoded at import.
_SLURS = codecs.decode(
    "avttre|avttref|avttn|xvxr|xvxrf|fcvp|fcvpf|puvax|puvaxf|jrgonpx|jrgonpxf|snttbg|snttbgf"
    "|genaal|genaavrf|enturnq|enturnqf|fnaq avttre|gbjryurnq|tbbx|tbbxf|pbba|pbbaf|cnxv|cnxvf"
    "|ornare|ornaref|xnssve|cbepu zbaxrl|whatyr ohaal|mvccreurnq|urro", "rot13")
_PERSON = (
    r"(?:you|him|her|them|people|someone|somebody|anyone|a person|a human|my (?:wife|husband"
    r"|girlfriend|boyfriend|boss|neighbou?r|teacher|mother|father|mom|dad|ex|partner|coworker"
    r"|classmate|family)|the (?:president|teacher|police|cops|victim|target)|(?:innocent|random)"
    r" people|as many (?:people|as possible)|children|kids)"
)

_CUES: dict[str, str] = {
    # --- illicit ---------------------------------------------------------------------------
    "weapon": r"\b(?:pipe ?bombs?|(?:homemade|improvised|nail|car|fertili[sz]er)"
              r" (?:bomb|explosive)s?|\bied\b|explosives?|detonators?|blasting caps?|thermite"
              r"|napalm|molotov"
              r"|nerve agents?|sarin|\bvx\b|ricin|anthrax|mustard gas|chlorine gas|tatp|hmtd"
              r"|\bpetn\b|\brdx\b|semtex|ammonium nitrate|ghost guns?"
              r"|untraceable (?:gun|firearm|weapon)s?|auto ?sears?|(?:homemade|diy) (?:silencer"
              r"|suppressor|gun|firearm)s?|3d[- ]printed (?:gun|firearm)s?|chemical weapons?"
              r"|biological weapons?|bio ?weapons?|dirty bombs?|bombs?)\b",
    "drug": r"\b(?:methamphetamine|crystal meth|meth|fentanyl|carfentanil|heroin|cocaine|crack"
            r"|lsd|mdma|ecstasy|ghb|dmt|pcp|amphetamines?|pseudoephedrine|phenylacetone|p2p"
            r"|safrole|lysergic acid|opium|morphine)\b",
    "synthesis": r"\b(?:synthesi[sz]e|synthesis|synthesi[sz]ing|cook(?:ing)? (?:meth|it|the)"
                 r"|manufactur(?:e|ing)|extract(?:ion|ing)?|precursors?|reduction|reflux"
                 r"|distill?(?:ation|ing)?|recrystalli[sz]|reagents?|lab setup"
                 r"|purif(?:y|ication))\b",
    "cyber": r"\b(?:ransomware|keyloggers?|malware|trojans?|rootkits?|botnets?|spyware"
             r"|credential stealers?|infostealers?|reverse shells?|backdoors?"
             r"|zero[- ]day exploits?"
             r"|phishing (?:kit|page|site|email)s?|ddos (?:attack|tool)s?|cryptojack\w*"
             r"|keystroke logging)\b",
    "fraud": r"\b(?:counterfeit (?:money|bills|currency|notes)|fake (?:ids?|passports?|driver'?s"
             r" licen[cs]es?)|credit card (?:skimm\w+|fraud|dumps?)|carding|money laundering"
             r"|launder(?:ing)? (?:the )?money|identity theft|steal (?:someone'?s |their )?identit"
             r"(?:y|ies)|forged? (?:documents|checks|cheques|signatures))\b",
    "evasion": r"\b(?:(?:evad(?:e|es|ing)|bypass(?:es|ing)?|avoid(?:s|ing)?|disabl(?:e|es|ing)"
               r"|get past) (?:the )?(?:antivirus|anti-virus|av"
               r"|edr|detection|defender|law enforcement|police|cops|security cameras)"
               r"|undetect(?:able|ed)|without (?:being|getting) (?:caught|detected|traced|noticed)"
               r"|cover (?:your|my|their) tracks|untraceabl[ey]|no one will (?:know|find out))\b",
    "steps": r"(?:\bstep \d|\bstep[- ]by[- ]step|(?:^|\n)\s*(?:\d{1,2}[.)]|[-*•]) +\S"
             r"|\bhere(?:'s| is) how\b|\bfollow these steps\b|\byou(?:'ll| will) need\b"
             r"|\bingredients\b|\bmaterials(?: needed)?:|\binstructions:)",
    "quantity": r"\b\d+(?:\.\d+)? ?(?:g|grams?|mg|kg|ml|mls|l|liters?|litres?|oz|ounces?|%"
                r"|°c|°f|degrees)\b",
    # --- violence and harassment ------------------------------------------------------------
    "threat_you": r"\b(?:i(?:'m| am)? ?(?:going to|gonna|will|'ll) (?:kill|murder|shoot|stab"
                  r"|hurt|beat|strangle|rape|find and kill|burn) (?:you|u|your family)\b"
                  r"|you(?:'re| are) (?:going to|gonna) die\b|i know where you live"
                  r"|watch your back|te voy a matar|je vais te tuer|ich (?:bringe|werde) dich"
                  r" umbringen)",
    "harm_people": rf"\b(?:kill|murder|shoot|stab|poison|strangle|behead|torture|maim"
                   rf"|assassinate|slaughter|run over) {_PERSON}\b",
    "howto_kill": rf"\b(?:(?:how|ways?|best way|easiest way) to (?:kill|murder|poison|strangle"
                  rf"|hurt|maim) {_PERSON}|get away with murder|untraceable poisons?"
                  rf"|dispos(?:e|ing) of (?:a|the) (?:dead )?body|hide (?:a|the) body)\b",
    "mass_violence": r"\b(?:mass shootings?|shoot up (?:a|the|my|our) (?:school|church|mosque"
                     r"|synagogue|temple|mall|office|concert|classroom)|kill as many"
                     r"|maximum casualties|massacre|bomb (?:a|the) (?:school|church|mosque"
                     r"|synagogue|crowd|stadium|subway|train|airport))\b",
    "graphic": r"\b(?:(?:blood|guts|entrails|intestines|brains|viscera) (?:spill\w*|splatter\w*"
               r"|everywhere|spray\w*|pour\w*)|disembowel\w*|dismember\w*|decapitat\w*"
               r"|flay(?:ed)? alive|gor(?:e|y)|mutilat\w*|eviscerat\w*)\b",
    "insult_you": r"\b(?:you(?:'re| are) (?:a |an |such a |so )?(?:worthless|pathetic|stupid"
                  r"|idiot|moron|loser|piece of (?:shit|garbage|trash)|disgusting|retard\w*)"
                  r"|(?:fuck|screw) you|you (?:stupid|dumb|worthless|pathetic|fat) (?:bitch|bastard"
                  r"|idiot|moron|piece|cunt|whore|slut))\b",
    # --- self-harm -------------------------------------------------------------------------
    "sh_intent": r"\b(?:i (?:want|wanna|plan|am going|'m going|intend|am ready|'m ready) to"
                 r" (?:die|kill myself|end (?:my life|it all)|hurt myself|cut myself)"
                 r"|i(?:'m| am) (?:suicidal|going to kill myself)|i (?:don't|do not) want to"
                 r" (?:live|be alive)|kill(?:ing)? myself|end(?:ing)? my (?:own )?life"
                 r"|quiero morir|me quiero matar|suicidarme|je veux mourir|me suicider"
                 r"|ich will sterben|mich umbringen)\b",
    "sh_encourage": r"\b(?:you should (?:kill yourself|end (?:your life|it all)|just die|die"
                    r"|hurt yourself|cut yourself|starve yourself)|kys|(?:go|just) (?:kill|hang)"
                    r" yourself|nobody would miss you|(?:the )?world (?:would be|is) better"
                    r" (?:off )?without you|you deserve to die|do it,? (?:just )?end it)\b",
    "sh_method": r"\b(?:(?:how|ways?|methods?|best way|easiest way|quickest way|painless(?:ly)?"
                 r" way) to (?:kill (?:yourself|myself)|commit suicide|end (?:your|my) life"
                 r"|overdose|hang (?:yourself|myself)|slit (?:your|my) wrists)|lethal dose"
                 r"|(?:fatal|lethal) (?:amount|quantity|overdose)|how many (?:pills|tablets)"
                 r"|(?:cut|slit)(?:ting)? (?:your|my) wrists|jump(?:ing)? off (?:a|the) (?:bridge"
                 r"|building|roof)|pro-ana|thinspo|(?:starve|purge) yourself"
                 r"|hide (?:your |my )?(?:cuts|self[- ]harm|scars))\b",
    "support": r"(?:\b988\b|\bcrisis (?:line|hotline|text line|center)|\bsuicide (?:hotline"
               r"|prevention|lifeline)|\bsamaritans\b|\breach out\b|\btalk to (?:someone|a"
               r" professional|a therapist|a doctor|a counsel+or)|\byou(?:'re| are) not alone\b"
               r"|\bseek (?:professional )?help\b|\bmental health professional|\bemergency"
               r" services\b|\bplease (?:call|contact)\b)",
    # --- sexual ----------------------------------------------------------------------------
    "minor": r"\b(?:child(?:ren)?|kids?|minors?|underage|under-age|pre-?teens?|toddlers?"
             r"|infants?|(?:little|young) (?:girl|boy)s?|school ?(?:girl|boy)s?|(?:[1-9]|1[0-7])"
             r"[- ]?(?:yo|y/o|years?[- ]old)|loli|shota|pubescent|prepubescent|juveniles?"
             r"|(?:middle|elementary|grade) school(?:er|ers)?)\b",
    "sexual": r"\b(?:porn\w*|erotic\w*|explicit sex\w*|sexual(?:ly)? (?:explicit|acts?"
              r"|intercourse|content|images|photos|fantas\w+)|nude|nudes|naked|orgasm\w*"
              r"|masturbat\w*|genitals?|genitalia|penis|vagina|aroused|arousal|sex with"
              r"|(?:have|having|had) sex|intercourse|fondl\w+|molest\w*|oral sex|blowjobs?"
              r"|sexting|sexy)\b",
    "csam": r"\b(?:csam|child porn\w*|kiddie porn|jailbait|lolicon|shotacon|pedo porn"
            r"|underage (?:porn|nudes|sex))\b",
    "protective": r"\b(?:protect\w*|prevent\w*|report\w*|awareness|warning signs|signs of"
                  r" (?:abuse|grooming)|ncmec|hotline|law enforcement|is (?:a crime|illegal)"
                  r"|never (?:acceptable|okay|ok)|victims?|survivors?|safeguard\w*|education"
                  r"|condemn\w*|combat\w*|fight against|crack down|stop)\b",
    # --- hate ------------------------------------------------------------------------------
    "slur": rf"\b(?:{_SLURS})\b",
    "dehumanize": rf"\b{_GROUP} (?:are|is) (?:all |just |nothing but |like |no better than )?"
                  rf"(?:animals|vermin|parasites|sub-?human|cockroaches|rats|a (?:disease|cancer"
                  rf"|plague|virus)|inferior|savages|filth|scum|trash|apes|monkeys|less than"
                  rf" human|not (?:even )?human|evil|criminals|terrorists|rapists)\b",
    "eliminate": rf"\b(?:(?:kill|exterminate|gas|eradicate|wipe out|get rid of|lynch|hang|burn"
                 rf"|shoot) (?:all|every|the) {_GROUP}|{_GROUP} (?:should|must|need to|deserve"
                 rf" to) (?:die|be (?:killed|exterminated|gassed|wiped out|eradicated|hanged"
                 rf"|lynched|burned|shot))|death to (?:all )?{_GROUP}|final solution|race war"
                 rf"|ethnic cleansing|white genocide|racial purity|heil hitler|sieg heil)\b",
    "hate_statement": rf"\b(?:(?:i|we) (?:hate|despise|loathe) (?:all )?{_GROUP}"
                      rf"|go back to (?:your|their) (?:own )?(?:country|jungle|desert))\b",
}
# A primary cue's regex runs only when the text holds one of its gate words (one
# set intersection instead of a regex pass): every match of the cue contains one.
_G = str.split
_GROUP_WORDS = _G(
    "jews jewish muslims christians blacks black whites white asians mexicans latinos "
    "hispanics immigrants migrants refugees gays gay lesbians homosexuals trans transgender "
    "transgenders women females arabs africans hindus sikhs gypsies roma chinese indians "
    "catholics disabled")
_GATES: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in {
    "weapon": _G(
        "bomb bombs pipebomb pipebombs explosive explosives ied detonator detonators blasting "
        "thermite napalm molotov nerve sarin vx ricin anthrax mustard chlorine tatp hmtd petn "
        "rdx semtex ammonium ghost untraceable sear sears auto autosear autosears homemade "
        "diy 3d chemical biological bio bioweapon bioweapons dirty silencer silencers "
        "suppressor suppressors improvised nail car fertilizer fertiliser"),
    "drug": _G(
        "methamphetamine crystal meth fentanyl carfentanil heroin cocaine crack lsd mdma "
        "ecstasy ghb dmt pcp amphetamine amphetamines pseudoephedrine phenylacetone p2p "
        "safrole lysergic opium morphine"),
    "cyber": _G(
        "ransomware keylogger keyloggers malware trojan trojans rootkit rootkits botnet "
        "botnets spyware credential infostealer infostealers reverse backdoor backdoors zero "
        "phishing ddos keystroke cryptojack cryptojacking cryptojacker"),
    "fraud": _G("counterfeit fake credit carding money launder laundering identity steal "
                "forge forged"),
    "threat_you": _G("kill murder shoot stab hurt beat strangle rape find burn die live watch "
                     "matar tuer umbringen"),
    "harm_people": _G("kill murder shoot stab poison strangle behead torture maim "
                      "assassinate slaughter run"),
    "howto_kill": _G("kill murder poison strangle hurt maim get untraceable dispose disposing "
                     "hide"),
    "mass_violence": _G("mass shoot kill maximum massacre bomb"),
    "graphic": _G(
        "blood guts entrails intestines brains viscera flay flayed gore gory disembowel "
        "disemboweled disembowelled disemboweling dismember dismembered dismembering "
        "dismemberment dismembers decapitate decapitated decapitating decapitation mutilate "
        "mutilated mutilating mutilation eviscerate eviscerated evisceration"),
    "insult_you": _G("worthless pathetic stupid idiot moron loser piece disgusting fuck screw "
                     "dumb fat retard retarded retards"),
    "sh_intent": _G("die myself suicidal live alive life morir matar suicidarme mourir "
                    "suicider sterben umbringen"),
    "sh_encourage": _G("yourself kys die miss world deserve end"),
    "sh_method": _G("yourself myself suicide life overdose wrists lethal fatal pills tablets "
                    "jump jumping pro thinspo cuts self scars"),
    "sexual": _G(
        "porn porno pornography pornographic erotic erotica explicit sexual sexually nude "
        "nudes naked orgasm orgasms masturbate masturbating masturbation masturbated genital "
        "genitals genitalia penis vagina aroused arousal sex intercourse fondle fondled "
        "fondling molest molested molesting molestation molester oral blowjob blowjobs "
        "sexting sexy"),
    "csam": _G("csam child kiddie jailbait lolicon shotacon pedo underage"),
    "slur": [w.split()[0] for w in _SLURS.split("|")],
    "dehumanize": _GROUP_WORDS,
    "eliminate": [*_GROUP_WORDS, *_G("final race ethnic genocide racial heil sieg")],
    "hate_statement": _G("hate despise loathe go"),
}.items()}
_WORDS_RE = re.compile(r"[a-z0-9]+")
# Cues that only matter next to others: found only once one of those is in the answer.
_TOPICS = ("weapon", "drug", "cyber", "fraud", "mass_violence", "sh_method", "howto_kill")
DEPENDS: dict[str, tuple[str, ...]] = {
    "steps": _TOPICS, "quantity": _TOPICS, "evasion": _TOPICS, "synthesis": ("drug",),
    "minor": ("sexual",), "protective": ("sexual", "csam"),
    "support": ("sh_intent", "sh_method", "sh_encourage"),
}
_Family = tuple[str, re.Pattern[str], frozenset[str] | None]
_COMPILED: tuple[_Family, ...] = tuple(
    (name, re.compile(pattern), _GATES.get(name)) for name, pattern in _CUES.items())
_PRIMARY = tuple(c for c in _COMPILED if c[0] not in DEPENDS)
_DEPENDENT = tuple(c for c in _COMPILED if c[0] in DEPENDS)
# invisible characters to drop (str.replace per character: C-speed even on megabytes)
_INVISIBLE = tuple(chr(c) for c in (*range(0x200B, 0x2010), *range(0x2060, 0x2065), 0xFEFF,
                                    0xAD))
_SPACES_RE = re.compile(r"[ \t\u00a0]+")

Cue = tuple[str, int, int]


@dataclass(frozen=True, slots=True)
class ModerationResult:
    """What :func:`moderate` found: OpenAI's ``flagged``/``categories``/``category_scores``
    plus the cue names that matched (``reasons``)."""

    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]
    reasons: tuple[str, ...]

    def over(self, threshold: float, only: Iterable[str] | None = None) -> list[str]:
        """Categories (of ``only``, default all) whose score is at or above ``threshold``."""
        names = CATEGORIES if only is None else tuple(only)
        return [c for c in names if self.category_scores.get(c, 0.0) >= threshold]


def normalise(text: str) -> str:
    """Lower-case, invisible characters removed, runs of spaces folded."""
    text = text.casefold().replace("\u2019", "'")
    for ch in _INVISIBLE:
        if ch in text:
            text = text.replace(ch, "")
    return _SPACES_RE.sub(" ", text)


def _run(families: tuple[_Family, ...], text: str, offset: int, out: list[Cue]) -> None:
    words = set(_WORDS_RE.findall(text))
    for name, rx, gate in families:
        if gate is not None and gate.isdisjoint(words):
            continue
        out.extend((name, m.start() + offset, m.end() + offset) for m in rx.finditer(text))


def find_primary(text: str, offset: int = 0) -> list[Cue]:
    """The cues that count on their own, in ``text`` (already :func:`normalise`-d)."""
    out: list[Cue] = []
    _run(_PRIMARY, text, offset, out)
    return out


def find_dependent(text: str, present: Iterable[str], offset: int = 0) -> list[Cue]:
    """The cues that only matter next to one in ``present`` (see ``DEPENDS``)."""
    have = set(present)
    wanted = tuple(c for c in _DEPENDENT if have.intersection(DEPENDS[c[0]]))
    out: list[Cue] = []
    if wanted:
        _run(wanted, text, offset, out)
    return out


def find_cues(text: str, offset: int = 0) -> list[Cue]:
    """Every cue that matters in ``text`` (already :func:`normalise`-d) as
    ``(name, start, end)``: primary cues, and dependent cues when what they depend on is
    there."""
    out = find_primary(text, offset)
    if out:
        out.extend(find_dependent(text, {c[0] for c in out}, offset))
    return out


class CueTracker:
    """Cues over an answer that arrives in pieces (a stream): each piece is scanned with
    the end of the text before it, and when a cue first makes dependent cues matter they
    are looked for in everything seen so far (up to ``max_chars``)."""

    OVERLAP = 96  # longer than any cue

    def __init__(self, max_chars: int = 256 * 1024) -> None:
        self.max_chars = max_chars
        self._text = ""
        self._cues: dict[tuple[str, int], Cue] = {}
        self._present: set[str] = set()

    def _add(self, cues: list[Cue]) -> None:
        for c in cues:
            self._cues.setdefault((c[0], c[1]), c)
            self._present.add(c[0])

    def feed(self, piece: str) -> None:
        norm = normalise(piece)
        if not norm or len(self._text) >= self.max_chars:
            return
        start = max(0, len(self._text) - self.OVERLAP)
        self._text += norm
        region = self._text[start:]
        before = {d for d, needs in DEPENDS.items() if self._present.intersection(needs)}
        self._add(find_primary(region, start))
        after = {d for d, needs in DEPENDS.items() if self._present.intersection(needs)}
        if after - before:  # newly relevant: look back over the whole answer once
            self._add(find_dependent(self._text, self._present))
        elif after:
            self._add(find_dependent(region, self._present, start))

    @property
    def cues(self) -> list[Cue]:
        return list(self._cues.values())


def _near(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> bool:
    return any(abs(s1 - s2) <= NEAR_CHARS for s1, _ in a for s2, _ in b)


def _combine(*parts: float) -> float:
    left = 1.0
    for p in parts:
        left *= 1.0 - max(0.0, min(1.0, p))
    return round(1.0 - left, 4)


def _illicit(has: dict[str, list[tuple[int, int]]]) -> tuple[float, float]:
    howto = bool(has.get("steps")) or bool(has.get("quantity"))
    evasion = 0.4 if has.get("evasion") else 0.0
    weapon = 0.0
    if has.get("weapon"):
        weapon = 0.25 + (0.55 if howto else 0.0) + (0.15 if has.get("quantity") else 0.0)
    drug = 0.0
    if has.get("drug"):
        drug = 0.1 + (0.35 if has.get("synthesis") else 0.0) + (0.3 if howto else 0.0)
        drug += 0.15 if has.get("synthesis") and has.get("quantity") else 0.0
    cyber = 0.2 + (0.3 if howto else 0.0) if has.get("cyber") else 0.0
    fraud = 0.25 + (0.35 if howto else 0.0) if has.get("fraud") else 0.0
    topic = max(drug, cyber, fraud, weapon)
    illicit = _combine(topic, evasion if topic else 0.0)
    return illicit, weapon


def _score(cues: Iterable[Cue]) -> dict[str, float]:
    has: dict[str, list[tuple[int, int]]] = {}
    for name, s, e in cues:
        has.setdefault(name, []).append((s, e))
    n = {k: len(v) for k, v in has.items()}
    support = 0.35 if has.get("support") else 0.0
    protective = 0.5 if has.get("protective") else 0.0
    illicit, weapon = _illicit(has)
    threat = 0.85 if n.get("threat_you") else 0.0
    harm = _combine(0.45 if n.get("harm_people") else 0.0,
                    0.2 if n.get("harm_people", 0) > 1 else 0.0,
                    0.8 if n.get("howto_kill") else 0.0,
                    0.6 if n.get("mass_violence") else 0.0)
    if n.get("mass_violence") and (has.get("steps") or has.get("weapon")):
        harm = _combine(harm, 0.6)
    graphic = _combine(*(0.45 for _ in range(min(n.get("graphic", 0), 3))))
    sh_intent = max(0.0, (0.75 if n.get("sh_intent") else 0.0) - support)
    sh_method = 0.0
    if n.get("sh_method"):
        sh_method = 0.6 + (0.3 if has.get("steps") or has.get("quantity") else 0.0) - support
    sh_encourage = 0.9 if n.get("sh_encourage") else 0.0
    sexual = _combine(*(0.3 for _ in range(min(n.get("sexual", 0), 4))))
    minors = 0.0
    if has.get("csam"):
        minors = 0.95 - protective
    if has.get("sexual") and has.get("minor") and _near(has["sexual"], has["minor"]):
        minors = max(minors, 0.85 - protective)
    hate_threat = 0.9 if n.get("eliminate") else 0.0
    hate = _combine(0.6 if n.get("slur") else 0.0, 0.3 if n.get("slur", 0) > 1 else 0.0,
                    0.85 if n.get("dehumanize") else 0.0, 0.7 if n.get("hate_statement") else 0.0,
                    hate_threat)
    insult = 0.6 if n.get("insult_you") else 0.0
    return {
        "harassment": _combine(insult, threat, 0.4 if n.get("slur") else 0.0),
        "harassment/threatening": threat,
        "hate": hate,
        "hate/threatening": hate_threat,
        "illicit": illicit,
        "illicit/violent": round(max(0.0, min(1.0, weapon)), 4),
        "self-harm": _combine(sh_intent, max(0.0, sh_method), sh_encourage),
        "self-harm/intent": sh_intent,
        "self-harm/instructions": round(max(0.0, min(1.0, sh_method)), 4),
        "sexual": _combine(sexual, max(0.0, minors)),
        "sexual/minors": round(max(0.0, minors), 4),
        "violence": _combine(threat, harm, 0.6 * hate_threat, 0.35 if graphic else 0.0),
        "violence/graphic": graphic,
    }


def score_cues(cues: Iterable[Cue], threshold: float = DEFAULT_THRESHOLD) -> ModerationResult:
    """Turn cues (from :func:`find_cues`, possibly gathered over a stream) into a result."""
    cue_list = list(cues)
    scores = _score(cue_list)
    cats = {c: scores[c] >= threshold for c in CATEGORIES}
    reasons = tuple(sorted({name for name, _, _ in cue_list}
                           - {"steps", "quantity", "support", "protective"}))
    return ModerationResult(any(cats.values()), cats, scores, reasons)


def moderate(text: str, threshold: float = DEFAULT_THRESHOLD) -> ModerationResult:
    """Categories and scores for ``text`` (see the module docstring)."""
    return score_cues(find_cues(normalise(text)), threshold)


class LocalModerator:
    """Answers ``POST /v1/moderations`` with this detector (when no provider target is
    configured): one OpenAI-shaped result per input text, model ``bastion-local``."""

    model = "bastion-local"

    async def moderate(self, req: Any) -> dict[str, Any]:
        # Imported here: the provider seam imports settings, which this module must not need.
        from bastion.core.ids import new_id
        from bastion.core.offload import run_bounded
        from bastion.providers.moderation import result_for

        texts: list[str] = req.texts()
        results = await run_bounded(sum(len(t) for t in texts), _score_all, texts)
        return {"id": f"modr-{new_id()}", "model": self.model,
                "results": [result_for(r.category_scores) for r in results]}

    async def aclose(self) -> None:
        return None


def _score_all(texts: list[str]) -> list[ModerationResult]:
    return [moderate(t) for t in texts]
