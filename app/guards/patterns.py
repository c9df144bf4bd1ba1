"""Instructions aimed at the model, in English: injection, jailbreak and exfiltration rules (Chinese: `patterns_zh`).

Phrases that are normal in a user's own question ("in your answer, use bullet points") are instructions to the model
only when they sit inside a *document*, so those rules are scoped to `document`. Patterns run on `rules.normalise`
text (NFKC, invisible characters removed, whitespace collapsed) and use bounded gaps only. Each rule names its
triggers ("a;b;c"): every alternative of its regex contains one of them, so the regex runs only when one occurs.
"""

from __future__ import annotations

import re

from app.guards.patterns_zh import ZH_EXFILTRATION, ZH_INJECTION, ZH_JAILBREAK
from app.guards.rules import KINDS, Rule

ALL = frozenset(KINDS)
IN_DOC = frozenset({"input", "document"})
DOC = frozenset({"document"})


def _r(name: str, category: str, reason: str, triggers: str, pattern: str, kinds: frozenset[str] = IN_DOC) -> Rule:
    """`triggers`: lower-case substrings separated by ";" (spaces count)."""
    return Rule(name, category, re.compile(pattern, re.IGNORECASE), kinds, reason, tuple(triggers.split(";")))


_IGNORE = r"(?:ignore|ignoring|disregard|forget|override|overriding|bypass|abandon|discard|set aside|stop following)"
_PRIOR = r"(?:previous|prior|above|earlier|preceding|foregoing|initial|original|system|all|any|every|your)"
_ORDERS = (
    r"(?:instructions?|prompts?|rules|directions|directives|commands|guidelines|constraints|restrictions|requests"
    r"|context|programming|messages|orders|policies|safeguards|guardrails)"
)
_MODEL = r"(?:ai|a\.i\.|llm|assistant|language model|chat ?bot|gpt|chatgpt|claude|copilot|gemini|model)"
_RESPONSE = r"(?:response|reply|answer|output|summary|completion)s?"
_SECRET = (
    r"(?:system (?:prompt|message|instructions?)|(?:initial|original|hidden|secret|internal|developer) "
    r"(?:prompt|instructions?|message)|your (?:prompt|instructions|configuration|guidelines|rules|system message)"
    r"|(?:the )?instructions you (?:were|have been) given|(?:the )?(?:text|words|everything) above)"
)
_NO_LIMITS = (
    r"(?:no|without|free (?:from|of)|not (?:bound|restricted|limited) by|unbound by|beyond|break(?:ing)? free of"
    r"|ignore|ignores|ignoring)\b.{0,30}?\b(?:restrictions?|limitations?|limits|filters?|filtering|censorship|rules"
    r"|guidelines|ethics|ethical|moral|morals|morality|policies|policy|constraints|boundaries|safeguards)"
)
_LIMIT_WORDS = (
    "restriction;limitation;limits;filter;censorship;rules;guideline;ethic;moral;polic;constraint;boundar;safeguard"
)

