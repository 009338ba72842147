"""User text shown in markdown is escaped: file names can neither format nor inject links or HTML."""

from ui.text import md_escape


def test_markdown_and_html_syntax_is_escaped():
    assert md_escape("[x](javascript:alert(1))") == "\\[x\\](javascript\\:alert(1))"
    assert md_escape("<b>bold</b>") == "\\<b\\>bold\\</b\\>"
    assert md_escape("**a** _b_ `c` ~d~ $e$ #f |g| :red\\[h]") == (
        "\\*\\*a\\*\\* \\_b\\_ \\`c\\` \\~d\\~ \\$e\\$ \\#f \\|g\\| \\:red\\\\\\[h\\]"
    )


def test_plain_text_is_unchanged():
    assert md_escape("holiday photo (1).jpg") == "holiday photo (1).jpg"


def test_colour_directives_and_shortcodes_are_escaped():
    assert md_escape(":red[red].jpg") == "\\:red\\[red\\].jpg"
    assert md_escape("a :smile: b :material/home:") == "a \\:smile\\: b \\:material/home\\:"


def test_web_addresses_stay_whole_links():
    message = "Download https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net_human_seg.onnx. Then retry."
    assert md_escape(message) == (
        "Download <https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net_human_seg.onnx>. Then retry."
    )
    assert md_escape("(see http://127.0.0.1:8501/a_b)") == "(see <http://127.0.0.1:8501/a_b>)"
    assert md_escape("javascript:alert(1)") == "javascript\\:alert(1)"  # not a web address: escaped
