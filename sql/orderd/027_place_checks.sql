-- orders.meal_mode's CHECK becomes a domain, as 007 did for service and
-- state (issue 10's overhead, docs/BENCHMARKS.md "Issue 10"). 013 added the
-- column with a CHECK; PostgreSQL reads a table's CHECKs from their stored
-- text (stringToNode) and prepares them in every statement that inserts or
-- updates orders, so every od_order_place paid for it, meal or not. A
-- domain's constraint is prepared once per backend and kept in the type
-- cache. Instructions per od_order_place call (callgrind, single-user
-- backend, 320 - 64 calls): ExecConstraints 48.6k -> 17.7k with the CHECK
-- gone. Same values allowed, NULL still allowed (other services), the same
-- SQLSTATE (23514) for others; the column still reads as text.
CREATE DOMAIN od_meal_mode AS text;

ALTER TABLE orders
    DROP CONSTRAINT orders_meal_mode_check,
    ALTER COLUMN meal_mode TYPE od_meal_mode;

ALTER DOMAIN od_meal_mode ADD CONSTRAINT od_meal_mode_check
    CHECK (VALUE IN ('delivery', 'eat_in'));

-- The audit trail's GIN index on ids (common/010) holds only rows that name
-- an id. Most writes name none (POST /v1/orders: ids = '{}'), and each such
-- row still cost a GIN entry (the "empty item" placeholder), twice per
-- order (the accepted row and the status row). GET /v1/audit?elder_id=
-- asks ids @> {"elder_id": ..} or {"elder_ids": [..]}, which '{}' never
-- contains, and says ids <> '{}' (services/common/cc_rt.c, cc_audit_list)
-- so that the planner may use the partial index: the same rows, the same
-- plan (BitmapOr over audit_ids), checked with EXPLAIN. Instructions per
-- order of the audit rows (callgrind): 146k -> 138k. orderd's schema only:
-- the other daemons' trails are small.
DROP INDEX audit_ids;
CREATE INDEX audit_ids ON audit USING gin (ids jsonb_path_ops) WHERE ids <> '{}'::jsonb;
