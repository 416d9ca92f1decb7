// SPDX-License-Identifier: MIT

package push

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

// Journal is hbd's message journal: one JSON object per line
// ({"time","host","source","level","message"}), rotated when it would
// grow past maxSize: path becomes path.1, path.1 path.2, … and the
// oldest beyond maxBackups is removed.
type Journal struct {
	path       string
	maxSize    int64
	maxBackups int

	mu   sync.Mutex // guards f and size
	f    *os.File
	size int64
}

// OpenJournal opens (appending to) the journal at path.
func OpenJournal(path string, maxSize int64, maxBackups int) (*Journal, error) {
	j := &Journal{path: path, maxSize: maxSize, maxBackups: maxBackups}
	if err := j.open(); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *Journal) open() error {
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	j.f, j.size = f, st.Size()
	return nil
}

type journalLine struct {
	Time    string `json:"time"`
	Host    string `json:"host,omitempty"`
	Source  string `json:"source,omitempty"`
	Level   string `json:"level"`
	Message string `json:"message"`
}

// Write appends e as one line, rotating first if the line would not fit.
func (j *Journal) Write(e Event) error {
	b, err := json.Marshal(journalLine{Time: e.At.UTC().Format("2006-01-02T15:04:05.000000Z"), Host: e.Host, Source: e.Source, Level: e.Level, Message: e.Message})
	if err != nil {
		return err
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return fmt.Errorf("journal: closed")
	}
	if j.size > 0 && j.size+int64(len(b)) > j.maxSize {
		if err := j.rotate(); err != nil {
			return err
		}
	}
	n, err := j.f.Write(b)
	j.size += int64(n)
	return err
}

// rotate shifts the backups and starts a new file. mu held.
func (j *Journal) rotate() error {
	j.f.Close()
	j.f = nil
	if j.maxBackups == 0 {
		os.Remove(j.path)
	} else {
		os.Remove(fmt.Sprintf("%s.%d", j.path, j.maxBackups))
		for i := j.maxBackups - 1; i >= 1; i-- {
			os.Rename(fmt.Sprintf("%s.%d", j.path, i), fmt.Sprintf("%s.%d", j.path, i+1))
		}
		if err := os.Rename(j.path, j.path+".1"); err != nil {
			return fmt.Errorf("journal: rotate: %w", err)
		}
	}
	return j.open()
}

// Close closes the journal file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}
