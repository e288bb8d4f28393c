# Catalog fixtures for the integration suites: tenants, workspaces, items with real files in
# a store directory, and events, written with plain SQL as a producer would.

# uuid: a fresh lower-case UUID.
uuid() { cat /proc/sys/kernel/random/uuid; }

# mk_tenant ID NAME
mk_tenant() { sql "INSERT INTO lethe.tenants (tenant_id, name) VALUES ('$1', '$2')" >/dev/null; }
# mk_workspace TENANT WS GEO
mk_workspace() { sql "INSERT INTO lethe.workspaces (tenant_id, workspace_id, geo) VALUES ('$1', '$2', '$3')" >/dev/null; }
# mk_item TENANT ITEM WS KIND LOCATION CREATED [SHARED] [PARENT] [OWNER]: the locator is a real
# file under $STORE (created when STORE is set).
mk_item() {
    local loc="file://${STORE:-/nonexistent}/$2"
    [ -n "${STORE:-}" ] && echo "content of $2" > "$STORE/$2"
    local parent=${8:+"'$8'"}; local owner=${9:+"'$9'"}
    sql "INSERT INTO lethe.items (tenant_id, item_id, workspace_id, kind, location, locator, created_at, shared, parent_id, owner_id)
         VALUES ('$1', '$2', '$3', '$4', '$5', '$loc', '$6', ${7:-false}, ${parent:-NULL}, ${owner:-NULL})" >/dev/null
}
# mk_event TENANT TYPE OCCURRED [REFERENCE] [SCOPE_COLUMN SCOPE_VALUE]
mk_event() {
    local ref=${4:+"'$4'"}
    if [ -n "${5:-}" ]; then
        sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference, $5) VALUES ('$1', '$2', '$3', ${ref:-NULL}, '$6')" >/dev/null
    else
        sql "INSERT INTO lethe.events (tenant_id, type, occurred_at, reference) VALUES ('$1', '$2', '$3', ${ref:-NULL})" >/dev/null
    fi
}
# write_config FILE [EXTRA...]: a config with the spool and the anchor file under $WORK and
# any extra lines (an extra "audit: {" group gets the anchor file added to it).
write_config() {
    local f=$1; shift
    local anchor="anchor_file = \"$WORK/anchors.jsonl\";" audit=no
    {
        echo "spool: { directory = \"$WORK/spool\"; keep = \"7d\"; };"
        for l in "$@"; do
            case "$l" in
                audit:*) audit=yes; echo "audit: { $anchor ${l#*\{}" ;;
                *) echo "$l" ;;
            esac
        done
        [ $audit = yes ] || echo "audit: { $anchor };"
    } > "$f"
}
FS_DELETE="$(dirname "$LETHE")/fs-delete"

# fresh_catalog PREFIX N [GEO]: a new database PREFIX_<round> with one tenant and N due items
# (real files under $STORE) in GEO (EU): sets DB, T, W, ITEMS (and PGDATABASE); the spool and
# the anchor file under $WORK start empty, since a new database has anchored nothing yet.
fresh_catalog() {
    round=$((${round:-0} + 1)); DB=$1_$round
    psql -X -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null 2>&1
    export PGDATABASE=$DB
    "$LETHE" migrate >/dev/null
    rm -rf "$WORK/spool" "$WORK/anchors.jsonl"
    T=$(uuid); W=$(uuid); mk_tenant "$T" "tenant$round"; mk_workspace "$T" "$W" "${3:-EU}"
    ITEMS=()
    local _ i
    for _ in $(seq "$2"); do
        i=$(uuid); ITEMS+=("$i")
        mk_item "$T" "$i" "$W" prompt "${3:-EU}" 2026-01-01T00:00:00Z
    done
    mk_event "$T" deletion_requested "$(date -u -d '-1 day' +%FT%TZ)" "REQ-$round"
}
