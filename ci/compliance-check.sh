#!/usr/bin/env bash
# The GitHub Action's step (action.yml): `compliance-bot check` on a pull request, in CI.
#
# CI checkouts are usually shallow (actions/checkout fetches one commit), so first make sure the
# base commit and a common ancestor of base and head are present, fetching and deepening as
# needed. Then write SARIF for code scanning, print the text report to the log (and Markdown to
# the job summary on GitHub), and exit with the check's code: 0 no blocking finding, 1 blocking
# findings (0 when COMPLIANCE_FAIL_ON_FINDINGS=false), 2 usage, configuration or history error.
#
# Inputs come from the environment, never from text pasted into the workflow, so a branch name
# or a PR title cannot become shell. It runs the same locally, in the git repository to check:
#
#   COMPLIANCE_BASE              base commit or ref, required (the Action: the PR's base SHA)
#   COMPLIANCE_HEAD              head ref (default HEAD)
#   COMPLIANCE_SARIF             where SARIF goes (default compliance-bot.sarif)
#   COMPLIANCE_FAIL_ON_FINDINGS  true|false (default true)
#   COMPLIANCE_ARGS              more `check` options, split on whitespace (e.g. --now ...)
#   COMPLIANCE_TITLE, COMPLIANCE_BODY, COMPLIANCE_LABELS_JSON
#                                the PR's title, body and label names (a JSON list), for
#                                pull-request policies; without a title, the head commit's
#                                message stands in, as in a local `check`
#   COMPLIANCE_REMOTE            remote to fetch from (default origin)
#   COMPLIANCE_FETCH_DEPTH       commits per fetch, doubled each round (default 50)
#   COMPLIANCE_FETCH_ROUNDS      deepening rounds before fetching all history (default 4)
#   COMPLIANCE_BOT               the command (default compliance-bot)
#
# Writes `sarif=PATH` (only when a SARIF file was written) and `exit-code=N` to $GITHUB_OUTPUT.

set -uo pipefail

EXIT_ERROR=2

base=${COMPLIANCE_BASE:-}
head=${COMPLIANCE_HEAD:-HEAD}
sarif=${COMPLIANCE_SARIF:-compliance-bot.sarif}
fail_on_findings=${COMPLIANCE_FAIL_ON_FINDINGS:-true}
remote=${COMPLIANCE_REMOTE:-origin}
depth=${COMPLIANCE_FETCH_DEPTH:-50}
rounds=${COMPLIANCE_FETCH_ROUNDS:-4}
bot=${COMPLIANCE_BOT:-compliance-bot}

say() { printf 'compliance-check: %s\n' "$*" >&2; }

output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then printf '%s\n' "$1" >>"$GITHUB_OUTPUT"; fi
}

# The one way out when the history isn't there: say exactly what to change in the workflow.
needs_history() {
  say "error: $1"
  say "the checkout does not have the history compliance-bot needs (the base commit and a"
  say "common ancestor of base and head). Fetch the full history in the checkout step:"
  cat >&2 <<'EOF'

      - uses: actions/checkout@v4
        with:
          fetch-depth: 0

EOF
  output "exit-code=$EXIT_ERROR"
  exit "$EXIT_ERROR"
}

commit_of() { git rev-parse --verify --quiet "$1^{commit}"; }
is_shallow() { [ "$(git rev-parse --is-shallow-repository)" = true ]; }
have_merge_base() { git merge-base "$base_sha" "$head_sha" >/dev/null 2>&1; }

if [ -z "$base" ]; then
  say "error: no base: set COMPLIANCE_BASE (the Action's 'base' input) to a commit or ref"
  output "exit-code=$EXIT_ERROR"
  exit "$EXIT_ERROR"
fi
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  say "error: $(pwd) is not a git repository: run actions/checkout first"
  output "exit-code=$EXIT_ERROR"
  exit "$EXIT_ERROR"
fi
case $base in -*)
  say "error: not a valid base: $base"
  output "exit-code=$EXIT_ERROR"
  exit "$EXIT_ERROR"
  ;;
esac
head_sha=$(commit_of "$head") || needs_history "the head $head is not in this checkout"

if ! base_sha=$(commit_of "$base"); then
  say "fetching the base $base from $remote (depth $depth)"
  git fetch --no-tags --quiet --depth="$depth" "$remote" "$base" \
    || needs_history "cannot fetch the base $base from $remote"
  base_sha=$(git rev-parse --verify FETCH_HEAD^{commit})
fi

# A shallow clone cuts history at its boundary, so the merge base may be missing even when both
# ends are here. Deepen from every boundary (the server walks back from each shallow commit),
# doubling, then fall back to the whole history.
round=0
while ! have_merge_base && is_shallow; do
  if [ "$round" -ge "$rounds" ]; then
    say "no common ancestor after $round deepenings: fetching the whole history"
    git fetch --no-tags --quiet --unshallow "$remote" "$base_sha" \
      || needs_history "cannot fetch the whole history from $remote"
    break
  fi
  round=$((round + 1))
  say "no common ancestor of ${base_sha:0:12} and ${head_sha:0:12} yet: deepening by $depth"
  git fetch --no-tags --quiet --deepen="$depth" "$remote" "$base_sha" \
    || needs_history "cannot deepen the history from $remote"
  depth=$((depth * 2))
done
if ! have_merge_base && [ "$round" -gt 0 ]; then
  needs_history "${base_sha:0:12} and ${head_sha:0:12} have no common ancestor"
fi
# Not shallow and still no merge base: unrelated histories, which `check` reports itself.

args=(check --repo . --base "$base_sha" --head "$head_sha")
if [ -n "${COMPLIANCE_TITLE:-}" ]; then
  # On a pull request the PR's own words, even an empty body, replace the commit message.
  args+=(--title "$COMPLIANCE_TITLE" --body "${COMPLIANCE_BODY:-}")
fi
if [ -n "${COMPLIANCE_LABELS_JSON:-}" ]; then
  while IFS= read -r label; do
    [ -n "$label" ] && args+=(--label "$label")
  done < <(python -c 'import json, sys; print("\n".join(json.loads(sys.argv[1]) or []))' \
    "$COMPLIANCE_LABELS_JSON")
fi
read -ra extra <<<"${COMPLIANCE_ARGS:-}"
args+=(${extra[@]+"${extra[@]}"})  # empty-safe under set -u on bash 3.2 too

sarif_tmp=$(mktemp)
trap 'rm -f "$sarif_tmp"' EXIT
"$bot" "${args[@]}" --format sarif >"$sarif_tmp"
code=$?
output "exit-code=$code"
if [ "$code" -le 1 ]; then
  mkdir -p "$(dirname "$sarif")"
  cp "$sarif_tmp" "$sarif"
  output "sarif=$sarif"
  say "SARIF written to $sarif"
  "$bot" "${args[@]}" --format text --color never || true
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    "$bot" "${args[@]}" --format markdown >>"$GITHUB_STEP_SUMMARY" || true
  fi
fi

if [ "$code" -eq 1 ] && [ "$fail_on_findings" = false ]; then
  say "blocking findings, but fail-on-findings is false: exiting 0"
  exit 0
fi
exit "$code"
