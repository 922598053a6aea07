"""``cm archive verify``: check every archived config against its sha256."""

from campaigns import archive


def register(subparsers) -> None:
    parser = subparsers.add_parser("archive", help="the YAML archive of as-run configs")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify", help="report any archived file that was altered, removed or added"
    )
    verify.set_defaults(handler=handle_verify)


def handle_verify(options, stdout, stderr) -> int:
    checked, findings = archive.verify()
    for finding in findings:
        stderr.write(f"TAMPERED {finding}")
    if findings:
        root = archive.archive_root()
        stderr.write(f"{len(findings)} problem(s) in {checked} archived config(s) under {root}")
        return 1
    stdout.write(
        f"ok: {checked} archived config(s) match their sha256 under {archive.archive_root()}"
    )
    return 0
