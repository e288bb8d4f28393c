# Deployment: `make install` into a DESTDIR lays out the binary, the executor, the export
# wrapper, the units, the example config, the man pages, the sysusers.d and tmpfiles.d entries
# and the bash completion; the units verify with systemd-analyze and pass its security review;
# systemd-sysusers and systemd-tmpfiles create the user and directories in a scratch root; the
# man pages render cleanly and cover every command, option and setting; the completion offers
# what `lethe help` lists; the example config is accepted by lethe. No database.
. tests/harness/lib.sh

REPO=$PWD
BUILD=${LETHE_BUILD:-$(dirname "$(dirname "$LETHE")")}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# file_mode NAME PATH MODE: PATH is a regular file with MODE.
file_mode() {
    if [ -f "$2" ] && [ ! -L "$2" ]; then
        assert_eq "$1" "$3" "$(stat -c %a "$2")"
    else
        not_ok "$1" "not a file: $2"
    fi
}
# line NAME FILE LINE: FILE has LINE as a whole line.
line() {
    if grep -qxF -- "$3" "$2"; then ok "$1"; else not_ok "$1" "no line '$3' in $2"; fi
}

# ---- make install -------------------------------------------------------------------------
# The build directory is the one $LETHE was built in, so installing builds nothing new.
D=$TMP/dest
OUT=$(make -s -C "$REPO" install BUILD="$BUILD" DESTDIR="$D" 2>&1); RC=$?
assert_rc "make install DESTDIR=... exits 0" 0

P=$D/usr/local
U=$P/lib/systemd/system
assert_eq "make install lays out exactly these files (PREFIX=/usr/local)" \
"etc/lethe/lethe.conf.example
usr/local/bin/lethe
usr/local/lib/systemd/system/lethe-check.service
usr/local/lib/systemd/system/lethe-check.timer
usr/local/lib/systemd/system/lethe-export.service
usr/local/lib/systemd/system/lethe-export.timer
usr/local/lib/systemd/system/lethe-run.service
usr/local/lib/systemd/system/lethe-run.timer
usr/local/lib/systemd/system/lethe-run@.service
usr/local/lib/systemd/system/lethe-run@.timer
usr/local/lib/sysusers.d/lethe.conf
usr/local/lib/tmpfiles.d/lethe.conf
usr/local/libexec/lethe/fs-delete
usr/local/libexec/lethe/lethe-export-month
usr/local/share/bash-completion/completions/lethe
usr/local/share/lethe/roles.sql
usr/local/share/man/man1/lethe.1
usr/local/share/man/man5/lethe.conf.5
usr/local/share/man/man8/fs-delete.8
usr/local/share/man/man8/lethe-export-month.8" "$(cd "$D" && find . -type f -o -type l | sed 's|^\./||' | LC_ALL=C sort)"
file_mode "the binary is executable" "$P/bin/lethe" 755
file_mode "the executor is executable" "$P/libexec/lethe/fs-delete" 755
file_mode "the export wrapper is executable" "$P/libexec/lethe/lethe-export-month" 755
UNITS="lethe-run.service lethe-run.timer lethe-run@.service lethe-run@.timer lethe-export.service
       lethe-export.timer lethe-check.service lethe-check.timer"
SERVICES="lethe-run.service lethe-run@.service lethe-export.service lethe-check.service"
for u in $UNITS; do
    file_mode "$u is installed 0644" "$U/$u" 644
done
for f in lib/sysusers.d/lethe.conf lib/tmpfiles.d/lethe.conf share/bash-completion/completions/lethe \
    share/man/man5/lethe.conf.5 share/man/man8/fs-delete.8 share/man/man8/lethe-export-month.8; do
    file_mode "$f is installed 0644" "$P/$f" 644
