#!/usr/bin/env bash
# Runs the whole test suite (type check + vitest) and prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
mkdir -p out

echo "== tsc --noEmit" >&2
npx tsc --noEmit -p . ; tsc_rc=$?

echo "== prettier --check, eslint" >&2
npx prettier --check . --log-level warn && npx eslint . ; lint_rc=$?

echo "== vitest" >&2
npx vitest run --reporter=default --reporter=json --outputFile.json=out/vitest.json "$@"; vitest_rc=$?

node -e '
const r = JSON.parse(require("fs").readFileSync("out/vitest.json", "utf8"));
const tscFailed = Number(process.argv[1]) !== 0 ? 1 : 0;
const lintFailed = Number(process.argv[2]) !== 0 ? 1 : 0;
// A file that failed without a failing test (it did not load, or a hook threw) counts once;
// numFailedTestSuites would also count the describe blocks around each failing test.
const brokenFiles = r.testResults.filter(
  (f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed"),
).length;
const failed = r.numFailedTests + tscFailed + lintFailed + brokenFiles;
console.log(`${r.numPassedTests} passed, ${failed} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
' "$tsc_rc" "$lint_rc" || { echo "0 passed, 1 failed"; exit 1; }

[ "$tsc_rc" = 0 ] && [ "$lint_rc" = 0 ] && [ "$vitest_rc" = 0 ]
