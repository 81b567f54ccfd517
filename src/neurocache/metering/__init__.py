"""What callers use and may use: usage counted per key, agent, model and endpoint; rate
limits (in memory, or in Redis for several processes); both written every few seconds."""
