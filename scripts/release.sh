#!/usr/bin/env bash
# release.sh builds the release binaries of otos and of otos-healthcheck:
# static (CGO_ENABLED=0), -trimpath, stamped with the version and the commit,
# for each target, into $DIST with a SHA256SUMS file. The Dockerfile runs this
# script for the image's platform, so the image holds the same build.
#
#   scripts/release.sh [VERSION]
#
# VERSION: the first argument, else `git describe --tags --always`.
# Environment:
#   DIST     output directory (default dist); earlier otos-* files in it are replaced
#   TARGETS  platforms, space-separated, as docker names them
#            (default "linux/amd64 linux/arm64 linux/arm/v7")
#   COMMIT   the commit to stamp (default `git rev-parse HEAD`; the Docker
#            build, which has no .git, passes it in)
set -euo pipefail

cd "$(dirname "$0")/.."

VERSION=${1:-$(git describe --tags --always 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
DIST=${DIST:-dist}
TARGETS=${TARGETS:-linux/amd64 linux/arm64 linux/arm/v7}

case $VERSION in
*/* | *' '* | '') echo "release.sh: bad version \"$VERSION\"" >&2; exit 2 ;;
esac

mkdir -p "$DIST"
rm -f "$DIST"/otos-* "$DIST"/SHA256SUMS

built=()
for target in $TARGETS; do
	IFS=/ read -r goos goarch variant <<<"$target"
	goarm=
	suffix=$goos-$goarch
	if [[ $goarch == arm ]]; then
		goarm=${variant#v}
		goarm=${goarm:-7}
		suffix=$goos-armv$goarm
	fi
	for cmd in otos otos-healthcheck; do
		out=$DIST/$cmd-$VERSION-$suffix
		CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch GOARM=$goarm \
			go build -trimpath -ldflags "-s -w -X main.version=$VERSION -X main.buildCommit=$COMMIT" -o "$out" "./cmd/$cmd"
		built+=("$(basename "$out")")
	done
done

sum=(sha256sum)
command -v sha256sum >/dev/null || sum=(shasum -a 256)
(cd "$DIST" && "${sum[@]}" "${built[@]}" >SHA256SUMS)

echo "otos $VERSION (commit $COMMIT) in $DIST:"
(cd "$DIST" && ls -l "${built[@]}" SHA256SUMS)
