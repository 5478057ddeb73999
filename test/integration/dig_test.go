package integration

import (
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/coredns-fed/coredns-fed/internal/lab"
)

// digRR is one answer line of dig: owner, type, data.
type digRR struct {
	name, typ, data string
}

func digAs(name string, clusters ...*lab.Cluster) []digRR {
	var rrs []digRR
	for _, c := range clusters {
		rrs = append(rrs, digRR{name, "A", c.Addr})
	}
	return rrs
}

// dig runs the real dig against the lab's coredns-fed and returns its
// output.
func dig(t testing.TB, args ...string) string {
	t.Helper()
	return digAt(t, dnsAddr, args...)
}

// digAt runs the real dig against the server at addr.
func digAt(t testing.TB, addr string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("dig")
	if err != nil {
		t.Fatalf("dig not found (%v); `make apt` installs it (Debian package bind9-dnsutils)", err)
	}
	host, port, _ := net.SplitHostPort(addr)
	args = append([]string{"@" + host, "-p", port, "+tries=1", "+time=2"}, args...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// digAnswer returns the answer section of `dig NAME A +noall +answer`, one
// record per line, in dig's order.
func digAnswer(t testing.TB, name string) []digRR {
	t.Helper()
	return digAnswerAt(t, dnsAddr, name)
}

// digAnswerAt is digAnswer against the server at addr.
func digAnswerAt(t testing.TB, addr, name string) []digRR {
	t.Helper()
	out := digAt(t, addr, name, "A", "+noall", "+answer")
	var rrs []digRR
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		// NAME TTL CLASS TYPE DATA
		f := strings.Fields(line)
		if len(f) != 5 || f[2] != "IN" {
			t.Fatalf("unexpected dig answer line %q in:\n%s", line, out)
		}
		rrs = append(rrs, digRR{f[0], f[3], f[4]})
	}
	t.Logf("dig @%s %s A +noall +answer:\n%s", addr, name, out)
	return rrs
}

var digStatusRE = regexp.MustCompile(`status: ([A-Z]+)`)

// digStatus returns the rcode dig reports in its header comment.
func digStatus(t testing.TB, name string) string {
	t.Helper()
	out := dig(t, name, "A", "+noall", "+comments")
	m := digStatusRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no status in dig output:\n%s", out)
	}
	return m[1]
}

// checkDig compares dig's answer with want: CNAMEs in chain order first,
// then the A records of the last target in any order.
func checkDig(t testing.TB, got, want []digRR) {
	t.Helper()
	var gotCNAMEs, wantCNAMEs []digRR
	var gotRest, wantRest []string
	for _, rr := range got {
		if rr.typ == "CNAME" {
			if len(gotRest) > 0 {
				t.Errorf("dig: CNAME %v after non-CNAME records", rr)
			}
			gotCNAMEs = append(gotCNAMEs, rr)
		} else {
			gotRest = append(gotRest, rr.name+" "+rr.typ+" "+rr.data)
		}
	}
	for _, rr := range want {
		if rr.typ == "CNAME" {
			wantCNAMEs = append(wantCNAMEs, rr)
		} else {
			wantRest = append(wantRest, rr.name+" "+rr.typ+" "+rr.data)
		}
	}
	if len(gotCNAMEs) != len(wantCNAMEs) {
		t.Fatalf("dig: CNAMEs %v, want %v", gotCNAMEs, wantCNAMEs)
	}
	for i := range gotCNAMEs {
		if !strings.EqualFold(gotCNAMEs[i].name, wantCNAMEs[i].name) || !strings.EqualFold(gotCNAMEs[i].data, wantCNAMEs[i].data) {
			t.Errorf("dig: CNAME %d is %v, want %v", i, gotCNAMEs[i], wantCNAMEs[i])
		}
	}
	if !sameSet(gotRest, wantRest) {
		t.Errorf("dig: records %q, want %q", gotRest, wantRest)
	}
}
