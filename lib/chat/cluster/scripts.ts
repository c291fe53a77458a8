/**
 * The Lua scripts of the chat cluster. Each runs atomically inside Redis, so
 * a name claim, a rename or the clean-up of a dead instance can never
 * interleave with another instance's.
 *
 * Every script starts with the same prelude and gets the same first three
 * arguments:
 *   ARGV[1] key prefix, e.g. "socketkit:" (the cluster name and a colon)
 *   ARGV[2] this instance's id
 *   ARGV[3] the MAXLEN (approximate) of the cluster's event stream
 * Keys are built from the prefix inside the scripts (KEYS is unused): the
 * design targets one Redis server (or a Sentinel-managed primary), not Redis
 * Cluster. See docs/cluster.md, "How it works".
 *
 * Stream entries written here and by publisher.ts have the fields (wire.ts)
 *   o  origin instance id
 *   k  kind: e = chat event, p = presence op, x = instance gone, j = instance (re)joined
 *   s  sequence number (chat events only; receivers drop repeats)
 *   d  JSON payload
 */

const PRELUDE = `
local P = ARGV[1]
local ME = ARGV[2]
local LIMIT = ARGV[3]
local function alive(id)
  return redis.call('EXISTS', P .. 'hb:' .. id) == 1
end
local function xadd(origin, kind, data)
  return redis.call('XADD', P .. 'events', 'MAXLEN', '~', LIMIT, '*', 'o', origin, 'k', kind, 'd', data)
end
-- Removes an instance: its names, presence, inbox and registration, and
-- announces it once on the event stream. Idempotent: returns false when there
-- is nothing left to remove (another survivor was first).
local function reap(id, reason)
  local mkey = P .. 'members:' .. id
  if redis.call('HEXISTS', P .. 'instances', id) == 0 and redis.call('EXISTS', mkey) == 0 then
    return false
  end
  local m = redis.call('HGETALL', mkey)
  local list = {}
  for i = 1, #m, 2 do
    if redis.call('HGET', P .. 'names', m[i]) == id then redis.call('HDEL', P .. 'names', m[i]) end
    list[#list + 1] = m[i + 1]
  end
  redis.call('DEL', mkey, P .. 'inbox:' .. id, P .. 'hb:' .. id)
  redis.call('HDEL', P .. 'instances', id)
  xadd(id, 'x', cjson.encode({ reason = reason, members = list }))
  return true
end
-- Gives name key 'key' to this instance with presence record 'member'.
-- Fails only if a live instance other than this one holds it; a dead
-- holder is reaped first (so names free up as soon as its heartbeat expired).
local function take(key, member)
  local owner = redis.call('HGET', P .. 'names', key)
  if owner and owner ~= ME then
    if alive(owner) then return false end
    reap(owner, 'server lost')
  end
  redis.call('HSET', P .. 'names', key, ME)
  redis.call('HSET', P .. 'members:' .. ME, key, member)
  return true
end
`;

/** A new name: ARGV[4] key, [5] member JSON, [6] op JSON. 1 = ok, 0 = taken. */
export const CLAIM = PRELUDE + `
if redis.call('HGET', P .. 'names', ARGV[4]) == ME then return 0 end
if not take(ARGV[4], ARGV[5]) then return 0 end
xadd(ME, 'p', ARGV[6])
return 1
`;

/** Gives a name back: ARGV[4] key, [5] op JSON. */
export const RELEASE = PRELUDE + `
if redis.call('HGET', P .. 'names', ARGV[4]) == ME then redis.call('HDEL', P .. 'names', ARGV[4]) end
redis.call('HDEL', P .. 'members:' .. ME, ARGV[4])
xadd(ME, 'p', ARGV[5])
return 1
`;

/**
 * Renames: ARGV[4] old key, [5] new key, [6] member JSON, [7] op JSON.
 * A change of case only (same key) always succeeds. 1 = ok, 0 = taken.
 */
