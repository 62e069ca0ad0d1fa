-- billingd: price list, subsidy rules, cards, double-entry ledger, holds.
-- Runs with search_path = billingd, as role billingd (tools/migrate.sh).
--
-- Money is integer fen (bigint). Every movement of money is a transfer whose
-- postings sum to zero; an account's balance is the sum of its postings
-- (kept in accounts.balance for speed and re-checked by bd_ledger_check()).
--
-- Account names (the same text in C, services/billingd/bd_ledger.h):
--   card:<card_id>:available   money on the love card          >= 0
--   card:<card_id>:held        held for open orders            >= 0
--   card:<card_id>:arrears     emergency debt, as a debit      <= 0
--   subsidy_fund               county subsidy budget: pays the subsidy part of
--                              captured orders; external, negative = spent
--   provider:<provider_id>     payable to a provider           >= 0
--   source:family|subsidy|allowance  where top-up money comes from; external,
--                              negative = money brought into the system

-- Demo price list (fen). A county loads its own with PUT /v1/prices/{service}.
CREATE TABLE prices (
    service    text        PRIMARY KEY
               CHECK (service IN ('meal', 'bath', 'cleaning', 'escort', 'medical_escort',
                                  'emergency', 'visit', 'assessment')),
    price_fen  bigint      NOT NULL CHECK (price_fen BETWEEN 0 AND 100000000),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO prices (service, price_fen) VALUES
    ('meal',           1500),   -- 15 CNY a meal, delivered
    ('bath',           6000),   -- 60 CNY, bathing visit
    ('cleaning',       4000),   -- 40 CNY
    ('escort',         3000),   -- 30 CNY, walking / errands
    ('medical_escort', 5000),   -- 50 CNY, to hospital and back
    ('emergency',      8000),   -- 80 CNY, never refused for money
    ('visit',             0),   -- mandated care visit: free to the elder
    ('assessment',        0);   -- mandated ability assessment: free

-- Subsidy rules as data. A rule matches an order when every non-NULL
-- condition matches; it covers share_bp/10000 of the list price (rounded
-- down) or fixed_fen (at most the price), limited by monthly_cap_fen per card
-- and rule in the order's month (Asia/Shanghai). Rules do not stack: the one
-- giving the largest subsidy applies (ties: lowest rule_id). The full engine
-- (programs, tiers, stacking) comes in a later issue; this table keeps its shape.
CREATE TABLE subsidy_rules (
    rule_id         integer PRIMARY KEY,
    name            text    NOT NULL,
    district_id     integer,            -- NULL: every district
    household       text CHECK (household IN ('none', 'dibao', 'dibao_edge', 'tekun')),
    age_min         integer CHECK (age_min >= 0),   -- inclusive, NULL: open
    age_max         integer CHECK (age_max >= 0),   -- inclusive, NULL: open
    service         text REFERENCES prices (service),   -- NULL: every service
    share_bp        integer CHECK (share_bp BETWEEN 0 AND 10000),
    fixed_fen       bigint  CHECK (fixed_fen >= 0),
    monthly_cap_fen bigint  CHECK (monthly_cap_fen >= 0),   -- NULL: no cap
    active          boolean NOT NULL DEFAULT true,
    CHECK ((share_bp IS NULL) <> (fixed_fen IS NULL)),
    CHECK (age_min IS NULL OR age_max IS NULL OR age_min <= age_max)
);
INSERT INTO subsidy_rules (rule_id, name, household, age_min, service, share_bp,
                           monthly_cap_fen) VALUES
    (1, 'tekun: extreme-poverty households pay nothing', 'tekun', NULL, NULL, 10000, NULL),
    (2, 'dibao: minimum-allowance households, half',    'dibao', NULL, NULL, 5000, NULL),
    (3, 'dibao_edge: near-poverty households, quarter', 'dibao_edge', NULL, NULL, 2500, NULL),
    (4, 'mandated care visit, fully subsidised',        NULL, NULL, 'visit', 10000, NULL),
    (5, 'ability assessment, fully subsidised',         NULL, NULL, 'assessment', 10000, NULL),
    (6, 'high age 80+: 20% of meals, 60 CNY a month',   NULL, 80, 'meal', 2000, 6000);

-- Cards as billingd knows them, from orderd's CardIssued / CardStatusChanged.
CREATE TABLE cards (
    card_id     uuid        PRIMARY KEY,
    elder_id    text        NOT NULL,
    district_id integer     NOT NULL DEFAULT 0,
    household   text        NOT NULL DEFAULT 'none',
    age_years   integer     NOT NULL DEFAULT 0,
    status      text        NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'blocked', 'closed')),
    issued_at   timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    account     text    PRIMARY KEY,
    kind        text    NOT NULL
                CHECK (kind IN ('card_available', 'card_held', 'card_arrears', 'subsidy_fund',
                                'provider_payable', 'source_family', 'source_subsidy',
                                'source_allowance')),
    card_id     uuid    REFERENCES cards (card_id),
    balance     bigint  NOT NULL DEFAULT 0,
    -- Safety net: the daemon decides in C so that these never fire.
    CONSTRAINT balance_sign CHECK (CASE kind
        WHEN 'card_available'   THEN balance >= 0
        WHEN 'card_held'        THEN balance >= 0
        WHEN 'provider_payable' THEN balance >= 0
        WHEN 'card_arrears'     THEN balance <= 0
        ELSE true END),
    CHECK ((kind LIKE 'card\_%') = (card_id IS NOT NULL))
);
INSERT INTO accounts (account, kind) VALUES
    ('subsidy_fund', 'subsidy_fund'),
    ('source:family', 'source_family'),
    ('source:subsidy', 'source_subsidy'),
    ('source:allowance', 'source_allowance');

