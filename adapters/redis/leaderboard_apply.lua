-- Apply: ARGV[2..] = per credit: entry ID, citizen ID, grams (signed), reached
-- (15 digits), dedup minute, dedup expiry (ms), instance count n, then n pairs of
-- instance ID and expiry (ms, "" for never). Returns the credited citizens that
-- have no member record.
--
-- It reads and computes everything first and only then writes, so a refused
-- credit (a score reaching 2^53) leaves nothing half done: Redis does not roll
-- back a script that fails.
local members = {} -- citizen -> {known, visible, district}
local unknown, unknownSeen = {}, {}
local seen = {}     -- entry IDs accepted in this call
local marks = {}    -- accepted entries: {set key, entry, expiry}
local expiries = {} -- instance -> expiry ("" for never)
local instOrder = {}
local states = {}   -- instance .. '\0' .. citizen -> state
local order = {}    -- states in first-touch order

local i = 2
while i <= #ARGV do
	local entry, cit, grams, reached = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
	local mkey, mexp, n = base .. 'm:' .. ARGV[i + 4], ARGV[i + 5], tonumber(ARGV[i + 6])
	local first = i + 7
	i = first + 2 * n

	local m = members[cit]
	if not m then
		local rec = redis.call('HGET', base .. 'members', cit)
		local visible, district = visibleIn(rec)
		m = {visible = visible, district = district}
		members[cit] = m
		if not rec and not unknownSeen[cit] then
			unknownSeen[cit] = true
			unknown[#unknown + 1] = cit
		end
	end

	if not seen[entry] and redis.call('SISMEMBER', mkey, entry) == 0 then
		seen[entry] = true
		marks[#marks + 1] = {mkey, entry, mexp}
		for j = first, first + 2 * n - 1, 2 do
			local inst, exp = ARGV[j], ARGV[j + 1]
			if not expiries[inst] then instOrder[#instOrder + 1] = inst end
			expiries[inst] = exp
			local k = inst .. '\0' .. cit
			local s = states[k]
			if not s then
				local score, was = scoreOf(redis.call('HGET', hkey(inst), cit))
				s = {inst = inst, cit = cit, oldScore = score, oldReached = was, score = score, reached = was}
				states[k] = s
				order[#order + 1] = s
			end
			s.score = s.score + grams
			if math.abs(s.score) >= LIMIT then
				return redis.error_reply('ERR leaderboard: citizen ' .. cit .. ' would reach 2^53 g CO2e in ' .. inst .. '; nothing applied')
			end
			if not s.reached or tonumber(reached) > tonumber(s.reached) then s.reached = reached end
		end
	end
end

local markExpiry = {}
for _, mk in ipairs(marks) do
	redis.call('SADD', mk[1], mk[2])
	markExpiry[mk[1]] = mk[3]
end
for k, exp in pairs(markExpiry) do redis.call('PEXPIREAT', k, exp) end
for _, inst in ipairs(instOrder) do
	local exp = expiries[inst]
	redis.call('HSET', base .. 'inst', inst, exp)
end
for _, s in ipairs(order) do
	local exp = expiries[s.inst]
	if exp == '' then exp = nil end
	redis.call('HSET', hkey(s.inst), s.cit, int(s.score) .. ':' .. s.reached)
	if exp then redis.call('PEXPIREAT', hkey(s.inst), exp) end
	local m = members[s.cit]
	if m.visible then
		if s.oldScore > 0 and (s.score <= 0 or s.oldReached ~= s.reached) then
			unplace(s.inst, s.cit, m.district, s.oldReached)
		end
		if s.score > 0 then
			place(s.inst, s.cit, m.district, s.score, s.reached, exp)
		end
	end
end
return unknown
