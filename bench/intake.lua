-- wrk script: POST /v1/orders with a fresh Idempotency-Key per request,
-- cycling over the card ids in $BENCH_CARDS (one a line). done() prints one
-- JSON line "BENCH {...}" with rate, latency percentiles and status counts.
-- Environment: BENCH_CARDS (file), BENCH_SERVICES (comma list, default
-- cleaning), BENCH_WINDOW_START / BENCH_WINDOW_END (RFC 3339), BENCH_RUN (tag).

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
    run = os.getenv("BENCH_RUN") or tostring(os.time())
    n = 0
    statuses = {}
    errors_2xx = 0
end

function request()
    n = n + 1
    local card = cards[(n * 7 + tid) % #cards + 1]
    local service = services[n % #services + 1]
    local body = string.format(
        '{"card_id":"%s","service":"%s","window_start":"%s","window_end":"%s","notes":"bench"}',
        card, service, ws, we)
    local headers = {
        ["Content-Type"] = "application/json",
        ["Idempotency-Key"] = string.format("bench-%s-%d-%d", run, tid, n),
    }
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
    for k, v in pairs(counts) do table.insert(parts, string.format('"%d":%d', k, v)) end
    local secs = summary.duration / 1e6
    local ok = (counts[202] or 0) + (counts[200] or 0) + (counts[201] or 0)
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
