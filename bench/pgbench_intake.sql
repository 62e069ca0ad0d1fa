-- pgbench_intake.sql: the baseline of the intake benchmark (bench/intake.sh).
-- One transaction = what an order is at its simplest: an order row and an
-- event row, two INSERTs, one COMMIT (one WAL flush, shared by whatever
-- commits at the same moment: PostgreSQL's own group commit).
-- The tables are copies of orderd.orders and orderd.events (CREATE TABLE ...
-- (LIKE ... INCLUDING ALL): same columns, defaults and indexes, no foreign
-- keys) in the scratch schema "bench", which bench/intake.sh creates before
-- and drops after. Widths as our orders: a 40-character key, 'bench' notes,
-- a 160-byte payload (an OrderPlaced is about that size).
--   pgbench -n -c 32 -j 2 -T 20 -f bench/pgbench_intake.sql eldercare
\set district random(1, 3)
\set hours random(1, 504)
BEGIN;
INSERT INTO bench.orders (id, idem_key, card_id, elder_id, district_id, service, state,
    window_start, window_end, notes, emergency, source)
VALUES (gen_random_uuid(), 'pgb-' || gen_random_uuid(), gen_random_uuid(), gen_random_uuid(),
    :district, 'cleaning', 'placed', date_trunc('hour', now()) + :hours * interval '1 hour',
    date_trunc('hour', now()) + (:hours + 2) * interval '1 hour', 'bench', false, 'http');
INSERT INTO bench.events (seq, id, type, key, district_id, payload)
VALUES (nextval('bench.event_seq'), gen_random_uuid(), 'OrderPlaced', gen_random_uuid()::text,
    :district, decode(repeat(md5(random()::text), 10), 'hex'));
END;
