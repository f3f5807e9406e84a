-- SetMembers: ARGV[2] = ms up to which instances are forgotten, ARGV[3..] = pairs
-- of citizen ID and member record. A record with a lower version than the stored
-- one is ignored. A citizen who becomes ranked, unranked, or moves district is
-- moved on the boards of every instance in the index.
local live -- {instance, expiry or nil}, read when first needed

for i = 3, #ARGV, 2 do
	local cit, rec = ARGV[i], ARGV[i + 1]
	local old = redis.call('HGET', base .. 'members', cit)
	if not old or not before(string.sub(rec, 1, 20), string.sub(old, 1, 20)) then
		redis.call('HSET', base .. 'members', cit, rec)
		local wasVisible, wasIn = visibleIn(old)
		local visible, district = visibleIn(rec)
		if (wasVisible or visible) and (wasVisible ~= visible or wasIn ~= district) then
			if not live then
				live = {}
				local flat = redis.call('HGETALL', base .. 'inst')
				for j = 1, #flat, 2 do
					local exp = flat[j + 1]
					if exp == '' then
						live[#live + 1] = {flat[j], nil}
					elseif tonumber(exp) > tonumber(ARGV[2]) then
						live[#live + 1] = {flat[j], exp}
					else
						redis.call('HDEL', base .. 'inst', flat[j])
					end
				end
			end
			for _, in_ in ipairs(live) do
				local score, reached = scoreOf(redis.call('HGET', hkey(in_[1]), cit))
				if score > 0 then
					if wasVisible then unplace(in_[1], cit, wasIn, reached) end
					if visible then place(in_[1], cit, district, score, reached, in_[2]) end
				end
			end
		end
	end
end
return 0
