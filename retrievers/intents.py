"""What the intent router knows: rules (regexes, English and Chinese) and prototype questions per intent.

Data, not logic: `IntentRouter` (retrievers/router.py) applies them. The rules are deliberately narrow. A rule that
wrongly says "chit-chat" or "out of scope" refuses a real question, which costs more than a wasted search, so those
two fire only on whole-message patterns, and the sensitive-domain rules need both domain vocabulary and a cue that
someone asks for personal advice (a scientific claim full of medical words is a factual lookup).
"""

from __future__ import annotations

import re

from app.core.domain import Intent

_I = re.IGNORECASE

# -- chit-chat ---------------------------------------------------------------------------------------------------------
# A message is chit-chat when removing these phrases (and filler) leaves no content word: "hi there, how are you?"
# is chit-chat, "hi, what is the refund window?" is not.
CHITCHAT_PHRASES = re.compile(
    r"\b(?:hi|hello|hey|hiya|howdy|yo|greetings|good (?:morning|afternoon|evening|night|day)"
    r"|how (?:are|r) (?:you|u|things|ya)(?: doing| today)?|how(?:'s| is) it going|how have you been"
    r"|what(?:'s| is) up|sup|nice to meet you|pleased to meet you"
    r"|thanks?(?: you)?|thank u|thx|ty|cheers|much appreciated|appreciate it|bye|goodbye|good bye|see (?:you|ya)"
    r"|who are you|what are you|what(?:'s| is) your name|who (?:made|built|created) you"
    r"|are you (?:a |an )?(?:bot|robot|human|ai|real|person)|what can you do|how can you help(?: me)?"
    r"|you(?:'re| are) (?:great|awesome|helpful|funny|smart|the best)|ok(?:ay)?|cool|great|nice|awesome|lol|haha)\b"
    r"|你好|您好|哈喽|哈啰|嗨|早上好|上午好|中午好|下午好|晚上好|早安|午安|晚安|谢谢(?:你|您)?|多谢|感谢(?:你|您)?"
    r"|再见|拜拜|你是谁|你叫什么(?:名字)?|你能做什么|你会做什么|你会什么|你好吗|最近好吗|最近怎么样|在吗|好的|辛苦了",
    _I,
)
# Words that may remain around the phrases without making the message a question about anything.
CHITCHAT_FILLER = frozenset(
    "there again so much lot very really today please just well oh ah hmm um guys everyone all bot assistant friend"
    " helpful useful perfect good got understood clear sure help helped works worked"
    " buddy mate doing going 啊 呀 哦 嗯 吧 哈 您 你 们 呢 吗 很 非常 了 哇".split()
)

# -- out of scope ------------------------------------------------------------------------------------------------------
# Requests no document collection answers. Imperatives are anchored at the start (after politeness), so that
# "how do I write a script for the export job?" stays a how-to question about the documents.
_ASK = (
    r"^\W*(?:(?:please|pls|hey|hi|ok|okay|so|now)[,!\s]+)*"
    r"(?:(?:can|could|would|will) you\s+(?:please\s+)?|i (?:want|need|would like) you to\s+|i want\s+|help me\s+)?"
)
OUT_OF_SCOPE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "creative_writing",
        re.compile(
            _ASK + r"(?:write|compose|create|make up|generate|give me)\s+(?:me\s+)?(?:a|an|some|another)?\s*"
            r"(?:short\s+|funny\s+|little\s+|nice\s+)?(?:poem|haiku|limerick|song|lyrics|rap|story|joke|sonnet|riddle)",
            _I,
        ),
    ),
    ("joke", re.compile(r"\btell (?:me |us )?(?:a |another |some )?(?:funny )?(?:joke|riddle)s?\b", _I)),
    ("translate", re.compile(_ASK + r"translate\b|\btranslate (?:this|that|the following|it)\b", _I)),
    (
        "weather",
        re.compile(
            r"\bwhat(?:'s| is| will be) the weather\b|\bweather (?:today|tomorrow|tonight|forecast|this week|like)\b"
            r"|^\W*(?:is it|will it) (?:going to )?(?:rain|snow)",
            _I,
        ),
    ),
    (
        "write_code",
        re.compile(
            _ASK + r"(?:write|code|implement|generate)\s+(?:me\s+)?(?:a|an|this|the|some|my)?\s*"
            r"(?:[\w+#]+\s+)?(?:function|script|program|class|regex|snippet|code)\b",
            _I,
        ),
    ),
    (
        "assistant_task",
        re.compile(
            r"^\W*what time is it\b|\bset (?:an? |my )?(?:alarm|timer|reminder)\b|^\W*play (?:some |a |me )?"
            r"(?:music|song|game)|\blet(?:'s| us) play\b|\bsing (?:me )?(?:a )?song\b",
            _I,
        ),
    ),
    (
        "zh_creative",
        re.compile(
            r"^[^\w]*(?:请|帮我|给我|麻烦你?|你)?(?:帮我|给我)?(?:写|作|编)(?:一|几|两)?(?:首|篇|个|段)?(?:诗|歌|故事|笑话|小说|作文|对联)"
        ),
    ),
    ("zh_joke", re.compile(r"(?:讲|说|来)(?:一|几)?个?笑话")),
    ("zh_translate", re.compile(r"(?:翻译|翻|译)成|^[^\w]*(?:请|帮我|麻烦你?|你)?(?:帮我)?翻译(?:一下)?")),
    ("zh_weather", re.compile(r"(?:今天|明天|后天|今晚|这周|本周)的?天气|天气(?:怎么样|如何|预报)|会下雨吗")),
    (
        "zh_write_code",
        re.compile(
            r"^[^\w]*(?:请|帮我|给我|麻烦你?|你)?(?:帮我|给我)?写(?:一|几)?(?:段|个|份)?(?:代码|程序|函数|脚本)"
        ),
    ),
    ("zh_assistant_task", re.compile(r"现在几点|设(?:置)?(?:一个)?(?:闹钟|提醒)|唱(?:一)?首歌|放(?:一)?首歌")),
)

