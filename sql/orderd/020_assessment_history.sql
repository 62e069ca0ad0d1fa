-- An assessment that moves the elder's level is a change of the record
-- like any other: it goes into elder_history (issue 13, "every change kept
-- in the record's history"), by the assessor, with the old and new level,
-- score and date (as a PATCH records ability_level). Otherwise as 018.
CREATE OR REPLACE FUNCTION od_on_visit_assessed(p_producer text, p_seq bigint, p_event_id uuid,
        p_order uuid, p_visit text, p_assessor uuid, p_elder uuid, p_level text,
        p_score smallint, p_at bigint)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_elder uuid;
    v_district integer;
    v_service text;
    v_on date;
    v_old elders%ROWTYPE;
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
    SELECT * INTO v_old FROM elders WHERE id = v_elder FOR UPDATE;
    -- The newest assessment is the elder's level: a late event for an
    -- older visit is recorded but does not undo a later result.
    UPDATE elders SET ability_level = p_level, ability_score = p_score, assessed_on = v_on,
                      rev = rev + 1, updated_at = clock_timestamp()
     WHERE id = v_elder AND (assessed_on IS NULL OR assessed_on <= v_on)
       AND NOT EXISTS (SELECT 1 FROM assessments a
                        WHERE a.elder_id = v_elder AND a.assessed_at > od_ts(p_at));
    IF NOT FOUND THEN
        RETURN 'older';
    END IF;
    INSERT INTO elder_history (elder_id, who, action, changes)
    VALUES (v_elder, 'caregiver:' || coalesce(p_assessor::text, ''), 'assessment',
            jsonb_build_object(
                'order_id', p_order,
                'ability_level', jsonb_build_object('old', v_old.ability_level, 'new', p_level),
                'ability_score', jsonb_build_object('old', v_old.ability_score, 'new', p_score),
                'assessed_on', jsonb_build_object('old', v_old.assessed_on, 'new', v_on)));
    RETURN 'updated';
END $$;
