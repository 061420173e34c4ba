-- wrk script for scripts/bench/checkin.py: every request its own card and Idempotency-Key.
--
--   wrk -t2 -c32 -d5s --timeout 10s -s checkin.lua http://127.0.0.1:PORT -- FILE THREADS WRAP
--
-- FILE: one request per line, tab-separated: path, bearer token ("-": none), Idempotency-Key,
-- JSON body (the same file format as openloop.c). Thread i of THREADS takes lines i, i+THREADS,
-- i+2*THREADS ... so no two requests share a line. WRAP=1 starts a thread's lines over when they
-- run out (the floor, which does not care); WRAP=0 stops the thread instead (the counter must
-- never see a card twice), and done() reports "exhausted".
-- done() prints one line "BENCH_JSON {...}" for checkin.py: wrk's own figures plus our counts of
-- each status and a few bodies of refused requests.

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

function init(args)
   local file, nthreads = args[1], tonumber(args[2])
   wrap = tonumber(args[3]) == 1
   reqs = {}
   local i = 0
   for line in io.lines(file) do
      if i % nthreads == tid then
         local path, auth, key, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
         local headers = {
            ["Content-Type"] = "application/json",
            ["Idempotency-Key"] = key,
            ["X-Device"] = "bench",
         }
         if auth ~= "-" then headers["Authorization"] = "Bearer " .. auth end
         reqs[#reqs + 1] = wrk.format("POST", path, headers, body)
      end
      i = i + 1
   end
   used = 0
   sent = 0  -- every request made, also after a WRAP (``used`` restarts then)
   exhausted = 0
   statuses = {}
   samples = {}
   nsamples = 0
end

function request()
   used = used + 1
   sent = sent + 1
   if used > #reqs then
      if wrap and #reqs > 0 then
         used = 1
      else
         exhausted = 1
         wrk.thread:stop()
         return wrk.format("GET", "/readyz")
      end
   end
   return reqs[used]
end

function response(status, headers, body)
   local k = tostring(status)
   statuses[k] = (statuses[k] or 0) + 1
   if (status < 200 or status > 299) and nsamples < 3 then
      nsamples = nsamples + 1
      samples[nsamples] = string.sub(body or "", 1, 160)
   end
end

local function json_string(s)
   s = string.gsub(s, '[%c"\\]', function(c)
      return string.format("\\u%04x", string.byte(c))
   end)
   return '"' .. s .. '"'
end

function done(summary, latency, requests)
   local status, used_lines, exhausted_threads, max_used, bodies = {}, 0, 0, 0, {}
   local sent_total = 0
   for _, t in ipairs(threads) do
      local u = t:get("used") or 0
      sent_total = sent_total + (t:get("sent") or 0)
      used_lines = used_lines + u
      if u > max_used then max_used = u end
      exhausted_threads = exhausted_threads + (t:get("exhausted") or 0)
      for k, v in pairs(t:get("statuses") or {}) do
         status[k] = (status[k] or 0) + v
      end
      for _, b in ipairs(t:get("samples") or {}) do
         bodies[#bodies + 1] = json_string(b)
      end
   end
   local parts = {}
   for k, v in pairs(status) do
      parts[#parts + 1] = string.format('"%s": %d', k, v)
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "used_max_per_thread": %d, ' ..
      '"used": %d, "sent": %d, "exhausted_threads": %d, "errors": {"connect": %d, "read": %d, "write": %d, ' ..
      '"status": %d, "timeout": %d}, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, ' ..
      '"status_counts": {%s}, "samples": [%s]}\n',
      summary.requests, summary.duration, summary.bytes, max_used, used_lines, sent_total, exhausted_threads,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, table.concat(parts, ", "), table.concat(bodies, ", ")))
end
