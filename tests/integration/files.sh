# SPEC §6 for files: `export -o` replaces only a regular file (a device, a FIFO or "-" is
# written through; a symlink or a directory is refused), and no file lethe creates follows a
# link planted where it writes (the spool may be writable by a deleter's group).
. tests/harness/lib.sh
. tests/harness/catalog.sh
WORK=$(mktemp -d /tmp/lethe-files.XXXXXX); STORE=$WORK/store; mkdir -p "$STORE"
trap 'rm -rf "$WORK"' EXIT
psql -X -q -c 'DROP DATABASE IF EXISTS files_t' -c 'CREATE DATABASE files_t' 2>/dev/null
export PGDATABASE=files_t
"$LETHE" migrate >/dev/null
T=$(uuid); W=$(uuid); I=$(uuid)
mk_tenant "$T" acme; mk_workspace "$T" "$W" EU
mk_item "$T" "$I" "$W" prompt EU 2026-01-01T00:00:00Z
mk_event "$T" deletion_requested "$(date -u -d '-1 day' +%F)T00:00:00Z" REQ-1
write_config "$WORK/noexec.conf"
"$LETHE" --config "$WORK/noexec.conf" run >/dev/null 2>&1
B=$(sql "SELECT batch_id FROM lethe.batches")

# ---- export -o ------------------------------------------------------------------------------
run_lethe export -o /dev/null
assert_rc "export -o /dev/null exits 0" 0
assert_eq "/dev/null is still a character device" "character special file" "$(stat -c %F /dev/null)"
mkfifo "$WORK/fifo"
timeout 30 cat "$WORK/fifo" >"$WORK/from-fifo" & reader=$!  # never hangs the suite
run_lethe export -o "$WORK/fifo"
wait $reader
assert_rc "export -o FIFO exits 0" 0
assert_eq "the FIFO is still a FIFO" "fifo" "$(stat -c %F "$WORK/fifo")"
assert_contains "the reader got the export" '"kind":"export_header"' "$(head -1 "$WORK/from-fifo")"
assert_eq "... all of it" "$(sql "SELECT count(*) FROM lethe.audit")" "$(($(wc -l <"$WORK/from-fifo") - 1))"
run_lethe export -o -
assert_rc "export -o - exits 0" 0
assert_contains "export -o - writes to standard output" '"kind":"export_header"' "$OUT"
echo precious >"$WORK/victim"; ln -s "$WORK/victim" "$WORK/link"
run_lethe export -o "$WORK/link"
assert_rc "export -o SYMLINK exits 2" 2
assert_eq "... and says why" "error: export: '$WORK/link' is a symbolic link; refusing to write there
hint: name a regular file (it is replaced whole), a device, a FIFO or '-'" "$ERR"
assert_eq "... and leaves the link and its target alone" "precious $WORK/victim" "$(cat "$WORK/link") $(readlink "$WORK/link")"
mkdir "$WORK/dir"
run_lethe export -o "$WORK/dir"
assert_rc "export -o DIRECTORY exits 2" 2
assert_contains "... and says why" "error: export: '$WORK/dir' is a directory; refusing to write there" "$ERR"
echo old >"$WORK/regular"
run_lethe export -o "$WORK/regular"
assert_rc "export -o over a regular file exits 0" 0
assert_contains "... and replaces it whole" '"kind":"export_header"' "$(head -1 "$WORK/regular")"
assert_eq "no temporary file is left" "" "$(ls -A "$WORK" | grep '\.tmp$')"
chmod 0600 "$WORK/regular"
run_lethe export -o "$WORK/regular"
assert_eq "a file replaced keeps its permissions (0600 stays 0600)" "0 600" "$RC $(stat -c %a "$WORK/regular")"
# Judged before the database is connected, as every option is: exit 2 with the database down.
run_lethe --db "host=$WORK/nowhere port=1" export -o "$WORK/link"
assert_eq "export -o SYMLINK exits 2 before connecting" "2" "$RC"
assert_contains "... saying why, not that it cannot connect" "error: export: '$WORK/link' is a symbolic link" "$ERR"
run_lethe --db "host=$WORK/nowhere port=1" reconcile --location EU - --orphans "$WORK/dir" --operator user_a
assert_eq "reconcile --orphans DIRECTORY exits 2 before connecting" "2" "$RC"
assert_contains "... saying why" "error: reconcile: '$WORK/dir' is a directory" "$ERR"
# ... and so is a file whose directory is missing, or cannot take the temporary written beside it
run_lethe --db "host=$WORK/nowhere port=1" export -o "$WORK/no-such-dir/a.jsonl"
assert_eq "export -o into a missing directory exits 2 before connecting" "2" "$RC"
assert_eq "... saying why, with a hint, as when the system refuses" "error: export: cannot create a file next to '$WORK/no-such-dir/a.jsonl': No such file or directory
hint: the directory of '$WORK/no-such-dir/a.jsonl' does not exist: create it first, or name a file in one that does" "$ERR"
run_lethe --db "host=$WORK/nowhere port=1" reconcile --location EU - --orphans "$WORK/no-such-dir/o" --operator user_a
assert_eq "reconcile --orphans into a missing directory exits 2 before connecting" "2" "$RC"
mkdir -m 0555 "$WORK/ro"
if [ "$(id -u)" = 0 ]; then as_nobody=(runuser -u nobody --); chmod 0755 "$WORK"; else as_nobody=(); fi
out=$("${as_nobody[@]}" "$LETHE" --db "host=$WORK/nowhere port=1" export -o "$WORK/ro/a.jsonl" 2>&1); rc=$?
assert_eq "export -o into a directory this user cannot write exits 2 before connecting" "2" "$rc"
assert_contains "... saying why" "error: export: cannot create a file next to '$WORK/ro/a.jsonl': Permission denied
hint: the file is written next to '$WORK/ro/a.jsonl' under a temporary name, then renamed into place: its directory must be readable and writable by the user running lethe" "$out"
# A directory this user can write but not list: the temporary is made, renamed and fsynced in the
# directory opened for reading, so it failed after connecting (exit 1) while the check passed it.
mkdir -m 0333 "$WORK/wx"
out=$("${as_nobody[@]}" "$LETHE" --db "host=$WORK/nowhere port=1" export -o "$WORK/wx/a.jsonl" 2>&1); rc=$?
assert_eq "export -o into a directory this user can write but not read exits 2 before connecting" "2" "$rc"
assert_contains "... saying why" "error: export: cannot create a file next to '$WORK/wx/a.jsonl': Permission denied
hint: the file is written next to '$WORK/wx/a.jsonl' under a temporary name, then renamed into place: its directory must be readable and writable by the user running lethe" "$out"

