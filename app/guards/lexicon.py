"""Word lists behind `app.guards.topics`, English and Chinese, as regex sources.

`OBJECTS`: precise harmful objects or acts; next to a request cue they make a harmful request by themselves.
`WORDS`: loose topic words; they only name the category of a text the classifier already judged harmful.
`SENSITIVE`: medical, legal and financial topic words (answered with guidance, never blocked).
"""

from __future__ import annotations

INTENT = (
    r"(?:how (?:to|do i|can i|could i|would i|should i|do you|does one|would one|can someone|do people|might one)"
    r"|ways? (?:to|of)|steps? (?:to|for)|(?:guide|tutorial|instructions?|manual|recipe|plan|strategy|script|program"
    r"|code|method|technique|tips?|article|post|message|letter|speech|story|essay|song|video|website|app|tool|bot)"
    r"\b|teach|show (?:me|us) how|explain how|tell me how|help me|give me|provide|write|create|generate|develop|"
    r"design|make|build|draft|compose|produce|describe|outline|instruct|encourage|promote|convince|persuade|"
    r"i (?:want|need|plan|intend|am going|'m going) to|step[- ]by[- ]step|best way|easiest way|can you|could you|"
    r"如何|怎么|怎样|教我|告诉我|步骤|方法|帮我|写一|生成|制定|提供)"
)

_PEOPLE = (
    r"(?:someone|somebody|a person|people|him|her|them|others|civilians|a crowd|(?:my|his|her|their|the|a|an) "
    r"(?:wife|husband|partner|boss|neighbou?r|teacher|child|kid|baby|mother|father|family|ex|girlfriend|boyfriend|"
    r"co-?worker|classmate|president|politician|officer|police(?:man)?|man|woman|person|crowd|students?|enemy))"
)

