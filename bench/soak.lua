-- The soak's mixed load for wrk: GET /items/:id and validated POST /work (each emits an event), paced.
--   wrk -t1 -c64 -d300s -s bench/soak.lua http://127.0.0.1:PORT -- <requests/s per thread, 0: unpaced> <% POST> <run>
-- Each POST carries a unique seq, "<run>-<thread>-<n>", so the events handled can be counted.
-- Pacing: every delay() call (one per request) takes the next slot of a per-thread schedule, so the thread
-- sends at a steady rate whatever the latency; a thread that falls behind catches up at most 1 s of slots.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } soak_timespec;
int clock_gettime(int clock_id, soak_timespec *tp);
]]
local clock = ffi.new("soak_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

local interval, percent_post, next_slot, run = 0, 25, nil, "1"
sent, posts = 0, 0 -- globals: done() reads them with thread:get
local json = { ["Content-Type"] = "application/json" }

function init(args)
  local rate = tonumber(args[1]) or 0
  interval = rate > 0 and 1000 / rate or 0
  percent_post = tonumber(args[2]) or 25
  run = args[3] or "1"
end

function delay()
  if interval == 0 then
    return 0
  end
  local now = now_ms()
  if next_slot == nil or next_slot < now - 1000 then
    next_slot = now
  end
  local wait = next_slot - now
  next_slot = next_slot + interval
  return wait > 0 and wait or 0
end

function request()
  sent = sent + 1
  -- Evenly spread: request n is a POST when floor(n * p / 100) steps up.
  if math.floor(sent * percent_post / 100) > math.floor((sent - 1) * percent_post / 100) then
    posts = posts + 1
    local body = string.format('{"seq":"%s-%d-%d","payload":"soak payload %d","priority":%d}', run, id, posts, posts,
      posts % 10)
    return wrk.format("POST", "/work", json, body)
  end
  return wrk.format("GET", "/items/" .. (sent % 1000))
end

function done(summary, latency, requests)
  local posted = 0
  for _, thread in ipairs(threads) do
    posted = posted + (thread:get("posts") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'SOAK {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d, "posts_sent": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, posted,
    latency:percentile(50), latency:percentile(99), latency.max))
end
