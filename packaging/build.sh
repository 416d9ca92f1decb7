#!/usr/bin/env bash
# Builds the hb-probe and hb-responder packages (.deb and .rpm, amd64 and
# arm64) into dist/ with nfpm v2.45.2. `make package` runs it.
#
# Environment (all optional):
#   HB_VERSION   upstream version; default: from `git describe` (see below)
#   HB_RELEASE   package revision (deb -N, rpm Release); default 1
#   HB_ARCHES    Go architectures; default "amd64 arm64"
#   HB_FORMATS   nfpm packagers; default "deb rpm"
#   HB_OUT       output directory; default dist
#
# Version from git: a tag vX.Y.Z gives X.Y.Z; commits after it give
# X.Y.Z+git<commit time>.<sha>; no tag gives 0.0.0~git<commit time>.<sha>
# (sorts before any 0.0.0 release); a dirty tree appends ".dirty".
# '-' in a tag (v1.0.0-rc1) becomes '~' (1.0.0~rc1, sorts before 1.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

NFPM_VERSION=v2.45.2
export PATH=/usr/local/go/bin:$PATH
GOBIN_DIR=$root/.cache/bin
nfpm=$GOBIN_DIR/nfpm

log() { printf 'build.sh: %s\n' "$*" >&2; }

# hb_version prints the package version derived from git.
hb_version() {
	local desc sha when base
	desc=$(git describe --tags --always --dirty 2>/dev/null || true)
	sha=$(git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)
	when=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S 2>/dev/null || date -u +%Y%m%d%H%M%S)
	local dirty=
	case "$desc" in *-dirty) dirty=.dirty desc=${desc%-dirty} ;; esac
	if [[ $desc =~ ^v?([0-9]+(\.[0-9]+)*)(-[0-9A-Za-z.]+)?-([0-9]+)-g[0-9a-f]+$ ]]; then
		base=${BASH_REMATCH[1]}${BASH_REMATCH[3]:+~${BASH_REMATCH[3]#-}}
		echo "$base+git$when.$sha$dirty"
	elif [[ $desc =~ ^v?([0-9]+(\.[0-9]+)*)(-[0-9A-Za-z.]+)?$ ]]; then
		base=${BASH_REMATCH[1]}${BASH_REMATCH[3]:+~${BASH_REMATCH[3]#-}}
		if [ -n "$dirty" ]; then echo "$base+git$when.$sha$dirty"; else echo "$base"; fi
	else
		echo "0.0.0~git$when.$sha$dirty"
	fi
}

# ensure_nfpm installs the pinned nfpm into .cache/bin unless it is there.
ensure_nfpm() {
	if [ -x "$nfpm" ] && go version -m "$nfpm" 2>/dev/null | grep -q "mod[[:space:]]*github.com/goreleaser/nfpm/v2[[:space:]]*$NFPM_VERSION"; then
		return
	fi
	log "installing nfpm $NFPM_VERSION into $GOBIN_DIR"
	mkdir -p "$GOBIN_DIR"
	GOBIN=$GOBIN_DIR GOFLAGS= go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
}

# example_config prints the path of a package's example config: the one
# written with the program, else the test placeholder (with a warning).
example_config() {
	local pkg=$1
	if [ -f "packaging/$pkg.example.toml" ]; then
		echo "packaging/$pkg.example.toml"
	else
		log "WARN: packaging/$pkg.example.toml missing; packaging the placeholder packaging/test-fixtures/$pkg.example.toml"
		echo "packaging/test-fixtures/$pkg.example.toml"
	fi
}

VERSION=${HB_VERSION:-$(hb_version)}
RELEASE=${HB_RELEASE:-1}
ARCHES=${HB_ARCHES:-amd64 arm64}
FORMATS=${HB_FORMATS:-deb rpm}
OUT=${HB_OUT:-dist}
case "$OUT" in /*) ;; *) OUT=$root/$OUT ;; esac
[[ $VERSION =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || { log "invalid package version '$VERSION'"; exit 1; }
[[ $RELEASE =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || { log "invalid release '$RELEASE'"; exit 1; }
log "version $VERSION-$RELEASE, arches: $ARCHES, formats: $FORMATS, into $OUT"

ensure_nfpm
mkdir -p "$OUT"
echo "$VERSION" >"$OUT/VERSION"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
changed=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
describe=$(git describe --tags --always --dirty 2>/dev/null || echo unknown)
maintainer='hb maintainers <maintainers@hbmon.example>'

stage_root=$OUT/stage
rm -rf "$stage_root"
for arch in $ARCHES; do
	bindir=$OUT/bin/linux_$arch
	mkdir -p "$bindir"
	log "go build linux/$arch"
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath \
		-ldflags "-s -w -X main.version=$VERSION" -o "$bindir/" ./cmd/hb-probe ./cmd/hb-responder
	modules=$(go version -m "$bindir/hb-probe" "$bindir/hb-responder" |
		awk '$1 == "dep" { print " " $2 " " $3 }' | sort -u)
	[ -n "$modules" ] || modules=" (none)"

	for pkg in hb-probe hb-responder; do
		st=$stage_root/$pkg-$arch
		mkdir -p "$st"
		cp "$bindir/$pkg" "$st/$pkg"
		cp "packaging/systemd/$pkg.service" "$st/"
		cp "packaging/sysusers.d/$pkg.conf" "$st/sysusers.conf"
		cp "$(example_config "$pkg")" "$st/$pkg.toml"
		cp packaging/targets.example "$st/targets"
		cp packaging/alerts.example.toml "$st/alerts.example.toml"
		cp "packaging/lintian-overrides/$pkg" "$st/lintian-overrides"
		awk -v m="$modules" '$0 == "@MODULES@" { print m; next } { print }' packaging/copyright >"$st/copyright"
		if [ "$pkg" = hb-probe ]; then man=hb-probe.1 bin=/usr/bin/hb-probe setcap=yes; else man=hb-responder.8 bin=/usr/sbin/hb-responder setcap=no; fi
		gzip -9n <"packaging/man/$man" >"$st/$man.gz"
		for s in postinst prerm postrm; do
			sed -e "s|@PKG@|$pkg|g" -e "s|@BIN@|$bin|g" -e "s|@SETCAP@|$setcap|g" \
				"packaging/scripts/$s.in" >"$st/$s"
			chmod 0755 "$st/$s"
		done
		cat >"$st/changelog.yaml" <<-EOF
			- semver: $VERSION-$RELEASE
			  date: $changed
			  packager: $maintainer
			  deb:
			    urgency: medium
			    distributions: [unstable]
			  changes:
			    - note: Build of hb $describe.
		EOF
		for fmt in $FORMATS; do
			(cd "$st" && HB_ARCH=$arch HB_VERSION=$VERSION HB_RELEASE=$RELEASE \
				"$nfpm" package --config "$root/packaging/nfpm/$pkg.yaml" --packager "$fmt" --target "$OUT/" >/dev/null)
		done
	done
done
rm -rf "$stage_root"
(cd "$OUT" && ls -1 ./*.deb ./*.rpm 2>/dev/null | sed 's|^\./||' | grep -F -- "$VERSION" || true) >&2
