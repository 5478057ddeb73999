package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// upTimeout bounds `fedlab up`: etcd, four kube-apiservers and coredns-fed.
const upTimeout = 5 * time.Minute

// downTimeout is how long the supervisor gets to stop the lab before its
// recorded processes are killed.
const downTimeout = time.Minute

// demo runs the seed lab in the foreground until Ctrl-C.
func demo(dir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	logger := log.New(os.Stderr, "fedlab: ", log.Ltime)
	logger.Printf("starting the seed federation lab in %s", dir)
	s, err := startSession(ctx, dir, logger)
	if err != nil {
		return err
	}
	defer s.close()
	printBanner(os.Stdout, s.info(), true)
	<-ctx.Done()
	stop()
	logger.Printf("stopping the lab")
	return nil
}

// serve is the background supervisor `fedlab up` starts: the same lab as
// demo, without the banner, until SIGTERM.
func serve(dir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	logger := log.New(os.Stderr, "", log.LstdFlags)
	s, err := startSession(ctx, dir, logger)
	if err != nil {
		return err
	}
	defer s.close()
	logger.Printf("lab ready; DNS on %s", s.dns.Addr)
	<-ctx.Done()
	logger.Printf("stopping the lab")
	return nil
}

// up starts `fedlab serve` in its own session, detached from the terminal,
// and returns once its env file says the lab is ready.
func up(dir string) error {
	if pid, alive := running(dir); alive {
		return fmt.Errorf("a lab is already running in %s (pid %d); stop it with `fedlab down`", dir, pid)
	}
	if err := removeLabFiles(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logPath := filepath.Join(dir, logFile)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-dir", dir, "serve")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(os.Stderr, "fedlab: starting the lab in the background (pid %d, log %s)\n", cmd.Process.Pid, logPath)

	deadline := time.After(upTimeout)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("the lab failed to start (%v); log %s:\n%s", err, logPath, lab.Tail(logPath, 20))
		case <-deadline:
			syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
			return fmt.Errorf("the lab was not ready after %s; stopped it; log %s", upTimeout, logPath)
		case <-tick.C:
		}
		if b, err := os.ReadFile(filepath.Join(dir, envFile)); err == nil && strings.Contains(string(b), readyMarker) {
			break wait
		}
	}
	info, err := loadEnv(dir)
	if err != nil {
		return err
	}
	printBanner(os.Stdout, info, false)
	return nil
}

// down asks the supervisor to stop the lab, then kills by recorded pid
// whatever is still running, and removes the lab directory.
func down(dir string) error {
	recs, err := readPIDs(filepath.Join(dir, pidsFile))
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(dir); err == nil {
			fmt.Fprintf(os.Stderr, "fedlab: no lab running; removing %s\n", dir)
			return os.RemoveAll(dir)
		}
		fmt.Fprintln(os.Stderr, "fedlab: no lab running")
		return nil
	}
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.role == supervisor && r.alive() {
			fmt.Fprintf(os.Stderr, "fedlab: stopping the lab (pid %d)\n", r.pid)
			r.kill(syscall.SIGTERM)
			waitGone(r, downTimeout)
		}
	}
	// The children die with the supervisor (parent-death signal); these
	// are for a supervisor that was killed before it could say so.
	for _, r := range recs {
		if r.alive() {
			fmt.Fprintf(os.Stderr, "fedlab: killing %s (pid %d)\n", r.role, r.pid)
			r.kill(syscall.SIGKILL)
			waitGone(r, 10*time.Second)
		}
	}
	fmt.Fprintf(os.Stderr, "fedlab: lab stopped; removing %s\n", dir)
	return os.RemoveAll(dir)
}

func waitGone(r pidRecord, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for r.alive() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}
