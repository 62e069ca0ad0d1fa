-- The latest capacity dispatchd reported per district and local day
-- (CapacityReported, issue 13; docs/DUTIES.md "Capacity"): the duty
-- generator spreads mandated visits by it. A copy of dispatchd's figures,
-- kept as the consumer applies the events (so a restart reads it back, no
-- replay needed). Counts and minutes only.
CREATE TABLE duty_capacity (
    district_id  integer     NOT NULL,
    day          date        NOT NULL,
    shift_min    integer     NOT NULL CHECK (shift_min >= 0),
    planned_min  integer     NOT NULL CHECK (planned_min >= 0),
    duty_min     integer     NOT NULL CHECK (duty_min >= 0),
    caregivers   integer     NOT NULL CHECK (caregivers >= 0),
    reported_at  timestamptz NOT NULL,
    PRIMARY KEY (district_id, day)
);

-- CapacityReported. Outcome: recorded | older (a later report is kept) |
-- replayed (consumed before). Past days stay (a row per district and day:
-- a few hundred a year; the runtime role holds no DELETE).
CREATE FUNCTION od_on_capacity_reported(p_producer text, p_seq bigint, p_event_id uuid,
        p_district integer, p_day date, p_shift integer, p_planned integer, p_duty integer,
        p_caregivers integer, p_at bigint)
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN 'replayed';
    END IF;
    INSERT INTO duty_capacity AS c (district_id, day, shift_min, planned_min, duty_min,
                                    caregivers, reported_at)
    VALUES (p_district, p_day, p_shift, p_planned, p_duty, p_caregivers, od_ts(p_at))
    ON CONFLICT (district_id, day) DO UPDATE
       SET shift_min = excluded.shift_min, planned_min = excluded.planned_min,
           duty_min = excluded.duty_min, caregivers = excluded.caregivers,
           reported_at = excluded.reported_at
     WHERE c.reported_at <= excluded.reported_at;
    RETURN CASE WHEN FOUND THEN 'recorded' ELSE 'older' END;
END $$;

REVOKE EXECUTE ON FUNCTION od_on_capacity_reported FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON duty_capacity TO orderd_rt;
GRANT EXECUTE ON FUNCTION od_on_capacity_reported TO orderd_rt;
