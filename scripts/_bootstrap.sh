# Sourced by scripts/demo, scripts/test and scripts/bench: make .venv and install gunpy into it.
# Reinstalls only when setup.cfg or pyproject.toml changed, so repeated runs start at once.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.gunpy-installed"
WANT="$(cat setup.cfg pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    echo "== installing gunpy and its test tools into .venv"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[test,docs]'
    echo "$WANT" > "$STAMP"
fi
# Node's ws, a third WebSocket server for the interop tests (skipped without npm).
if command -v npm > /dev/null && [ ! -d "$VENV/node/node_modules/ws" ]; then
    echo "== installing Node's ws into .venv/node"
    npm install --silent --no-audit --no-fund --prefix "$VENV/node" ws@8 > /dev/null \
        || echo "== npm could not install ws: its interop tests will be skipped"
fi
# mypy cannot follow the editable install's import hook: give it the package
# layout through symlinks instead.
TYPECHECK="$VENV/typecheck/gunpy"
mkdir -p "$TYPECHECK"
for pkg in actors protocol supervision; do
    ln -sfn "$ROOT/$pkg" "$TYPECHECK/$pkg"
done
# Tests talk to servers on 127.0.0.1 only: never through a proxy.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
