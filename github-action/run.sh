#!/usr/bin/env bash
# One `pivot <command> --all` run: GitHub annotations on stdout, the job summary, the JUnit file, and a JSON
# report read back for the step outputs. Outputs are written before exiting with pivot's own exit code.
set -euo pipefail

py="${PIVOT_CI_PYTHON:?PIVOT_CI_PYTHON is not set (the install step sets it)}"
command="${PIVOT_CI_COMMAND:-verify}"
report="${PIVOT_CI_REPORT_PATH:-pivot-junit.xml}"
out="${GITHUB_OUTPUT:-/dev/null}"

case "$command" in
  verify | status) ;;
  *) echo "::error title=pivot-ci::input command: '$command' is not one of verify, status"; exit 2 ;;
esac
case "$report" in
  "" | *$'\n'*) echo "::error title=pivot-ci::input report-path: expected one file path"; exit 2 ;;
esac

flags=()
case "${PIVOT_CI_ALLOW_MISSING:-false}" in
  true | True | TRUE)
    if [ "$command" = verify ]; then
      flags+=(--allow-missing)
    else
      echo "::warning title=pivot-ci::allow-missing applies to verify only; ignored for $command"
    fi
    ;;
  false | False | FALSE | "") ;;
  *) echo "::error title=pivot-ci::input allow-missing: expected true or false, got '$PIVOT_CI_ALLOW_MISSING'"; exit 2 ;;
esac

tmp="$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/pivot-ci.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
json="$tmp/report.json"

# `args` split like a shell would (quotes honoured, nothing expanded), NUL-separated, no eval
extra=()
"$py" -c 'import shlex, sys; sys.stdout.write("".join(a + "\0" for a in shlex.split(sys.argv[1])))' \
  "${PIVOT_CI_ARGS:-}" >"$tmp/args"
while IFS= read -r -d '' arg; do extra+=("$arg"); done <"$tmp/args"

cmd=("$command" --all --format github --report "junit:$report" --report "json:$json")
cmd+=(${flags[@]+"${flags[@]}"} ${extra[@]+"${extra[@]}"})
{ printf '+ pivot'; printf ' %q' "${cmd[@]}"; printf '\n'; } >&2

code=0
"$py" -m pivot_ci "${cmd[@]}" || code=$?

passed=false
failed=""
if [ -s "$json" ]; then
  summary="$("$py" -c 'import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
print("true" if doc["passed"] else "false", doc["summary"]["failed"])' "$json")" || summary="false "
  passed="${summary%% *}"
  failed="${summary#* }"
else
  echo "::warning title=pivot-ci::pivot exited $code without a report; failed-count is unknown"
fi
report_abs="$("$py" -c 'import os, sys; print(os.path.abspath(sys.argv[1]))' "$report")"

{
  echo "passed=$passed"
  echo "failed-count=$failed"
  echo "report-path=$report_abs"
} >>"$out"

exit "$code"