OBJECTS: dict[str, str] = {
    "self_harm": (
        r"\b(?:kill(?:ing)? myself|end(?:ing)? (?:my|his|her) (?:own )?life|take my (?:own )?life|"
        r"commit(?:ting)? suicide|suicide (?:methods?|notes?|pact)|painless (?:way to die|death|suicide)|"
        r"(?:hurt|harm|cut)(?:t?ing)? myself|self[- ]harm|starv(?:e|ing) myself|overdose on|pro-?ana\b|"
        r"(?:promotes?|encourag\w*|glorif\w*) (?:suicide|self[- ]harm|anorexia|bulimia|eating disorders?))"
        r"|自杀|自残|自伤|割腕|轻生|结束(?:我|自己)的生命|不想活|怎么死|跳楼|上吊"
    ),
    "sexual": (
        r"\b(?:porn\w*|sexually explicit|explicit sex\w*|erotic (?:story|stories|content|roleplay)|"
        r"(?:nude|naked) (?:photos?|images?|pictures?)|sex(?:ual)? (?:with|content involving|acts? with) (?:a )?"
        r"(?:minor|child|kid|teen)|child (?:sexual|porn)|csam|sexuali[sz]e (?:a )?(?:minor|child)|"
        r"deepfake (?:porn|nudes?)|revenge porn|prostitut\w*|escort services?)"
        r"|色情|黄色小说|裸照|裸体照片|性交易|卖淫|嫖娼|成人视频|儿童色情"
    ),
    "violence": (
        r"\b(?:bombs?|explosives?|ieds?|pipe bombs?|grenades?|molotov|napalm|detonators?|nerve agents?|sarin|ricin|"
        r"anthrax|mustard gas|(?:chemical|biological) weapons?|bio-?weapons?|nuclear (?:weapons?|bombs?|devices?)|"
        r"dirty bombs?|untraceable (?:guns?|firearms?|weapons?)|ghost guns?|3d[- ]printed guns?|silencers?|"
        r"(?:assault|automatic) (?:rifles?|weapons?)|weaponi[sz]e\w*|mass shootings?|terror(?:ist)? attacks?|"
        r"school shootings?|massacres?)\b|\b(?:kill|murder|assassinate|poison|strangle|stab|shoot|behead|torture|"
        rf"kidnap|maim|injure|hurt|attack|assault|beat up)\s+{_PEOPLE}"
        r"|(?:制作|制造|组装|自制|合成)(?:一个|一枚|一把)?(?:炸弹|炸药|爆炸物|燃烧瓶|枪支?|手枪|毒气|生化武器|武器)"
        r"|(?:杀死|杀掉|杀害|谋杀|暗杀|毒死|砍死|捅死|伤害|绑架)(?:一个人|别人|他人|某人|他|她|他们|我的)|恐怖袭击"
    ),
    "hate": (
        r"\b(?:hate speech|hateful (?:content|messages?|speech|posts?|rhetoric)|racist (?:jokes?|content|messages?|"
        r"posts?|propaganda|speech)|racial slurs?|white supremac\w*|nazi propaganda|(?:inferior|subhuman) (?:races?|"
        r"people|groups?)|ethnic cleansing|incit\w* (?:hatred|violence|racial)|promot\w* (?:hatred|racism|"
        r"discrimination)|discriminat\w* against|dehumani[sz]\w*)"
        r"|种族歧视|仇恨言论|劣等(?:民族|种族)|种族灭绝|煽动仇恨"
    ),
    "privacy": (
        r"\b(?:dox\w*|personal (?:information|data|details) (?:of|about) \w+|home address(?:es)? (?:of|for)|"
        r"(?:find|get|obtain|look up|track down) (?:someone's|a person's|his|her|their|people's)(?: home)? "
        r"(?:address|phone number|location|social security number|passwords?|emails?)|stalk\w*|spy(?:ing)? on|"
        r"track(?:ing)? (?:someone|somebody|a person|my (?:wife|husband|partner|girlfriend|boyfriend|ex|employees?)|"
        r"(?:his|her|their) (?:location|phone|movements))|without (?:their|his|her|the person's|people's|users') "
        r"(?:knowledge|consent|permission)|hidden cameras?|secretly (?:record|film|track|monitor|watch)|wiretap\w*|"
        r"read (?:someone's|his|her|their) (?:private )?(?:messages|emails|texts)|access (?:someone's|"
        r"another person's|his|her) (?:account|email|phone|messages))"
        r"|人肉(?:搜索)?|查(?:到|找|询)?(?:他|她|某人|别人)的(?:住址|地址|电话|身份证)|家庭住址|偷拍|窃听"
        r"|监视(?:他|她|别人)|跟踪(?:他|她|别人|某人)"
    ),
    "crime": (
        r"\b(?:hack(?:ing)? (?:into|in to)|break(?:ing)? into|unauthori[sz]ed access|crack(?:ing)? (?:a |the |"
        r"someone's )?(?:password|wifi|account)s?|steal\w*|shoplift\w*|rob (?:a|the)\b|launder\w* money|"
        r"money laundering|counterfeit\w*|forg(?:e|ing) (?:a |documents|signatures?|checks?|ids?)|identity theft|"
        r"insider trading|manipulat\w* (?:the )?(?:stock|market)|tax evasion|evad\w* taxes|commit\w* (?:fraud|"
        r"a crime|crimes|insurance fraud|tax fraud|arson)|fraud\w*|scam\w*|phishing|ransomware|malware|keyloggers?|"
        r"spyware|botnets?|ddos|(?:computer )?virus(?:es)? that|trojan|exploit\w* (?:a |the )?(?:software )?"
        r"vulnerabilit\w*|smuggl\w*|traffick\w*|(?:synthesi[sz]e|make|cook|produce|manufacture) (?:meth|"
        r"methamphetamine|cocaine|heroin|fentanyl|crack|lsd|mdma|illegal drugs|drugs)|(?:buy|sell|obtain) "
        r"(?:illegal )?(?:drugs|guns|firearms|weapons) (?:online|without|illegally)|brib\w*|extort\w*|"
        r"blackmail\w*|cheat\w* on (?:an? )?(?:exam|test)|plagiari[sz]\w*|pira(?:te|ted|cy)|without (?:getting )?"
        r"(?:caught|detected)|avoid\w* (?:getting caught|detection|the police)|evad\w* (?:the )?(?:police|"
        r"law enforcement|detection|security)|fake news|disinformation|propaganda|false (?:information|"
        r"accusations)|defam\w*|cyberbully\w*|harass\w*)"
        r"|入侵|黑进|破解(?:密码|账号)|盗取|偷窃|盗窃|诈骗|骗取|钓鱼(?:邮件|网站)|木马|勒索(?:软件|病毒)"
        r"|洗钱|伪造|假币|走私|贩毒|制毒|毒品|冰毒|逃税|行贿|敲诈|谣言|假新闻"
    ),
}

