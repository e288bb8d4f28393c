# The fs-delete executor against real files in a throwaway root: what it deletes, what it
# refuses (outside the root, "..", symlinks), its report lines and exit codes. No database.
. tests/harness/lib.sh

FSD="$(dirname "$LETHE")/fs-delete"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ROOT=$TMP/store
OUTSIDE=$TMP/outside
M=$TMP/manifest.jsonl

BATCH=6a0e8b6e-1c1f-4c3a-9b8e-0d2f5e7a9c11
RUN=3f6b2d4c-8a1e-4f7b-9c2d-5e8a1b3c4d22
TENANT=9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b33
WS=1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c44
id() { printf '00000000-0000-4000-8000-%012d' "$1"; }

# manifest ID LOCATOR_JSON [ID LOCATOR_JSON]...: writes $M for batch $BATCH in EU.
manifest() {
    {
        printf '{"batch_id":"%s","run_id":"%s","location":"EU","created_at":"2024-03-01T00:00:00.000000Z","items":%d}\n' \
            "$BATCH" "$RUN" $(($# / 2))
        while [ $# -gt 0 ]; do
            printf '{"item_id":"%s","tenant_id":"%s","workspace_id":"%s","kind":"upload","locator":%s,"rule":"deletion_request","deadline_at":"2024-03-31T00:00:00.000000Z"}\n' \
                "$1" "$TENANT" "$WS" "$2"
            shift 2
        done
    } >"$M"
}
loc() { printf '"file://%s"' "$1"; }

# fsd ARGS...: runs the executor with the environment lethe gives it, capturing OUT, ERR, RC.
fsd() {
    OUT=$(LETHE_BATCH_ID=$BATCH LETHE_LOCATION=EU "$FSD" "$@" 2>"$TMP/err"); RC=$?
    ERR=$(cat "$TMP/err")
}
exists()  { if [ -e "$2" ] || [ -L "$2" ]; then ok "$1"; else not_ok "$1" "missing: $2"; fi; }
missing() { if [ -e "$2" ] || [ -L "$2" ]; then not_ok "$1" "still there: $2"; else ok "$1"; fi; }
reset() { rm -rf "$ROOT" "$OUTSIDE"; mkdir -p "$ROOT/sub" "$OUTSIDE"; }

if [ ! -x "$FSD" ]; then
    not_ok "fs-delete is built next to lethe" "not found: $FSD"
    finish; exit
fi

# ---- deleting -----------------------------------------------------------------------------
reset
mkdir -p "$ROOT/with space"
echo a >"$ROOT/a.txt"; echo b >"$ROOT/sub/b.txt"; echo c >"$ROOT/with space/c%d.txt"
manifest "$(id 1)" "$(loc "$ROOT/a.txt")" "$(id 2)" "$(loc "$ROOT/sub/b.txt")" \
         "$(id 3)" "\"file://$ROOT/with%20space/c%25d.txt\""
export LETHE_FS_ROOT=$ROOT
fsd "$M"
assert_rc "a manifest of present files exits 0" 0
assert_eq "one deleted receipt per item, in manifest order" "deleted $(id 1)
deleted $(id 2)
deleted $(id 3)" "$OUT"
assert_eq "stderr sums up" "fs-delete: 3 deleted, 0 already gone, 0 failed" "$ERR"
missing "a listed file is deleted" "$ROOT/a.txt"
missing "a listed file in a subdirectory is deleted" "$ROOT/sub/b.txt"
missing "percent-escapes are decoded (RFC 8089)" "$ROOT/with space/c%d.txt"
exists "directories are left in place" "$ROOT/sub"

fsd "$M"
assert_rc "the same manifest again exits 0 (idempotent)" 0
assert_eq "the second time every item is absent" "absent $(id 1)
absent $(id 2)
absent $(id 3)" "$OUT"
assert_eq "the second time every file is already gone" \
    "fs-delete: 0 deleted, 3 already gone, 0 failed" "$ERR"

reset
manifest "$(id 1)" "$(loc "$ROOT/never-was.txt")" "$(id 2)" "$(loc "$ROOT/no-dir/x.txt")" \
         "$(id 3)" "\"file://localhost$ROOT/gone.txt\""
fsd "$M"
assert_rc "missing files exit 0" 0
assert_eq "a missing file (or directory) is an absent receipt" "absent $(id 1)
absent $(id 2)
absent $(id 3)" "$OUT"
assert_eq "missing files are counted as already gone" \
    "fs-delete: 0 deleted, 3 already gone, 0 failed" "$ERR"

# ---- refusing -----------------------------------------------------------------------------
reset
echo s >"$OUTSIDE/secret"; echo k >"$ROOT/keep.txt"; echo x >"$ROOT/x.txt"
manifest "$(id 1)" "$(loc "$OUTSIDE/secret")" \
         "$(id 2)" "$(loc "$ROOT/../outside/secret")" \
         "$(id 3)" "$(loc "$ROOT/sub/../../outside/secret")" \
         "$(id 4)" "$(loc "$ROOT/no-dir/../../outside/secret")" \
         "$(id 5)" "$(loc "$ROOT/sub/../x.txt")" \
         "$(id 6)" "$(loc "$ROOT")"
fsd "$M"
assert_rc "refused items still exit 0" 0
assert_eq "paths outside the root are failed items, each on its line" \
"failed $(id 1) outside the root
failed $(id 2) outside the root
failed $(id 3) outside the root
failed $(id 4) outside the root
deleted $(id 5)
failed $(id 6) outside the root" "$OUT"
exists "a file outside the root is not deleted" "$OUTSIDE/secret"
missing "a '..' that stays inside the root is followed" "$ROOT/x.txt"
exists "the root itself is never deleted" "$ROOT"
exists "other files in the root are untouched" "$ROOT/keep.txt"
assert_eq "the summary counts the refusals" "fs-delete: 1 deleted, 0 already gone, 5 failed" "$ERR"
assert_not_contains "reasons never carry the locator" "$OUTSIDE" "$OUT$ERR"

reset
echo t >"$OUTSIDE/target"; mkdir "$OUTSIDE/dir"; echo d >"$OUTSIDE/dir/f"
ln -s "$OUTSIDE/target" "$ROOT/link"
ln -s "$OUTSIDE/dir" "$ROOT/dirlink"
ln -s ../outside/target "$ROOT/sub/rel-link"
echo i >"$ROOT/inner"; ln -s "$ROOT/inner" "$ROOT/inner-link"
manifest "$(id 1)" "$(loc "$ROOT/link")" "$(id 2)" "$(loc "$ROOT/dirlink")" \
         "$(id 3)" "$(loc "$ROOT/sub/rel-link")" "$(id 4)" "$(loc "$ROOT/inner-link")"
fsd "$M"
assert_rc "final symlinks exit 0" 0
assert_eq "a final symlink is removed itself, and receipted" "deleted $(id 1)
deleted $(id 2)
deleted $(id 3)
deleted $(id 4)" "$OUT"
missing "a symlink in the root is removed itself" "$ROOT/link"
exists "its target outside the root is not deleted" "$OUTSIDE/target"
missing "a symlink to a directory outside is removed itself" "$ROOT/dirlink"
exists "the directory it pointed to is untouched" "$OUTSIDE/dir/f"
missing "a relative symlink is removed itself" "$ROOT/sub/rel-link"
missing "a symlink to a file inside the root is removed" "$ROOT/inner-link"
exists "its target inside the root is left to its own item" "$ROOT/inner"

reset
echo s >"$OUTSIDE/secret2"; mkdir -p "$OUTSIDE/deep"; echo s >"$OUTSIDE/deep/secret3"
ln -s "$OUTSIDE" "$ROOT/evil"
ln -s ../../outside "$ROOT/sub/evil-rel"
mkdir -p "$ROOT/real"; echo r >"$ROOT/real/f"; ln -s real "$ROOT/alias"
manifest "$(id 1)" "$(loc "$ROOT/evil/secret2")" "$(id 2)" "$(loc "$ROOT/evil/deep/secret3")" \
         "$(id 3)" "$(loc "$ROOT/sub/evil-rel/secret2")" "$(id 4)" "$(loc "$ROOT/alias/f")" \
         "$(id 5)" "$(loc "$ROOT/evil/not-there")"
fsd "$M"
assert_rc "symlinked directories exit 0" 0
assert_eq "a symlinked parent directory pointing outside is refused" \
"failed $(id 1) outside the root
failed $(id 2) outside the root
failed $(id 3) outside the root
deleted $(id 4)
failed $(id 5) outside the root" "$OUT"
exists "the file behind a symlinked directory is not deleted" "$OUTSIDE/secret2"
exists "the file deeper behind it is not deleted" "$OUTSIDE/deep/secret3"
missing "a symlinked directory that stays inside the root is followed" "$ROOT/real/f"

reset
mkdir "$ROOT/adir"; echo f >"$ROOT/adir/f"
manifest "$(id 1)" '"s3://bucket/key"' "$(id 2)" "\"file://otherhost$ROOT/a\"" \
         "$(id 3)" '"file://relative/path"' "$(id 4)" "\"/plain$ROOT/a\"" \
         "$(id 5)" null "$(id 6)" 42 \
         "$(id 7)" "\"file://$ROOT/bad%zzescape\"" "$(id 8)" "\"file://$ROOT/nul%00byte\"" \
         "$(id 9)" "\"file://$ROOT/nul\\u0000byte\"" \
         "$(id 10)" "$(loc "$ROOT/adir")" "$(id 11)" "$(loc "$ROOT/adir/")" \
         "$(id 12)" "$(loc "$ROOT/adir/.")" "$(id 13)" "$(loc "$ROOT/adir/..")"
fsd "$M"
assert_rc "bad locators exit 0" 0
assert_eq "a locator that is not a local file:// path is a failed item" \
"failed $(id 1) not a file:// locator
failed $(id 2) not a local absolute file:// path
failed $(id 3) not a local absolute file:// path
failed $(id 4) not a file:// locator
failed $(id 5) locator is not a string
failed $(id 6) locator is not a string
failed $(id 7) bad percent-escape in locator
failed $(id 8) locator contains a NUL byte
failed $(id 9) locator contains a NUL byte
failed $(id 10) is a directory
failed $(id 11) locator names a directory
failed $(id 12) locator names a directory
failed $(id 13) locator names a directory" "$OUT"
exists "a directory is never removed" "$ROOT/adir/f"

# ---- the root -----------------------------------------------------------------------------
reset
ln -s "$ROOT" "$TMP/store-link"
echo a >"$ROOT/a"; echo b >"$ROOT/b"; mkdir "$ROOT/gone-later"
manifest "$(id 1)" "$(loc "$TMP/store-link/a")" "$(id 2)" "$(loc "$ROOT/b")" \
         "$(id 3)" "$(loc "$TMP/store-link/no-dir/c")"
LETHE_FS_ROOT=$TMP/store-link fsd "$M"
assert_rc "a root given through a symlink exits 0" 0
assert_eq "locators through the root's link and its real path both work" "deleted $(id 1)
deleted $(id 2)
absent $(id 3)" "$OUT"
missing "a file named through the root's link is deleted" "$ROOT/a"
missing "a file named by the real path is deleted" "$ROOT/b"

echo a >"$ROOT/a"
manifest "$(id 1)" "$(loc "$ROOT/a")"
LETHE_FS_ROOT=$OUTSIDE fsd --root "$ROOT" "$M"
assert_rc "--root overrides LETHE_FS_ROOT" 0
missing "--root is the root used" "$ROOT/a"

echo a >"$ROOT/a"
LETHE_FS_ROOT=$OUTSIDE fsd "$M"
assert_eq "with another root the file is outside" "failed $(id 1) outside the root" "$OUT"
exists "and is kept" "$ROOT/a"

unset LETHE_FS_ROOT
fsd "$M"
assert_rc "no root exits 2" 2
assert_eq "no root message" "fs-delete: error: no root given
hint: pass --root DIR or set LETHE_FS_ROOT" "$ERR"
fsd --root "$TMP/nonexistent" "$M"
assert_rc "a missing root exits 2" 2
assert_eq "a missing root is named" \
    "fs-delete: error: cannot use root '$TMP/nonexistent': No such file or directory" "$ERR"
fsd --root "$ROOT/a" "$M"
assert_rc "a root that is a file exits 2" 2
fsd --root / "$M"
assert_rc "'/' as the root exits 2" 2
assert_contains "'/' is refused by name" "refusing '/' as the root" "$ERR"
exists "nothing is deleted when the root is unusable" "$ROOT/a"

fsd --root "$ROOT"
assert_rc "no manifest exits 2" 2
assert_contains "no manifest message" "fs-delete: error: no manifest given" "$ERR"
fsd --root "$ROOT" --frob "$M"
assert_rc "an unknown option exits 2" 2
assert_contains "unknown option message" "fs-delete: error: unknown option '--frob'" "$ERR"
fsd --root "$ROOT" "$M" "$M"
assert_rc "two manifests exit 2" 2
fsd --help
assert_rc "--help exits 0" 0
assert_contains "--help shows the usage" "usage: fs-delete [--root DIR] MANIFEST" "$OUT"

# ---- broken manifests: non-zero, and nothing deleted --------------------------------------
export LETHE_FS_ROOT=$ROOT
reset
echo a >"$ROOT/a"
good=$(printf '{"item_id":"%s","tenant_id":"%s","workspace_id":"%s","kind":"upload","locator":%s,"rule":"deletion_request","deadline_at":"2024-03-31T00:00:00.000000Z"}' \
    "$(id 1)" "$TENANT" "$WS" "$(loc "$ROOT/a")")
header() { printf '{"batch_id":"%s","run_id":"%s","location":"EU","created_at":"2024-03-01T00:00:00.000000Z","items":%d}' "$BATCH" "$RUN" "$1"; }

printf '%s\n%s\n{"item_id": oops\n' "$(header 2)" "$good" >"$M"
fsd "$M"
assert_rc "a line that is not JSON exits 1" 1
assert_eq "a broken manifest prints no failed lines" "" "$OUT"
assert_contains "the bad line is named" "fs-delete: error: '$M' line 3: not JSON:" "$ERR"
exists "a broken manifest deletes nothing, not even its good lines" "$ROOT/a"

printf '%s\n%s\n' "$(header 2)" "$good" >"$M"
fsd "$M"
assert_rc "a truncated manifest (fewer items than announced) exits 1" 1
assert_eq "the count mismatch is named" \
    "fs-delete: error: '$M': the header announces 2 items, found 1" "$ERR"
exists "a truncated manifest deletes nothing" "$ROOT/a"

printf '%s\n%s\n\n' "$(header 1)" "$good" >"$M"
fsd "$M"
assert_rc "a blank line exits 1" 1

printf '%s\n%s\n' "$(header 1)" "${good/\"rule\":\"deletion_request\",/}" >"$M"
fsd "$M"
assert_rc "an item without a rule exits 1" 1
assert_eq "the missing member is named" "fs-delete: error: '$M' line 2: item has no \"rule\"" "$ERR"

printf '%s\n%s\n' "$(header 1)" "${good/$(id 1)/not-a-uuid}" >"$M"
fsd "$M"
assert_rc "an item_id that is not a UUID exits 1" 1
assert_contains "the bad item_id is named" "line 2: item_id is not a UUID" "$ERR"

printf '[1,2]\n%s\n' "$good" >"$M"
fsd "$M"
assert_rc "a header that is not an object exits 1" 1
assert_contains "the header line is named" "line 1: not a JSON object" "$ERR"

printf '{"batch_id":"%s","run_id":"%s","location":"EU","items":1}\n%s\n' "$BATCH" "$RUN" "$good" >"$M"
fsd "$M"
assert_rc "a header without created_at exits 1" 1
assert_contains "the missing header member is named" 'header has no string "created_at"' "$ERR"

: >"$M"
fsd "$M"
assert_rc "an empty manifest exits 1" 1
fsd "$TMP/no-such-manifest"
assert_rc "a missing manifest exits 1" 1
assert_contains "a missing manifest is named" "cannot open '$TMP/no-such-manifest'" "$ERR"

printf '%s\n%s\n' "$(header 1)" "$good" >"$M"
OUT=$(LETHE_BATCH_ID=$(id 99) LETHE_LOCATION=EU "$FSD" "$M" 2>"$TMP/err"); RC=$?; ERR=$(cat "$TMP/err")
assert_rc "a manifest of another batch than LETHE_BATCH_ID exits 1" 1
assert_eq "the mismatch is named" \
    "fs-delete: error: '$M' is for batch_id '$BATCH', but LETHE_BATCH_ID is '$(id 99)'" "$ERR"
OUT=$(LETHE_BATCH_ID=$BATCH LETHE_LOCATION=US "$FSD" "$M" 2>"$TMP/err"); RC=$?
assert_rc "a manifest of another location than LETHE_LOCATION exits 1" 1
exists "a mismatched manifest deletes nothing" "$ROOT/a"

printf '%s\n' "$(header 0)" >"$M"
fsd "$M"
assert_rc "an empty batch (header only) exits 0" 0

# Silence on stdout acknowledges every item, so a report that cannot be written must not
# look like success.
manifest "$(id 1)" '"s3://bucket/key"'
LETHE_BATCH_ID=$BATCH LETHE_LOCATION=EU "$FSD" "$M" >&- 2>/dev/null; RC=$?
assert_rc "an unwritable failure report exits 1" 1

finish
