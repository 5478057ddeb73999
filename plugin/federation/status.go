package federation

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// The status view: what the federation answers right now and why, read from
// the member status and the current Snapshot. It is served as JSON, as a live
// page and as the explain command's text by the status listener (statushttp.go).
// It carries no secrets: no kubeconfig, token or server address is read here,
// and member errors have any user:password@ removed.

// StatusReport is the federation as the status page and /status.json show it.
type StatusReport struct {
	Federation string          `json:"federation"`
	Zone       string          `json:"zone"`
	Time       time.Time       `json:"time"`
	Ready      bool            `json:"ready"` // a snapshot is being answered
	Serial     uint32          `json:"serial"`
	Members    []MemberReport  `json:"members"`
	Services   []ServiceReport `json:"services"`
	Changes    []Change        `json:"changes"` // the last changes, newest first
}

// MemberReport is one member cluster's status and places.
type MemberReport struct {
	Name        string       `json:"name"`
	Synced      bool         `json:"synced"`
	Connected   bool         `json:"connected"`
	Since       *time.Time   `json:"since,omitempty"`        // when connected last changed
	LastContact *time.Time   `json:"last_contact,omitempty"` // the last request that succeeded
	Stale       bool         `json:"stale"`
	Error       string       `json:"error,omitempty"`
	Places      []PlaceInfo  `json:"places"`
	Shards      ShardSummary `json:"shards"`
}

// PlaceInfo is a region and zone of a member.
type PlaceInfo struct {
	Region string `json:"region,omitempty"`
	Zone   string `json:"zone,omitempty"`
}

// ShardSummary counts a member's shards by whether they are answered.
type ShardSummary struct {
	Used    int `json:"used"`
	NotUsed int `json:"not_used"`
}

// ServiceReport is one federated Service: its levels and its shards.
type ServiceReport struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	Levels    []LevelReport `json:"levels"`
	Shards    []ShardReport `json:"shards"`
}

// LevelReport is what one name of a Service answers.
type LevelReport struct {
	Name      string   `json:"name"`  // the owner name, absolute
	Level     string   `json:"level"` // global, region or zone
	Place     string   `json:"place,omitempty"`
	Answer    string   `json:"answer"` // "addresses", "cname" or "nodata"
	Addresses []string `json:"addresses,omitempty"`
	CNAME     string   `json:"cname,omitempty"` // where the level falls back to
	Members   []string `json:"members"`         // members whose shards count here
	Used      []string `json:"used,omitempty"`  // members whose shards are answered here
}

// ShardReport is one member's copy of a Service and why it is or is not used.
type ShardReport struct {
	Member       string   `json:"member"`
	Used         bool     `json:"used"`
	Reason       string   `json:"reason"`
	Ready        bool     `json:"ready"` // an EndpointSlice has a ready endpoint
	Ingress      []string `json:"ingress,omitempty"`
	Hostnames    []string `json:"hostnames,omitempty"`
	Usable       []string `json:"usable,omitempty"`        // addresses answered
	HealthFailed []string `json:"health_failed,omitempty"` // ingress addresses the health checks hold back
}

// Change is one recorded change of a shard or of an answer.
type Change struct {
	Time    time.Time `json:"time"`
	Service string    `json:"service"` // namespace/name
	What    string    `json:"what"`    // "shard" or "answer"
	Subject string    `json:"subject"` // the member, or the level's name
	From    string    `json:"from"`
	To      string    `json:"to"`
}

// changeLogSize bounds the recorded changes.
const changeLogSize = 200

// changeLog is a bounded ring of the last changes.
type changeLog struct {
	mu   sync.Mutex
	ring []Change
	next int
}

func (c *changeLog) add(ch ...Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range ch {
		if len(c.ring) < changeLogSize {
			c.ring = append(c.ring, x)
			continue
		}
		c.ring[c.next] = x
		c.next = (c.next + 1) % changeLogSize
	}
}

// last returns the changes, newest first.
func (c *changeLog) last() []Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Change, 0, len(c.ring))
	for i := range c.ring {
		out = append(out, c.ring[(c.next+len(c.ring)-1-i)%len(c.ring)])
	}
	return out
}

