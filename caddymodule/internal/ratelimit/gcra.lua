-- GCRA for one bucket, atomically: the same arithmetic as gcra() in
-- gcra.go, in integer microseconds (exact in Lua's doubles for a century or two).
--
-- KEYS[1]  the bucket; its value is the TAT, microseconds since the epoch
-- ARGV[1]  "take" (admit or refuse an event) or "refund" (give back an
--          event this script admitted, because another zone refused)
-- ARGV[2]  emission interval, microseconds, >= 1
-- ARGV[3]  capacity: burst + 1
-- ARGV[4]  cost
--
-- Returns {allowed (1 or 0), remaining, retry_after_us, reset_after_us}.
--
-- The time is the server's (TIME), so the clocks of the replicas calling
-- it do not matter. The key expires when the bucket is full again, which
-- is also when it stops mattering. TIME makes the script non-deterministic:
-- Redis 5+ replicates its effects (the SET), and replicate_commands asks
-- Redis 3.2 and 4 to do the same.
if redis.replicate_commands then
	redis.replicate_commands()
end

local key = KEYS[1]
local interval = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local limit = now + capacity * interval

local stored = redis.call('GET', key)
local tat = now
if stored then
	tat = math.max(tonumber(stored), now)
end

-- save stores a TAT with a TTL until it passes, or deletes the key when the
-- bucket is full.
local function save(v)
	if v <= now then
		redis.call('DEL', key)
		return
	end
	redis.call('SET', key, string.format('%.0f', v), 'PX', string.format('%.0f', math.ceil((v - now) / 1000)))
end

if ARGV[1] == 'refund' then
	if stored then
		tat = math.max(tat - cost * interval, now)
		save(tat)
	end
	return {1, math.floor((limit - tat) / interval), 0, tat - now}
end

local next = tat + cost * interval
if next > limit then
	return {0, math.floor(math.max(limit - tat, 0) / interval), next - limit, tat - now}
end
save(next)
return {1, math.floor((limit - next) / interval), 0, next - now}
