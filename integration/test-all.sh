#!/usr/bin/env bash
# Runs every Portcullis test: formatting and vet, the unit tests with the
# race detector, then the end-to-end tests against the real binary, real
# redis-server processes (standalone and a 3-node cluster), an in-process
# OpenID provider and headless Chromium, and a short run of the load
# benchmark. Installs redis-server, chromium and wrk with apt when they are
# missing (as root, or through sudo).
# Fails when any test fails or is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v wrk >/dev/null || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

echo "== gofmt and go vet"
unformatted=$(gofmt -l caddymodule cmd integration)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
(cd integration && go vet ./...)

log=$(mktemp -d)/test.log
run() { # run <dir> <go test args...>
	local dir=$1; shift
	echo "== go test $* (in $dir)"
	set +e
	(cd "$dir" && go test -race -count=1 -v "$@") 2>&1 | tee -a "$log" |
		grep -E '^(ok|FAIL|--- FAIL|--- SKIP|\?|panic)|^\s+--- (FAIL|SKIP)|_test\.go:[0-9]+'
	local rc=${PIPESTATUS[0]}
	set -e
	return "$rc"
}
status=0
run . -timeout 10m ./... || status=1
run integration -timeout 20m ./... || status=1

skipped=$(grep -cE -- '--- SKIP' "$log" || true)
if [ "$skipped" -gt 0 ]; then
	echo "FAIL: $skipped skipped test(s); a skipped test is a failure here:"
	grep -E -- '--- SKIP' "$log"
	status=1
fi
if [ "$status" -ne 0 ]; then
	echo "FAIL (full log: $log)"
	exit 1
fi
echo "PASS: all tests ran, none skipped (log: $log)"
