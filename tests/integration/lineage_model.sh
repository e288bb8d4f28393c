# The property test of SPEC §3 lineage (tests/model/lineage_check.py): random catalogs,
# each in a database of its own, checked item by item against the independent model in
# tests/model/lineage_model.py. LINEAGE_SEED and LINEAGE_CATALOGS choose the catalogs; a
# failing catalog prints its seed, which replays it alone.
python3 tests/model/lineage_check.py --seed "${LINEAGE_SEED:-1100}" --catalogs "${LINEAGE_CATALOGS:-24}"
# Then with a deleter that misbehaves (SPEC §4): it fails items, answers nothing for some or
# for ids not in the batch, exits non-zero, and some of its failed batches are acknowledged
# late by `lethe ack`. The run's counts, each item's failed attempts, and one item_purged
# record per deletion under the obligation it was batched under are checked too.
python3 tests/model/lineage_check.py --misbehave --seed "${LINEAGE_MISBEHAVE_SEED:-3000}" \
    --catalogs "${LINEAGE_MISBEHAVE_CATALOGS:-16}"
