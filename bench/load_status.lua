-- wrk script for bench/load.sh: counts every status code and whether 429/503
-- answers carried Retry-After (wrk itself only counts non-2xx), per thread,
-- and prints the totals as one "statuses ..." line at the end.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  no_retry = 0
  if os.getenv("WRK_METHOD") then wrk.method = os.getenv("WRK_METHOD") end
  if os.getenv("WRK_BODY") then
    wrk.body = os.getenv("WRK_BODY")
    wrk.headers["Content-Type"] = "application/json"
  end
  if os.getenv("WRK_AUTH") then wrk.headers["Authorization"] = "Bearer " .. os.getenv("WRK_AUTH") end
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if (status == 429 or status == 503) and headers["Retry-After"] == nil then
    no_retry = no_retry + 1
  end
end

function done(summary, latency, requests)
  local total, missing = {}, 0
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
    missing = missing + t:get("no_retry")
  end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, k .. "=" .. v) end
  table.sort(parts)
  io.write(string.format("statuses %s no_retry_after=%d p50=%.1fms p99=%.1fms\n",
    table.concat(parts, " "), missing, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
end