done
file_mode "the example config is installed 0644" "$D/etc/lethe/lethe.conf.example" 644
file_mode "the man page is installed 0644" "$P/share/man/man1/lethe.1" 644
file_mode "the roles script is installed 0644" "$P/share/lethe/roles.sql" 644
assert_eq "the installed binary runs" "$("$LETHE" --version)" "$("$P/bin/lethe" --version)"
OUT=$("$P/libexec/lethe/fs-delete" --help); RC=$?
assert_rc "the installed executor runs" 0

line "lethe-run.service runs the installed binary" "$U/lethe-run.service" \
    "ExecStart=/usr/local/bin/lethe run"
line "lethe-export.service runs the installed wrapper" "$U/lethe-export.service" \
    "ExecStart=/usr/local/libexec/lethe/lethe-export-month --dir /var/lib/lethe/exports --anchors /var/lib/lethe/anchors.jsonl"
line "the wrapper calls the installed binary" "$P/libexec/lethe/lethe-export-month" \
    'LETHE=${LETHE:-/usr/local/bin/lethe}'
line "the example config names the installed executor" "$D/etc/lethe/lethe.conf.example" \
    '  #command = "/usr/local/libexec/lethe/fs-delete";'
assert_eq "no installed file names a /usr path outside PREFIX" "" \
    "$(grep -rlE '/usr/(bin|libexec)/' "$D" --exclude=lethe --exclude=fs-delete)"

D2=$TMP/dest-usr
OUT=$(make -s -C "$REPO" install BUILD="$BUILD" DESTDIR="$D2" PREFIX=/usr 2>&1); RC=$?
assert_rc "make install PREFIX=/usr exits 0" 0
file_mode "PREFIX=/usr puts the binary in /usr/bin" "$D2/usr/bin/lethe" 755
file_mode "PREFIX=/usr puts the executor in /usr/libexec/lethe" "$D2/usr/libexec/lethe/fs-delete" 755
line "PREFIX=/usr puts the units in /usr/lib/systemd/system" \
    "$D2/usr/lib/systemd/system/lethe-run.service" "ExecStart=/usr/bin/lethe run"
file_mode "the example config stays in /etc" "$D2/etc/lethe/lethe.conf.example" 644
file_mode "PREFIX=/usr puts the man page in /usr/share/man" "$D2/usr/share/man/man1/lethe.1" 644

# ---- the units ----------------------------------------------------------------------------
RUN=$U/lethe-run.service
SHARD=$U/lethe-run@.service
EXP=$U/lethe-export.service
CHK=$U/lethe-check.service
line "the run service is a oneshot" "$RUN" "Type=oneshot"
line "exit 3 (lock held) is not a unit failure" "$RUN" "SuccessExitStatus=3"
line "the export service is a oneshot" "$EXP" "Type=oneshot"
line "the check service is a oneshot" "$CHK" "Type=oneshot"
line "the check service runs status --check" "$CHK" "ExecStart=/usr/local/bin/lethe status --check"
assert_eq "a failed check fails the unit (no SuccessExitStatus=)" "" "$(grep '^SuccessExitStatus=' "$CHK")"
line "the shard template runs its instance's shard" "$SHARD" "ExecStart=/usr/local/bin/lethe run --shard %I"
# A stop signals lethe alone, which lets a running deleter finish (up to executor.timeout, 15m
# by default) before it stops: the default KillMode signalled the deleter too, failing its batch.
for s in "$RUN" "$SHARD"; do
    line "$(basename "$s"): a stop signals lethe alone" "$s" "KillMode=mixed"
    line "$(basename "$s"): and waits longer than the default executor.timeout" "$s" "TimeoutStopSec=20min"
done
assert_eq "the instance K-N is the shard K/N (%I unescapes systemd's path escaping)" "0/4 3/16" \
    "$(systemd-escape -u 0-4) $(systemd-escape -u 3-16)"
assert_eq "and systemd-escape turns a shard into its instance" "lethe-run@1-4.timer" \
    "$(systemd-escape --template=lethe-run@.timer 1/4)"
