-- wrk script: plain GET of the URL's path, counting every answer that is not 200.
-- Used for the agent's discovery document and for the nginx peer alike, so both
-- pay the same client-side cost.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "lib.lua")

function setup(thread)
   bench_setup(thread)
end

function response(status, headers, body)
   bench_count(status)
end
