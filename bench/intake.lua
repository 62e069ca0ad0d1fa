-- wrk script: POST /v1/orders with a fresh Idempotency-Key per request
-- ("bench-<run>-<thread>-<counter>"), cycling over the card ids in
-- $BENCH_CARDS (one a line). done() prints one JSON line "BENCH {...}" with
-- rate, latency percentiles and status counts.
--
-- Environment:
--   BENCH_CARDS        file of card ids (required)
--   BENCH_SERVICES     comma list, default cleaning (bench/*.sh: cleaning,bath,escort)
--   BENCH_RUN          tag in every key (default the start time)
--   BENCH_WINDOW_START / BENCH_WINDOW_END  RFC 3339: the same window for every order
--   BENCH_SPREAD_DAYS  instead of one window: each order gets a 2-hour window
--                      opening on the hour between 07:00 and 18:00 (+08:00) on
--                      one of the N days from tomorrow
--   BENCH_RATE         total requests/s to offer (all threads together); unset:
--                      as fast as the connections go (closed loop). Paced with
--                      wrk's delay(), so still a closed loop under the cap.
--   BENCH_THREADS      wrk -t, needed with BENCH_RATE (default 2)
--
-- LuaJIT (Debian's wrk): the ffi gives a monotonic clock for the pacing.

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
    ffi.C.clock_gettime(1, ts)   -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local TZ = 8 * 3600   -- the county's time zone, Asia/Shanghai (+08:00, no DST)
local threads = {}
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("tid", counter)
    table.insert(threads, thread)
end

function init(args)
    cards = {}
    for line in io.lines(os.getenv("BENCH_CARDS")) do
        if #line > 0 then table.insert(cards, line) end
    end
    services = {}
    for s in string.gmatch(os.getenv("BENCH_SERVICES") or "cleaning", "[^,]+") do
        table.insert(services, s)
    end
    ws = os.getenv("BENCH_WINDOW_START")
    we = os.getenv("BENCH_WINDOW_END")
    spread_days = tonumber(os.getenv("BENCH_SPREAD_DAYS") or "0")
    t0 = os.time()
    today = math.floor((t0 + TZ) / 86400)   -- local day number
    run = os.getenv("BENCH_RUN") or tostring(t0)
    -- An operator's bearer token (bench/sys.sh mints it; docs/SECURITY.md).
    local t = os.getenv("BENCH_TOKEN")
    token = t and t ~= "" and ("Bearer " .. t) or nil
    local rate = tonumber(os.getenv("BENCH_RATE") or "")
    if rate and rate > 0 then
        interval_ms = 1000.0 * tonumber(os.getenv("BENCH_THREADS") or "2") / rate
    end
    next_ms = nil
    n = 0
    statuses = {}
end

function delay()
    if not interval_ms then return 0 end
    -- One schedule per thread: every request takes the next slot.
    -- A thread more than 1 s behind starts afresh rather than bursting.
    local now = now_ms()
    if not next_ms or next_ms < now - 1000 then next_ms = now end
    local slot = next_ms
    next_ms = next_ms + interval_ms
    if slot <= now then return 0 end
    return math.floor(slot - now)
end

local function rfc3339(t)
    return os.date("!%Y-%m-%dT%H:%M:%S+08:00", t + TZ)
end

function request()
    n = n + 1
    local card = cards[(n * 7 + tid) % #cards + 1]
    local service = services[n % #services + 1]
    local s, e = ws, we
    if spread_days > 0 then
        -- Daytime visits: the window opens on the hour, 07:00..18:00 Beijing
        -- time, on one of the spread_days days from tomorrow; a scatter over
        -- the slots (a prime stride), not a ramp.
        local k = (n * 7919 + tid * 104729) % (spread_days * 12)
        local start = (today + 1 + math.floor(k / 12)) * 86400 + (7 + k % 12) * 3600 - TZ
        s, e = rfc3339(start), rfc3339(start + 7200)
    end
    local body = string.format(
        '{"card_id":"%s","service":"%s","window_start":"%s","window_end":"%s","notes":"bench"}',
        card, service, s, e)
    local headers = {
        ["Content-Type"] = "application/json",
        ["Idempotency-Key"] = string.format("bench-%s-%d-%d", run, tid, n),
    }
    if token then
        headers["Authorization"] = token
    end
    return wrk.format("POST", "/v1/orders", headers, body)
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    local counts = {}
    for _, t in ipairs(threads) do
        local st = t:get("statuses")
        for k, v in pairs(st) do counts[k] = (counts[k] or 0) + v end
    end
    local parts = {}
    local ok = 0
    for k, v in pairs(counts) do
        table.insert(parts, string.format('"%d":%d', k, v))
        if k >= 200 and k < 300 then ok = ok + v end
    end
    local secs = summary.duration / 1e6
    io.write(string.format(
        'BENCH {"seconds":%.3f,"requests":%d,"accepted":%d,"accepted_per_s":%.1f,' ..
        '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
        '"socket_errors":%d,"statuses":{%s}}\n',
        secs, summary.requests, ok, ok / secs,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000,
        summary.errors.connect + summary.errors.read + summary.errors.write +
        summary.errors.timeout, table.concat(parts, ",")))
end
