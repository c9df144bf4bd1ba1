"""`grounded ask`: a verified answer in the terminal — sentences as they are verified (`--stream`), then the sources,
support, label and any notices; `--json` prints the API's answer object."""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.cli_ingest import _services
from app.core.errors import InvalidInputError
from app.core.filters import Filter


def cmd_ask(a: argparse.Namespace) -> int:
    from app.api.schemas import answer_out

    svc = _services()
    try:
        args = (svc.settings.default_tenant, a.collection, a.question, a.k, _filter(a.filter))
        if a.stream and not a.json:
            final = None
            for event in svc.kb.answer_stream(*args):
                if event.answer is not None:
                    final = event.answer
                else:
                    assert event.data is not None
                    print(event.data["text"], end=" ", flush=True)
            print()
            assert final is not None
            ans = final
        else:
            ans = svc.kb.answer(*args)
    finally:
        svc.close()
    data = answer_out(ans)
    if a.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(format_answer(data, body=not a.stream or ans.refused))
    return 0


def format_answer(data: dict[str, Any], body: bool = True) -> str:
    lines = [data["answer"]] if body else []
    if data["refused"]:
        lines.append(f"(reason: {data['reason']})")
    for note in data["notices"]:
        lines.append(f"Note: {note}")
    if data["citations"]:
        lines.append("\nSources:")
        lines += [
            f"  [{c['n']}] {c['external_id']}"
            + (f", p.{c['page']}" if c["page"] else "")
            + (f", {c['section']}" if c["section"] else "")
            for c in data["citations"]
        ]
    if data["source"] == "faq":
        lines.append(f"(approved answer from the Q&A library, match {data['faq']['score']:.2f})")
    elif not data["refused"]:
        removed = sum(1 for v in data["verdicts"] if not v["kept"])
        fixed = sum(1 for v in data["verdicts"] if v["corrected"])
        extra = (f", {removed} unsupported sentence(s) removed" if removed else "") + (
            f", {fixed} citation(s) corrected" if fixed else ""
        )
        lines.append(f"support {data['support']:.2f}{extra} · {data['label'].get('text', '')}")
    return "\n".join(lines)


def _filter(raw: str | None) -> Filter | None:
    if not raw:
        return None
    try:
        return Filter.model_validate_json(raw)
    except ValueError as e:
        raise InvalidInputError(f"--filter is not a valid filter: {e}", "filters") from e


def add_ask_command(sub: Any) -> None:
    s = sub.add_parser("ask", help="a verified, cited answer (or a refusal with the reason)")
    s.add_argument("question")
    s.add_argument("--collection", "-c", required=True)
    s.add_argument("-k", type=int, default=None)
    s.add_argument("--filter", help='filter JSON, e.g. \'{"must":[{"key":"file_type","match":{"value":"pdf"}}]}\'')
    s.add_argument("--stream", action="store_true", help="print each sentence as soon as it is verified")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_ask)
