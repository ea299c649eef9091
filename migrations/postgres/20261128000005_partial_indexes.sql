-- A claim sets claimed_by, which the claim indexes name, so PostgreSQL writes the claimed
-- row anew into every index whose predicate it meets (no HOT update). Indexes that only
-- some rows need now hold only those: a unit's queue (a complaint has a unit once it is
-- forwarded; a query for a unit's rows, `unit = $n`, implies the predicate) and the
-- merged complaints. A coordinator's claim on a new complaint writes 8 index entries
-- instead of 11.
DROP INDEX complaints_unit_queue;
DROP INDEX complaints_unit_received;
DROP INDEX complaints_merged;
CREATE INDEX complaints_unit_queue ON complaints (unit, status, received_at, id) WHERE unit IS NOT NULL;
CREATE INDEX complaints_unit_received ON complaints (unit, received_at, id) WHERE unit IS NOT NULL;
CREATE INDEX complaints_merged ON complaints (merged_into) WHERE merged_into IS NOT NULL;
