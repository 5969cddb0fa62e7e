-- wrk script: the v2 refresh-token exchange (protocol §6.4), carrying the chain.
--
--   wrk -t N -c N ... -s bench/refresh.lua http://HOST:PORT/lok/o/token/ -- CHAINS_FILE
--
-- Each refresh rotates the token: the old one stops working and the answer carries
-- the next one. wrk's request()/response() are per thread, not per connection, so
-- run with exactly one connection per thread (-t N -c N): each thread owns one
-- chain. CHAINS_FILE has one line per chain, "<refresh_token> <client_id>"; thread
-- k (1-based) takes line k. A non-200 answer is counted and the thread keeps its
-- token (the run is then invalid anyway: run.sh requires every answer to be 200).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "lib.lua")

function setup(thread)
   bench_setup(thread)
end

local function enc(s)
   return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local refresh_token, client_id
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function init(args)
   local f = assert(io.open(args[1], "r"), "cannot open chains file " .. tostring(args[1]))
   local n = 0
   for line in f:lines() do
      n = n + 1
      if n == thread_no then
         refresh_token, client_id = line:match("^(%S+)%s+(%S+)")
      end
   end
   f:close()
   assert(refresh_token, "chains file has no line " .. thread_no .. " (need one chain per thread)")
end

function request()
   return wrk.format("POST", nil, headers,
      "grant_type=refresh_token&refresh_token=" .. enc(refresh_token) ..
      "&client_id=" .. enc(client_id))
end

function response(status, hdrs, body)
   bench_count(status)
   if status == 200 then
      local next_token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
      if next_token then
         refresh_token = next_token
      else
         bad_body = bad_body + 1
      end
   end
end
