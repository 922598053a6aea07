# shellcheck shell=bash
# Make sure the browser tests have their browser: Debian's chromium, driven by Playwright.
#
#   source scripts/browser.sh      (what scripts/test does, after scripts/bootstrap.sh)
#   bash scripts/browser.sh        (check, and install if missing, only)
#
# The browser is $CM_CHROMIUM if set, else /usr/bin/chromium (Debian's package `chromium`); it is
# exported as CM_CHROMIUM for tests/browser.py. When it is there this takes a few milliseconds.
# When /usr/bin/chromium is missing and we are root with apt-get, installs the package
# (running `apt-get update` first only when apt does not know the package). Otherwise it fails,
# saying how to install it: the browser tests are part of the suite, not optional. Playwright's
# own browser download is never used (it fails on machines without internet access).
#
# Written to work both under `set -euo pipefail` and without it: every failure is handled
# explicitly and returns (when sourced) or exits (when run) with status 1.

_cm_debian_chromium="/usr/bin/chromium"

_cm_say() { printf 'cm: %s\n' "$*" >&2; }

_cm_is_program() { [[ -f "$1" && -x "$1" ]]; }

# Installing needs root and apt-get; there is no sudo in CI, and a password prompt would hang.
_cm_can_apt() { [[ "$EUID" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; }

# Waits for another apt run (e.g. a parallel set-up) instead of failing on its lock.
_cm_apt_get() {
    DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 "$@"
}

# Installs Debian's chromium; `apt-get update` only when the package lists do not have it.
_cm_install_chromium() {
    local log status=0
    log="$(mktemp)" || return 1
    _cm_say "installing Debian's chromium for the browser tests (apt-get, about a minute)"
    _cm_apt_get install chromium >"$log" 2>&1 || status=$?
    if [[ "$status" -ne 0 ]] \
        && grep -q -e 'Unable to locate package' -e 'has no installation candidate' "$log"; then
        _cm_say "apt does not know chromium yet: apt-get update, then install again"
        status=0
        _cm_apt_get update >"$log" 2>&1 && _cm_apt_get install chromium >"$log" 2>&1 \
            || status=$?
    fi
    if [[ "$status" -ne 0 ]]; then
        tail -n 20 "$log" >&2
        _cm_say "error: apt-get failed (exit $status); its last lines are above"
    fi
    rm -f "$log"
    return "$status"
}

_cm_how_to_install() {
    _cm_say "  Install Debian's package as root: apt-get install chromium (scripts/test does this"
    _cm_say "  itself when run as root), or point CM_CHROMIUM at a Chromium binary."
}

_cm_browser() {
    local chromium="${CM_CHROMIUM:-$_cm_debian_chromium}"
    if _cm_is_program "$chromium"; then
        export CM_CHROMIUM="$chromium"
        return 0
    fi
    if [[ "$chromium" != "$_cm_debian_chromium" ]]; then
        # Installing Debian's package would not make this path appear.
        _cm_say "error: CM_CHROMIUM=$chromium is not an executable file. The browser tests need it:"
        _cm_say "  point CM_CHROMIUM at a Chromium binary, or unset it to use Debian's chromium"
        _cm_say "  ($_cm_debian_chromium)."
        return 1
    fi
    if ! _cm_can_apt; then
        _cm_say "error: the browser tests need Chromium, and $chromium is missing."
        _cm_how_to_install
        return 1
    fi
    if ! _cm_install_chromium || ! _cm_is_program "$chromium"; then
        _cm_say "error: could not install Debian's chromium ($chromium is still missing)."
        _cm_how_to_install
        return 1
    fi
    _cm_say "chromium installed: $chromium"
    export CM_CHROMIUM="$chromium"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    _cm_browser || exit 1
else
    _cm_browser || return 1
fi
