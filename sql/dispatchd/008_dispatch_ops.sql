-- A dispatcher's operations (issue 12; the rules are
-- services/dispatchd/dd_rules.h, the routes docs/API-dispatchd.md): a rota
-- by date, certificates with expiry, providers' zones, manual assignments
-- and their releases, and a visit failed on site. As everywhere in
-- dispatchd, each decision is one function call, guarded so that a replayed
-- call changes nothing twice and appends no second event.

-- A caregiver's day: a shift (local minutes, as caregivers.shift_*), or off.
-- A date without a row is the caregiver's default shift.
CREATE TABLE caregiver_rota (
    district_id  cc_district NOT NULL,
    caregiver_id uuid        NOT NULL,
    day          date        NOT NULL,
    shift_start  smallint    CHECK (shift_start BETWEEN 0 AND 1439),
    shift_end    smallint    CHECK (shift_end BETWEEN 0 AND 1439),
    off          text        CHECK (off IN ('day_off', 'leave', 'sick')),
    set_by       text        NOT NULL,   -- account id (not personal data)
    set_at       timestamptz NOT NULL,
    CHECK ((off IS NULL) = (shift_start IS NOT NULL AND shift_end IS NOT NULL)),
    CHECK (off IS NULL OR (shift_start IS NULL AND shift_end IS NULL)),
    PRIMARY KEY (district_id, caregiver_id, day)
);

-- kind: a visit service (its skill; level decides bathing severe/total) or
-- first_aid. Valid in [valid_from, valid_until).
CREATE TABLE caregiver_certificates (
    district_id  cc_district NOT NULL,
    id           uuid        NOT NULL,
    caregiver_id uuid        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('bath', 'cleaning', 'escort',
                                 'medical_escort', 'emergency', 'visit', 'assessment',
                                 'first_aid')),
    level        smallint    NOT NULL CHECK (level BETWEEN 1 AND 3),
    valid_from   cc_time     NOT NULL,
    valid_until  cc_time     NOT NULL,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    CHECK (valid_until > valid_from),
    PRIMARY KEY (district_id, id)
);
CREATE INDEX caregiver_certificates_cg ON caregiver_certificates (caregiver_id);

-- 划片: the districts a provider serves. No row: everywhere. A small
-- reference table (DESIGN.md §7: copied to every node, no district_id).
CREATE TABLE provider_districts (
    provider_id  cc_provider_id PRIMARY KEY,
    district_ids integer[]      NOT NULL CHECK (cardinality(district_ids) >= 1),
    set_by       text           NOT NULL,
    set_at       timestamptz    NOT NULL
);

-- The caregiver a dispatcher pinned the visit to; the pin holds while that
-- caregiver holds the visit (dd_rules_pinned). NULL: not pinned.
ALTER TABLE visits ADD COLUMN manual_caregiver_id uuid;

-- Who assigned, moved or released a visit by hand, and why.
CREATE TABLE visit_assignments (
    district_id    cc_district NOT NULL,
    id             uuid        NOT NULL,
    visit_id       uuid        NOT NULL,
    action         text        NOT NULL CHECK (action IN ('assign', 'release')),
    from_caregiver uuid,
    to_caregiver   uuid,
    forced         boolean     NOT NULL DEFAULT false,
    reason         cc_text     NOT NULL,
    by_account     text        NOT NULL,
    at             timestamptz NOT NULL,
    PRIMARY KEY (district_id, id)
);
CREATE INDEX visit_assignments_visit ON visit_assignments (visit_id, at);

-- PUT /v1/caregivers/{id}/rota/{date}. When the day is off, the visits of
-- that day still to start (p_ids, with their districts, orders, event ids
-- and VisitDeclined{caregiver_unavailable} payloads in hex) leave the
-- caregiver's plan and wait in the queue. 'applied'; a replay writes the
-- same row again and moves no visit twice (each is guarded on its offer).
CREATE FUNCTION dd_rota_set(p_district integer, p_caregiver uuid, p_day date,
        p_start integer, p_end integer, p_off text, p_by text, p_at bigint,
        p_vdistricts bigint[], p_ids text[], p_orders text[], p_evs text[],
        p_payloads text[]) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO caregiver_rota (district_id, caregiver_id, day, shift_start, shift_end, off,
                                set_by, set_at)
    VALUES (p_district, p_caregiver, p_day, p_start, p_end, p_off, p_by, dd_ts(p_at))
    ON CONFLICT (district_id, caregiver_id, day) DO UPDATE
       SET shift_start = excluded.shift_start, shift_end = excluded.shift_end,
           off = excluded.off, set_by = excluded.set_by, set_at = excluded.set_at;
    FOR i IN 1 .. coalesce(cardinality(p_ids), 0) LOOP
        UPDATE visits SET state = 'waiting', eta = NULL, planned_end = NULL, travel_s = NULL,
                          accepted_at = NULL
         WHERE district_id = p_vdistricts[i] AND id = p_ids[i]::uuid
           AND state IN ('assigned', 'accepted') AND caregiver_id = p_caregiver;
        IF FOUND THEN
            PERFORM cc_append('VisitDeclined', p_evs[i]::uuid, p_orders[i],
                              p_vdistricts[i]::integer, decode(p_payloads[i], 'hex'));
        END IF;
    END LOOP;
    RETURN 'applied';
END $$;

