package store

// schemaVersion is stored in PRAGMA user_version. Bump it with a migration
// step in migrate when the schema changes.
const schemaVersion = 1

// All instants are INTEGER milliseconds since the Unix epoch, UTC. RTTs are
// INTEGER nanoseconds. Rollups store sums and counts (not averages) so the
// writer can add each second's delta to the minute's row; the rollups_avg
// view divides them for people reading the file with the sqlite3 shell.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS hosts (
		id          INTEGER PRIMARY KEY,
		name        TEXT NOT NULL UNIQUE,
		address     TEXT NOT NULL DEFAULT '',
		labels      TEXT NOT NULL DEFAULT '{}',   -- JSON object
		first_seen  INTEGER NOT NULL,             -- first time hb-probe knew the host
		last_seen   INTEGER NOT NULL DEFAULT 0,   -- newest reply; 0 = never answered
		state       TEXT NOT NULL DEFAULT 'unknown',
		state_since INTEGER NOT NULL DEFAULT 0,   -- when it entered state
		transitions INTEGER NOT NULL DEFAULT 0    -- state changes recorded
	)`,
	`CREATE TABLE IF NOT EXISTS rollups (
		host_id   INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
		minute    INTEGER NOT NULL,               -- start of the minute
		probes    INTEGER NOT NULL DEFAULT 0,
		losses    INTEGER NOT NULL DEFAULT 0,     -- timeouts and errors
		rtt_n     INTEGER NOT NULL DEFAULT 0,     -- successes with an RTT
		rtt_sum   INTEGER NOT NULL DEFAULT 0,     -- ns
		rtt_min   INTEGER,                        -- ns; NULL without successes
		rtt_max   INTEGER,
		health_n  INTEGER NOT NULL DEFAULT 0,     -- replies with a health payload
		cpu_sum   REAL NOT NULL DEFAULT 0,        -- percent busy
		mem_sum   REAL NOT NULL DEFAULT 0,        -- percent of memory used
		disk_sum  REAL NOT NULL DEFAULT 0,        -- percent of the root filesystem used
		load_sum  REAL NOT NULL DEFAULT 0,        -- 1-minute load average
		UNIQUE (host_id, minute)
	)`,
	`CREATE INDEX IF NOT EXISTS rollups_minute ON rollups (minute)`,
	`CREATE TABLE IF NOT EXISTS transitions (
		id         INTEGER PRIMARY KEY,
		host_id    INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
		at         INTEGER NOT NULL,
		from_state TEXT NOT NULL,
		to_state   TEXT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS transitions_at ON transitions (at)`,
	`CREATE INDEX IF NOT EXISTS transitions_host_at ON transitions (host_id, at)`,
	`CREATE TABLE IF NOT EXISTS problems (
		id        INTEGER PRIMARY KEY,
		host_id   INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
		at        INTEGER NOT NULL,
		kind      TEXT NOT NULL,                  -- timeout, icmp-error, send-error
		icmp_type INTEGER,                        -- icmp-error only
		icmp_code INTEGER,
		from_addr TEXT NOT NULL DEFAULT '',       -- who sent the ICMP error
		detail    TEXT NOT NULL DEFAULT ''
	)`,
	`CREATE INDEX IF NOT EXISTS problems_at ON problems (at)`,
	`CREATE INDEX IF NOT EXISTS problems_host_at ON problems (host_id, at)`,
	`CREATE VIEW IF NOT EXISTS rollups_avg AS
		SELECT h.name, r.minute, datetime(r.minute/1000, 'unixepoch') AS minute_utc,
		       r.probes, r.losses,
		       r.rtt_min/1e6 AS rtt_min_ms,
		       CASE WHEN r.rtt_n > 0 THEN r.rtt_sum/1e6/r.rtt_n END AS rtt_avg_ms,
		       r.rtt_max/1e6 AS rtt_max_ms,
		       CASE WHEN r.health_n > 0 THEN r.cpu_sum/r.health_n END AS cpu_pct,
		       CASE WHEN r.health_n > 0 THEN r.mem_sum/r.health_n END AS mem_pct,
		       CASE WHEN r.health_n > 0 THEN r.disk_sum/r.health_n END AS disk_pct,
		       CASE WHEN r.health_n > 0 THEN r.load_sum/r.health_n END AS load1
		FROM rollups r JOIN hosts h ON h.id = r.host_id`,
}
