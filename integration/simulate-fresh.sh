#!/usr/bin/env bash
# Runs integration/test-all.sh as on a fresh Debian machine that lacks a C
# compiler, the C library headers, Redis, Chromium and wrk, without a
# container and without uninstalling anything:
#
#   - PATH is a directory of links to every command of the real PATH
#     except gcc/cc (and the target-prefixed gcc), redis-server,
#     redis-cli, wrk, python3 and node, so `command -v` does not find them;
#   - a dpkg-query wrapper reports libc6-dev as not installed;
#   - an apt-get wrapper records its arguments, runs the real apt-get
#     (packages already installed are left as they are, missing ones are
#     installed), then makes the hidden commands of the packages it was
#     asked for visible again, as an installation would.
#
# /usr/bin/chromium is checked by absolute path; it is "missing" only if
# it really is (then the real apt-get installs it).
#
#   simulate-fresh.sh [repo]            # the whole test command
#   INSTALL_ONLY=1 simulate-fresh.sh    # only its installation step
#
# Afterwards it prints what the script asked apt-get to install, which
# must name gcc, libc6-dev, redis-server, redis-tools, wrk, python3 and
# nodejs (and chromium when it was absent).
set -euo pipefail
repo=${1:-$(cd "$(dirname "$0")/.." && pwd)}
shim=$(mktemp -d /tmp/fresh-path.XXXXXX)
chmod 755 "$shim" # apt runs its download methods as the _apt user, which needs gpgv from PATH
hidden='^(gcc|cc|x86_64-linux-gnu-gcc(-[0-9]+)?|gcc-[0-9]+|redis-server|redis-cli|wrk|python3|node|nodejs)$'
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}" "$(go env GOROOT)/bin"; do
	[ -d "$d" ] || continue
	for f in "$d"/*; do
		n=$(basename "$f")
		[ -x "$f" ] && [ ! -e "$shim/$n" ] || continue
		[[ $n =~ $hidden ]] && continue
		ln -s "$f" "$shim/$n"
	done
done
real_dpkg_query=$(command -v dpkg-query)
real_apt_get=$(command -v apt-get)
rm -f "$shim/dpkg-query" "$shim/apt-get"
cat >"$shim/dpkg-query" <<EOF
#!/bin/sh
# libc6-dev counts as missing until the apt-get wrapper installed it.
for a; do last=\$a; done
if [ "\$last" = libc6-dev ] && [ ! -e "$shim/.libc6-dev-installed" ]; then
	echo "dpkg-query: no packages found matching libc6-dev" >&2; exit 1
fi
exec "$real_dpkg_query" "\$@"
EOF
cat >"$shim/apt-get" <<EOF
#!/bin/sh
echo "apt-get \$*" >>"$shim/.apt-log"
"$real_apt_get" "\$@" || exit \$?
# Make what was installed visible, as on a machine that lacked it.
for p; do
	case \$p in
	gcc) for n in gcc cc x86_64-linux-gnu-gcc; do [ -e "/usr/bin/\$n" ] && ln -sf "/usr/bin/\$n" "$shim/\$n"; done ;;
	libc6-dev) touch "$shim/.libc6-dev-installed" ;;
	redis-server) ln -sf /usr/bin/redis-server "$shim/redis-server" ;;
	redis-tools) ln -sf /usr/bin/redis-cli "$shim/redis-cli" ;;
	wrk) ln -sf /usr/bin/wrk "$shim/wrk" ;;
	python3) ln -sf /usr/bin/python3 "$shim/python3" ;;
	nodejs) ln -sf /usr/bin/node "$shim/node" ;;
	esac
done
EOF
chmod +x "$shim/dpkg-query" "$shim/apt-get"

echo "== simulated fresh machine: PATH=$shim"
for n in gcc cc redis-server redis-cli wrk python3 node; do
	PATH=$shim command -v "$n" >/dev/null && { echo "FAIL: $n still visible"; exit 1; }
done
PATH=$shim dpkg-query -W libc6-dev >/dev/null 2>&1 && { echo "FAIL: libc6-dev still counts as installed"; exit 1; }
echo "   hidden: gcc, cc, redis-server, redis-cli, wrk, python3, node, libc6-dev$([ -x /usr/bin/chromium ] || echo ', chromium (really absent)')"

rc=0
(cd "$repo" && env PATH="$shim" PORTCULLIS_INSTALL_ONLY="${INSTALL_ONLY:-}" ./integration/test-all.sh) || rc=$?
echo "== apt-get calls made by test-all.sh:"
cat "$shim/.apt-log" 2>/dev/null || echo "(none)"
grep -q 'install.*gcc.*libc6-dev.*redis-server.*redis-tools.*wrk.*python3.*nodejs' "$shim/.apt-log" 2>/dev/null ||
	{ echo "FAIL: test-all.sh did not ask for every missing package"; rc=1; }
rm -rf "$shim"
exit "$rc"
