package federation

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultStatusAddr is where the status listener binds when the status option
// names no address: loopback only, since the page shows the federation's
// internals.
const DefaultStatusAddr = "127.0.0.1:8053"

// The status listener serves, on an HTTP listener of its own:
//
//	/             the live page (status.html): members, Services, levels, shards, changes
//	/status.json  the same data as JSON (StatusReport)
//	/events       server-sent events: a StatusReport after each snapshot and
//	              whenever member status changes
//	/explain      ?name=NAME&client=ADDRESS: why NAME gets its answer, as text
//
// Like the health plugin's listener it survives a Corefile reload: the new
// federation takes the running listener over when the address is the same.

//go:embed status.html
var statusPage []byte

// statusServers are the running status listeners, by address.
var statusServers = struct {
	sync.Mutex
	byAddr map[string]*statusServer
}{byAddr: map[string]*statusServer{}}

// statusServer is one status listener. It shows the federation engine that
// started or took it over last.
type statusServer struct {
	addr   string
	ln     net.Listener
	srv    *http.Server
	refs   int // federations using it; under statusServers' lock
	engine atomic.Pointer[Federation]

	mu      sync.Mutex
	clients map[chan struct{}]struct{}
	watched map[*Federation]bool
	done    chan struct{}
}

// startStatus starts the status listener at addr for e, or points the running
// one at e.
func startStatus(addr string, e *Federation) error {
	statusServers.Lock()
	defer statusServers.Unlock()
	s := statusServers.byAddr[addr]
	if s == nil {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("status %s: %v", addr, err)
		}
		s = &statusServer{addr: addr, ln: ln, clients: map[chan struct{}]struct{}{},
			watched: map[*Federation]bool{}, done: make(chan struct{})}
		mux := http.NewServeMux()
		mux.HandleFunc("/", s.page)
		mux.HandleFunc("/status.json", s.json)
		mux.HandleFunc("/events", s.events)
		mux.HandleFunc("/explain", s.explain)
		s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Errorf("Status listener %s: %v", addr, err)
			}
		}()
		statusServers.byAddr[addr] = s
		log.Infof("Status page on http://%s/", ln.Addr())
	}
	s.refs++
	s.engine.Store(e)
	s.mu.Lock()
	watch := !s.watched[e]
	s.watched[e] = true
	s.mu.Unlock()
	if watch {
		e.OnSnapshot(s.notify)
	}
	s.notify()
	return nil
}

// stopStatus releases the status listener at addr and closes it when no
// federation uses it any longer.
func stopStatus(addr string) {
	statusServers.Lock()
	s := statusServers.byAddr[addr]
	if s == nil {
		statusServers.Unlock()
		return
	}
	s.refs--
	stop := s.refs == 0
	if stop {
		delete(statusServers.byAddr, addr)
	}
	statusServers.Unlock()
	if stop {
		close(s.done)
		s.srv.Close() // ends the event streams too
	}
}

// notify wakes every event stream; it never blocks.
func (s *statusServer) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

func (s *statusServer) report() ([]byte, error) {
	return json.Marshal(s.engine.Load().Status())
}

func (s *statusServer) page(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(statusPage)
}

func (s *statusServer) json(w http.ResponseWriter, r *http.Request) {
	data, err := s.report()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(data)
}

func (s *statusServer) explain(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		http.Error(w, "explain needs ?name=NAME[&client=ADDRESS]", http.StatusBadRequest)
		return
	}
	text, err := s.engine.Load().Explain(name, r.URL.Query().Get("client"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, text)
}

// statusRefresh is how often an event stream checks for changes that do not
// build a snapshot (a member's contact); a report is sent only when it differs.
const statusRefresh = 2 * time.Second

// events streams a StatusReport after each snapshot and whenever the report
// changes, as server-sent events.
func (s *statusServer) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	wake := make(chan struct{}, 1)
	s.mu.Lock()
	s.clients[wake] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.clients, wake)
		s.mu.Unlock()
	}()
	tick := time.NewTicker(statusRefresh)
	defer tick.Stop()
	var last []byte
	for {
		data, err := s.report()
		if err != nil {
			return
		}
		// The report's time changes every call; compare without it.
		if body := withoutTime(data); !bytes.Equal(body, last) {
			last = body
			if _, err := fmt.Fprintf(w, "event: status\ndata: %s\n\n", data); err != nil {
				return
			}
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-wake:
		case <-tick.C:
		}
	}
}

// withoutTime drops the leading "time" field of a marshalled StatusReport.
func withoutTime(data []byte) []byte {
	var r StatusReport
	if json.Unmarshal(data, &r) != nil {
		return data
	}
	r.Time = time.Time{}
	out, _ := json.Marshal(r)
	return out
}

// parseStatus reads "status [ADDRESS]": a host:port to listen on, loopback by
// default.
func parseStatus(c interface{ Errf(string, ...any) error }, args []string) (string, error) {
	switch len(args) {
	case 0:
		return DefaultStatusAddr, nil
	case 1:
	default:
		return "", c.Errf("status takes at most one ADDRESS, got %d arguments", len(args))
	}
	host, port, err := net.SplitHostPort(args[0])
	if err != nil {
		return "", c.Errf("status %q: ADDRESS must be HOST:PORT, such as %s", args[0], DefaultStatusAddr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", c.Errf("status %q: port %q is not a number from 0 to 65535", args[0], port)
	}
	if host == "" {
		log.Warningf("status %s: listening on every interface; the page shows the federation's internals", args[0])
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		log.Warningf("status %s: not a loopback address; the page shows the federation's internals", args[0])
	}
	return args[0], nil
}
