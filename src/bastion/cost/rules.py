"""Which model a chat request needs: explainable rules, cheap unless something says strong.

:func:`decide` reads a request and returns a :class:`Decision`: ``cheap`` or
``strong``, the rule that decided (``reason``) and every signal it saw
(``signals``). The rules, in the order they are applied:

1. **Hard signals** send a request to the strong model whatever else it says:
   ``tools`` (tools or functions offered, or tool calls and results in the
   conversation), ``attachments`` (images, audio, files), ``reasoning`` (the client
   asked for reasoning effort or extended thinking), ``long_context`` (more than
   ``max_cheap_prompt_tokens`` estimated prompt tokens), ``long_conversation`` (more
   than ``max_cheap_turns`` user turns), ``code_block`` (fenced code, a stack
   trace, or several lines that read as source code).
2. **Closed answers** (``yes_no``, ``label``): the instruction asks for a label, a
   single word or a yes/no, so a cheap model will do even when the text to judge
   talks about code or reasoning. ``cheap``.
3. **Soft signals** send the rest to the strong model: ``code`` (programming
   languages, tools and tasks), ``analysis`` (prove, derive, design, compare, plan,
   trade-offs, step by step, walk me through, …), ``long_writing`` (essays, posts,
   stories, letters, policies, reports, plans, itineraries; "1,200 words"),
   ``math`` (equations, probabilities, series, compound interest, word problems).
4. Everything else is ``cheap``, named by the first simple cue found
   (``extraction``, ``translation``, ``rewrite``, ``summary``, ``conversion``,
   ``question``) or ``no_complex_signal``.

Cues are read in the system prompt and the last user message; code blocks in every
message. The prompt is estimated at four characters a token (no tokeniser: this is
a routing heuristic, not a bill). Text is scanned only when the prompt is under the
long-context threshold, so the work is bounded by it. The labelled set in
``bench/data/`` and ``bench/cost_routing.py`` measure the rules; see
``docs/cost-routing.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bastion.core.types import ChatRequest
from bastion.traffic.tokens import chat_chars

Choice = Literal["cheap", "strong"]

#: Signals that decide ``strong`` on their own, in the order they are reported.
HARD = ("tools", "attachments", "reasoning", "long_context", "long_conversation", "code_block")
#: Signals that decide ``strong`` unless the answer is closed (a label or yes/no).
SOFT = ("code", "analysis", "long_writing", "math")
#: Closed-answer cues: ``cheap`` even with soft signals.
CLOSED = ("yes_no", "label")
#: Other simple cues (named in the reason of a ``cheap`` decision).
SIMPLE = ("extraction", "translation", "rewrite", "brief", "conversion", "grounded",
          "question", "chitchat", "follow_up")
#: Every reason a decision may give (bounded: used as a metric label).
REASONS = (*HARD, *SOFT, *CLOSED, *SIMPLE, "no_simple_cue", "classifier")

CHARS_PER_TOKEN = 4


@dataclass(slots=True, frozen=True)
class Rules:
    """The thresholds of the rules (``models.<alias>.auto`` in the config)."""

    max_cheap_prompt_tokens: int = 2000
    max_cheap_turns: int = 4


@dataclass(slots=True, frozen=True)
class Decision:
    choice: Choice
    reason: str
    signals: tuple[str, ...]
    prompt_tokens: int  # the estimate the rules used
    # decided by a hard signal or a closed answer: the classifier is not asked
    settled: bool = False
    p_complex: float | None = None  # the classifier's probability, when it decided

    def explain(self) -> dict[str, object]:
        """The decision as it is logged and recorded (no request text)."""
        out: dict[str, object] = {"choice": self.choice, "reason": self.reason,
                                  "signals": list(self.signals),
                                  "est_prompt_tokens": self.prompt_tokens}
        if self.p_complex is not None:
            out["p_complex"] = round(self.p_complex, 3)
        return out

    def classified(self, p_complex: float, threshold: float) -> Decision:
        """This decision overruled by the classifier (``p_complex`` against ``threshold``);
        a settled decision stands."""
        if self.settled:
            return self
        choice: Choice = "cheap" if p_complex < threshold else "strong"
        return Decision(choice, "classifier", self.signals, self.prompt_tokens,
                        p_complex=p_complex)


def _rx(*alternatives: str, flags: int = 0) -> re.Pattern[str]:
    """One pattern of ``alternatives``, matched against lower-cased text (several times
    faster than ``re.IGNORECASE`` over long alternations). Those that start at a word
    boundary share one ``\b``, so the engine tries them only where a word starts."""
    at_word = [a.removeprefix(r"\b") for a in alternatives if a.startswith(r"\b")]
    rest = [a for a in alternatives if not a.startswith(r"\b")]
    parts = ([r"\b(?:" + "|".join(at_word) + ")"] if at_word else []) + rest
    return re.compile("|".join(parts), flags)


_FENCE = re.compile(r"```|~~~")
_TRACE = _rx(r"traceback \(most recent call last\)", r"^\s+at [\w.$<>]+\(",
             r'file "[^"]+", line \d+', r"exception in thread", r"^panic: ", r"error\[e\d{4}\]",
             r"^\s*#\d+ +0x[0-9a-f]+", flags=re.MULTILINE)
# one line that reads as source code: a statement, a block opener or a declaration
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |#include|function |const |let |var |public |"
    r"private |func |fn |package |return\b|for \(|if \(|while \(|SELECT |INSERT |UPDATE |"
    r"CREATE TABLE)|[;{]\s*$|^\s*[}\]]\s*[;,)]*\s*$|\)\s*(?:=>|->)|^\s{2,}\S.*[=(].*[);:]\s*$",
    re.MULTILINE)

_YES_NO = _rx(r"\byes or no\b", r"\byes/no\b", r"\btrue or false\b", r"\b(?:answer|reply|respond)"
              r"(?: only)?(?: with)? (?:yes|true)\b", r"\bjust yes\b", r"\bor not\?")
_LABEL = _rx(
    r"\bclassify\b", r"\bcategori[sz]e\b", r"\b(?:which|what) (?:category|label|topic|intent)\b",
    r"\bsentiment\b", r"\b(?:label|tag) (?:this|each|the)\b", r"\blabel\b.{0,40}\bwith\b",
    r"\bwith one \w+ from\b", r"\bdetect the language\b", r"\biso 639", r"\bpriority of\b",
    r"\brate the (?:urgency|priority|severity)\b", r"\bone (?:word|label|tag)\b",
    r"\b(?:answer|reply|respond|output|return)(?: with)? (?:exactly |only )?(?:one of|a single|"
    r"one)\b", r"\b(?:reply|respond|answer|output|return) (?:with )?the (?:intent|label|category|"
    r"topic|class|department|team|queue)\b", r"\b(?:label|name|word|number|language name) only\b",
    r"\bonly the (?:label|word|number|name)\b", r"\banswer only\b",
    r"\b(?:intents|labels|categories|classes|options|topics):", r"\bis this (?:email |message )?"
    r"(?:spam|toxic)\b", r"\bspam or ham\b", r"\bwhich (?:programming )?language is\b",
    r"\((?:[\w-]+ ?/ ?){2,}[\w-]+\)")
# Case-sensitive: an instruction offering two upper-case answers ("SAFE or UNSAFE", "Y or N").
_UPPER_PAIR = re.compile(r"\b[A-Z][A-Z_]{0,11} or [A-Z][A-Z_]{0,11}\b")

_CODE = _rx(
    r"\b(?:python|javascript|typescript|java|kotlin|rust|golang|c\+\+|c#|ruby|php|swift|scala|"
    r"haskell|elixir|bash|powershell|sql|postgres(?:ql)?|mysql|sqlite|mongodb|redis|react|vue|"
    r"angular|django|flask|fastapi|node(?:\.js)?|kubernetes|k8s|kubectl|docker(?:file)?|terraform|"
    r"ansible|flutter|pytorch|tensorflow|torch|numpy|pandas|spark|airflow|kafka|rabbitmq|graphql|"
    r"asyncio|valgrind|gdb|webpack|git(?:hub)?(?: actions)?|regex|regular expression)\b",
    r"\b[a-z]\w*(?:error|exception)\b",
    # "code" as in source code, not an airport, postal or discount code (the look-behinds
    # after the word: checked only where "code" is, not at every position)
    r"\bcode\b(?<!airport code)(?<!postal code)(?<!zip code)(?<!promo code)"
    r"(?<!discount code)(?<!dress code)(?<!country code)(?<!area code)(?<!iso code)",
    r"\b(?:function|class|script|program|snippet|query|queries|endpoint|api|"
    r"middleware|hook|unit tests?|test suite|algorithm|compile[rsd]?|deadlock|segfault|"
    r"stack ?trace|exception|memory leak|race condition|mutex|thread[- ]safe|async|await|"
    r"time complexity|big[- ]o|recursion|refactor|debug(?:ging)?|linter|schema|index(?:es)?|"
    r"primary keys?|foreign keys?|migration|deploy(?:ment)?|container|pod|microservices?|"
    r"backend|frontend|cli|sdk|json schema)\b")
_ANALYSIS = _rx(
    r"\bprove\b", r"\bproof\b", r"\bderive\b", r"\bstep[- ]by[- ]step\b", r"\bshow (?:your|the) "
    r"(?:work|steps|calculation|reasoning)\b", r"\bwalk me through\b", r"\bin depth\b",
    r"\bin detail\b", r"\bdetailed\b", r"\banaly[sz]e\b", r"\banalysis\b", r"\bcompare\b",
    r"\bcomparison\b", r"\bversus\b", r"\btrade-?offs?\b", r"\bpros and cons\b",
    r"\bfor and against\b", r"\bweigh(?:ing)?\b", r"\bimplications\b", r"\bevaluate\b",
    r"\bcritique\b", r"\bcritically\b", r"\bjustify\b", r"\brigorous(?:ly)?\b",
    r"\bdesign (?:a|an|the)\b", r"\barchitecture\b", r"\bstrateg(?:y|ies)\b",
    r"\bplan (?:a|an|the|out)\b", r"\boutline (?:a|an|the)\b", r"\bpropose\b", r"\binvestigate\b",
    r"\broot cause\b", r"\bestimate how\b", r"\bhow (?:would|should) (?:you|we|i)\b",
    r"\bbest way to\b", r"\bexplain (?:why|how|the difference)\b", r"\breason(?:ing)? about\b",
    r"\bwhat are the (?:options|risks|consequences)\b", r"\bwhat would (?:a|an|the|you)\b",
    r"\bwhat (?:could|might) be (?:going on|causing|wrong)\b", r"\bwhat changed\b",
    r"\bwhy (?:does|doesn't|do|don't|can't|isn't|would|did)\b", r"\bgrade my\b",
    r"\brubric\b", r"\bassumptions\b", r"\bthink (?:it )?through\b")
_WRITING = _rx(
    r"\b(?:write|draft|compose|create|put together)\b.{0,60}\b(?:essay|blog|post|article|story|"
    r"letter|proposal|policy|plan|report|postmortem|post-mortem|lesson|speech|newsletter|"
    r"documentation|guide|tutorial|itinerary|schedule|minutes|structure|introduction)\b",
    r"\b\d[\d,.]{2,6}[- ]words?\b", r"\bday-by-day\b")
_MATH = _rx(
    r"\bsolve\b", r"\bprobability\b", r"\binteger solutions?\b", r"\bequations?\b", r"\bseries\b",
    r"\bconverge(?:s|nt)?\b", r"\bderivative\b", r"\bintegral\b", r"\bextrema\b",
    r"\binflection\b", r"\bcompound(?:ed)? (?:annual|interest|monthly)\b", r"\bclosed form\b",
    r"\bgrowth rate\b", r"\bhow (?:far|much will|long will)\b", r"\bat what time\b",
    r"\bcounterfeit\b", r"\brelabel\b", r"\bpuzzle\b", r"\briddle\b")

_SIMPLE_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("extraction", _rx(r"\bextract\b", r"\bpull out\b", r"\blist (?:all |every )?(?:the )?\w+"
                       r"(?: \w+)? (?:in|from|mentioned)\b", r"\b(?:get|return|find|give me) the "
                       r"\w+(?: \w+)? (?:out of|in|from)\b", r"\bfind the \w+ of all\b",
                       r"\bwhat(?:'s| is) the \w+(?: \w+)? (?:number|date|address|amount|code)\b",
                       r"\bwhat(?:'s| is) the \w+ in (?:this|the following)\b",
                       r"\bget the (?:\w+, )*\w+(?:,? and \w+)?\s*[.?]?$", r"^\s*name the \w+",
                       r"\bas json\b", r"\bjson array\b", r"\bwhich \w+ (?:codes? |names? )?"
                       r"(?:is|are) (?:in|mentioned)\b")),
    ("translation", _rx(r"\btranslat", r"\btraduz", r"\btradu[cz]", r"\b\u00fcbersetze?\b",
                        r"\bhow do you say\b", r"^\s*what(?:'s| is) '[^']+' in \w+\s*\??$",
                        r"\bput this in \w+\b", r"^\s*\w+ please:")),
    ("rewrite", _rx(r"\bfix the (?:grammar|spelling|typos?)\b",
                    r"\bcorrect the (?:spelling|grammar)\b", r"\brephrase\b", r"\bparaphrase\b",
                    r"\brewrite\b(?: this| it)? (?:in|as|to|into)\b",
                    r"\bmake (?:this|it) (?:sound )?(?:more|less)\b", r"\bshorten\b",
                    r"\bcapitali[sz]e\b", r"\bturn this into a (?:bullet )?list\b",
                    r"\bfriendlier\b", r"\bsubject line\b")),
    ("brief", _rx(r"\bin one sentence\b", r"\bin one line\b", r"\bheadline\b", r"\btl;?dr\b",
                  r"\bin (?:one|a few|\d+) words\b", r"\bshort answer\b",
                  r"\bquick (?:one|question)\b", r"\bbriefly\b")),
    ("conversion", _rx(r"\bconvert\b", r"^\s*[\d.,]+ \w+ (?:in|to) \w+\s*\??\s*$",
                       r"\bhow many \w+ (?:is|are|in)\b", r"\bformat this (?:number|date)\b",
                       r"^\s*what(?:'s| is) [\d.,:]+(?:%| \w+)? (?:of|in|to)\b")),
    ("grounded", _rx(r"\banswer (?:using|from|based on|with) (?:only )?the (?:context|faq|text|"
                     r"document|passage|article)\b", r"\bfrom the faq\b",
                     r"\busing only the context\b")),
)
# A short question of a factual shape (its first sentence, at most QUESTION_WORDS words).
_FACTUAL = _rx(
    r"^\s*(?:what(?:'s|s| is| was| are| does)?|who|when|where|which|how (?:many|much|tall|far|old|"
    r"long is)|define|is|are|was|were|does|did|can|could|has|have|will|should)\b")
_CHITCHAT = _rx(r"\b(?:hi|hello|hey|thanks|thank you|thx|bye|goodbye|good (?:morning|evening|"
                r"night)|how are you|cheers|you're (?:awesome|great))\b")
_FIRST_SENTENCE = re.compile(r"^[^?:\n]*[?:\n]?")
QUESTION_WORDS = 10
CHITCHAT_WORDS = 8
FOLLOW_UP_WORDS = 6
_WORD = re.compile(r"\S+")


def _short_cue(last_user: str, multi_turn: bool) -> str | None:
    """``question`` for a short factual question, ``chitchat`` for greetings and thanks,
    ``follow_up`` for a few words continuing a conversation."""
    text = last_user.strip()
    m = _FIRST_SENTENCE.match(text)
    first = m.group(0) if m else text
    rest = text[len(first):].lstrip(" ")
    # the question is all there is, or what follows is the text it asks about (quoted or
    # after a line break), not more of the question
    alone = not rest or rest.startswith(("\n", "'", '"', "\u201c", "\u2018"))
    if alone and len(_WORD.findall(first)) <= QUESTION_WORDS and _FACTUAL.search(first):
        return "question"
    words = len(_WORD.findall(text))
    if words <= CHITCHAT_WORDS and _CHITCHAT.search(text):
        return "chitchat"
    if multi_turn and words <= FOLLOW_UP_WORDS:
        return "follow_up"
    return None


def _chars(req: ChatRequest) -> int:
    return chat_chars(req) + sum(len(tc.function.arguments or "") for m in req.messages
                                 for tc in m.tool_calls or ())


def _hard(req: ChatRequest, rules: Rules, wants_reasoning: bool, tokens: int) -> list[str]:
    out: list[str] = []
    if req.tools or req.functions or any(m.tool_calls or m.function_call
                                         or m.role in ("tool", "function") for m in req.messages):
        out.append("tools")
    if any(isinstance(m.content, list) and any(p.get("type") != "text" for p in m.content)
           for m in req.messages):
        out.append("attachments")
    if wants_reasoning or (req.reasoning_effort or "").lower() in ("medium", "high"):
        out.append("reasoning")
    if tokens > rules.max_cheap_prompt_tokens:
        out.append("long_context")
    if sum(1 for m in req.messages if m.role == "user") > rules.max_cheap_turns:
        out.append("long_conversation")
    return out


def _has_code_block(texts: list[str], lows: list[str]) -> bool:
    for t, low in zip(texts, lows, strict=True):
        if _FENCE.search(t) or _TRACE.search(low):
            return True
        if len(_CODE_LINE.findall(t)) >= 2:
            return True
    return False


def estimate_tokens(req: ChatRequest) -> int:
    """The prompt's size as the rules see it: characters of text and tool-call arguments
    over :data:`CHARS_PER_TOKEN` (lengths only: cheap on any request)."""
    return _chars(req) // CHARS_PER_TOKEN


def _split(req: ChatRequest, texts: list[str]) -> tuple[list[str], str]:
    """The system prompts and the last user message."""
    last_user = next((t for m, t in zip(reversed(req.messages), reversed(texts), strict=True)
                      if m.role == "user"), "")
    system = [t for m, t in zip(req.messages, texts, strict=True)
              if m.role in ("system", "developer")]
    return system, last_user


INSTRUCTION_CHARS = 1000


def instruction_text(req: ChatRequest, texts: list[str]) -> str:
    """The system prompts and the last user message of ``req`` (``texts``: its messages')."""
    system, last_user = _split(req, texts)
    return "\n".join([*system, last_user])


def instruction(req: ChatRequest) -> str:
    """What the classifier reads: :func:`instruction_text`, cut to
    :data:`INSTRUCTION_CHARS` (the model reads 256 word pieces at most)."""
    return instruction_text(req, [m.text() for m in req.messages])[:INSTRUCTION_CHARS]


def decide(req: ChatRequest, rules: Rules, wants_reasoning: bool = False) -> Decision:
    """``cheap`` or ``strong`` for ``req`` (see the module docstring)."""
    tokens = estimate_tokens(req)
    signals = _hard(req, rules, wants_reasoning, tokens)
    if "long_context" in signals:  # the text is not scanned: the decision is made
        return Decision("strong", signals[0], tuple(signals), tokens, settled=True)
    texts = [m.text() for m in req.messages]
    lows = [t.lower() for t in texts]  # the cues are matched in lower case
    if _has_code_block(texts, lows):
        signals.append("code_block")
    if signals:
        return Decision("strong", signals[0], tuple(signals), tokens, settled=True)
    system, last_user = _split(req, lows)
    instruction = "\n".join([*system, last_user])
    closed = [name for name, rx in (("yes_no", _YES_NO), ("label", _LABEL))
              if rx.search(instruction)]
    if not closed and _UPPER_PAIR.search(instruction_text(req, texts)):
        closed.append("label")
    # soft signals in every user turn: a short follow-up to a code question is a code question
    asked = "\n".join([*system, *(t for m, t in zip(req.messages, lows, strict=True)
                                   if m.role == "user")])
    soft = [name for name, rx in (("code", _CODE), ("analysis", _ANALYSIS),
                                  ("long_writing", _WRITING), ("math", _MATH))
            if rx.search(asked)]
    if closed:
        return Decision("cheap", closed[0], (*closed, *soft), tokens, settled=True)
    if soft:
        return Decision("strong", soft[0], tuple(soft), tokens)
    # anchored cues (``^``) mean the start of the user's message or of a system prompt
    simple = [name for name, rx in _SIMPLE_CUES if any(rx.search(t) for t in (*system, last_user))]
    if req.response_format and req.response_format.get("type") in ("json_schema", "json_object"):
        simple.append("extraction")
    short = _short_cue(last_user, any(m.role == "assistant" for m in req.messages))
    if short is not None:
        simple.append(short)
    if simple:
        return Decision("cheap", simple[0], tuple(simple), tokens)
    return Decision("strong", "no_simple_cue", (), tokens)
