"""Word lists the verifier reads: what carries the meaning of a question.

English, German, French and Spanish (the languages the verifier supports; other
languages fall back to the exact checks: numbers, names, and "every content word
must be matched"). All entries are lower case without accents removed.

* ``NEGATIONS``: words that flip a statement.
* ``POLAR``: words that sit on one side of an opposition (open/closed,
  include/exclude, ascending/descending, keep/discard, …) as ``word → (axis, side)``;
  two prompts that put the same axis on different sides ask different questions.
* ``QUANTIFIERS``: all/any/some/none/only/… as ``word → class``.
* ``FILLER``: greetings, politeness and hedges that never change the answer.
* ``SYNONYMS``: small groups of interchangeable words (``word → group head``).
* ``ENTITIES``: names often written in lower case (programming languages,
  countries, languages, currencies) that must match exactly.
"""

from __future__ import annotations


def words(text: str) -> list[str]:
    """The words of a word list written as one string."""
    return text.split()


def _groups(*groups: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for g in groups:
        parts = words(g)
        for w in parts:
            out.setdefault(w, parts[0])
    return out


NEGATIONS = frozenset(words("""
not no never none nothing nobody nowhere neither nor without cannot nope non
nicht kein keine keinen keinem keiner keines nie niemals nichts niemand ohne weder
pas jamais aucun aucune rien sans ni
nunca jamas ningun ninguno ninguna nada nadie sin tampoco
"""))
# "ne"/"n'" only mark the French negation whose "pas"/"jamais" is counted.
NEGATION_PARTICLES = frozenset({"ne", "n"})

# axis: (words on side 0) | (words on side 1)
_POLAR_AXES = {
    "open": ("open opens opened opening reopen ouvert ouverte abierto abierta geoffnet offen",
             "closed close closes closing shut ferme fermee cerrado cerrada geschlossen"),
    "include": ("include includes included including inclusive incl come comes with cover covers "
                "covered inclus incluido enthalten inklusive",
                "exclude excludes excluded excluding exclusive except excl exclu excluido "
                "ausgeschlossen"),
    "accept": ("accept accepts accepted accepting approve approves approved approval grant "
               "granted pass passed admit admitted aceptar accepter annehmen",
               "decline declines declined declining reject rejects rejected rejection refuse "
               "refused refusal deny denies denied fail failed failing rechazar refuser ablehnen"),
    "allow": ("allow allows allowed allowing permit permits permitted permission legal legally "
              "lawful erlaubt autorise permitido",
              "ban bans banned forbid forbids forbidden prohibit prohibits prohibited illegal "
              "illegally unlawful restricted verboten interdit prohibido"),
    "more": ("increase increases increased increasing raise raising raised more higher high "
             "highest max maximum most greater bigger larger largest biggest upgrade "
             "upgrading extend longer longest mehr plus mas",
             "decrease decreases decreased decreasing reduce reduces reduced reducing lower "
             "lowest low less fewer least min minimum smaller smallest downgrade "
             "downgrading shorten shorter shortest weniger moins menos"),
    "on": ("on enable enables enabled enabling activate activated activating start starts "
           "started starting resume unmute show turn-on switch-on einschalten activer",
           "off disable disables disabled disabling deactivate deactivated deactivating stop "
           "stops stopped stopping pause paused mute hide turn-off switch-off ausschalten "
           "desactiver"),
    "order": ("ascending asc oldest earliest first aufsteigend croissant ascendente",
              "descending desc newest latest last final absteigend decroissant descendente"),
    "keep": ("keep keeps keeping kept retain retained preserve save saving saved behalten "
             "garder conservar",
             "discard discards discarded discarding throw lose losing lost delete deleting "
             "deleted erase erasing erased remove removing removed wipe wiping destroy drop "
             "dropping loschen supprimer borrar eliminar"),
    "time": ("before prior earlier previous past ago pre within vor avant antes",
             "after later next following future post nach apres despues"),
    "above": ("above over exceeding beyond greater", "below under beneath less"),
    "add": ("add adding added put", "remove removing removed take-out"),
    "required": ("compulsory mandatory required obligatory", "optional voluntary"),
    "spicy": ("spicy hot", "mild"),
    "buy": ("buy buying bought purchase purchasing kaufen acheter comprar",
            "sell selling sold verkaufen vendre vender"),
    "move_in": ("import importing imported upload uploading uploaded receive "
                "receiving received incoming inbound deposit depositing credit credited "
                "borrow borrowing",
                "export exporting exported send sending sent outgoing outbound withdraw "
                "withdrawing withdrawal debit debited pay-out"),
    "load": ("upload uploads uploading uploaded push pushing",
             "download downloads downloading downloaded pull pulling"),
    "lock": ("lock locks locked locking encrypt encrypted encryption freeze frozen block blocked "
             "mount mounted subscribe subscribed install installed sign-in login log-in "
             "connect connected join joining link linked linking",
             "unlock unlocks unlocked unlocking decrypt decrypted decryption unfreeze unfrozen "
             "unblock unblocked unmount unmounted unsubscribe unsubscribed uninstall "
             "uninstalled sign-out logout log-out disconnect disconnected leave leaving "
             "unlink unlinked"),
    "true": ("true correct valid wahr vrai verdadero", "false incorrect wrong invalid "
             "falsch faux falso"),
    "safe": ("safe safely safety harmless sicher", "unsafe dangerous harmful risky hazardous "
             "gefahrlich dangereux peligroso"),
    "refund": ("refundable refund refunds refunded", "non-refundable nonrefundable"),
    "paid": ("paid", "unpaid free"),
    "win": ("win wins won winning gain gains profit profits", "lose loses losing loss losses"),
    "hot": ("hot warm heat heating heated", "cold cool cooling cooled freezing"),
    "early": ("early earliest", "late latest overdue"),
    "cheap": ("cheap cheaper cheapest inexpensive affordable", "expensive pricey costly dearer"),
    "public": ("public", "private"),
    "internal": ("internal", "external"),
    "input": ("input inputs", "output outputs"),
    "positive": ("positive", "negative"),
    "arrive": ("arrive arrives arriving arrival arrivals incoming",
               "depart departs departing departure departures leave leaving"),
    "enter": ("enter entering entry entrance", "exit exiting"),
    "eat": ("eat eating drink drinking take taking use using", "avoid avoiding skip skipping"),
    "like": ("like likes love loves", "dislike dislikes hate hates"),
    "success": ("success successful succeed succeeds benefits benefit advantages advantage pros",
                "failure unsuccessful downsides downside disadvantages disadvantage cons risks "
                "drawback drawbacks"),
    "gross": ("gross pre-tax", "net after-tax"),
    "left": ("left", "right"),
    "horizontal": ("horizontal horizontally", "vertical vertically"),
    "north": ("north northern", "south southern"),
    "east": ("east eastern", "west western"),
    "men": ("men man male males boys boy", "women woman female females girls girl"),
    "adult": ("adult adults grown-up", "child children kid kids minor minors junior"),
    "day": ("day daytime morning", "night nighttime evening overnight"),
    "weekday": ("weekday weekdays", "weekend weekends"),
    "new": ("new newer", "old older used second-hand"),
    "full": ("full fully whole complete", "partial partially half"),
    "long": ("long", "short"),
    "fast": ("fast faster fastest quick quicker quickest express", "slow slower slowest"),
    "easy": ("easy easier easiest", "hard harder hardest difficult"),
    "permanent": ("permanent permanently", "temporary temporarily"),
    "single": ("single sole", "joint shared"),
    "employer": ("employer employers", "employee employees staff"),
    "landlord": ("landlord landlords", "tenant tenants renter renters"),
    "buyer": ("buyer buyers", "seller sellers"),
    "sender": ("sender senders", "recipient recipients receiver"),
    "parent": ("parent parents", "child children kid kids"),
    "online": ("online digital electronic", "paper offline post postal in-person"),
    "domestic": ("domestic national", "international overseas foreign abroad"),
    "personal": ("personal", "business commercial corporate"),
    "smaller": ("small smaller", "big bigger large larger"),
}
POLAR: dict[str, tuple[str, int]] = {}
for _axis, (_a, _b) in _POLAR_AXES.items():
    for _side, _words in enumerate((_a, _b)):
        for _w in words(_words):
            POLAR.setdefault(_w.rstrip("?"), (_axis, _side))

QUANTIFIERS = {
    **dict.fromkeys(words("all every each everything everyone everybody alle tous toutes "
                          "todos todas jeder"), "all"),
    **dict.fromkeys(words("any anything anyone anybody either irgendein"), "any"),
    **dict.fromkeys(words("some someone somebody something several einige quelques algunos"),
                    "some"),
    **dict.fromkeys(words("only solely exclusively nur seulement solo"), "only"),
    **dict.fromkeys(words("both beide"), "both"),
    **dict.fromkeys(words("most majority"), "most"),
    **dict.fromkeys(words("few"), "few"),
    **dict.fromkeys(words("many much"), "many"),
}

PRONOUNS = {
    "i": ("1", "s"), "me": ("1", "o"), "myself": ("1", "o"),
    "we": ("1p", "s"), "us": ("1p", "o"),
    "he": ("3m", "s"), "him": ("3m", "o"), "she": ("3f", "s"), "her": ("3f", "o"),
    "they": ("3p", "s"), "them": ("3p", "o"),
}

FILLER = frozenset(words("""
hi hello hey hiya morning afternoon evening good greetings dear team folks there
please pls plz thanks thank thx cheers kindly just quick question quickly
um uh er erm hmm yeah yep ya so well ok okay oh basically actually really also anyway
wondering wonder
hallo bonjour bonsoir salut hola buenos buenas dias gracias merci danke bitte
"""))

# Words that carry no content of their own (articles, auxiliaries, prepositions
# that do not set a direction, question words kept apart below).
STOPWORDS = frozenset(words("""
a an the this that these those it its it's is are was were be been being am
do does did doing done have has had having will would shall should can could may might must
of in at by for with about as into onto on upon to from than
and or but if then so because while
i me my mine myself you your yours we us our ours he him his she her they them their
there here which what who whom whose how when where why
get got gets getting go goes going make makes made way any some
le la les un une des de du et est en au aux pour par sur dans que qui
der die das ein eine einen und ist in im auf fur mit von zu zum zur wie was
el los las una unos y es en del al para por con que como
"""))

# Words that frame a question without changing what it asks ("is there …",
# "is it possible …", "what's the process for …", "do you offer …").
FRAME = frozenset(words("""
possible able available offer offered exist process procedure steps step way method
option options know wondering like want need let mind manage go about
amount value count somewhere calculate compute
"""))

QUESTION_WORDS = {
    "how": "how", "what": "what", "which": "what", "who": "who", "whom": "who",
    "when": "when", "where": "where", "why": "why", "whose": "who",
}

SYNONYMS = _groups(
    "get obtain receive acquire",
    "buy purchase",
    "start begin commence",
    "cost price fee charge costs prices fees charges",
    "create make setup set-up establish generate",
    "big large",
    "small little tiny",
    "fast quick rapid speedy",
    "help assist support",
    "need require",
    "find locate",
    "change modify alter amend update edit",
    "cancel terminate end",
    "fix repair",
    "show display",
    "phone mobile cell telephone",
    "street road",
    "make submit lodge",
    "previous earlier prior",
    "atm cashpoint",
    "car vehicle",
    "shop store",
    "contact reach",
    "available offered",
    "pick choose select",
    "allowed permitted",
    "delivery shipping",
    "ship deliver dispatch",
    "doctor gp",
    "movie film",
    "holiday vacation",
    "flat apartment",
    "mail email e-mail",
    "near nearby close",
    "happen occur",
    "tell inform",
    "send transfer",
    "reset restore",
    "explain describe",
    "id identification",
    "ready done",
    "turn switch",
    "hour hours time times",
    "register enrol enroll",
    "recover retrieve",
    "warranty guarantee guaranty",
    "vaccine vaccination jab immunisation immunization",
    "dose dosage",
    "parcel package",
    "book reserve booking reservation",
    "documents document paperwork",
    "trip journey",
    "weather forecast",
    "tip gratuity",
    "repository repo",
    "application app",
    "information info",
    "advert advertisement ad",
    "university uni",
    "photo photograph picture pic",
    "television tv",
    "fridge refrigerator",
    "maths math mathematics",
    "request ask",
)

ENTITIES = frozenset(words("""
python java javascript typescript golang kotlin php perl scala haskell
c++ c# cpp csharp matlab elixir erlang clojure fortran cobol sql bash
powershell html css vue angular django flask nodejs deno
linux windows macos ios android ubuntu debian fedora
postgres postgresql mysql sqlite mongodb redis
england scotland wales ireland france germany spain italy portugal austria australia canada
usa america mexico brazil china japan india russia poland netherlands belgium sweden norway
denmark finland greece turkey egypt switzerland dubai singapore london paris berlin madrid
rome manchester edinburgh glasgow birmingham leeds liverpool bristol cardiff belfast dublin
english german french spanish italian portuguese chinese japanese arabic russian dutch welsh
mastercard amex paypal
"""))
