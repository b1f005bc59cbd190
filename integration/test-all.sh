#!/usr/bin/env bash
# Runs every Portcullis test: formatting, go mod tidy and vet, the unit
# tests with the race detector, then the end-to-end tests against the real
# binary, real redis-server processes (standalone and a 3-node cluster), an
# in-process OpenID provider and headless Chromium, and a short run of the
# load benchmark. Installs what it needs with apt when it is missing (as
# root, or through sudo): gcc and libc6-dev (the race detector needs cgo),
# redis-server, redis-tools, nginx, chromium, wrk, python3, nodejs and
# prometheus (for promtool).
# Fails when any test fails or is skipped.
#
# PORTCULLIS_INSTALL_ONLY=1 stops after the installation step, to check
# it alone on a machine that lacks some of the tools.
set -euo pipefail
cd "$(dirname "$0")/.."

# installed <package>: whether dpkg has the package installed.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
command -v gcc >/dev/null || missing+=(gcc)
# The C library headers cgo compiles against (libc6-dev on Debian).
installed libc6-dev || missing+=(libc6-dev)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
# The forward-auth tests run Debian's nginx (auth_request) in front of the gateway.
[ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v wrk >/dev/null || missing+=(wrk)
# The differential tests read the same JSON-RPC bodies with Python's json
# and Node's JSON.parse.
command -v python3 >/dev/null || missing+=(python3)
command -v node >/dev/null || missing+=(nodejs)
# promtool checks and unit-tests deploy/prometheus/alerts.yml (Debian ships
# it in the prometheus package; on a host run by systemd, apt starts that
# server too).
command -v promtool >/dev/null || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Fail here, with a reason, rather than in the middle of the tests.
for tool in gcc redis-server redis-cli wrk python3 node promtool; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool is still missing after the installation"; exit 1; }
done
[ -x /usr/bin/chromium ] || { echo "FAIL: /usr/bin/chromium is still missing after the installation"; exit 1; }
[ -x /usr/sbin/nginx ] || { echo "FAIL: /usr/sbin/nginx is still missing after the installation"; exit 1; }
installed libc6-dev || { echo "FAIL: libc6-dev is still missing after the installation"; exit 1; }
if ! echo 'int main(void) { return 0; }' | gcc -x c -o /dev/null -; then
	echo "FAIL: gcc cannot build and link a C program; go test -race needs cgo"; exit 1
fi
if [ "$(go env CGO_ENABLED)" != 1 ]; then
	echo "FAIL: cgo is off (CGO_ENABLED=$(go env CGO_ENABLED)); go test -race needs it"; exit 1
fi
if [ "${PORTCULLIS_INSTALL_ONLY:-}" = 1 ]; then
	echo "PASS: installation step (PORTCULLIS_INSTALL_ONLY=1: no tests run)"
	exit 0
fi

echo "== gofmt, go mod tidy and go vet"
unformatted=$(gofmt -l caddymodule cmd integration deploy)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
for mod in . integration deploy/container/healthprobe; do
	if ! diff=$(cd "$mod" && go mod tidy -diff 2>&1); then
		echo "go.mod or go.sum in $mod is not tidy (run go mod tidy there):"; echo "$diff"; exit 1
	fi
done
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
	echo "FAIL after ${SECONDS}s (full log: $log)"
	exit 1
fi
echo "PASS: all tests ran, none skipped, in ${SECONDS}s (log: $log)"
