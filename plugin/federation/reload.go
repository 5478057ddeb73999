package federation

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"sync"

	"github.com/coredns/caddy"
)

// A Corefile reload (the reload plugin, or SIGUSR1) sets every plugin up again
// and starts the new server blocks before it stops the old ones. A federation
// must not drop an answer across it:
//
//   - configuration unchanged: the new server block answers from the running
//     federation (its members, watches, health checker and snapshots); nothing
//     is listed again;
//   - configuration changed: the new federation starts its own members beside
//     the old one and answers the last snapshot of the old one until its first
//     own snapshot replaces it; the SOA serial carries on from it.
//
// The configuration is the block's tokens, the kubeconfig files' contents and
// the health checker's settings, so a rotated credential starts new watches.

// engines are the running federations, by configuration and by zone.
var engines = struct {
	sync.Mutex
	byKey  map[string]*Federation
	byZone map[string]*Federation
}{byKey: map[string]*Federation{}, byZone: map[string]*Federation{}}

// configKeyer is implemented by a HealthChecker whose settings are part of the
// federation's configuration.
type configKeyer interface{ ConfigKey() string }

// startup starts f, or makes it answer from a running federation with the same
// configuration key.
func (f *Federation) startup(key string) {
	engines.Lock()
	defer engines.Unlock()
	if e := engines.byKey[key]; e != nil {
		e.refs++
		f.engine, f.snapshot, f.built = e, e.snapshot, e.built
		log.Infof("Configuration of %s unchanged: answering from the running federation", f.Zone)
		return
	}
	if prev := engines.byZone[f.Zone]; prev != nil {
		if s := prev.snapshot.Load(); s != nil {
			f.snapshot.Store(s)
			f.seeded = true
			if p := prev.journal.current(); p != nil {
				f.journal.publish(p) // secondaries keep their serial, and get an IXFR from it
			}
			log.Infof("Configuration of %s changed: answering from the previous federation until the new one has synced", f.Zone)
		}
	}
	f.key, f.engine, f.refs = key, f, 1
	engines.byKey[key] = f
	engines.byZone[f.Zone] = f
	f.Start()
}

// shutdown releases f's engine, and stops it when no server block answers from
// it any longer.
func (f *Federation) shutdown() {
	engines.Lock()
	e := f.engine
	if e == nil {
		engines.Unlock()
		return
	}
	f.engine = nil
	e.refs--
	stop := e.refs == 0
	if stop {
		delete(engines.byKey, e.key)
		if engines.byZone[e.Zone] == e {
			delete(engines.byZone, e.Zone)
		}
	}
	engines.Unlock()
	if stop {
		e.Stop()
	}
}

// blockTokens returns the server block's keys and the federation block's
// tokens. It must run before the block is parsed: it reads from where c is.
func blockTokens(c *caddy.Controller) string {
	var b strings.Builder
	b.WriteString(strings.Join(c.ServerBlockKeys, " "))
	d := c.Dispenser // a copy: reading ahead does not move c
	for d.Next() {
		b.WriteString(" " + d.Val())
	}
	return b.String()
}

// configKey returns the federation's configuration: the block's tokens and a
// digest of every kubeconfig file it names.
func configKey(tokens string, members []*Member) string {
	var b strings.Builder
	b.WriteString(tokens)
	h := sha256.New()
	for _, m := range members {
		if m.Kubeconfig != "" {
			data, _ := os.ReadFile(m.Kubeconfig) // read again by connect, which reports errors
			h.Write(data)
		}
	}
	b.WriteString(" kubeconfigs:" + hex.EncodeToString(h.Sum(nil)))
	return b.String()
}
