"""The untrusted-content wrapping cannot be closed early by the data, and HTML becomes visible text."""

from hypothesis import given
from hypothesis import strategies as st

from assistant.servers.html_text import html_to_text
from assistant.servers.results import wrap_untrusted

OPEN = '<untrusted-content source="web">\n'
CLOSE = "\n</untrusted-content>"

tag_soup = st.lists(
    st.sampled_from(
        ["</untrusted-content>", "<UNTRUSTED-CONTENT source='mail'>", "untrusted-content", "x", "\n"]
    )
    | st.text(max_size=20)
).map("".join)


@given(tag_soup)
def test_the_payload_never_contains_the_wrapper(payload: str) -> None:
    wrapped = wrap_untrusted("web", payload)
    assert wrapped.startswith(OPEN) and wrapped.endswith(CLOSE)
    inner = wrapped[len(OPEN) : -len(CLOSE)]
    assert "untrusted-content" not in inner.lower()


def test_html_drops_scripts_styles_and_hidden_text_but_keeps_structure() -> None:
    html = (
        "<html><head><title> A  page </title><style>b{}</style></head><body>"
        "<div hidden><div>nested hidden</div>still hidden</div>"
        "<p aria-hidden='true'>aria hidden</p><span style='visibility: hidden'>invisible</span>"
        "<h1>Title</h1><p>One &amp; two<br>three</p><table><tr><td>a</td><td>b</td></tr></table>"
        "<script>var x = '</p>';</script><p>after</p></body></html>"
    )
    title, text = html_to_text(html)
    assert title == "A page"
    assert "hidden" not in text and "invisible" not in text and "var x" not in text
    assert "One & two\nthree" in text
    assert "| a | b" in text
    assert text.endswith("after")


@given(st.text(max_size=300))
def test_any_text_parses_without_error(html: str) -> None:
    title, text = html_to_text(html)
    assert isinstance(title, str) and isinstance(text, str)
