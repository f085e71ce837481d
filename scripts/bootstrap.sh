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

# Debian packages the suite drives: headless chromium and its driver (tests/web) and
# systemd-analyze (tests/test_systemd_unit.py). Installed with apt-get, non-interactively, when
# missing; without apt-get or root the tests that need them skip and say why.
nija_test_packages() {
    local missing=() sudo=""
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
    [ "${#missing[@]}" -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "nija: no apt-get to install ${missing[*]}: the tests that need them skip" >&2
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "nija: not root, no sudo: ${missing[*]} not installed" >&2; return 0; }
        sudo="sudo -n"
    fi
    echo "nija: installing ${missing[*]} with apt-get" >&2
    { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null \
        || echo "nija: apt-get could not install ${missing[*]}: the tests that need them skip" >&2
}
