-- breaker-redis: every transition of one shared breaker, as one script.
--
-- A line-by-line mirror of breaker_core::machine (acquire, record, manual, advance), checked
-- against it by tests/differential.rs. Every number stays an integer below 2^53 (Lua 5.1
-- numbers are doubles); the jitter product, a u128 in the core, is done in 16-bit limbs.
-- Time is the Redis server's TIME, in microseconds since the Unix epoch: one timeline for
-- every process, never a host clock.
--
-- KEYS[1]  the breaker's hash ({ns:name}:state); a time window's buckets are its fields w0..
-- KEYS[2]  the set of processes whose failures were counted since the breaker last closed
--          ({ns:name}:procs; read only when a shared trip needs K > 1 distinct processes)
-- ARGV     op, channel, then the settings (3..17), the calling process's id (18), then the
--          op's arguments (19..; see store.rs)
-- Returns  {corrupt, seq, st, gen, fail, tri, suc, opn, dl, now, admitted, trial, retry,
--           prev_st, prev_gen}

local key = KEYS[1]
local A = ARGV
local op = A[1]
local channel = A[2]
local S = {
  thr = tonumber(A[3]), base = tonumber(A[4]), mult = tonumber(A[5]), max = tonumber(A[6]),
  jit = tonumber(A[7]), rnd = tonumber(A[8]), trials = tonumber(A[9]), sthr = tonumber(A[10]),
  wait = tonumber(A[11]), slowppm = tonumber(A[12]), rateppm = tonumber(A[13]),
  mincalls = tonumber(A[14]), bucket = tonumber(A[15]), buckets = tonumber(A[16]),
  kprocs = tonumber(A[17]),
}
local pid = A[18]
local procs = KEYS[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local CLOSED, OPEN, HALF, FORCED, DISABLED = 0, 1, 2, 3, 4
local GEN_MOD = 16777216        -- limits::GENERATION_MASK + 1: generations modulo 2^24
local U32_MAX = 4294967295
local MAX_HALF_FAIL = 4095      -- limits::MAX_HALF_OPEN_FAILURES
local MAX_OPENS = 31            -- limits::MAX_OPENS
local MAX_COUNT = 1023          -- limits::MAX_HALF_OPEN_COUNT
local LIMIT53 = 9007199254740992

local function int(v, lo, hi)
  local n = tonumber(v)
  if n == nil or n ~= math.floor(n) or n < lo or n > hi then return nil end
  return n
end

local function initial()
  return { st = CLOSED, gen = 0, fail = 0, tri = 0, suc = 0, opn = 0, dl = -1 }
end

local function copy(m)
  return { st = m.st, gen = m.gen, fail = m.fail, tri = m.tri, suc = m.suc, opn = m.opn, dl = m.dl }
end

-- Load, and refuse anything that is not a breaker this script wrote: foreign or corrupted data
-- is replaced by a known state (closed, counters zero) and reported, never trusted.
local corrupt = 0
local seq = 0
local m
local kind = redis.call('TYPE', key)['ok']
if kind == 'none' then
  m = initial()
elseif kind ~= 'hash' then
  corrupt = 1
  redis.call('DEL', key)
  m = initial()
else
  local r = redis.call('HMGET', key, 'st', 'gen', 'fail', 'tri', 'suc', 'opn', 'dl', 'seq')
  local st, gen, fail = int(r[1], 0, 4), int(r[2], 0, GEN_MOD - 1), int(r[3], 0, U32_MAX)
  local tri, suc, opn = int(r[4], 0, MAX_COUNT), int(r[5], 0, MAX_COUNT), int(r[6], 0, MAX_OPENS)
  local dl, sq = int(r[7], -1, LIMIT53), int(r[8], 0, LIMIT53)
  local none = true
  for i = 1, 8 do if r[i] then none = false end end
  if none then
    -- Only window buckets so far (successes while the machine was still the initial one).
    m = initial()
  elseif st and gen and fail and tri and suc and opn and dl and sq then
    m = { st = st, gen = gen, fail = fail, tri = tri, suc = suc, opn = opn, dl = dl }
    seq = sq
  else
    corrupt = 1
    seq = sq or 0
    redis.call('DEL', key)
    m = initial()
  end
end

if S.kprocs > 1 then
  local pk = redis.call('TYPE', procs)['ok']
  if pk ~= 'none' and pk ~= 'set' then
    corrupt = 1
    redis.call('DEL', procs)
  end
end

-- The shared time window: bucket number = floor(now / width) on the server's clock, kept in
-- field w<number mod B> as "number calls failures slow", as breaker_core's TimeWindow does
-- (the last B buckets, the current one included; a bucket counts at most 65535 calls).
local BUCKET_CAP = 65535
local function wfield(n) return 'w' .. string.format('%.0f', n % S.buckets) end
local function wparse(v)
  if not v then return nil end
  local a, b, c, d = string.match(v, '^(%d+) (%d+) (%d+) (%d+)$')
  if not a then return false end
  return { tonumber(a), tonumber(b), tonumber(c), tonumber(d) }
end
local window_bad = false
-- Adds calls/failures/slow to the current bucket; returns the window's counts after it.
local function wrecord(calls, fails, slows)
  local cur = math.floor(now / S.bucket)
  local names = {}
  for i = 0, S.buckets - 1 do names[i + 1] = 'w' .. i end
  local vals = redis.call('HMGET', key, unpack(names))
  local tc, tf, ts = 0, 0, 0
  local mine = nil
  for i = 1, S.buckets do
    local b = wparse(vals[i])
    if b == false then window_bad = true; b = nil end
    if b and b[1] == cur then mine = b end
    if b and b[1] > cur - S.buckets and b[1] <= cur and b[1] ~= cur then
      tc = tc + b[2]; tf = tf + b[3]; ts = ts + b[4]
    end
  end
  if not mine then mine = { cur, 0, 0, 0 } end
  -- The core samples out calls past a bucket's capacity, one outcome at a time.
  local room = BUCKET_CAP - mine[2]
  if calls > room then
    local keep = room
    fails = math.min(fails, keep); slows = math.min(slows, keep); calls = keep
  end
  mine[2] = mine[2] + calls; mine[3] = mine[3] + fails; mine[4] = mine[4] + slows
  redis.call('HSET', key, wfield(cur), string.format('%.0f %.0f %.0f %.0f', mine[1], mine[2], mine[3], mine[4]))
  return tc + mine[2], tf + mine[3], ts + mine[4]
end
local function wclear()
  local names = {}
  for i = 0, S.buckets - 1 do names[i + 1] = 'w' .. i end
  redis.call('HDEL', key, unpack(names))
end
-- machine::window_trips
local function rate_reached(part, calls, ppm)
  return ppm ~= 0 and part * 1000000 >= ppm * calls
end
local function window_trips(c, f, sl)
  if c == 0 or c < S.mincalls then return false end
  return rate_reached(f, c, S.rateppm) or rate_reached(sl, c, S.slowppm)
end
-- The K-distinct-processes guard: a shared trip by the breaker's own rules (not a manual one)
-- also needs failures from at least K processes since it last closed. Off (K <= 1) by default;
-- with K > 1 the closed state may count past the threshold while too few processes fail.
local function enough_procs(failed)
  if S.kprocs <= 1 then return true end
  if failed then redis.call('SADD', procs, pid) end
  return redis.call('SCARD', procs) >= S.kprocs
end

local function nextgen(g) return (g + 1) % GEN_MOD end
local function satadd(f) if f >= U32_MAX then return U32_MAX end return f + 1 end

-- Backoff::nominal: base * mult^k, capped at max. A product past 2^53 is inexact but is
-- then larger than max (< 2^50), so the cap gives the exact answer.
local function nominal(opens)
  local d, k = S.base, 0
  while k < opens and d < S.max do d = d * S.mult; k = k + 1 end
  if d > S.max then d = S.max end
  return d
end

-- floor(x * r / 2^32) for x < 2^53, r < 2^32, exactly: the core's u128 product, in limbs.
local function mulshift32(x, r)
  local xl = {}
  for i = 1, 4 do xl[i] = x % 65536; x = math.floor(x / 65536) end
  local rl = { r % 65536, math.floor(r / 65536) }
  local p = { 0, 0, 0, 0, 0, 0 }
  for i = 1, 4 do for j = 1, 2 do p[i + j - 1] = p[i + j - 1] + xl[i] * rl[j] end end
  local carry = 0
  for k = 1, 6 do local v = p[k] + carry; p[k] = v % 65536; carry = math.floor(v / 65536) end
  return p[3] + p[4] * 65536 + p[5] * 4294967296 + p[6] * 281474976710656
end

-- Backoff::duration
local function duration(opens)
  local d = nominal(opens)
  if S.jit == 0 then return d end
  local whole, rest = math.floor(d / 1000000), d % 1000000
  local maxcut = whole * S.jit + math.floor(rest * S.jit / 1000000)
  local cut = mulshift32(maxcut, S.rnd)
  if cut > d then return 0 end
  return d - cut
end

local function trial_deadline()
  if S.wait < 0 then return -1 end
  return now + S.wait
end

local function opened(x, opens)
  return { st = OPEN, gen = nextgen(x.gen), fail = x.fail, tri = 0, suc = 0, opn = opens,
           dl = now + duration(opens) }
end

local function half_opened(x)
  local f = x.fail
  if f > MAX_HALF_FAIL then f = MAX_HALF_FAIL end
  return { st = HALF, gen = nextgen(x.gen), fail = f, tri = 0, suc = 0, opn = x.opn,
           dl = trial_deadline() }
end

local function closed(x, st)
  return { st = st, gen = nextgen(x.gen), fail = 0, tri = 0, suc = 0, opn = 0, dl = -1 }
end

local function reopened(x)
  local o = x.opn
  if o < MAX_OPENS then o = o + 1 end
  return opened(x, o)
end

local function next_change(x)
  if x.st == OPEN then return x.dl end
  if x.st == HALF and x.tri > 0 then return x.dl end
  return -1
end

local function advance(x)
  local nc = next_change(x)
  if nc >= 0 and now >= nc then
    if x.st == OPEN then return half_opened(x) end
    local f = copy(x)
    f.fail = satadd(x.fail)
    return reopened(f)
  end
  return x
end

-- Machine::acquire: returns next, admitted, trial, retry (-1: none)
local function acquire(x)
  if x.st == CLOSED or x.st == DISABLED then return x, 1, 0, -1 end
  if x.st == FORCED then return x, 0, 0, -1 end
  if x.st == OPEN then
    if x.dl < 0 then return x, 0, 0, nominal(x.opn) end
    if now < x.dl then return x, 0, 0, x.dl - now end
    local h = half_opened(x)
    h.tri = 1
    return h, 1, 1, -1
  end
  local adv = advance(x)
  if adv.gen == x.gen and x.tri < S.trials then
    local n = copy(x)
    n.tri = x.tri + 1
    if x.tri == 0 then n.dl = trial_deadline() end
    return n, 1, 1, -1
  end
  local retry = -1
  if adv.dl >= 0 then
    retry = adv.dl - now
    if retry < 0 then retry = 0 end
  end
  return adv, 0, 0, retry
end

-- Machine::record; outcome 0 success, 1 failure, 2 ignored
local function record(x, gen, outcome, slow, wtrips)
  if gen ~= x.gen then return x end
  if S.buckets > 0 then
    wtrips = false
    if outcome ~= 2 and (x.st == CLOSED or x.st == DISABLED) then
      local sl = 0
      if slow then sl = 1 end
      local f = 0
      if outcome == 1 then f = 1 end
      wtrips = window_trips(wrecord(1, f, sl))
    end
  end
  if x.st == HALF then
    local adv = advance(x)
    if adv.gen ~= x.gen then return adv end
  end
  if outcome == 2 then
    if x.st == HALF then
      local n = copy(x)
      if n.tri > 0 then n.tri = n.tri - 1 end
      return n
    end
    return x
  end
  local failed = outcome == 1
  if x.st == CLOSED or x.st == DISABLED then
    local c = copy(x)
    if failed then c.fail = satadd(x.fail) else c.fail = 0 end
    local at_threshold = S.thr ~= 0 and c.fail >= S.thr
    if x.st == CLOSED and (wtrips or (failed and at_threshold)) and enough_procs(failed) then
      return opened(c, 0)
    end
    if failed and x.st == CLOSED and S.kprocs > 1 then enough_procs(true) end
    return c
  elseif x.st == HALF then
    if failed or (slow and S.slowppm ~= 0) then
      local c = copy(x)
      c.fail = satadd(x.fail)
      return reopened(c)
    elseif x.suc + 1 >= S.sthr then
      return closed(x, CLOSED)
    end
    local n = copy(x)
    if n.tri > 0 then n.tri = n.tri - 1 end
    n.suc = x.suc + 1
    return n
  end
  return x
end

-- Machine::manual; action 0 open, 1 force-open, 2 close, 3 half-open, 4 disable
local function manual(x, action)
  local this = x
  if x.st == HALF then this = advance(x) end
  if action == 0 then return opened(this, this.opn) end
  if action == 1 then
    local n = copy(this)
    n.st = FORCED; n.gen = nextgen(this.gen); n.tri = 0; n.suc = 0; n.dl = -1
    return n
  end
  if action == 2 then return closed(this, CLOSED) end
  if action == 3 then return half_opened(this) end
  local n = closed(this, DISABLED)
  n.fail = this.fail
  return n
end

local nx, admitted, trial, retry = m, 0, 0, -1
if op == 'acquire' then
  nx, admitted, trial, retry = acquire(m)
elseif op == 'record' then
  nx = record(m, tonumber(A[19]), tonumber(A[20]), A[21] == '1', A[22] == '1')
elseif op == 'window' then
  -- A process's batch of successes (calls, slow of them) of generation A[19], flushed within
  -- the staleness bound: counted in the window only, as the core counts successes while closed.
  if S.buckets > 0 and tonumber(A[19]) == m.gen and (m.st == CLOSED or m.st == DISABLED) then
    local c, f, sl = wrecord(tonumber(A[20]), 0, tonumber(A[21]))
    if m.st == CLOSED and window_trips(c, f, sl) and enough_procs(false) then
      nx = opened(m, 0)
    end
  end
elseif op == 'manual' then
  nx = manual(m, tonumber(A[19]))
elseif op == 'advance' then
  nx = advance(m)
elseif op ~= 'read' then
  return redis.error_reply('breaker-redis: unknown op')
end

if window_bad then
  -- A bucket that is not ours: the window starts afresh (reported as corrupt, like the hash).
  corrupt = 1
  wclear()
end
if nx.gen ~= m.gen then
  -- Every transition starts a new period for the K-distinct guard; closing empties the window.
  if S.kprocs > 1 then redis.call('DEL', procs) end
  if nx.st == CLOSED and S.buckets > 0 then wclear() end
end
local changed = corrupt == 1 or nx.st ~= m.st or nx.gen ~= m.gen or nx.fail ~= m.fail
  or nx.tri ~= m.tri or nx.suc ~= m.suc or nx.opn ~= m.opn or nx.dl ~= m.dl
if changed then
  seq = seq + 1
  local function i(x) return string.format('%.0f', x) end
  redis.call('HSET', key, 'st', i(nx.st), 'gen', i(nx.gen), 'fail', i(nx.fail), 'tri', i(nx.tri),
    'suc', i(nx.suc), 'opn', i(nx.opn), 'dl', i(nx.dl), 'seq', i(seq))
  -- Every write is published, so that every process's local view follows within the
  -- pub/sub delay; polling covers lost messages.
  -- %.0f, not tostring: tostring prints 14 digits (1.7e+15), which would lose the time.
  redis.call('PUBLISH', channel, string.format('%.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f',
    seq, nx.st, nx.gen, nx.fail, nx.tri, nx.suc, nx.opn, nx.dl, now))
end
return { corrupt, seq, nx.st, nx.gen, nx.fail, nx.tri, nx.suc, nx.opn, nx.dl, now,
         admitted, trial, retry, m.st, m.gen }
