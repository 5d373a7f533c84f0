#!/bin/sh
# Builds the clubline binary the way the Dockerfile does, and on any
# machine with Go: static (CGO_ENABLED=0), paths trimmed, the version and
# commit written in with -ldflags (`clubline --version` prints them).
#
#   deploy/build.sh                      # ./clubline, version and commit from git
#   OUT=/usr/local/bin/clubline VERSION=1.4.0 deploy/build.sh
#
# VERSION: what --version calls this build; default: the git tag at HEAD
# (git describe), else the module's version or "devel". COMMIT: the commit
# built; default: git's HEAD, else none (the Dockerfile passes both, since
# .git is not sent to the image's build).
set -eu
cd "$(dirname "$0")/.."
out=${OUT:-clubline}
version=${VERSION:-$(git describe --tags --exact-match 2>/dev/null || true)}
commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}
modified=""
if [ -z "${COMMIT:-}" ] && [ -n "$commit" ] && [ -n "$(git status --porcelain 2>/dev/null)" ]; then
	modified=true
fi
CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X main.version=$version -X main.commit=$commit -X main.modified=$modified" \
	-o "$out" ./cmd/clubline
