#!/usr/bin/env bash
# `make package-test`: builds the packages, then installs, checks, upgrades
# and purges them in a minimal Debian (bookworm) chroot, runs lintian, and
# inspects and installs the .rpm with a private rpm database. Root only.
# Ends with one line "package-test: PASS|FAIL ..."; exits non-zero on failure.
#
# The chroot is made with debootstrap from this machine's configured Debian
# mirror (the first bookworm "deb" source in /etc/apt/sources.list or
# /etc/apt/sources.list.d/*; HB_MIRROR overrides) and cached as a tarball
# under /var/cache/hb/ keyed by suite, architecture, mirror and package list.
#
# Environment: HB_MIRROR, HB_CACHE_DIR (default /var/cache/hb),
# HB_KEEP_WORK=1 (keep the work directory for debugging),
# HB_SKIP_BUILD=1 (reuse the packages in dist/).
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$PWD
export PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C.UTF-8
t0=$(date +%s)

SUITE=bookworm
INCLUDE=systemd,libcap2-bin,procps,man-db
CACHE_DIR=${HB_CACHE_DIR:-/var/cache/hb}
EXPOSURE_TARGET=3.0

npass=0 nfail=0 nwarn=0 nskip=0
pass() { npass=$((npass + 1)); printf 'PASS  %s\n' "$*"; }
fail() { nfail=$((nfail + 1)); printf 'FAIL  %s\n' "$*"; }
warn() { nwarn=$((nwarn + 1)); printf 'WARN  %s\n' "$*"; }
skip() { nskip=$((nskip + 1)); printf 'SKIP  %s\n' "$*"; }
step() { printf '\n== %s (%ss)\n' "$*" "$(($(date +%s) - t0))"; }
# check DESC CMD...: PASS if the command succeeds, else FAIL with its output.
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$desc"; else
		fail "$desc"
		[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/      /' | head -40
	fi
}
summarized=no
summary() {
	summarized=yes
	local verdict=PASS
	[ "$nfail" -eq 0 ] || verdict=FAIL
	printf '\npackage-test: %s (%d passed, %d failed, %d warnings, %d skipped) in %ss\n' \
		"$verdict" "$npass" "$nfail" "$nwarn" "$nskip" "$(($(date +%s) - t0))"
	[ "$nfail" -eq 0 ]
}
die() {
	fail "$*"
	summary || true
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, dpkg)"

# --- tools --------------------------------------------------------------
missing=
for t in debootstrap lintian rpm systemd-analyze setcap getcap setpriv dpkg-deb; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
	echo "missing:$missing; running scripts/install-deps.sh"
	HB_WITH_PACKAGING=1 scripts/install-deps.sh
fi

arch=$(dpkg --print-architecture)
case "$arch" in amd64) rpmarch=x86_64 ;; arm64) rpmarch=aarch64 ;; *) die "unsupported host architecture $arch" ;; esac

