-- Shared head of every leaderboard script (see leaderboard.go for the key layout).
-- KEYS[1] = <p>lb:gen, ARGV[1] = <p>lb:. Key names below are computed, which is
-- why the adapter needs a single Redis, not Redis Cluster.
local ns = ARGV[1]
local base = ns .. 'g' .. (redis.call('GET', KEYS[1]) or '0') .. ':'
local LIMIT = 9007199254740992 -- 2^53: scores stay below it, so floats are exact

local function hkey(inst) return base .. 'h:' .. inst end
local function citykey(inst) return base .. 'z:' .. inst .. ':city' end
local function distkey(inst, d) return base .. 'z:' .. inst .. ':d:' .. d end

-- An integer as text. tostring would give "1e+15"; %.0f gives every digit.
local function int(n)
	if n == 0 then return '0' end
	return string.format('%.0f', n)
end

-- before reports a < b for text of equal length, byte by byte: Lua's < on strings
-- follows the server's locale (strcoll), which is not to be trusted with order.
local function before(a, b)
	for i = 1, math.min(#a, #b) do
		local x, y = string.byte(a, i), string.byte(b, i)
		if x ~= y then return x < y end
	end
	return #a < #b
end

-- visibleIn reads a member record ("{version:20}{hidden}{len}:{district}{nickname}",
-- or false for none): whether its citizen is ranked, and their district.
local function visibleIn(v)
	if not v then return false, '' end
	local rest = string.sub(v, 22)
	local c = string.find(rest, ':', 1, true)
	local d = string.sub(rest, c + 1, c + tonumber(string.sub(rest, 1, c - 1)))
	return string.sub(v, 21, 21) ~= '1', d
end

-- scoreOf reads an h: value ("{score}:{reached}", or false for none).
local function scoreOf(raw)
	if not raw then return 0, nil end
	local c = string.find(raw, ':', 1, true)
	return tonumber(string.sub(raw, 1, c - 1)), string.sub(raw, c + 1)
end

-- unplace takes a citizen's score off an instance's boards; place puts it on
-- them, expiring with the instance (expiry nil: never).
local function unplace(inst, cit, district, reached)
	local m = reached .. ':' .. cit
	redis.call('ZREM', citykey(inst), m)
	if district ~= '' then redis.call('ZREM', distkey(inst, district), m) end
end
local function place(inst, cit, district, score, reached, expiry)
	local m = reached .. ':' .. cit
	local keys = {citykey(inst)}
	if district ~= '' then keys[2] = distkey(inst, district) end
	for _, k in ipairs(keys) do
		redis.call('ZADD', k, int(-score), m)
		if expiry then redis.call('PEXPIREAT', k, expiry) end
	end
end
