"""The synthetic production's vocabulary: sizes, elements, attempts, job status codes."""

from dataclasses import dataclass, field

HOUR = 3600
DAY = 24 * HOUR

# Job status codes, one byte per job.
SUCC, FAIL, RUN, READY, HELD = range(5)
JOB_STATUS = ("succeeded", "failed", "running", "ready", "blocked")
# The quanta count each job status adds to.
COUNT_OF = ("quanta_succeeded", "quanta_failed", "quanta_running", "quanta_pending", "quanta_held")
COUNTS = (
    "quanta_expected",
    "quanta_succeeded",
    "quanta_failed",
    "quanta_running",
    "quanta_pending",
    "quanta_held",
)

# (pipeline subset, task labels, data ID dimensions) of the steps, in order.
STEPS = (
    ("step1", ("isr", "calibrateImage", "analyzeSingleVisit"), "visit"),
    ("step2a", ("consolidateVisitSummary", "makeVisitTable"), "visit"),
    ("step2b", ("fgcmBuildFromIsolatedStars", "fgcmFitCycle"), "tract"),
    ("step2d", ("finalizeCharacterization", "updateVisitSummary"), "visit"),
    ("step3", ("makeDirectWarp", "assembleCoadd", "detection", "deblend", "measure"), "tract"),
    ("step4", ("forcedPhotCcd", "forcedPhotDiffim"), "visit"),
    ("step5", ("forcedPhotObject", "writeObjectTable"), "tract"),
    ("step7", ("makeHealSparsePropertyMaps", "plotPropertyMaps"), "tract"),
)

# The current attempt's status in a running step, with weights.
RUNNING_MIX = (
    ("running", 40),
    ("succeeded", 17),
    ("reviewable", 12),
    ("accepted", 15),
    ("failed", 5),
    ("blocked", 5),
    ("launch_requested", 6),
)

# Failed-quantum errors: (error type, message, rule, flavor, action), matching
# campaigns/error_rules.yaml (tests/test_bench_smoke.py checks it with cm's classifier).
ERRORS = (
    (
        "lsst.pipe.base.AlgorithmError",
        "PSF fit did not converge (chi2 too large)",
        "pipeline-error",
        "pipelines",
        "review",
    ),
    (
        "RuntimeError",
        "Lost heartbeat from worker node; job killed by signal 9",
        "worker-lost",
        "infrastructure",
        "retry",
    ),
    (
        "MemoryError",
        "out of memory while reading the exposure",
        "out-of-memory",
        "infrastructure",
        "retry",
    ),
    (
        "FileNotFoundError",
        "DatasetNotFoundError: no calexp for this data ID",
        "missing-input",
        "configuration",
        "review",
    ),
    (
        "sqlalchemy.exc.OperationalError",
        "could not connect to server: connection reset",
        "transient-database",
        "infrastructure",
        "retry",
    ),
    (
        "lsst.pex.config.FieldValidationError",
        "config field 'doApCorr' is invalid",
        "bad-configuration",
        "configuration",
        "fail",
    ),
)
ERROR_WEIGHTS = (45, 20, 10, 12, 8, 5)


@dataclass(frozen=True)
class Size:
    campaigns: int
    steps: int
    groups: int
    workflows: int
    jobs: int
    failed_quanta: int


SIZES = {
    "tiny": Size(1, 2, 6, 10, 300, 30),  # the CI smoke test's, with "mini" to compare
    "mini": Size(1, 2, 12, 24, 900, 90),
    "small": Size(1, 3, 50, 100, 10_000, 1_000),
    "medium": Size(3, 8, 500, 1_000, 100_000, 10_000),
    "large": Size(3, 8, 5_000, 10_000, 1_000_000, 100_000),
}


@dataclass(eq=False)
class Node:
    """A production, campaign, step or group: status, times (seconds since the epoch), counts."""

    id: int
    name: str
    status: str = "waiting"
    parent: "Node | None" = None
    children: list = field(default_factory=list)
    history: list = field(default_factory=list)  # (from, to, at, reason, by_operator)
    created: int = 0
    started: int | None = None
    finished: int | None = None
    counts: list = field(default_factory=lambda: [0] * 6)
    index: int = 0  # position among its siblings
    labels: tuple = ()
    dims: str = "visit"
    subset: str = ""

    def move(self, to: str, at: int, reason: str, operator: bool = False) -> None:
        self.history.append((self.status if self.history else "", to, at, reason, operator))
        self.status = to


@dataclass(eq=False)
class Attempt:
    """One workflow: its status, where it came from, its times and its jobs' statuses."""

    id: int
    group: Node
    attempt: int
    status: str
    origin: str  # the status it finished in: succeeded, reviewable or failed (or running ...)
    created: int
    running_at: int | None = None
    finished: int | None = None
    settled: int | None = None  # accepted or superseded
    jobs: int = 0
    failed: int = 0
    codes: bytes = b""
    label_counts: dict = field(default_factory=dict)  # label -> [6 counts]
    counts: list = field(default_factory=lambda: [0] * 6)
    history: list = field(default_factory=list)
    big: bool = False

    def move(self, to: str, at: int, reason: str, operator: bool = False) -> None:
        self.history.append((self.status if self.history else "", to, at, reason, operator))
        self.status = to

    @property
    def init_failed(self) -> bool:
        return self.origin == "failed"


@dataclass
class Plan:
    size: Size
    now: int
    production: Node
    campaigns: list[Node]
    steps: list[Node]
    groups: list[Node]
    attempts: list[Attempt]


ACTIVE = {"launch_requested", "prepared", "running"}
DONE = {"succeeded", "accepted"}
OUT = {"rejected", "superseded"}


def derived_status(children: list[str]) -> str | None:
    """``campaigns.services.rollup.derived_status``, on plain strings (the smoke test compares)."""
    statuses = set(children) - OUT
    if not statuses:
        return None
    if statuses & ACTIVE:
        return "running"
    if "blocked" in statuses:
        return "blocked"
    if statuses & {"waiting", "ready", "paused"}:
        return "running" if statuses & (DONE | {"failed", "reviewable"}) else None
    if statuses <= DONE:
        return "succeeded"
    if statuses == {"failed"}:
        return "failed"
    return "reviewable"
