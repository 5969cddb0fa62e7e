-- Shared by the wrk scripts of bench/run.sh (loaded with dofile by each of them).
--
-- Every thread counts the answers it saw by status; done() (which runs in wrk's
-- main Lua state) sums them over the threads and prints one machine-readable
-- line that run.sh parses:
--
--   BENCH requests=N duration_us=N rps=X mean_us=N p50_us=N p90_us=N p99_us=N max_us=N
--         ok=N non200=N bad_body=N connect=N read=N write=N status=N timeout=N

local threads = {}

-- Called by the scripts' own setup(); numbers the threads 1..N.
function bench_setup(thread)
   threads[#threads + 1] = thread
   thread:set("thread_no", #threads)
   thread:set("ok", 0)
   thread:set("non200", 0)
   thread:set("bad_body", 0)
end

function bench_count(status)
   if status == 200 then
      ok = ok + 1
   else
      non200 = non200 + 1
   end
end

function done(summary, latency, requests)
   local ok_n, non200_n, bad_n = 0, 0, 0
   for _, t in ipairs(threads) do
      ok_n = ok_n + (t:get("ok") or 0)
      non200_n = non200_n + (t:get("non200") or 0)
      bad_n = bad_n + (t:get("bad_body") or 0)
   end
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d rps=%.1f mean_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
      "ok=%d non200=%d bad_body=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6), math.floor(latency.mean),
      latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0), latency.max,
      ok_n, non200_n, bad_n, e.connect, e.read, e.write, e.status, e.timeout))
end
