package federation

import (
	"fmt"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

var klogOnce sync.Once

// routeKlog sends client-go's klog output through CoreDNS's log, so that one
// server prints one log format. Informational messages below verbosity 2 are
// kept (client-go logs its reflector failures at that level); the rest are
// debugging detail.
func routeKlog() {
	klogOnce.Do(func() { klog.SetLogger(logr.New(klogSink{})) })
}

// klogSink is a logr.LogSink that writes to the plugin's log.
type klogSink struct{ values []any }

func (klogSink) Init(logr.RuntimeInfo)  {}
func (klogSink) Enabled(level int) bool { return level < 2 }
func (s klogSink) Info(_ int, msg string, kv ...any) {
	log.Info("client-go: " + msg + pairs(append(s.values, kv...)))
}
func (s klogSink) Error(err error, msg string, kv ...any) {
	log.Error("client-go: " + msg + pairs(append(s.values, kv...)) + ": " + fmt.Sprint(err))
}
func (s klogSink) WithValues(kv ...any) logr.LogSink {
	return klogSink{values: append(append([]any{}, s.values...), kv...)}
}
func (s klogSink) WithName(string) logr.LogSink { return s }

// pairs formats logr's key/value list as " key=value ...".
func pairs(kv []any) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
	}
	return b.String()
}