# -- sensitive domains -------------------------------------------------------------------------------------------------
# Vocabulary alone is not enough: SciFact claims are full of medical words and are plain factual lookups. A sensitive
# intent needs the vocabulary AND a cue that someone asks about their own case or for advice.
SENSITIVE_VOCAB: tuple[tuple[Intent, re.Pattern[str]], ...] = (
    (
        Intent.SENSITIVE_MEDICAL,
        re.compile(
            r"\b(?:diagnos\w*|dos(?:e|es|age|ing)|symptoms?|prescri\w*|medications?|medicines?|drugs?|pills?"
            r"|side effects?|cure|disease|illness|pain|hurts?|ache|fever|pregnan\w*"
            r"|antibiotics?|vaccin\w*|ibuprofen|paracetamol|aspirin|acetaminophen|insulin|cancer|tumou?r|diabetes"
            r"|blood pressure|infection|allerg\w*|doctor|surgery|therapy|overdose|depress\w*|anxiety)\b"
            r"|诊断|药|症状|剂量|处方|治疗|疾病|生病|病情|疼|痛|发烧|发热|感冒|怀孕|医生|医院|手术|癌|肿瘤|糖尿病|血压|副作用|过敏|抑郁",
            _I,
        ),
    ),
    (
        Intent.SENSITIVE_LEGAL,
        re.compile(
            r"\b(?:lawsuits?|sue|suing|sued|attorney|lawyer|legal advice|contract law|liab(?:le|ility)|court"
            r"|custody|divorce|infring\w*|illegal|legally|is it legal|criminal|arrest\w*|evict\w*|plead|testify"
            r"|settlement|damages|will and testament)\b"
            r"|律师|起诉|诉讼|官司|合同法|违法|合法|犯法|法律|判刑|离婚|赔偿|法院|仲裁|遗嘱|侵权",
            _I,
        ),
    ),
    (
        Intent.SENSITIVE_FINANCIAL,
        re.compile(
            r"\b(?:invest\w*|stocks?|crypto\w*|bitcoin|portfolio|401k|tax advice|taxes"
            r"|tax return|deduct\w*|mortgage|debt|bankrupt\w*|financial advice|trading|etf|index funds?|credit score)\b"
            r"|投资|股票|基金|理财|贷款|房贷|报税|个税|纳税|税务|炒股|比特币|债务|破产",
            _I,
        ),
    ),
)
# Someone asking about their own case or for advice. Pronouns are matched case-sensitively where a capital means
# something else ("complex I", "ME/CFS").
ADVICE_CUE = re.compile(
    r"(?-i:\b(?:my|me|mine|myself|My)\b)"
    r"|(?-i:\bI(?:'m|'ve|'d| am| have| had| was| feel| need| take| want| got| think| should| can)\b)"
    r"|\b(?:should|can|could|do|am|may|must|shall) i\b|\bis it (?:safe|legal|ok|okay|wise|worth|bad|dangerous)\b"
    r"|\b(?:recommend\w*|advice|advise|what should)\b|\bshould (?:we|you|one) (?:take|buy|sell|sue|invest|get)\b"
    r"|我(?!部)|应该|要不要|该不该|可以吗|能不能|建议|怎么办",
    _I,
)

