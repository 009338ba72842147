"""User text shown in markdown is escaped: file names can neither format nor inject links or HTML."""

from ui.text import md_escape


def test_markdown_and_html_syntax_is_escaped():
    assert md_escape("[x](javascript:alert(1))") == "\\[x\\](javascript:alert(1))"
    assert md_escape("<b>bold</b>") == "\\<b\\>bold\\</b\\>"
    assert md_escape("**a** _b_ `c` ~d~ $e$ #f |g| :red\\[h]") == (
        "\\*\\*a\\*\\* \\_b\\_ \\`c\\` \\~d\\~ \\$e\\$ \\#f \\|g\\| :red\\\\\\[h\\]"
    )


def test_plain_text_is_unchanged():
    assert md_escape("holiday photo (1).jpg") == "holiday photo (1).jpg"
