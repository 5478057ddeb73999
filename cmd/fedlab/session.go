package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// Files in the lab directory.
const (
	envFile     = "env"
	pidsFile    = "pids"
	socketFile  = "control.sock"
	logFile     = "fedlab.log"
	labSubdir   = "run"
	supervisor  = "fedlab"
	readyMarker = "FEDLAB_READY=1"
)

// session is a lab owned by this process: the seed lab, coredns-fed, and the
// control socket that break and repair commands talk to.
type session struct {
	dir string
	lab *lab.Lab
	dns *lab.CoreDNS
	ctl *http.Server
	log *log.Logger
}

// startSession claims dir, starts the seed lab and coredns-fed in it, and
// serves the control socket. The env file is written last, so its presence
// means the lab is ready.
func startSession(ctx context.Context, dir string, logger *log.Logger) (*session, error) {
	if err := claimDir(dir); err != nil {
		return nil, err
	}
	s := &session{dir: dir, log: logger}
	if err := s.start(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *session) start(ctx context.Context) error {
	root, err := lab.RepoRoot()
	if err != nil {
		return err
	}
	cfg := lab.SeedConfig(root)
	cfg.Dir = filepath.Join(s.dir, labSubdir)
	cfg.Logf = s.log.Printf
	cfg.Geo = true // the global name answers each client its nearest region
	if s.lab, err = lab.Start(ctx, cfg); err != nil {
		return err
	}
	s.recordPIDs()
	if s.dns, err = s.lab.StartCoreDNS(ctx); err != nil {
		return err
	}
	s.recordPIDs()
	sock := filepath.Join(s.dir, socketFile)
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	s.ctl = &http.Server{Handler: s.controlHandler()}
	go s.ctl.Serve(l)
	return writeEnvInfo(filepath.Join(s.dir, envFile), s.info())
}

// close stops the lab and removes the lab directory, except the
// supervisor's log when there is one, so a failed `up` can be diagnosed.
func (s *session) close() {
	if s.ctl != nil {
		s.ctl.Close()
	}
	if s.lab != nil {
		s.lab.Close()
	}
	entries, _ := os.ReadDir(s.dir)
	kept := false
	for _, e := range entries {
		if e.Name() == logFile {
			kept = true
			continue
		}
		os.RemoveAll(filepath.Join(s.dir, e.Name()))
	}
	if !kept {
		os.Remove(s.dir)
	}
}

// recordPIDs rewrites the pids file: this process first, then every child
// the lab runs, so `fedlab down` can stop them even if this process is gone.
func (s *session) recordPIDs() {
	pids := map[string]int{supervisor: os.Getpid()}
	if s.lab != nil {
		for role, pid := range s.lab.PIDs() {
			pids[role] = pid
		}
	}
	if err := writePIDs(filepath.Join(s.dir, pidsFile), pids); err != nil {
		s.log.Printf("recording pids: %v", err)
	}
}

// claimDir makes dir the home of a new lab, refusing when a live lab owns
// it and clearing what a dead one left behind.
func claimDir(dir string) error {
	if pid, alive := running(dir); alive {
		return fmt.Errorf("a lab is already running in %s (pid %d); stop it with `fedlab down`", dir, pid)
	}
	if _, err := os.Stat(filepath.Join(dir, pidsFile)); err == nil {
		if err := removeLabFiles(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writePIDs(filepath.Join(dir, pidsFile), map[string]int{supervisor: os.Getpid()})
}

// running returns the pid of the process that owns the lab in dir, and
// whether it is alive.
func running(dir string) (int, bool) {
	recs, err := readPIDs(filepath.Join(dir, pidsFile))
	if err != nil {
		return 0, false
	}
	for _, r := range recs {
		if r.role == supervisor {
			return r.pid, r.alive()
		}
	}
	return 0, false
}

// removeLabFiles removes everything a lab keeps in dir except the log.
func removeLabFiles(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if e.Name() == logFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
