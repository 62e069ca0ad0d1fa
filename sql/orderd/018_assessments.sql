-- Ability assessments (issue 13; ../shared/policies/001_96a20b76e7fbf74d.txt
-- §2: free, once a year from 80, once every two years below 80;
-- 003_53d61d0e4cc1e4ef.txt §2: the result decides the subsidies and
-- services the elder gets). The assessor checks the assessment visit out
-- with the result; dispatchd appends VisitAssessed; orderd records it here,
-- once per order, and updates the elder (ability_level, ability_score,
-- assessed_on of 014_elder_records.sql), which every later VisitReleased
-- carries to dispatchd (a bath for severe or total loss needs level 2).
--
-- One row per assessment order: a replayed or re-delivered event finds the
-- inbox (cc_consume) or the UNIQUE (order_id) and records nothing twice.
CREATE TABLE assessments (
    id           uuid        PRIMARY KEY,   -- the VisitAssessed event's id
    elder_id     uuid        NOT NULL REFERENCES elders (id),
    order_id     uuid        NOT NULL REFERENCES orders (id),
    district_id  integer     NOT NULL,
    visit_id     text        NOT NULL,
    assessor_id  uuid        NOT NULL,      -- dispatchd's caregiver id
    level        text        NOT NULL
        CHECK (level IN ('intact', 'mild', 'moderate', 'severe', 'total')),
    score        smallint    NOT NULL CHECK (score BETWEEN 0 AND 100),
    assessed_at  timestamptz NOT NULL,      -- the visit's check-out
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT assessments_one_per_order UNIQUE (order_id)
);
CREATE INDEX assessments_elder ON assessments (elder_id, assessed_at DESC);

-- VisitAssessed. Outcome: updated (recorded, the elder now has this
-- level) | older (recorded; the elder has a later assessment already) |
-- duplicate (this order's assessment is recorded) | not_assessment (no such
-- order, another service or another elder: nothing recorded) | replayed
-- (consumed before).
CREATE FUNCTION od_on_visit_assessed(p_producer text, p_seq bigint, p_event_id uuid,
        p_order uuid, p_visit text, p_assessor uuid, p_elder uuid, p_level text,
        p_score smallint, p_at bigint)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_elder uuid;
    v_district integer;
    v_service text;
    v_on date;
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN 'replayed';
    END IF;
    SELECT o.elder_id, o.district_id, o.service INTO v_elder, v_district, v_service
      FROM orders o WHERE o.id = p_order;
    IF NOT FOUND OR v_service <> 'assessment' OR v_elder <> p_elder THEN
        RETURN 'not_assessment';
    END IF;
    INSERT INTO assessments (id, elder_id, order_id, district_id, visit_id, assessor_id,
                             level, score, assessed_at)
    VALUES (p_event_id, v_elder, p_order, v_district, p_visit, p_assessor, p_level, p_score,
            od_ts(p_at))
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'duplicate';
    END IF;
    v_on := (od_ts(p_at) AT TIME ZONE 'Asia/Shanghai')::date;
    -- The newest assessment is the elder's level: a late event for an
    -- older visit is recorded but does not undo a later result.
    UPDATE elders SET ability_level = p_level, ability_score = p_score, assessed_on = v_on,
                      rev = rev + 1, updated_at = clock_timestamp()
     WHERE id = v_elder AND (assessed_on IS NULL OR assessed_on <= v_on)
       AND NOT EXISTS (SELECT 1 FROM assessments a
                        WHERE a.elder_id = v_elder AND a.assessed_at > od_ts(p_at));
    RETURN CASE WHEN FOUND THEN 'updated' ELSE 'older' END;
END $$;

REVOKE EXECUTE ON FUNCTION od_on_visit_assessed FROM PUBLIC;
GRANT SELECT, INSERT ON assessments TO orderd_rt;
GRANT EXECUTE ON FUNCTION od_on_visit_assessed TO orderd_rt;
