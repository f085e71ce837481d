#!/usr/bin/env bash
# Sourced by start.sh and scripts/test.sh: make sure .venv exists and holds this project
# (editable install) with the requested extras. Reinstalls only when pyproject.toml changed.
# Usage: nija_bootstrap [extra]
nija_bootstrap() {
    local extra="${1:-}" root venv stamp want python
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    venv="$root/.venv"
    python="${NIJA_PYTHON:-python3}"
    if [ ! -x "$venv/bin/python" ]; then
        echo "nija: creating virtual environment in .venv" >&2
        "$python" -m venv "$venv" || { echo "nija: could not create .venv with $python (need Python >= 3.11 with venv)" >&2; return 1; }
    fi
    want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)-${extra:-base}"
    stamp="$venv/.nija-install-${extra:-base}"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "nija: installing dependencies into .venv (${extra:-runtime})" >&2
        local target="$root"
        [ -n "$extra" ] && target="$root[$extra]"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$target" \
            || { echo "nija: dependency install failed" >&2; return 1; }
        echo "$want" > "$stamp"
    fi
    NIJA_VENV_PYTHON="$venv/bin/python"
}