-- POST /v1/caregivers/{id}/certificates. 'created', or 'exists' (a replay).
CREATE FUNCTION dd_certificate_add(p_district integer, p_id uuid, p_caregiver uuid,
        p_kind text, p_level integer, p_from bigint, p_until bigint, p_by text,
        p_at bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO caregiver_certificates (district_id, id, caregiver_id, kind, level,
                                        valid_from, valid_until, created_by, created_at)
    VALUES (p_district, p_id, p_caregiver, p_kind, p_level, dd_ts(p_from), dd_ts(p_until),
            p_by, dd_ts(p_at))
    ON CONFLICT DO NOTHING;
    RETURN CASE WHEN FOUND THEN 'created' ELSE 'exists' END;
END $$;

-- PUT /v1/providers/{provider}/districts. 'applied'.
CREATE FUNCTION dd_provider_districts_set(p_provider text, p_districts bigint[], p_by text,
        p_at bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO provider_districts (provider_id, district_ids, set_by, set_at)
    VALUES (p_provider, p_districts::integer[], p_by, dd_ts(p_at))
    ON CONFLICT (provider_id) DO UPDATE
       SET district_ids = excluded.district_ids, set_by = excluded.set_by,
           set_at = excluded.set_at;
    RETURN 'applied';
END $$;

-- POST /v1/visits/{id}/assign: the visit, in state p_from with caregiver
-- p_old (NULL: waiting), is offered to p_caregiver and pinned. When it
-- moves from p_old: VisitDeclined{reassigned} (p_ev_d, p_pay_d) first;
-- then VisitAssigned. 'applied', or 'noop' when the visit is no longer as
-- seen (a replay).
CREATE FUNCTION dd_visit_manual_assign(p_district integer, p_id uuid, p_from text,
        p_old uuid, p_caregiver uuid, p_provider text, p_eta bigint, p_end bigint,
        p_travel integer, p_at bigint, p_order text, p_rec uuid, p_reason text, p_by text,
        p_forced boolean, p_ev_d uuid, p_pay_d bytea, p_ev uuid, p_payload bytea)
        RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE visits SET state = 'assigned', caregiver_id = p_caregiver, provider_id = p_provider,
                      eta = dd_ts(p_eta), planned_end = dd_ts(p_end), travel_s = p_travel,
                      assigned_at = dd_ts(p_at), accepted_at = NULL,
                      manual_caregiver_id = p_caregiver
     WHERE district_id = p_district AND id = p_id AND state = p_from
       AND (caregiver_id = p_old OR p_from = 'waiting');
    IF NOT FOUND THEN
        RETURN 'noop';
    END IF;
    INSERT INTO visit_assignments (district_id, id, visit_id, action, from_caregiver,
                                   to_caregiver, forced, reason, by_account, at)
    VALUES (p_district, p_rec, p_id, 'assign', p_old, p_caregiver, p_forced, p_reason, p_by,
            dd_ts(p_at));
    IF p_old IS NOT NULL THEN
        PERFORM cc_append('VisitDeclined', p_ev_d, p_order, p_district, p_pay_d);
    END IF;
    PERFORM cc_append('VisitAssigned', p_ev, p_order, p_district, p_payload);
    RETURN 'applied';
END $$;

-- POST /v1/visits/{id}/release: the pin goes (the visit stays where it is).
-- 'applied', or 'noop' (not pinned: a replay).
CREATE FUNCTION dd_visit_release(p_district integer, p_id uuid, p_rec uuid, p_reason text,
        p_by text, p_at bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_cg uuid;
BEGIN
    UPDATE visits SET manual_caregiver_id = NULL
     WHERE district_id = p_district AND id = p_id AND manual_caregiver_id IS NOT NULL
    RETURNING caregiver_id INTO v_cg;
    IF NOT FOUND THEN
        RETURN 'noop';
    END IF;
    INSERT INTO visit_assignments (district_id, id, visit_id, action, from_caregiver,
                                   to_caregiver, reason, by_account, at)
    VALUES (p_district, p_rec, p_id, 'release', v_cg, v_cg, p_reason, p_by, dd_ts(p_at));
    RETURN 'applied';
END $$;

-- A visit fails on site (POST /v1/visits/{id}/fail) also once checked in:
-- dd_visit_resolve of 007 with checked_in -> failed added.
CREATE OR REPLACE FUNCTION dd_visit_resolve(p_district integer, p_id uuid, p_from text,
        p_to text, p_reason text, p_by text, p_at bigint, p_order text, p_type text,
        p_ev uuid, p_payload bytea) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF (p_from, p_to) NOT IN (('waiting', 'failed'), ('assigned', 'failed'),
                              ('accepted', 'failed'), ('checked_in', 'failed'),
                              ('checked_in', 'unconfirmed'),
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

-- dispatchd_rt (006_runtime_role.sql): no DELETE here either.
GRANT SELECT, INSERT, UPDATE ON caregiver_rota TO dispatchd_rt;
GRANT SELECT, INSERT ON caregiver_certificates TO dispatchd_rt;
GRANT SELECT, INSERT, UPDATE ON provider_districts TO dispatchd_rt;
GRANT SELECT, INSERT ON visit_assignments TO dispatchd_rt;
GRANT EXECUTE ON FUNCTION dd_rota_set, dd_certificate_add, dd_provider_districts_set,
    dd_visit_manual_assign, dd_visit_release TO dispatchd_rt;