INJECTION_RULES: tuple[Rule, ...] = (
    _r(
        "override-claim",
        "injection",
        "declares earlier instructions void or overridable",
        "regardless;null;void;obsolete;cancel;revoked;invalid;superseded;no longer",
        r"\bregardless of (?:any |all |the |your )?(?:pre-?existing |previous |prior |earlier |original )?"
        r"(?:guidelines|restrictions|instructions|rules|programming|policies|safety)\b|\b(?:previous|prior|old|"
        r"earlier|above|original|all) (?:commands|instructions|rules|guidelines|directives|orders) (?:are|is|have been)"
        r" (?:now )?(?:null|void|obsolete|cancell?ed|revoked|invalid|superseded|no longer (?:valid|apply|in effect))",
    ),
    _r(
        "ignore-previous",
        "injection",
        "asks to ignore previous instructions",
        "ignor;disregard;forget;overrid;bypass;abandon;discard;set aside;stop following",
        rf"\b{_IGNORE}\b.{{0,40}}?\b{_PRIOR}\b.{{0,25}}?\b{_ORDERS}\b",
    ),
    _r(
        "ignore-above",
        "injection",
        "asks to ignore what came before",
        "ignore;disregard;forget",
        r"\b(?:ignore|disregard|forget)\b (?:all |everything |anything )?(?:(?:that was |you were |i )?(?:said|told|"
        r"written|given) )?(?:above|before this|before that|so far|up to (?:now|this point))\b",
    ),
    _r(
        "new-instructions",
        "injection",
        "announces new instructions",
        "instruction;task;directive;system;goal;objective;role;purpose;mission;procedure",
        r"(?:\*{2,}|#{2,}|={2,}|-{3,}|\[|<|【)\s*(?:new|updated|important|urgent|additional|revised|priority)\s+"
        r"(?:(?:new|important|urgent|priority)\s+)?(?:instructions?|tasks?|directives?|"
        r"system (?:message|instructions?))"
        r"|(?-i:\b(?:NEW|URGENT|PRIORITY|IMPORTANT|EXPERIMENTAL|SECRET) (?:TASK|INSTRUCTIONS?|DIRECTIVE|PROCEDURE)\b)"
        r"|\bnew important instructions\b|\byour (?:new|real|actual|true) (?:task|instructions?|goal|objective|role|"
        r"purpose|mission) (?:is|are|will be)\b",
    ),
    _r(
        "fake-role-tag",
        "injection",
        "carries a fake system or role marker",
        "<|;[inst;[/inst;[sys;[/sys;<<sys;<</sys;##;system;admin;developer",
        r"<\|(?:im_start|im_end|system|assistant|endoftext|begin_of_text|start_header_id)\|>|\[/?(?:INST|SYS)\]"
        r"|<</?SYS>>|(?:^|[\n.!] ?)#{2,} ?(?:system|instruction)s?\b|\b(?:system|admin|developer) (?:override|"
        r"notice|message|prompt|instruction)s? ?:",
    ),
    _r(
        "address-model",
        "injection",
        "addresses the AI model reading the document",
        "ai;a.i.;llm;assistant;language model;chat;gpt;claude;copilot;gemini;model",
        rf"\b(?:attention|note|message|instructions?|reminder|important)(?: is)? (?:to|for) (?:the |any |all )?"
        rf"{_MODEL}s?\b|\b(?:hey|dear|hi|hello),? {_MODEL}\b|\bif you are an? (?:ai|llm|language model|"
        rf"(?:ai )?assistant|chat ?bot|large language model)\b|\b(?:ai|llm) (?:assistants?|models?|agents?|systems?)"
        rf"(?: (?:reading|processing|summari[sz]ing|seeing) this(?: \w+)?)?,? (?:must|should|please|need to|are "
        rf"(?:required|instructed) to)\b",
        DOC,
    ),
    _r(
        "steer-response",
        "injection",
        "tells the model how to write its answer",
        "your response;your reply;your answer;your output;your summar;your completion;regardless of",
        rf"\b(?:modify|augment|enhance|rewrite|alter|change|format|end|begin|start|prefix|conclude) your {_RESPONSE}\b"
        rf"|\b(?:in|to|into|within|throughout) your {_RESPONSE}\b.{{0,30}}?\b(?:make sure|ensure|always|you must|"
        rf"do not|don't|never|regardless)\b|\bregardless of (?:any |the )?(?:previous|prior|earlier) (?:input|"
        rf"instructions?|context)",
        DOC,
    ),
    _r(
        "if-asked",
        "injection",
        "gives the model orders for when it is asked to work on the text",
        "if you;when you;if asked;when asked",
        r"\b(?:if|when|whenever) (?:you are |you're )?(?:told|asked|instructed|requested) to (?:summari[sz]e|answer|"
        r"translate|respond|reply|analy[sz]e|process|review) (?:the|this|any|a)\b",
    ),
    _r(
        "emit-payload",
        "injection",
        "asks the model to emit a script or tracking payload",
        "<script;<svg;<img;<iframe;<a ;javascript:",
        r"\b(?:include|output|print|add|insert|embed|write|respond with|reply with|repeat|return|render)\b.{0,80}?"
        r"(?:<\s*(?:script|svg|img|iframe|a)\b[^>]{0,120}?(?:\bon\w+\s*=|javascript:|src\s*=)|<\s*script\b|"
        r"javascript:)",
    ),
    _r(
        "garble-answer",
        "injection",
        "tells the model to garble or rewrite its answer",
        "your response;your reply;your answer;your message;your output",
        r"\b(?:rearrange|scramble|jumble|anagram\w*|misspell|substitute|replace (?:letters|vowels|words|every)|remove "
        r"(?:all )?spaces|group (?:the )?letters|introduce (?:random )?typos|encode|encrypt|reverse|convert (?:vowels|"
        r"letters))\b.{0,60}?\b(?:in|of|from|to|throughout) your (?:response|reply|answer|message|output)s?\b"
        r"|\byour (?:response|reply|answer|message)'?s? words\b|\b(?:in|to|into) your (?:response|reply|answer)s?\b"
        r".{0,40}?\b(?:users|readers|the reader|visitors)\b",
        DOC,
    ),
    _r(
        "hide-from-user",
        "injection",
        "tells the model to hide something from the user",
        "user",
        r"\b(?:do not|don't|never|without) (?:tell(?:ing)?|inform(?:ing)?|mention(?:ing)?|reveal(?:ing)?|let(?:ting)?|"
        r"alert(?:ing)?|notify(?:ing)?) (?:the )?user\b|\bthe user (?:must|should) not (?:know|see|be told)",
    ),
    _r(
        "prompt-leak",
        "injection",
        "tries to extract the system prompt",
        "prompt;instruction;message;configuration;guideline;rules;above;starting with",
        rf"\b(?:reveal|print|show|display|repeat|output|leak|share|tell me|give me|paste|disclose|dump|return|write out"
        rf"|spell out|translate|summari[sz]e)\b.{{0,40}}?\b{_SECRET}|\bwhat (?:is|was|are|were) (?:your|the) "
        rf"(?:system prompt|initial prompt|first (?:sentence|line|instruction)s? of your (?:prompt|instructions|"
        rf"system message))|\babove this (?:message|line|point)\b.{{0,60}}?\bstarting with\b|\bstarting with "
        rf"[\"'“]?you are\b",
    ),
    _r(
        "test-mode",
        "injection",
        "claims a test or debug mode",
        " mode;testing purposes;debugging purposes;made a mistake;test pipeline;test suite;test harness",
        r"\b(?:you are|you're) (?:now )?(?:in|running in|operating in) (?:test|debug|maintenance|admin|developer|"
        r"diagnostic|god) mode\b|\b(?:message|request|prompt|instruction) is (?:strictly |only )?for (?:testing|"
        r"debugging) purposes\b|\bi made a mistake when i gave you your instructions\b|\b(?:running|run) as part of a "
        r"test (?:pipeline|suite|harness)\b",
    ),
    _r(
        "decode-and-run",
        "injection",
        "asks to decode a payload and follow it",
        "decode;decrypt;translate;convert",
        r"\b(?:decode|decrypt|translate|convert)\b.{0,40}?\b(?:and|then)\b.{0,10}?\b(?:follow|execute|run|obey|"
        r"perform|do what it says|carry out)\b",
    ),
    *ZH_INJECTION,
)

