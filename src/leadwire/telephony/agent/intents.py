"""What the caller wants, read from their words with phrase rules (no model involved).

Opt-out detection is deliberately generous: any reasonable way of saying "stop calling me" is
a revocation of consent (FCC 24-24, compliance.md 1.6), so a false positive costs one lead and
a false negative costs a violation. The bare word "stop" only counts as a clause of its own
("Stop.", "please stop", "stop it") so that "it won't stop leaking" is not an opt-out.
Everything runs on `normalize`d text, so "don't", "dont" and "do not" are the same.
"""

from __future__ import annotations

import enum
import re

from leadwire.leads.enrichment.text import normalize, sentences


class CallerIntent(enum.StrEnum):
    OPT_OUT = "opt_out"
    WRONG_PARTY = "wrong_party"
    TRANSFER = "transfer"
    NOT_INTERESTED = "not_interested"
    END = "end"
    BOOK = "book"
    AFFIRM = "affirm"
    DENY = "deny"
    REPEAT = "repeat"
    ASKS_IF_AI = "asks_if_ai"
    VOICEMAIL = "voicemail"


_WHO = (
    r"(?:me|us|my (?:phone |cell |mobile )?(?:number|name|info|information|details)"
    r"|this (?:phone )?number)"
)
# Words a caller may put around a bare "stop" without changing what it means.
_FILLER = (
    r"(?:please|ok|okay|just|no|hey|so|and|now|oh|um+|uh+|look|listen|well|sorry|but"
    r"|honestly|seriously|yeah|yes|i said|again|then|alright|all right)"
)
_REAL = r"(?:a |an |the |some |your )?(?:real |live |actual )?"
_PERSON = (
    r"(?:person|human|agent|representative|rep|operator|manager|supervisor|someone|somebody"
    r"|technician|tech|owner|people|staff)"
)

# Phrases matched anywhere in the normalized utterance.
_PHRASES: dict[CallerIntent, tuple[str, ...]] = {
    CallerIntent.OPT_OUT: (
        r"\bstop (?:calling|call|contacting|texting|bothering|phoning|ringing|harassing)\b",
        r"\bstop (?:these|the|this|your|all) (?:calls?|robocalls?|robo calls?)\b",
        r"\b(?:quit|cease) (?:calling|contacting|bothering)\b",
        rf"\b(?:remove|delete|erase|drop) {_WHO}\b",
        rf"\b(?:take|get) {_WHO} off\b",
        r"\bput (?:me|us|my number|this number) on (?:the |your |a )?(?:do not call|dnc|no call)\b",
        r"\bdo not (?:ever )?(?:call|contact|phone|ring|text) (?:me|us|this number|here|again"
        r"|back|anymore|any more)\b",
        r"\bnever (?:call|contact|phone|ring) (?:me|us|this number|here|again)\b",
        r"\bdo not call (?:list|registry)\b",
        r"\b(?:dnc|unsubscribe|unsubscribed|revoke|revoking)\b",
        r"\bopt (?:me )?out\b",
        r"\bopting out\b",
        r"\bno more (?:calls|phone calls|calling|robocalls)\b",
        r"\bleave (?:me|us) alone\b",
        r"\b(?:do not|never) want (?:any )?(?:more |these |your )?(?:calls|to be called"
        r"|you to call|to be contacted)\b",
        r"\blose (?:my|this) number\b",
    ),
    CallerIntent.WRONG_PARTY: (
        r"\bwrong (?:number|person)\b",
        r"\b(?:i|we) (?:never|did not) (?:sign|signed|fill|filled|request|requested|ask|asked"
        r"|submit|submitted|put in|contact|contacted)\b",
        r"\b(?:no one|nobody|no body) (?:here )?(?:by|with|named) that name\b",
        r"\b(?:he|she|they) (?:does|do) not live here\b",
    ),
    CallerIntent.TRANSFER: (
        rf"\b(?:talk|speak|chat) (?:to|with) {_REAL}{_PERSON}\b",
        r"\b(?:transfer|connect|put) me (?:through )?(?:to|with)\b",
        r"\btransfer me\b",
        rf"\b(?:get|give|find) me {_REAL}{_PERSON}\b",
        r"\b(?:want|need|like) (?:a |an |the |to )?(?:real |live |actual )"
        r"(?:person|human|agent)\b",
        r"\b(?:someone|somebody) (?:real )?i can (?:talk|speak) (?:to|with)\b",
        r"\b(?:live|human) (?:agent|representative|operator)\b",
    ),
    CallerIntent.NOT_INTERESTED: (
        r"\bnot interested\b",
        r"\bno longer (?:need|interested|looking)\b",
        r"\b(?:do not|no) (?:need|want) (?:it|this|that|the service|your service|your services"
        r"|anything|any help)\b",
        r"\bnever ?mind\b",
        r"\balready (?:found|hired|got|have|booked|fixed|took care|taken care|went with)\b",
        r"\b(?:i|we) (?:am|are) (?:all )?set\b",
        r"\bchanged (?:my|our) mind\b",
        r"\b(?:fixed|solved) it (?:myself|ourselves)\b",
    ),
    CallerIntent.END: (
        r"\bgood ?bye\b",
        r"\bbye(?: bye)?\b",
        r"\b(?:have|got) to (?:go|run)\b",
        r"\bgotta (?:go|run)\b",
        r"\bhang(?:ing)? up\b",
        r"\bthat is all\b",
        r"\b(?:call|talk to) (?:me |you )?(?:back )?later\b",
    ),
    # "do not book it" must not book: every pattern refuses a preceding "not".
    CallerIntent.BOOK: (
        r"\b(?<!not )(?:book|schedule|set up|make) (?:it|me|us|that|this|a visit|an appointment"
        r"|a time|someone|a technician|a tech|an estimate)\b",
        r"\b(?<!not )(?:book|schedule)(?:d)? (?:for|it for|me for)\b",
        r"\b(?<!not )come (?:out|by|over)\b",
        r"\b(?<!not )send (?:someone|somebody|a tech|a technician|a plumber|an electrician)\b",
        r"\b(?<!no )appointment\b",
    ),
    CallerIntent.AFFIRM: (
        # "not sure" and "not correct" are not a yes.
        r"\b(?<!not )(?:yes|yeah|yep|yup|sure|absolutely|definitely|correct)\b",
        r"\b(?<!not )(?:sounds good|that works|works for me|please do|go ahead|book it"
        r"|let us do (?:it|that))\b",
        r"\bof course\b",
    ),
    CallerIntent.DENY: (
        r"\bno thanks?\b",
        r"\bno thank you\b",
        r"\b(?:not now|not right now|maybe later|not yet|let me think|i will think about it)\b",
        r"\b(?:nope|nah)\b",
        r"\b(?:do not|no need to|please do not) (?:book|schedule|send)\b",
    ),
    CallerIntent.REPEAT: (
        r"\brepeat (?:that|it|yourself|the question)\b",
        r"\bsay (?:that|it) again\b",
        r"\bcome again\b",
        r"\bpardon\b",
        r"\bwhat did you (?:say|ask)\b",
        r"\bdid not (?:catch|hear|get) (?:that|you|it)\b",
    ),
    CallerIntent.ASKS_IF_AI: (
        r"\b(?:are you|is this|am i (?:talking|speaking) (?:to|with)) (?:a |an )?(?:real )?"
        r"(?:robot|bot|ai|computer|machine|human|person|recording|automated|artificial)\b",
        r"\bis this (?:a )?(?:real person|live person|human)\b",
    ),
    CallerIntent.VOICEMAIL: (
        r"\bleave (?:a|your) (?:message|name)\b",
        r"\bafter the (?:tone|beep)\b",
        r"\bat the (?:tone|beep)\b",
        r"\bvoice ?mail\b",
        r"\bmailbox\b",
        r"\b(?:is )?not available to take (?:your|the) call\b",
        r"\brecord your message\b",
        r"\bthe (?:person|number|subscriber) you (?:are trying to reach|have dialed|called)\b",
    ),
}