for s in "$RUN" "$SHARD" "$EXP" "$CHK"; do
    n=$(basename "$s")
    for want in "User=lethe" "Group=lethe" "ProtectSystem=strict" "NoNewPrivileges=yes" \
        "PrivateTmp=yes" "ProtectHome=yes" "CapabilityBoundingSet=" \
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" "SystemCallFilter=@system-service" \
        "SystemCallFilter=~@privileged @resources" "RemoveIPC=yes" "ProcSubset=pid"; do
        line "$n: $want" "$s" "$want"
    done
done
# The sandbox is one block, the same in every service (MemoryDenyWriteExecute= aside: it is
# off where executors run); the shard template differs from lethe-run.service in its shard only.
sandbox() { sed -n '/^NoNewPrivileges=/,$p' "$1" | grep -v -e '^#' -e '^MemoryDenyWriteExecute=' -e '^$'; }
for s in "$SHARD" "$EXP" "$CHK"; do
    assert_eq "$(basename "$s") has lethe-run.service's sandbox" "$(sandbox "$RUN")" "$(sandbox "$s")"
done
assert_eq "lethe-run@.service is lethe-run.service but for the shard" \
"< Description=lethe retention run: purge the items that are due
> Description=lethe retention run for shard %I: purge the items that are due
< ExecStart=/usr/local/bin/lethe run
> ExecStart=/usr/local/bin/lethe run --shard %I" \
    "$(diff <(grep -v '^#' "$RUN") <(grep -v '^#' "$SHARD") | grep '^[<>]')"
assert_eq "lethe-run@.timer is lethe-run.timer but for the shard" \
"< Description=lethe retention run, hourly
> Description=lethe retention run for shard %I, hourly
< Unit=lethe-run.service" \
    "$(diff <(grep -v '^#' "$U/lethe-run.timer") <(grep -v '^#' "$U/lethe-run@.timer") | grep '^[<>]')"
assert_eq "the run service may write to the spool only" "ReadWritePaths=/var/lib/lethe/spool" \
    "$(grep '^ReadWritePaths=' "$RUN")"
assert_eq "the export service may write to the exports only" \
    "ReadWritePaths=/var/lib/lethe/exports" "$(grep '^ReadWritePaths=' "$EXP")"
assert_eq "the check service writes nowhere" "" "$(grep -e '^ReadWritePaths=' -e '^StateDirectory=' "$CHK")"
for t in lethe-run.timer lethe-run@.timer lethe-export.timer lethe-check.timer; do
    line "$t is persistent" "$U/$t" "Persistent=true"
    assert_contains "$t has a random delay" "RandomizedDelaySec=" "$(grep '^RandomizedDelaySec=' "$U/$t")"
    line "$t is enabled by timers.target" "$U/$t" "WantedBy=timers.target"
done

# The run timer must fire more often than the default lookahead (2d), random delay included.
cal=$(sed -n 's/^OnCalendar=//p' "$U/lethe-run.timer")
delay=$(sed -n 's/^RandomizedDelaySec=//p' "$U/lethe-run.timer")
elapses=$(TZ=UTC systemd-analyze calendar --iterations=2 "$cal" |
    sed -n 's/^ *\(Next elapse\|Iter\. #2\): //p')
t1=$(date -u -d "$(echo "$elapses" | sed -n 1p)" +%s)
t2=$(date -u -d "$(echo "$elapses" | sed -n 2p)" +%s)
d=$(systemd-analyze timespan "$delay" | sed -n 's/^ *μs: //p')
gap=$((t2 - t1 + d / 1000000))
if [ -n "$t1" ] && [ "$gap" -gt 0 ] && [ "$gap" -lt 172800 ]; then
    ok "the run timer fires well within the 2d lookahead (every ${gap}s at worst)"
else
    not_ok "the run timer fires within the 2d lookahead" "OnCalendar=$cal, gap ${gap}s"
