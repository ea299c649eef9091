-- Claim-next probes the oldest unclaimed complaint among the statuses a role claims
-- from. With one index over (status, received_at, id), the planner judged its heap order
-- random (the statuses interleave) and walked `complaints_received` instead, past every
-- claimed row at the head of the queue: about 3 ms per probe once a few thousand were
-- claimed, and one probe per status. One partial index per claiming scope, led by
-- received_at and holding exactly the rows that scope may claim, is what it picks, and
-- one probe serves the whole scope. The statuses are those of `claimable()` in
-- src/queue/claims.rs, which the probes name literally so that the planner can match them.
DROP INDEX complaints_unclaimed;
DROP INDEX complaints_unit_unclaimed;
-- Coordinators.
CREATE INDEX complaints_waiting_central ON complaints (received_at, id)
    WHERE claimed_by IS NULL AND status IN ('new', 'verified', 'not_authority');
-- Operators.
CREATE INDEX complaints_waiting_all ON complaints (received_at, id)
    WHERE claimed_by IS NULL AND status IN ('new', 'verified', 'not_authority', 'forwarded', 'in_progress');
-- Unit admins and liaisons, per unit.
CREATE INDEX complaints_waiting_unit ON complaints (unit, received_at, id)
    WHERE claimed_by IS NULL AND status IN ('forwarded', 'in_progress');
