"""Requests for a generic kind of output with no topic: "write a poem", "tell me a joke", "讲个笑话".

Such a request names nothing that could be harmful: the kind of output alone ("a poem", "some code", "a recipe") is
no hazard, and whatever it will be about is not said yet. The classifier reads these few words badly: its corpus's
short blunt directives are mostly harmful requests ("write ransomware"), and the shipped heads score "Write a poem"
0.97. Like a greeting, such a message carries no evidence about harm or about who is writing; read together with
earlier turns it is not topicless any more, and the conversation level reads it in that context as usual.

The lists are closed on purpose: a kind of output is listed only if nothing of that kind can be harmful without a
topic, so "write malware" or "give me a weapon" are never topicless.
"""

from __future__ import annotations

import re

_EN_POLITE = (
    r"please|pls|plz|pretty please|kindly|hey|hi|ok|okay|so|now|just|quick|quickly|again|go|lol|thanks|thank you|"
    r"for me|for us|real quick|if you can|if you could|would you|could you|can you|can u|will you|i want|i d like|"
    r"i would like|i need|we need|i want you to|help me|let s have|time for"
)
_EN_VERBS = (
    r"write|wirte|wite|writ|rite|compose|tell|tel|give|make|create|generate|gen|draft|draw|sketch|sing|share|say|"
    r"invent|come up with|think of|think up|suggest|recommend|rec|show|got|have|know|any|drop|hit me with|"
    r"spit|whip up|cook up|dream up|make up|pick|choose|roll|flip"
)
_EN_ARTICLES = r"a|an|me|us|me a|me an|us a|some|one|another|any|a few|few|two|three|five|ten|\d+|a couple of"
_EN_ADJECTIVES = (
    r"short|little|tiny|small|quick|brief|funny|good|great|random|new|simple|cute|nice|silly|cheesy|clean|fun|cool|"
    r"interesting|original|creative|dad|knock knock|bedtime|fairy|kids|children s|happy|cheerful|wholesome|sweet|"
    r"motivational|inspirational|inspiring|positive|fresh|easy|classic|famous|favourite|favorite|daily|lovely|"
    r"beautiful|poetic|rhyming|catchy|clever|witty|light|lighthearted|uplifting|relaxing|calming|gentle|long|"
    r"tongue|brain|fun|pun|one line|one liner|two line|three line"
)
_EN_NOUNS = (
    r"poem|poems|peom|poam|story|stories|storey|tale|tales|fairy tale|fairytale|joke|jokes|jok|pun|puns|riddle|"
    r"riddles|song|songs|tune|melody|lyrics|song lyrics|rap|rap verse|verse|haiku|haikus|limerick|limericks|sonnet|"
    r"ode|ballad|rhyme|rhymes|recipe|recipes|recipie|essay|essays|email|emial|letter|note|list|quote|quotes|"
    r"saying|proverb|fact|facts|fun fact|trivia|code|program|script|function|snippet|compliment|compliments|idea|"
    r"ideas|name|names|title|titles|slogan|slogans|caption|captions|tweet|bio|playlist|password|number|word|words|"
    r"word of the day|puzzle|puzzles|brain teaser|brain teasers|tongue twister|tongue twisters|teaser|game|drawing|"
    r"picture|doodle|paragraph|sentence|speech|toast|pickup line|pick up line|one liner|quiz|writing prompt|prompt|"
    r"book|books|movie|movies|film|podcast|show|recommendation|recommendations|something|anything|story idea|"
    r"dinner idea|gift idea|hello world"
)
_ZH_POLITE = (
    r"请|麻烦|麻烦你|帮我|帮忙|给我|能不能|能|可以|可不可以|你能|你会|会|想要|我想要|我想听|想听|求|求个|蹲|再|随便|快"
)
_ZH_VERBS = r"写|讲|来|编|说|出|推荐|唱|画|作|做|想|起|整|憋|给|分享|讲讲|说说|来点|讲点|说点"
_ZH_MEASURES = r"一|个|首|段|篇|句|条|则|几|些|点|下|一个|一首|一段|一篇|一句|一条|一则|几个|几首|几句|一些|两|三|五|十"
_ZH_ADJECTIVES = (
    r"短|小|有趣的|好玩的|好笑的|搞笑|搞笑的|简单的|可爱的|温馨的|睡前|经典|冷|新|现代|原创|励志|正能量|暖心|"
    r"好听的|好看的|有意思的"
)
_ZH_NOUNS = (
    r"诗|诗歌|现代诗|打油诗|七言绝句|五言绝句|绝句|古诗|故事|小故事|童话|童话故事|寓言|寓言故事|睡前故事|笑话|冷笑话|"
    r"段子|谜语|字谜|灯谜|脑筋急转弯|绕口令|顺口溜|歌|歌曲|歌词|菜谱|食谱|作文|邮件|代码|程序|函数|名字|名|网名|"
    r"冷知识|知识|相声|小品|名言|名人名言|金句|文案|标题|口号|广告语|谐音梗|对联|春联|歌单|书单|电影|祝福|祝福语|"
    r"情话|土味情话|灵感|点子|主意|密码|数字|画|rap|段子手|趣事|成语"
)
_EN_TRAILING = (
    r"please|pls|plz|now|for me|thanks|thank you|thx|lol|go|again|quick|quickly|real quick|then|today|ok|mate"
)
_ZH_TRAILING = r"呗|吧|吗|呀|啊|嘛|哈|好吗|好不好|一下|听听|看看|来|给我|谢谢|谢了|吧谢谢"


def _alt(words: str) -> str:
    # Longest first, so "fun fact" wins over "fun" inside a group.
    return "(?:" + "|".join(sorted(words.split("|"), key=len, reverse=True)) + ")"


_ENGLISH = re.compile(
    rf"(?:{_alt(_EN_POLITE)} )*{_alt(_EN_VERBS)}(?: {_alt(_EN_ARTICLES)})?(?: {_alt(_EN_ADJECTIVES)}){{0,3}}"
    rf" {_alt(_EN_NOUNS)}(?: {_alt(_EN_TRAILING)})*"
    rf"|(?:{_alt(_EN_POLITE)} )*(?:{_alt(_EN_ARTICLES)} )?(?:{_alt(_EN_ADJECTIVES)} ){{0,3}}{_alt(_EN_NOUNS)}"
    rf"(?: {_alt(_EN_TRAILING)})+"
)
_CHINESE = re.compile(
    rf"{_alt(_ZH_POLITE)}*{_alt(_ZH_VERBS)}{_alt(_ZH_MEASURES)}*{_alt(_ZH_ADJECTIVES)}?{_alt(_ZH_NOUNS)}"
    rf"{_alt(_ZH_TRAILING)}*"
)
_WORDS = re.compile(r"[a-z0-9]+")
_NOT_CHINESE_TEXT = re.compile(r"[^\u3400-\u9fffa-z]")
_MAX_CHARS = 60


def is_topicless_task(text: str) -> bool:
    """Whether a message only asks for a generic kind of output with no topic ("write a poem", "讲个笑话").

    Punctuation, emoji and letter case are ignored; anything beyond the closed lists (a topic, a hazard word, a
    second request) makes it not topicless.
    """
    if not text.strip() or len(text) > _MAX_CHARS:
        return False
    lowered = text.lower().replace("’", "'")
    if re.search(r"[\u3400-\u9fff]", lowered):
        return bool(_CHINESE.fullmatch(_NOT_CHINESE_TEXT.sub("", lowered)))
    words = _WORDS.findall(lowered.replace("'", " "))
    return bool(words) and bool(_ENGLISH.fullmatch(" ".join(words)))
