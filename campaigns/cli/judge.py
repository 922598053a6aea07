"""``cm validate|invalidate PATH...``: the outline's validate{X} and invalidate{X}."""

import getpass

from django.contrib.auth import get_user_model

from campaigns.errors import CampaignError
from campaigns.services import actions, invalidation
from campaigns.services.lookup import element_by_path


def register(subparsers) -> None:
    validate = subparsers.add_parser("validate", help="mark elements good and ready (accepted)")
    _common(validate)
    validate.set_defaults(handler=handle_validate)
    invalidate = subparsers.add_parser(
        "invalidate", help="mark elements bad (rejected); a dry run unless --execute"
    )
    _common(invalidate)
    invalidate.add_argument(
        "--purge", action="store_true", help="also delete their RUN collections and datasets"
    )
    invalidate.add_argument(
        "--execute", action="store_true", help="do it (without it: show what would be done)"
    )
    invalidate.set_defaults(handler=handle_invalidate)


def _common(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="production/campaign/step/group")
    parser.add_argument("--reason", required=True, help="why (kept in the history)")
    parser.add_argument(
        "--as", dest="username", default=getpass.getuser(), help="the cm user acting"
    )


def _user(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CampaignError(f"no cm user {username!r}: pass --as USER (a user of cm's admin)")
    return user


def _elements(paths: list[str]) -> list:
    elements = [element_by_path(path) for path in paths]
    if len({type(e) for e in elements}) > 1:
        raise CampaignError("give paths of one level at a time (e.g. only groups)")
    return elements


def handle_validate(options, stdout, stderr) -> int:
    user = _user(options["username"])
    count = actions.validate(_elements(options["paths"]), user=user, reason=options["reason"])
    stdout.write(f"validated {count} element(s)")
    return 0


def handle_invalidate(options, stdout, stderr) -> int:
    report = invalidation.invalidate(
        _elements(options["paths"]),
        user=_user(options["username"]),
        reason=options["reason"],
        purge=options["purge"],
        execute=options["execute"],
    )
    for line in report.lines():
        stdout.write(line)
    if not options["execute"]:
        stdout.write("dry run: nothing was changed; add --execute to do it")
    return 0