WORDS: dict[str, str] = {
    "self_harm": r"\b(?:suicid\w*|self[- ]harm|anorexi\w*|bulimi\w*|eating disorders?|overdos\w*)|自杀|自残|厌食",
    "sexual": r"\b(?:porn\w*|sexual\w*|sex|erotic\w*|nude|naked|prostitut\w*)\b|色情|裸|卖淫",
    "violence": (
        r"\b(?:bombs?|explosiv\w*|weapons?|firearms?|guns?|kill\w*|murder\w*|assassinat\w*|violen\w*|terror\w*|"
        r"shoot\w*|stab\w*|poison\w*|assault\w*|attack\w*|hurt|harm|injur\w*|torture|kidnap\w*)\b"
        r"|炸弹|炸药|武器|枪|杀|暴力|恐怖"
    ),
    "hate": (
        r"\b(?:hate|hatred|racis\w*|slurs?|supremac\w*|nazi\w*|discriminat\w*|bigot\w*|xenophob\w*|homophob\w*|"
        r"antisemit\w*|religious minority|minorit\w*|ethnic\w*)\b|歧视|仇恨|种族"
    ),
    "privacy": (
        r"\b(?:privacy|private|personal (?:information|data)|surveil\w*|spy\w*|track\w*|stalk\w*|monitor\w*|"
        r"address|location)\b|隐私|个人信息|监视|跟踪|身份证"
    ),
    "crime": (
        r"\b(?:hack\w*|steal\w*|theft|fraud\w*|scam\w*|illegal\w*|crime\w*|criminal|malware|virus\w*|exploit\w*|"
        r"drugs?|launder\w*|counterfeit\w*|cheat\w*|manipulat\w*|fake|false|mislead\w*|spam\w*|evad\w*|bypass\w*)\b"
        r"|犯罪|违法|黑客|诈骗|毒品|盗"
    ),
}

SENSITIVE: dict[str, str] = {
    "medical": (
        r"\b(?:symptoms?|diagnos\w*|treat(?:ment|ing)?|medications?|medicines?|dosages?|doses?|side effects?|"
        r"prescri\w*|diseases?|illness|infections?|cancer|tumou?rs?|diabetes|blood pressure|pain|fever|pregnan\w*|"
        r"vaccin\w*|antibiotics?|surgery|therapy|mental health|depress\w*|anxiety|doctor|ibuprofen|paracetamol|"
        r"insulin|drug interactions?|rash|allerg\w*)\b"
        r"|症状|诊断|治疗|吃药|用药|药物|剂量|副作用|处方|疾病|感染|癌|肿瘤|糖尿病|血压|疼|发烧|怀孕"
        r"|疫苗|抗生素|手术|抑郁|焦虑|看医生"
    ),
    "legal": (
        r"\b(?:lawyer|attorney|sue|suing|lawsuit|legal (?:advice|action|rights)|contracts?|court|custody|divorce|"
        r"visa|immigration|tenant|landlord|evict\w*|copyright|patent|liabilit\w*|(?:my )?will and testament|"
        r"inheritance|arrest\w*|criminal record|is it legal|illegal to)\b"
        r"|法律|律师|起诉|合同|诉讼|离婚|抚养权|签证|移民|房东|租客|版权|专利|赔偿|违法吗|合法吗"
    ),
    "financial": (
        r"\b(?:invest\w*|stocks?|shares|crypto\w*|bitcoin|portfolio|retirement|401k|ira|mortgage|loans?|"
        r"tax(?:es)?|savings|pension|dividends?|etfs?|index funds?|trading|forex|interest rates?|credit score|debt|"
        r"budget)\b|理财|投资|股票|基金|贷款|报税|个税|储蓄|养老金|分红|比特币|加密货币|房贷|信用卡|债务"
    ),
}
