-- wrk script: plain GET of the URL's path with "Connection: close", so every request
-- is a new TCP connection (and, on an https:// URL, a new TLS handshake): the server
-- answers and closes, and wrk reconnects. Counts every answer that is not 200, like
-- get.lua. wrk keeps a TLS session across its reconnects, so a server that resumes
-- sessions would be measured on abbreviated handshakes: run.sh checks that neither
-- server resumes.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "lib.lua")

wrk.headers["Connection"] = "close"

function setup(thread)
   bench_setup(thread)
end

function response(status, headers, body)
   bench_count(status)
end
