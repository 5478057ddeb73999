package chaos

import (
	"strings"
	"testing"
)

// An audit log as the lab's policy writes it: lists at arrival and at
// completion, watches at arrival only.
const auditSample = `{"stage":"RequestReceived","verb":"list","requestURI":"/api/v1/services?limit=500"}
{"stage":"ResponseComplete","verb":"list","requestURI":"/api/v1/services?limit=500","responseStatus":{"code":200}}
{"stage":"RequestReceived","verb":"list","requestURI":"/apis/discovery.k8s.io/v1/endpointslices?limit=500"}
{"stage":"ResponseComplete","verb":"list","requestURI":"/apis/discovery.k8s.io/v1/endpointslices?limit=500","responseStatus":{"code":429}}
{"stage":"RequestReceived","verb":"list","requestURI":"/api/v1/nodes?limit=500"}
{"stage":"RequestReceived","verb":"watch","requestURI":"/api/v1/services?allowWatchBookmarks=true&sendInitialEvents=true&watch=true"}
{"stage":"RequestReceived","verb":"watch","requestURI":"/api/v1/services?allowWatchBookmarks=true&resourceVersion=7&watch=true"}
not json
`

func TestCountRequests(t *testing.T) {
	got := countRequests(strings.NewReader(auditSample))
	want := Requests{Lists: 1, FailedLists: 1, Watches: 1, WatchLists: 1}
	if got != want {
		t.Errorf("got %+v, want %+v (a list counts once, when answered; a refused one apart; one still running not yet)", got, want)
	}
}
