"""``cm demo-repo [PATH]``: build the demo butler repository (DemoCam, raws in demo/raw)."""

from pathlib import Path

from django.conf import settings


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo-repo", help="build the demo butler repository the example production runs on"
    )
    parser.add_argument(
        "path",
        nargs="?",
        type=Path,
        metavar="PATH",
        help="where to build it (default: $CM_VAR_DIR/demo/repo)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a repository already at PATH"
    )
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when a repository is already there (what scripts/demo uses)",
    )
    parser.set_defaults(handler=handle)


def handle(options, stdout, stderr) -> int:
    # Imported here: the butler costs seconds to import, and every other cm command would pay it.
    from campaigns.demo import repo

    root = options.get("path") or Path(settings.VAR_DIR) / "demo" / "repo"
    if options.get("if_missing") and (root / "butler.yaml").exists():
        stdout.write(f"the demo butler repository is already at {root}")
        return 0
    try:
        made = repo.build_demo_repo(root, overwrite=options.get("overwrite", False))
    except repo.DemoRepoError as error:
        stderr.write(f"cm demo-repo: {error}")
        return 1
    stdout.write(
        f"built the demo butler repository at {made.root} in {made.seconds:.1f} s:\n"
        f"  instrument {repo.INSTRUMENT}: detectors 0-{made.detectors - 1}, "
        f"exposures 1-{made.exposures} (physical_filter {repo.PHYSICAL_FILTER}, "
        f"day_obs {repo.DAY_OBS})\n"
        f"  {made.datasets} {repo.RAW_DATASET_TYPE} datasets "
        f"({', '.join(repo.RAW_DIMENSIONS)}; NumpyArray) in RUN collection {repo.RAW_COLLECTION}"
    )
    return 0