fi
cal=$(sed -n 's/^OnCalendar=//p' "$U/lethe-check.timer")
elapses=$(TZ=UTC systemd-analyze calendar --iterations=2 "$cal" | sed -n 's/^ *\(Next elapse\|Iter\. #2\): //p')
assert_eq "the check timer fires hourly at half past" "30:00 30:00 3600" \
    "$(echo "$elapses" | while read -r _ _ t _; do printf '%s ' "${t#*:}"; done)$(( $(date -u -d "$(echo "$elapses" | sed -n 2p)" +%s) - $(date -u -d "$(echo "$elapses" | sed -n 1p)" +%s) ))"
cal=$(sed -n 's/^OnCalendar=//p' "$U/lethe-export.timer")
elapses=$(TZ=UTC systemd-analyze calendar --iterations=3 "$cal" | sed -n 's/^ *\(Next elapse\|Iter\. #[23]\): //p')
assert_eq "the export timer fires on the first of each month" "01
01
01" "$(echo "$elapses" | while read -r _ day _; do date -u -d "$day" +%d; done)"

# systemd-analyze verify checks that each ExecStart= binary exists and is executable, so it
# cannot verify the DESTDIR copies as they are: they name /usr/local/bin/lethe, which is not
# installed on this machine. (--root=DESTDIR would resolve them, but then systemd's own units,
# such as sysinit.target, are looked for in DESTDIR too and are missing.) So it verifies copies
# in which only the install prefix is rewritten to point into DESTDIR; every other line is the
# installed one. MANPATH points at the installed man page, so Documentation=man:lethe(1) is
# checked against it. verify exits 0 even on unknown or malformed settings, printing warnings
# instead, so its output must also be empty. The templates are verified as an instance (0-4).
V=$TMP/verify
mkdir -p "$V"
for u in $UNITS; do
    sed "s|/usr/local/|$P/|g" "$U/$u" >"$V/${u/@./@0-4.}"
done
line "the verified copy runs the DESTDIR binary" "$V/lethe-run.service" "ExecStart=$P/bin/lethe run"
man_check=--man=yes
command -v man >/dev/null || { man_check=--man=no; echo "# man(1) missing: Documentation= not checked"; }
OUT=$(MANPATH=$P/share/man systemd-analyze verify "$man_check" "$V"/*.service "$V"/*.timer 2>&1); RC=$?
assert_rc "systemd-analyze verify passes on every installed unit" 0
assert_eq "systemd-analyze verify has no warning" "" "$OUT"
assert_eq "every unit was verified, the templates as an instance" \
    "lethe-check.service lethe-check.timer lethe-export.service lethe-export.timer lethe-run.service lethe-run.timer lethe-run@0-4.service lethe-run@0-4.timer" \
    "$(cd "$V" && echo *)"

# systemd-analyze security: the sandbox settings it still listed are in place, and no service
# is above 1.5 on its exposure scale (0 to 10; it rates these "OK").
for u in lethe-run.service lethe-run@0-4.service lethe-export.service lethe-check.service; do
    OUT=$(systemd-analyze security --offline=true --threshold=15 "$V/$u" 2>&1); RC=$?
    assert_rc "systemd-analyze security rates $u at 1.5 or less" 0
    for want in "SystemCallFilter=~@privileged" "SystemCallFilter=~@resources" "RemoveIPC=" \
        "ProcSubset=" "PrivateMounts=" "CapabilityBoundingSet=~CAP_SYS_ADMIN"; do
        assert_eq "systemd-analyze security passes $u on $want" "✓" \
            "$(echo "$OUT" | awk -v k="$want" '$2 == k { print $1; exit }')"
    done
done

# The checks above can fail: a misspelt setting and a missing binary are both reported.
sed 's/^ProtectHome=yes/ProtectHomme=yes/' "$V/lethe-run.service" >"$TMP/typo.service"
OUT=$(systemd-analyze verify --man=no "$TMP/typo.service" 2>&1)
assert_contains "a misspelt setting would be reported" "Unknown key 'ProtectHomme'" "$OUT"
cp "$U/lethe-run.service" "$TMP/lethe-run.service"
OUT=$(systemd-analyze verify --man=no "$TMP/lethe-run.service" 2>&1); RC=$?
if [ -x /usr/local/bin/lethe ]; then
    ok "# skip: /usr/local/bin/lethe exists here, the missing-binary check cannot be shown"
else
    assert_contains "an ExecStart= binary that is not there would be reported" \
        "Command /usr/local/bin/lethe is not executable" "$OUT"
fi

# ---- the system user and its directories --------------------------------------------------
# systemd-sysusers and systemd-tmpfiles, as the package's postinst runs them, in a scratch root.
R=$TMP/root
mkdir -p "$R/etc"
OUT=$(systemd-sysusers --root="$R" "$P/lib/sysusers.d/lethe.conf" 2>&1); RC=$?
assert_rc "systemd-sysusers accepts lethe's sysusers.d entry" 0
IFS=: read -r _ _ LUID LGID _ LHOME LSHELL <<<"$(grep '^lethe:' "$R/etc/passwd")"
assert_eq "it creates the system user lethe, home /var/lib/lethe, no login" \
    "/var/lib/lethe /usr/sbin/nologin yes" "$LHOME $LSHELL $([ "${LUID:-1000}" -lt 1000 ] && echo yes)"
assert_eq "with a group of its own" "lethe:$LGID" "$(grep "^lethe:" "$R/etc/group" | cut -d: -f1,3)"
OUT=$(systemd-tmpfiles --root="$R" --create "$P/lib/tmpfiles.d/lethe.conf" 2>&1); RC=$?
assert_rc "systemd-tmpfiles accepts lethe's tmpfiles.d entry" 0
for d in /var/lib/lethe /var/lib/lethe/spool /var/lib/lethe/exports; do
    assert_eq "it creates $d, 0750, owned by lethe" "750 $LUID:$LGID" "$(stat -c '%a %u:%g' "$R$d" 2>&1)"
done

# ---- bash completion ----------------------------------------------------------------------
# complete WORD...: what the completion offers for the last word, run against this build.
complete_words() {
    (cd "$TMP" && bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _lethe
        printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort | tr "\n" " "' _ "$P/share/bash-completion/completions/lethe" "$@")
}
touch "$TMP/audit-2024-01.jsonl"
assert_eq "completion: the commands of lethe --help" \
    "$(echo $("$LETHE" --help | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p' | LC_ALL=C sort)) " \
    "$(complete_words "$LETHE" "")"
assert_eq "completion: a command from its first letters" "explain export " "$(complete_words "$LETHE" -v ex)"
assert_eq "completion: the global options" "--config " "$(complete_words "$LETHE" --co)"
assert_eq "completion: a command's options" "--as-of --dry-run --items --json --metrics-file --operator --shard " \
    "$(complete_words "$LETHE" run --)"
assert_eq "completion: an option's listed values" "csv jsonl " "$(complete_words "$LETHE" export --format "")"
assert_eq "completion: --opt=value" "csv " "$(complete_words "$LETHE" export --format = c)"
assert_eq "completion: files for -o" "audit-2024-01.jsonl " "$(complete_words "$LETHE" export -o aud)"
assert_eq "completion: files for verify" "audit-2024-01.jsonl " "$(complete_words "$LETHE" verify aud)"
assert_eq "completion: files for --config, before the command" "audit-2024-01.jsonl " \
    "$(complete_words "$LETHE" --config aud)"
assert_eq "completion: nothing guessed for an id or a time" " " "$(complete_words "$LETHE" run --as-of "")"
assert_eq "completion: hold's subcommands" \
    "$(echo $("$LETHE" help hold | sed -n 's/^ *\(usage: \)\{0,1\}lethe hold \([a-z]*\).*/\2/p' | LC_ALL=C sort -u)) " \
    "$(complete_words "$LETHE" hold "")"
assert_contains "completion: a subcommand's options" "--reason" "$(complete_words "$LETHE" hold place --)"

# ---- the man page -------------------------------------------------------------------------
MAN=$P/share/man/man1/lethe.1
OUT=$(groff -t -man -ww -z "$MAN" 2>&1); RC=$?
assert_rc "groff renders the man page" 0
assert_eq "groff -ww has no warning" "" "$OUT"
if command -v mandoc >/dev/null; then
    OUT=$(mandoc -T lint -W warning "$MAN" 2>&1)
    assert_eq "mandoc -T lint has no warning" "" "$OUT"
fi
if command -v man >/dev/null; then
    OUT=$(MANWIDTH=80 man -l "$MAN" 2>&1 >/dev/null)
    assert_eq "man -l renders at 80 columns without warning" "" "$OUT"
fi
assert_eq "the man page's version is the binary's" "$("$LETHE" --version)" \
    "$(sed -n 's/^\.TH LETHE 1 [^ ]* "\([^"]*\)".*/\1/p' "$MAN")"

TEXT=$(groff -t -man -Tascii -P-cbou "$MAN" 2>/dev/null)
HELP=$("$LETHE" --help)
cmds=$(echo "$HELP" | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z]*\) .*/\1/p')
assert_contains "lethe --help lists commands" "migrate" "$cmds"
for c in $cmds; do
    if grep -qE "^\.SS \"?$c( |\"|$)" "$MAN"; then
        ok "the man page has a section for '$c'"
    else
        not_ok "the man page has a section for '$c'" "no .SS $c in $MAN"
    fi
    [ "$c" = help ] && continue
    for o in $("$LETHE" help "$c" | grep -oE '(^| |\[)--?[a-z][a-z-]*' | tr -d ' [' | sort -u); do
        assert_contains "the man page describes '$c $o'" "$o" "$TEXT"
    done
done
for o in $(echo "$HELP" | sed -n '/^options:/,/^$/p' | grep -oE '(^| )--?[a-z][a-z-]*' | sort -u); do
    assert_contains "the man page describes the global option $o" "$o" "$TEXT"
done
exits=$(echo "$TEXT" | sed -n '/^EXIT STATUS/,/^[A-Z]/p')
for code in 0 1 2 3 4; do
    assert_contains "the man page explains exit code $code" "       $code " "$exits"
done

# ---- the other man pages: lethe.conf(5), fs-delete(8), lethe-export-month(8) ---------------
for m in man5/lethe.conf.5 man8/fs-delete.8 man8/lethe-export-month.8; do
    f=$P/share/man/$m; n=$(basename "$m")
    OUT=$(groff -t -man -ww -z "$f" 2>&1); RC=$?
    assert_rc "groff renders $n" 0
    assert_eq "groff -ww has no warning on $n" "" "$OUT"
    if command -v man >/dev/null; then
        assert_eq "man -l renders $n at 80 columns without warning" "" \
            "$(MANWIDTH=80 man -l "$f" 2>&1 >/dev/null)"
    fi
    assert_eq "$n has the binary's version" "$("$LETHE" --version)" \
        "$(sed -n 's/^\.TH [^ ]* [158] [^ ]* "\([^"]*\)".*/\1/p' "$f")"
    assert_contains "lethe(1) refers to $n" "${n%.*}(${n##*.})" "$TEXT"
done
text_of() { groff -t -man -Tascii -P-cbou "$P/share/man/$1" 2>/dev/null; }
T5=$(text_of man5/lethe.conf.5)
# Every setting of the example config, as group.setting (rules: each rule, and its three keys).
settings=$(awk '/^[a-z_]+: *\{/ { g = $1; sub(":", "", g) }
    /^  #?[a-z_]+ *=/ { k = $1; sub("#", "", k); print g "." k }
    /^  #?[a-z_]+: *\{/ { k = $1; sub("#", "", k); sub(":", "", k); print g "." k }' "$D/etc/lethe/lethe.conf.example")
assert_contains "the example config has settings to look for" "executor.timeout" "$settings"
for k in $settings; do
    case $k in
    rules.*) assert_contains "lethe.conf(5) describes rule ${k#rules.}" "${k#rules.}" "$T5" ;;
    *) assert_contains "lethe.conf(5) describes $k" "$k" "$T5" ;;
    esac
done
for k in deadline grace enabled; do
    assert_contains "lethe.conf(5) describes rules.RULE.$k" "rules.RULE.$k" "$T5"
done
T8=$(text_of man8/fs-delete.8)
for o in $("$P/libexec/lethe/fs-delete" --help | grep -oE '(^| |\[)--?[a-z][a-z-]*' | tr -d ' [' | sort -u); do
    assert_contains "fs-delete(8) describes $o" "$o" "$T8"
done
for code in 0 1 2; do
    assert_contains "fs-delete(8) explains exit code $code" "       $code " "$(echo "$T8" | sed -n '/^EXIT STATUS/,/^[A-Z]/p')"
done
T8=$(text_of man8/lethe-export-month.8)
for o in $("$P/libexec/lethe/lethe-export-month" --help | grep -oE '(^| |\[)--?[a-z][a-z-]*' | tr -d ' [' | sort -u); do
    assert_contains "lethe-export-month(8) describes $o" "$o" "$T8"
done

# ---- the example config -------------------------------------------------------------------
# lethe reads the config before it connects, so an unreachable database exits 1 for a config
# it accepts and 2 for one it refuses.
CONF=$D/etc/lethe/lethe.conf.example
NODB="host=$TMP/no-server port=1"
run_lethe --config "$CONF" --db "$NODB" migrate
assert_rc "lethe accepts the example config as installed" 1
assert_not_contains "the example config raises no config error" "config:" "$ERR"

# Uncommented, every setting is active; the audit key must then name a readable file.
head -c 32 /dev/urandom >"$TMP/audit.key"
sed -E -e 's/^( *)#([a-z])/\1\2/' -e "s|/etc/lethe/audit.key|$TMP/audit.key|" "$CONF" >"$TMP/full.conf"
run_lethe --config "$TMP/full.conf" --db "$NODB" migrate
assert_rc "lethe accepts the example config with every setting uncommented" 1
assert_not_contains "the full config raises no config error" "config:" "$ERR"
for key in 'conninfo' 'directory' 'keep' 'command' 'timeout' 'locations' 'key_file' 'max_items' \
    'lookahead'; do
    assert_contains "the example config shows '$key'" "$key" "$(grep -v '^ *# ' "$TMP/full.conf")"
done
for r in 'deletion_request: { deadline = "30d";  grace = "0d";  enabled = true; };' \
    'subject_request:  { deadline = "1mo";  grace = "0d";  enabled = true; };' \
    'capacity_deleted: { deadline = "180d"; grace = "0d";  enabled = true; };' \
    'sharing_opt_out:  { deadline = "30d";  grace = "0d";  enabled = true; };' \
    'shared_retention: { deadline = "90d";  grace = "90d"; enabled = true; };'; do
    line "the example config shows the rule default ${r%%:*}" "$CONF" "  $r"
done
for d in 'directory = "/var/lib/lethe/spool";' 'keep = "7d";' 'timeout = "15m";' \
    'max_items = 10000;' 'lookahead = "2d";'; do
    line "the example config shows the default $d" "$CONF" "  $d"
done
{ cat "$CONF"; echo 'spool: { kept = "7d"; };'; } >"$TMP/bad.conf"
run_lethe --config "$TMP/bad.conf" --db "$NODB" migrate
assert_rc "a config lethe refuses exits 2, so the checks above mean something" 2

# ---- lethe-export-month -------------------------------------------------------------------
# Against a stand-in for lethe that records its arguments: the dates and files it is asked
# for are what matters here; export and verify have suites of their own.
W=$P/libexec/lethe/lethe-export-month
cat >"$TMP/fake-lethe" <<EOF
#!/bin/sh
echo "\$*" >>"$TMP/calls"
case "\$*" in verify*) exit \${FAKE_VERIFY_RC:-0} ;; esac
EOF
chmod +x "$TMP/fake-lethe"
X=$TMP/exports
mkdir -p "$X"
export_month() { rm -f "$TMP/calls"; OUT=$(LETHE=$TMP/fake-lethe "$W" "$@" 2>"$TMP/err"); RC=$?; ERR=$(cat "$TMP/err"); CALLS=$(cat "$TMP/calls" 2>/dev/null); }

export_month --month 2024-01 --dir "$X"
assert_rc "lethe-export-month --month exits 0" 0
assert_eq "it exports January, its summary, and verifies the export" \
"export --from 2024-01-01T00:00:00Z --to 2024-02-01T00:00:00Z --format jsonl -o $X/audit-2024-01.jsonl
export --from 2024-01-01T00:00:00Z --to 2024-02-01T00:00:00Z --format jsonl --summary -o $X/summary-2024-01.jsonl
verify $X/audit-2024-01.jsonl" "$CALLS"

export_month --month=2024-12 --dir="$X" --config /etc/lethe/other.conf
assert_eq "December ends on the first of January; --config is passed on" \
"--config /etc/lethe/other.conf export --from 2024-12-01T00:00:00Z --to 2025-01-01T00:00:00Z --format jsonl -o $X/audit-2024-12.jsonl
--config /etc/lethe/other.conf export --from 2024-12-01T00:00:00Z --to 2025-01-01T00:00:00Z --format jsonl --summary -o $X/summary-2024-12.jsonl
verify $X/audit-2024-12.jsonl" "$CALLS"

export_month --dir "$X"
prev=$(python3 -c 'import datetime as d; t=d.datetime.now(d.timezone.utc).date().replace(day=1)-d.timedelta(days=1); print(t.strftime("%Y-%m"))')
assert_contains "by default it exports the previous month" "-o $X/audit-$prev.jsonl" "$CALLS"
assert_contains "the previous month starts on its first" "--from $prev-01T00:00:00Z" "$CALLS"

: >"$TMP/anchors.jsonl"
export_month --month 2024-01 --dir "$X" --anchors "$TMP/anchors.jsonl"
assert_contains "with an anchor file, the export is verified against it" \
  "verify $X/audit-2024-01.jsonl --anchors $TMP/anchors.jsonl" "$CALLS"
export_month --month 2024-01 --dir "$X" --anchors "$TMP/none.jsonl"
assert_rc "an anchor file that does not exist yet (a fresh installation) is no failure" 0
assert_contains "... and the export is verified on its own" "verify $X/audit-2024-01.jsonl
" "$CALLS
"

FAKE_VERIFY_RC=4 export_month --month 2024-02 --dir "$X"
assert_rc "an export that does not verify fails the unit with lethe's exit 4" 4
export_month --month 2024-13
assert_rc "a bad month exits 2" 2
assert_eq "a bad month is named" 'lethe-export-month: error: bad month "2024-13" (expected YYYY-MM, e.g. 2024-01)
hint: see '"'lethe-export-month --help'" "$ERR"
assert_eq "a bad month runs nothing" "" "$CALLS"
export_month --frob
assert_rc "an unknown argument exits 2" 2
export_month --help
assert_rc "--help exits 0" 0
assert_contains "--help shows the usage" "usage: lethe-export-month [--month YYYY-MM]" "$OUT"

finish
