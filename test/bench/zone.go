package bench

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// TransferZone asks addr for an AXFR of the zone and writes the records to
// path as a master file, one record a line (the closing SOA left out). It
// returns the number of records written.
func TransferZone(addr, zone, path string) (int, error) {
	m := new(dns.Msg)
	m.SetAxfr(dns.Fqdn(zone))
	t := &dns.Transfer{ReadTimeout: time.Minute}
	env, err := t.In(m, addr)
	if err != nil {
		return 0, fmt.Errorf("AXFR %s from %s: %w", zone, addr, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriter(f)
	n, soas := 0, 0
	for e := range env {
		if e.Error != nil {
			f.Close()
			return 0, fmt.Errorf("AXFR %s from %s: %w", zone, addr, e.Error)
		}
		for _, rr := range e.RR {
			if rr.Header().Rrtype == dns.TypeSOA {
				if soas++; soas > 1 {
					continue // the transfer's closing SOA
				}
			}
			fmt.Fprintln(w, rr.String())
			n++
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	if soas < 2 {
		f.Close()
		return 0, fmt.Errorf("AXFR %s from %s: transfer incomplete", zone, addr)
	}
	return n, f.Close()
}

// Comparison is the result of asking several servers the same questions.
type Comparison struct {
	Servers    []string `json:"servers"`
	Questions  int      `json:"questions"`
	Identical  int      `json:"identical"`
	Mismatches []string `json:"mismatches,omitempty"` // the first few, described
	// ReplyBytes is each server's mean reply size on the wire (with EDNS)
	// over the questions whose answer is four A records, in server order;
	// Replies4 is how many questions that is.
	ReplyBytes []float64 `json:"reply_bytes_4a"`
	Replies4   int       `json:"replies_4a"`
}

// answerOf is what must match between servers: the rcode and the answer
// section, records sorted. Authority and additional sections legitimately
// differ (the file plugin adds the apex NS to positive answers).
// It also returns the reply's size on the wire and how many A records it has.
func answerOf(c *dns.Client, addr, name string) (answer string, size, as int, err error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(4096, false)
	co, err := c.Dial(addr)
	if err != nil {
		return "", 0, 0, err
	}
	defer co.Close()
	co.UDPSize = 4096 // as announced: without it the reply is read into 512 bytes
	co.SetDeadline(time.Now().Add(c.Timeout))
	if err := co.WriteMsg(m); err != nil {
		return "", 0, 0, err
	}
	raw, err := co.ReadMsgHeader(nil)
	if err != nil {
		return "", 0, 0, err
	}
	r := new(dns.Msg)
	if err := r.Unpack(raw); err != nil {
		return "", 0, 0, err
	}
	rrs := make([]string, len(r.Answer))
	for i, rr := range r.Answer {
		rrs[i] = rr.String()
		if rr.Header().Rrtype == dns.TypeA {
			as++
		}
	}
	slices.Sort(rrs)
	return dns.RcodeToString[r.Rcode] + "\n" + strings.Join(rrs, "\n"), len(raw), as, nil
}

// Compare asks every server each distinct name of qs once and counts the
// questions all of them answered alike.
func Compare(servers []*Server, qs []Query) (*Comparison, error) {
	c := &dns.Client{Timeout: 2 * time.Second}
	cmp := &Comparison{ReplyBytes: make([]float64, len(servers))}
	for _, s := range servers {
		cmp.Servers = append(cmp.Servers, s.Name)
	}
	sizes := make([]int, len(servers))
	seen := map[string]bool{}
	for _, q := range qs {
		if seen[q.Name] {
			continue
		}
		seen[q.Name] = true
		cmp.Questions++
		var first string
		same, four := true, true
		for k, s := range servers {
			a, size, as, err := answerOf(c, s.Addr, q.Name)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", s.Name, q.Name, err)
			}
			sizes[k], four = size, four && as == 4
			if k == 0 {
				first = a
			} else if a != first {
				same = false
				if len(cmp.Mismatches) < 5 {
					cmp.Mismatches = append(cmp.Mismatches, fmt.Sprintf("%s (%s): %s answered\n%s\nbut %s answered\n%s",
						q.Name, q.Class, servers[0].Name, first, s.Name, a))
				}
			}
		}
		if same {
			cmp.Identical++
		}
		if four {
			cmp.Replies4++
			for k := range sizes {
				cmp.ReplyBytes[k] += float64(sizes[k])
			}
		}
	}
	for k := range cmp.ReplyBytes {
		cmp.ReplyBytes[k] /= float64(max(1, cmp.Replies4))
	}
	return cmp, nil
}
