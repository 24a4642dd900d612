#!/usr/bin/env bash
# Autobahn|Testsuite 25.10.1 runs on CPython 2.7 only. This helper finds one
# (pyenv's versions/2.7*, else python2.7 on PATH) and installs the suite into
# a cached virtualenv, .venv/autobahn (untracked, reused once complete).
#
# Sourced (by scripts/conformance): defines autobahn_find_python2 and autobahn_install.
# Run (by tests/autobahn_driver.py): prints the suite's python on stdout, or
# exits 3 when there is no CPython 2.7. Progress goes to stderr.

AUTOBAHN_VERSION="25.10.1"
AUTOBAHN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AUTOBAHN_VENV="$AUTOBAHN_ROOT/.venv/autobahn"

_is_python27() {
    [ -x "$1" ] && [ "$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "2.7" ]
}

# Print the path of a CPython 2.7, or return 1.
autobahn_find_python2() {
    local roots=() root candidate
    if command -v pyenv >/dev/null 2>&1; then
        roots+=("$(pyenv root 2>/dev/null)")
    fi
    roots+=("${PYENV_ROOT:-$HOME/.pyenv}")
    for root in "${roots[@]}"; do
        [ -n "$root" ] || continue
        for candidate in $(ls -d "$root"/versions/2.7* 2>/dev/null | sort -rV); do
            if _is_python27 "$candidate/bin/python"; then
                echo "$candidate/bin/python"
                return 0
            fi
        done
    done
    # A pyenv shim on PATH answers only if 2.7 is the selected version: _is_python27 checks.
    candidate="$(command -v python2.7 2>/dev/null || true)"
    if [ -n "$candidate" ] && _is_python27 "$candidate"; then
        echo "$candidate"
        return 0
    fi
    return 1
}

# autobahn_install PYTHON2: install (once) and print the virtualenv's python.
autobahn_install() {
    local python2="$1" stamp="$AUTOBAHN_VENV/.gunpy-autobahn"
    local tools="$AUTOBAHN_ROOT/.venv/autobahn-tools" quiet=(-q --disable-pip-version-check)
    mkdir -p "$AUTOBAHN_ROOT/.venv"
    (
        # One installer at a time (scripts/conformance and the test may run together).
        flock 9
        if [ "$(cat "$stamp" 2>/dev/null)" = "$AUTOBAHN_VERSION" ]; then
            exit 0
        fi
        # A suite installed before the stamp existed is reused as it is.
        if [ -x "$AUTOBAHN_VENV/bin/wstest" ] && [ "$("$AUTOBAHN_VENV/bin/python" -c \
            'import pkg_resources; print(pkg_resources.get_distribution("autobahntestsuite").version)' \
            2>/dev/null)" = "$AUTOBAHN_VERSION" ]; then
            echo "$AUTOBAHN_VERSION" > "$stamp"
            exit 0
        fi
        echo "== installing Autobahn|Testsuite $AUTOBAHN_VERSION into $AUTOBAHN_VENV (once, ~1 min)" >&2
        rm -rf "$AUTOBAHN_VENV"
        export PIP_NO_PYTHON_VERSION_WARNING=1
        "$python2" -m pip install "${quiet[@]}" --target "$tools" --upgrade "virtualenv<20.22" >&2
        PYTHONPATH="$tools" "$python2" -m virtualenv -q "$AUTOBAHN_VENV" >&2
        "$AUTOBAHN_VENV/bin/pip" install "${quiet[@]}" "autobahntestsuite==$AUTOBAHN_VERSION" >&2
        "$AUTOBAHN_VENV/bin/python" -c 'import autobahntestsuite.fuzzing' >&2
        echo "$AUTOBAHN_VERSION" > "$stamp"
    ) 9>"$AUTOBAHN_ROOT/.venv/autobahn.lock" || return 1
    echo "$AUTOBAHN_VENV/bin/python"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    if ! python2="$(autobahn_find_python2)"; then
        echo "no CPython 2.7 (pyenv versions/2.7* or python2.7 on PATH): Autobahn|Testsuite needs one" >&2
        exit 3
    fi
    autobahn_install "$python2"
fi
