"""A font that draws CJK characters for the attention map, and tick labels readable without one."""

from __future__ import annotations

__all__ = ["CJK_FONT_HINTS", "cjk_font", "tick_label"]

#: font families that draw CJK characters, tried in order when the attention map is plotted
CJK_FONT_HINTS = ("Noto Sans CJK", "Noto Serif CJK", "Noto Sans SC", "Source Han Sans", "WenQuanYi", "SimHei",
                  "Microsoft YaHei", "PingFang", "Hiragino Sans GB", "AR PL", "Droid Sans Fallback", "SimSun",
                  "Heiti", "STHeiti", "Arial Unicode")


def cjk_font():
    """The name of an installed font family that draws CJK characters (matplotlib's font_manager), or None."""
    from matplotlib import font_manager

    names = sorted({f.name for f in font_manager.fontManager.ttflist})
    for hint in CJK_FONT_HINTS:
        for name in names:
            if hint.lower() in name.lower():
                return name
    return None


def tick_label(token: str, font_has_cjk: bool) -> str:
    """A readable tick label: the token itself, or (no CJK font) its code point(s) for CJK characters."""
    if font_has_cjk or all(ord(c) < 0x2E80 for c in token):
        return token
    return "".join(f"U+{ord(c):04X}" if ord(c) >= 0x2E80 else c for c in token)