export const RENAME = PRELUDE + `
if ARGV[4] ~= ARGV[5] then
  if redis.call('HGET', P .. 'names', ARGV[5]) == ME then return 0 end
  if not take(ARGV[5], ARGV[6]) then return 0 end
  if redis.call('HGET', P .. 'names', ARGV[4]) == ME then redis.call('HDEL', P .. 'names', ARGV[4]) end
  redis.call('HDEL', P .. 'members:' .. ME, ARGV[4])
else
  redis.call('HSET', P .. 'names', ARGV[5], ME)
  redis.call('HSET', P .. 'members:' .. ME, ARGV[5], ARGV[6])
end
xadd(ME, 'p', ARGV[7])
return 1
`;

/** A member moved to another room: ARGV[4] key, [5] member JSON, [6] op JSON. */
export const SET_ROOM = PRELUDE + `
if redis.call('HGET', P .. 'names', ARGV[4]) ~= ME then return 0 end
redis.call('HSET', P .. 'members:' .. ME, ARGV[4], ARGV[5])
xadd(ME, 'p', ARGV[6])
return 1
`;

/**
 * The heartbeat, ARGV[4] expiry in ms: refreshes this instance's heartbeat
 * key and reaps every registered instance whose key has expired. Returns
 * { registered (0 when this instance was reaped or Redis lost its data), reaped ids }.
 */
export const BEAT = PRELUDE + `
redis.call('SET', P .. 'hb:' .. ME, '1', 'PX', ARGV[4])
local registered = redis.call('HEXISTS', P .. 'instances', ME)
local reaped = {}
for _, id in ipairs(redis.call('HKEYS', P .. 'instances')) do
  if id ~= ME and not alive(id) and reap(id, 'server lost') then reaped[#reaped + 1] = id end
end
return { registered, reaped }
`;

/**
 * (Re)registers this instance with its full member list: ARGV[4] expiry ms,
 * [5] instance info JSON, then pairs of (key, member JSON). Names another live
 * instance took meanwhile are returned as conflicts; names this instance held
 * but no longer lists are given back. Announces the kept members with one
 * 'j' entry.
 */
export const REJOIN = PRELUDE + `
redis.call('SET', P .. 'hb:' .. ME, '1', 'PX', ARGV[4])
redis.call('HSET', P .. 'instances', ME, ARGV[5])
local old = redis.call('HKEYS', P .. 'members:' .. ME)
redis.call('DEL', P .. 'members:' .. ME)
local kept, conflicts, keep = {}, {}, {}
for i = 6, #ARGV, 2 do
  if take(ARGV[i], ARGV[i + 1]) then
    kept[#kept + 1] = ARGV[i + 1]
    keep[ARGV[i]] = true
  else
    conflicts[#conflicts + 1] = ARGV[i]
  end
end
for _, k in ipairs(old) do
  if not keep[k] and redis.call('HGET', P .. 'names', k) == ME then redis.call('HDEL', P .. 'names', k) end
end
xadd(ME, 'j', cjson.encode({ members = kept }))
return conflicts
`;

/** Leaving the cluster for good (close): ARGV[4] reason. */
export const BYE = PRELUDE + `
reap(ME, ARGV[4])
return 1
`;

/**
 * A private message: ARGV[4] recipient's name key, [5] sequence number,
 * [6] event JSON, [7] inbox MAXLEN. Goes to the inbox stream of the instance
 * that holds the name now; 0 when nobody alive holds it.
 */
export const PRIVATE = PRELUDE + `
local owner = redis.call('HGET', P .. 'names', ARGV[4])
if not owner or not alive(owner) then return 0 end
redis.call('XADD', P .. 'inbox:' .. owner, 'MAXLEN', '~', ARGV[7], '*', 'o', ME, 'k', 'e', 's', ARGV[5], 'd', ARGV[6])
return 1
`;

/**
 * Everything an instance needs to build its view of the cluster, read in one
 * atomic step: { last event stream id, { {id, info, alive, {key, member, ...}}, ... } }.
 */
export const SNAPSHOT = PRELUDE + `
local out = {}
local inst = redis.call('HGETALL', P .. 'instances')
for i = 1, #inst, 2 do
  local id = inst[i]
  out[#out + 1] = { id, inst[i + 1], redis.call('EXISTS', P .. 'hb:' .. id), redis.call('HGETALL', P .. 'members:' .. id) }
end
local last = redis.call('XREVRANGE', P .. 'events', '+', '-', 'COUNT', 1)
local lastId = '0-0'
if #last > 0 then lastId = last[1][1] end
return { lastId, out }
`;