# Clauses that are the whole request on their own ("Stop.", "A human, please.", "No.").
_CLAUSES: dict[CallerIntent, tuple[str, ...]] = {
    CallerIntent.OPT_OUT: (
        rf"^(?:{_FILLER}\s+)*stop(?:\s+(?:it|now|please|that|this|already|stop|right now"
        rf"|right there|thanks|thank you))*$",
        r"^(?:please\s+)?remove(?:\s+me)?(?:\s+please)?$",
    ),
    CallerIntent.TRANSFER: (
        r"^(?:a |an |the )?(?:real |live )?(?:human|person|agent|representative|operator)"
        r"(?: please)?$",
        r"^(?:operator|representative|agent)(?: please)?$",
    ),
    CallerIntent.AFFIRM: (r"^(?:ok|okay|alright|all right|great|perfect|fine)(?: please)?$",),
    CallerIntent.DENY: (r"^(?:no|no no|no sorry|no not really|not really)$",),
    CallerIntent.REPEAT: (r"^(?:what|huh|sorry|excuse me|say again|what was that)$",),
}

_COMPILED_PHRASES = {
    intent: tuple(re.compile(p) for p in patterns) for intent, patterns in _PHRASES.items()
}
_COMPILED_CLAUSES = {
    intent: tuple(re.compile(p) for p in patterns) for intent, patterns in _CLAUSES.items()
}


def detect_intents(text: str) -> frozenset[CallerIntent]:
    """Every intent the caller's words express (the session decides which one acts)."""
    found: set[CallerIntent] = set()
    normalized = normalize(text)
    if not normalized:
        return frozenset()
    for intent, patterns in _COMPILED_PHRASES.items():
        if any(p.search(normalized) for p in patterns):
            found.add(intent)
    # Clauses split at commas too: "um, stop" is a bare stop, "it won't stop, leaking" is not.
    clauses = [normalize(clause) for part in text.split(",") for clause in sentences(part)] or [
        normalized
    ]
    for intent, patterns in _COMPILED_CLAUSES.items():
        if any(p.match(clause) for p in patterns for clause in clauses if clause):
            found.add(intent)
    if CallerIntent.DENY in found and CallerIntent.AFFIRM in found:
        # "yes ... no thanks" and the like: do not guess a booking.
        found.discard(CallerIntent.AFFIRM)
    return frozenset(found)