CREATE TABLE transfers (
    transfer_id uuid        PRIMARY KEY,
    seq         bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,  -- statement order only
    kind        text        NOT NULL CHECK (kind IN ('topup', 'hold', 'capture', 'release')),
    card_id     uuid        REFERENCES cards (card_id),
    order_id    uuid,
    topup_id    uuid,
    time        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX transfers_card ON transfers (card_id, seq);

CREATE TABLE postings (
    transfer_id uuid   NOT NULL REFERENCES transfers (transfer_id),
    account     text   NOT NULL REFERENCES accounts (account),
    amount      bigint NOT NULL CHECK (amount <> 0),
    PRIMARY KEY (transfer_id, account)
);
CREATE INDEX postings_account ON postings (account);

-- A transfer's postings sum to zero, checked at commit (deferred, so a
-- transfer may be written in several statements; bd_post writes it in one).
CREATE FUNCTION bd_transfer_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    s numeric;
BEGIN
    SELECT sum(amount) INTO s FROM postings WHERE transfer_id = NEW.transfer_id;
    IF s <> 0 THEN
        RAISE EXCEPTION 'transfer % is unbalanced by %', NEW.transfer_id, s
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bd_transfer_balanced();

-- The ledger is append-only: corrections are new transfers.
CREATE FUNCTION bd_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION bd_append_only();
CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION bd_append_only();

-- One row per order billingd has decided on. state moves only from held.
CREATE TABLE holds (
    order_id     uuid        PRIMARY KEY,
    card_id      text        NOT NULL,   -- text: a denial may name an unknown card
    district_id  integer     NOT NULL DEFAULT 0,
    service      text        NOT NULL,
    emergency    boolean     NOT NULL DEFAULT false,
    state        text        NOT NULL CHECK (state IN ('held', 'captured', 'released', 'denied')),
    reason       text,                   -- denial or release reason
    price_fen    bigint      NOT NULL DEFAULT 0 CHECK (price_fen >= 0),
    subsidy_fen  bigint      NOT NULL DEFAULT 0 CHECK (subsidy_fen >= 0),
    held_fen     bigint      NOT NULL DEFAULT 0 CHECK (held_fen >= 0),      -- card part
    arrears_fen  bigint      NOT NULL DEFAULT 0 CHECK (arrears_fen >= 0),   -- of which debt
    rule_id      integer,
    month        integer,                -- YYYYMM (Asia/Shanghai) the subsidy counts in
    provider_id  text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (arrears_fen <= held_fen),
    CHECK (subsidy_fen + held_fen = price_fen OR state = 'denied')
);
CREATE INDEX holds_open ON holds (card_id) WHERE state = 'held';

-- Subsidy used per card, rule and month, for monthly caps. Reserved at hold,
-- given back at release.
CREATE TABLE subsidy_usage (
    card_id  uuid    NOT NULL,
    rule_id  integer NOT NULL,
    month    integer NOT NULL,
    used_fen bigint  NOT NULL CHECK (used_fen >= 0),
    PRIMARY KEY (card_id, rule_id, month)
);

CREATE TABLE topups (
    idempotency_key     text        PRIMARY KEY,
    topup_id            uuid        NOT NULL UNIQUE,
    card_id             uuid        NOT NULL REFERENCES cards (card_id),
    amount_fen          bigint      NOT NULL CHECK (amount_fen > 0),
    source              text        NOT NULL CHECK (source IN ('family', 'subsidy', 'allowance')),
    reference           text,
    arrears_paid_fen    bigint      NOT NULL CHECK (arrears_paid_fen >= 0),
    available_after_fen bigint      NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
