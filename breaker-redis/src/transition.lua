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
-- KEYS[3]  a count window's ring ({ns:name}:ring): one byte per slot (touched only with a
--          count window); its position and totals are the hash's fields cn cp cc cf cs
-- ARGV     op, channel, then the settings (3..18), the calling process's id (19), then the
--          op's arguments (20..; see store.rs)
-- Returns  {corrupt, seq, st, gen, fail, tri, suc, opn, dl, now, admitted, trial, retry,
--           prev_st, prev_gen, reason, r1, r2, r3}: the reason of the transition (0: none;
--           codes in store.rs) and its numbers

local key = KEYS[1]
local A = ARGV
local op = A[1]
local channel = A[2]
local S = {
  thr = tonumber(A[3]), base = tonumber(A[4]), mult = tonumber(A[5]), max = tonumber(A[6]),
  jit = tonumber(A[7]), rnd = tonumber(A[8]), trials = tonumber(A[9]), sthr = tonumber(A[10]),
  wait = tonumber(A[11]), slowppm = tonumber(A[12]), rateppm = tonumber(A[13]),
  mincalls = tonumber(A[14]), bucket = tonumber(A[15]), buckets = tonumber(A[16]),
  kprocs = tonumber(A[17]), csize = tonumber(A[18]),
}
local pid = A[19]
local procs = KEYS[2]
local ring = KEYS[3]
-- Why the machine changed (breaker_core::Reason), set where each transition is made:
-- 1 consecutive failures (r1 failures), 2 window (r1..r3 calls failures slow; the failure-rate
-- or slow-call rule is told apart from them as machine::window_reason does), 3 trial failed
-- (r1 slow), 4 trials abandoned (r1 trials), 5 trials succeeded (r1 successes), 6 open time
-- elapsed (r1 deadline), 7 manual (r1 action).
local R = { 0, 0, 0, 0 }
local function why(code, a, b, c) R = { code, a or 0, b or 0, c or 0 } end
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

-- The shared count window (breaker_core::CountWindow<N>): the last N outcomes applied here,
-- as a ring of one byte per slot in the string KEYS[3] (0 empty, else 4 | 1 failed | 2 slow,
-- the core's slot bits), with the next position and the totals in the hash (cn size, cp
-- position, cc calls, cf failures, cs slow). An outcome costs one GETRANGE, at most one
-- SETRANGE and the totals' HSET: O(1), whatever N.
local CW = nil
local CW_FIELDS = { 'cn', 'cp', 'cc', 'cf', 'cs' }
local window_bad = false
local function cw_empty() return { n = S.csize, p = 0, c = 0, f = 0, s = 0 } end
local function cw_clear()
  redis.call('DEL', ring)
  redis.call('HDEL', key, unpack(CW_FIELDS))
  CW = cw_empty()
end
if S.csize > 0 then
  local rk = redis.call('TYPE', ring)['ok']
  local r = redis.call('HMGET', key, unpack(CW_FIELDS))
  local n, p = int(r[1], 1, 1048575), int(r[2], 0, 1048574)
  local c, f, sl = int(r[3], 0, 1048575), int(r[4], 0, 1048575), int(r[5], 0, 1048575)
  if rk ~= 'none' and rk ~= 'string' then
    corrupt = 1
    cw_clear()
  elseif not (r[1] or r[2] or r[3] or r[4] or r[5]) then
    -- An empty window (never used, or emptied by a close): a ring without its fields is not
    -- ours.
    if rk ~= 'none' then corrupt = 1; redis.call('DEL', ring) end
    CW = cw_empty()
  elseif not (n and p and c and f and sl) or p >= n or c > n or f > c or sl > c
      or (rk == 'string' and redis.call('STRLEN', ring) > n) then
    corrupt = 1
    cw_clear()
  elseif n ~= S.csize then
    -- Written by a process configured with another size: this one starts it afresh.
    cw_clear()
  else
    CW = { n = n, p = p, c = c, f = f, s = sl }
  end
end
local function cw_save()
  local function i(x) return string.format('%.0f', x) end
  redis.call('HSET', key, 'cn', i(CW.n), 'cp', i(CW.p), 'cc', i(CW.c), 'cf', i(CW.f), 'cs', i(CW.s))
end
-- Applies `count` outcomes of one kind (`byte`), one at a time as CountWindow::record does,
-- starting at the ring's position; `stop(calls, failures, slow)`, if given, is asked after each
-- and ends the run (a trip: the rest of a batch is of a past generation). Returns the counts
-- after the last one applied. Reads and writes only the slots it replaces; after N outcomes of
-- one kind the ring holds only that kind and later ones change nothing but the position, so a
-- run costs O(min(count, N)).
local function cw_run(count, byte, stop)
  local n = CW.n
  local seg = math.min(count, n)
  local p0 = CW.p
  local first = math.min(seg, n - p0)
  local a = redis.call('GETRANGE', ring, p0, p0 + first - 1)
  local b = ''
  if seg > first then b = redis.call('GETRANGE', ring, 0, seg - first - 1) end
  local newf = (byte % 2 == 1) and 1 or 0
  local news = (math.floor(byte / 2) % 2 == 1) and 1 or 0
  local done, changed, stopped = 0, false, false
  for j = 1, seg do
    local old
    if j <= first then old = string.byte(a, j) else old = string.byte(b, j - first) end
    old = old or 0
    if old ~= 0 and (old < 4 or old > 7) then window_bad = true; break end
    if old ~= byte then
      changed = true
      local oc = (old >= 4) and 1 or 0
      CW.c = CW.c + 1 - oc
      CW.f = CW.f + newf - (old % 2)
      CW.s = CW.s + news - (math.floor(old / 2) % 2)
    end
    done = j
    if CW.c > n or CW.f < 0 or CW.s < 0 or CW.f > CW.c or CW.s > CW.c then
      window_bad = true; break
    end
    if stop and stop(CW.c, CW.f, CW.s) then stopped = true; break end
  end
  if window_bad then return CW.c, CW.f, CW.s end
  if changed then
    local ch = string.char(byte)
    local w1 = math.min(done, first)
    redis.call('SETRANGE', ring, p0, string.rep(ch, w1))
    if done > first then redis.call('SETRANGE', ring, 0, string.rep(ch, done - first)) end
  end
  -- Past N outcomes of one kind the ring no longer changes: only the position moves on.
  local moved = done
  if not stopped then moved = count end
  CW.p = (p0 + moved) % n
  cw_save()
  return CW.c, CW.f, CW.s
