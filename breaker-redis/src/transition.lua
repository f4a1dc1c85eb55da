-- breaker-redis: every transition of one shared breaker, as one script.
--
-- A line-by-line mirror of breaker_core::machine (acquire, record, manual, advance), checked
-- against it by tests/differential.rs. Every number stays an integer below 2^53 (Lua 5.1
-- numbers are doubles); the jitter product, a u128 in the core, is done in 16-bit limbs.
-- Time is the Redis server's TIME, in microseconds since the Unix epoch: one timeline for
-- every process, never a host clock.
--
-- KEYS[1]  the breaker's hash ({ns:name}:state)
-- ARGV     op, channel, then the settings, then the op's arguments (see script.rs)
-- Returns  {corrupt, seq, st, gen, fail, tri, suc, opn, dl, now, admitted, trial, retry,
--           prev_st, prev_gen}

local key = KEYS[1]
local A = ARGV
local op = A[1]
local channel = A[2]
local S = {
  thr = tonumber(A[3]), base = tonumber(A[4]), mult = tonumber(A[5]), max = tonumber(A[6]),
  jit = tonumber(A[7]), rnd = tonumber(A[8]), trials = tonumber(A[9]), sthr = tonumber(A[10]),
  wait = tonumber(A[11]), slowppm = tonumber(A[12]),
}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

local CLOSED, OPEN, HALF, FORCED, DISABLED = 0, 1, 2, 3, 4
local GEN_MOD = 16777216        -- generations are counted modulo 2^24, as in the core
local U32_MAX = 4294967295
local MAX_HALF_FAIL = 4095      -- machine::MAX_HALF_OPEN_FAILURES
local MAX_OPENS = 31            -- machine::MAX_OPENS
local MAX_COUNT = 1023          -- machine::MAX_HALF_OPEN_COUNT
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
  if st and gen and fail and tri and suc and opn and dl and sq then
    m = { st = st, gen = gen, fail = fail, tri = tri, suc = suc, opn = opn, dl = dl }
    seq = sq
  else
    corrupt = 1
    seq = sq or 0
    redis.call('DEL', key)
    m = initial()
  end
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
    if x.st == CLOSED and (wtrips or (failed and at_threshold)) then return opened(c, 0) end
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
  nx = record(m, tonumber(A[13]), tonumber(A[14]), A[15] == '1', A[16] == '1')
elseif op == 'manual' then
  nx = manual(m, tonumber(A[13]))
elseif op == 'advance' then
  nx = advance(m)
elseif op ~= 'read' then
  return redis.error_reply('breaker-redis: unknown op')
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
