"""Safe display of user-controlled text (file names, notes from file metadata) in Streamlit markdown."""

from __future__ import annotations

import re

# Characters that start markdown or Streamlit syntax: emphasis, code, links/images, :color[...] directives
# and :emoji: / :material/icon: shortcodes (the colon too: a name like ':red[red].jpg' lost its start when
# only the brackets were escaped), headings, tables, raw HTML, strike-through, LaTeX.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$:])")
# A web address in a message: kept whole as a CommonMark autolink '<…>' (escaping inside it broke the link:
# 'u2net\_human\_seg.onnx' became 'u2net%5C_human%5C_seg.onnx'); trailing sentence punctuation stays outside.
_URL = re.compile(r"https?://[^\s<>\"'`]+?(?=[.,;:!?)\]]*(?:\s|$))")


def md_escape(text: str) -> str:
    """`text` with markdown/HTML syntax characters backslash-escaped, so it renders literally; web addresses
    become autolinks."""
    text = str(text)
    parts, last = [], 0
    for match in _URL.finditer(text):
        parts.append(_MARKDOWN_SPECIAL.sub(r"\\\1", text[last:match.start()]))
        parts.append(f"<{match.group()}>")
        last = match.end()
    parts.append(_MARKDOWN_SPECIAL.sub(r"\\\1", text[last:]))
    return "".join(parts)
