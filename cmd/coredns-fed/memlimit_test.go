package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestSetMemoryLimit(t *testing.T) {
	const v2, v1 = "sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"
	tests := []struct {
		name    string
		files   map[string]string
		env     string
		want    int64 // the soft limit set; -1: left as it was
		wantLog string
		wantErr string
	}{
		{name: "v2 limit", files: map[string]string{v2: "536870912\n"}, want: 483183820, wantLog: "90% of 536870912 bytes"},
		{name: "v2 max", files: map[string]string{v2: "max\n"}, want: -1},
		{name: "v1 limit", files: map[string]string{v1: "178257920\n"}, want: 160432128, wantLog: "memory.limit_in_bytes"},
		{name: "v1 unlimited", files: map[string]string{v1: "9223372036854771712\n"}, want: -1},
		{name: "v2 before v1", files: map[string]string{v2: "1000\n", v1: "2000\n"}, want: 900},
		{name: "no cgroup", want: -1},
		{name: "environment wins", files: map[string]string{v2: "536870912\n"}, env: "300MiB", want: -1, wantLog: "GOMEMLIMIT=300MiB from the environment"},
		{name: "garbage", files: map[string]string{v2: "lots\n"}, want: -1, wantErr: `not a memory limit: "lots"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tc.files {
				path := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			const before = math.MaxInt64
			debug.SetMemoryLimit(before)
			defer debug.SetMemoryLimit(math.MaxInt64)

			msg, err := setMemoryLimit(root, func(k string) string {
				if k == "GOMEMLIMIT" {
					return tc.env
				}
				return ""
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			got := debug.SetMemoryLimit(-1)
			want := tc.want
			if want < 0 {
				want = before
			}
			if got != want {
				t.Errorf("memory limit %d, want %d", got, want)
			}
			if !strings.Contains(msg, tc.wantLog) {
				t.Errorf("log %q, want it to contain %q", msg, tc.wantLog)
			}
		})
	}
}
