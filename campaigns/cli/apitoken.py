"""``cm api-token USER [--rotate]``: the token a script sends to the REST API as that user."""

from django.contrib.auth import get_user_model
from django.db import transaction

from campaigns.api.permissions import OPERATOR, SHIFTER, has_role
from campaigns.errors import CampaignError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "api-token", help="print a user's REST API token, making it on first use"
    )
    parser.add_argument("username", metavar="USER", help="the cm user the token acts as")
    parser.add_argument(
        "--rotate", action="store_true", help="replace the token: the old one stops working"
    )
    parser.set_defaults(handler=handle)


def handle(options, stdout, stderr) -> int:
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.filter(username=options["username"]).first()
    if user is None:
        raise CampaignError(f"no cm user {options['username']!r} (users are made in the admin)")
    with transaction.atomic():
        if options["rotate"]:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
    if not user.is_active:
        stderr.write(f"{user.username} is inactive: the API refuses this token until reactivated")
    elif not has_role(user, SHIFTER):
        stderr.write(f"{user.username} has no role: the API answers 403 until given one")
    elif not has_role(user, OPERATOR):
        stderr.write(f"{user.username} is a shifter: reads and acknowledges, no other actions")
    stdout.write(token.key)
    return 0
