"""``cm alarms check-rules [FILE]`` and ``cm alarms evaluate``: the alarm rules by hand."""

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("alarms", help="check the alarm rules, or judge them once")
    actions = parser.add_subparsers(dest="alarms_action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check-rules", help="validate a rules file and list its rules (exit 1 if it is bad)"
    )
    check.add_argument(
        "file", nargs="?", type=Path, help="the rules file (default: CM_ALARM_RULES)"
    )
    check.set_defaults(handler=handle_check)
    evaluate = actions.add_parser(
        "evaluate", help="one pass of the rules: open, refresh and clear alarms (the beat does it)"
    )
    evaluate.set_defaults(handler=handle_evaluate)


def handle_check(options, stdout, stderr) -> int:
    # Every cm subcommand lives in campaigns.cli, but the rules are monitoring's (which
    # imports campaigns, not the reverse): imported in the handlers, so loading campaigns
    # never loads monitoring.
    from monitoring.rules import RulesError, load_rules

    try:
        ruleset = load_rules(options.get("file"))
    except RulesError as error:
        stderr.write(str(error))
        return 1
    stdout.write(f"{ruleset.path}: version {ruleset.version}, {len(ruleset.rules)} rules")
    width = max(len(rule.name) for rule in ruleset.rules)
    for rule in ruleset.rules:
        minimum = f", min_statistics {rule.min_statistics}" if rule.min_statistics else ""
        stdout.write(
            f"  {rule.name:<{width}}  {rule.level} {rule.metric}: {rule.limits_text()}{minimum}"
        )
        stdout.write(f"  {'':<{width}}  {rule.description}")
    return 0


def handle_evaluate(options, stdout, stderr) -> int:
    from monitoring.rules import evaluate

    counts = evaluate()
    stdout.write(
        "judged {judged} objects, {checks} checks: {error} error, {warning} warning, "
        "{undefined} undefined, {clean} clean; "
        "alarms raised {raised}, refreshed {refreshed}, cleared {cleared}".format(**counts)
    )
    return 0
