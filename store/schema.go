// SPDX-License-Identifier: MIT

package store

// schemaVersion is stored in PRAGMA user_version. Bump it with a migration
// step in migrate when the schema changes.
//
//	1: hosts, rollups/transitions/problems keyed by host
//	2: checks (host + check name, kind); rollups, state changes and
//	   problems keyed by check; events (messages)
//	3: rollups WITHOUT ROWID, keyed (minute, check_id), without a
//	   foreign key: a minute's rows are appended at the end of the table
//	   instead of scattered over a UNIQUE (check_id, minute) index as
//	   large as the history
const schemaVersion = 3

// All instants are INTEGER milliseconds since the Unix epoch, UTC. RTTs are
// INTEGER nanoseconds. Rollups store sums and counts (not averages) so a
// minute written in two parts (a restart, a late result) adds up; the
// rollups_avg view divides them for people reading the file with the
// sqlite3 shell.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS hosts (
		id          INTEGER PRIMARY KEY,
		name        TEXT NOT NULL UNIQUE,
		address     TEXT NOT NULL DEFAULT '',
		labels      TEXT NOT NULL DEFAULT '{}',   -- JSON object
		first_seen  INTEGER NOT NULL,             -- first time hb-probe knew the host
		last_seen   INTEGER NOT NULL DEFAULT 0,   -- unused since version 2 (see checks' rollups)
		state       TEXT NOT NULL DEFAULT 'unknown', -- derived from its checks' states
		state_since INTEGER NOT NULL DEFAULT 0,   -- when it entered state
		transitions INTEGER NOT NULL DEFAULT 0    -- host state changes recorded
	)`,
	`CREATE TABLE IF NOT EXISTS checks (
		id          INTEGER PRIMARY KEY,
		host_id     INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
		name        TEXT NOT NULL,                -- unique within the host: "icmp", "tcp:22", …
		kind        TEXT NOT NULL,                -- icmp, udp, tcp, http, heartbeat, pulse
		target      TEXT NOT NULL DEFAULT '',     -- as configured
		first_seen  INTEGER NOT NULL,
		state       TEXT NOT NULL DEFAULT 'unknown',
		state_since INTEGER NOT NULL DEFAULT 0,
		transitions INTEGER NOT NULL DEFAULT 0,
		UNIQUE (host_id, name)
	)`,
	// No REFERENCES checks(id): the foreign-key check was a lookup in
	// checks for every row written (a fifth of the minute's write), and
	// a cascading delete would scan the whole table (nothing is keyed by
	// check first); hb never deletes checks (their history stays).
	// The health sums have no declared type (no affinity): a row without
	// health keeps the default integer 0 (no bytes on disk) where a REAL
	// column of a WITHOUT ROWID table stores 0.0 in 8 bytes (32 of a
	// row's ~76); sums bound from Go are float64 and stay REAL, so the
	// view's divisions are not integer divisions.
	`CREATE TABLE IF NOT EXISTS rollups (
		check_id  INTEGER NOT NULL,
		minute    INTEGER NOT NULL,               -- start of the minute
		probes    INTEGER NOT NULL DEFAULT 0,
		losses    INTEGER NOT NULL DEFAULT 0,     -- timeouts and errors
		rtt_n     INTEGER NOT NULL DEFAULT 0,     -- successes with an RTT
		rtt_sum   INTEGER NOT NULL DEFAULT 0,     -- ns
		rtt_min   INTEGER,                        -- ns; NULL without successes
		rtt_max   INTEGER,
		last_ok   INTEGER NOT NULL DEFAULT 0,     -- newest success in the minute; 0 = none
		health_n  INTEGER NOT NULL DEFAULT 0,     -- results with a health payload
		cpu_sum   NOT NULL DEFAULT 0,             -- percent busy
		mem_sum   NOT NULL DEFAULT 0,             -- percent of memory used
		disk_sum  NOT NULL DEFAULT 0,             -- percent of the root filesystem used
		load_sum  NOT NULL DEFAULT 0,             -- 1-minute load average
		PRIMARY KEY (minute, check_id)
	) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS state_changes (
		id         INTEGER PRIMARY KEY,
		check_id   INTEGER NOT NULL REFERENCES checks(id) ON DELETE CASCADE,
		at         INTEGER NOT NULL,
		from_state TEXT NOT NULL,                 -- the check's
		to_state   TEXT NOT NULL,
		host_from  TEXT NOT NULL,                 -- the host's derived state before and after
		host_to    TEXT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS state_changes_at ON state_changes (at)`,
	`CREATE INDEX IF NOT EXISTS state_changes_check_at ON state_changes (check_id, at)`,
	`CREATE TABLE IF NOT EXISTS problems (
		id        INTEGER PRIMARY KEY,
		check_id  INTEGER NOT NULL REFERENCES checks(id) ON DELETE CASCADE,
		at        INTEGER NOT NULL,
		kind      TEXT NOT NULL,                  -- timeout, icmp-error, error
		icmp_type INTEGER,                        -- icmp-error only
		icmp_code INTEGER,
		from_addr TEXT NOT NULL DEFAULT '',       -- who sent the ICMP error
		detail    TEXT NOT NULL DEFAULT ''
	)`,
	`CREATE INDEX IF NOT EXISTS problems_at ON problems (at)`,
	`CREATE INDEX IF NOT EXISTS problems_check_at ON problems (check_id, at)`,
	`CREATE TABLE IF NOT EXISTS events (
		id        INTEGER PRIMARY KEY,
		at        INTEGER NOT NULL,
		host      TEXT NOT NULL DEFAULT '',       -- '' for hb's own messages
		check_name TEXT NOT NULL DEFAULT '',
		source    TEXT NOT NULL DEFAULT '',       -- a service, a host, "hb"
		level     TEXT NOT NULL,                  -- debug, info, warning, error, critical
		message   TEXT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS events_at ON events (at)`,
	`CREATE INDEX IF NOT EXISTS events_source_at ON events (source, at)`,
	`DROP VIEW IF EXISTS rollups_avg`,
	`CREATE VIEW rollups_avg AS
		SELECT h.name AS host, c.name AS check_name, c.kind, r.minute,
		       datetime(r.minute/1000, 'unixepoch') AS minute_utc,
		       r.probes, r.losses,
		       r.rtt_min/1e6 AS rtt_min_ms,
		       CASE WHEN r.rtt_n > 0 THEN r.rtt_sum/1e6/r.rtt_n END AS rtt_avg_ms,
		       r.rtt_max/1e6 AS rtt_max_ms,
		       CASE WHEN r.health_n > 0 THEN r.cpu_sum/r.health_n END AS cpu_pct,
		       CASE WHEN r.health_n > 0 THEN r.mem_sum/r.health_n END AS mem_pct,
		       CASE WHEN r.health_n > 0 THEN r.disk_sum/r.health_n END AS disk_pct,
		       CASE WHEN r.health_n > 0 THEN r.load_sum/r.health_n END AS load1
		FROM rollups r JOIN checks c ON c.id = r.check_id JOIN hosts h ON h.id = c.host_id`,
}

// migrateV1 turns a version 1 database (history per host) into version 2
// before the schema above is applied: every host becomes one check named
// "icmp" of kind icmp (what version 1 probed by default), and its rollups,
// transitions and problems move to that check. It runs in the migration's
// transaction.
var migrateV1 = []string{
	`DROP VIEW IF EXISTS rollups_avg`,
	`CREATE TABLE checks (
		id          INTEGER PRIMARY KEY,
		host_id     INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
		name        TEXT NOT NULL,
		kind        TEXT NOT NULL,
		target      TEXT NOT NULL DEFAULT '',
		first_seen  INTEGER NOT NULL,
		state       TEXT NOT NULL DEFAULT 'unknown',
		state_since INTEGER NOT NULL DEFAULT 0,
		transitions INTEGER NOT NULL DEFAULT 0,
		UNIQUE (host_id, name)
	)`,
	`INSERT INTO checks (id, host_id, name, kind, target, first_seen, state, state_since, transitions)
		SELECT id, id, 'icmp', 'icmp', address, first_seen, state, state_since, transitions FROM hosts`,
	`ALTER TABLE rollups RENAME TO rollups_v1`,
	`DROP INDEX IF EXISTS rollups_minute`,
	`CREATE TABLE rollups (
		check_id  INTEGER NOT NULL REFERENCES checks(id) ON DELETE CASCADE,
		minute    INTEGER NOT NULL,
		probes    INTEGER NOT NULL DEFAULT 0,
		losses    INTEGER NOT NULL DEFAULT 0,
		rtt_n     INTEGER NOT NULL DEFAULT 0,
		rtt_sum   INTEGER NOT NULL DEFAULT 0,
		rtt_min   INTEGER,
		rtt_max   INTEGER,
		last_ok   INTEGER NOT NULL DEFAULT 0,
		health_n  INTEGER NOT NULL DEFAULT 0,
		cpu_sum   REAL NOT NULL DEFAULT 0,
		mem_sum   REAL NOT NULL DEFAULT 0,
		disk_sum  REAL NOT NULL DEFAULT 0,
		load_sum  REAL NOT NULL DEFAULT 0,
		UNIQUE (check_id, minute)
	)`,
	`INSERT INTO rollups (check_id, minute, probes, losses, rtt_n, rtt_sum, rtt_min, rtt_max, last_ok,
			health_n, cpu_sum, mem_sum, disk_sum, load_sum)
		SELECT host_id, minute, probes, losses, rtt_n, rtt_sum, rtt_min, rtt_max, 0,
			health_n, cpu_sum, mem_sum, disk_sum, load_sum FROM rollups_v1`,
	`DROP TABLE rollups_v1`,
	`CREATE TABLE state_changes (
		id         INTEGER PRIMARY KEY,
		check_id   INTEGER NOT NULL REFERENCES checks(id) ON DELETE CASCADE,
		at         INTEGER NOT NULL,
		from_state TEXT NOT NULL,
		to_state   TEXT NOT NULL,
		host_from  TEXT NOT NULL,
		host_to    TEXT NOT NULL
	)`,
	`INSERT INTO state_changes (id, check_id, at, from_state, to_state, host_from, host_to)
		SELECT id, host_id, at, from_state, to_state, from_state, to_state FROM transitions`,
	`DROP TABLE transitions`,
	`ALTER TABLE problems RENAME TO problems_v1`,
	`DROP INDEX IF EXISTS problems_at`,
	`DROP INDEX IF EXISTS problems_host_at`,
	`CREATE TABLE problems (
		id        INTEGER PRIMARY KEY,
		check_id  INTEGER NOT NULL REFERENCES checks(id) ON DELETE CASCADE,
		at        INTEGER NOT NULL,
		kind      TEXT NOT NULL,
		icmp_type INTEGER,
		icmp_code INTEGER,
		from_addr TEXT NOT NULL DEFAULT '',
		detail    TEXT NOT NULL DEFAULT ''
	)`,
	`INSERT INTO problems (id, check_id, at, kind, icmp_type, icmp_code, from_addr, detail)
		SELECT id, host_id, at, CASE kind WHEN 'send-error' THEN 'error' ELSE kind END,
			icmp_type, icmp_code, from_addr, detail FROM problems_v1`,
	`DROP TABLE problems_v1`,
}

// migrateV2 turns version 2's rollups (a rowid table with UNIQUE
// (check_id, minute) and an index on minute) into version 3's, keyed
// (minute, check_id) WITHOUT ROWID: each minute's write appends to the
// table rather than touching a page of that index per check (at 100k
// checks with an hour of history, 100 MB of WAL and 2 s of CPU a minute).
// A check's history is read by seeking each minute of the range
// (read.go). It runs in the migration's transaction, after migrateV1.
var migrateV2 = []string{
	`DROP VIEW IF EXISTS rollups_avg`,
	`CREATE TABLE rollups_v3 (
		check_id  INTEGER NOT NULL,
		minute    INTEGER NOT NULL,
		probes    INTEGER NOT NULL DEFAULT 0,
		losses    INTEGER NOT NULL DEFAULT 0,
		rtt_n     INTEGER NOT NULL DEFAULT 0,
		rtt_sum   INTEGER NOT NULL DEFAULT 0,
		rtt_min   INTEGER,
		rtt_max   INTEGER,
		last_ok   INTEGER NOT NULL DEFAULT 0,
		health_n  INTEGER NOT NULL DEFAULT 0,
		cpu_sum   NOT NULL DEFAULT 0,
		mem_sum   NOT NULL DEFAULT 0,
		disk_sum  NOT NULL DEFAULT 0,
		load_sum  NOT NULL DEFAULT 0,
		PRIMARY KEY (minute, check_id)
	) WITHOUT ROWID`,
	`INSERT INTO rollups_v3 (check_id, minute, probes, losses, rtt_n, rtt_sum, rtt_min, rtt_max, last_ok,
			health_n, cpu_sum, mem_sum, disk_sum, load_sum)
		SELECT check_id, minute, probes, losses, rtt_n, rtt_sum, rtt_min, rtt_max, last_ok, health_n,
			iif(health_n = 0, 0, cpu_sum), iif(health_n = 0, 0, mem_sum), iif(health_n = 0, 0, disk_sum), iif(health_n = 0, 0, load_sum)
		FROM rollups ORDER BY minute, check_id`,
	`DROP TABLE rollups`, // and its indexes
	`ALTER TABLE rollups_v3 RENAME TO rollups`,
}
