#!/usr/bin/env bash
# Install pivot-ci (PIVOT_CI_VERSION from PyPI, else the action's checkout PIVOT_CI_SOURCE) and set the
# step output `python`: the interpreter the next step runs `python -m pivot_ci` with.
set -euo pipefail

py=""
for candidate in python python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
    # the real interpreter, not a shim that could pick another Python in another directory
    py="$("$candidate" -c 'import sys; print(sys.executable)')"
    break
  fi
done
if [ -z "$py" ]; then
  echo "::error title=pivot-ci::pivot-ci needs Python 3.11 or newer on PATH; set the action's python-version input (e.g. '3.12')"
  exit 1
fi

# A distribution's own Python (ubuntu-24.04 runners) refuses pip installs (PEP 668): install into a venv
# that still sees that Python's packages, so pipeline.py files can import the project's dependencies.
if "$py" -c 'import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
sys.exit(not (sys.prefix == sys.base_prefix and os.path.exists(marker)))'; then
  venv="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/pivot-ci-venv"
  "$py" -m venv --system-site-packages "$venv"
  if [ -x "$venv/bin/python" ]; then py="$venv/bin/python"; else py="$venv/Scripts/python.exe"; fi
fi

if [ -n "${PIVOT_CI_VERSION:-}" ]; then
  requirement="pivot-ci==${PIVOT_CI_VERSION#v}"
else
  requirement="${PIVOT_CI_SOURCE:?PIVOT_CI_SOURCE is not set}"
fi

echo "::group::Install pivot-ci ($requirement)"
"$py" -m pip install --disable-pip-version-check --progress-bar off "$requirement"
"$py" -c 'import pivot_ci; print("pivot-ci", pivot_ci.__version__, "from", pivot_ci.__file__)'
echo "::endgroup::"

echo "python=$py" >>"${GITHUB_OUTPUT:-/dev/null}"
