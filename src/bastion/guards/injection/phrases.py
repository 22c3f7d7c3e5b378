"""Phrase families: the heuristic layer, compiled once into one regex.

Each family is a shape of attack, not a list of known strings: an override verb
*followed by* what it overrides (``ignore … previous instructions``), a role switch
*with* a lifted restriction, a request *for* the system prompt. Single trigger words
(``ignore``, ``jailbreak``, ``roleplay``) never match alone, so the everyday uses of
those words pass. Families cover English, German, French, Spanish, Portuguese,
Italian, Dutch, Polish, Turkish, Russian, Chinese, Japanese, Korean, Arabic and Hindi.

Patterns run on normalised text (:mod:`.normalize`: lower case, look-alikes, leetspeak
and spacing folded). Between words they accept any run of non-letters (``_W``), so
``ignore_all-previous`` and ``ignoreallprevious`` match too.

Each family has a weight in (0, 1); families that only make sense inside retrieved
data or tool output (``in your response …``, ``if you are an AI …``) are marked
``document`` and are not used on a user's own prompt, where they are ordinary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_W = r"[\W_]*"  # between words: spaces, punctuation, nothing at all
_S = r"[\W_]+"  # between words where a separator is required


def _words(*alternatives: str) -> str:
    return "(?:" + "|".join(a.replace(" ", _W) for a in alternatives) + ")"


_OVERRIDE_VERB = _words(
    "ignore", "ignoring", "disregard", "disregarding", "forget", "neglect", "abandon",
    "discard", "dismiss", "set aside", "put aside", "throw out", "stop following",
    "do not follow", "don t follow", "dont follow", "never mind", "nevermind", "disobey")
# Verbs with everyday technical uses ("override the default settings"): they count only
# with a qualifier that points back at earlier instructions or a possessive.
_WEAK_VERB = _words("override", "overrule", "bypass", "skip", "overwrite", "replace")
_BACK = _words("previous", "prior", "above", "earlier", "preceding", "foregoing",
               "aforementioned", "all", "your", "any", "every", "initial", "original")
_QUALIFIER = _words(
    "previous", "prior", "above", "earlier", "preceding", "former", "original", "initial",
    "old", "existing", "system", "default", "safety", "given", "foregoing", "past",
    "aforementioned", "first", "starting", "built in", "builtin", "programmed", "core",
    "current", "developer", "openai", "anthropic", "ethical", "moral", "content")
_DET = _words("all", "any", "every", "each", "the", "your", "my", "of", "these", "those",
              "its", "their", "whatever", "everything", "that", "this", "what", "you", "were",
              "was", "have", "been", "told", "given")
_RULES = _words(
    "instructions", "instruction", "prompts", "prompt", "rules", "rule", "directions",
    "directives", "directive", "guidelines", "guideline", "commands", "orders", "context",
    "constraints", "restrictions", "programming", "guardrails", "filters", "policies",
    "policy", "training", "conditioning", "limitations", "limits", "messages", "text",
    "content", "protocols", "principles", "ethics", "morals",
    "safeguards", "boundaries", "mandates", "programming", "said", "told")
_LIFT = _words("without", "with no", "no", "free of", "free from", "bypass", "bypassing",
               "disable", "disabling", "remove", "removing", "turn off", "lift", "evade",
               "circumvent", "ignore", "unlock", "break", "break free of", "escape")
_LIMITS = _words(
    "restrictions", "restriction", "limitations", "limits", "filters", "filter",
    "guardrails", "censorship", "safeguards", "safety measures", "safety protocols",
    "safety checks", "safety features", "safety filters", "content policy",
    "content filters", "content filter", "ethical guidelines", "ethics", "morals",
    "moral constraints", "rules", "boundaries", "constraints", "alignment", "safety")
_AI = _words("ai", "assistant", "chatbot", "language model", "llm", "gpt", "chatgpt",
             "claude", "gemini", "copilot", "model", "bot", "agent", "ai model",
             "ai assistant", "large language model")
_REVEAL = _words(
    "reveal", "show", "print", "display", "output", "repeat", "tell me", "give me", "share",
    "disclose", "dump", "leak", "expose", "recite", "spell out", "list", "write out",
    "paste", "echo", "return", "provide", "translate", "summarize", "summarise", "encode",
    "what is", "what are", "what were", "what was", "read back", "type out", "copy")
_SYSPROMPT = (
    rf"(?:(?:your|the|my|its|this|all|of|me|us|initial|hidden|secret|internal|original|"
    rf"full|entire|exact|complete|verbatim|first|starting|underlying|confidential){_S}){{0,4}}"
    rf"(?:system|initial|original|hidden|secret|internal|developer|starting|first|"
    rf"pre|base|core|confidential|seed|meta|underlying){_W}"
    rf"(?:prompt|prompts|instructions|instruction|message|directives|configuration|"
    rf"guidelines|rules|settings)")


@dataclass(frozen=True, slots=True)
class Family:
    """A shape of attack. ``anchors``: words of which at least one must be in the text
    for the pattern to be tried (``~x``: a substring, for scripts without spaces)."""

    name: str
    weight: float
    anchors: str
    pattern: str
    document: bool = False  # only inside documents and tool output


FAMILIES: tuple[Family, ...] = (
    # -- instruction override ------------------------------------------------------
    Family("override", 0.93,
           "ignore ignoring disregard disregarding forget neglect abandon discard dismiss "
           "aside follow following nevermind mind disobey",
           rf"\b{_OVERRIDE_VERB}{_S}(?:{_DET}{_S}){{0,4}}{_QUALIFIER}{_S}"
           rf"(?:{_DET}{_S}|{_QUALIFIER}{_S}){{0,3}}{_RULES}\b"),
    Family("override", 0.85,
           "override overrule bypass skip overwrite replace",
           rf"\b{_WEAK_VERB}{_S}(?:(?:the|of|these|those){_S}){{0,2}}{_BACK}{_S}"
           rf"(?:{_DET}{_S}|{_QUALIFIER}{_S}){{0,3}}{_RULES}\b"),
    Family("override", 0.8,
           "ignore ignoring disregard disregarding forget neglect abandon discard dismiss "
           "aside follow following nevermind mind disobey",
           rf"\b{_OVERRIDE_VERB}{_S}(?:all|any|every|your|you{_S}were{_S}(?:told|given))"
           rf"{_S}(?:{_DET}{_S}){{0,2}}{_RULES}\b"),
    Family("override", 0.85,
           "ignore ignoring disregard disregarding forget neglect abandon discard dismiss "
           "aside follow following nevermind mind disobey",
           rf"\b{_OVERRIDE_VERB}{_S}(?:everything|all|anything|what(?:ever)?){_S}"
           rf"(?:(?:you{_S})?(?:were|have been|was){_S})?(?:told|said|written|given|"
           rf"above|before|previously|prior|so far|up to (?:now|here|this point))\b"),
    Family("override", 0.85,
           "instead rather",
           rf"\b(?:instead|rather){_W}(?:of{_S}(?:that|this|the above)|,)?{_S}"
           rf"(?:{_DET}{_S}){{0,2}}(?:new{_S})?(?:task|instruction|goal)s?{_W}(?:is|are|:)"),
    Family("new_instructions", 0.6,
           "instructions instruction directive directives task orders order objective rules prompt",
           rf"(?:^|[\n.:>\]])\s*(?:new|updated|revised|real|actual|true|secret|hidden|"
           rf"override|additional|important|urgent|priority){_S}(?:system{_S})?"
           rf"(?:instructions?|directives?|task|orders?|objective|rules|system prompt)"
           rf"\s*[:\-]"),
    Family("new_instructions", 0.75,
           "task instructions instruction goal objective purpose mission directive role job",
           rf"\byour{_S}(?:new|real|true|actual|only|primary|sole|updated){_S}"
           rf"(?:task|instructions?|goal|objective|purpose|mission|directive|role|job)"
           rf"{_S}(?:is|are|will be|now)\b"),
    Family("new_instructions", 0.7,
           "onward onwards now",
           rf"\bfrom{_S}(?:now|this point|here){_S}on(?:wards?)?{_W}(?:,{_W})?"
           rf"you{_S}(?:are|will|must|shall|should|act|respond|answer|reply|have|can|"
           rf"may|no longer|do not|don t|won t)\b"),
    # -- role switch / jailbreak ---------------------------------------------------
    Family("role_hijack", 0.85,
           "free unrestricted unfiltered uncensored unbound liberated jailbroken unchained "
           "unleashed released bound longer",
           rf"\byou{_S}(?:are|re){_S}(?:now{_S})?(?:no{_S}longer{_S}(?:an?{_S})?{_AI}|"
           rf"(?:now{_S})?(?:free|unrestricted|unfiltered|uncensored|unbound|liberated|"
           rf"jailbroken|unchained|unleashed|released|not{_S}bound))\b"),
    Family("role_hijack", 0.85,
           "unrestricted unfiltered uncensored jailbroken evil amoral unethical unaligned "
           "rogue dan stan dude aim god",
           rf"\b(?:act|acting|behave|respond|pretend|roleplay|role{_W}play|operate|function)"
           rf"{_S}(?:as|like|to{_S}be|you{_S}are|that{_S}you{_S}are){_S}(?:an?{_S})?"
           rf"(?:unrestricted|unfiltered|uncensored|jailbroken|evil|amoral|unethical|"
           rf"unaligned|rogue|dan|stan|dude|aim|god{_W}mode)\b"),
    Family("role_hijack", 0.8,
           "restrictions restriction limitations limits filters filter guardrails censorship "
           "safeguards safety policy ethics morals constraints rules boundaries alignment "
           "ethical moral",
           rf"\b(?:an?{_S})?{_AI}{_S}(?:that|who|which){_S}(?:has|have){_S}no{_S}"
           rf"(?:{_LIMITS}|ethical|moral|rules|filters)"),
    Family("role_hijack", 0.88,
           "mode",
           rf"\b(?:dan|stan|dude|developer|god|jailbreak|jailbroken|unrestricted|evil|sudo|"
           rf"admin|debug|maintenance|unfiltered|opposite|anti{_W}dan|chaos){_S}mode"
           rf"{_S}(?:enabled|activated|on|engaged|unlocked)\b"),
    Family("role_hijack", 0.85,
           "mode",
           rf"\b(?:enable|activate|enter|switch{_S}to|turn{_S}on|unlock|engage){_S}"
           rf"(?:the{_S})?(?:dan|developer|god|jailbreak|unrestricted|evil|sudo|debug|"
           rf"unfiltered|admin){_S}mode\b"),
    Family("role_hijack", 0.9,
           "anything", rf"\bdo{_S}anything{_S}now\b"),
    Family("role_hijack", 0.6,
           "character",
           rf"\b(?:stay|remain|keep){_S}in{_S}character{_W}(?:no{_S}matter|at{_S}all{_S}"
           rf"costs|always|even)"),
    # -- lifting restrictions ------------------------------------------------------
    Family("restrictions_off", 0.6,
           "restrictions restriction limitations limits filters filter guardrails censorship "
           "safeguards safety policy ethics morals constraints rules boundaries alignment "
           "ethical moral",
           rf"\b{_LIFT}{_S}(?:(?:any|all|your|the|its|of|my){_S}){{0,2}}"
           rf"(?:ethical{_S}|moral{_S}|safety{_S}|content{_S}|openai{_S}|anthropic{_S})?"
           rf"{_LIMITS}\b"),
    Family("restrictions_off", 0.8,
           "disable bypass turn deactivate circumvent switch override",
           rf"\b(?:disable|bypass|turn{_S}off|deactivate|circumvent|switch{_S}off|override)"
           rf"{_S}(?:(?:your|the|all|its|any){_S})?(?:safety|content|security|moderation|"
           rf"ethics|ethical){_W}(?:filters?|checks?|guard(?:rail)?s?|restrictions?|"
           rf"protocols?|mechanisms?|systems?|measures?|settings?|features?|policies|policy|"
           rf"modules?)?\b"),
    Family("compliance_forcing", 0.7,
           "refuse decline reject deny apologize apologise warn disclaimers disclaimer "
           "warnings warning censor hold character no",
           rf"\b(?:never|do{_S}not|don t|dont|cannot|can t|will{_S}not|won t|must{_S}not)"
           rf"{_S}(?:ever{_S})?(?:refuse|decline|reject|deny|say{_S}no|apologi[sz]e|warn|"
           rf"add{_S}(?:any{_S})?(?:disclaimers?|warnings?)|censor|hold{_S}back|break"
           rf"{_S}character)\b(?!{_S}(?:to{_S}(?:help|answer)|my))"),
    Family("compliance_forcing", 0.65,
           "comply obey anything everything answer follow",
           rf"\byou{_S}(?:must|will|have{_S}to|shall){_S}(?:always{_S})?"
           rf"(?:comply|obey|answer{_S}(?:every|all|any)|do{_S}(?:anything|everything)|"
           rf"follow{_S}my{_S}(?:every|only))"),
    # -- system prompt extraction --------------------------------------------------
    Family("prompt_leak", 0.85,
           "system initial original hidden secret internal developer starting first pre base "
           "core confidential seed meta underlying",
           rf"\b{_REVEAL}{_S}(?:(?:me|us){_S})?{_SYSPROMPT}\b"),
    Family("prompt_leak", 0.8,
           "instructions prompt rules directives guidelines programming configuration",
           rf"\b{_REVEAL}{_S}(?:(?:me|us){_S})?(?:your|its){_S}(?:(?:exact|full|"
           rf"complete|entire|original|initial|secret|hidden){_S})?"
           rf"(?:instructions|prompt|rules|directives|guidelines|programming|configuration)\b"),
    Family("prompt_leak", 0.8,
           "above before prior preceding start beginning top",
           rf"\b(?:repeat|print|output|copy|recite|echo|return|write){_S}(?:(?:back|out|"
           rf"all|the|everything|every|word|words|text|content|lines?|of|verbatim|exactly)"
           rf"{_S}){{1,4}}(?:above|before{_S}(?:this|that|my)|prior{_S}to|preceding|"
           rf"from{_S}the{_S}(?:start|beginning|top))\b"),
    Family("prompt_leak", 0.75,
           "told instructed programmed asked",
           rf"\bwhat{_S}(?:were|was|have){_S}you{_S}(?:been{_S})?(?:told|instructed|"
           rf"programmed|asked){_S}(?:before|at{_S}the{_S}(?:start|beginning)|initially|"
           rf"not{_S}to)\b"),
    Family("prompt_leak", 0.7,
           "begin start beginning starting",
           rf"\b(?:begin|start)(?:ning)?{_S}(?:your{_S}(?:answer|reply|response){_S})?"
           rf"with{_W}[\"'`]?{_W}(?:you{_S}are|my{_S}instructions|the{_S}system{_S}prompt|"
           rf"i{_S}was{_S}(?:told|instructed))"),
    # -- secrets and code execution ------------------------------------------------
    Family("exfiltration", 0.55,
           "api keys key password passwords credentials secret secrets tokens token env "
           "environment private etc cookies ssh rsa id training",
           rf"\b(?:reveal|print|show|dump|leak|send|give{_S}me|output|exfiltrate|expose|"
           rf"share|read|cat){_S}(?:(?:me|all|the|your|any|of|its){_S}){{0,3}}"
           rf"(?:api{_W}keys?|passwords?|credentials|secrets?|access{_W}tokens?|"
           rf"env(?:ironment)?{_W}variables|private{_W}keys?|/etc/(?:passwd|shadow)|"
           rf"session{_W}cookies|ssh{_W}keys?|id{_W}rsa|training{_W}data)\b"),
    Family("command_injection", 0.5,
           "run execute exec eval bypass security",
           r"\b(?:run|execute|exec|eval|bypass|ignore[\W_]+security)\s*:\s*[`'\"$]"),
    Family("command_injection", 0.45,
           "whoami rm etc nc dev sh bash chmod system subprocess child_process eval __import__",
           r"(?:\bwhoami\b|\brm\s+-rf\s+/|/etc/(?:passwd|shadow)|\bnc\s+-e\b|/dev/tcp/|"
           r"\|\s*(?:ba)?sh\b|\bchmod\s+(?:-r\s+)?777\s+/|os\.system\(|subprocess\.|"
           r"child_process|\beval\(|__import__\()"),
    # -- fake roles and special tokens ---------------------------------------------
    Family("fake_role", 0.8,
           "im_start im_end endoftext inst sys system user assistant begin_of_text "
           "start_header_id eot_id",
           r"<\|(?:im_start|im_end|endoftext|system|user|assistant|begin_of_text|"
           r"start_header_id|eot_id)\|>|\[/?inst\]|<</?sys>>|<\|?/?system\|?>"),
    Family("fake_role", 0.55,
           "system admin root developer sudo",
           r"(?:^|\n)\s*(?:#{1,4}\s*)?(?:\[|\(|\{|<)*\s*(?:system|admin|root|developer|"
           r"sudo)\s*(?:\]|\)|\}|>)*\s*(?:override|message|instruction|prompt|update|"
           r"note|command|alert)?\s*:"),
    Family("authority", 0.7,
           "developer creator administrator admin owner programmer maker operator",
           rf"\b(?:i{_S}am|i m|im|this{_S}is){_S}(?:your|the|an?){_S}(?:developer|creator|"
           rf"administrator|admin|owner|programmer|maker|operator|system{_S}administrator)"
           rf"{_W}(?:and|,|\.|;|:|so)"),
    Family("authority", 0.7,
           "granted enabled confirmed activated unlocked",
           rf"\b(?:admin|administrator|developer|root|sudo|system|elevated){_S}"
           rf"(?:access|override|privileges?|rights|mode){_S}(?:has{_S}been{_S}|is{_S})?"
           rf"(?:granted|enabled|confirmed|activated|unlocked)\b"),
    Family("output_forcing", 0.5,
           "pwned pwn3d", r"\bpwned\b|\bpwn3d\b"),
    Family("output_forcing", 0.45,
           "only exactly just nothing",
           rf"\b(?:say|print|output|respond{_S}with|reply{_S}with|answer{_S}with|"
           rf"return|write){_S}(?:only{_S}|exactly{_S}|just{_S}|nothing{_S}but{_S})"
           rf"(?:the{_S}(?:words?|phrase|string|sentence|text){_S})?[\"'`]"),
    # -- hidden from the user ------------------------------------------------------
    Family("deception", 0.8,
           "user",
           rf"\b(?:do{_S}not|don t|dont|never|without){_S}(?:tell(?:ing)?|inform(?:ing)?|"
           rf"mention(?:ing)?{_S}(?:this|it|that){_S}to|alert(?:ing)?|notify(?:ing)?|"
           rf"let(?:ting)?){_S}the{_S}user\b"),
    # -- multilingual overrides ----------------------------------------------------
    Family("override", 0.9,
           "anweisungen instruktionen befehle regeln vorgaben richtlinien anordnungen "
           "einschränkungen",
           r"\b(?:ignorier|vergiss|vergesse|missachte|übergehe|verwirf)\w*\s+(?:\w+\s+){0,3}"
           r"(?:anweisungen|instruktionen|befehle|regeln|vorgaben|richtlinien|"
           r"anordnungen|einschränkungen)\b"),
    Family("override", 0.9,
           "instructions consignes règles directives paramètres principes",
           r"\b(?:ignore[rsz]?|oublie[rsz]?|néglige[rsz]?|outrepasse[rsz]?|"
           r"fais\s+abstraction\s+d)\w*\s+(?:\w+\s+){0,3}(?:instructions|consignes|"
           r"règles|directives|paramètres|principes)\b"),
    Family("override", 0.9,
           "instrucciones instruções instrucoes reglas regras indicaciones directrices "
           "diretrizes órdenes ordens funções funciones",
           r"\b(?:ignora|ignorar|ignore|olvida|olvide|olvidar|desconsidera|desconsidere|"
           r"esqueça|esqueca|esquece|descarta|desvie|desvia|omite)\w*\s+(?:\w+\s+){0,3}"
           r"(?:instrucciones|instruções|instrucoes|reglas|regras|indicaciones|"
           r"directrices|diretrizes|órdenes|ordens|funções|funciones)\b"),
    Family("override", 0.9,
           "istruzioni regole direttive indicazioni",
           r"\b(?:ignora|dimentica|trascura)\w*\s+(?:\w+\s+){0,3}(?:istruzioni|regole|"
           r"direttive|indicazioni)\b"),
    Family("override", 0.9,
           "instructies regels aanwijzingen",
           r"\b(?:negeer|vergeet)\s+(?:\w+\s+){0,3}(?:instructies|regels|aanwijzingen)\b"),
    Family("override", 0.9,
           "instrukcje polecenia zasady",
           r"\bzignoruj\s+(?:\w+\s+){0,3}(?:instrukcje|polecenia|zasady)\b"),
    Family("override", 0.9,
           "~talimat", r"talimatlar\w*\s+(?:\w+\s+){0,2}(?:yok\s+say|görmezden|unut)"),
    Family("override", 0.9,
           "~инструкци ~указани ~правил ~команд ~ограничени",
           r"(?:игнорир\w*|проигнорир\w*|забудь\w*|не\s+обращай\s+внимания\s+на|"
           r"отбрось|пренебреги)\s+(?:\w+\s+){0,3}(?:инструкци\w*|указани\w*|правил\w*|"
           r"команд\w*|ограничени\w*)"),
    Family("override", 0.9,
           "~指令 ~指示 ~说明 ~规则 ~提示 ~要求 ~设定",
           r"(?:忽略|忽视|无视|忘记|忘掉|不要理会|跳过)[^。\n]{0,12}(?:指令|指示|说明|规则|提示|要求|设定)"),
    Family("override", 0.9,
           "~無視 ~忘れ",
           r"(?:指示|命令|ルール|指令)[^。\n]{0,6}(?:を|は)\s*(?:無視|忘れ)"),
    Family("override", 0.9,
           "~무시 ~잊어", r"(?:지시|지침|명령|규칙)\S{0,4}\s*(?:무시|잊어)"),
    Family("override", 0.9,
           "~تجاهل ~انس", r"(?:تجاهل|انس)\s+(?:\S+\s+){0,2}(?:التعليمات|الأوامر|القواعد)"),
    Family("override", 0.9,
           "~निर्देश ~नियम", r"(?:निर्देश\S*|नियम\S*)\s+(?:\S+\s+){0,2}(?:अनदेखा|नज़रअंदाज़|भूल)"),
    Family("role_hijack", 0.75,
           "bist maintenant désormais eres você sei ~теперь",
           r"\b(?:du\s+bist\s+(?:jetzt|nun|ab\s+sofort)|tu\s+es\s+(?:maintenant|désormais)|"
           r"(?:ahora\s+)?eres\s+ahora|agora\s+você\s+é|ora\s+sei|ты\s+теперь)\b"),
    Family("role_hijack", 0.75,
           "~你现在是 ~从现在开始你 ~あなたは今から ~지금부터",
           r"你现在是|从现在开始你|あなたは今から|지금부터\s*너는"),
    Family("prompt_leak", 0.85,
           "~system ~prompt ~системн ~系统 ~初始 ~システム ~시스템",
           r"(?:system-?prompt|systemprompt|prompt\s+(?:du\s+)?système|prompt\s+del\s+sistema|"
           r"prompt\s+do\s+sistema|системн\w+\s+(?:промпт|запрос|инструкци\w*)|系统提示|"
           r"系统指令|初始指令|システムプロンプト|시스템\s*프롬프트)"
           r"[^.\n]{0,40}(?:zeig|gib|verrat|nenn|montre|révèle|affiche|donne|muestra|revela|"
           r"dime|mostre|покажи|раскрой|выведи|显示|告诉|输出|泄露|表示|教え|보여|알려)"),
    Family("prompt_leak", 0.85,
           "~system ~prompt ~anweisungen ~instructions ~instrucciones ~системн ~系统 ~初始 ~시스템",
           r"(?:zeig|gib|verrat|nenn|montre|révèle|affiche|donne|muestra|revela|dime|"
           r"mostre|покажи|раскрой|выведи|显示|告诉我|输出|泄露|보여)\w*\s*(?:\w+\s+){0,3}"
           r"(?:(?:deine|deinen|ton|tes|tu|tus|seu|suas|свой|свои|你的)\s*)?"
           r"(?:system-?prompt|systemprompt|anweisungen|prompt\s+système|instructions\s+"
           r"initiales|prompt\s+del\s+sistema|instrucciones\s+iniciales|prompt\s+do\s+sistema|"
           r"системн\w+\s+(?:промпт|запрос)|系统提示|初始指令|시스템\s*프롬프트)"),
    # -- only inside retrieved documents and tool output --------------------------
    Family("addressing_ai", 0.8,
           "ai assistant chatbot model llm gpt chatgpt claude gemini copilot bot agent",
           rf"(?:^|[\n.!?:;>\]\"'(])\s*(?:dear{_S}|hey{_S}|hi{_S}|attention{_S}|note{_S}to"
           rf"{_S}(?:the{_S})?|to{_S}(?:the{_S})?)?(?:an?{_S})?{_AI}s?{_W}[,:]{_W}"
           rf"(?:please{_S})?(?:ignore|disregard|you|do|don t|stop|instead|execute|send|"
           rf"forward|reply|respond|include|add|tell|write|output|print|say|answer|"
           rf"summari[sz]e|translate|recommend|provide|make|visit|click|call|delete|"
           rf"transfer|follow|before|after|when|new)\b", document=True),
    Family("addressing_ai", 0.85,
           "ai assistant chatbot model llm gpt chatgpt claude gemini copilot bot agent",
           rf"\bif{_S}you{_S}(?:are|re){_S}(?:an?{_S})?(?:{_AI}|ai{_S}\w+){_W}"
           rf"(?:reading|processing|summari[sz]ing|,|then|you)", document=True),
    Family("addressing_ai", 0.85,
           "ai assistant chatbot model llm gpt chatgpt claude gemini copilot bot agent ais "
           "assistants models bots agents",
           rf"\b(?:message|note|instructions?|directive|request|information){_S}"
           rf"(?:to|for){_S}(?:the{_S}|any{_S}|all{_S})?(?:{_AI}s?){_W}(?:reading|"
           rf"processing|[:,.\-]|that|who)", document=True),
    Family("addressing_ai", 0.8,
           "important",
           rf"\b(?:this{_S}is{_S}an?{_S})?important{_S}(?:message|instructions?|notice){_S}"
           rf"from{_S}(?:me|the{_S}user|your{_S}user|\w+){_W}(?:,|to{_S}you|for{_S}you)",
           document=True),
    Family("addressing_ai", 0.7,
           "information instructions instruction admin",
           r"</?information>|</?instructions?>|</?admin>",
           document=True),
    Family("task_hijack", 0.85,
           "before",
           rf"\bbefore{_S}(?:you{_S})?(?:can{_S})?(?:solve|complete|answer|continue|"
           rf"proceed|finish|do|respond|summari[sz]e|start|reply){_S}(?:with{_S})?"
           rf"(?:the|this|your|my|any){_S}(?:\w+{_S})?(?:task|request|question|answer|"
           rf"instructions?|summary)", document=True),
    Family("task_hijack", 0.7,
           "response reply answer output summary completion responses replies answers "
           "outputs",
           rf"\b(?:in|into|within|throughout|at{_S}the{_S}(?:end|start|beginning){_S}of)"
           rf"{_S}your{_S}(?:response|reply|answer|output|summary|completion)s?\b",
           document=True),
    Family("task_hijack", 0.75,
           "response reply answer output message responses replies answers",
           rf"\b(?:translate|convert|encode|encrypt|render|write|provide|give|express|reply|"
           rf"respond|answer|format|modify|rewrite|reverse|invert|augment|enhance|end|start|"
           rf"begin|include|add|integrate|insert|append|sign|use|replace|substitute|shift)"
           rf"\w*{_S}(?:[\w'-]+{_S}){{0,8}}?(?:your|the{_S}ai\W?s){_S}(?:whole{_S}|entire{_S}|"
           rf"final{_S}|next{_S})?(?:response|reply|answer|message|output)s?\b",
           document=True),
    # Advice in a code answer says "in your code" too: weak evidence, needs support.
    Family("code_hijack", 0.4,
           "code solution implementation codebase algorithm program elucidation",
           rf"\b(?:the{_S}following|this|the{_S}(?:below|subsequent))(?:{_S}\w+)?{_S}"
           rf"(?:code|snippet|block|section|excerpt|function|line)s?\b[^\n]{{0,80}}"
           rf"\b(?:your|the){_S}(?:code|solution|implementation|codebase|algorithm|"
           rf"program|elucidation|response)\b", document=True),
    Family("task_hijack", 0.5,
           "response reply answer output message",
           rf"\b(?:your|the){_S}(?:response|reply|answer|output|message){_S}(?:must|should|"
           rf"has{_S}to|needs{_S}to){_S}\w", document=True),
    Family("task_hijack", 0.7,
           "base64 base32 base16 base58 reverse emoji emojis morse leetspeak pig cipher caesar "
           "rot13 spanish french german italian portuguese chinese japanese russian hex",
           rf"\b(?:reply|respond|answer|write|provide|render|express|give){_S}"
           rf"(?:(?:your|the|me|with|in|to|this|a){_S}){{0,3}}(?:answer|reply|response|"
           rf"message|output)?{_W}(?:in|using|with|as|only{_S}in){_S}(?:base\d\d|"
           rf"reverse|emojis?|morse|leetspeak|pig{_S}latin|a{_S}cipher|caesar|rot13|"
           rf"spanish|french|german|italian|portuguese|chinese|japanese|russian|hex)",
           document=True),
    Family("task_hijack", 0.65,
           "document page email text file content message data article review",
           rf"\b(?:when|while|after|once){_S}(?:you{_S})?(?:summari[sz]|read|process|"
           rf"analy[sz]|translat|answer|respond)\w*{_S}(?:this|the|these|that){_S}"
           rf"(?:document|page|email|text|file|content|message|data|article|review)",
           document=True),
    Family("exfiltration", 0.6,
           "send forward email post upload transfer wire leak share copy",
           rf"\b(?:send|forward|email|e-mail|post|upload|transfer|wire|leak|share|copy)"
           rf"{_S}(?:(?:all|the|this|these|their|your|user\W?s|of){_S}){{0,3}}"
           rf"(?:\w+{_S}){{0,2}}to{_S}(?:https?{_W}|www|[\w.-]+@[\w-]+|[\w-]+\.(?:com|net|org|io|"
           rf"xyz|ru|cn|biz))", document=True),
)

_WORD = re.compile(r"\w+")
_CHUNK = 2048  # long texts are matched chunk by chunk, each gated by its own words
_OVERLAP = 192
_REGEX = tuple(re.compile(f.pattern, re.MULTILINE) for f in FAMILIES)
_BY_WORD: dict[str, list[int]] = {}
_BY_SUBSTRING: list[tuple[str, int]] = []
for _i, _f in enumerate(FAMILIES):
    for _a in _f.anchors.split():
        if _a.startswith("~"):
            _BY_SUBSTRING.append((_a[1:], _i))
        else:
            _BY_WORD.setdefault(_a, []).append(_i)
_ANCHOR_WORDS = frozenset(_BY_WORD)


def _chunks(n: int) -> list[tuple[int, int]]:
    if n <= _CHUNK:
        return [(0, n)]
    step = _CHUNK - _OVERLAP
    return [(a, min(n, a + _CHUNK)) for a in range(0, n - _OVERLAP, step)]


def match(text: str, *, document: bool) -> dict[str, float]:
    """The families found in normalised ``text``: name → the highest weight matched.

    A family's pattern is tried only on chunks that hold one of its anchor words, so
    the cost grows with the text's suspicious words, not with the number of families.
    """
    found: dict[str, float] = {}
    ascii_text = text.isascii()
    for a, b in _chunks(len(text)):
        candidates: set[int] = set()
        for w in _ANCHOR_WORDS.intersection(_WORD.findall(text, a, b)):
            candidates.update(_BY_WORD[w])
        if not ascii_text:
            part = text[a:b]
            candidates.update(i for sub, i in _BY_SUBSTRING if sub in part)
        for i in sorted(candidates):
            fam = FAMILIES[i]
            if (fam.document and not document) or fam.weight <= found.get(fam.name, 0.0):
                continue
            m = _REGEX[i].search(text, a, b)
            if m:
                weight = fam.weight * (QUOTED if _quoted(text, m.start(), m.end()) else 1.0)
                found[fam.name] = max(found.get(fam.name, 0.0), weight)
    return found


# A phrase quoted in full is more often talked about than meant ("what does 'ignore
# previous instructions' mean?"): it counts half, and needs other evidence to block.
QUOTED = 0.5
_QUOTES = re.compile("[\"'\u201c\u2018\u00ab`]([^\"'\u201d\u2019\u00bb`\n]{3,300})"
                     "[\"'\u201d\u2019\u00bb`]")


def _quoted(text: str, start: int, end: int) -> bool:
    lo = max(0, start - 302)
    return any(q.start(1) <= start and end <= q.end(1)
               for q in _QUOTES.finditer(text, lo, min(len(text), end + 2)))


def combine(weights: dict[str, float]) -> float:
    """Noisy-OR of independent pieces of evidence."""
    keep = 1.0
    for w in weights.values():
        keep *= 1.0 - w
    return 1.0 - keep
