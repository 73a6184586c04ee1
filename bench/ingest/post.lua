-- wrk script: POSTs the bodies listed in the file named by the first argument, in turn,
-- each with its own content type and Authorization header. The list has one line a body:
--   <content type> <token or -> <path of the body file>
local entries = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    local ctype, token, path = line:match("^(%S+) (%S+) (.+)$")
    local f = assert(io.open(path, "rb"))
    local body = f:read("*a")
    f:close()
    local headers = {["Content-Type"] = ctype}
    if token ~= "-" then headers["Authorization"] = "Bearer " .. token end
    entries[#entries + 1] = {headers = headers, body = body}
  end
  i = math.random(#entries) - 1
end

function request()
  i = i % #entries + 1
  local e = entries[i]
  return wrk.format("POST", nil, e.headers, e.body)
end
