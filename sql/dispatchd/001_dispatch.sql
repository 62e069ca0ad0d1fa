-- dispatchd: caregivers, visits (with their day-plan slot) and the dispatch
-- queue (visits in state waiting). Runs with search_path = dispatchd, as
-- dispatchd, after sql/common/*.sql (events, log_head, cc_append, cc_consume).
--
-- Every write is one function call from the daemon, which has decided in C
-- against its in-memory working set; the function applies it with a guard on
-- the expected state so a replayed statement (a batch re-sent after a lost
-- COMMIT) changes nothing twice and appends no second event: it returns
-- 'noop'. Expected outcomes are result rows; an SQL error means memory and
-- store disagree (the daemon exits and reloads).
--
-- district_id leads every key so the tables can be distributed by it
-- (DESIGN.md §7). Names, homes, elder locations, GPS evidence and notes are
-- personal data: served to the caregiver app, never logged.

-- Microseconds since the epoch <-> timestamptz without float rounding.
CREATE FUNCTION dd_ts(p_us bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$ SELECT timestamptz 'epoch' + p_us * interval '1 microsecond' $$;
CREATE FUNCTION dd_us(p_ts timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT (extract(epoch FROM p_ts) * 1000000)::bigint $$;

CREATE TABLE caregivers (
    district_id     integer          NOT NULL CHECK (district_id > 0),
    id              uuid             NOT NULL,
    provider_id     text             NOT NULL CHECK (length(provider_id) BETWEEN 1 AND 63),
    name            text             NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    lat             double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon             double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    skills          text[]           NOT NULL,
    level           smallint         NOT NULL CHECK (level BETWEEN 1 AND 3),
    first_aid       boolean          NOT NULL,
    -- local (Asia/Shanghai) minutes since midnight; end <= start: overnight
    shift_start     smallint         NOT NULL CHECK (shift_start BETWEEN 0 AND 1439),
    shift_end       smallint         NOT NULL CHECK (shift_end BETWEEN 0 AND 1439),
    -- Idempotency-Key of the creating request: a retried POST finds it
    idempotency_key text,
    created_at      timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (district_id, id)
);
CREATE UNIQUE INDEX caregivers_id ON caregivers (id);
CREATE UNIQUE INDEX caregivers_idempotency_key ON caregivers (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE visits (
    district_id            integer          NOT NULL,
    id                     uuid             NOT NULL,
    order_id               text             NOT NULL,
    elder_id               text             NOT NULL DEFAULT '',
    service                text             NOT NULL CHECK (service IN ('bath', 'cleaning',
                               'escort', 'medical_escort', 'emergency', 'visit', 'assessment')),
    ability_level          text             NOT NULL DEFAULT '',
    emergency              boolean          NOT NULL DEFAULT false,
    priority               integer          NOT NULL DEFAULT 0,
    lat                    double precision NOT NULL,
    lon                    double precision NOT NULL,
    window_start           timestamptz      NOT NULL,
    window_end             timestamptz      NOT NULL,
    preferred_caregiver_id text             NOT NULL DEFAULT '',
    notes                  text             NOT NULL DEFAULT '',
    state                  text             NOT NULL CHECK (state IN ('waiting', 'assigned',
                               'accepted', 'checked_in', 'completed', 'failed', 'cancelled')),
    -- the current (or last) offer
    caregiver_id           uuid,
    provider_id            text,
    eta                    timestamptz,
    planned_end            timestamptz,
    travel_s               integer,
    assigned_at            timestamptz,
    -- caregivers who declined or let the offer time out: never offered again
    declined               uuid[]           NOT NULL DEFAULT '{}',
    accepted_at            timestamptz,
    checked_in_at          timestamptz,
    checkin_lat            double precision,
    checkin_lon            double precision,
    checkin_distance_m     integer,
    checked_out_at         timestamptz,
    checkout_lat           double precision,
    checkout_lon           double precision,
    checkout_distance_m    integer,
    fail_reason            text,
    created_at             timestamptz      NOT NULL,
    finished_at            timestamptz,
    PRIMARY KEY (district_id, id),
    UNIQUE (district_id, order_id)
);
CREATE UNIQUE INDEX visits_id ON visits (id);
CREATE INDEX visits_open ON visits (district_id, state)
    WHERE state IN ('waiting', 'assigned', 'accepted', 'checked_in');
CREATE INDEX visits_caregiver ON visits (caregiver_id, eta) WHERE caregiver_id IS NOT NULL;

-- POST /v1/caregivers. 'created', or 'exists' when the id or the
-- idempotency key is already there (a replay).
CREATE FUNCTION dd_caregiver_create(p_id uuid, p_idem text, p_provider text, p_district integer,
                                    p_name text, p_lat double precision,
                                    p_lon double precision, p_skills text, p_level integer,
                                    p_first_aid boolean, p_shift_start integer,
                                    p_shift_end integer) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO caregivers (district_id, id, provider_id, name, lat, lon, skills, level,
                            first_aid, shift_start, shift_end, idempotency_key)
    VALUES (p_district, p_id, p_provider, p_name, p_lat, p_lon,
            string_to_array(p_skills, ','), p_level, p_first_aid, p_shift_start, p_shift_end,
            nullif(p_idem, ''))
    ON CONFLICT DO NOTHING;
    RETURN CASE WHEN FOUND THEN 'created' ELSE 'exists' END;
END $$;

-- OrderReleased (a visit service): the visit enters dispatch, assigned at
-- once when p_caregiver is not null (VisitAssigned appended), else waiting.
-- 'applied', 'duplicate' (event seen before) or 'exists' (order known).
CREATE FUNCTION dd_on_order_released(p_producer text, p_seq bigint, p_event_id uuid,
        p_id uuid, p_order text, p_elder text, p_service text, p_ability text,
        p_emergency boolean, p_priority integer, p_district integer, p_lat double precision,
        p_lon double precision, p_ws bigint, p_we bigint, p_pref text, p_notes text,
        p_created bigint, p_caregiver uuid, p_provider text, p_eta bigint, p_end bigint,
        p_travel integer, p_ev uuid, p_payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN 'duplicate';
    END IF;
    IF EXISTS (SELECT 1 FROM visits WHERE district_id = p_district AND order_id = p_order) THEN
        RETURN 'exists';
    END IF;
    INSERT INTO visits (district_id, id, order_id, elder_id, service, ability_level, emergency,
                        priority, lat, lon, window_start, window_end, preferred_caregiver_id,
                        notes, state, caregiver_id, provider_id, eta, planned_end, travel_s,
                        assigned_at, created_at)
    VALUES (p_district, p_id, p_order, p_elder, p_service, p_ability, p_emergency, p_priority,
            p_lat, p_lon, dd_ts(p_ws), dd_ts(p_we), p_pref, p_notes,
            CASE WHEN p_caregiver IS NULL THEN 'waiting' ELSE 'assigned' END,
            p_caregiver, p_provider, dd_ts(p_eta), dd_ts(p_end), p_travel,
            CASE WHEN p_caregiver IS NULL THEN NULL ELSE dd_ts(p_created) END,
            dd_ts(p_created));
    IF p_caregiver IS NOT NULL THEN
        PERFORM cc_append('VisitAssigned', p_ev, p_order, p_district, p_payload);
    END IF;
    RETURN 'applied';
END $$;

-- A waiting visit is offered to a caregiver (queue retry). 'applied'|'noop'.
CREATE FUNCTION dd_visit_assign(p_district integer, p_id uuid, p_caregiver uuid,
        p_provider text, p_eta bigint, p_end bigint, p_travel integer, p_at bigint,
        p_order text, p_ev uuid, p_payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE visits SET state = 'assigned', caregiver_id = p_caregiver, provider_id = p_provider,
                      eta = dd_ts(p_eta), planned_end = dd_ts(p_end), travel_s = p_travel,
                      assigned_at = dd_ts(p_at)
     WHERE district_id = p_district AND id = p_id AND state = 'waiting';
    IF NOT FOUND THEN
        RETURN 'noop';
    END IF;
    PERFORM cc_append('VisitAssigned', p_ev, p_order, p_district, p_payload);
    RETURN 'applied';
END $$;

-- Decline or accept timeout by p_caregiver: VisitDeclined, and when
-- p_next is not null the offer moves on (VisitAssigned), else the visit
-- waits in the queue. 'applied'|'noop'.
CREATE FUNCTION dd_visit_decline(p_district integer, p_id uuid, p_caregiver uuid,
        p_order text, p_ev uuid, p_payload bytea, p_next uuid, p_provider text,
        p_eta bigint, p_end bigint, p_travel integer, p_at bigint, p_ev2 uuid,
        p_payload2 bytea) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE visits SET declined = array_append(declined, p_caregiver),
                      state = CASE WHEN p_next IS NULL THEN 'waiting' ELSE 'assigned' END,
                      caregiver_id = coalesce(p_next, caregiver_id),
                      provider_id = CASE WHEN p_next IS NULL THEN provider_id
                                         ELSE p_provider END,
                      eta = CASE WHEN p_next IS NULL THEN NULL ELSE dd_ts(p_eta) END,
                      planned_end = CASE WHEN p_next IS NULL THEN NULL ELSE dd_ts(p_end) END,
                      travel_s = CASE WHEN p_next IS NULL THEN NULL ELSE p_travel END,
                      assigned_at = CASE WHEN p_next IS NULL THEN assigned_at
                                         ELSE dd_ts(p_at) END,
                      accepted_at = NULL
     WHERE district_id = p_district AND id = p_id AND state IN ('assigned', 'accepted')
       AND caregiver_id = p_caregiver;
    IF NOT FOUND THEN
        RETURN 'noop';
    END IF;
    PERFORM cc_append('VisitDeclined', p_ev, p_order, p_district, p_payload);
    IF p_next IS NOT NULL THEN
        PERFORM cc_append('VisitAssigned', p_ev2, p_order, p_district, p_payload2);
    END IF;
    RETURN 'applied';
END $$;

CREATE FUNCTION dd_visit_accept(p_district integer, p_id uuid, p_caregiver uuid, p_at bigint,
        p_order text, p_ev uuid, p_payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE visits SET state = 'accepted', accepted_at = dd_ts(p_at)
     WHERE district_id = p_district AND id = p_id AND state = 'assigned'
       AND caregiver_id = p_caregiver;
    IF NOT FOUND THEN
        RETURN 'noop';
    END IF;
    PERFORM cc_append('VisitAccepted', p_ev, p_order, p_district, p_payload);
    RETURN 'applied';
END $$;

-- Check-in (accepted -> checked_in) or check-out (checked_in -> completed)
-- with the GPS evidence and its distance from the elder's home.
CREATE FUNCTION dd_visit_check(p_district integer, p_id uuid, p_caregiver uuid,
        p_out boolean, p_at bigint, p_lat double precision, p_lon double precision,
        p_distance integer, p_order text, p_ev uuid, p_payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF p_out THEN
        UPDATE visits SET state = 'completed', checked_out_at = dd_ts(p_at),
                          checkout_lat = p_lat, checkout_lon = p_lon,
                          checkout_distance_m = p_distance, finished_at = dd_ts(p_at)
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
    RETURN 'applied';
END $$;

-- Nobody could be found in time: VisitFailed. 'applied'|'noop'.
CREATE FUNCTION dd_visit_fail(p_district integer, p_id uuid, p_reason text, p_at bigint,
        p_order text, p_ev uuid, p_payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE visits SET state = 'failed', fail_reason = p_reason, finished_at = dd_ts(p_at)
     WHERE district_id = p_district AND id = p_id AND state IN ('waiting', 'assigned');
    IF NOT FOUND THEN
        RETURN 'noop';
    END IF;
    PERFORM cc_append('VisitFailed', p_ev, p_order, p_district, p_payload);
    RETURN 'applied';
END $$;

-- OrderCancelled: the visit is dropped from plans and queue (no event).
-- 'applied' | 'duplicate'.
CREATE FUNCTION dd_on_order_cancelled(p_producer text, p_seq bigint, p_event_id uuid,
        p_district integer, p_id uuid, p_at bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT cc_consume(p_producer, p_seq, p_event_id) THEN
        RETURN 'duplicate';
    END IF;
    UPDATE visits SET state = 'cancelled', finished_at = dd_ts(p_at)
     WHERE district_id = p_district AND id = p_id
       AND state NOT IN ('completed', 'failed', 'cancelled');
    RETURN 'applied';
END $$;
