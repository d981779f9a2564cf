-- POST one request body over and over; print the run's numbers as one JSON line in done().
--
-- Usage: wrk -t1 -c32 -d10s -s bench/wrk/chat.lua URL -- BODY_FILE ["NAME: VALUE" ...]
-- The body is read from BODY_FILE (so the same bytes go to the mock and to the gateway); each
-- further argument is a request header ("authorization: Bearer sk-…", "x-api-key: sk-…",
-- "anthropic-version: 2023-06-01"). No response() hook is defined, so wrk neither buffers
-- bodies nor calls Lua per response: the load generator stays as light as it can be. wrk itself
-- counts responses with status > 399 (errors.status) and socket errors.

-- WRK_DELAY_MS (environment): each connection waits that long after a response before its
-- next request, so N connections offer a roughly fixed load instead of saturating the target
-- (bench/engines.py compares CPU per request of HTTP servers at the same offered load).
local DELAY_MS = tonumber(os.getenv("WRK_DELAY_MS") or "")
if DELAY_MS then
   function delay()
      return DELAY_MS
   end
end

local function slurp(path)
   local f = assert(io.open(path, "rb"))
   local data = f:read("*a")
   f:close()
   return data
end

function init(args)
   wrk.method = "POST"
   wrk.body = slurp(args[1])
   wrk.headers["content-type"] = "application/json"
   for i = 2, #args do
      local name, value = args[i]:match("^([^:]+):%s*(.*)$")
      assert(name, "a header argument is NAME: VALUE, not " .. args[i])
      wrk.headers[name] = value
   end
end

local PERCENTILES = { 50, 75, 90, 99, 99.9 }

function done(summary, latency, requests)
   local parts = {}
   for _, p in ipairs(PERCENTILES) do
      parts[#parts + 1] = string.format('"%s":%d', tostring(p), latency:percentile(p))
   end
   local e = summary.errors
   io.write(string.format(
      '@@WRK {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"max":%d,"mean":%.1f,"stdev":%.1f,"percentiles":{%s}}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.min, latency.max, latency.mean, latency.stdev, table.concat(parts, ",")))
end
