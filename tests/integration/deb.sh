# The Debian package: `dpkg-buildpackage -us -uc -b` builds it from a copy of the tree in a temp
# directory (nothing lands in the repository), lintian finds no error or warning, and the .deb
# holds what an administrator expects: a stripped binary (symbols in lethe-dbgsym), compressed
# man pages, the conffile, units enabled the Debian way, the user and directories created by
# the postinst, the completion and the copyright. No database. About 40 seconds.
. tests/harness/lib.sh

REPO=$PWD
for tool in dpkg-buildpackage dh lintian; do
    if ! command -v "$tool" >/dev/null; then
        ok "skipped: $tool is missing (deploy/install-deps.sh installs dpkg-dev, debhelper and lintian)"
        finish; exit
    fi
done
TMP=$(mktemp -d /tmp/lethe-deb.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# The tree as git sees it (tracked and new files, not what .gitignore leaves out: no build/).
SRC=$TMP/lethe
mkdir "$SRC"
if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$REPO" ls-files -z -co --exclude-standard | (cd "$REPO" && tar --null -cf - -T - 2>/dev/null) |
        tar -xf - -C "$SRC"
else
    tar -C "$REPO" --exclude='./build*' --exclude=./bin --exclude=./.demo -cf - . | tar -xf - -C "$SRC"
fi
before=$(git -C "$REPO" status --porcelain --ignored 2>/dev/null | LC_ALL=C sort)

(cd "$SRC" && dpkg-buildpackage -us -uc -b) >"$TMP/build.log" 2>&1; RC=$?
OUT=$(tail -30 "$TMP/build.log"); ERR=
assert_rc "dpkg-buildpackage -us -uc -b exits 0" 0
VERSION=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
ARCH=$(dpkg --print-architecture)
DEB=$TMP/lethe_${VERSION}_$ARCH.deb
assert_eq "it builds lethe and its debug symbols" "lethe-dbgsym_${VERSION}_$ARCH.deb lethe_${VERSION}_$ARCH.deb" \
    "$(cd "$TMP" && echo *.deb)"
assert_eq "the package's version is the program's" "$("$LETHE" --version)" "lethe ${VERSION%%-*}"
assert_eq "the repository is left as it was" "$before" \
    "$(git -C "$REPO" status --porcelain --ignored 2>/dev/null | LC_ALL=C sort)"

OUT=$(lintian --pedantic "$TMP/lethe_${VERSION}_$ARCH.changes" 2>&1); RC=$?
assert_eq "lintian reports no error" "" "$(echo "$OUT" | grep '^E:')"
assert_eq "lintian reports no warning" "" "$(echo "$OUT" | grep '^W:')"
echo "$OUT" | grep -E '^[IPN]:' | sed 's/^/# lintian: /'

# ---- what the package holds ---------------------------------------------------------------
X=$TMP/x
dpkg-deb -x "$DEB" "$X"
UNITDIR=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
UNITDIR=${UNITDIR#/}
assert_eq "the package lays out exactly these files" \
"etc/lethe/lethe.conf
$UNITDIR/lethe-check.service
$UNITDIR/lethe-check.timer
$UNITDIR/lethe-export.service
$UNITDIR/lethe-export.timer
$UNITDIR/lethe-run.service
$UNITDIR/lethe-run.timer
$UNITDIR/lethe-run@.service
$UNITDIR/lethe-run@.timer
usr/bin/lethe
usr/lib/sysusers.d/lethe.conf
usr/lib/tmpfiles.d/lethe.conf
usr/libexec/lethe/fs-delete
usr/libexec/lethe/lethe-export-month
usr/share/bash-completion/completions/lethe
usr/share/doc/lethe/README.md.gz
usr/share/doc/lethe/changelog.gz
usr/share/doc/lethe/copyright
usr/share/doc/lethe/examples/lethe.conf
usr/share/lethe/roles.sql
usr/share/man/man1/lethe.1.gz
usr/share/man/man5/lethe.conf.5.gz
usr/share/man/man8/fs-delete.8.gz
usr/share/man/man8/lethe-export-month.8.gz" \
    "$(cd "$X" && find . -type f -o -type l | sed 's|^\./||' | LC_ALL=C sort)"
assert_eq "the packaged lethe runs" "$("$LETHE" --version)" "$("$X/usr/bin/lethe" --version)"
for b in usr/bin/lethe usr/libexec/lethe/fs-delete; do
    assert_eq "$b is stripped" "" "$(readelf -S "$X/$b" | grep -oE '\.(symtab|debug_info)')"
    dyn=$(readelf -d "$X/$b" 2>/dev/null)
    assert_eq "$b is hardened: full RELRO, PIE, fortified calls" "BIND_NOW PIE _chk" \
        "$(echo "$dyn" | grep -o BIND_NOW | head -1) $(echo "$dyn" | grep -o 'PIE' | head -1) $(readelf --dyn-syms -W "$X/$b" 2>/dev/null | grep -o '_chk' | head -1)"
done
assert_contains "the binary's debug symbols are in lethe-dbgsym" ".debug_info" \
    "$(dpkg-deb -x "$TMP/lethe-dbgsym_${VERSION}_$ARCH.deb" "$TMP/dbg" && readelf -S "$(find "$TMP/dbg" -name '*.debug' | head -1)" 2>/dev/null)"
assert_eq "the shipped configuration is the example, every setting at its default" "" \
    "$(diff "$X/etc/lethe/lethe.conf" "$REPO/deploy/lethe.conf")"
OUT=$("$X/usr/bin/lethe" --config "$X/etc/lethe/lethe.conf" --db "host=$TMP/none port=1" status 2>&1); RC=$?
assert_rc "lethe accepts the shipped configuration (and fails only to connect)" 1
assert_contains "the units run the packaged binary" "ExecStart=/usr/bin/lethe run" "$(cat "$X/$UNITDIR/lethe-run.service")"
if command -v man >/dev/null; then
    for m in "$X"/usr/share/man/man*/*.gz; do
        assert_eq "$(basename "$m") renders without warning" "" "$(MANWIDTH=80 man -l "$m" 2>&1 >/dev/null)"
    done
fi
assert_contains "the copyright file is machine-readable" \
    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" "$(cat "$X/usr/share/doc/lethe/copyright")"

# ---- control and maintainer scripts ---------------------------------------------------------
C=$TMP/control
dpkg-deb -e "$DEB" "$C"
assert_eq "/etc/lethe/lethe.conf is the one conffile" "/etc/lethe/lethe.conf" "$(cat "$C/conffiles")"
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
for d in libpq5 libsystemd0 libjansson4 "systemd | systemd-standalone-sysusers"; do
    assert_contains "it depends on $d" "$d" "$DEPENDS"
done
POSTINST=$(cat "$C/postinst")
# step NEEDLE: the line number of NEEDLE's first appearance in the postinst (0: absent).
step() { echo "$POSTINST" | grep -nF -- "$1" | head -1 | cut -d: -f1 | grep . || echo 0; }
users=$(step 'systemd-sysusers ${DPKG_ROOT:+--root="$DPKG_ROOT"} lethe.conf')
dirs=$(step 'systemd-tmpfiles ${DPKG_ROOT:+--root="$DPKG_ROOT"} --create lethe.conf')
group=$(step 'chgrp lethe /etc/lethe/lethe.conf')
assert_eq "postinst creates the user, then its directories, then gives it the config" "yes" \
    "$([ "$users" -gt 0 ] && [ "$dirs" -gt "$users" ] && [ "$group" -gt "$dirs" ] && echo yes)"
assert_contains "postinst keeps the config from other users" "chmod 0640 /etc/lethe/lethe.conf" "$POSTINST"
for t in lethe-run.timer lethe-export.timer lethe-check.timer; do
    assert_contains "postinst enables $t" "deb-systemd-helper enable '$t'" "$POSTINST"
done
assert_contains "postinst starts the timers" \
    "deb-systemd-invoke start 'lethe-check.timer' 'lethe-export.timer' 'lethe-run.timer'" "$POSTINST"
assert_not_contains "the shard template is left for the administrator" "lethe-run@" "$POSTINST"
assert_contains "postrm forgets the timers on purge" \
    "deb-systemd-helper purge 'lethe-check.timer' 'lethe-export.timer' 'lethe-run.timer'" "$(cat "$C/postrm")"
OUT=$(sh -n "$C/postinst" 2>&1); RC=$?
assert_rc "postinst is valid sh" 0
finish
