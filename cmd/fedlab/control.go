package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// opTimeout bounds one break or repair operation; restarting a
// kube-apiserver is the slowest.
const opTimeout = 4 * time.Minute

// controlHandler serves the break and repair commands on the lab's Unix
// socket: POST /v1/{endpoints,backend,apiserver,service} with form values
// action and target, and GET /v1/status.
func (s *session) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		s.writeStatus(w)
	})
	mux.HandleFunc("POST /v1/{cmd}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
		defer cancel()
		cmd, action, target := r.PathValue("cmd"), r.FormValue("action"), r.FormValue("target")
		msg, err := s.do(ctx, cmd, action, target)
		if err != nil {
			s.log.Printf("%s %s %s: %v", cmd, action, target, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.log.Printf("%s %s %s: %s", cmd, action, target, msg)
		fmt.Fprintln(w, msg)
	})
	return mux
}

// do carries out one command against the lab.
func (s *session) do(ctx context.Context, cmd, action, target string) (string, error) {
	l := s.lab
	switch cmd + " " + action {
	case "endpoints ready", "endpoints unready":
		if err := l.SetReady(ctx, target, action == "ready"); err != nil {
			return "", err
		}
		return fmt.Sprintf("endpoints of %s marked %s", target, action), nil
	case "backend stop":
		return "backend of " + target + " stopped", l.StopBackend(target)
	case "backend start":
		return "backend of " + target + " started", l.StartBackend(target)
	case "apiserver stop":
		defer s.recordPIDs()
		return "kube-apiserver of " + target + " stopped", l.StopAPIServer(target)
	case "apiserver start":
		defer s.recordPIDs()
		return "kube-apiserver of " + target + " ready", l.StartAPIServer(ctx, target)
	case "drain on", "drain off":
		if err := l.SetDrain(ctx, target, action == "on"); err != nil {
			return "", err
		}
		return fmt.Sprintf("services of %s drained: %s (endpoints unchanged)", target, action), nil
	case "service add":
		return "service " + target + " added in every running cluster", l.AddService(ctx, target)
	case "service remove":
		return "service " + target + " removed from every running cluster", l.RemoveService(ctx, target)
	}
	return "", fmt.Errorf("unknown command %q %q", cmd, action)
}

func (s *session) writeStatus(w io.Writer) {
	fmt.Fprintf(w, "DNS %s (coredns-fed pid %d), lab directory %s\n\n", s.dns.Addr, s.dns.PID(), s.dir)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tREGION\tZONES\tLOAD BALANCER\tBACKEND\tAPISERVER\tENDPOINTS")
	for _, c := range s.lab.Clusters() {
		backend, _ := s.lab.BackendRunning(c.Name)
		apiserver, _ := s.lab.APIServerRunning(c.Name)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Region, strings.Join(c.Zones, ","), c.Addr,
			state(backend, "up", "stopped"), state(apiserver, "up", "stopped"), state(c.Ready(), "ready", "unready"))
	}
	tw.Flush()
}

func state(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

// control sends one command to the lab in dir and prints the answer.
func control(dir, cmd, action, target string) error {
	sock := filepath.Join(dir, socketFile)
	client := &http.Client{
		Timeout: opTimeout + 10*time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
		},
	}
	var resp *http.Response
	var err error
	if cmd == "status" {
		resp, err = client.Get("http://fedlab/v1/status")
	} else {
		resp, err = client.PostForm("http://fedlab/v1/"+cmd, url.Values{"action": {action}, "target": {target}})
	}
	if err != nil {
		return fmt.Errorf("no lab answers on %s (%v); start one with `fedlab demo` or `fedlab up`", sock, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", strings.TrimSpace(string(body)))
	}
	fmt.Print(string(body))
	return nil
}
