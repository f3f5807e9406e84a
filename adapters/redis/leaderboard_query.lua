-- Query: ARGV[2] = instance, ARGV[3] = district ("" for city-wide), ARGV[4] = limit,
-- ARGV[5] = citizen ID ("" for none), ARGV[6] = neighbours. Returns {top, ranked,
-- me, rank, from, around, records}: top and around are flat member/score lists,
-- me the citizen's "{score}:{reached}" or "", rank their 0-based rank or -1, from
-- the rank around starts at, records the member records of top's citizens then
-- around's (false for none).
local inst, district, limit, cit, n = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local board = district == '' and citykey(inst) or distkey(inst, district)

local top = {}
if limit > 0 then top = redis.call('ZRANGE', board, 0, limit - 1, 'WITHSCORES') end
local ranked = redis.call('ZCARD', board)

local me, rank, from, around = '', -1, 0, {}
if cit ~= '' then
	local raw = redis.call('HGET', hkey(inst), cit)
	if raw then
		me = raw
		local _, reached = scoreOf(raw)
		local r = redis.call('ZRANK', board, reached .. ':' .. cit)
		if r then
			rank = r
			from = math.max(0, r - n)
			around = redis.call('ZRANGE', board, from, r + n, 'WITHSCORES')
		end
	end
end

local ids = {}
for _, flat in ipairs({top, around}) do
	-- A board member is "{reached:15 digits}:{citizen}": the ID starts at byte 17.
	for j = 1, #flat, 2 do ids[#ids + 1] = string.sub(flat[j], 17) end
end
local records = {}
for j = 1, #ids, 500 do
	local got = redis.call('HMGET', base .. 'members', unpack(ids, j, math.min(j + 499, #ids)))
	for k = 1, #got do records[#records + 1] = got[k] end
end
return {top, ranked, me, rank, from, around, records}
