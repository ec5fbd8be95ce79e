#!/usr/bin/env bash
# Runs every test of pochta: formatting, vet, module tidiness, and the whole
# suite with the race detector. Installs what the tests need first (Debian
# packages, Go modules). Usage: ./test.sh [extra go test flags]
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the tests use: gcc for the race detector (cgo), real mail
# clients for the end-to-end tests, PostgreSQL for the shared store, Chromium
# for the browser test of the web pages, Postfix as a remote MX for the
# outbound queue (preseeded to "No configuration": no system instance).
pkgs=(gcc libc6-dev git ca-certificates python3 curl swaks fetchmail getmail6 mutt isync postgresql chromium postfix)
need_pkgs=()
for p in "${pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
	echo "== apt-get install ${need_pkgs[*]}"
	preseed="postfix postfix/main_mailer_type select No configuration"
	if [ "$(id -u)" -eq 0 ]; then
		echo "$preseed" | debconf-set-selections
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}"
	else
		echo "$preseed" | sudo debconf-set-selections
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}"
	fi
fi

echo "== go mod download / tidy"
go mod download
cp go.mod /tmp/pochta-go.mod.$$ && cp go.sum /tmp/pochta-go.sum.$$
go mod tidy
if ! cmp -s go.mod /tmp/pochta-go.mod.$$ || ! cmp -s go.sum /tmp/pochta-go.sum.$$; then
	echo "go.mod/go.sum were not tidy; run 'go mod tidy' and commit" >&2
	diff /tmp/pochta-go.mod.$$ go.mod >&2 || true
	mv /tmp/pochta-go.mod.$$ go.mod && mv /tmp/pochta-go.sum.$$ go.sum
	exit 1
fi
rm -f /tmp/pochta-go.mod.$$ /tmp/pochta-go.sum.$$

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2; echo "$unformatted" >&2; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race (with a throwaway PostgreSQL for the shared store)"
# fsync off only for the test server: the tests check behaviour, the
# benchmarks (run separately) keep fsync on.
# go test runs packages in the order given, -p (the number of CPUs) at a
# time: the longest ones (end-to-end, then the two stores) go first so
# that the short ones fill in beside them rather than the longest
# starting last.
# -race also turns on checkptr (checks of every unsafe.Pointer
# conversion); in modernc.org's SQLite, C translated to Go, that doubled
# the CPU time of each store operation. It is off for modernc.org's
# packages only: the race detector stays on everywhere and checkptr on
# for pochta's own code. (GOFLAGS reaches the e2e tests' go build too.)
nocheckptr="-gcflags=modernc.org/...=-d=checkptr=0"
POCHTA_PG_FSYNC=off GOFLAGS="$(go env GOFLAGS) $nocheckptr" scripts/pgtest.sh env CGO_ENABLED=1 go test -race -count=1 -parallel 4 -timeout 25m "$@" \
	./test/e2e/ ./internal/store/postgres/ ./internal/store/sqlite/ ./...
