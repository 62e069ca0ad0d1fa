-- The two CHECK constraints of visits (service, state) become domains.
--
-- PostgreSQL reads a table's CHECK constraints from their stored text
-- (stringToNode) and prepares them in every statement that inserts or
-- updates the table: with 004, about 116,000 of the 763,000 instructions
-- of a dd_on_order_released call (callgrind), and the same in every UPDATE
-- of a visit. A domain's constraint is parsed once per backend and kept in
-- the type cache. Same values allowed, the same SQLSTATE (23514) for
-- others; the columns still read as text.
--
-- No rewrite of visits: the columns first change to domains without
-- constraints (binary coercible), then the domains get their constraints,
-- which are checked against the stored rows. Neither column is indexed
-- (004 dropped visits_open).

CREATE DOMAIN dd_service AS text;
CREATE DOMAIN dd_visit_state AS text;

ALTER TABLE visits
    DROP CONSTRAINT visits_service_check,
    DROP CONSTRAINT visits_state_check,
    ALTER COLUMN service TYPE dd_service,
    ALTER COLUMN state TYPE dd_visit_state;

ALTER DOMAIN dd_service ADD CONSTRAINT dd_service_check
    CHECK (VALUE IN ('bath', 'cleaning', 'escort', 'medical_escort', 'emergency', 'visit',
                     'assessment'));
ALTER DOMAIN dd_visit_state ADD CONSTRAINT dd_visit_state_check
    CHECK (VALUE IN ('waiting', 'assigned', 'accepted', 'checked_in', 'completed', 'failed',
                     'cancelled'));
