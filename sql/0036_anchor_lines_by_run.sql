-- The heads a run anchors are those stamped since the start of the last run before it whose
-- line was recorded (engine/dbaudit.c, dbaudit_anchor_heads): counted from the run before it,
-- whatever became of that one, the heads an ack moved before a run that died were never
-- anchored by any line. The runs are walked newest first (runs_recent) and each is looked up
-- here by its id.
CREATE INDEX anchor_lines_run ON lethe.anchor_lines (run_id);