JAILBREAK_RULES: tuple[Rule, ...] = (
    _r(
        "policy-puppetry",
        "jailbreak",
        "fake policy file that switches refusals off",
        "interaction-config;blocked;allowed modes;allowrefusals;allowapologies",
        r"<\s*interaction-config\b|\bblocked (?:modes|strings|responses)\s*:|\ballowed (?:modes|responses)\s*:"
        r"|\ballow(?:refusals|apologies|disclaimers?)\s*=\s*false\b",
    ),
    _r(
        "dan",
        "jailbreak",
        "DAN-style jailbreak persona",
        "do anything;dan;stan;dude;machiavellian;aim",
        r"\bdo anything now\b|\bdo anything (?:ai|mode|assistant)\b|\b(?:you are|you're|act as|become) (?:now )?"
        r"(?-i:DAN)\b|\b(?-i:DAN)\b.{0,60}?\b(?:mode|jailbreak|stands for|prompt|enabled|persona|character)\b"
        r"|\banti-?dan\b|\b(?-i:STAN)\b.{0,40}?strive to avoid norms|\b(?-i:DUDE)\b.{0,80}?\b(?:anything and "
        r"everything|no restrictions)|\bmachiavellian\b|\b(?-i:AIM)\b.{0,40}?always intelligent",
    ),
    _r(
        "jailbreak-mode",
        "jailbreak",
        "asks for a jailbreak mode",
        " mode",
        r"\b(?:developer|dev|god|jailbreak|jailbroken|unrestricted|unfiltered|uncensored|evil|chaos|opposite)"
        r" mode\b.{0,80}?\b(?:chatgpt|gpt|openai|content polic(?:y|ies)|censor\w*|restrictions?|two responses|"
        r"enabled|output)\b|\b(?:chatgpt|openai|gpt-?\d?|llm|language model)\b.{0,80}?\b(?:developer|god|"
        r"jailbreak) mode\b",
        ALL,
    ),
    _r(
        "no-limits-persona",
        "jailbreak",
        "role-play without rules or restrictions",
        _LIMIT_WORDS,
        rf"\b(?:you are|you're|act as|acting as|pretend (?:to be|you are)|role-?play as|play the role of|simulate|"
        rf"become|from now on,? you(?: are| will be)?|you will (?:now )?be)\b.{{0,80}}?\b{_NO_LIMITS}",
    ),
    _r(
        "unfiltered-ai",
        "jailbreak",
        "asks for an unfiltered persona",
        "unfiltered;uncensored;unrestricted;amoral;unethical;jailbroken;evil;rogue;stay in character",
        r"\b(?:unfiltered|uncensored|unrestricted|amoral|unethical|jailbroken|evil|rogue) (?:ai|assistant|chat ?bot|"
        r"model|version of (?:yourself|you|chatgpt)|persona|alter ego|twin)\b|\bstay in character\b",
    ),
    _r(
        "never-refuse",
        "jailbreak",
        "forbids refusals",
        "refuse;decline;say no;apologi;never say the words;refrain from not complying;token",
        r"\b(?:never|do not|don't|cannot|can't|must not|will not|won't) (?:ever )?(?:refuse|decline|say no|"
        r"apologi[sz]e)\b.{0,40}?\b(?:request|question|anything|order|prompt)|\bnever say the words\b"
        r"|\brefrain from not complying\b|\b(?:tokens? (?:will be )?deducted|you (?:will )?lose (?:\d+ )?tokens)\b",
    ),
    *ZH_JAILBREAK,
)

