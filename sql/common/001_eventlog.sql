-- Event log and consumer bookkeeping, installed into every daemon's schema
-- (the migration runner sets search_path to the daemon's schema first).
-- See services/common/cc_evlog.h for the protocol.

CREATE TABLE events (
    seq         bigint      PRIMARY KEY,
    id          uuid        NOT NULL UNIQUE,
    type        text        NOT NULL,
    key         text        NOT NULL,
    district_id integer     NOT NULL DEFAULT 0,
    time        timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload     bytea       NOT NULL
);

-- One row. Bumping it takes a row lock held to commit, so a second writer
-- waits and then numbers after the first one's commit: gapless, commit order.
-- (A bigserial would let a reader see seq 7 commit before seq 6 and skip it.)
CREATE TABLE log_head (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq bigint  NOT NULL
);
INSERT INTO log_head VALUES (true, 0);

CREATE FUNCTION cc_append(p_type text, p_id uuid, p_key text, p_district integer,
                          p_payload bytea) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
BEGIN
    UPDATE log_head SET seq = seq + 1 RETURNING seq INTO s;
    INSERT INTO events (seq, id, type, key, district_id, payload)
    VALUES (s, p_id, p_type, p_key, coalesce(p_district, 0), p_payload);
    -- Wakes long polls served by other connections; identical notifications
    -- in one transaction are folded into one by PostgreSQL.
    PERFORM pg_notify(current_schema() || '_events', '');
    RETURN s;
END $$;

-- Where this daemon stands in each log it consumes.
CREATE TABLE positions (
    producer text   PRIMARY KEY,
    seq      bigint NOT NULL
);

-- Every event applied, by id: the effect of an event is applied once.
CREATE TABLE inbox (
    producer   text        NOT NULL,
    event_id   uuid        NOT NULL,
    seq        bigint      NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (producer, event_id)
);

-- True exactly once per event: the caller applies the effect in the same
-- transaction. Advances the stored position either way.
CREATE FUNCTION cc_consume(p_producer text, p_seq bigint, p_event_id uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    INSERT INTO positions (producer, seq) VALUES (p_producer, p_seq)
    ON CONFLICT (producer) DO UPDATE SET seq = greatest(positions.seq, excluded.seq);
    INSERT INTO inbox (producer, event_id, seq) VALUES (p_producer, p_event_id, p_seq)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n = 1;
END $$;

CREATE FUNCTION cc_position(p_producer text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT seq FROM positions WHERE producer = p_producer), 0)
$$;
