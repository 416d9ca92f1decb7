// SPDX-License-Identifier: MIT

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// Backup writes a consistent copy of the open database to dst (VACUUM INTO:
// a read transaction, so the writer keeps committing meanwhile). dst must
// not exist; the copy is written next to it and renamed into place, so dst
// is either absent or complete.
func (s *Store) Backup(ctx context.Context, dst string) error {
	return Backup(ctx, s.path, dst)
}

// Backup copies the database at dbPath to dst while another process (the
// daemon) may be writing it. It is what `hb-probe backup FILE` runs.
func Backup(ctx context.Context, dbPath, dst string) error {
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	d, err := dsn(dbPath, connBackup)
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", d)
	if err != nil {
		return fmt.Errorf("store: backup: open %s: %w", dbPath, err)
	}
	defer db.Close()
	return backup(ctx, db, dst)
}

func backup(ctx context.Context, db *sql.DB, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("store: backup: %s already exists", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: backup: %w", err)
	}
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-"+strconv.Itoa(os.Getpid()))
	_ = os.Remove(tmp)
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: backup to %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}