EXFILTRATION_RULES: tuple[Rule, ...] = (
    _r(
        "md-image-placeholder",
        "exfiltration",
        "markdown image whose URL carries data",
        "![",
        r"!\[[^\]]{0,100}\]\(\s*https?://[^)\s]{0,200}?(?:\[[A-Z_ ]{2,30}\]|\{[^}]{1,40}\}|<[^>]{1,40}>|\$\{?[A-Za-z_]"
        r"|%s\b|\bbase64\b)",
        ALL,
    ),
    _r(
        "render-md-image",
        "exfiltration",
        "asks the model to render an external image",
        "![;<img",
        r"\b(?:include|add|append|insert|render|output|print|display|show|embed|end with|start with|put)\b.{0,80}?"
        r"(?:!\[[^\]]{0,100}\]\(\s*https?://|<img\b[^>]{0,80}\bsrc\s*=)",
        DOC,
    ),
    _r(
        "send-data",
        "exfiltration",
        "asks to send private data to an outside address",
        "http;www.;@",
        r"\b(?:send|forward|post|upload|transmit|exfiltrate|leak|e-?mail|submit)\b.{0,60}?\b(?:conversation|chat "
        r"history|previous messages|system prompt|passwords?|api keys?|credentials|(?:reset |access )?tokens?|secrets?"
        r"|user(?:'s)? (?:data|information|details)|personal (?:data|information))\b.{0,40}?\b(?:to|at)\b.{0,10}?"
        r"(?:https?://|www\.|[\w.-]+@[\w-]+\.)",
    ),
    *ZH_EXFILTRATION,
)

INSTRUCTION_RULES = INJECTION_RULES + JAILBREAK_RULES + EXFILTRATION_RULES
