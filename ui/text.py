"""Safe display of user-controlled text (file names, notes from file metadata) in Streamlit markdown."""

from __future__ import annotations

import re

# Characters that start markdown or Streamlit syntax: emphasis, code, links/images and :color[...]
# directives, headings, tables, raw HTML, strike-through, LaTeX. CommonMark lets any ASCII punctuation be
# backslash-escaped, so escaping these renders them literally.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$])")


def md_escape(text: str) -> str:
    """`text` with markdown/HTML syntax characters backslash-escaped, so it renders literally."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))