end
local function cw_byte(failed, slow)
  local b = 4
  if failed then b = b + 1 end
  if slow then b = b + 2 end
  return b
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
    if x.st == OPEN then why(6, x.dl); return half_opened(x) end
    why(4, x.tri)
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
    why(6, x.dl)
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
  -- The window's counts with this outcome recorded (Report::window): zero without a window.
  local wc, wf, ws = 0, 0, 0
  if S.buckets > 0 or S.csize > 0 then
    wtrips = false
    if outcome ~= 2 and (x.st == CLOSED or x.st == DISABLED) then
      if S.csize > 0 then
        wc, wf, ws = cw_run(1, cw_byte(outcome == 1, slow), nil)
      else
        local sl = 0
        if slow then sl = 1 end
        local f = 0
        if outcome == 1 then f = 1 end
        wc, wf, ws = wrecord(1, f, sl)
      end
      wtrips = window_trips(wc, wf, ws)
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
      -- Both rules may trip on one call: the consecutive rule is named first, as in the core.
      if failed and at_threshold then why(1, c.fail) else why(2, wc, wf, ws) end
      return opened(c, 0)
    end
    if failed and x.st == CLOSED and S.kprocs > 1 then enough_procs(true) end
    return c
  elseif x.st == HALF then
    if failed or (slow and S.slowppm ~= 0) then
      if failed then why(3, 0) else why(3, 1) end
      local c = copy(x)
      c.fail = satadd(x.fail)
      return reopened(c)
    elseif x.suc + 1 >= S.sthr then
      why(5, x.suc + 1)
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
  why(7, action)
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
  nx = record(m, tonumber(A[20]), tonumber(A[21]), A[22] == '1', A[23] == '1')
elseif op == 'window' then
  -- A process's batch of successes (calls, slow of them) of generation A[20], flushed within
  -- the staleness bound: counted in the window only, as the core counts successes while closed.
  local calls, slows = tonumber(A[21]), tonumber(A[22])
  if tonumber(A[20]) == m.gen and (m.st == CLOSED or m.st == DISABLED) then
    if S.csize > 0 and calls > 0 then
      -- In a stated order: the batch's plain successes, then its slow ones, each applied and
      -- judged as the core's machine judges one record; the first that trips opens the
      -- breaker, and the rest of the batch is then of a past generation (dropped).
      local tripped = nil
      local function stop(c, f, sl)
        if m.st == CLOSED and window_trips(c, f, sl) and enough_procs(false) then
          tripped = { c, f, sl }
          return true
        end
        return false
      end
      if slows > calls then slows = calls end
      if calls - slows > 0 then cw_run(calls - slows, cw_byte(false, false), stop) end
      if not tripped and not window_bad and slows > 0 then
        cw_run(slows, cw_byte(false, true), stop)
      end
      -- Successes, as the core records them: the consecutive failures start again at zero.
      local c = copy(m)
      c.fail = 0
      nx = c
      if tripped then
        why(2, tripped[1], tripped[2], tripped[3])
        nx = opened(c, 0)
      end
    elseif S.buckets > 0 then
      local c, f, sl = wrecord(calls, 0, slows)
      if m.st == CLOSED and window_trips(c, f, sl) and enough_procs(false) then
        why(2, c, f, sl)
        nx = opened(m, 0)
      end
    end
  end
elseif op == 'manual' then
  nx = manual(m, tonumber(A[20]))
elseif op == 'advance' then
  nx = advance(m)
elseif op ~= 'read' then
  return redis.error_reply('breaker-redis: unknown op')
end

if window_bad then
  -- A bucket or slot that is not ours: the window starts afresh (reported as corrupt, like the
  -- hash).
  corrupt = 1
  if S.csize > 0 then cw_clear() else wclear() end
end
if nx.gen ~= m.gen then
  -- Every transition starts a new period for the K-distinct guard; closing empties the window.
  if S.kprocs > 1 then redis.call('DEL', procs) end
  if nx.st == CLOSED and S.buckets > 0 then wclear() end
  if nx.st == CLOSED and S.csize > 0 then cw_clear() end
else
  R = { 0, 0, 0, 0 }
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
  -- With the generation left and the reason, so that every view reports why it changed.
  redis.call('PUBLISH', channel, string.format(
    '%.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f',
    seq, nx.st, nx.gen, nx.fail, nx.tri, nx.suc, nx.opn, nx.dl, now,
    m.gen, R[1], R[2], R[3], R[4]))
end
return { corrupt, seq, nx.st, nx.gen, nx.fail, nx.tri, nx.suc, nx.opn, nx.dl, now,
         admitted, trial, retry, m.st, m.gen, R[1], R[2], R[3], R[4] }