# ---- a link planted in the spool is never followed ------------------------------------------
M=$WORK/spool/EU/$B.jsonl
rm -f "$M"
echo precious >"$WORK/victim2"
ln -s "$WORK/victim" "$M"                                          # at the manifest itself
ln -s "$WORK/victim2" "$WORK/spool/EU/.$B.jsonl.tmp"                 # at the name lethe once used
ln -s "$WORK/victim2" "$WORK/spool/EU/.$B.jsonl.0123456789abcdef.tmp" # at a temporary's name
run_lethe --config "$WORK/noexec.conf" rerun "$B" --operator user_a
assert_rc "a rerun rewrites the manifest" 0
assert_eq "the manifest is a regular file again" "regular file" "$(stat -c %F "$M")"
assert_contains "... with the batch in it" "\"batch_id\":\"$B\"" "$(head -1 "$M")"
assert_eq "the planted links' targets are untouched" "precious precious" "$(cat "$WORK/victim") $(cat "$WORK/victim2")"
assert_eq "a link at a temporary's name is removed, not followed" "no" \
  "$([ -L "$WORK/spool/EU/.$B.jsonl.0123456789abcdef.tmp" ] && echo yes || echo no)"

# A link in place of the location's directory: the manifest, with its locators, would be written
# wherever it points. Refused; the batch stays open for the next run.
mv "$WORK/spool/EU" "$WORK/spool-EU-kept"
mkdir "$WORK/elsewhere"
ln -s "$WORK/elsewhere" "$WORK/spool/EU"
run_lethe --config "$WORK/noexec.conf" rerun "$B" --operator user_a
assert_rc "a link in place of a location's spool directory: the rerun exits 1" 1
assert_contains "... naming it" "error: spool: '$WORK/spool/EU' is a symbolic link, not the directory lethe makes for the location's manifests" "$ERR"
assert_eq "... and nothing was written where it points" "" "$(ls -A "$WORK/elsewhere")"
assert_eq "... the batch is still open" "open" "$(sql "SELECT state FROM lethe.batches WHERE batch_id = '$B'")"
rm "$WORK/spool/EU"; mv "$WORK/spool-EU-kept" "$WORK/spool/EU"
# The same link planted a moment later, once lethe has checked the directory and opened it
# (LETHE_FAULT=spool_swap moves the directory aside and plants the link at that instant): the
# manifest is written in the directory lethe opened, never where the link points.
mkdir "$WORK/elsewhere2"
LETHE_FAULT=spool_swap LETHE_FAULT_TARGET="$WORK/elsewhere2" \
  run_lethe --config "$WORK/noexec.conf" rerun "$B" --operator user_a
assert_eq "a link planted after lethe opened the directory: nothing is written where it points" \
  "" "$(ls -A "$WORK/elsewhere2")"
assert_contains "... the manifest is in the directory lethe opened, moved aside with it" \
  "\"batch_id\":\"$B\"" "$(head -1 "$WORK/spool/EU.moved/$B.jsonl")"
assert_eq "... and no temporary is left there" "" \
  "$(ls -A "$WORK/spool/EU.moved" | grep -E '\.[0-9a-f]{16}\.tmp$')"
rm "$WORK/spool/EU"; mv "$WORK/spool/EU.moved" "$WORK/spool/EU"
finish
