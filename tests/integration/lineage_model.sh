# The property test of SPEC §3 lineage (tests/model/lineage_check.py): random catalogs,
# each in a database of its own, checked item by item against the independent model in
# tests/model/lineage_model.py. LINEAGE_SEED and LINEAGE_CATALOGS choose the catalogs; a
# failing catalog prints its seed, which replays it alone.
python3 tests/model/lineage_check.py --seed "${LINEAGE_SEED:-1100}" --catalogs "${LINEAGE_CATALOGS:-32}"
