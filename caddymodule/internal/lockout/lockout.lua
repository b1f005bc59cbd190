-- The failure counters of one client, atomically: the same rules as
-- record.fail in record.go, in integer milliseconds.
--
-- KEYS[1]  the client's record, a hash: n (failures in the window),
--          ws (window start), lu (locked until), s (strike)
-- ARGV[1]  "status" (read only) or "fail" (count one failure)
-- ARGV[2]  now, milliseconds since the epoch (the caller's clock)
-- ARGV[3]  limit: the failure that locks out
-- ARGV[4]  window, ms
-- ARGV[5]  lockout, ms
-- ARGV[6]  maximum lockout, ms
-- ARGV[7]  progressive: 1 or 0
--
-- Returns {locked_ms, started (1 or 0), strike}.
--
-- The time comes from the caller so that every replica judges with the
-- same rules as the in-memory store; the key's TTL only collects
-- garbage (it lasts until the window and the memory of the last lockout
-- are over), the rules never depend on it.
local key = KEYS[1]
local now = tonumber(ARGV[2])
local v = redis.call('HMGET', key, 'n', 'ws', 'lu', 's')
local n = tonumber(v[1]) or 0
local ws = tonumber(v[2]) or 0
local lu = tonumber(v[3]) or 0
local s = tonumber(v[4]) or 0
if lu > now then
	return {lu - now, 0, s}
end
if ARGV[1] == 'status' then
	return {0, 0, s}
end

local limit = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local lockout = tonumber(ARGV[5])
local maxl = tonumber(ARGV[6])
local memory = 0
if ARGV[7] == '1' then
	memory = maxl
end

if n == 0 or now >= ws + window then
	n = 0
	ws = now
end
n = n + 1
local locked, started = 0, 0
if n >= limit then
	if s > 0 and now >= lu + memory then
		s = 0
	end
	s = math.min(s + 1, 40)
	local d = lockout
	if memory > 0 then
		for _ = 2, s do
			if d >= maxl then
				break
			end
			d = d * 2
		end
		d = math.min(d, maxl)
	end
	lu = now + d
	n = 0
	ws = now
	locked = d
	started = 1
end
local function str(x)
	return string.format('%.0f', x)
end
redis.call('HSET', key, 'n', str(n), 'ws', str(ws), 'lu', str(lu), 's', str(s))
local ends = ws + window
if lu > 0 and lu + memory > ends then
	ends = lu + memory
end
redis.call('PEXPIRE', key, str(math.max(ends - now, 1)))
return {locked, started, s}