# --- work directory, chroot mounts, cleanup ----------------------------
work=$(mktemp -d /var/tmp/hb-package-test.XXXXXX)
chroot_dir=$work/root
cleanup() {
	local rc=$?
	set +e
	if [ "$summarized" = no ]; then
		fail "unexpected exit (status $rc) near line ${BASH_LINENO[0]}"
		summary
		[ "$rc" -ne 0 ] || rc=1
	fi
	for m in $(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	if awk -v w="$work/" 'index($2, w) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
		echo "cleanup: mounts remain under $work; not removing it" >&2
	elif [ "${HB_KEEP_WORK:-0}" = 1 ]; then
		echo "cleanup: kept $work" >&2
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# in_chroot CMD...: runs a command in the chroot with a clean environment.
in_chroot() {
	chroot "$chroot_dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 HOME=/root "$@"
}

# --- build ----------------------------------------------------------------
step "build the packages"
dist=$root_dir/dist
if [ "${HB_SKIP_BUILD:-0}" = 1 ] && [ -f "$dist/VERSION" ]; then
	echo "HB_SKIP_BUILD=1: reusing $dist"
else
	packaging/build.sh || die "packaging/build.sh"
fi
version=$(cat "$dist/VERSION")
v1=$version-1
v2=$version-2
for a in amd64 arm64; do
	for p in hb-probe hb-responder; do
		check "built ${p}_${v1}_$a.deb" test -s "$dist/${p}_${v1}_$a.deb"
	done
done
for a in x86_64 aarch64; do
	for p in hb-probe hb-responder; do
		check "built $p-$v1.$a.rpm" test -s "$dist/$p-$v1.$a.rpm"
	done
done
# The upgrade: the same upstream version, package revision 2.
HB_VERSION=$version HB_RELEASE=2 HB_ARCHES=$arch HB_OUT=$work/v2 packaging/build.sh 2>/dev/null ||
	die "packaging/build.sh (revision 2)"
pass "built revision 2 for the upgrade test"

# --- lintian ------------------------------------------------------------
step "lintian"
lint_out=$(lintian --fail-on error,warning --display-info --pedantic --tag-display-limit 0 \
	"$dist"/hb-probe_"$v1"_*.deb "$dist"/hb-responder_"$v1"_*.deb 2>&1) && lint_rc=0 || lint_rc=$?
lint_out=$(printf '%s\n' "$lint_out" | grep -v '^running with root privileges' || true)
[ -z "$lint_out" ] || printf '%s\n' "$lint_out" | sed 's/^/      /'
if [ "$lint_rc" -ne 0 ]; then
	fail "lintian: errors or warnings beyond packaging/lintian-overrides"
elif printf '%s\n' "$lint_out" | grep -Eq 'unused-override|mismatched-override'; then
	fail "lintian: stale overrides in packaging/lintian-overrides"
else
	pass "lintian clean (errors and warnings; info/pedantic printed above) on amd64 and arm64"
fi

# --- the chroot -----------------------------------------------------------
step "Debian $SUITE chroot"
mirror=${HB_MIRROR:-}
if [ -z "$mirror" ]; then
	# One-line sources: deb [opts] URI SUITE COMPONENTS...
	mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
	mirror=$(printf '%s\n' "$mirror" |
		sed -E 's/\[[^]]*\]//' | awk -v s="$SUITE" '$1 == "deb" && $3 == s { print $2; exit }')
fi
if [ -z "$mirror" ]; then
	# deb822 sources: a stanza with Types: deb and Suites: containing SUITE.
	mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	mirror=$(printf '%s\n' "$mirror" | awk -v s="$SUITE" '
		function flush() { if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " s " ") && uri != "" && !out) { print uri; out = 1 } types = suites = uri = "" }
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		tolower($1) == "types:" { $1 = ""; types = $0 }
		tolower($1) == "suites:" { $1 = ""; suites = $0 }
		tolower($1) == "uris:" { uri = $2 }
		END { flush() }')
fi
[ -n "$mirror" ] || die "no '$SUITE' deb source in /etc/apt/sources.list{,.d/*}; set HB_MIRROR"
echo "mirror: $mirror"
key=$(printf '%s\n' v1 "$SUITE" "$arch" minbase "$INCLUDE" "$mirror" | sha256sum | cut -c1-16)
tarball=$CACHE_DIR/chroot-$SUITE-$arch-$key.tar.gz
mkdir -p "$chroot_dir"
if [ -s "$tarball" ]; then
	tar -xzf "$tarball" -C "$chroot_dir" || die "unpack $tarball"
	pass "chroot from cache $tarball"
else
	echo "debootstrap $SUITE ($INCLUDE) from $mirror; caching as $tarball"
	if ! debootstrap --variant=minbase --arch="$arch" --include="$INCLUDE" "$SUITE" "$chroot_dir" "$mirror" >"$work/debootstrap.log" 2>&1; then
		tail -20 "$work/debootstrap.log"
		die "debootstrap"
	fi
	rm -rf "$chroot_dir"/var/cache/apt/archives/*.deb
	mkdir -p "$CACHE_DIR"
	tar --use-compress-program='gzip -1' -cf "$tarball.tmp.$$" -C "$chroot_dir" . && mv "$tarball.tmp.$$" "$tarball" || die "cache $tarball"
	pass "chroot made with debootstrap and cached"
fi
mount -t proc proc "$chroot_dir/proc" || die "mount proc in the chroot"
mkdir -p "$chroot_dir/tmp/pkgs"
cp "$dist"/hb-probe_"$v1"_"$arch".deb "$dist"/hb-responder_"$v1"_"$arch".deb \
	"$work"/v2/hb-probe_"$v2"_"$arch".deb "$work"/v2/hb-responder_"$v2"_"$arch".deb "$chroot_dir/tmp/pkgs/"

# snapshot lists every path in the chroot but the package manager's own
# records, logs, caches and /run (runtime state; systemd-analyze writes
# there), and our package directory.
snapshot() {
	(cd "$chroot_dir" && find . -xdev \( -path ./proc -o -path ./run -o -path ./tmp/pkgs -o -path ./var/lib/dpkg \
		-o -path ./var/log -o -path ./var/cache -o -path ./var/lib/hb-rpmdb \) -prune -o -print | sort)
}
snapshot >"$work/before.txt"

# --- install --------------------------------------------------------------
step "dpkg -i"
check "dpkg -i hb-probe hb-responder ($v1)" in_chroot dpkg -i /tmp/pkgs/hb-probe_"$v1"_"$arch".deb /tmp/pkgs/hb-responder_"$v1"_"$arch".deb
for p in hb-probe hb-responder; do
	check "user $p exists with no login shell" sh -c "chroot '$chroot_dir' getent passwd $p | grep -Eq ':/(usr/)?s?bin/(nologin|false)\$'"
	check "/var/lib/$p is owned by $p, mode 750" sh -c "[ \"\$(chroot '$chroot_dir' stat -c '%U:%G %a' /var/lib/$p)\" = '$p:$p 750' ]"
	check "/etc/hb/$p.toml is root:$p 640" sh -c "[ \"\$(chroot '$chroot_dir' stat -c '%U:%G %a' /etc/hb/$p.toml)\" = 'root:$p 640' ]"
	check "$p conffiles registered" sh -c "chroot '$chroot_dir' dpkg-query -W -f='\${Conffiles}\n' $p | grep -q '/etc/hb/$p.toml'"
done
check "/etc/hb/targets is a conffile of hb-probe" sh -c "chroot '$chroot_dir' dpkg-query -W -f='\${Conffiles}\n' hb-probe | grep -q '/etc/hb/targets '"
check "man pages hb-probe(1) and hb-responder(8)" test -s "$chroot_dir/usr/share/man/man1/hb-probe.1.gz" -a -s "$chroot_dir/usr/share/man/man8/hb-responder.8.gz"
check "copyright and changelog.Debian.gz" test -s "$chroot_dir/usr/share/doc/hb-probe/copyright" -a -s "$chroot_dir/usr/share/doc/hb-responder/changelog.Debian.gz"
# The personalities: links to hb-probe, chosen by argv[0] (cmd/hb-probe).
for l in hb-fping pingstate; do
	check "/usr/bin/$l is a link to hb-probe" sh -c "[ -L '$chroot_dir/usr/bin/$l' ] && [ \"\$(chroot '$chroot_dir' readlink -f /usr/bin/$l)\" = /usr/bin/hb-probe ]"
	check "man page $l(1) is a link to hb-probe(1)" sh -c "[ \"\$(chroot '$chroot_dir' readlink -f /usr/share/man/man1/$l.1.gz)\" = /usr/share/man/man1/hb-probe.1.gz ]"
done
check "hb-fping 127.0.0.1 runs fping's command line (\"127.0.0.1 is alive\")" sh -c "chroot '$chroot_dir' /usr/bin/env -i PATH=/usr/bin /usr/bin/hb-fping 127.0.0.1 | grep -qx '127.0.0.1 is alive'"
check "pingstate --help is pingstate's command line" sh -c "chroot '$chroot_dir' /usr/bin/env -i PATH=/usr/bin /usr/bin/pingstate --help 2>&1 | grep -q '^Usage: pingstate --protocol tcp|http|https'"
ex=/usr/share/doc/hb-probe/examples/alerts.example.toml
check "$ex shipped, not a conffile" sh -c "[ -s '$chroot_dir$ex' ] && ! chroot '$chroot_dir' dpkg-query -W -f='\${Conffiles}\n' hb-probe | grep -q alerts"
check "hb-probe check-config accepts the shipped $ex" in_chroot /usr/bin/hb-probe check-config --config "$ex"
for p in hb-probe hb-responder; do
	check "$p.service reloads with SIGHUP (ExecReload)" grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$chroot_dir/lib/systemd/system/$p.service"
done
caps=$(in_chroot getcap /usr/bin/hb-probe 2>&1 || true)
echo "      getcap: $caps"
check "getcap /usr/bin/hb-probe is cap_net_raw=ep" sh -c "printf '%s' '$caps' | grep -Eq 'cap_net_raw[=+]ep'"
check "hb-responder has no file capability" sh -c "[ -z \"\$(chroot '$chroot_dir' getcap /usr/sbin/hb-responder)\" ]"

# --- systemd units ----------------------------------------------------------
step "systemd-analyze"
exposure_lines=
for p in hb-probe hb-responder; do
	unit=/lib/systemd/system/$p.service
	out=$(in_chroot systemd-analyze verify "$unit" 2>&1) && rc=0 || rc=$?
	if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
		pass "systemd-analyze verify $p.service: no output"
	else
		fail "systemd-analyze verify $p.service (rc $rc)"
		printf '%s\n' "$out" | sed 's/^/      /'
	fi
	out=$(in_chroot systemd-analyze security --offline=yes --no-pager "$unit" 2>&1 || true)
	score=$(printf '%s\n' "$out" | sed -nE 's/.*Overall exposure level for [^:]*: ([0-9.]+).*/\1/p')
	if [ -z "$score" ]; then
		fail "systemd-analyze security $p.service: no score"
		printf '%s\n' "$out" | tail -5 | sed 's/^/      /'
		continue
	fi
	echo "      exposure $p.service: $score (target <= $EXPOSURE_TARGET)"
	exposure_lines="$exposure_lines| \`$p.service\` | $score |"$'\n'
	if awk -v s="$score" -v t="$EXPOSURE_TARGET" 'BEGIN { exit !(s <= t) }'; then
		pass "exposure $p.service $score <= $EXPOSURE_TARGET"
	else
		warn "exposure $p.service $score is above the target $EXPOSURE_TARGET"
	fi
done
printf '%s' "$exposure_lines" >"$dist/exposure.md"
# Keep docs/packaging.md's table current (only rewritten when it changed).
doc=docs/packaging.md
if [ -f "$doc" ] && grep -q '<!-- exposure:begin -->' "$doc"; then
	new=$(awk -v tbl="$exposure_lines" '
		/<!-- exposure:begin -->/ { print; print "| unit | exposure |"; print "|---|---|"; printf "%s", tbl; skip = 1; next }
		/<!-- exposure:end -->/ { skip = 0 }
		!skip { print }' "$doc")
	if [ "$new" != "$(cat "$doc")" ]; then
		printf '%s\n' "$new" >"$doc"
		echo "      updated the exposure table in $doc"
	fi
fi

# --- the binaries, as the service users --------------------------------------
step "hb-probe and hb-responder"
# is_stub OUTPUT: the placeholder main() of an unbuilt command.
is_stub() { printf '%s' "$1" | grep -q 'not built yet'; }
for p in hb-probe:/usr/bin/hb-probe hb-responder:/usr/sbin/hb-responder; do
	name=${p%%:*} bin=${p#*:}
	out=$(in_chroot "$bin" --version 2>&1) && rc=0 || rc=$?
	if is_stub "$out"; then
		skip "$name --version: the binary is still the placeholder ($out)"
	elif [ "$rc" -eq 0 ] && printf '%s' "$out" | grep -qF -- "$version"; then
		pass "$name --version: $out"
	else
		fail "$name --version (rc $rc, want $version): $out"
	fi
done

# probe_as DESC SETPRIV-ARGS...: a one-shot probe of 127.0.0.1 as hb-probe.
probe_as() {
	local desc=$1 out rc
	shift
	out=$(timeout 60 chroot "$chroot_dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin HOME=/var/lib/hb-probe \
		setpriv --reuid=hb-probe --regid=hb-probe --init-groups "$@" \
		/usr/bin/hb-probe --once 127.0.0.1 2>&1) && rc=0 || rc=$?
	if is_stub "$out"; then
		skip "one-shot probe $desc: the binary is still the placeholder"
	elif [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q 'mode: raw'; then
		pass "one-shot probe of 127.0.0.1 $desc: answered, raw ICMP socket"
	else
		fail "one-shot probe of 127.0.0.1 $desc (rc $rc; want 0 and 'mode: raw')"
	fi
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/      /' | head -12
}
# As the unit runs it: ambient CAP_NET_RAW, bounding set CAP_NET_RAW only,
# no_new_privs.
probe_as "as hb-probe, ambient CAP_NET_RAW only (like the unit)" \
	--inh-caps=-all,+net_raw --ambient-caps=-all,+net_raw --bounding-set=-all,+net_raw --no-new-privs
# Interactive use: nothing inherited, the file capability from postinst.
probe_as "as hb-probe, file capability only (setcap)" \
	--inh-caps=-all --bounding-set=-all,+net_raw

# The daemon as the unit starts it (user, ambient CAP_NET_RAW only,
# HB_CONFIG, STATE_DIRECTORY), on a loopback-only target list and without
# the API; it must still run after 4 s, stop on SIGTERM and have written its
# history under /var/lib/hb-probe.
printf '127.0.0.1 name=loopback\n' >"$chroot_dir/tmp/pkgs/targets"
out=$(timeout -s TERM 4 chroot "$chroot_dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin \
	HOME=/var/lib/hb-probe HB_CONFIG=/etc/hb/hb-probe.toml STATE_DIRECTORY=/var/lib/hb-probe \
	setpriv --reuid=hb-probe --regid=hb-probe --init-groups --inh-caps=-all,+net_raw \
	--ambient-caps=-all,+net_raw --bounding-set=-all,+net_raw --no-new-privs \
	/usr/bin/hb-probe --targets /tmp/pkgs/targets --listen off 2>&1) && rc=0 || rc=$?
if is_stub "$out"; then
	skip "hb-probe daemon: not built yet"
elif [ "$rc" -eq 124 ] && [ -n "$(ls "$chroot_dir"/var/lib/hb-probe/*.db 2>/dev/null)" ]; then
	pass "hb-probe daemon ran 4 s as hb-probe with CAP_NET_RAW only and wrote /var/lib/hb-probe/*.db"
else
	fail "hb-probe daemon (rc $rc, want 124 = still running at the timeout, and a database in /var/lib/hb-probe)"
fi
[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/      /' | tail -8

# --- upgrade ----------------------------------------------------------------
step "upgrade $v1 -> $v2"
marker="# local change $$"
printf '%s\n' "$marker" >>"$chroot_dir/etc/hb/hb-probe.toml"
printf '%s\n' "$marker" >>"$chroot_dir/etc/hb/hb-responder.toml"
printf '%s\n' "$marker" >>"$chroot_dir/etc/hb/targets"
touch "$chroot_dir/var/lib/hb-probe/state-survives"
check "dpkg -i revision 2 over revision 1" in_chroot dpkg -i /tmp/pkgs/hb-probe_"$v2"_"$arch".deb /tmp/pkgs/hb-responder_"$v2"_"$arch".deb
check "installed version is $v2" sh -c "[ \"\$(chroot '$chroot_dir' dpkg-query -W -f='\${Version}' hb-probe)\" = '$v2' ]"
for f in hb-probe.toml hb-responder.toml targets; do
	check "modified /etc/hb/$f survived the upgrade" grep -qF -- "$marker" "$chroot_dir/etc/hb/$f"
done
check "no .dpkg-dist/.dpkg-new left in /etc/hb" sh -c "! ls '$chroot_dir'/etc/hb/*.dpkg-* 2>/dev/null | grep -q ."
check "state in /var/lib/hb-probe survived the upgrade" test -e "$chroot_dir/var/lib/hb-probe/state-survives"
check "file capability set again on the new binary" sh -c "chroot '$chroot_dir' getcap /usr/bin/hb-probe | grep -Eq 'cap_net_raw[=+]ep'"

# --- purge ------------------------------------------------------------------
step "purge"
check "systemctl enable (offline) both units" in_chroot systemctl enable hb-probe.service hb-responder.service
in_chroot dpkg -L hb-probe hb-responder | sort -u >"$work/owned.txt"
check "dpkg --purge hb-probe hb-responder" in_chroot dpkg --purge hb-probe hb-responder
left=
while read -r f; do
	[ -d "$chroot_dir$f" ] && continue # shared directories such as /usr/bin (or /lib -> usr/lib)
	[ -e "$chroot_dir$f" ] || [ -L "$chroot_dir$f" ] && left="$left $f"
done <"$work/owned.txt"
check "no packaged file remains${left:+:$left}" test -z "$left"
for p in hb-probe hb-responder; do
	check "user and group $p removed" sh -c "! chroot '$chroot_dir' getent passwd $p && ! chroot '$chroot_dir' getent group $p"
done
check "units disabled (no [Install] symlinks left)" sh -c "! ls '$chroot_dir'/etc/systemd/system/*/hb-*.service 2>/dev/null | grep -q ."
snapshot >"$work/after.txt"
# Backups that shadow-utils writes whenever it edits these files.
extra=$(comm -13 "$work/before.txt" "$work/after.txt" | grep -vE '^\./etc/(passwd|group|shadow|gshadow|subuid|subgid)-$' || true)
gone=$(comm -23 "$work/before.txt" "$work/after.txt" || true)
check "the chroot's file list is as before install${extra:+ (new: $(echo $extra))}${gone:+ (missing: $(echo $gone))}" test -z "$extra$gone"

# --- rpm --------------------------------------------------------------------
step "rpm"
for r in "$dist"/hb-probe-"$v1".*.rpm "$dist"/hb-responder-"$v1".*.rpm; do
	b=$(basename "$r")
	p=${b%%-[0-9]*}
	echo "  -- $b"
	list=$(rpm -qpl "$r" 2>&1) || true
	printf '%s\n' "$list" | sed 's/^/      /'
	conf=$(rpm -qp --configfiles "$r" 2>&1) || true
	echo "      configfiles: $(echo $conf)"
	check "$b: /etc/hb/$p.toml is a %config file" sh -c "printf '%s\n' '$conf' | grep -qx '/etc/hb/$p.toml'"
	check "$b: %config(noreplace)" sh -c "rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' '$r' | grep -q '^cn.* /etc/hb/$p.toml\$'"
	reqs=$(rpm -qp --requires "$r" 2>&1) || true
	echo "      requires: $(echo $reqs)"
	scripts=$(rpm -qp --scripts "$r" 2>&1) || true
	check "$b: postinstall, preuninstall, postuninstall scriptlets" sh -c "printf '%s\n' \"\$1\" | grep -q '^postinstall scriptlet' && printf '%s\n' \"\$1\" | grep -q '^preuninstall scriptlet' && printf '%s\n' \"\$1\" | grep -q '^postuninstall scriptlet'" _ "$scripts"
	if [ "$p" = hb-probe ]; then
		for f in /usr/bin/hb-fping /usr/bin/pingstate /usr/share/man/man1/pingstate.1.gz /usr/share/doc/hb-probe/examples/alerts.example.toml; do
			check "$b: contains $f" sh -c "printf '%s\n' \"\$1\" | grep -qx '$f'" _ "$list"
		done
		check "$b: /usr/bin/pingstate and /usr/bin/hb-fping are links to hb-probe" sh -c "rpm -qp --qf '[%{FILENAMES} -> %{FILELINKTOS}\n]' '$r' | grep -qx '/usr/bin/pingstate -> hb-probe' && rpm -qp --qf '[%{FILENAMES} -> %{FILELINKTOS}\n]' '$r' | grep -qx '/usr/bin/hb-fping -> hb-probe'"
		check "$b: postinstall runs setcap" sh -c "printf '%s\n' \"\$1\" | grep -q 'setcap cap_net_raw+ep'" _ "$scripts"
		check "$b: requires libcap (setcap)" sh -c "printf '%s\n' \"\$1\" | grep -qx 'libcap'" _ "$reqs"
	fi
done
# Install into the (now clean) chroot with a private rpm database, so the
# scriptlets run there under /bin/sh.
rpmdb=/var/lib/hb-rpmdb
rpmc() { rpm --root "$chroot_dir" --dbpath "$rpmdb" "$@"; }
check "rpm --initdb (private database)" rpmc --initdb
check "rpm -i --nodeps hb-probe hb-responder ($rpmarch)" rpmc -i --nodeps \
	"$dist"/hb-probe-"$v1"."$rpmarch".rpm "$dist"/hb-responder-"$v1"."$rpmarch".rpm
check "rpm: files in place" test -x "$chroot_dir/usr/bin/hb-probe" -a -x "$chroot_dir/usr/sbin/hb-responder" -a -s "$chroot_dir/usr/lib/systemd/system/hb-probe.service"
check "rpm: pingstate link and alerts example in place" test -L "$chroot_dir/usr/bin/pingstate" -a -s "$chroot_dir/usr/share/doc/hb-probe/examples/alerts.example.toml"
check "rpm scriptlet: users created" sh -c "chroot '$chroot_dir' getent passwd hb-probe && chroot '$chroot_dir' getent passwd hb-responder"
check "rpm scriptlet: getcap cap_net_raw=ep" sh -c "chroot '$chroot_dir' getcap /usr/bin/hb-probe | grep -Eq 'cap_net_raw[=+]ep'"
check "rpm scriptlet: /etc/hb/hb-probe.toml root:hb-probe 640" sh -c "[ \"\$(chroot '$chroot_dir' stat -c '%U:%G %a' /etc/hb/hb-probe.toml)\" = 'root:hb-probe 640' ]"
printf '%s\n' "$marker" >>"$chroot_dir/etc/hb/hb-probe.toml"
check "rpm -U to revision 2" rpmc -U --nodeps "$work"/v2/hb-probe-"$v2"."$rpmarch".rpm "$work"/v2/hb-responder-"$v2"."$rpmarch".rpm
check "rpm: modified /etc/hb/hb-probe.toml survived the upgrade" grep -qF -- "$marker" "$chroot_dir/etc/hb/hb-probe.toml"
check "rpm: file capability set again after the upgrade" sh -c "chroot '$chroot_dir' getcap /usr/bin/hb-probe | grep -Eq 'cap_net_raw[=+]ep'"
check "rpm -e hb-probe hb-responder" rpmc -e --nodeps hb-probe hb-responder
check "rpm -e: binaries and units gone" test ! -e "$chroot_dir/usr/bin/hb-probe" -a ! -e "$chroot_dir/usr/sbin/hb-responder" -a ! -e "$chroot_dir/usr/lib/systemd/system/hb-probe.service"
check "rpm -e: the modified config kept as .rpmsave" test -e "$chroot_dir/etc/hb/hb-probe.toml.rpmsave"
echo "      after rpm -e: users and /var/lib/hb-* are kept (no purge in rpm; see docs/packaging.md)"

summary
