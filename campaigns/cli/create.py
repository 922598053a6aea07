"""``cm create KIND FILE``: the outline's create{Production,Campaign,Step,Group,Workflow}."""

from campaigns.services.create import KINDS, create_from_file
from campaigns.specs.problems import SpecError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "create",
        help="create elements from a YAML spec (all checked first; nothing written on error)",
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("file", help="the YAML spec")
    parser.set_defaults(handler=handle)


def handle(options, stdout, stderr) -> int:
    try:
        result = create_from_file(options["kind"], options["file"])
    except SpecError as error:
        stderr.write(str(error))
        return 1
    if result.nothing_to_do:
        stdout.write(f"nothing to do: {options['file']} matches what already exists")
        return 0
    for level, paths in result.created.items():
        more = " ..." if len(paths) > 5 else ""
        stdout.write(f"created {len(paths)} {level}(s): {', '.join(paths[:5])}{more}")
    if result.skipped:
        stdout.write(f"already present, unchanged: {len(result.skipped)} element(s)")
    stdout.write(f"archived as sha256:{result.config.sha256}")
    return 0
