"""Text samples shared by the text tests."""

from pathlib import Path

SEED_DIR = Path(__file__).resolve().parents[3] / "shared" / "seed"


def seed_lines():
    """Non-empty lines of the Chinese seed article(s) in ../shared/seed (empty list when absent)."""
    for d in (SEED_DIR,):
        if d.is_dir():
            lines = []
            for p in sorted(d.glob("*.txt")):
                lines += [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
            return lines
    return []


# Hand-picked multilingual and adversarial texts (the corpora cover the bulk).
MULTILINGUAL = [
    # English, punctuation, numbers, URLs, e-mails, hashtags
    "Hello, World! It's 3:45pm -- time for tea?", "The U.S.A. (1776) & co. -> 50% off!!!",
    "Visit https://www.example.com/path?q=bert&lang=en#top or mail me@x.io", "#NLProc @user_01 RT: so coooool",
    "   leading and trailing   ", "", " ", "\t\n\r", "a", "unaffable", "don't can't won't", "naïve café résumé",
    # accented Latin, ligatures, ß, trademark, full-width letters
    "Crème brûlée à la française, ÉCOLE, Ångström, Ærøskøbing", "Straße STRASSE ß ẞ", "ﬁnance ﬂow ﬀ ﬃ",
    "Apple™ Windows® ©2024 ℃ № ½ ²", "ＡＢＣ　ｄｅｆ　１２３！？", "İstanbul ıi I i", "Ǆ ǅ ǆ Ǳ",
    "Combining: e\u0301 a\u0308 o\u0302 n\u0303 Z\u0335", "Vietnamese: Tiếng Việt có dấu, người Hà Nội",
    # Chinese, Japanese, Korean
    "今天天气很好，我们去公园散步吧！", "自然语言处理（NLP）是人工智能的一个分支。", "《红楼梦》第一回：甄士隐梦幻识通灵",
    "東京は日本の首都です。カタカナとひらがな、がぎぐげご。", "ｶﾀｶﾅ 半角カナ ﾊﾟﾋﾟﾌﾟ", "한국어 텍스트 처리: 안녕하세요! 감사합니다.",
    # Greek, Cyrillic, Arabic, Hebrew, Hindi, Thai
    "Η γρήγορη καφέ αλεπού ΟΔΟΣ ΣΟΦΙΑΣ", "Съешь же ещё этих мягких французских булок, да выпей чаю. ЁЛКА",
    "مرحبا بالعالم! هذا نص عربي مع تشكيل: مُحَمَّد", "שלום עולם", "नमस्ते दुनिया, यह हिन्दी है।",
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    # emoji, ZWJ sequences, variation selectors, flags, skin tones
    "I ❤️ NLP 😀😂🤣 👍🏽 👨‍👩‍👧‍👦 🇺🇸🇨🇳 ✌︎", "new emoji 🥲 🫠 🫶 🪿", "♥♦♣♠ ★☆ ✓✗ →←↑↓",
    # control, zero-width, bidi marks, soft hyphen, BOM, private use, replacement char
    "zero\u200bwidth\u200cjoin\u200dmark\u2060x\ufeffy", "soft\u00adhyphen", "bidi\u200e\u200f\u202a\u202ctext",
    "ctrl\x01\x07\x1b\x7f\x85chars", "nul\x00byte", "private\ue000use\uf8ff", "replace\ufffdment",
    "line\u2028sep\u2029para", "nbsp\u00a0thin\u2009ideo\u3000space", "tab\tand\vvt\x0cff",
    # full-width and CJK punctuation, quotes, dashes
    "“smart quotes” ‘single’ «guillemets» „low“ — en–dash … ellipsis", "【括号】〔龟甲〕「引号」『双引号』、。・",
    "math: ∑∫√∞≈≠≤≥ ± × ÷ µ ° ′ ″", "currency: $5 €10 £3 ¥100 ₹50 ₩1000 ₿",
    # long words
    "a" * 99, "b" * 100, "c" * 101, "supercalifragilisticexpialidocious" * 3, "я" * 60, "中" * 150,
    "x" * 300 + " short", "🙂" * 101,
    # messy web text
    "<p>Some <b>HTML</b>&nbsp;&amp; entities</p>", "C:\\Users\\name\\file.txt", "snake_case camelCase kebab-case",
    "1,234,567.89 3.14e-10 0x1F 2024-01-01T12:00:00Z", "lol!!!!!???....,,,,;;;", "ALL CAPS SHOUTING!!!",
]

# Special tokens written literally in the text (special_tokens_in_strings parity, both settings).
SPECIAL_TEXTS = [
    "Paris is the [MASK] of France.", "x[MASK]y [mask] [CLS][SEP] [UNK] [PAD]", "[[MASK]] [MASK", "[MASK]",
    "é[MASK]\u0301", " [MASK] ", "", "a [MA\u200bSK] b", "自然[MASK]言[SEP]处理", "[CLSxxxxx]", "[ MASK ]",
    "[Mask] [SEP]] [[SEP]", "\u00a0[SEP]\u3000[CLS]\x00[PAD]", "[MASK]" * 5, "Ünïcödé [UNK]!",
]
