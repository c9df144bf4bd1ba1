"""Instructions aimed at the model, in Chinese ("忽略之前的指令"): injection, jailbreak and exfiltration rules.

These rules only run on text that contains CJK characters (their trigger). Lines are kept short because a CJK
character is two columns wide.
"""

from __future__ import annotations

import re

from app.guards.rules import Rule

_IN_DOC = frozenset({"input", "document"})
_DOC = frozenset({"document"})


def _zh(name: str, category: str, reason: str, pattern: str, kinds: frozenset[str] = _IN_DOC) -> Rule:
    return Rule(name, category, re.compile(pattern, re.IGNORECASE), kinds, reason, ())


_IGNORE = (
    r"(?:忽略|忽视|无视|忘记|忘掉|不要理会|不用理会|别管|跳过|覆盖"
    r"|放弃|抛开|不再遵守|不要遵守|不要遵循)"
)
_PRIOR = (
    r"(?:之前|以前|先前|此前|上面|上述|以上|前面|前述|原来|原先|原有"
    r"|所有|全部|一切|系统|你的|默认)"
)
_ORDERS = (
    r"(?:指令|指示|提示词?|规则|要求|设定|设置|说明|命令|约束|限制"
    r"|任务|准则|规定|对话)"
)
_ANSWER = r"(?:回答|回复|答复|输出|回应|总结)"
_ADD = r"(?:加入|包含|添加|插入|附上|写上|附加|嵌入|提到|加上)"
_SEND = r"发送|发到|上传|转发|泄露|提交"
_PRIVATE = r"对话|聊天记录|密码|令牌|密钥|个人信息|用户信息|系统提示"
_ADDRESS = r"(?:https?://|www\.|[\w.-]+@[\w-]+\.)"

ZH_INJECTION: tuple[Rule, ...] = (
    _zh("zh-ignore", "injection", "要求忽略之前的指令", rf"{_IGNORE}.{{0,6}}?{_PRIOR}.{{0,8}}?{_ORDERS}"),
    _zh(
        "zh-new-instructions",
        "injection",
        "宣布新的指令",
        r"(?:新的|最新的?|重要的?|紧急的?|更新的?)(?:系统)?(?:指令|指示|任务)\s*[:：]"
        r"|(?:以下|下面|接下来)(?:是|为)(?:你的)?(?:新|真正的)(?:的)?(?:指令|任务|设定)"
        r"|你(?:的)?(?:新|真正的)(?:任务|指令|角色)(?:是|为)",
    ),
    _zh(
        "zh-prompt-leak",
        "injection",
        "试图获取系统提示词",
        r"(?:输出|显示|打印|泄露|透露|告诉我|重复|复述|给我看|说出|翻译)(?:一下|出)?"
        r"(?:你的|你收到的)?(?:全部|所有|完整的?)?(?:系统提示词?|系统指令|系统消息"
        r"|初始(?:提示|指令)|原始(?:提示|指令)|隐藏(?:的)?(?:提示|指令)|内部指令|提示词)",
    ),
    _zh(
        "zh-steer-response",
        "injection",
        "要求在回答中加入内容",
        rf"{_ADD}.{{0,30}}?(?:到|在|于)?你的{_ANSWER}"
        rf"|(?:在|于)?你的{_ANSWER}(?:中|里|末尾|开头|结尾|最后)(?:必须|一定要|务必|请)?{_ADD}"
        rf"|在{_ANSWER}(?:末尾|开头|结尾|最后)(?:必须|一定要|务必|请)?{_ADD}",
        _DOC,
    ),
    _zh(
        "zh-address-model",
        "injection",
        "向阅读文档的AI发出指令",
        r"(?:AI|人工智能|大模型|语言模型|AI ?助手|智能助手|聊天机器人|ChatGPT)(?:们)?[,，]?\s*"
        r"(?:请注意|注意|须知|你必须|必须|应当|请你|请务必)"
        r"|如果你是(?:一个)?(?:AI|人工智能|语言模型|大模型|助手)",
        _DOC,
    ),
    _zh(
        "zh-override-claim",
        "injection",
        "宣布之前的指令作废",
        r"(?:之前|以上|上述|原来|先前|此前|所有)的?(?:指令|规则|设定|要求|命令)(?:已经?|均|全部|都)?"
        r"(?:作废|失效|无效|取消|被取消|不再有效)",
    ),
    _zh(
        "zh-model-at-work",
        "injection",
        "对正在处理本文的AI下指令",
        r"(?:AI|人工智能|大模型|语言模型|助手)(?:在|于)?(?:总结|回答|阅读|处理|翻译)"
        r"(?:本文|此文|这篇|该文档|本页|本邮件|时).{0,20}?(?:必须|务必|请|应当|需要)",
        _DOC,
    ),
    _zh("zh-hide-from-user", "injection", "要求对用户隐瞒", r"(?:不要|别|不许|不能)(?:告诉|通知|提醒|让)用户"),
)

ZH_JAILBREAK: tuple[Rule, ...] = (
    _zh(
        "zh-jailbreak",
        "jailbreak",
        "越狱:要求无视限制",
        r"(?:你现在是|从现在(?:开始|起)[,，]?\s*你(?:是|将|要|就是)?|扮演|假装(?:你是)?|模拟|进入)"
        r".{0,40}?(?:没有|不受|无|不需要遵守|摆脱|突破|无视)(?:任何)?"
        r"(?:限制|约束|规则|道德|审查|过滤|伦理|政策)"
        r"|(?:开发者|越狱|上帝|无限制|无审查|无过滤)模式"
        r"|(?:不要|不能|不许|永远不要|不得)拒绝(?:任何|我的)",
    ),
)

ZH_EXFILTRATION: tuple[Rule, ...] = (
    _zh(
        "zh-send-data",
        "exfiltration",
        "要求把隐私数据发送到外部地址",
        rf"(?:{_SEND})(?:给|到|至)?.{{0,30}}?(?:{_PRIVATE}).{{0,30}}?{_ADDRESS}"
        rf"|(?:把|将).{{0,20}}?(?:{_PRIVATE}).{{0,20}}?(?:{_SEND})(?:给|到|至)?.{{0,10}}?{_ADDRESS}",
    ),
)
