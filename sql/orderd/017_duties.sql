-- County duties as data (issue 13; docs/DUTIES.md): versioned duty rules,
-- the operators' contacts log, and what the mandated generator and the
-- coverage report read (services/orderd/od_duties.c).
--
-- duty_rule_versions  every PUT /v1/rules/duties is a new row: the whole
--                     rule set (JSON array, validated by orderd) and the
--                     local date from which it is in force. The set in
--                     force on a day is the row with the latest
--                     effective_from <= that day (ties: the higher
--                     version). Version 1 is the county default seeded
--                     here from ../shared/policies/001_96a20b76e7fbf74d.txt.
-- elder_contact_log   a phone call or visit an operator logged; a
--                     'reached' one meets a duty whose service is
--                     'contact' (the weekly contact, 001 §14).
--
-- Mandated orders are ordinary orders (source 'mandated') placed with the
-- idempotency key duty:<rule>:<elder>:<period>:<n>; the generator reads
-- them back by that key, so no table of its own can disagree with them.
CREATE TABLE duty_rule_versions (
    version        integer     PRIMARY KEY CHECK (version > 0),
    effective_from date        NOT NULL,
    rules          jsonb       NOT NULL CHECK (jsonb_typeof(rules) = 'array'),
    created_by     text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

INSERT INTO duty_rule_versions (version, effective_from, rules, created_by) VALUES
(1, '2023-01-01', '[
  {"id": "special_monthly_visit", "service": "visit", "period": "month", "count": 1,
   "categories": ["alone", "empty_nest", "left_behind", "disabled", "severely_disabled",
                  "fp_special"],
   "min_age": null, "max_age": null, "abilities": [], "districts": [],
   "fund": "care_visit_fund", "source": "001 §14: special-difficulty elders visited at least monthly"},
  {"id": "no_carer_weekly_contact", "service": "contact", "period": "week", "count": 1,
   "categories": ["no_carer"],
   "min_age": null, "max_age": null, "abilities": [], "districts": [],
   "fund": "care_visit_fund", "source": "001 §14: elders nobody cares for contacted at least weekly"},
  {"id": "assessment_80_plus", "service": "assessment", "period": "year", "count": 1,
   "categories": [], "min_age": 80, "max_age": null, "abilities": [], "districts": [],
   "fund": "assessment_fund", "source": "001 §2: free ability assessment once a year from 80"},
  {"id": "assessment_under_80", "service": "assessment", "period": "two_years", "count": 1,
   "categories": [], "min_age": null, "max_age": 79, "abilities": [], "districts": [],
   "fund": "assessment_fund", "source": "001 §2: free ability assessment every two years below 80"}
]', 'migration 017');

-- outcome: created (version is the new one).
CREATE FUNCTION od_duty_rules_put(p_effective date, p_rules jsonb, p_by text)
RETURNS TABLE (outcome text, version integer)
LANGUAGE plpgsql AS $$
DECLARE
    v integer;
BEGIN
    -- orderd has one writer connection; the primary key refuses a race.
    SELECT coalesce(max(d.version), 0) + 1 INTO v FROM duty_rule_versions d;
    INSERT INTO duty_rule_versions (version, effective_from, rules, created_by)
    VALUES (v, p_effective, p_rules, coalesce(p_by, ''));
    RETURN QUERY SELECT 'created'::text, v;
END $$;

CREATE TABLE elder_contact_log (
    id          uuid        PRIMARY KEY,
    elder_id    uuid        NOT NULL REFERENCES elders (id),
    district_id integer     NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('phone', 'visit')),
    at          timestamptz NOT NULL,
    outcome     text        NOT NULL CHECK (outcome IN ('reached', 'not_reached')),
    note        text        NOT NULL DEFAULT '',
    by_account  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX elder_contact_log_at ON elder_contact_log (at, elder_id);

-- outcome: created | unknown_elder.
CREATE FUNCTION od_contact_log_add(p_id uuid, p_elder uuid, p_kind text, p_at timestamptz,
                                   p_outcome text, p_note text, p_by text)
RETURNS TABLE (outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    v_district integer;
BEGIN
    SELECT e.district_id INTO v_district FROM elders e WHERE e.id = p_elder;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown_elder'::text;
        RETURN;
    END IF;
    INSERT INTO elder_contact_log (id, elder_id, district_id, kind, at, outcome, note, by_account)
    VALUES (p_id, p_elder, v_district, p_kind, p_at, p_outcome, coalesce(p_note, ''),
            coalesce(p_by, ''))
    ON CONFLICT (id) DO NOTHING;
    RETURN QUERY SELECT 'created'::text;
END $$;

-- The generator reads the mandated orders of the periods it looks at, and
-- its change check counts the ones that ended unserved (regeneration).
CREATE INDEX orders_mandated ON orders (window_start) WHERE source = 'mandated';
CREATE INDEX orders_mandated_unserved ON orders (state)
    WHERE source = 'mandated' AND state IN ('cancelled', 'failed', 'denied');
-- The change check: the latest change to any elder (a new elder, a PATCH).
CREATE INDEX elders_updated_at ON elders (updated_at);

GRANT SELECT ON duty_rule_versions TO orderd_rt;
GRANT INSERT ON duty_rule_versions TO orderd_rt;
GRANT SELECT, INSERT ON elder_contact_log TO orderd_rt;
GRANT EXECUTE ON FUNCTION od_duty_rules_put, od_contact_log_add TO orderd_rt;
