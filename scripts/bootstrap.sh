# shellcheck shell=bash
# Set up cm's Python environment and put it first on PATH.
#
#   source scripts/bootstrap.sh      (what scripts/demo, scripts/test and .ci/run do)
#   bash scripts/bootstrap.sh        (set up only)
#
# 1. Finds a Python >= 3.12: $CM_PYTHON if set, else python3.12 (the Python the lock was made
#    with), python3.13, python3 on PATH, else pyenv's newest 3.12.x, else pyenv's newest >= 3.12
#    (run by absolute path, so pyenv shims that refuse to run without PYENV_VERSION do not matter).
# 2. Creates .venv in the repository root if it is missing, broken or older than 3.12.
# 3. Installs requirements/dev.txt under the lock requirements/constraints.txt, but only when
#    requirements/*.txt changed since the last successful install (stamp:
#    .venv/.cm-requirements.sha256). A run with nothing to do takes well under a second.
# 4. Exports CM_ROOT, VIRTUAL_ENV and PATH (with .venv/bin first).
#
# Written to work both under `set -euo pipefail` and without it: every failure is handled
# explicitly and returns (when sourced) or exits (when run) with status 1.

_cm_min_python="3.12"

_cm_say() { printf 'cm: %s\n' "$*" >&2; }

# Succeeds when "$1" runs and is a Python >= 3.12.
_cm_python_ok() {
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1
}

_cm_python_version() {
    "$1" -c 'import platform; print(platform.python_version())' 2>/dev/null
}

# Prints the command of a usable base interpreter, or fails.
_cm_find_python() {
    local candidate root version
    if [[ -n "${CM_PYTHON:-}" ]]; then
        if _cm_python_ok "$CM_PYTHON"; then
            printf '%s\n' "$CM_PYTHON"
            return 0
        fi
        _cm_say "error: CM_PYTHON=$CM_PYTHON is not a working Python >= $_cm_min_python"
        return 1
    fi
    for candidate in python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && _cm_python_ok "$candidate"; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    if command -v pyenv >/dev/null 2>&1; then
        root="$(pyenv root 2>/dev/null)" || root=""
        # Plain X.Y.Z releases only (no -dev, free-threaded "t" builds or virtualenvs): 3.12.x
        # first (the lock's Python), then the others, newest first.
        while IFS= read -r version; do
            candidate="$root/versions/$version/bin/python"
            if [[ -n "$root" && -x "$candidate" ]] && _cm_python_ok "$candidate"; then
                printf '%s\n' "$candidate"
                return 0
            fi
        done < <(pyenv versions --bare 2>/dev/null \
            | grep -E '^[0-9]+\.[0-9]+\.[0-9]+$' \
            | sort -t. -k1,1nr -k2,2nr -k3,3nr \
            | awk '/^3\.12\./ { print; next } { rest[n++] = $0 } END { for (i = 0; i < n; i++) print rest[i] }')
    fi
    _cm_say "error: no Python >= $_cm_min_python found (tried \$CM_PYTHON, python3.12, python3.13, python3, pyenv)."
    _cm_say "  Install one, e.g. 'pyenv install 3.12' or your system's python3.12 package"
    _cm_say "  (with its venv module), or point CM_PYTHON at it: CM_PYTHON=/path/to/python3.12 scripts/test"
    return 1
}

# Prints the sha256 of requirements/*.txt (names and contents), computed by the given Python.
_cm_requirements_hash() {
    "$1" - "$CM_ROOT/requirements" <<'EOF'
import hashlib
import pathlib
import sys

digest = hashlib.sha256()
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.txt")):
    digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
print(digest.hexdigest())
EOF
}

_cm_install_requirements() {
    local venv="$1" want="$2" log="$1/.cm-pip.log"
    _cm_say "installing dependencies (about a minute the first time)"
    rm -f "$venv/.cm-requirements.sha256"
    if ! "$venv/bin/python" -m pip install -q \
        -r "$CM_ROOT/requirements/dev.txt" -c "$CM_ROOT/requirements/constraints.txt" \
        >"$log" 2>&1; then
        # This machine's pip configuration names index directories that may not exist; pip
        # warns once per package about them. Show everything else.
        grep -v -e 'is ignored: it is neither a file nor a directory' "$log" | tail -n 40 >&2
        _cm_say "error: installing dependencies failed (full output: $log)"
        return 1
    fi
    printf '%s\n' "$want" >"$venv/.cm-requirements.sha256"
    _cm_say "dependencies installed"
}

# Creates .venv with a base Python >= 3.12.
_cm_create_venv() {
    local venv="$1" python version
    python="$(_cm_find_python)" || return 1
    version="$(_cm_python_version "$python")"
    _cm_say "creating virtualenv with Python $version"
    if ! "$python" -m venv "$venv"; then
        rm -rf "$venv"
        _cm_say "error: '$python -m venv' failed (on Debian/Ubuntu: apt install python${version%.*}-venv)"
        return 1
    fi
}

_cm_setup_venv() {
    local venv="$CM_ROOT/.venv" version want have
    if [[ -e "$venv" || -L "$venv" ]] && ! _cm_python_ok "$venv/bin/python"; then
        version="$(_cm_python_version "$venv/bin/python")" || version=""
        _cm_say "recreating .venv (its Python is ${version:-missing or broken}; need >= $_cm_min_python)"
        rm -rf "$venv" || { _cm_say "error: cannot remove $venv"; return 1; }
    fi
    if [[ ! -e "$venv" ]]; then
        _cm_create_venv "$venv" || return 1
    fi

    want="$(_cm_requirements_hash "$venv/bin/python")" \
        || { _cm_say "error: cannot read $CM_ROOT/requirements/"; return 1; }
    have="$(cat "$venv/.cm-requirements.sha256" 2>/dev/null)" || have=""
    [[ "$want" == "$have" ]] && return 0

    # About to install: a virtualenv left without pip (e.g. an interrupted creation) is broken too.
    if ! "$venv/bin/python" -c 'import pip' >/dev/null 2>&1; then
        _cm_say "recreating .venv (it has no pip)"
        rm -rf "$venv" || { _cm_say "error: cannot remove $venv"; return 1; }
        _cm_create_venv "$venv" || return 1
    fi
    _cm_install_requirements "$venv" "$want"
}

_cm_bootstrap() {
    local lock_fd="" status=0
    CM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1

    # Serialise concurrent set-ups of one checkout (e.g. scripts/demo and scripts/test started
    # together in a fresh clone). flock is optional; var/ is git-ignored.
    if command -v flock >/dev/null 2>&1 && mkdir -p "$CM_ROOT/var" 2>/dev/null \
        && exec {lock_fd}>"$CM_ROOT/var/.cm-bootstrap.lock"; then
        flock "$lock_fd" || true
    fi
    _cm_setup_venv || status=$?
    if [[ -n "$lock_fd" ]]; then exec {lock_fd}>&-; fi
    [[ "$status" -eq 0 ]] || return "$status"

    export CM_ROOT
    export VIRTUAL_ENV="$CM_ROOT/.venv"
    export PATH="$VIRTUAL_ENV/bin:$PATH"
    unset PYTHONHOME
    hash -r
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    _cm_bootstrap || exit 1
else
    _cm_bootstrap || return 1
fi
