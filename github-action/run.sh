#!/usr/bin/env bash
# One `pivot <command> --all` run: GitHub annotations on stdout, the job summary, the JUnit file, and a JSON
# report read back for the step outputs; with compare-to, the params/metrics comparison and its gates; with
# comment, the sticky pull-request comment. Outputs are written before exiting with pivot's own exit code.
set -euo pipefail

py="${PIVOT_CI_PYTHON:?PIVOT_CI_PYTHON is not set (the install step sets it)}"
command="${PIVOT_CI_COMMAND:-verify}"
report="${PIVOT_CI_REPORT_PATH:-pivot-junit.xml}"
markdown="${PIVOT_CI_MARKDOWN_PATH:-}"
out="${GITHUB_OUTPUT:-/dev/null}"

case "$command" in
  verify | status) ;;
  *) echo "::error title=pivot-ci::input command: '$command' is not one of verify, status"; exit 2 ;;
esac
case "$report" in
  "" | *$'\n'*) echo "::error title=pivot-ci::input report-path: expected one file path"; exit 2 ;;
esac
case "$markdown" in
  *$'\n'*) echo "::error title=pivot-ci::input markdown-path: expected one file path"; exit 2 ;;
esac

# flag NAME VALUE: a boolean input, or exit 2
flag() {
  case "$2" in
    true | True | TRUE) echo true ;;
    false | False | FALSE | "") echo false ;;
    *) echo "::error title=pivot-ci::input $1: expected true or false, got '$2'" >&2; return 2 ;;
  esac
}
allow_missing="$(flag allow-missing "${PIVOT_CI_ALLOW_MISSING:-false}" 2>&1)" || { echo "$allow_missing"; exit 2; }
comment="$(flag comment "${PIVOT_CI_COMMENT:-false}" 2>&1)" || { echo "$comment"; exit 2; }

flags=()
if [ "$allow_missing" = true ]; then
  if [ "$command" = verify ]; then
    flags+=(--allow-missing)
  else
    echo "::warning title=pivot-ci::allow-missing applies to verify only; ignored for $command"
  fi
fi

# compare-to: empty = the pull request's base on pull_request events (the first parent of the merge commit
# actions/checkout checks out, present with fetch-depth: 2); `none` = never
compare="${PIVOT_CI_COMPARE_TO:-}"
case "$compare" in
  "") if [ "${GITHUB_EVENT_NAME:-}" = pull_request ] && [ "$command" = verify ]; then compare="HEAD^1"; fi ;;
  none | None | NONE) compare="" ;;
  *$'\n'* | -*) echo "::error title=pivot-ci::input compare-to: '$compare' is not a revision"; exit 2 ;;
  *) if [ "$command" != verify ]; then
       echo "::warning title=pivot-ci::compare-to applies to verify only; ignored for $command"; compare=""
     fi ;;
esac
if [ -n "$compare" ]; then flags+=(--compare-to "$compare"); fi

tmp="$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/pivot-ci.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
json="$tmp/report.json"
md="$tmp/report.md"

# `args` split like a shell would (quotes honoured, nothing expanded), NUL-separated, no eval
extra=()
"$py" -c 'import shlex, sys; sys.stdout.write("".join(a + "\0" for a in shlex.split(sys.argv[1])))' \
  "${PIVOT_CI_ARGS:-}" >"$tmp/args"
while IFS= read -r -d '' arg; do extra+=("$arg"); done <"$tmp/args"

cmd=("$command" --all --format github --report "junit:$report" --report "json:$json" --report "md:$md")
if [ -n "$markdown" ]; then cmd+=(--report "md:$markdown"); fi
cmd+=(${flags[@]+"${flags[@]}"} ${extra[@]+"${extra[@]}"})
{ printf '+ pivot'; printf ' %q' "${cmd[@]}"; printf '\n'; } >&2

code=0
# the token is for the comment only: pivot runs the project's pipeline.py files and must not see it
env -u PIVOT_CI_TOKEN "$py" -m pivot_ci "${cmd[@]}" || code=$?

passed=false
failed=""
if [ -s "$json" ]; then
  summary="$("$py" -c 'import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
print("true" if doc["passed"] else "false", doc["summary"]["failed"])' "$json")" || summary="false "
  passed="${summary%% *}"
  failed="${summary#* }"
else
  echo "::error title=pivot-ci::pivot exited $code without a report (see the error above); failed-count is unknown"
fi
report_abs="$("$py" -c 'import os, sys; print(os.path.abspath(sys.argv[1]))' "$report")"

{
  echo "passed=$passed"
  echo "failed-count=$failed"
  echo "report-path=$report_abs"
} >>"$out"

if [ "$comment" = true ]; then
  if [ -s "$md" ]; then
    # never fails the step: a read-only token (fork pull requests) gives a notice, the job summary has it all
    "$py" "$GITHUB_ACTION_PATH/comment.py" --body-file "$md" --key "${PIVOT_CI_COMMENT_KEY:-}" ||
      echo "::warning title=pivot-ci::the comment script failed; the report is in the job summary"
  else
    echo "::warning title=pivot-ci::no report to comment with"
  fi
fi

exit "$code"
