package shardhealth

import (
	"context"
	"time"
)

// livenessInterval is how often the members' liveness is read from the federation.
const livenessInterval = time.Second

// memberState is what shardhealth remembers of a member between liveness reads.
type memberState struct {
	stale     bool
	downSince time.Time // first read as unreachable, when the federation had no time yet
}

// watchLiveness declares members stale and fresh again until ctx is done.
func (h *ShardHealth) watchLiveness(ctx context.Context) {
	for {
		h.checkLiveness()
		select {
		case <-ctx.Done():
			return
		case <-h.clock.At(h.clock.Now().Add(livenessInterval)):
		}
	}
}

// checkLiveness reads every member's liveness once. A member is stale when its
// API server has been unreachable for Grace or longer; a single failed request
// only starts the count. Each transition is logged once and rebuilds every
// Service, since the member's shards may be answered differently now.
func (h *ShardHealth) checkLiveness() {
	type change struct {
		name  string
		stale bool
		since time.Time
		err   error
	}
	// One read at a time, so that an older read never overrides a newer one.
	h.livenessMu.Lock()
	defer h.livenessMu.Unlock()
	var changes []change
	now := h.clock.Now()
	statuses := h.sink.Liveness()

	h.mu.Lock()
	count := 0
	for _, m := range statuses {
		ms := h.members[m.Name]
		if ms == nil {
			ms = &memberState{}
			h.members[m.Name] = ms
		}
		stale := false
		since := m.Since
		if m.Connected {
			ms.downSince = time.Time{}
		} else {
			if since.IsZero() {
				if ms.downSince.IsZero() {
					ms.downSince = now
				}
				since = ms.downSince
			}
			stale = now.Sub(since) >= h.Grace
		}
		if stale != ms.stale {
			ms.stale = stale
			changes = append(changes, change{m.Name, stale, since, m.Err})
		}
		if stale {
			count++
		}
	}
	h.mu.Unlock()
	staleMembers.WithLabelValues(h.server).Set(float64(count))

	for _, c := range changes {
		if c.stale {
			why := ""
			if c.err != nil {
				why = " (" + c.err.Error() + ")"
			}
			log.Warningf("Member %s is stale: unreachable since %s%s; keeping its last known shards where probes run, dropping the unprobed ones",
				c.name, c.since.UTC().Format(time.RFC3339), why)
		} else {
			log.Infof("Member %s is no longer stale; its shards are answered from its API server again", c.name)
		}
	}
	if len(changes) > 0 {
		h.sink.HealthChanged("")
	}
}