// noteChanges records what changed from prev to s, when the federation keeps a
// change log (a status listener is configured). Services the build reused are
// skipped, so an incremental build compares only what it rebuilt.
func (f *Federation) noteChanges(prev, s *Snapshot) {
	if f.changes == nil || prev == nil || s == nil {
		return
	}
	now := time.Now()
	statuses := f.statusByName()
	var out []Change
	keys := map[string]struct{}{}
	for k := range prev.services {
		keys[k] = struct{}{}
	}
	for k := range s.services {
		keys[k] = struct{}{}
	}
	for qkey := range keys {
		old, cur := prev.services[qkey], s.services[qkey]
		if old == cur {
			continue
		}
		key := ""
		if cur != nil {
			key = cur.key
		} else {
			key = old.key
		}
		oldShards, curShards := shardStates(old, statuses), shardStates(cur, statuses)
		for _, m := range unionKeys(oldShards, curShards) {
			if a, b := oldShards[m], curShards[m]; a != b {
				out = append(out, Change{Time: now, Service: key, What: "shard", Subject: m, From: orNone(a), To: orNone(b)})
			}
		}
		oldAns, curAns := answerStates(prev, old, f.Zone), answerStates(s, cur, f.Zone)
		for _, name := range unionKeys(oldAns, curAns) {
			if a, b := oldAns[name], curAns[name]; a != b {
				out = append(out, Change{Time: now, Service: key, What: "answer", Subject: name, From: orNone(a), To: orNone(b)})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Change) int {
		return strings.Compare(a.Service+a.What+a.Subject, b.Service+b.What+b.Subject)
	})
	f.changes.add(out...)
}

func orNone(s string) string {
	if s == "" {
		return "absent"
	}
	return s
}

func unionKeys(a, b map[string]string) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// shardStates describes each shard of sa by member: used or why not.
func shardStates(sa *serviceAnswers, statuses map[string]MemberStatus) map[string]string {
	out := map[string]string{}
	if sa == nil {
		return out
	}
	for i := range sa.shards {
		r := shardReport(&sa.shards[i], sa.usable[i], statuses[sa.shards[i].Member])
		if r.Used {
			out[r.Member] = "used " + strings.Join(r.Usable, " ")
		} else {
			out[r.Member] = "not used: " + r.Reason
		}
	}
	return out
}

// answerStates describes what each level name of sa answers.
func answerStates(s *Snapshot, sa *serviceAnswers, zone string) map[string]string {
	out := map[string]string{}
	if sa == nil {
		return out
	}
	for _, lr := range levelReports(s, sa, zone) {
		out[lr.Name] = lr.summary()
	}
	return out
}

// summary is the answer of a level in a few words.
func (lr *LevelReport) summary() string {
	switch lr.Answer {
	case "addresses":
		return strings.Join(lr.Addresses, " ")
	case "cname":
		return "CNAME " + lr.CNAME
	}
	return "NODATA"
}

// statusByName returns the members' status by name.
func (f *Federation) statusByName() map[string]MemberStatus {
	out := map[string]MemberStatus{}
	for _, st := range f.MemberStatuses() {
		out[st.Name] = st
	}
	return out
}

// Status returns the federation as the status page shows it.
func (f *Federation) Status() StatusReport {
	r := StatusReport{Federation: f.Fed, Zone: f.Zone, Time: time.Now().UTC(),
		Members: []MemberReport{}, Services: []ServiceReport{}, Changes: []Change{}}
	statuses := f.statusByName()
	s := f.snapshot.Load()
	used := map[string]int{} // member -> index in r.Members
	for i, st := range f.MemberStatuses() {
		mr := MemberReport{Name: st.Name, Synced: st.Synced, Connected: st.Connected, Stale: st.Stale, Places: []PlaceInfo{}}
		if !st.Since.IsZero() {
			t := st.Since.UTC()
			mr.Since = &t
		}
		if !st.LastContact.IsZero() {
			t := st.LastContact.UTC()
			mr.LastContact = &t
		}
		if st.Err != nil && !st.Connected {
			mr.Error = redact(st.Err.Error())
		}
		for _, p := range f.runs[i].topo.current() {
			mr.Places = append(mr.Places, PlaceInfo{Region: p.Region, Zone: p.Zone})
		}
		used[st.Name] = len(r.Members)
		r.Members = append(r.Members, mr)
	}
	if s != nil {
		r.Ready, r.Serial = true, s.Serial
		for _, sa := range s.services {
			ns, name, _ := strings.Cut(sa.key, "/")
			sr := ServiceReport{Namespace: ns, Name: name, Levels: levelReports(s, sa, f.Zone)}
			for i := range sa.shards {
				sh := shardReport(&sa.shards[i], sa.usable[i], statuses[sa.shards[i].Member])
				if i, ok := used[sh.Member]; ok {
					c := &r.Members[i].Shards
					if sh.Used {
						c.Used++
					} else {
						c.NotUsed++
					}
				}
				sr.Shards = append(sr.Shards, sh)
			}
			r.Services = append(r.Services, sr)
		}
		slices.SortFunc(r.Services, func(a, b ServiceReport) int {
			return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
		})
	}
	if f.changes != nil {
		r.Changes = f.changes.last()
	}
	return r
}

// levelReports describes every level of sa, global first.
func levelReports(s *Snapshot, sa *serviceAnswers, zone string) []LevelReport {
	ns, name, _ := strings.Cut(sa.key, "/")
	prefix := name + "." + ns + "." + s.fed + ".svc."
	lvls := make([]*level, 0, len(s.levels))
	for _, l := range s.levels {
		lvls = append(lvls, l)
	}
	slices.SortFunc(lvls, func(a, b *level) int { return a.index - b.index })
	out := make([]LevelReport, 0, len(lvls))
	for _, l := range lvls {
		out = append(out, levelReport(l, sa, prefix, zone))
	}
	return out
}

func levelReport(l *level, sa *serviceAnswers, prefix, zone string) LevelReport {
	n := sa.levels[l.index]
	lr := LevelReport{Name: prefix + l.suffix + zone, Level: levelKind(l), Place: strings.TrimSuffix(l.suffix, "."),
		Members: slices.Clone(l.members)}
	slices.Sort(lr.Members)
	switch {
	case n == nil:
		lr.Answer = "nodata"
	case n.cname != nil:
		lr.Answer = "cname"
		lr.CNAME = prefix + l.parent + zone
	case len(n.all.rrs) > 0:
		lr.Answer = "addresses"
		for _, us := range sa.levelShards(l) {
			lr.Used = append(lr.Used, us.shard.Member)
		}
		for _, rr := range n.all.rrs { // with those of the family it borrows from above
			lr.Addresses = append(lr.Addresses, rrAddr(rr).String())
		}
	default:
		lr.Answer = "nodata"
	}
	return lr
}

func levelKind(l *level) string {
	switch l.depth {
	case 0:
		return "global"
	case 1:
		return "region"
	}
	return "zone"
}

// shardReport says whether a shard is answered and why or why not.
func shardReport(sh *Shard, usable []netip.Addr, st MemberStatus) ShardReport {
	r := ShardReport{Member: sh.Member, Ready: sh.Ready, Hostnames: sh.Hostnames,
		Ingress: addrStrings(sh.Addrs), Usable: addrStrings(usable)}
	for _, a := range sh.Addrs {
		if !slices.Contains(usable, a) && sh.Healthy() && len(usable) > 0 {
			r.HealthFailed = append(r.HealthFailed, a.String())
		}
	}
	var why []string
	if len(sh.Addrs) == 0 {
		if len(sh.Unresolved) > 0 {
			why = append(why, "unresolved: "+strings.Join(sh.Unresolved, ", "))
		} else if len(sh.Hostnames) > 0 {
			why = append(why, "load-balancer ingress has hostnames only, no IP")
		} else {
			why = append(why, "no load-balancer ingress IP")
		}
	}
	if !sh.Ready {
		why = append(why, "no ready endpoint")
	}
	switch {
	case len(why) > 0:
		r.Reason = strings.Join(why, "; ")
	case len(usable) == 0 && st.Stale:
		r.Reason = "member stale (API server unreachable) and no probe vouches for the shard"
	case len(usable) == 0:
		r.HealthFailed = addrStrings(sh.Addrs)
		r.Reason = "every ingress address fails its health check"
	case len(r.HealthFailed) > 0:
		r.Used = true
		r.Reason = fmt.Sprintf("ready endpoints and ingress; %d of %d addresses pass the health checks", len(usable), len(sh.Addrs))
	default:
		r.Used = true
		r.Reason = "ready endpoints and a load-balancer ingress IP"
		if st.Stale {
			r.Reason += "; member stale but a probe vouches for the shard"
		}
	}
	r.Reason += sh.traffic.describe()
	return r
}

func addrStrings(addrs []netip.Addr) []string {
	if len(addrs) == 0 {
		return nil
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// userinfo matches the user:password@ of a URL in an error message.
var userinfo = regexp.MustCompile(`://[^/@\s]*@`)

// redact removes credentials from a URL in an error message.
func redact(s string) string { return userinfo.ReplaceAllString(s, "://") }
