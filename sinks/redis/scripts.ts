import { createHash } from 'node:crypto'

/**
 * The cache's version guard: one atomic script call applies a run of row writes (one row
 * per call in a cluster, up to GUARD_ROWS per call on a single server).
 *
 *   KEYS[2r-1]  row r's value key K (exactly the row: a JSON string or a hash)
 *   KEYS[2r]    its version key V (`<version_prefix>K`): the version of K's last write,
 *               kept after a delete as a tombstone
 *   ARGV[1]     TTL of K in ms (`0`: none)
 *   ARGV[2]     TTL of V while the row exists (`0`: none)
 *   ARGV[3]     TTL of V as a tombstone (`0`: none)
 *   then per row: op, version, n, and n value arguments, where op is
 *     `j` set the JSON (n = 1), `h` set the hash (field, value, ...), `d` delete,
 *     `w` sweep: delete when the stored version is older than this one (truncate, snapshot end)
 *
 * The version is the event's position up to the first `;` (fixed-width, sortable). A write
 * applies when its version is >= the stored one (equal: the same event replayed, which
 * writes the same content again) and is ignored when older. Returns one integer per row:
 * 1 applied, 0 ignored. An error reply names the key it concerns.
 *
 * Versions are compared byte by byte: Lua's `<` on strings uses strcoll(), and
 * redis-server sets LC_COLLATE from its environment, so a locale could reorder characters.
 */
export const GUARD_SCRIPT = `
local function older(a, b)
  if a == b then return false end
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function failed(r, key)
  if type(r) == 'table' and r.err then return redis.error_reply(r.err .. ' (key ' .. key .. ')') end
  return nil
end
local ttl, live, tomb = ARGV[1], ARGV[2], ARGV[3]
local res = {}
local a = 4
for r = 1, #KEYS / 2 do
  local k, vk = KEYS[2 * r - 1], KEYS[2 * r]
  local op, v, n = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local first = a + 3
  a = first + n
  local cur = redis.pcall('GET', vk)
  local e = failed(cur, vk)
  if e then return e end
  local apply
  if op == 'w' then apply = cur and older(cur, v) else apply = not (cur and older(v, cur)) end
  if apply then
    local t = tomb
    if op == 'j' then
      if ttl ~= '0' then e = redis.pcall('SET', k, ARGV[first], 'PX', ttl) else e = redis.pcall('SET', k, ARGV[first]) end
      t = live
    elseif op == 'h' then
      e = redis.pcall('DEL', k)
      if n > 0 then
        e = redis.pcall('HSET', k, unpack(ARGV, first, first + n - 1))
        if ttl ~= '0' and not failed(e, k) then e = redis.pcall('PEXPIRE', k, ttl) end
      end
      t = live
    else
      e = redis.pcall('DEL', k)
    end
    e = failed(e, k)
    if e then return e end
    if t ~= '0' then redis.call('SET', vk, v, 'PX', t) else redis.call('SET', vk, v) end
    res[r] = 1
  else
    res[r] = 0
  end
end
return res
`

/** SHA1 of GUARD_SCRIPT, as EVALSHA expects it. */
export const GUARD_SHA = createHash('sha1').update(GUARD_SCRIPT).digest('hex')

/** Rows per guard call on a single server: bounds the script's run time and the command's size. */
export const GUARD_ROWS = 500
