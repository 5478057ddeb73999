package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/explain" || r.URL.Query().Get("name") != "nginx.example.com" {
			http.Error(w, "bad request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		w.Write([]byte("why: " + r.URL.Query().Get("client") + "\n"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	var out, errs bytes.Buffer
	if rc := explain([]string{"-status", addr, "nginx.example.com", "192.0.2.7"}, &out, &errs); rc != 0 || out.String() != "why: 192.0.2.7\n" {
		t.Errorf("rc %d, out %q, err %q", rc, out.String(), errs.String())
	}
	out.Reset()
	errs.Reset()
	if rc := explain([]string{"-status", addr, "other.example.com"}, &out, &errs); rc != 1 || !strings.Contains(errs.String(), "400 Bad Request") {
		t.Errorf("server error: rc %d, err %q", rc, errs.String())
	}
	errs.Reset()
	if rc := explain(nil, &out, &errs); rc != 2 || !strings.Contains(errs.String(), "usage: coredns-fed explain") {
		t.Errorf("no name: rc %d, err %q", rc, errs.String())
	}
}
