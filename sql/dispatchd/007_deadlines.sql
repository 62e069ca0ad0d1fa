-- Deadlines for every open state of a visit, as data (issue 11; the design is
-- docs/ARCHITECTURE.md "Deadlines", the rules services/dispatchd/dd_deadline.h).
--
-- One row per visit service, read by dispatchd at start and every
-- --deadlines-refresh-s; an operator tunes a service with an UPDATE. Times
-- the deadlines count from are the visit's stored ones (created_at,
-- window_end, checked_in_at, unconfirmed_at), so a restart resolves what
-- expired while dispatchd was down.
--
-- A small reference table: no district_id (DESIGN.md §7: reference tables
-- are copied to every node, as prices and subsidy rules).

CREATE TABLE deadlines (
    service    dd_service PRIMARY KEY,
    -- an offer not accepted within offer_s moves on to the next caregiver
    offer_s    integer NOT NULL CHECK (offer_s BETWEEN 1 AND 86400),
    -- nobody has accepted assign_s after release (or the window ended): overdue
    assign_s   integer NOT NULL CHECK (assign_s BETWEEN 1 AND 604800),
    -- accepted, not checked in checkin_s after the window's end: overdue
    checkin_s  integer NOT NULL CHECK (checkin_s BETWEEN 0 AND 86400),
    -- checked in, not checked out checkout_s after check-in + service time: overdue
    checkout_s integer NOT NULL CHECK (checkout_s BETWEEN 0 AND 86400),
    -- an unconfirmed visit (not checked out) waits this long for a dispatcher
    confirm_s  integer NOT NULL CHECK (confirm_s BETWEEN 1 AND 604800),
    -- how long a visit is shown overdue before the deadline is resolved
    overdue_s  integer NOT NULL CHECK (overdue_s BETWEEN 0 AND 86400)
);

-- Defaults for home care (docs/ARCHITECTURE.md "Deadlines" gives the reasons).
INSERT INTO deadlines (service, offer_s, assign_s, checkin_s, checkout_s, confirm_s, overdue_s)
VALUES ('bath',            300, 1800, 1800,  3600, 86400, 900),
       ('cleaning',        300, 1800, 1800,  3600, 86400, 900),
       ('escort',          300, 1800, 1800,  3600, 86400, 900),
       ('medical_escort',  300, 1800, 1800, 14400, 86400, 900),
       ('emergency',        60,  900,  900,  3600, 86400, 300),
       ('visit',           300, 1800, 1800,  3600, 86400, 900),
       ('assessment',      300, 1800, 1800,  3600, 86400, 900);

-- The state of a visit nobody checked out in time, until a dispatcher (or
-- confirm_s) decides it. No rewrite: a domain's new constraint is checked
-- against the stored rows.
ALTER DOMAIN dd_visit_state DROP CONSTRAINT dd_visit_state_check;
ALTER DOMAIN dd_visit_state ADD CONSTRAINT dd_visit_state_check
    CHECK (VALUE IN ('waiting', 'assigned', 'accepted', 'checked_in', 'unconfirmed',
                     'completed', 'failed', 'cancelled'));

-- When the visit became unconfirmed, and which dispatcher account confirmed
-- or rejected it (an account id, not personal data).
ALTER TABLE visits ADD COLUMN unconfirmed_at timestamptz,
                   ADD COLUMN resolved_by text;

-- A deadline passed (dispatchd's sweep) or a dispatcher decided an
-- unconfirmed visit: p_from -> p_to, appending p_type (VisitFailed or
-- VisitCompleted) when it is not null. 'applied', or 'noop' when the visit
-- is no longer in p_from (a replayed batch). Any other transition is a bug
-- in the caller: an error, and dispatchd reloads.
CREATE FUNCTION dd_visit_resolve(p_district integer, p_id uuid, p_from text, p_to text,
        p_reason text, p_by text, p_at bigint, p_order text, p_type text, p_ev uuid,
        p_payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF (p_from, p_to) NOT IN (('waiting', 'failed'), ('assigned', 'failed'),
                              ('accepted', 'failed'), ('checked_in', 'unconfirmed'),
                              ('unconfirmed', 'completed'), ('unconfirmed', 'failed')) THEN
        RAISE EXCEPTION 'dd_visit_resolve: % -> % is not a resolution', p_from, p_to;
    END IF;
    UPDATE visits
       SET state = p_to,
           fail_reason = CASE WHEN p_to = 'failed' THEN p_reason ELSE fail_reason END,
           unconfirmed_at = CASE WHEN p_to = 'unconfirmed' THEN dd_ts(p_at)
                                 ELSE unconfirmed_at END,
           resolved_by = coalesce(p_by, resolved_by),
           finished_at = CASE WHEN p_to IN ('completed', 'failed') THEN dd_ts(p_at)
                              ELSE finished_at END
     WHERE district_id = p_district AND id = p_id AND state = p_from;
    IF NOT FOUND THEN
        RETURN 'noop';
    END IF;
    IF p_type IS NOT NULL THEN
        PERFORM cc_append(p_type, p_ev, p_order, p_district, p_payload);
    END IF;
    RETURN 'applied';
END $$;

GRANT SELECT ON deadlines TO dispatchd_rt;
GRANT EXECUTE ON FUNCTION dd_visit_resolve TO dispatchd_rt;
