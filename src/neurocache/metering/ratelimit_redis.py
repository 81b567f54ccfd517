"""Rate limits shared by several hub processes: the same token buckets, kept in Redis.

One Lua script takes a request from every bucket or from none, atomically, with Redis's
clock (so processes on several machines agree). A bucket key expires once it would be full
again, so Redis holds only the keys of recent callers. When Redis cannot be reached, the
hub falls back to its own in-process buckets (and says so), rather than refusing everyone."""

from __future__ import annotations

import logging

import redis

from neurocache.metering.ratelimit import Allowance, RateLimiter

log = logging.getLogger("neurocache.limits")
PREFIX = "neurocache:rate:"

# KEYS: buckets; ARGV: per-minute allowance of each. Returns {} when taken, else
# {index (1-based) of the spent bucket, seconds until it has room, as a string}.
TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local tokens = {}
for i, key in ipairs(KEYS) do
  local per_minute = tonumber(ARGV[i])
  local saved = redis.call('HMGET', key, 'tokens', 'at')
  local have = tonumber(saved[1]) or per_minute
  local at = tonumber(saved[2]) or t
  have = math.min(per_minute, have + math.max(0, t - at) * per_minute / 60)
  if have < 1 then
    return {i, tostring((1 - have) * 60 / per_minute)}
  end
  tokens[i] = have
end
for i, key in ipairs(KEYS) do
  local per_minute = tonumber(ARGV[i])
  redis.call('HSET', key, 'tokens', tostring(tokens[i] - 1), 'at', tostring(t))
  redis.call('EXPIRE', key, math.ceil(60 * (per_minute - tokens[i] + 1) / per_minute) + 1)
end
return {}
"""


class RedisRateLimiter:
    """`RateLimiter`'s interface over Redis; `fallback` answers while Redis is away."""

    def __init__(self, url: str, fallback: RateLimiter, client: redis.Redis | None = None) -> None:
        self._client = client or redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5
        )
        self._take = self._client.register_script(TAKE)
        self.fallback = fallback
        self._away = False

    def take(self, allowances: list[Allowance]) -> tuple[Allowance, float] | None:
        limited = [a for a in allowances if a.per_minute > 0]
        if not limited:
            return None
        try:
            spent = self._take(
                keys=[PREFIX + a.bucket for a in limited], args=[a.per_minute for a in limited]
            )
        except redis.RedisError as exc:
            self._say_away(exc)
            return self.fallback.take(allowances)
        self._away = False
        if not spent:
            return None
        index, wait = spent
        return limited[int(index) - 1], float(wait)

    def remaining(self, allowance: Allowance) -> int:
        try:
            tokens = self._client.hget(PREFIX + allowance.bucket, "tokens")
        except redis.RedisError:
            return self.fallback.remaining(allowance)
        return allowance.per_minute if tokens is None else int(float(tokens))

    def _say_away(self, exc: Exception) -> None:
        if not self._away:  # once per outage, not once per request
            log.warning(
                "Redis is unreachable (%s): rate limits are kept in this process until it is back",
                exc,
            )
        self._away = True

    def start(self) -> None:
        self.fallback.start()

    def close(self) -> None:
        self.fallback.close()
        self._client.close()
