"""``cm validate|invalidate PATH...``: the outline's validate{X} and invalidate{X}."""

import getpass

from django.contrib.auth import get_user_model

from campaigns.errors import CampaignError
from campaigns.services import actions, audit, invalidation
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
    user, elements, reason = (
        _user(options["username"]),
        _elements(options["paths"]),
        options["reason"],
    )
    # Not atomic: validate commits before it updates the butler (campaigns.services.audit).
    with audit.audited(
        "validate",
        elements,
        user=user,
        via=audit.Via.CLI,
        parameters={"reason": reason},
        atomic=False,
    ):
        count = actions.validate(elements, user=user, reason=reason)
    stdout.write(f"validated {count} element(s)")
    return 0


def handle_invalidate(options, stdout, stderr) -> int:
    user, elements = _user(options["username"]), _elements(options["paths"])
    parameters = {key: options[key] for key in ("reason", "purge", "execute")}
    with audit.audited(
        "invalidate", elements, user=user, via=audit.Via.CLI, parameters=parameters, atomic=False
    ) as outcome:
        report = invalidation.invalidate(
            elements,
            user=user,
            reason=options["reason"],
            purge=options["purge"],
            execute=options["execute"],
        )
        if not options["execute"]:
            outcome.result = audit.Result.DRY_RUN
    for line in report.lines():
        stdout.write(line)
    if not options["execute"]:
        stdout.write("dry run: nothing was changed; add --execute to do it")
    return 0
