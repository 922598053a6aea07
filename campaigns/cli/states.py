"""``cm states``: print the statuses and transitions as Markdown, or keep a file of them current."""

from pathlib import Path

from campaigns.statedoc import render_markdown


def register(subparsers) -> None:
    parser = subparsers.add_parser("states", help="print every status and its allowed transitions")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--check", metavar="FILE", type=Path, help="exit 1 if FILE is out of date")
    target.add_argument("--write", metavar="FILE", type=Path, help="write the Markdown to FILE")
    parser.set_defaults(handler=handle)


def handle(options, stdout, stderr) -> int:
    text = render_markdown()
    if path := options.get("write"):
        path.write_text(text, encoding="utf-8")
        stdout.write(f"wrote {path}\n")
    elif path := options.get("check"):
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stderr.write(
                f"{path} is out of date with campaigns/states.py; "
                f"regenerate it: python manage.py cm states --write {path}\n"
            )
            return 1
        stdout.write(f"{path} is up to date\n")
    else:
        stdout.write(text)
    return 0
