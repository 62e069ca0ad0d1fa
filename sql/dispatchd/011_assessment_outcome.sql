-- An assessment visit's outcome (issue 13; ../shared/policies/001 §2: free
-- ability assessments, 003 §2: the result decides subsidies and services).
-- The assessor checks the visit out with the result; dispatchd keeps it on
-- the visit and appends VisitAssessed (to orderd only: health data, see
-- docs/SECURITY.md "What events carry") right after VisitCompleted.
ALTER TABLE visits
    ADD COLUMN assessment_level text
        CHECK (assessment_level IN ('intact', 'mild', 'moderate', 'severe', 'total')),
    ADD COLUMN assessment_score smallint CHECK (assessment_score BETWEEN 0 AND 100),
    ADD CONSTRAINT visits_assessment_whole
        CHECK ((assessment_level IS NULL) = (assessment_score IS NULL));

-- dd_visit_check with the assessment: p_level/p_score/p_ev2/p_payload2 NULL
-- for every other check-in or check-out.
DROP FUNCTION dd_visit_check(integer, uuid, uuid, boolean, bigint, double precision,
                             double precision, integer, text, uuid, bytea);
CREATE FUNCTION dd_visit_check(p_district integer, p_id uuid, p_caregiver uuid,
        p_out boolean, p_at bigint, p_lat double precision, p_lon double precision,
        p_distance integer, p_order text, p_ev uuid, p_payload bytea,
        p_level text DEFAULT NULL, p_score smallint DEFAULT NULL,
        p_ev2 uuid DEFAULT NULL, p_payload2 bytea DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF p_out THEN
        UPDATE visits SET state = 'completed', checked_out_at = dd_ts(p_at),
                          checkout_lat = p_lat, checkout_lon = p_lon,
                          checkout_distance_m = p_distance, finished_at = dd_ts(p_at),
                          assessment_level = p_level, assessment_score = p_score
         WHERE district_id = p_district AND id = p_id AND state = 'checked_in'
           AND caregiver_id = p_caregiver;
    ELSE
        UPDATE visits SET state = 'checked_in', checked_in_at = dd_ts(p_at),
                          checkin_lat = p_lat, checkin_lon = p_lon,
                          checkin_distance_m = p_distance
         WHERE district_id = p_district AND id = p_id AND state = 'accepted'
           AND caregiver_id = p_caregiver;
    END IF;
    IF NOT FOUND THEN
        RETURN 'noop';
    END IF;
    PERFORM cc_append(CASE WHEN p_out THEN 'VisitCompleted' ELSE 'VisitCheckedIn' END,
                      p_ev, p_order, p_district, p_payload);
    IF p_out AND p_payload2 IS NOT NULL THEN
        PERFORM cc_append('VisitAssessed', p_ev2, p_order, p_district, p_payload2);
    END IF;
    RETURN 'applied';
END $$;
REVOKE EXECUTE ON FUNCTION dd_visit_check FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dd_visit_check TO dispatchd_rt;
