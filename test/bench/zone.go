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
}

// answerOf is what must match between servers: the rcode and the answer
// section, records sorted. Authority and additional sections legitimately
// differ (the file plugin adds the apex NS to positive answers).
func answerOf(c *dns.Client, addr, name string) (string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.SetEdns0(4096, false)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return "", err
	}
	rrs := make([]string, len(r.Answer))
	for i, rr := range r.Answer {
		rrs[i] = rr.String()
	}
	slices.Sort(rrs)
	return dns.RcodeToString[r.Rcode] + "\n" + strings.Join(rrs, "\n"), nil
}

// Compare asks every server each distinct name of qs once and counts the
// questions all of them answered alike.
func Compare(servers []*Server, qs []Query) (*Comparison, error) {
	c := &dns.Client{Timeout: 2 * time.Second}
	cmp := &Comparison{}
	for _, s := range servers {
		cmp.Servers = append(cmp.Servers, s.Name)
	}
	seen := map[string]bool{}
	for _, q := range qs {
		if seen[q.Name] {
			continue
		}
		seen[q.Name] = true
		cmp.Questions++
		var first string
		same := true
		for k, s := range servers {
			a, err := answerOf(c, s.Addr, q.Name)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", s.Name, q.Name, err)
			}
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
	}
	return cmp, nil
}
