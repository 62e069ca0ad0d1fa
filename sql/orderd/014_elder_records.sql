-- Elder records that live (issue 13): the columns and tables the county's
-- duties read and write. This file is the shared contract of the issue-13
-- modules (elders, plans and duties, assessments, alarms); each module's
-- functions come in its own later migration.
--
-- status           active | in_hospital | moved_away | deceased. Duties and
--                  plans generate only for active elders; a death cancels
--                  plans and open orders (services/orderd, elders module).
-- categories       special-difficulty categories (特殊困难老年人) a duty rule
--                  matches on (../shared/policies/001_96a20b76e7fbf74d.txt
--                  §14): alone (独居), empty_nest (空巢), left_behind (留守),
--                  disabled (失能), severely_disabled (重度失能),
--                  fp_special (计划生育特殊家庭), no_carer (无人照料: the
--                  weekly contact duty). Age (80+) is not a category: rules
--                  match on birth_date.
-- assessed_on      date of the last ability assessment (NULL: never); the
--                  next one is due a year later from 80, two years below
--                  (001 §2). ability_score is the assessment's score.
-- rev              raised by every change; PATCH may name the rev it read
--                  (If-Match) so two operators do not overwrite each other.
ALTER TABLE elders
    ADD COLUMN status text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'in_hospital', 'moved_away', 'deceased')),
    ADD COLUMN status_at timestamptz,
    ADD COLUMN categories text[] NOT NULL DEFAULT '{}'
        CHECK (categories <@ ARRAY['alone', 'empty_nest', 'left_behind', 'disabled',
                                   'severely_disabled', 'fp_special', 'no_carer']::text[]),
    ADD COLUMN assessed_on date,
    ADD COLUMN ability_score smallint CHECK (ability_score BETWEEN 0 AND 100),
    ADD COLUMN rev bigint NOT NULL DEFAULT 0,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT clock_timestamp();
CREATE INDEX elders_district_active ON elders (district_id) WHERE status = 'active';

-- Family and emergency contacts (alarms notify them in priority order).
-- Name and phone are personal data: sealed like the elder's own
-- (services/orderd/od_pii.h), under pii_key.
CREATE TABLE elder_contacts (
    id        uuid        PRIMARY KEY,
    elder_id  uuid        NOT NULL REFERENCES elders (id),
    priority  smallint    NOT NULL CHECK (priority BETWEEN 1 AND 9),
    relation  text        NOT NULL CHECK (relation IN ('child', 'spouse', 'relative',
                                          'neighbour', 'grid_worker', 'other')),
    pii_key   integer     NOT NULL,
    name_enc  bytea       NOT NULL,
    phone_enc bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (elder_id, priority)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON elder_contacts TO orderd_rt;
GRANT UPDATE (status, status_at, categories, assessed_on, ability_score, ability_level,
              rev, updated_at) ON elders TO orderd_rt;