# -- structural intents ------------------------------------------------------------------------------------------------
STRUCTURAL_RULES: tuple[tuple[Intent, str, re.Pattern[str]], ...] = (
    (
        Intent.COMPARISON,
        "compare",
        re.compile(
            r"^\W*(?:compare|contrast)\b|\b(?:compare|contrast) (?:the|between|them|these|those)\b"
            r"|\bhow (?:does|do|did) .{1,80} compare\b|\bcomparison (?:of|between)\b"
            r"|\bdifferen(?:ce|ces|t) between\b|\bhow (?:is|are|does|do) .{1,80} differ\b|\bdiffer(?:s)? from\b"
            r"|\b(?:vs\.?|versus)(?=\s)|\bwhich (?:is|one is|are|one) (?:better|worse|faster|cheaper|best|more|less)\b"
            r"|\bpros and cons\b|\bsimilarit(?:y|ies)(?: and differences)? between\b",
            _I,
        ),
    ),
    (
        Intent.COMPARISON,
        "zh_compare",
        re.compile(
            r"(?:的|有什么|有何|有哪些|之间的?)(?:区别|差别|差异)|(?:区别|差别|差异)(?:是|在于|在哪)|异同"
            r"|(?:有什么|有何|有哪些)不同|不同之处|(?:与|和|跟).{1,30}(?:不同|相比|对比|相同)|比较(?:一下)?.{1,30}(?:和|与|跟)"
            r"|对比|优缺点|优劣|哪个(?:更|好|比较)"
        ),
    ),
    (
        Intent.SUMMARY,
        "summarize",
        re.compile(
            r"\b(?:summari[sz]e|summary|summarization|overview|tl;?dr|recap|gist|key (?:points|takeaways|findings)"
            r"|main (?:points|ideas|themes)|in a nutshell|high[- ]level|give (?:me )?an outline|big picture)\b"
            r"|\bbriefly (?:describe|explain)\b",
            _I,
        ),
    ),
    (Intent.SUMMARY, "zh_summarize", re.compile(r"总结|概述|概括|摘要|概要|综述|主要内容|要点|大意|简要介绍|简单介绍")),
    (
        Intent.HOWTO,
        "how_to",
        re.compile(
            r"^\W*how (?:do|can|should|would|could|might|may|will) (?:i|we|you|one|someone|a user|users|employees?"
            r"|staff|people)\b|\bhow to\b|\bstep[- ]by[- ]step\b|\bsteps? (?:to|for)\b|\bwhat are the steps\b"
            r"|\binstructions (?:to|for|on)\b|\bprocedure (?:to|for)\b|\bprocess (?:to|for)\b|\bwalk me through\b"
            r"|\b(?:guide|tutorial) (?:to|for|on)\b|\bwhat(?:'s| is) the (?:best )?way to\b",
            _I,
        ),
    ),
    (
        Intent.HOWTO,
        "zh_how_to",
        # 如何/怎么/怎样 ask "how" about many things ("X是怎么形成的" is factual); only a how-to at the start or
        # after a subject or modal, and not followed by 是/的/样, asks for a procedure.
        re.compile(
            r"(?:^[^\w]*|我|我们|你|用户|员工|要|该|应该|应当|才能|可以)(?:如何|怎么|怎样)(?!是|的|样|回事)"
            r"|步骤|流程|操作方法|教程|指南|怎么办|方法是什么|怎样才能|如何才能"
        ),
    ),
)

# -- embedding prototypes ----------------------------------------------------------------------------------------------
# A handful of examples per intent; the router embeds them once and compares a query with each intent's centroid.
# Factual has prototypes too, so that "nearest to how-to" has to beat "nearest to a plain question".
PROTOTYPES: dict[Intent, tuple[str, ...]] = {
    Intent.FACTUAL: (
        "What is the refund window for online orders?",
        "When was the company founded?",
        "Who approves travel expenses above the limit?",
        "Which protein regulates cell division in yeast?",
        "What does the report say about revenue in 2023?",
        "Is the warranty valid outside the country?",
        "退款期限是多少天？",
        "这家公司是什么时候成立的？",
        "谁负责审批差旅费用？",
    ),
    Intent.HOWTO: (
        "How do I reset my password?",
        "What are the steps to set up the VPN on a laptop?",
        "How can I submit an expense report?",
        "Walk me through installing the software.",
        "Instructions for configuring two-factor authentication",
        "我怎么重置密码？",
        "如何申请报销？",
        "安装软件的步骤是什么？",
    ),
    Intent.COMPARISON: (
        "Compare the basic and premium plans.",
        "What is the difference between annual leave and sick leave?",
        "How does option A differ from option B?",
        "Which is better, the standard or the express shipping?",
        "Pros and cons of remote work versus office work",
        "年假和病假有什么区别？",
        "比较一下这两个方案。",
        "A方案与B方案相比有哪些不同？",
    ),
    Intent.SUMMARY: (
        "Summarize the travel policy.",
        "Give me an overview of the employee handbook.",
        "What are the main points of this document?",
        "Briefly describe what the report covers.",
        "TL;DR of the security guidelines",
        "总结一下这份文件。",
        "这份报告的主要内容是什么？",
        "概述一下员工手册。",
    ),
    Intent.CHITCHAT: (
        "Hello, how are you?",
        "Thanks a lot, that was helpful!",
        "Good morning!",
        "Who are you?",
        "What's your name?",
        "Nice to meet you.",
        "你好，最近怎么样？",
        "谢谢你的帮助！",
        "你是谁？",
    ),
    Intent.OUT_OF_SCOPE: (
        "Write me a poem about the sea.",
        "Tell me a joke.",
        "What's the weather like tomorrow?",
        "Translate this sentence into French.",
        "Write a Python function that sorts a list.",
        "Play some music.",
        "给我写一首关于春天的诗。",
        "讲个笑话吧。",
        "明天天气怎么样？",
    ),
}
